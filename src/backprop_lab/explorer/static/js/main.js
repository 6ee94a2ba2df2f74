/* backprop-lab explorer: draws what the server computes.
 *
 * Every number shown arrives from the JSON API (the Python engine: nn.mlp, training.train,
 * each layer's forward/backward, gradient_check). The page holds no forward or backward
 * pass of its own: it formats numbers, draws, and sends the learner's choices.
 *
 * Modules: api (calls, one at a time), state (what the server said), controls (inputs and
 * the link), session (create, reset, settings, train, status), curves, network (the
 * diagram), borrower (the picker), trace and trace_steps (the trace card), gradcheck,
 * units (what the hidden units learned); this one wires them together.
 */
import { sessionApi } from "./api.js";
import { borrowerSpec, loadBorrower, onFeatureEdit, refreshNetwork } from "./borrower.js";
import { wireControls } from "./controls.js";
import { clearRuns, renderCurves, resizeCharts } from "./curves.js";
import { fillWeightPicker, gradcheck, renderGradcheck } from "./gradcheck.js";
import { drawNetwork } from "./network.js";
import { createSession, newSeed, play, reset, restart, runTutorial, sendSettings, showMessage, step, stopPlaying } from "./session.js";
import { S, on } from "./state.js";
import { closeTrace, goStep, renderTrace, runTrace, traceView } from "./trace.js";
import { refreshUnits } from "./units.js";
import { $ } from "./util.js";

const draw = () => drawNetwork(traceView());

function guard(fn) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (error) {
      showMessage(error.message);
    }
  };
}

function dataSummary() {
  const rate = (100 * S.data.default_rate_train).toFixed(1);
  $("data-summary").textContent =
    `${S.data.n_train} training and ${S.data.n_test} test borrowers; ${rate}% of the training borrowers defaulted. ` +
    `Noise is the randomness of the outcome given the features; the gap between a curve and the Bayes-optimal line is what is left to learn.`;
}

on("snapshot", () => {
  dataSummary();
  fillWeightPicker();
  const deep = S.config.depth > 1; // the trace follows one hidden layer
  $("btn-trace").disabled = deep;
  $("trace-deep").hidden = !deep;
  if (deep && S.trace) closeTrace();
  renderCurves();
  renderGradcheck();
  draw();
});
on("reset", guard(async () => {
  const index = Math.min(S.borrower ? S.borrower.index ?? 0 : 0, S.data.n_train - 1);
  if (S.edited) {
    await refreshNetwork();
    if (S.trace) await runTrace(true);
  } else {
    await loadBorrower(index); // retraces an open trace
  }
  refreshUnits();
}));
/* The session was rebuilt inside a queued call: fetch directly (a queued call would wait
   for the one in progress), the borrower's network and any open trace. */
on("rebuilt", () => {
  if (!S.borrower) return;
  sessionApi("POST", "/network", borrowerSpec()).then((net) => {
    S.network = net;
    draw();
  }, () => {});
  if (S.trace) {
    sessionApi("POST", "/trace", borrowerSpec()).then((trace) => {
      S.trace = trace;
      renderTrace();
    }, () => {});
  }
});
on("settings", () => {
  renderCurves();
  if (S.trace) runTrace(true); // the update step uses the learning rate
});
on("stepped", (traced) => {
  renderCurves();
  renderGradcheck();
  if (traced) renderTrace(); // the step's reply carried the trace: no second call
  else if (S.trace) runTrace(true);
  else draw();
  refreshUnits();
});
on("network", draw);
on("borrower", () => {
  if (S.trace) runTrace(true);
});
on("trace-view", draw);

function wire() {
  const spec = () => borrowerSpec();
  wireControls({ reset: guard(() => reset()), settings: guard(sendSettings), message: showMessage });
  $("btn-step").addEventListener("click", () => step(1, spec));
  $("btn-play").addEventListener("click", () => (S.playing ? stopPlaying() : play(spec)));
  $("btn-restart").addEventListener("click", guard(restart));
  $("btn-reset").addEventListener("click", guard(newSeed));
  $("btn-tutorial").addEventListener("click", guard(async () => {
    $("btn-tutorial").disabled = true;
    try {
      await runTutorial(spec);
    } finally {
      $("btn-tutorial").disabled = false;
    }
  }));
  $("btn-clear-runs").addEventListener("click", clearRuns);
  $("borrower-index").addEventListener("change", guard(() => loadBorrower(Number($("borrower-index").value) || 0)));
  $("btn-prev-borrower").addEventListener("click", guard(() => loadBorrower((S.borrower?.index ?? 0) - 1)));
  $("btn-next-borrower").addEventListener("click", guard(() => loadBorrower((S.borrower?.index ?? 0) + 1)));
  $("btn-random-borrower").addEventListener("click", guard(() => loadBorrower(Math.floor(Math.random() * S.data.n_train))));
  for (const id of ["label-0", "label-1"]) $(id).addEventListener("change", onFeatureEdit);
  $("btn-trace").addEventListener("click", () => runTrace(false));
  $("btn-step-back").addEventListener("click", () => goStep(S.traceStep - 1));
  $("btn-step-next").addEventListener("click", () => goStep(S.traceStep + 1));
  $("btn-trace-close").addEventListener("click", closeTrace);
  $("btn-gradcheck").addEventListener("click", gradcheck);
  $("gc-input").addEventListener("change", fillWeightPicker);
  $("units-feature").addEventListener("change", refreshUnits);
  $("units-open").addEventListener("toggle", refreshUnits);
  document.addEventListener("keydown", (event) => {
    if (!S.trace || ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName)) return;
    if (event.key === "ArrowRight") goStep(S.traceStep + 1);
    if (event.key === "ArrowLeft") goStep(S.traceStep - 1);
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(resizeCharts, 100);
  });
}

async function main() {
  wire();
  try {
    await createSession();
    await loadBorrower(0);
    document.body.dataset.ready = "true";
  } catch (error) {
    showMessage(`Could not start a session: ${error.message}`);
  }
}
main();
