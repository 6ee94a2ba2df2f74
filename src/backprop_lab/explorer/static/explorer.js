/* backprop-lab explorer: draws what the server computes.
 *
 * Every number shown here arrives from the JSON API (the Python engine: nn.mlp,
 * training.train, each layer's forward/backward, gradient_check). This script holds no
 * forward or backward pass of its own: it only formats numbers, draws the network and
 * the curves, and sends the learner's choices to the server.
 */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const SVGNS = "http://www.w3.org/2000/svg";
  const COLOURS = { pos: "#2563eb", neg: "#ea580c", grad: "#9333ea", ink: "#1e293b" };
  const FEATURE_LABELS = {
    age: "age",
    annual_income: "annual income",
    debt_to_income: "debt-to-income",
    credit_history_years: "credit history (yrs)",
    late_payments: "late payments",
    home_owner: "home owner",
    employment_years: "employment (yrs)",
  };

  const S = {
    sid: null,
    token: null, // the session's secret: every call on the session sends it
    config: null,
    limits: null,
    data: null,
    history: { epoch: [], loss: [], accuracy: [], val_loss: [], val_accuracy: [] },
    status: null,
    network: null,
    borrower: null, // {index, features, label, p_default}
    edited: false,
    trace: null,
    traceStep: 0,
    playing: false,
    busy: false,
    charts: {},
  };

  // ---------------------------------------------------------------- formatting
  function esc(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  /** A number for display: fixed decimals, exponent for very small or large values. */
  function fmt(v, digits = 4) {
    if (v === null || v === undefined) return "—";
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
    const s = v.toFixed(digits);
    return /^-0\.0*$/.test(s) ? s.slice(1) : s;
  }
  /** A signed term for a written-out sum: "(−0.123)". */
  function paren(v, digits = 3) {
    return `(${fmt(v, digits).replace("-", "−")})`;
  }
  function num(v, digits = 4, id = "") {
    const idAttr = id ? ` id="${id}"` : "";
    return `<span class="n"${idAttr} title="${v === null ? "not finite" : v}">${fmt(v, digits).replace(/^-/, "−")}</span>`;
  }
  function rawFmt(name, v) {
    if (name === "annual_income") return Math.round(v).toLocaleString("en-US");
    if (name === "late_payments" || name === "home_owner") return String(Math.round(v));
    if (name === "debt_to_income") return v.toFixed(3);
    return v.toFixed(1);
  }

  // ---------------------------------------------------------------- messages
  function showMessage(text) {
    const box = $("message");
    box.textContent = text;
    box.hidden = !text;
  }

  // ---------------------------------------------------------------- API
  async function api(method, path, body, token) {
    const options = { method, headers: {} };
    if (token) options.headers["X-Explorer-Token"] = token;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(path, options);
    let data;
    try {
      data = await response.json();
    } catch (_) {
      data = { error: `the server answered ${response.status} without JSON` };
    }
    if (!response.ok) {
      const error = new Error(data.error || `HTTP ${response.status}`);
      error.status = response.status;
      error.code = data.code;
      throw error;
    }
    return data;
  }
  /** A call on this tab's session, with the session's token (only this tab holds it). */
  function sessionApi(method, suffix, body) {
    return api(method, `/api/session/${S.sid}${suffix}`, body, S.token);
  }
  /* The session's calls run one at a time, in the order the learner made them: a reset
     and a step clicked right after it reach the server in that order. */
  let queue = Promise.resolve();
  /** A call on this tab's session; if the server has let it expire, rebuild it and retry. */
  function call(method, suffix, body) {
    const run = queue.then(async () => {
      try {
        return await sessionApi(method, suffix, body);
      } catch (error) {
        if (error.code !== "session_expired") throw error;
        await rebuildSession();
        return await sessionApi(method, suffix, body);
      }
    });
    queue = run.catch(() => {});
    return run;
  }

  // ---------------------------------------------------------------- notices
  function showNotice(text) {
    const box = $("notice");
    box.textContent = text;
    box.hidden = !text;
  }

  // ---------------------------------------------------------------- controls <-> config
  function lrFromSlider() {
    const v = Number($("lr").value);
    const lr = Number(Math.pow(10, v).toPrecision(2)); // two significant digits
    return Math.min(S.limits ? S.limits.lr[1] : 10, Math.max(S.limits ? S.limits.lr[0] : 1e-4, lr));
  }
  function batchFromSelect() {
    const v = $("batch").value;
    return v === "full" ? null : Number(v);
  }
  function configFromControls() {
    return {
      seed: Number($("seed").value) || 0,
      n: Number($("n").value),
      noise: Number($("noise").value),
      nonlinear: $("nonlinear").checked,
      hidden: Number($("hidden").value),
      activation: $("activation").value,
      init: $("init").value,
      lr: lrFromSlider(),
      batch_size: batchFromSelect(),
      backprop: !$("forward-only").checked,
    };
  }
  function controlsFromConfig(c) {
    $("seed").value = c.seed;
    $("n").value = String(c.n);
    $("noise").value = c.noise;
    $("noise-out").textContent = c.noise.toFixed(1);
    $("nonlinear").checked = c.nonlinear;
    $("hidden").value = c.hidden;
    $("hidden-out").textContent = c.hidden;
    $("activation").value = c.activation;
    $("init").value = c.init;
    $("lr").value = Math.log10(c.lr);
    $("lr-out").textContent = String(c.lr);
    $("batch").value = c.batch_size === null ? "full" : String(c.batch_size);
    $("forward-only").checked = !c.backprop;
  }

  // ---------------------------------------------------------------- session
  function applySnapshot(snap) {
    S.sid = snap.session;
    S.config = snap.config;
    S.limits = snap.limits;
    S.data = snap.data;
    S.history = snap.history;
    S.status = snap.status;
    S.network = snap.network;
    controlsFromConfig(S.config);
    $("borrower-index").max = S.data.n_train - 1;
    $("borrower-of").textContent = `of ${S.data.n_train} training borrowers (#0 to #${S.data.n_train - 1})`;
    const rate = (100 * S.data.default_rate_train).toFixed(1);
    $("data-summary").textContent =
      `${S.data.n_train} training and ${S.data.n_test} test borrowers; ${rate}% of the training borrowers defaulted. ` +
      `Noise is the randomness of the outcome given the features; the gap between a curve and the Bayes-optimal line is what is left to learn.`;
    renderStatus();
    renderCurves();
    drawNetwork();
  }
  function adoptSession(snap) {
    S.token = snap.token;
    applySnapshot(snap);
  }
  async function createSession() {
    adoptSession(await api("POST", "/api/session", configFromControls()));
    S.borrower = await sessionApi("GET", "/borrower?index=0");
    S.edited = false;
    fillBorrower(S.borrower);
    if (S.trace) closeTrace();
  }
  /** The server let this tab's session expire (it keeps a limited number): start a new
      one with the same settings and seed, and show the same borrower (runs inside a
      queued call, so it calls the API directly). */
  async function rebuildSession() {
    const config = S.config || configFromControls();
    adoptSession(await api("POST", "/api/session", config));
    if (S.borrower) {
      S.network = await sessionApi("POST", "/network", borrowerSpec());
      drawNetwork();
    }
    if (S.trace) {
      S.trace = await sessionApi("POST", "/trace", borrowerSpec());
      renderTrace();
    }
    showNotice(
      `This tab's session expired because many tabs were open at once; it was rebuilt with the same settings ` +
      `(seed ${config.seed}) and starts again from epoch 0.`
    );
  }
  async function reset(config) {
    stopPlaying();
    showNotice(""); // a new start; a rebuild during this call shows its notice again
    const snap = await call("POST", "/reset", config || configFromControls());
    applySnapshot(snap);
    showMessage("");
    const index = Math.min(S.borrower ? S.borrower.index ?? 0 : 0, S.data.n_train - 1);
    if (S.edited) {
      await refreshNetwork();
      if (S.trace) await runTrace(true);
    } else {
      await loadBorrower(index, Boolean(S.trace));
    }
  }
  async function sendSettings(settings) {
    const result = await call("POST", "/settings", settings);
    S.config = result.config;
    S.status = result.status;
    renderStatus();
    if (S.trace) await runTrace(true); // the update step uses the learning rate
  }

  // ---------------------------------------------------------------- training
  async function step(epochs) {
    if (S.busy) return;
    S.busy = true;
    try {
      const allowed = Math.max(1, Math.min(epochs, S.status.max_epochs_per_step, S.status.max_epochs - S.status.epochs));
      const result = await call("POST", "/step", { epochs: allowed, borrower: borrowerSpec(), trace: Boolean(S.trace) });
      for (const key of Object.keys(S.history)) S.history[key].push(...result.history[key]);
      S.status = result.status;
      S.network = result.network;
      renderStatus();
      renderCurves();
      if (S.trace && result.trace) {
        S.trace = result.trace; // traced by the step's own reply: one round trip per tick
        renderTrace();
      } else if (S.trace) await runTrace(true);
      else drawNetwork();
      if (S.status.state === "diverged") stopPlaying();
    } catch (error) {
      stopPlaying();
      showMessage(error.message);
    } finally {
      S.busy = false;
    }
  }
  async function playLoop() {
    while (S.playing) {
      await step(Number($("speed").value));
      if (S.status.epochs >= S.status.max_epochs) stopPlaying();
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
  }
  function stopPlaying() {
    S.playing = false;
    $("btn-play").textContent = "▶ Play";
    renderStatus();
  }

  // ---------------------------------------------------------------- status and curves
  function renderStatus() {
    if (!S.status) return;
    const pill = $("status-pill");
    const st = S.status.state;
    pill.className = "pill " + (S.playing ? "playing" : st);
    pill.textContent =
      st === "diverged" ? `diverged at epoch ${S.status.diverged_at}` :
      S.playing ? (st === "forward-only" ? "playing (forward only)" : "training…") :
      st === "forward-only" ? "forward only" : "ready";
    $("epoch-pill").textContent = `epoch ${S.status.epochs}`;
    const diverged = st === "diverged";
    $("btn-step").disabled = diverged;
    $("btn-play").disabled = diverged;
    const box = $("diverged");
    box.hidden = !diverged;
    if (diverged) {
      box.innerHTML =
        `Training diverged at epoch ${S.status.diverged_at}` +
        `<span>${esc(S.status.reason || "")}. The learning rate η = ${esc(S.config.lr)} is too large: ` +
        `each step overshoots the minimum. The network keeps the weights it had at the start of that epoch. ` +
        `Lower the learning rate and press Reset.</span>`;
    }
  }

  function makeChart(el, title, yLabel) {
    const width = Math.max(300, el.clientWidth || 420);
    const opts = {
      title,
      width,
      height: 210,
      scales: { x: { time: false, range: (u, min, max) => [0, Math.max(10, max || 0)] } },
      axes: [
        { label: "epoch", labelSize: 20, size: 36, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] },
        { label: yLabel, labelSize: 20, size: 52 },
      ],
      series: [
        { label: "epoch" },
        { label: "train", stroke: COLOURS.pos, width: 2 },
        { label: "test", stroke: COLOURS.neg, width: 2 },
        { label: "Bayes-optimal", stroke: "#475569", width: 1.5, dash: [6, 5], points: { show: false } },
      ],
      legend: { show: true, live: false },
    };
    return new uPlot(opts, [[], [], [], []], el);
  }
  function renderCurves() {
    const h = S.history;
    const bayes = S.data.bayes;
    const flat = (v) => h.epoch.map(() => v);
    if (!S.charts.loss) {
      S.charts.loss = makeChart($("chart-loss"), "Loss (binary cross-entropy)", "loss");
      S.charts.acc = makeChart($("chart-acc"), "Accuracy", "accuracy");
    }
    S.charts.loss.setData([h.epoch, h.loss, h.val_loss, flat(bayes.log_loss)]);
    S.charts.acc.setData([h.epoch, h.accuracy, h.val_accuracy, flat(bayes.accuracy)]);
    const last = h.epoch.length - 1;
    $("curves-empty").hidden = last >= 0;
    $("m-epoch").textContent = last >= 0 ? String(h.epoch[last]) : "–";
    $("m-train-loss").textContent = last >= 0 ? fmt(h.loss[last], 6) : "–";
    $("m-test-loss").textContent = last >= 0 ? fmt(h.val_loss[last], 6) : "–";
    $("m-train-acc").textContent = last >= 0 ? fmt(h.accuracy[last], 4) : "–";
    $("m-test-acc").textContent = last >= 0 ? fmt(h.val_accuracy[last], 4) : "–";
    $("m-bayes-loss").textContent = fmt(bayes.log_loss, 6);
    $("m-bayes-acc").textContent = fmt(bayes.accuracy, 4);
  }
  function resizeCharts() {
    for (const [key, chart] of Object.entries(S.charts)) {
      const el = key === "loss" ? $("chart-loss") : $("chart-acc");
      chart.setSize({ width: Math.max(300, el.clientWidth), height: 210 });
    }
  }

  // ---------------------------------------------------------------- the network drawing
  function svg(tag, attrs, parent, text) {
    const node = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function strength(v) {
    return 1 - Math.exp(-Math.abs(v || 0));
  }
  /** Fill for a neuron: blue for positive, orange for negative, stronger with |v|. */
  function nodeFill(v) {
    if (v === null || v === undefined) return "#fee2e2";
    const t = 0.12 + 0.6 * strength(v);
    return v >= 0 ? `rgba(37, 99, 235, ${t})` : `rgba(234, 88, 12, ${t})`;
  }

  /** Which values and highlights the current trace step puts on the diagram. */
  function traceView() {
    if (!S.trace) return null;
    const step = STEPS[S.traceStep];
    const v = S.trace.values;
    const view = { step, nodes: step.nodes, edges: step.edges, back: step.phase !== "forward" };
    view.input = v.x;
    view.hidden = step.hidden ? v[step.hidden] : v.h;
    view.hiddenName = step.hidden ? HIDDEN_NAMES[step.hidden] : "h";
    view.output = step.output ? v[step.output] : v.y_hat;
    view.outputName = step.output ? OUTPUT_NAMES[step.output] : "ŷ";
    view.loss = v.loss;
    view.W1 = step.key === "update" ? v.W1_new : v.W1;
    view.W2 = step.key === "update" ? v.W2_new : v.W2;
    view.grad = step.grad ? { layer: step.grad, values: v["d" + step.grad] } : null;
    view.inactive = S.config.activation === "relu" ? v.z1.map((z) => z <= 0) : v.z1.map(() => false);
    return view;
  }
  const HIDDEN_NAMES = { z1: "z₁", h: "h", delta1: "δ₁" };
  const OUTPUT_NAMES = { z2: "z₂", y_hat: "ŷ", delta2: "δ₂" };

  function drawNetwork() {
    const root = $("net");
    root.innerHTML = "";
    if (!S.network) return;
    const net = S.network;
    const b = net.borrower;
    const view = traceView();
    const H = net.b1.length;
    const features = S.data.features;
    const top = 58, bottom = 500;
    const xIn = 205, xHid = 400, xOut = 540, xLoss = 606;
    const yIn = (i) => top + ((i + 0.5) * (bottom - top)) / features.length;
    const yHid = (j) => top + ((j + 0.5) * (bottom - top)) / H;
    const yOut = (top + bottom) / 2;
    const rHid = Math.max(8, Math.min(17, (bottom - top) / H / 2 - 2.5));
    const W1 = view ? view.W1 : net.W1;
    const W2 = view ? view.W2 : net.W2;
    const inputs = view ? view.input : b.x;
    const hidden = view ? view.hidden : b.h;
    const output = view ? view.output : b.y_hat;
    const inactive = view ? view.inactive : b.z1.map((z) => S.config.activation === "relu" && z <= 0);
    const dimNodes = (layer) => (view && view.nodes && !view.nodes.includes(layer) ? "dim" : "");
    const focusClass = (layer) => (view && view.nodes && view.nodes.includes(layer) ? (view.back ? "focus-back" : "focus") : "");
    const dimEdges = (layer) => (view && !(view.edges || []).includes(layer) ? "dim" : "");
    document.querySelector(".legend-grad").hidden = !(view && view.grad);

    // layer titles
    const title = (x, text) => svg("text", { x, y: 22, "text-anchor": "middle", class: "layer-title" }, root, text);
    title(xIn - 62, "inputs: raw → standardised x");
    title(xHid, view ? `hidden: ${view.hiddenName}` : `hidden: h = ${activationName()}(z₁)`);
    title(xOut, view ? `output: ${view.outputName}` : "output: ŷ");
    svg("text", { x: xOut, y: 38, "text-anchor": "middle", class: "node-tag" }, root, "P(default)");

    // edges: weights (or gradients during a backward step), thickness by magnitude
    const gradMax = view && view.grad ? maxAbs(view.grad.values) || 1 : 1;
    const edge = (x1, y1, x2, y2, w, g, layer, label) => {
      const isGrad = g !== null && g !== undefined;
      const s = isGrad ? Math.abs(g) / gradMax : strength(w);
      const line = svg("line", {
        x1, y1, x2, y2,
        stroke: isGrad ? COLOURS.grad : w >= 0 ? COLOURS.pos : COLOURS.neg,
        "stroke-width": (0.5 + 7 * s).toFixed(2),
        "stroke-opacity": (0.25 + 0.7 * s).toFixed(2),
        "stroke-linecap": "round",
        class: dimEdges(layer),
      }, root);
      svg("title", {}, line, isGrad ? `${label}: ∂L/∂w = ${fmt(g, 5)} (w = ${fmt(w, 4)})` : `${label} = ${fmt(w, 4)}`);
    };
    for (let i = 0; i < features.length; i++) {
      for (let j = 0; j < H; j++) {
        const g = view && view.grad && view.grad.layer === "W1" ? view.grad.values[i][j] : null;
        edge(xIn + 15, yIn(i), xHid - rHid, yHid(j), W1[i][j], g, "W1", `W₁[${FEATURE_LABELS[features[i]]} → unit ${j + 1}]`);
      }
    }
    for (let j = 0; j < H; j++) {
      const g = view && view.grad && view.grad.layer === "W2" ? view.grad.values[j] : null;
      edge(xHid + rHid, yHid(j), xOut - 19, yOut, W2[j], g, "W2", `W₂[unit ${j + 1} → output]`);
    }

    // input nodes with names and raw values
    for (let i = 0; i < features.length; i++) {
      const name = features[i];
      const group = svg("g", { class: `${dimNodes("input")} ${focusClass("input")}` }, root);
      svg("text", { x: xIn - 24, y: yIn(i) - 2, "text-anchor": "end", class: "feature-name" }, group, FEATURE_LABELS[name]);
      svg("text", { x: xIn - 24, y: yIn(i) + 12, "text-anchor": "end", class: "feature-raw" }, group, `raw ${rawFmt(name, b.features[name])}`);
      svg("circle", { cx: xIn, cy: yIn(i), r: 16, fill: nodeFill(inputs[i]), stroke: "#475569", "stroke-width": 1 }, group);
      svg("text", { x: xIn, y: yIn(i) + 4, "text-anchor": "middle", class: "node-value" }, group, fmt(inputs[i], 2));
      svg("title", {}, group, `${name}: raw ${b.features[name]}, standardised x = ${fmt(inputs[i], 4)}`);
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
      const big = rHid >= 14;
      const tagInside = big && (dead || inactive[j]);
      svg("text", {
        x: big ? xHid : xHid + rHid + 3, y: yHid(j) + (tagInside ? 1 : 4),
        "text-anchor": big ? "middle" : "start",
        class: "node-value",
        stroke: "#fff", "stroke-width": big ? 0 : 3, "paint-order": "stroke",
      }, group, fmt(hidden[j], 2));
      if (dead || inactive[j]) {
        const at = tagInside ? { x: xHid, y: yHid(j) + 11, "text-anchor": "middle" } : { x: xHid - rHid - 3, y: yHid(j) + 4, "text-anchor": "end" };
        svg("text", { ...at, class: dead ? "dead-tag" : "node-tag", stroke: "#fff", "stroke-width": tagInside ? 0 : 3, "paint-order": "stroke" }, group, dead ? "dead" : "off");
      }
      svg("title", {}, group,
        `hidden unit ${j + 1}: z₁ = ${fmt((view ? S.trace.values.z1 : b.z1)[j], 4)}, h = ${fmt((view ? S.trace.values.h : b.h)[j], 4)}, b₁ = ${fmt(net.b1[j], 4)}` +
        (dead ? " — dead: z₁ ≤ 0 for every training borrower, so it never learns" : inactive[j] ? " — off for this borrower (z₁ ≤ 0)" : ""));
    }

    // output node, the label and the loss
    const outGroup = svg("g", { class: `${dimNodes("output")} ${focusClass("output")}` }, root);
    svg("circle", { cx: xOut, cy: yOut, r: 19, fill: nodeFill(output), stroke: "#475569", "stroke-width": 1 }, outGroup);
    svg("text", { x: xOut, y: yOut + 4, "text-anchor": "middle", class: "node-value" }, outGroup, fmt(output, 3));
    svg("title", {}, outGroup, `z₂ = ${fmt(b.z2, 4)}, ŷ = σ(z₂) = ${fmt(b.y_hat, 4)}, b₂ = ${fmt(net.b2, 4)}`);
    const lossGroup = svg("g", { class: `${dimNodes("loss")} ${focusClass("loss")}` }, root);
    svg("line", { x1: xOut + 19, y1: yOut, x2: xLoss - 22, y2: yOut, stroke: "#94a3b8", "stroke-dasharray": "3 3" }, lossGroup);
    svg("rect", { x: xLoss - 22, y: yOut - 19, width: 44, height: 38, rx: 6, fill: "#fff", stroke: "#475569" }, lossGroup);
    svg("text", { x: xLoss, y: yOut - 3, "text-anchor": "middle", class: "node-tag" }, lossGroup, "loss L");
    svg("text", { x: xLoss, y: yOut + 12, "text-anchor": "middle", class: "node-value" }, lossGroup, fmt(view ? view.loss : b.loss, 3));
    svg("text", { x: xLoss, y: yOut + 36, "text-anchor": "middle", class: "node-tag" }, lossGroup, `y = ${b.label}`);
    svg("text", { x: xLoss, y: yOut + 48, "text-anchor": "middle", class: "node-tag" }, lossGroup, b.label ? "defaulted" : "repaid");

    const who = b.index === null ? "your own borrower" : `borrower #${b.index}`;
    $("network-caption").textContent = view
      ? `tracing ${who}: step ${S.traceStep + 1} of ${STEPS.length}, ${STEPS[S.traceStep].short}`
      : `node values for ${who}; hover a node or line for its numbers`;
    $("arch").textContent = `7 → ${H} ${activationName()} → 1 sigmoid`;
  }
  function maxAbs(a) {
    let m = 0;
    for (const v of a.flat()) if (v !== null && Math.abs(v) > m) m = Math.abs(v);
    return m;
  }
  function activationName() {
    return { relu: "ReLU", tanh: "tanh", sigmoid: "σ" }[S.config.activation];
  }

  // ---------------------------------------------------------------- borrower picker
  function borrowerSpec() {
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
      const whole = S.limits.integer_features.includes(name);
      const stepSize = name === "annual_income" ? 100 : whole ? 1 : name === "debt_to_income" ? 0.01 : 0.1;
      const row = table.insertRow();
      row.insertCell().textContent = FEATURE_LABELS[name];
      const cell = row.insertCell();
      cell.innerHTML = `<input id="f-${name}" type="number" min="${low}" max="${high}" step="${stepSize}" aria-label="${esc(FEATURE_LABELS[name])}">`;
      $(`f-${name}`).addEventListener("input", onFeatureEdit);
    }
  }
  function fillBorrower(info) {
    if (!$("feature-table").rows.length) buildFeatureTable();
    for (const name of S.data.features) {
      const v = info.features[name];
      const input = $(`f-${name}`);
      input.value = name === "annual_income" ? String(Math.round(v)) : name === "debt_to_income" ? v.toFixed(3) : S.limits.integer_features.includes(name) ? String(Math.round(v)) : v.toFixed(2);
      input.classList.remove("bad");
    }
    $(`label-${info.label}`).checked = true;
    $("borrower-index").value = info.index;
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
  async function loadBorrower(index, retrace) {
    const n = S.data.n_train;
    index = ((Math.round(index) % n) + n) % n;
    const info = await call("GET", `/borrower?index=${index}`);
    S.borrower = info;
    S.edited = false;
    fillBorrower(info);
    await refreshNetwork();
    if (retrace) await runTrace(false);
  }
  let editTimer = null;
  function onFeatureEdit() {
    S.edited = true;
    renderTruth();
    clearTimeout(editTimer);
    editTimer = setTimeout(async () => {
      try {
        await refreshNetwork();
        for (const name of S.data.features) $(`f-${name}`).classList.remove("bad");
        showMessage("");
        if (S.trace) await runTrace(true);
      } catch (error) {
        const bad = S.data.features.find((name) => error.message.includes(name));
        if (bad) $(`f-${bad}`).classList.add("bad");
        showMessage(error.message);
      }
    }, 250);
  }
  async function refreshNetwork() {
    const net = await call("POST", "/network", borrowerSpec());
    S.network = net;
    drawNetwork();
  }

  // ---------------------------------------------------------------- the trace
  const F = {
    x: "<i class=v>x</i>", z1: "<i class=v>z</i><sub>1</sub>", h: "<i class=v>h</i>", z2: "<i class=v>z</i><sub>2</sub>",
    yh: "<i class=v>ŷ</i>", y: "<i class=v>y</i>", L: "<i class=v>L</i>", W1: "<i class=v>W</i><sub>1</sub>",
    W2: "<i class=v>W</i><sub>2</sub>", b1: "<i class=v>b</i><sub>1</sub>", b2: "<i class=v>b</i><sub>2</sub>",
    d1: "<i class=v>δ</i><sub>1</sub>", d2: "<i class=v>δ</i><sub>2</sub>", eta: "<i class=v>η</i>", T: "<sup>T</sup>",
  };
  function fName() {
    return { relu: "ReLU", tanh: "tanh", sigmoid: "σ" }[S.config.activation];
  }
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
  function vectorRow(label, values, opts = {}) {
    let s = `<tr><th class="rowhead">${label}</th>`;
    values.forEach((v, j) => {
      const off = opts.off && opts.off[j];
      const cls = [off ? "off" : "", opts.result ? "result" : ""].join(" ").trim();
      s += `<td class="${cls}">${num(v, opts.digits ?? 4)}</td>`;
    });
    return s + "</tr>";
  }
  function offUnits() {
    const v = S.trace.values;
    return S.config.activation === "relu" ? v.z1.map((z) => z <= 0) : v.z1.map(() => false);
  }
  function offNote() {
    if (S.config.activation !== "relu") return "";
    const off = offUnits();
    const dead = S.network.dead;
    const offList = off.map((o, j) => (o ? j + 1 : null)).filter((j) => j !== null);
    const deadList = dead.map((d, j) => (d ? j + 1 : null)).filter((j) => j !== null);
    let s = "";
    if (offList.length) s += `Units ${offList.join(", ")} are <b>off</b> for this borrower (${F.z1} ≤ 0; grey cells). `;
    if (deadList.length) s += `Units ${deadList.join(", ")} are <b>dead</b>: off for every training borrower, so no gradient ever reaches their weights. `;
    return s ? `<p class="note">${s}</p>` : "";
  }
  function matrixTable(M, caption, offCols) {
    const features = S.trace.features;
    const H = M[0].length;
    let s = `<div class="scroll"><table class="nums"><caption>${caption}</caption>${unitHeader(H)}`;
    features.forEach((name, i) => {
      s += `<tr><th class="feat">${esc(FEATURE_LABELS[name])}</th>`;
      for (let j = 0; j < H; j++) s += `<td class="${offCols && offCols[j] ? "off" : ""}">${num(M[i][j], 4)}</td>`;
      s += "</tr>";
    });
    return s + "</table></div>";
  }
  function writtenSum(terms, bias, result, resultDigits = 4) {
    return `<div class="sum">= ${terms.map(([a, w]) => `${paren(a)}${paren(w)}`).join(" + ")} + ${paren(bias)} = <b>${fmt(result, resultDigits).replace(/^-/, "−")}</b></div>`;
  }

  const STEPS = [
    {
      key: "x", short: "the input", label: "x", phase: "forward", nodes: ["input"], edges: [],
      title: "Input: the borrower's standardised features",
      render(v) {
        const b = S.trace.borrower;
        let rows = "";
        S.trace.features.forEach((name, i) => {
          rows += `<tr><th class="feat">${esc(FEATURE_LABELS[name])}</th><td>${esc(rawFmt(name, b.features[name]))}</td><td class="result">${num(v.x[i])}</td></tr>`;
        });
        return {
          eq: `${F.x}<sub>i</sub> = (raw<sub>i</sub> − mean<sub>i</sub>) / std<sub>i</sub>`,
          explain: "The network never sees raw amounts or years: each feature is shifted and scaled by the mean and standard deviation of the training borrowers, so all seven inputs are on a comparable scale.",
          body: `<table class="nums"><tr><th>feature</th><th>raw value</th><th>x</th></tr>${rows}</table>`,
        };
      },
    },
    {
      key: "z1", short: "hidden pre-activations z₁", label: "z₁", phase: "forward", nodes: ["hidden"], edges: ["W1"], hidden: "z1",
      title: "Hidden layer, weighted sum",
      render(v) {
        const j = v.z1.indexOf(Math.max(...v.z1));
        const terms = v.x.map((x, i) => [x, v.W1[i][j]]);
        return {
          eq: `${F.z1} = ${F.x} ${F.W1} + ${F.b1} <span class="sum">&nbsp;&nbsp;(1×7)(7×${v.z1.length}) + (1×${v.z1.length})</span>`,
          explain: `Each hidden unit adds up the seven inputs, each times the weight on its connection, plus its bias. Written out for unit ${j + 1}:`,
          body:
            `<div class="eq">${F.z1}[${j + 1}] = Σ<sub>i</sub> ${F.x}<sub>i</sub> ${F.W1}[i, ${j + 1}] + ${F.b1}[${j + 1}] ${writtenSum(terms, v.b1[j], v.z1[j])}</div>` +
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
        const terms = v.h.map((h, j) => [h, v.W2[j]]);
        return {
          eq: `${F.z2} = ${F.h} ${F.W2} + ${F.b2} = Σ<sub>j</sub> ${F.h}<sub>j</sub> ${F.W2}[j] + ${F.b2} ${writtenSum(terms, v.b2, v.z2)}`,
          explain: "The output unit weighs the hidden values. z₂ is the logit, the log-odds of default: positive means the network leans towards default.",
          body: "",
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
          explain: "A weight's gradient is the value that entered it (hⱼ) times the error at its output (δ₂). For a batch the engine averages this over the N rows; here N = 1. Units that were off (hⱼ = 0) get a zero gradient on their outgoing weight. The network shows the gradients in purple.",
          body: `<div class="scroll"><table class="nums">${unitHeader(v.h.length)}${vectorRow(F.h, v.h, { off: offUnits() })}${vectorRow(F.d2, v.h.map(() => v.delta2))}${vectorRow(`∂${F.L}/∂${F.W2}`, v.dW2, { off: offUnits(), result: true })}</table></div>`,
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
          explain: "Each incoming weight's gradient is its input xᵢ times the error δ₁ of the unit it feeds: an outer product. Columns of units that were off are all zero.",
          body: matrixTable(v.dW1, `∂L/∂W₁ (rows: inputs, columns: hidden units)`, offUnits()) +
            `<div class="scroll"><table class="nums">${unitHeader(v.h.length)}${vectorRow(`∂${F.L}/∂${F.b1}`, v.db1, { off: offUnits(), result: true })}</table></div>`,
        };
      },
    },
    {
      key: "update", short: "the update", label: "update", phase: "update", nodes: null, edges: ["W1", "W2"],
      title: "Update: one step of gradient descent",
      render(v) {
        const H = v.h.length;
        return {
          eq: `${F.W1} ← ${F.W1} − ${F.eta} ∂${F.L}/∂${F.W1}, &nbsp; ${F.b1} ← ${F.b1} − ${F.eta} ∂${F.L}/∂${F.b1}<br>${F.W2} ← ${F.W2} − ${F.eta} ∂${F.L}/∂${F.W2}, &nbsp; ${F.b2} ← ${F.b2} − ${F.eta} ∂${F.L}/∂${F.b2}&nbsp;&nbsp; <span class="sum">with learning rate ${F.eta} = ${esc(S.trace.lr)}</span>`,
          explain: "Each parameter takes a step against its gradient, scaled by the learning rate η. Here are the output weights and biases before and after, and the new hidden weights.",
          body:
            `<div class="scroll"><table class="nums">${unitHeader(H)}${vectorRow(`${F.W2} before`, v.W2)}${vectorRow(`∂${F.L}/∂${F.W2}`, v.dW2)}${vectorRow(`${F.W2} after`, v.W2_new, { result: true })}` +
            `${vectorRow(`${F.b1} before`, v.b1)}${vectorRow(`${F.b1} after`, v.b1_new, { result: true })}</table></div>` +
            `<p>${F.b2}: ${num(v.b2)} − ${esc(S.trace.lr)} × ${paren(v.db2, 4)} = <b>${num(v.b2_new)}</b></p>` +
            matrixTable(v.W1_new, "W₁ after the step", null) +
            `<p class="note">This is one gradient-descent step on this borrower alone (batch size 1). Training averages the gradient over a batch (all ${S.data.n_train} training borrowers for full batch) before each update. The trace does not change the session's weights.</p>`,
        };
      },
    },
  ];

  async function runTrace(keepStep) {
    try {
      const result = await call("POST", "/trace", borrowerSpec());
      S.trace = result;
      if (!keepStep) S.traceStep = 0;
      $("trace-empty").hidden = true;
      $("trace-view").hidden = false;
      renderTrace();
    } catch (error) {
      showMessage(error.message);
    }
  }
  function renderRail() {
    const rail = $("rail");
    rail.innerHTML = "";
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
      button.className = [step.phase !== "forward" ? "back" : "", i === S.traceStep ? "current" : ""].join(" ").trim();
      button.addEventListener("click", () => goStep(i));
      rail.appendChild(button);
    });
  }
  function renderTrace() {
    if (!S.trace) return;
    renderRail();
    const step = STEPS[S.traceStep];
    const content = step.render(S.trace.values);
    const badge = { forward: "forward pass", backward: "backward pass", update: "update" }[step.phase];
    const skipped = step.phase !== "forward" && !S.config.backprop
      ? `<p class="note">Forward-only mode is on: training skips the backward pass and the update. The trace still shows what they would compute.</p>`
      : "";
    $("step-card").innerHTML =
      `<h3><span class="badge ${step.phase}">${badge}</span> ${esc(step.title)}</h3>` +
      `<div class="eq ${step.phase}" id="step-eq">${content.eq}</div>` +
      `<p class="explain">${content.explain}</p>${content.body}${skipped}`;
    $("step-card").dataset.step = step.key;
    $("step-count").textContent = `step ${S.traceStep + 1} of ${STEPS.length}`;
    $("btn-step-back").disabled = S.traceStep === 0;
    $("btn-step-next").disabled = S.traceStep === STEPS.length - 1;
    drawNetwork();
  }
  function goStep(i) {
    S.traceStep = Math.max(0, Math.min(STEPS.length - 1, i));
    renderTrace();
  }
  function closeTrace() {
    S.trace = null;
    $("trace-view").hidden = true;
    $("trace-empty").hidden = false;
    drawNetwork();
  }

  // ---------------------------------------------------------------- gradient check
  async function gradcheck() {
    const button = $("btn-gradcheck");
    button.disabled = true;
    try {
      const r = await call("POST", "/gradcheck");
      const cls = (e) => (e === null ? "wrong" : e < r.good ? "good" : e > r.wrong ? "wrong" : "look");
      let rows = "";
      for (const row of r.table) {
        rows += `<tr><th class="rowhead">${esc(row.param)}</th><td>${esc(row.shape)}</td><td class="${cls(row.max_rel_error)}">${row.max_rel_error === null ? "—" : row.max_rel_error.toExponential(2)}</td><td>${row.scale === null ? "—" : row.scale.toExponential(2)}</td><td>${row.checked}</td><td>${row.kinks} (${row.kinks_rechecked})</td></tr>`;
      }
      $("gradcheck-result").innerHTML =
        `<p><span id="gc-verdict" class="verdict ${r.passed ? "pass" : "fail"}">${r.passed ? "PASS" : "FAIL"}</span> ` +
        `largest relative error <b id="gc-max">${r.max_rel_error === null ? "—" : r.max_rel_error.toExponential(2)}</b> ` +
        `(tolerance ${r.tolerance}; h = ${r.eps}; ${r.rows} training borrowers; weights after epoch ${S.status.epochs})</p>` +
        `<table class="nums" id="gc-table"><tr><th>parameter</th><th>shape</th><th>max relative error</th><th>scale</th><th>entries checked</th><th>kinks (re-checked)</th></tr>${rows}</table>`;
    } catch (error) {
      showMessage(error.message);
    } finally {
      button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- wiring
  function guard(fn) {
    return async (...args) => {
      try {
        await fn(...args);
      } catch (error) {
        showMessage(error.message);
      }
    };
  }
  let lrTimer = null;
  function wire() {
    $("btn-step").addEventListener("click", () => step(1));
    $("btn-play").addEventListener("click", () => {
      if (S.playing) return stopPlaying();
      S.playing = true;
      $("btn-play").textContent = "❚❚ Pause";
      renderStatus();
      playLoop();
    });
    $("btn-reset").addEventListener("click", guard(async () => {
      $("seed").value = Math.floor(Math.random() * 100000);
      await reset();
    }));
    $("seed").addEventListener("change", guard(() => reset()));
    $("lr").addEventListener("input", () => {
      $("lr-out").textContent = String(lrFromSlider());
      clearTimeout(lrTimer);
      lrTimer = setTimeout(guard(() => sendSettings({ lr: lrFromSlider() })), 150);
    });
    $("batch").addEventListener("change", guard(() => sendSettings({ batch_size: batchFromSelect() })));
    $("forward-only").addEventListener("change", guard(() => sendSettings({ backprop: !$("forward-only").checked })));
    $("hidden").addEventListener("input", () => ($("hidden-out").textContent = $("hidden").value));
    $("noise").addEventListener("input", () => ($("noise-out").textContent = Number($("noise").value).toFixed(1)));
    for (const id of ["hidden", "activation", "init", "noise", "nonlinear", "n"]) {
      $(id).addEventListener("change", guard(() => reset()));
    }
    $("borrower-index").addEventListener("change", guard(() => loadBorrower(Number($("borrower-index").value) || 0, Boolean(S.trace))));
    $("btn-prev-borrower").addEventListener("click", guard(() => loadBorrower((S.borrower?.index ?? 0) - 1, Boolean(S.trace))));
    $("btn-next-borrower").addEventListener("click", guard(() => loadBorrower((S.borrower?.index ?? 0) + 1, Boolean(S.trace))));
    $("btn-random-borrower").addEventListener("click", guard(() => loadBorrower(Math.floor(Math.random() * S.data.n_train), Boolean(S.trace))));
    for (const id of ["label-0", "label-1"]) $(id).addEventListener("change", onFeatureEdit);
    $("btn-trace").addEventListener("click", () => runTrace(false));
    $("btn-step-back").addEventListener("click", () => goStep(S.traceStep - 1));
    $("btn-step-next").addEventListener("click", () => goStep(S.traceStep + 1));
    $("btn-trace-close").addEventListener("click", closeTrace);
    $("btn-gradcheck").addEventListener("click", gradcheck);
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
      document.body.dataset.ready = "true";
    } catch (error) {
      showMessage(`Could not start a session: ${error.message}`);
    }
  }
  main();
})();
