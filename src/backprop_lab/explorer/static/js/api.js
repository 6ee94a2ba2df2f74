/* The JSON API: one call at a time, in the order the learner made them. */
import { S } from "./state.js";

export async function api(method, path, body, token) {
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
export function sessionApi(method, suffix, body) {
  return api(method, `/api/session/${S.sid}${suffix}`, body, S.token);
}

let rebuild = async () => {};
/** What to do when the server has let this tab's session expire (set by session.js). */
export function onExpired(fn) {
  rebuild = fn;
}

/* The session's calls run one at a time, in the order the learner made them: a reset
   and a step clicked right after it reach the server in that order, and each reply is
   handled before the next call starts. body[data-pending] counts the calls not yet
   answered (tests wait for 0). */
let queue = Promise.resolve();
let pending = 0;
function setPending(delta) {
  pending += delta;
  document.body.dataset.pending = String(pending);
}
/** A call on this tab's session; if the server has let it expire, rebuild it and retry. */
export function call(method, suffix, body) {
  setPending(1);
  const run = queue.then(async () => {
    try {
      return await sessionApi(method, suffix, body);
    } catch (error) {
      if (error.code !== "session_expired") throw error;
      await rebuild();
      return await sessionApi(method, suffix, body);
    }
  });
  queue = run.catch(() => {}).finally(() => setPending(-1));
  return run;
}
