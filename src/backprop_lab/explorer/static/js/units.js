/* What the hidden units learned: each unit's activation h over training borrowers,
 * against one input feature, as small scatter plots redrawn as training runs. */
import { call } from "./api.js";
import { S } from "./state.js";
import { $, FEATURE_LABELS, esc } from "./util.js";

let busy = false;
let again = false;

/** Fetch and draw, at most one request at a time (a request during one is merged into one more). */
export async function refreshUnits() {
  if ($("units-card").hidden || !$("units-open").open || !S.sid) return;
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  try {
    const feature = $("units-feature").value;
    const reply = await call("GET", `/units?feature=${encodeURIComponent(feature)}`);
    draw(reply);
  } catch (_) {
    // the units panel is an extra: a failed fetch leaves the last drawing
  } finally {
    busy = false;
    if (again) {
      again = false;
      refreshUnits();
    }
  }
}

function draw(r) {
  const grid = $("units-grid");
  grid.innerHTML = "";
  const xs = r.x.filter((v) => v !== null);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  r.h.forEach((h, j) => {
    const hs = h.filter((v) => v !== null);
    let [y0, y1] = [Math.min(0, ...hs), Math.max(...hs)];
    if (y1 - y0 < 1e-9) y1 = y0 + 1;
    const figure = document.createElement("figure");
    figure.className = "unit" + (r.dead[j] ? " dead" : "");
    const canvas = document.createElement("canvas");
    const W = 150, H = 100, pad = 6;
    canvas.width = W * devicePixelRatio;
    canvas.height = H * devicePixelRatio;
    canvas.style.width = `${W}px`;
    canvas.style.height = `${H}px`;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `unit ${j + 1}: activation against ${FEATURE_LABELS[r.feature]}`);
    const ctx = canvas.getContext("2d");
    ctx.scale(devicePixelRatio, devicePixelRatio);
    ctx.fillStyle = "#f8fafc";
    ctx.fillRect(0, 0, W, H);
    const px = (v) => pad + ((v - x0) / (x1 - x0 || 1)) * (W - 2 * pad);
    const py = (v) => H - pad - ((v - y0) / (y1 - y0)) * (H - 2 * pad);
    for (let k = 0; k < r.x.length; k++) {
      if (r.x[k] === null || h[k] === null) continue;
      ctx.fillStyle = r.label[k] ? "rgba(185, 28, 28, 0.55)" : "rgba(37, 99, 235, 0.45)";
      ctx.fillRect(px(r.x[k]) - 1.5, py(h[k]) - 1.5, 3, 3);
    }
    figure.appendChild(canvas);
    const caption = document.createElement("figcaption");
    caption.innerHTML = `unit ${j + 1}${r.dead[j] ? " <b>dead</b>" : ""}: h from ${y0.toFixed(2)} to ${Math.max(...hs).toFixed(2)}`;
    figure.appendChild(caption);
    grid.appendChild(figure);
  });
  $("units-caption").innerHTML =
    `Each dot is one of the first ${r.x.length} training borrowers: across, their ${esc(FEATURE_LABELS[r.feature])} (raw); up, the unit's activation h, ` +
    `with the weights after epoch ${r.epoch}. Red: defaulted; blue: repaid. A unit that rises with the feature has learned to respond to it.`;
}
