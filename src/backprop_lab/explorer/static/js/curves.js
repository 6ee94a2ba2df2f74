/* The learning curves: this run, earlier runs as ghosts, the Bayes band, settings changes. */
import { S } from "./state.js";
import { $, COLOURS, esc, fmt } from "./util.js";

const GHOSTS = ["#94a3b8", "#a78bfa", "#f472b6", "#34d399"];
const FIELD_NAMES = { lr: "learning rate", batch_size: "batch", backprop: "backprop", l2: "L2" };

/** The changes of settings mid-run as text: "epoch 3: learning rate 0.5 → 0.05". */
export function changeText(c) {
  const show = (field, v) => (field === "batch_size" && v === null ? "full" : field === "backprop" ? (v ? "on" : "off (forward only)") : String(v));
  return `epoch ${c.epoch}: ${FIELD_NAMES[c.field] || c.field} ${show(c.field, c.old)} → ${show(c.field, c.new)}`;
}

/** uPlot plugin: a vertical dashed line at each epoch where a setting changed. */
function changeMarks() {
  return {
    hooks: {
      draw: [
        (u) => {
          const changes = (S.status && S.status.changes) || [];
          const ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = "#b45309";
          ctx.setLineDash([4, 3]);
          ctx.lineWidth = 1.5 * devicePixelRatio;
          for (const c of changes) {
            const x = u.valToPos(c.epoch, "x", true);
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
          }
          ctx.restore();
        },
      ],
    },
  };
}

function makeChart(el, title, yLabel, band) {
  const width = Math.max(280, el.clientWidth || 420);
  const series = [
    { label: "epoch" },
    { label: "train", stroke: COLOURS.pos, width: 2 },
    { label: "test", stroke: COLOURS.neg, width: 2 },
    { label: "Bayes-optimal", stroke: "#475569", width: 1.5, dash: [6, 5], points: { show: false } },
  ];
  if (band) {
    series.push({ label: "− 2 se", stroke: "#cbd5e1", width: 1, dash: [2, 3], points: { show: false } });
    series.push({ label: "+ 2 se", stroke: "#cbd5e1", width: 1, dash: [2, 3], points: { show: false } });
  }
  S.runs.forEach((run, k) => {
    const c = run.config;
    const label = `run ${k + 1}: η ${c.lr}${c.backprop ? "" : ", forward only"}${c.batch_size === null ? "" : `, batch ${c.batch_size}`}${c.optimizer === "gd" ? "" : `, ${c.optimizer}`}${c.bug === "none" ? "" : ", bug"}`;
    series.push({ label, stroke: GHOSTS[k % GHOSTS.length], width: 1.5, dash: [3, 3], points: { show: false } });
  });
  const opts = {
    title,
    width,
    height: 200,
    scales: { x: { time: false, range: (u, min, max) => [0, Math.max(10, max || 0)] } },
    axes: [
      { label: "epoch", labelSize: 20, size: 36, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] },
      { label: yLabel, labelSize: 20, size: 52 },
    ],
    series,
    legend: { show: true, live: false },
    plugins: [changeMarks()],
  };
  return new uPlot(opts, series.map(() => []), el);
}

/** Columns on one x axis (0 .. longest run): this run's, the band's, each ghost's train curve. */
function columns(key, valKey, bayes, band) {
  const longest = Math.max(S.history.epoch.length, ...S.runs.map((r) => r.history.epoch.length));
  const x = Array.from({ length: longest }, (_, e) => e);
  const pad = (a) => x.map((e) => (e < a.length ? a[e] : null));
  const cols = [x, pad(S.history[key]), pad(S.history[valKey]), x.map(() => bayes)];
  if (band) cols.push(x.map(() => band[0]), x.map(() => band[1]));
  for (const run of S.runs) cols.push(pad(run.history[key]));
  return cols;
}

let ghostCount = -1;
export function renderCurves() {
  const h = S.history;
  const bayes = S.data.bayes;
  const se2 = 2 * bayes.log_loss_se;
  if (ghostCount !== S.runs.length) {
    for (const chart of Object.values(S.charts)) chart.destroy();
    $("chart-loss").innerHTML = "";
    $("chart-acc").innerHTML = "";
    S.charts.loss = makeChart($("chart-loss"), "Loss (binary cross-entropy)", "loss", true);
    S.charts.acc = makeChart($("chart-acc"), "Accuracy", "accuracy", false);
    ghostCount = S.runs.length;
  }
  S.charts.loss.setData(columns("loss", "val_loss", bayes.log_loss, [bayes.log_loss - se2, bayes.log_loss + se2]));
  S.charts.acc.setData(columns("accuracy", "val_accuracy", bayes.accuracy, null));
  $("curves-empty").hidden = h.epoch.length > 0;
  renderTable();
  renderRuns();
}

/** The table: the weights the network holds now (after every update so far), as the pill. */
function renderTable() {
  const now = S.status.now;
  const bayes = S.data.bayes;
  const se2 = 2 * bayes.log_loss_se;
  $("m-epoch").textContent = String(now.epoch);
  $("m-train-loss").textContent = fmt(now.loss, 6);
  $("m-test-loss").textContent = fmt(now.val_loss, 6);
  $("m-train-acc").textContent = fmt(now.accuracy, 4);
  $("m-test-acc").textContent = fmt(now.val_accuracy, 4);
  $("m-bayes-loss").textContent = `${fmt(bayes.log_loss, 4)} ± ${fmt(se2, 4)}`;
  $("m-bayes-acc").textContent = fmt(bayes.accuracy, 4);
  $("bayes-explain").innerHTML =
    `The dashed line is the Bayes-optimal level: the loss of predicting each test borrower with the true default ` +
    `probability, which a lender never sees. It is the lowest loss to <i>expect</i> on new borrowers. ` +
    `On these ${S.data.n_test} test borrowers it is itself a sample: ${fmt(bayes.log_loss, 4)} ± ${fmt(se2, 4)} ` +
    `(± 2 standard errors, sd of the per-borrower loss / √${S.data.n_test}; the dotted lines), so a model can land ` +
    `below it on this test set by chance. The training loss can go lower still (the true probabilities score ` +
    `${fmt(bayes.train_log_loss, 4)} on the training borrowers): the network was fitted to those very borrowers' outcomes.`;
}

function renderRuns() {
  const list = $("runs");
  const items = S.runs.map((run, k) => {
    const last = run.history.loss.length - 1;
    return `<li><span class="swatch" style="background:${GHOSTS[k % GHOSTS.length]}"></span>run ${k + 1}: ${esc(run.label)}; ` +
      `${last + 1} epochs, train loss ${fmt(run.history.loss[0], 4)} → ${fmt(run.history.loss[last], 4)}</li>`;
  });
  const now = S.config;
  items.push(`<li class="current"><span class="swatch" style="background:${COLOURS.pos}"></span>this run: ${esc(runLabelShort(now))}</li>`);
  list.innerHTML = items.join("");
  $("btn-clear-runs").hidden = !S.runs.length;
  const changes = S.status.changes || [];
  $("changes").hidden = !changes.length;
  $("changes").innerHTML = changes.length
    ? `Settings changed mid-run (dashed marks): ${changes.map((c) => `<span class="change">${esc(changeText(c))}</span>`).join("; ")}`
    : "";
}
function runLabelShort(c) {
  return `seed ${c.seed}, η ${c.lr}${c.backprop ? "" : ", forward only"}${c.batch_size === null ? "" : `, batch ${c.batch_size}`}${c.optimizer === "gd" ? "" : `, ${c.optimizer}`}${c.bug === "none" ? "" : `, bug ${c.bug}`}`;
}

export function clearRuns() {
  S.runs = [];
  renderCurves();
}
export function resizeCharts() {
  for (const [key, chart] of Object.entries(S.charts)) {
    const el = key === "loss" ? $("chart-loss") : $("chart-acc");
    chart.setSize({ width: Math.max(280, el.clientWidth), height: 200 });
  }
}
