/* The controls: settings to and from the page's inputs, the link (URL hash) that holds them. */
import { S } from "./state.js";
import { $, debounce } from "./util.js";

/** Every setting: its input, how to read and write it, and whether it resets the run. */
const FIELDS = ["seed", "n", "noise", "nonlinear", "hidden", "depth", "activation", "init", "lr", "batch_size", "backprop", "optimizer", "l2", "bug"];
export const LIVE = ["lr", "batch_size", "backprop", "l2"];
export const DEFAULTS = {
  seed: 0, n: 1000, noise: 1.0, nonlinear: false, hidden: 8, depth: 1, activation: "relu", init: "he",
  lr: 0.5, batch_size: null, backprop: true, optimizer: "gd", l2: 0, bug: "none",
};

export function lrFromSlider() {
  const v = Number($("lr").value);
  const lr = Number(Math.pow(10, v).toPrecision(2)); // two significant digits
  return Math.min(S.limits ? S.limits.lr[1] : 10, Math.max(S.limits ? S.limits.lr[0] : 1e-4, lr));
}
function batchFromSelect() {
  const v = $("batch").value;
  return v === "full" ? null : Number(v);
}
/** The seed box as an integer in range, or null when it holds something else. */
export function seedFromBox() {
  const text = $("seed").value.trim();
  if (!/^[0-9]{1,10}$/.test(text)) return null;
  const seed = Number(text);
  return seed <= 4294967295 ? seed : null;
}
export function configFromControls() {
  return {
    seed: seedFromBox() ?? (S.config ? S.config.seed : 0),
    n: Number($("n").value),
    noise: Number($("noise").value),
    nonlinear: $("nonlinear").checked,
    hidden: Number($("hidden").value),
    depth: Number($("depth").value),
    activation: $("activation").value,
    init: $("init").value,
    lr: lrFromSlider(),
    batch_size: batchFromSelect(),
    backprop: !$("forward-only").checked,
    optimizer: $("optimizer").value,
    l2: Number($("l2").value),
    bug: $("bug").value,
  };
}
function setLr(lr) {
  $("lr").value = Math.log10(lr);
  $("lr-out").textContent = String(lr);
  $("lr").setAttribute("aria-valuetext", `learning rate ${lr}`);
}
/**
 * Put the server's echo of its settings into the controls, so that they always show what
 * the server trains with. A control the learner is still changing (a debounced slider)
 * keeps the learner's value: its own call follows and brings its echo.
 */
export function controlsFromConfig(c) {
  $("seed").value = c.seed;
  $("n").value = String(c.n);
  if (!resetSoon.pending) {
    $("noise").value = c.noise;
    $("noise-out").textContent = c.noise.toFixed(1);
    $("noise").setAttribute("aria-valuetext", `label noise ${c.noise.toFixed(1)}`);
    $("hidden").value = c.hidden;
    $("hidden-out").textContent = c.hidden;
    $("hidden").setAttribute("aria-valuetext", `${c.hidden} hidden units`);
  }
  $("nonlinear").checked = c.nonlinear;
  $("depth").value = String(c.depth);
  $("activation").value = c.activation;
  $("init").value = c.init;
  if (!lrSoon.pending) setLr(c.lr);
  $("batch").value = c.batch_size === null ? "full" : String(c.batch_size);
  $("forward-only").checked = !c.backprop;
  $("optimizer").value = c.optimizer;
  $("l2").value = String(c.l2);
  $("bug").value = c.bug;
  writeLink(c);
}

// ---------------------------------------------------------------- the link
/** Settings in the URL's hash (#seed=3&lr=0.05...): a link opens the same run. */
export function writeLink(c) {
  const params = new URLSearchParams();
  for (const key of FIELDS) {
    const v = c[key];
    if (v !== DEFAULTS[key] || key === "seed") params.set(key, v === null ? "full" : String(v));
  }
  history.replaceState(null, "", `#${params.toString()}`);
}
/** The settings a link asks for, as typed values, and notes on what was not understood. */
export function readLink() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const config = {};
  const notes = [];
  for (const [key, text] of params) {
    if (!FIELDS.includes(key)) {
      notes.push(`unknown setting "${key}"`);
      continue;
    }
    const def = DEFAULTS[key];
    let value;
    if (key === "batch_size") value = text === "full" ? null : /^[0-9]+$/.test(text) ? Number(text) : undefined;
    else if (typeof def === "boolean") value = text === "true" ? true : text === "false" ? false : undefined;
    else if (typeof def === "number") value = /^-?[0-9.]+(e-?[0-9]+)?$/i.test(text) ? Number(text) : undefined;
    else value = text;
    if (value === undefined) notes.push(`${key}=${text} is not a valid value`);
    else config[key] = value;
  }
  return { config, notes };
}

// ---------------------------------------------------------------- wiring
let handlers = null;
/** A change to a reset field, applied once the learner stops (arrow keys on a slider). */
const resetSoon = debounce(() => handlers.reset(), 450);
const lrSoon = debounce(() => handlers.settings({ lr: lrFromSlider() }), 150);

export function wireControls(h) {
  handlers = h;
  $("lr").addEventListener("input", () => {
    setLr(lrFromSlider());
    lrSoon();
  });
  $("batch").addEventListener("change", () => h.settings({ batch_size: batchFromSelect() }));
  $("forward-only").addEventListener("change", () => h.settings({ backprop: !$("forward-only").checked }));
  $("l2").addEventListener("change", () => h.settings({ l2: Number($("l2").value) }));
  $("hidden").addEventListener("input", () => {
    $("hidden-out").textContent = $("hidden").value;
    $("hidden").setAttribute("aria-valuetext", `${$("hidden").value} hidden units`);
  });
  $("noise").addEventListener("input", () => {
    $("noise-out").textContent = Number($("noise").value).toFixed(1);
    $("noise").setAttribute("aria-valuetext", `label noise ${Number($("noise").value).toFixed(1)}`);
  });
  for (const id of ["hidden", "noise"]) $(id).addEventListener("change", () => resetSoon());
  for (const id of ["depth", "activation", "init", "nonlinear", "n", "optimizer", "bug"]) {
    $(id).addEventListener("change", () => h.reset());
  }
  $("seed").addEventListener("change", () => {
    if (seedFromBox() === null) {
      const bad = $("seed").value;
      $("seed").value = S.config.seed; // the box shows the seed the run was drawn from
      h.message(`The seed must be a whole number from 0 to 4294967295; got "${bad}". The run keeps seed ${S.config.seed}.`);
      return;
    }
    h.reset();
  });
}
