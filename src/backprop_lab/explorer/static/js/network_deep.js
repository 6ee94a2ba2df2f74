/* The diagram of a network with more than one hidden layer: inputs, each hidden layer,
 * the output and the loss; weights as lines, the selected borrower's value in each unit.
 * (The trace, and its highlights, follow one-hidden-layer networks only.) */
import { S } from "./state.js";
import { $, COLOURS, FEATURE_LABELS, activationName, fmt, rawText, svg } from "./util.js";

const strength = (v) => 1 - Math.exp(-Math.abs(v || 0));
function nodeFill(v) {
  if (v === null || v === undefined) return "#fee2e2";
  const t = 0.12 + 0.6 * strength(v);
  return v >= 0 ? `rgba(37, 99, 235, ${t})` : `rgba(234, 88, 12, ${t})`;
}

export function drawDeep(root, net) {
  const b = net.borrower;
  const features = S.data.features;
  const L = net.layers.length;
  const top = 60, bottom = 500;
  const xIn = 205, xOut = 560, xLoss = 612;
  const xs = net.layers.map((_, l) => xIn + ((l + 1) * (xOut - xIn)) / (L + 1));
  const column = (n) => (i) => top + ((i + 0.5) * (bottom - top)) / n;
  const yIn = column(features.length);
  const yOut = (top + bottom) / 2;
  const H = net.layers[0].b.length;
  const yHid = column(H);
  const r = Math.max(8, Math.min(15, (bottom - top) / H / 2 - 2.5));
  const line = (x1, y1, x2, y2, w, label) => {
    const s = strength(w);
    const el = svg("line", {
      x1, y1, x2, y2, stroke: w >= 0 ? COLOURS.pos : COLOURS.neg,
      "stroke-width": (0.5 + 6 * s).toFixed(2), "stroke-opacity": (0.2 + 0.7 * s).toFixed(2), "stroke-linecap": "round",
    }, root);
    svg("title", {}, el, `${label} = ${fmt(w, 4)}`);
  };
  // edges: inputs -> layer 1, layer l -> l + 1, last layer -> output
  net.layers.forEach((layer, l) => {
    const from = l === 0 ? features.length : net.layers[l - 1].b.length;
    const xFrom = l === 0 ? xIn + 16 : xs[l - 1] + r;
    const yFrom = l === 0 ? yIn : yHid;
    for (let i = 0; i < from; i++) {
      for (let j = 0; j < H; j++) line(xFrom, yFrom(i), xs[l] - r, yHid(j), layer.W[i][j], `W${l + 1}[${i + 1} → ${j + 1}]`);
    }
  });
  for (let j = 0; j < H; j++) line(xs[L - 1] + r, yHid(j), xOut - 20, yOut, net.out.W[j], `W${L + 1}[${j + 1} → output]`);
  // nodes
  svg("text", { x: xIn - 60, y: 22, "text-anchor": "middle", class: "layer-title" }, root, "inputs x");
  features.forEach((name, i) => {
    svg("text", { x: xIn - 24, y: yIn(i) - 3, "text-anchor": "end", class: "feature-name" }, root, FEATURE_LABELS[name]);
    svg("text", { x: xIn - 24, y: yIn(i) + 13, "text-anchor": "end", class: "feature-raw" }, root, `raw ${rawText(name, b.features[name])}`);
    svg("circle", { cx: xIn, cy: yIn(i), r: 16, fill: nodeFill(b.x[i]), stroke: "#475569" }, root);
    svg("text", { x: xIn, y: yIn(i) + 4, "text-anchor": "middle", class: "node-value" }, root, fmt(b.x[i], 1));
  });
  net.layers.forEach((layer, l) => {
    svg("text", { x: xs[l], y: 22, "text-anchor": "middle", class: "layer-title" }, root, `h${l + 1}`);
    for (let j = 0; j < H; j++) {
      const dead = layer.dead[j];
      const g = svg("g", {}, root);
      svg("circle", { cx: xs[l], cy: yHid(j), r, fill: dead ? "#f1f5f9" : nodeFill(layer.h[j]), stroke: dead ? "#94a3b8" : "#475569", "stroke-dasharray": dead ? "3 2" : "none" }, g);
      if (dead) svg("text", { x: xs[l], y: yHid(j) + 4, "text-anchor": "middle", class: "dead-tag" }, g, "dead");
      svg("title", {}, g, `layer ${l + 1}, unit ${j + 1}: z = ${fmt(layer.z[j], 4)}, h = ${fmt(layer.h[j], 4)}${dead ? " — dead: z ≤ 0 for every training borrower" : ""}`);
    }
  });
  svg("text", { x: xOut, y: 22, "text-anchor": "middle", class: "layer-title" }, root, "output ŷ");
  svg("circle", { cx: xOut, cy: yOut, r: 20, fill: nodeFill(b.y_hat), stroke: "#475569" }, root);
  svg("text", { x: xOut, y: yOut + 4, "text-anchor": "middle", class: "node-value" }, root, fmt(b.y_hat, 3));
  svg("rect", { x: xLoss - 22, y: yOut - 20, width: 44, height: 40, rx: 6, fill: "#fff", stroke: "#475569" }, root);
  svg("text", { x: xLoss, y: yOut - 4, "text-anchor": "middle", class: "node-tag" }, root, "loss L");
  svg("text", { x: xLoss, y: yOut + 13, "text-anchor": "middle", class: "node-value" }, root, fmt(b.loss, 3));
  $("arch").textContent = `7 → ${net.layers.map(() => `${H} ${activationName(S.config.activation)}`).join(" → ")} → 1 sigmoid`;
  const who = b.index === null ? "your own borrower" : `borrower #${b.index}`;
  $("network-caption").textContent = `node values for ${who}, weights after ${S.status.epochs} epochs; hover for numbers (the trace follows one hidden layer)`;
}
