/* The session: create it, reset or restart it, change settings, train, and say how it goes. */
import { api, call, onExpired, sessionApi } from "./api.js";
import { configFromControls, controlsFromConfig, DEFAULTS, readLink } from "./controls.js";
import { S, emit } from "./state.js";
import { $, esc } from "./util.js";

export function showMessage(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}
export function showNotice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

/** Take a full snapshot from the server: settings, data, curves, status, network. */
function applySnapshot(snap) {
  S.sid = snap.session;
  S.config = snap.config;
  S.limits = snap.limits;
  S.data = snap.data;
  S.history = snap.history;
  S.status = snap.status;
  S.network = snap.network;
  controlsFromConfig(S.config);
  emit("snapshot");
  renderStatus();
}

/** A new session from the link's settings; a refused setting falls back to its default, with a note. */
export async function createSession() {
  const { config, notes } = readLink();
  let snap = null;
  for (let tries = 0; tries <= Object.keys(DEFAULTS).length && !snap; tries++) {
    try {
      snap = await api("POST", "/api/session", config);
    } catch (error) {
      const field = Object.keys(config).find((key) => error.status === 400 && error.message.startsWith(key));
      if (!field) throw error;
      notes.push(`${field}=${config[field]} was refused (${error.message})`);
      delete config[field];
    }
  }
  S.token = snap.token;
  applySnapshot(snap);
  if (notes.length) {
    showNotice(`The link's settings were not all usable, so defaults are used for them: ${notes.join("; ")}.`);
  }
}

/** The server let this tab's session expire: start a new one with the same settings. */
async function rebuildSession() {
  const config = S.config || configFromControls();
  const snap = await api("POST", "/api/session", config);
  S.token = snap.token;
  applySnapshot(snap);
  emit("rebuilt");
  showNotice(
    `This tab's session expired because many tabs were open at once; it was rebuilt with the same settings ` +
      `(seed ${config.seed}) and starts again from epoch 0.`
  );
}
onExpired(rebuildSession);

/** Keep the run that ends as a ghost curve (at most four), labelled with its settings. */
function keepRun() {
  if (!S.config || !S.history.epoch.length) return;
  S.runs.push({ label: runLabel(S.config), config: { ...S.config }, history: S.history, changes: S.status.changes });
  while (S.runs.length > 4) S.runs.shift();
}
export function runLabel(c) {
  const parts = [`seed ${c.seed}`, `η ${c.lr}`];
  if (!c.backprop) parts.push("forward only");
  if (c.batch_size !== null) parts.push(`batch ${c.batch_size}`);
  if (c.optimizer !== "gd") parts.push(c.optimizer);
  if (c.l2) parts.push(`L2 ${c.l2}`);
  parts.push(`${c.depth > 1 ? `${c.depth} × ` : ""}${c.hidden} ${c.activation}`, `init ${c.init}`);
  if (c.bug !== "none") parts.push(`bug ${c.bug}`);
  return parts.join(", ");
}

/** Rebuild data and network from ``config`` (default: the controls), keeping the old run as a ghost. */
export async function reset(config) {
  stopPlaying();
  showNotice("");
  keepRun();
  S.run += 1;
  const snap = await call("POST", "/reset", config || configFromControls());
  applySnapshot(snap);
  showMessage("");
  emit("reset");
}
/** Start again from the same seed: the same data and the same initial weights. */
export function restart() {
  return reset({ ...configFromControls(), seed: S.config.seed });
}
export function newSeed() {
  return reset({ ...configFromControls(), seed: Math.floor(Math.random() * 100000) });
}
export async function sendSettings(settings) {
  const result = await call("POST", "/settings", settings);
  S.config = result.config;
  S.status = result.status;
  controlsFromConfig(S.config); // the server's echo: the controls show what it trains with
  renderStatus();
  emit("settings");
}

// ---------------------------------------------------------------- training
export async function step(epochs, borrower) {
  if (S.busy) return;
  S.busy = true;
  try {
    const allowed = Math.max(1, Math.min(epochs, S.status.max_epochs_per_step, S.status.max_epochs - S.status.epochs));
    const result = await call("POST", "/step", { epochs: allowed, borrower: borrower(), trace: Boolean(S.trace) });
    for (const key of Object.keys(S.history)) S.history[key].push(...result.history[key]);
    S.status = result.status;
    S.network = result.network;
    const traced = Boolean(S.trace && result.trace); // the open trace, in the same reply
    if (traced) S.trace = result.trace;
    renderStatus();
    emit("stepped", traced);
    if (S.status.state === "diverged") stopPlaying();
  } catch (error) {
    stopPlaying();
    showMessage(error.message);
  } finally {
    S.busy = false;
  }
}
export async function play(borrower) {
  S.playing = true;
  $("btn-play").textContent = "❚❚ Pause";
  renderStatus();
  while (S.playing) {
    await step(Number($("speed").value), borrower);
    if (S.status.epochs >= S.status.max_epochs) stopPlaying();
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
}
export function stopPlaying() {
  S.playing = false;
  $("btn-play").textContent = "▶ Play";
  renderStatus();
}

/** The tutorial's experiment: 0.01·N(0,1) weights, forward only, then η = 0.001, 0.01, 0.1. */
export const TUTORIAL = { n: 5000, hidden: 8, depth: 1, activation: "relu", init: "small", batch_size: null, optimizer: "gd", l2: 0, bug: "none", nonlinear: false, noise: 1.0 };
export const TUTORIAL_RUNS = [
  { backprop: false, lr: 0.1 },
  { backprop: true, lr: 0.001 },
  { backprop: true, lr: 0.01 },
  { backprop: true, lr: 0.1 },
];
export const TUTORIAL_EPOCHS = 500;
export async function runTutorial(borrower) {
  const seed = S.config ? S.config.seed : 0;
  for (const [k, run] of TUTORIAL_RUNS.entries()) {
    $("tutorial-progress").textContent = `run ${k + 1} of ${TUTORIAL_RUNS.length}: ${run.backprop ? `η = ${run.lr}` : "forward only"}…`;
    await reset({ ...DEFAULTS, ...TUTORIAL, ...run, seed });
    while (S.status.epochs < TUTORIAL_EPOCHS && S.status.state !== "diverged") {
      const before = S.status.epochs;
      await step(TUTORIAL_EPOCHS - S.status.epochs, borrower);
      if (S.status.epochs === before) {
        // no progress: a step already in flight (wait for it), or a refused one (stop)
        if (!S.busy) throw new Error(`the tutorial's experiment stopped at epoch ${before}: ${$("message").textContent}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
  $("tutorial-progress").textContent =
    `Done: four runs from the same seed (${seed}) and the same 0.01·N(0,1) weights, ${TUTORIAL_EPOCHS} epochs each, ` +
    `as in the tutorial's figures. The last (η = 0.1) is live: step on, or change a setting.`;
}

// ---------------------------------------------------------------- status
export function renderStatus() {
  if (!S.status) return;
  const pill = $("status-pill");
  const st = S.status.state;
  const warnings = S.status.warnings || [];
  const short = warnings.map((w) => w.text.split(" (")[0].split(":")[0]);
  pill.className = "pill " + (S.playing ? "playing" : warnings.length && st !== "diverged" ? "warn" : st);
  pill.textContent =
    st === "diverged" ? `diverged at epoch ${S.status.diverged_at}` :
    S.playing ? (st === "forward-only" ? "playing (forward only)" : "training…") :
    st === "forward-only" ? "forward only" :
    warnings.length ? short.join(" · ") : "ready";
  $("epoch-pill").textContent = `epoch ${S.status.epochs}`;
  $("epoch-pill").title = `${S.status.epochs} epochs trained: the network holds the weights after ${S.status.epochs} updates`;
  const box = $("warnings");
  box.hidden = !warnings.length;
  box.innerHTML = warnings.map((w) => `<p data-code="${esc(w.code)}">${esc(w.text)}</p>`).join("");
  const diverged = st === "diverged";
  $("btn-step").disabled = diverged;
  $("btn-play").disabled = diverged;
  const dbox = $("diverged");
  dbox.hidden = !diverged;
  if (diverged) {
    dbox.innerHTML =
      `Training diverged at epoch ${S.status.diverged_at}` +
      `<span>${esc(S.status.reason || "")}. The learning rate η = ${esc(S.config.lr)} is too large: ` +
      `each step overshoots the minimum. The network keeps the weights it had at the start of that epoch. ` +
      `Lower the learning rate and press Restart.</span>`;
  }
}

export { sessionApi };
