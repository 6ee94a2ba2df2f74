/* Formatting and drawing helpers shared by every part of the page. */

export const $ = (id) => document.getElementById(id);
export const SVGNS = "http://www.w3.org/2000/svg";
/** Weights: blue positive, orange negative. Gradients (by sign): magenta > 0, teal < 0. */
export const COLOURS = {
  pos: "#2563eb", neg: "#ea580c", gradPos: "#c026d3", gradNeg: "#0d9488", ink: "#1e293b",
};
export const FEATURE_LABELS = {
  age: "age",
  annual_income: "annual income",
  debt_to_income: "debt-to-income",
  credit_history_years: "credit history (yrs)",
  late_payments: "late payments",
  home_owner: "home owner",
  employment_years: "employment (yrs)",
};

export function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
/** A number for display: fixed decimals, exponent for very small or large values. */
export function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "—";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  const s = v.toFixed(digits);
  return /^-0\.0*$/.test(s) ? s.slice(1) : s;
}
/** Fixed decimals always (no exponent), with a true minus sign. */
export function fixed(v, digits) {
  if (v === null || v === undefined) return "—";
  const s = v.toFixed(digits);
  return (/^-0\.?0*$/.test(s) ? s.slice(1) : s).replace(/^-/, "−");
}
/** A signed term in parentheses: "(−0.123)". */
export function paren(v, digits = 3) {
  return `(${fmt(v, digits).replace("-", "−")})`;
}
export function num(v, digits = 4, id = "") {
  const idAttr = id ? ` id="${id}"` : "";
  return `<span class="n"${idAttr} title="${v === null ? "not finite" : v}">${fmt(v, digits).replace(/^-/, "−")}</span>`;
}
/** Decimals shown for a raw feature: the same in the input boxes, the trace and the diagram. */
export function rawDigits(name) {
  if (name === "annual_income" || name === "late_payments" || name === "home_owner") return 0;
  return name === "debt_to_income" ? 3 : 2;
}
export function rawText(name, v) {
  return v.toFixed(rawDigits(name));
}
export function svg(tag, attrs, parent, text) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.appendChild(node);
  return node;
}
export function maxAbs(a) {
  let m = 0;
  for (const v of a.flat()) if (v !== null && Math.abs(v) > m) m = Math.abs(v);
  return m;
}
export function activationName(activation) {
  return { relu: "ReLU", tanh: "tanh", sigmoid: "σ" }[activation];
}
/** Run ``fn`` after ``ms`` without another call (the last call's arguments win). */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    wrapped.pending = true;
    timer = setTimeout(() => {
      wrapped.pending = false;
      fn(...args);
    }, ms);
  };
  wrapped.pending = false;
  return wrapped;
}

/**
 * Decimals at which the shown terms add up to the shown result: the fewest d >= ``least``
 * for which the terms rounded to d decimals sum, rounded to d, to the result rounded to d.
 * (Rounding each term moves the sum by up to half a unit of the last place per term, so
 * at 4 decimals eight terms can miss the shown result by a few units.) Null if none up to 10.
 */
export function agreeingDigits(terms, result, least = 4) {
  for (let d = least; d <= 10; d++) {
    const shown = terms.reduce((acc, t) => acc + Number(t.toFixed(d)), 0);
    if (shown.toFixed(d) === result.toFixed(d)) return d;
  }
  return null;
}
