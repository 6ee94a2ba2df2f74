/* The trace card: one borrower through a forward pass, a backward pass and an update,
 * step by step, with the diagram showing where each quantity lives. */
import { call } from "./api.js";
import { borrowerSpec } from "./borrower.js";
import { showMessage } from "./session.js";
import { S, emit } from "./state.js";
import { STEPS, offUnits } from "./trace_steps.js";
import { $, esc } from "./util.js";

const HIDDEN_NAMES = { z1: "z₁", h: "h", delta1: "δ₁" };
const OUTPUT_NAMES = { z2: "z₂", y_hat: "ŷ", delta2: "δ₂" };

/** Which values and highlights the current trace step puts on the diagram (null: no trace). */
export function traceView() {
  if (!S.trace) return null;
  const step = STEPS[S.traceStep];
  const v = S.trace.values;
  return {
    step,
    nodes: step.nodes,
    edges: step.edges,
    back: step.phase !== "forward",
    input: v.x,
    hidden: step.hidden ? v[step.hidden] : v.h,
    hiddenName: step.hidden ? HIDDEN_NAMES[step.hidden] : "h",
    output: step.output ? v[step.output] : v.y_hat,
    outputName: step.output ? OUTPUT_NAMES[step.output] : "ŷ",
    loss: step.key === "update" ? v.loss_new : v.loss,
    W1: step.key === "update" ? v.W1_new : v.W1,
    W2: step.key === "update" ? v.W2_new : v.W2,
    grad: step.grad ? { layer: step.grad, values: v["d" + step.grad] } : null,
    inactive: offUnits(),
    caption: `step ${S.traceStep + 1} of ${STEPS.length}, ${step.short}` + (step.key === "update" ? " (weights and loss after the step)" : ""),
  };
}

export async function runTrace(keepStep) {
  try {
    S.trace = await call("POST", "/trace", borrowerSpec());
    if (!keepStep) S.traceStep = 0;
    $("trace-empty").hidden = true;
    $("trace-view").hidden = false;
    document.body.classList.add("tracing");
    renderTrace();
  } catch (error) {
    showMessage(error.message);
  }
}

/* On a narrow screen the diagram sticks to the top while the trace is read: while a trace
   is open and the trace card reaches into the lower half of the window (the upper half
   is the diagram's), body gets the class trace-in-view. */
const watcher = new IntersectionObserver(
  ([entry]) => document.body.classList.toggle("trace-in-view", entry.isIntersecting),
  { rootMargin: "-50% 0px 0px 0px" }
);
watcher.observe(document.querySelector(".trace-card"));

/** The rail of step buttons, built once: moving between steps only changes classes, so
 *  a focused button keeps the focus. */
function buildRail() {
  const rail = $("rail");
  if (rail.childElementCount) return;
  let phase = null;
  STEPS.forEach((step, i) => {
    if (step.phase !== phase) {
      phase = step.phase;
      const tag = document.createElement("span");
      tag.className = "phase";
      tag.textContent = phase;
      rail.appendChild(tag);
    }
    const button = document.createElement("button");
    button.textContent = step.label;
    button.title = step.title;
    button.dataset.step = step.key;
    button.className = step.phase !== "forward" ? "back" : "";
    button.addEventListener("click", () => goStep(i));
    rail.appendChild(button);
  });
}
function markRail() {
  for (const button of $("rail").querySelectorAll("button")) {
    const current = button.dataset.step === STEPS[S.traceStep].key;
    button.classList.toggle("current", current);
    if (current) button.setAttribute("aria-current", "step");
    else button.removeAttribute("aria-current");
  }
}

export function renderTrace() {
  if (!S.trace) return;
  buildRail();
  markRail();
  const step = STEPS[S.traceStep];
  const content = step.render(S.trace.values);
  const badge = { forward: "forward pass", backward: "backward pass", update: "update" }[step.phase];
  const skipped = step.phase !== "forward" && !S.config.backprop
    ? `<p class="note">Forward-only mode is on: training skips the backward pass and the update. The trace still shows what they would compute.</p>`
    : "";
  const bug = step.phase !== "forward" && S.config.bug !== "none"
    ? `<p class="note bug">A bug is planted in this session's backward pass (${esc(S.limits.bugs[S.config.bug])}): these numbers come from the buggy backward. The gradient check below catches it.</p>`
    : "";
  const card = $("step-card");
  card.innerHTML =
    `<h3><span class="badge ${step.phase}">${badge}</span> ${esc(step.title)}</h3>` +
    `<div class="eq ${step.phase}" id="step-eq">${content.eq}</div>` +
    `<p class="explain">${content.explain}</p>${content.body}${skipped}${bug}`;
  card.dataset.step = step.key;
  $("step-count").textContent = `step ${S.traceStep + 1} of ${STEPS.length}`;
  $("btn-step-back").disabled = S.traceStep === 0;
  $("btn-step-next").disabled = S.traceStep === STEPS.length - 1;
  emit("trace-view");
}
export function goStep(i) {
  S.traceStep = Math.max(0, Math.min(STEPS.length - 1, i));
  renderTrace();
}
export function closeTrace() {
  S.trace = null;
  $("trace-view").hidden = true;
  $("trace-empty").hidden = false;
  document.body.classList.remove("tracing");
  emit("trace-view");
}
