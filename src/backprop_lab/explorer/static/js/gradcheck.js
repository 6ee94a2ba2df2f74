/* The gradient check: every entry of backprop's gradient against finite differences,
 * and the tutorial's own check written out for one weight. A result says which weights
 * it was made with, and is marked out of date once they change. */
import { call } from "./api.js";
import { showMessage } from "./session.js";
import { S } from "./state.js";
import { $, FEATURE_LABELS, esc, fmt } from "./util.js";

const sci = (v) => (v === null ? "—" : v.toExponential(2));

/** The weight picker: inputs and this network's hidden units (kept when they still exist). */
export function fillWeightPicker() {
  const input = $("gc-input");
  if (input.options.length === 1) {
    S.data.features.forEach((name, i) => input.add(new Option(FEATURE_LABELS[name], String(i))));
  }
  const unit = $("gc-unit");
  const keep = unit.value;
  unit.innerHTML = "";
  for (let j = 0; j < S.config.hidden; j++) unit.add(new Option(`unit ${j + 1}`, String(j)));
  if (keep !== "" && Number(keep) < S.config.hidden) unit.value = keep;
  unit.disabled = input.value === "largest";
}

export async function gradcheck() {
  const button = $("btn-gradcheck");
  button.disabled = true;
  try {
    const pick = $("gc-input").value;
    const body = pick === "largest" ? undefined : { weight: { input: Number(pick), unit: Number($("gc-unit").value) } };
    const r = await call("POST", "/gradcheck", body);
    S.gradcheck = { reply: r, epoch: r.epoch, run: S.run, bug: S.config.bug };
    renderGradcheck();
  } catch (error) {
    showMessage(error.message);
  } finally {
    button.disabled = false;
  }
}

export function renderGradcheck() {
  const box = $("gradcheck-result");
  const g = S.gradcheck;
  if (!g) {
    box.innerHTML = "";
    return;
  }
  if (g.run !== S.run) {
    // Reset or restart: another network (another activation, size, seed or bug).
    S.gradcheck = null;
    box.innerHTML = `<p class="stale" id="gc-stale">The network was rebuilt since the last check: press <b>Check the current gradients</b> to check this one.</p>`;
    return;
  }
  const r = g.reply;
  const cls = (e) => (e === null ? "wrong" : e < r.good ? "good" : e > r.wrong ? "wrong" : "look");
  let rows = "";
  for (const row of r.table) {
    rows += `<tr><th class="rowhead">${esc(row.param)}</th><td>${esc(row.shape)}</td><td class="${cls(row.max_rel_error)}">${sci(row.max_rel_error)}</td><td>${sci(row.scale)}</td><td>${row.checked}</td><td>${row.kinks} (${row.kinks_rechecked})</td></tr>`;
  }
  const stale = S.status.epochs !== g.epoch
    ? `<p class="stale" id="gc-stale">Out of date: the network has trained since (now epoch ${S.status.epochs}); check again for the current weights.</p>`
    : "";
  const w = r.one_weight;
  const [i, j] = w.index;
  const one =
    `<h3 class="sub">The tutorial's check, for one weight</h3>` +
    `<p class="hint">The entry of W₁ ${w.largest ? "with the largest gradient, " : ""}${esc(FEATURE_LABELS[S.data.features[i]])} → unit ${j + 1} (w = ${fmt(w.w, 6)}), on the same ${r.rows} borrowers, with h = ${w.h}:</p>` +
    `<table class="nums" id="gc-one"><tr><th>analytic ∂J/∂w (backprop)</th><td id="gc-analytic">${sci(w.analytic)}</td></tr>` +
    `<tr><th>(J(w + h) − J(w − h)) / 2h</th><td id="gc-numeric">${sci(w.numeric)}</td></tr>` +
    `<tr><th>relative error |a − n| / (|a| + |n|)</th><td id="gc-rel" class="${w.rel_error < 1e-6 ? "good" : "wrong"}">${sci(w.rel_error)}</td></tr></table>`;
  const bug = g.bug !== "none"
    ? `<p class="note bug">A bug is planted in this session's backward (${esc(S.limits.bugs[g.bug])}): the check compares it with finite differences of the forward pass, which has no bug.</p>`
    : "";
  box.innerHTML =
    `<p><span id="gc-verdict" class="verdict ${r.passed ? "pass" : "fail"}">${r.passed ? "PASS" : "FAIL"}</span> ` +
    `largest relative error <b id="gc-max">${sci(r.max_rel_error)}</b> ` +
    `(tolerance ${r.tolerance}; h = ${r.eps}; ${r.rows} training borrowers; <span id="gc-when">weights after epoch ${g.epoch}</span>)</p>` +
    stale + bug +
    `<table class="nums" id="gc-table"><tr><th>parameter</th><th>shape</th><th>max relative error</th><th>scale</th><th>entries checked</th><th>kinks (re-checked)</th></tr>${rows}</table>` +
    one;
}
