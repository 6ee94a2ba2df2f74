/* The network diagram: weights as lines, the selected borrower's value in every neuron.
 * During a trace, ``view`` (from trace.js) says which values to show and what to highlight. */
import { S } from "./state.js";
import { drawDeep } from "./network_deep.js";
import { $, COLOURS, FEATURE_LABELS, activationName, fmt, maxAbs, rawText, svg } from "./util.js";

function strength(v) {
  return 1 - Math.exp(-Math.abs(v || 0));
}
/** Fill for a neuron: blue for positive, orange for negative, stronger with |v|. */
function nodeFill(v) {
  if (v === null || v === undefined) return "#fee2e2";
  const t = 0.12 + 0.6 * strength(v);
  return v >= 0 ? `rgba(37, 99, 235, ${t})` : `rgba(234, 88, 12, ${t})`;
}
/** A gradient's colour by its sign: the update w ← w − η ∂L/∂w lowers w where it is positive. */
export function gradColour(g) {
  return g >= 0 ? COLOURS.gradPos : COLOURS.gradNeg;
}

export function drawNetwork(view) {
  const root = $("net");
  root.innerHTML = "";
  if (!S.network) return;
  const net = S.network;
  $("legend-grad").hidden = !(view && view.grad);
  $("legend-weights").hidden = Boolean(view && view.grad);
  if (net.layers) return drawDeep(root, net);
  const b = net.borrower;
  const H = net.b1.length;
  const features = S.data.features;
  const top = 60, bottom = 500;
  const xIn = 215, xHid = 405, xOut = 540, xLoss = 604;
  const yIn = (i) => top + ((i + 0.5) * (bottom - top)) / features.length;
  const yHid = (j) => top + ((j + 0.5) * (bottom - top)) / H;
  const yOut = (top + bottom) / 2;
  const rHid = Math.max(9, Math.min(18, (bottom - top) / H / 2 - 2.5));
  const W1 = view ? view.W1 : net.W1;
  const W2 = view ? view.W2 : net.W2;
  const inputs = view ? view.input : b.x;
  const hidden = view ? view.hidden : b.h;
  const output = view ? view.output : b.y_hat;
  const inactive = view ? view.inactive : b.z1.map((z) => S.config.activation === "relu" && z <= 0);
  const dimNodes = (layer) => (view && view.nodes && !view.nodes.includes(layer) ? "dim" : "");
  const focusClass = (layer) => (view && view.nodes && view.nodes.includes(layer) ? (view.back ? "focus-back" : "focus") : "");
  const dimEdges = (layer) => (view && !(view.edges || []).includes(layer) ? "dim" : "");

  const title = (x, text) => svg("text", { x, y: 22, "text-anchor": "middle", class: "layer-title" }, root, text);
  title(xIn - 70, "inputs: raw → standardised x");
  title(xHid, view ? `hidden: ${view.hiddenName}` : `hidden: h = ${activationName(S.config.activation)}(z₁)`);
  title(xOut + 10, view ? `output: ${view.outputName}` : "output: ŷ");
  svg("text", { x: xOut, y: 40, "text-anchor": "middle", class: "node-tag" }, root, "P(default)");

  // edges: weights (or gradients during a backward step, coloured by sign), width by magnitude
  const gradMax = view && view.grad ? maxAbs(view.grad.values) || 1 : 1;
  const edge = (x1, y1, x2, y2, w, g, layer, label) => {
    const isGrad = g !== null && g !== undefined;
    const s = isGrad ? Math.abs(g) / gradMax : strength(w);
    const attrs = {
      x1, y1, x2, y2,
      stroke: isGrad ? gradColour(g) : w >= 0 ? COLOURS.pos : COLOURS.neg,
      "stroke-width": (0.5 + 7 * s).toFixed(2),
      "stroke-opacity": (0.25 + 0.7 * s).toFixed(2),
      "stroke-linecap": "round",
      class: `${dimEdges(layer)} edge-${layer}`,
    };
    if (isGrad) attrs["data-grad"] = String(g);
    const line = svg("line", attrs, root);
    svg("title", {}, line, isGrad ? `${label}: ∂L/∂w = ${fmt(g, 5)} (w = ${fmt(w, 4)})` : `${label} = ${fmt(w, 4)}`);
  };
  for (let i = 0; i < features.length; i++) {
    for (let j = 0; j < H; j++) {
      const g = view && view.grad && view.grad.layer === "W1" ? view.grad.values[i][j] : null;
      edge(xIn + 16, yIn(i), xHid - rHid, yHid(j), W1[i][j], g, "W1", `W₁[${FEATURE_LABELS[features[i]]} → unit ${j + 1}]`);
    }
  }
  for (let j = 0; j < H; j++) {
    const g = view && view.grad && view.grad.layer === "W2" ? view.grad.values[j] : null;
    edge(xHid + rHid, yHid(j), xOut - 20, yOut, W2[j], g, "W2", `W₂[unit ${j + 1} → output]`);
  }

  // input nodes with names and raw values
  for (let i = 0; i < features.length; i++) {
    const name = features[i];
    const group = svg("g", { class: `${dimNodes("input")} ${focusClass("input")}` }, root);
    svg("text", { x: xIn - 24, y: yIn(i) - 3, "text-anchor": "end", class: "feature-name" }, group, FEATURE_LABELS[name]);
    svg("text", { x: xIn - 24, y: yIn(i) + 13, "text-anchor": "end", class: "feature-raw" }, group, `raw ${rawText(name, b.features[name])}`);
    svg("circle", { cx: xIn, cy: yIn(i), r: 17, fill: nodeFill(inputs[i]), stroke: "#475569", "stroke-width": 1 }, group);
    svg("text", { x: xIn, y: yIn(i) + 4, "text-anchor": "middle", class: "node-value" }, group, fmt(inputs[i], 2));
    svg("title", {}, group, `${name}: raw ${rawText(name, b.features[name])}, standardised x = ${fmt(inputs[i], 4)}`);
  }

  // hidden nodes (dead = off for every training borrower; "off" = off for this borrower)
  for (let j = 0; j < H; j++) {
    const dead = net.dead[j];
    const group = svg("g", { class: `${dimNodes("hidden")} ${focusClass("hidden")}` }, root);
    svg("circle", {
      cx: xHid, cy: yHid(j), r: rHid,
      fill: dead ? "#f1f5f9" : nodeFill(hidden[j]),
      stroke: dead ? "#94a3b8" : "#475569",
      "stroke-width": 1,
      "stroke-dasharray": dead ? "3 2" : "none",
    }, group);
    const big = rHid >= 15;
    const tagInside = big && (dead || inactive[j]);
    svg("text", {
      x: big ? xHid : xHid + rHid + 3, y: yHid(j) + (tagInside ? 1 : 4),
      "text-anchor": big ? "middle" : "start",
      class: "node-value",
      stroke: "#fff", "stroke-width": big ? 0 : 3, "paint-order": "stroke",
    }, group, fmt(hidden[j], 2));
    if (dead || inactive[j]) {
      const at = tagInside ? { x: xHid, y: yHid(j) + 12, "text-anchor": "middle" } : { x: xHid - rHid - 3, y: yHid(j) + 4, "text-anchor": "end" };
      svg("text", { ...at, class: dead ? "dead-tag" : "node-tag", stroke: "#fff", "stroke-width": tagInside ? 0 : 3, "paint-order": "stroke" }, group, dead ? "dead" : "off");
    }
    const values = view ? S.trace.values : b;
    svg("title", {}, group,
      `hidden unit ${j + 1}: z₁ = ${fmt(values.z1[j], 4)}, h = ${fmt(values.h[j], 4)}, b₁ = ${fmt(net.b1[j], 4)}` +
      (dead ? " — dead: z₁ ≤ 0 for every training borrower, so it never learns" : inactive[j] ? " — off for this borrower (z₁ ≤ 0)" : ""));
  }

  // output node, the label and the loss
  const outGroup = svg("g", { class: `${dimNodes("output")} ${focusClass("output")}` }, root);
  svg("circle", { cx: xOut, cy: yOut, r: 20, fill: nodeFill(output), stroke: "#475569", "stroke-width": 1 }, outGroup);
  svg("text", { x: xOut, y: yOut + 4, "text-anchor": "middle", class: "node-value" }, outGroup, fmt(output, 3));
  svg("title", {}, outGroup, `z₂ = ${fmt(b.z2, 4)}, ŷ = σ(z₂) = ${fmt(b.y_hat, 4)}, b₂ = ${fmt(net.b2, 4)}`);
  const lossGroup = svg("g", { class: `${dimNodes("loss")} ${focusClass("loss")}` }, root);
  svg("line", { x1: xOut + 20, y1: yOut, x2: xLoss - 24, y2: yOut, stroke: "#94a3b8", "stroke-dasharray": "3 3" }, lossGroup);
  svg("rect", { x: xLoss - 24, y: yOut - 20, width: 48, height: 40, rx: 6, fill: "#fff", stroke: "#475569" }, lossGroup);
  svg("text", { x: xLoss, y: yOut - 4, "text-anchor": "middle", class: "node-tag" }, lossGroup, "loss L");
  svg("text", { x: xLoss, y: yOut + 13, "text-anchor": "middle", class: "node-value" }, lossGroup, fmt(view ? view.loss : b.loss, 3));
  svg("text", { x: xLoss, y: yOut + 38, "text-anchor": "middle", class: "node-tag" }, lossGroup, `y = ${b.label}`);
  svg("text", { x: xLoss, y: yOut + 51, "text-anchor": "middle", class: "node-tag" }, lossGroup, b.label ? "defaulted" : "repaid");

  const who = b.index === null ? "your own borrower" : `borrower #${b.index}`;
  $("network-caption").textContent = view
    ? `tracing ${who}: ${view.caption}`
    : `node values for ${who}, weights after ${S.status.epochs} epochs; hover a node or line for its numbers`;
  $("arch").textContent = `7 → ${H} ${activationName(S.config.activation)} → 1 sigmoid`;
}
