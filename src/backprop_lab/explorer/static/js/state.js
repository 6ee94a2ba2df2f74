/* The page's state: what the server last said, and what the learner has chosen. */

export const S = {
  sid: null,
  token: null, // the session's secret: every call on the session sends it
  config: null, // the server's echo of the session's settings
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
  runs: [], // earlier runs kept as ghost curves: {label, config, history}
  gradcheck: null, // the last check's reply and the epoch and run it was made at
  run: 0, // counts resets: a result from an earlier run is out of date
};

/** Listeners for "the session changed": each part of the page redraws itself. */
const listeners = {};
export function on(event, fn) {
  (listeners[event] ||= []).push(fn);
}
export function emit(event, ...args) {
  for (const fn of listeners[event] || []) fn(...args);
}
