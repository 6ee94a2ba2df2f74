/* The trace's steps: for each quantity of one forward and backward pass, its equation,
 * its numbers and a sentence on what it means. Every number comes from the server. */
import { S } from "./state.js";
import { FEATURE_LABELS, activationName, agreeingDigits, esc, fixed, fmt, num, paren, rawText } from "./util.js";

export const F = {
  x: "<i class=v>x</i>", z1: "<i class=v>z</i><sub>1</sub>", h: "<i class=v>h</i>", z2: "<i class=v>z</i><sub>2</sub>",
  yh: "<i class=v>ŷ</i>", y: "<i class=v>y</i>", L: "<i class=v>L</i>", W1: "<i class=v>W</i><sub>1</sub>",
  W2: "<i class=v>W</i><sub>2</sub>", b1: "<i class=v>b</i><sub>1</sub>", b2: "<i class=v>b</i><sub>2</sub>",
  d1: "<i class=v>δ</i><sub>1</sub>", d2: "<i class=v>δ</i><sub>2</sub>", eta: "<i class=v>η</i>", T: "<sup>T</sup>",
};
const fName = () => activationName(S.config.activation);
function fPrimeText() {
  return {
    relu: `ReLU′(${F.z1}) = 1 if ${F.z1} &gt; 0, else 0`,
    tanh: `tanh′(${F.z1}) = 1 − ${F.h}<sup>2</sup>`,
    sigmoid: `σ′(${F.z1}) = ${F.h}(1 − ${F.h})`,
  }[S.config.activation];
}
function unitHeader(H, extra = "") {
  let s = `<tr><th>${extra}</th>`;
  for (let j = 0; j < H; j++) s += `<th>unit ${j + 1}</th>`;
  return s + "</tr>";
}
/** A row of a table; ``grad`` colours each cell by its sign, as the diagram does. */
function vectorRow(label, values, opts = {}) {
  let s = `<tr><th class="rowhead">${label}</th>`;
  values.forEach((v, j) => {
    const off = opts.off && opts.off[j];
    const sign = opts.grad && v ? (v > 0 ? "gpos" : "gneg") : "";
    const cls = [off ? "off" : "", opts.result ? "result" : "", sign].join(" ").trim();
    s += `<td class="${cls}">${num(v, opts.digits ?? 4)}</td>`;
  });
  return s + "</tr>";
}
export function offUnits() {
  const v = S.trace.values;
  return S.config.activation === "relu" ? v.z1.map((z) => z <= 0) : v.z1.map(() => false);
}
function offNote() {
  if (S.config.activation !== "relu") return "";
  const offList = offUnits().map((o, j) => (o ? j + 1 : null)).filter((j) => j !== null);
  const deadList = S.network.dead.map((d, j) => (d ? j + 1 : null)).filter((j) => j !== null);
  let s = "";
  if (offList.length) s += `Units ${offList.join(", ")} are <b>off</b> for this borrower (${F.z1} ≤ 0; grey cells). `;
  if (deadList.length) s += `Units ${deadList.join(", ")} are <b>dead</b>: off for every training borrower, so no gradient ever reaches their weights. `;
  return s ? `<p class="note">${s}</p>` : "";
}
function matrixTable(M, caption, offCols, opts = {}) {
  const H = M[0].length;
  let s = `<div class="scroll"><table class="nums"${opts.id ? ` id="${opts.id}"` : ""}><caption>${caption}</caption>${unitHeader(H)}`;
  S.trace.features.forEach((name, i) => {
    s += `<tr><th class="feat">${esc(FEATURE_LABELS[name])}</th>`;
    for (let j = 0; j < H; j++) {
      const sign = opts.grad && M[i][j] ? (M[i][j] > 0 ? "gpos" : "gneg") : "";
      s += `<td class="${[offCols && offCols[j] ? "off" : "", sign].join(" ").trim()}">${num(M[i][j], 4)}</td>`;
    }
    s += "</tr>";
  });
  return s + "</table></div>";
}

/**
 * A weighted sum written out: a table of the factors and each product, then the products
 * and the bias added up. The products are shown at the precision at which the shown
 * terms add up to the shown result (agreeingDigits), so the sum can be checked by hand.
 */
function writtenSum(id, names, factors, weights, bias, result, weightName) {
  const products = factors.map((a, i) => a * weights[i]);
  const d = agreeingDigits([...products, bias], result) ?? 10;
  let rows = "";
  names.forEach((name, i) => {
    rows += `<tr><th class="feat">${esc(name)}</th><td>${num(factors[i], 4)}</td><td>${num(weights[i], 4)}</td><td class="result">${fixed(products[i], d)}</td></tr>`;
  });
  const terms = [...products.map((p) => `<span class="term">${fixed(p, d)}</span>`), `<span class="term bias">${fixed(bias, d)}</span>`];
  return (
    `<div class="scroll"><table class="nums"><tr><th></th><th>value</th><th>${weightName}</th><th>product</th></tr>${rows}</table></div>` +
    `<div class="sum written" id="${id}">= ${terms.join(" + ").replace(/\+ <span class="term([^"]*)">−/g, '− <span class="term$1 neg">')}` +
    ` = <b class="sum-result">${fixed(result, d)}</b></div>` +
    `<p class="hint">Each product is computed from the unrounded value and weight, and every term is shown to ${d} decimals: ` +
    `the fewest at which the shown terms add up to the shown result (the value and weight columns are rounded to 4).</p>`
  );
}

export const STEPS = [
  {
    key: "x", short: "the input", label: "x", phase: "forward", nodes: ["input"], edges: [],
    title: "Input: the borrower's standardised features",
    render(v) {
      const b = S.trace.borrower;
      let rows = "";
      S.trace.features.forEach((name, i) => {
        rows += `<tr><th class="feat">${esc(FEATURE_LABELS[name])}</th><td class="raw" data-feature="${name}">${esc(rawText(name, b.features[name]))}</td><td class="result">${num(v.x[i])}</td></tr>`;
      });
      return {
        eq: `${F.x}<sub>i</sub> = (raw<sub>i</sub> − mean<sub>i</sub>) / std<sub>i</sub>`,
        explain: "The network never sees raw amounts or years: each feature is shifted and scaled by the mean and standard deviation of the training borrowers, so all seven inputs are on a comparable scale.",
        body: `<table class="nums" id="raw-table"><tr><th>feature</th><th>raw value</th><th>x</th></tr>${rows}</table>`,
      };
    },
  },
  {
    key: "z1", short: "hidden pre-activations z₁", label: "z₁", phase: "forward", nodes: ["hidden"], edges: ["W1"], hidden: "z1",
    title: "Hidden layer, weighted sum",
    render(v) {
      const j = v.z1.indexOf(Math.max(...v.z1));
      const names = S.trace.features.map((f) => FEATURE_LABELS[f]);
      return {
        eq: `${F.z1} = ${F.x} ${F.W1} + ${F.b1} <span class="sum">&nbsp;&nbsp;(1×7)(7×${v.z1.length}) + (1×${v.z1.length})</span>`,
        explain: `Each hidden unit adds up the seven inputs, each times the weight on its connection, plus its bias. Written out for unit ${j + 1}:`,
        body:
          `<div class="eq">${F.z1}[${j + 1}] = Σ<sub>i</sub> ${F.x}<sub>i</sub> ${F.W1}[i, ${j + 1}] + ${F.b1}[${j + 1}]</div>` +
          writtenSum("sum-z1", names, v.x, v.W1.map((row) => row[j]), v.b1[j], v.z1[j], `W₁[i, ${j + 1}]`) +
          `<div class="scroll"><table class="nums">${unitHeader(v.z1.length)}${vectorRow(F.z1, v.z1, { result: true })}</table></div>`,
      };
    },
  },
  {
    key: "h", short: "hidden activations h", label: "h", phase: "forward", nodes: ["hidden"], edges: [], hidden: "h",
    title: "Hidden layer, activation",
    render(v) {
      const what = {
        relu: "ReLU passes positive values and replaces the rest by 0. A unit with z₁ ≤ 0 is off for this borrower: it adds nothing to the output and, in the backward pass, passes no gradient back.",
        tanh: "tanh squashes each z₁ into (−1, 1); it is steepest at 0 and flat for large |z₁|, where gradients become small.",
        sigmoid: "The sigmoid squashes each z₁ into (0, 1); its slope is at most 1/4, so gradients shrink as they pass back through it.",
      }[S.config.activation];
      const f = { relu: `max(0, ${F.z1})`, tanh: `tanh(${F.z1})`, sigmoid: `1 / (1 + e<sup>−${F.z1}</sup>)` }[S.config.activation];
      return {
        eq: `${F.h} = ${fName()}(${F.z1}) = ${f}`,
        explain: what,
        body: `<div class="scroll"><table class="nums">${unitHeader(v.h.length)}${vectorRow(F.z1, v.z1, { off: offUnits() })}${vectorRow(F.h, v.h, { off: offUnits(), result: true })}</table></div>${offNote()}`,
      };
    },
  },
  {
    key: "z2", short: "output logit z₂", label: "z₂", phase: "forward", nodes: ["output"], edges: ["W2"], output: "z2",
    title: "Output unit, weighted sum (the logit)",
    render(v) {
      const names = v.h.map((_, j) => `h, unit ${j + 1}`);
      return {
        eq: `${F.z2} = ${F.h} ${F.W2} + ${F.b2} = Σ<sub>j</sub> ${F.h}<sub>j</sub> ${F.W2}[j] + ${F.b2}`,
        explain: "The output unit weighs the hidden values. z₂ is the logit, the log-odds of default: positive means the network leans towards default.",
        body: writtenSum("sum-z2", names, v.h, v.W2, v.b2, v.z2, "W₂[j]"),
      };
    },
  },
  {
    key: "y_hat", short: "prediction ŷ", label: "ŷ", phase: "forward", nodes: ["output"], edges: [], output: "y_hat",
    title: "Prediction: the probability of default",
    render(v) {
      const b = S.trace.borrower;
      const truth = b.p_default === null ? "" : ` The true default probability of this borrower is ${fmt(b.p_default, 4)} (known only because the data are synthetic).`;
      return {
        eq: `${F.yh} = σ(${F.z2}) = 1 / (1 + e<sup>−${F.z2}</sup>) = 1 / (1 + e<sup>−${paren(v.z2, 4)}</sup>) = <b>${num(v.y_hat, 6)}</b>`,
        explain: `The sigmoid turns the logit into a probability.${truth} The borrower ${b.label ? "defaulted (y = 1)" : "repaid (y = 0)"}.`,
        body: "",
      };
    },
  },
  {
    key: "loss", short: "loss L", label: "L", phase: "forward", nodes: ["loss"], edges: [],
    title: "Loss: binary cross-entropy",
    render(v) {
      const term = v.y === 1 ? `−log ${F.yh} = −log ${paren(v.y_hat, 6)}` : `−log(1 − ${F.yh}) = −log(1 − ${paren(v.y_hat, 6)})`;
      return {
        eq: `${F.L} = −[${F.y} log ${F.yh} + (1 − ${F.y}) log(1 − ${F.yh})] = ${term} = <b>${num(v.loss, 6)}</b>`,
        explain: `With y = ${v.y} only one term is left. The loss is small when the network gives a high probability to what actually happened, and grows without bound as it gives that outcome probability 0. (The engine computes it from z₂ as log σ(±z₂), so it never takes log 0.)`,
        body: "",
      };
    },
  },
  {
    key: "delta2", short: "output error δ₂", label: "δ₂", phase: "backward", nodes: ["output", "loss"], edges: [], output: "delta2",
    title: "Backward: the error at the output",
    render(v) {
      return {
        eq: `${F.d2} = ∂${F.L}/∂${F.z2} = ${F.yh} − ${F.y} = ${num(v.y_hat, 6, "tv-y_hat")} − <span id="tv-y">${v.y}</span> = <b>${num(v.delta2, 6, "tv-delta2")}</b>`,
        explain: "The chain rule through the sigmoid and the cross-entropy collapses to prediction minus truth. Positive: the network said “default” too strongly; negative: too weakly. This error signal now flows backwards through the network.",
        body: `<p class="note">Here δ₂ ${v.delta2 < 0 ? "&lt; 0: the network under-rated this borrower's risk; this borrower's gradient pushes the weights towards a higher ŷ" : v.delta2 > 0 ? "&gt; 0: the network over-rated this borrower's risk; this borrower's gradient pushes the weights towards a lower ŷ" : "= 0: the prediction is exact, and this borrower's gradient is zero"}.</p>`,
      };
    },
  },
  {
    key: "dW2", short: "output-weight gradient ∂L/∂W₂", label: "∂W₂", phase: "backward", nodes: ["hidden", "output"], edges: ["W2"], grad: "W2", output: "delta2",
    title: "Backward: gradient of the output weights",
    render(v) {
      return {
        eq: `∂${F.L}/∂${F.W2} = ${F.h}${F.T} ${F.d2} / N,&nbsp;&nbsp; ∂${F.L}/∂${F.b2} = mean(${F.d2}) = ${num(v.db2)} <span class="sum">&nbsp;(N = 1)</span>`,
        explain: "A weight's gradient is the value that entered it (hⱼ) times the error at its output (δ₂). For a batch the engine averages this over the N rows; here N = 1. Units that were off (hⱼ = 0) get a zero gradient on their outgoing weight. The diagram colours each gradient by its sign: magenta where ∂L/∂w > 0 (the update lowers w), teal where ∂L/∂w < 0 (the update raises w).",
        body: `<div class="scroll"><table class="nums">${unitHeader(v.h.length)}${vectorRow(F.h, v.h, { off: offUnits() })}${vectorRow(F.d2, v.h.map(() => v.delta2))}${vectorRow(`∂${F.L}/∂${F.W2}`, v.dW2, { off: offUnits(), result: true, grad: true })}</table></div>`,
      };
    },
  },
  {
    key: "delta1", short: "hidden error δ₁", label: "δ₁", phase: "backward", nodes: ["hidden"], edges: ["W2"], hidden: "delta1",
    title: "Backward: the error at the hidden layer",
    render(v) {
      const off = offUnits();
      return {
        eq: `${F.d1} = (${F.d2} ${F.W2}${F.T}) ⊙ ${fName()}′(${F.z1}), &nbsp;&nbsp;<span class="sum">${fPrimeText()}</span>`,
        explain: "The error travels back along the same connections, scaled by their weights (δ₂ W₂ᵀ = ∂L/∂h), then is multiplied, unit by unit (⊙), by the activation's slope at z₁." +
          (S.config.activation === "relu" ? " ReLU's slope is 0 where the unit was off, so its δ₁ is exactly 0: no learning signal reaches its incoming weights." : ""),
        body: `<div class="scroll"><table class="nums">${unitHeader(v.h.length)}${vectorRow(`${F.W2}${F.T}`, v.W2)}${vectorRow(`${F.d2}${F.W2}${F.T} = ∂${F.L}/∂${F.h}`, v.dh)}${vectorRow(`${fName()}′(${F.z1})`, v.fprime, { off })}${vectorRow(`${F.d1} = ∂${F.L}/∂${F.z1}`, v.delta1, { off, result: true })}</table></div>${offNote()}`,
      };
    },
  },
  {
    key: "dW1", short: "hidden-weight gradient ∂L/∂W₁", label: "∂W₁", phase: "backward", nodes: ["input", "hidden"], edges: ["W1"], grad: "W1", hidden: "delta1",
    title: "Backward: gradient of the hidden weights",
    render(v) {
      return {
        eq: `∂${F.L}/∂${F.W1} = ${F.x}${F.T} ${F.d1} / N <span class="sum">&nbsp;(7×1)(1×${v.h.length}), N = 1</span>,&nbsp;&nbsp; ∂${F.L}/∂${F.b1} = mean(${F.d1})`,
        explain: "Each incoming weight's gradient is its input xᵢ times the error δ₁ of the unit it feeds: an outer product. Columns of units that were off are all zero. Magenta cells and lines: ∂L/∂w > 0, the update lowers w; teal: ∂L/∂w < 0, the update raises w.",
        body: matrixTable(v.dW1, "∂L/∂W₁ (rows: inputs, columns: hidden units)", offUnits(), { grad: true }) +
          `<div class="scroll"><table class="nums">${unitHeader(v.h.length)}${vectorRow(`∂${F.L}/∂${F.b1}`, v.db1, { off: offUnits(), result: true, grad: true })}</table></div>`,
      };
    },
  },
  {
    key: "update", short: "the update", label: "update", phase: "update", nodes: null, edges: ["W1", "W2"],
    title: "Update: one step of gradient descent",
    render(v) {
      const H = v.h.length;
      const lr = esc(S.trace.lr);
      const better = v.loss_new < v.loss;
      const optimiser = S.config.optimizer === "gd" ? "" :
        `<p class="note">The session trains with ${S.config.optimizer === "adam" ? "Adam" : "momentum"}, whose step also uses its running averages; this step is the plain gradient-descent step on the borrower's own gradient.</p>`;
      return {
        eq: `${F.W1} ← ${F.W1} − ${F.eta} ∂${F.L}/∂${F.W1}, &nbsp; ${F.b1} ← ${F.b1} − ${F.eta} ∂${F.L}/∂${F.b1}<br>${F.W2} ← ${F.W2} − ${F.eta} ∂${F.L}/∂${F.W2}, &nbsp; ${F.b2} ← ${F.b2} − ${F.eta} ∂${F.L}/∂${F.b2}&nbsp;&nbsp; <span class="sum">with learning rate ${F.eta} = ${lr}</span>`,
        explain: "Each parameter takes a step against its gradient, scaled by the learning rate η. Below: every parameter before → after, and what the step did to this borrower's loss.",
        body:
          `<p class="big">This borrower's loss: ${F.L} = ${num(v.loss, 6, "tv-loss-before")} before → ${num(v.loss_new, 6, "tv-loss-after")} after the step ` +
          `<span class="${better ? "good-text" : "bad-text"}">(${better ? "lower" : "not lower: the step overshot"})</span></p>` +
          `<div class="scroll"><table class="nums">${unitHeader(H)}${vectorRow(`${F.W2} before`, v.W2)}${vectorRow(`∂${F.L}/∂${F.W2}`, v.dW2, { grad: true })}${vectorRow(`${F.W2} after`, v.W2_new, { result: true })}` +
          `${vectorRow(`${F.b1} before`, v.b1)}${vectorRow(`${F.b1} after`, v.b1_new, { result: true })}</table></div>` +
          `<p>${F.b2}: ${num(v.b2)} − ${lr} × ${paren(v.db2, 4)} = <b>${num(v.b2_new)}</b></p>` +
          `<div class="side-by-side">${matrixTable(v.W1, "W₁ before the step", null, { id: "w1-before" })}${matrixTable(v.W1_new, "W₁ after the step", null, { id: "w1-after" })}</div>` +
          optimiser +
          `<p class="note">This is one gradient-descent step on this borrower alone (batch size 1). Training averages the gradient over a batch (all ${S.data.n_train} training borrowers for full batch) before each update. The trace does not change the session's weights.</p>`,
      };
    },
  },
];
