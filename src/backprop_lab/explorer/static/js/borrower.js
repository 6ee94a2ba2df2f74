/* The borrower picker: a training borrower by index, or one typed in by hand. */
import { call } from "./api.js";
import { showMessage } from "./session.js";
import { S, emit } from "./state.js";
import { $, FEATURE_LABELS, esc, fmt, rawDigits, rawText } from "./util.js";

/** The borrower the network and the trace show, as the API takes it. */
export function borrowerSpec() {
  if (!S.borrower) return { index: 0 };
  if (!S.edited) return { index: S.borrower.index };
  const features = {};
  for (const name of S.data.features) features[name] = Number($(`f-${name}`).value);
  return { features, label: Number(document.querySelector('input[name="label"]:checked').value) };
}

function buildFeatureTable() {
  const table = $("feature-table");
  table.innerHTML = "";
  for (const name of S.data.features) {
    const [low, high] = S.limits.features[name];
    const digits = rawDigits(name);
    const stepSize = name === "annual_income" ? 100 : digits === 0 ? 1 : 10 ** -digits;
    const row = table.insertRow();
    row.insertCell().textContent = FEATURE_LABELS[name];
    row.insertCell().innerHTML = `<input id="f-${name}" type="number" min="${low}" max="${high}" step="${stepSize}" aria-label="${esc(FEATURE_LABELS[name])}">`;
    $(`f-${name}`).addEventListener("input", onFeatureEdit);
  }
}
export function fillBorrower(info) {
  if (!$("feature-table").rows.length) buildFeatureTable();
  for (const name of S.data.features) {
    const input = $(`f-${name}`);
    input.value = rawText(name, info.features[name]); // as the trace and the diagram show it
    input.classList.remove("bad");
  }
  $(`label-${info.label}`).checked = true;
  $("borrower-index").value = info.index;
  $("borrower-index").max = S.data.n_train - 1;
  $("borrower-of").textContent = `of ${S.data.n_train} training borrowers (#0 to #${S.data.n_train - 1})`;
  renderTruth();
}
function renderTruth() {
  const b = S.borrower;
  if (S.edited) {
    $("borrower-truth").innerHTML = `<span class="edited">Your own borrower</span> (edited values; the label is your choice). Pick an index to go back to the data.`;
  } else if (b) {
    $("borrower-truth").innerHTML =
      `True default probability: <b>${fmt(b.p_default, 3)}</b> (known only because the data are synthetic). ` +
      `This borrower ${b.label ? "defaulted" : "repaid"}.`;
  }
}
export async function loadBorrower(index) {
  const n = S.data.n_train;
  index = ((Math.round(index) % n) + n) % n;
  const info = await call("GET", `/borrower?index=${index}`);
  S.borrower = info;
  S.edited = false;
  fillBorrower(info);
  await refreshNetwork();
  emit("borrower");
}

/** Feature boxes that are empty or not numbers: named, and never sent as 0. */
function emptyFeatures() {
  return S.data.features.filter((name) => $(`f-${name}`).value.trim() === "" || !Number.isFinite(Number($(`f-${name}`).value)));
}
let editTimer = null;
export function onFeatureEdit() {
  S.edited = true;
  renderTruth();
  clearTimeout(editTimer);
  editTimer = setTimeout(async () => {
    for (const name of S.data.features) $(`f-${name}`).classList.remove("bad");
    const empty = emptyFeatures();
    if (empty.length) {
      for (const name of empty) $(`f-${name}`).classList.add("bad");
      showMessage(`${empty.map((n) => FEATURE_LABELS[n]).join(", ")}: the box is empty or not a number; type a value (nothing was sent).`);
      return;
    }
    try {
      await refreshNetwork();
      showMessage("");
      emit("borrower");
    } catch (error) {
      const bad = S.data.features.find((name) => error.message.includes(name));
      if (bad) $(`f-${bad}`).classList.add("bad");
      showMessage(error.message);
    }
  }, 250);
}
export async function refreshNetwork() {
  S.network = await call("POST", "/network", borrowerSpec());
  emit("network");
}
