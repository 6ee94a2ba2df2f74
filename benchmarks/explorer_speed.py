"""How fast the explorer starts and plays: ``backprop-lab explore`` driven over HTTP as its page.

    python benchmarks/explorer_speed.py [--src DIR] [--rounds 3] [--tick EPOCHS] [--out FILE]

Each round starts ``python -m backprop_lab explore --no-browser`` in a fresh process with an
empty Numba cache directory (a fresh installation) and measures, from the moment the
process is started:

* first response: the first ``GET /`` answered (the page);
* session: ``POST /api/session`` answered (data drawn, network built);
* first Step: the time of the first ``POST /step`` of one tick (``--tick`` epochs), as
  the page's Step button sends it;

then plays for ``--play`` seconds as the page's play loop does, tick after tick: a
``/step`` of ``--tick`` epochs, with the trace card open also a ``/trace`` of the
borrower, then the loop's pause of ``--pause`` ms; epochs per second = epochs trained /
seconds played. The browser's drawing is not included. ``--src`` runs another source tree
(e.g. the main branch's, for a before/after comparison; its ``--tick`` is then its own).
Medians over the rounds are printed; the machine may be shared with other jobs, so read
them with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOKEN_HEADER = "X-Explorer-Token"


class Page:
    """HTTP calls as the explorer's page makes them (own Origin, the session's token)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.token: str | None = None

    def call(self, method: str, path: str, body: object | None = None) -> tuple[int, object]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Origin": self.origin, "Content-Type": "application/json"}
        if self.token:
            headers[TOKEN_HEADER] = self.token
        data = None if body is None else json.dumps(body)
        try:
            connection.request(method, path, body=data, headers=headers)
            reply = connection.getresponse()
            content = reply.read()
        finally:
            connection.close()
        kind = reply.getheader("Content-Type") or ""
        return reply.status, json.loads(content) if "json" in kind else content


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(src: Path, cache: str) -> tuple[subprocess.Popen, Page, float]:
    """Start ``backprop-lab explore`` from ``src`` with the Numba cache ``cache``; returns
    (the process, a page for it, the perf_counter time it was started) once ``GET /`` has
    been answered."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(src), "NUMBA_CACHE_DIR": cache}
    start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "backprop_lab", "explore", "--no-browser", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    page = Page(port)
    while True:
        try:
            if page.call("GET", "/")[0] == 200:
                return server, page, start
        except OSError:
            time.sleep(0.005)
        if time.perf_counter() - start > 120:
            server.terminate()
            raise TimeoutError("the explorer did not answer within 120 s")


def new_session(page: Page) -> str:
    status, snapshot = page.call("POST", "/api/session", {})
    assert status == 201, snapshot
    page.token = snapshot["token"]
    return snapshot["session"]


def tick_of(page: Page, sid: str, tick: int, trace: bool, in_step: bool = False) -> int:
    """One tick of the play loop: a step of ``tick`` epochs and, with the trace card open,
    the trace (in the step's reply when ``in_step``, else by a second call); the epochs
    trained."""
    body: dict = {"epochs": tick, "borrower": {"index": 0}}
    if trace and in_step:
        body["trace"] = True
    status, reply = page.call("POST", f"/api/session/{sid}/step", body)
    assert status == 200, reply
    if trace and not in_step:
        status, traced = page.call("POST", f"/api/session/{sid}/trace", {"index": 0})
        assert status == 200, traced
    return len(reply["history"]["loss"])


def first_step(src: Path, cache: str, tick: int | None = None) -> float:
    """Seconds from the command to the reply of the first Step (page, session, one tick)."""
    server, page, start = start_server(src, cache)
    try:
        tick_of(page, new_session(page), tick or page_tick(src), trace=False)
        return time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)


def one_round(src: Path, tick: int, pause: float, play: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as cache:  # empty: as after a fresh installation
        server, page, start = start_server(src, cache)
        try:
            first_response = time.perf_counter() - start
            sid = new_session(page)
            session = time.perf_counter() - start
            t = time.perf_counter()
            tick_of(page, sid, tick, trace=False)
            first = time.perf_counter() - t
            rates = {}
            for trace in (False, True):
                sid = new_session(page)  # each measurement trains the same epochs
                epochs, t = 0, time.perf_counter()
                while time.perf_counter() - t < play:
                    epochs += tick_of(page, sid, tick, trace, traces_in_step(src))
                    time.sleep(pause)
                rates[trace] = epochs / (time.perf_counter() - t)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "first_response_s": first_response,
        "session_s": session,
        "first_step_s": first,
        "epochs_per_s": rates[False],
        "epochs_per_s_trace_open": rates[True],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="source tree to run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--tick", type=int, default=None, help="epochs per tick (default: the page's)"
    )
    parser.add_argument("--pause", type=float, default=0.030, help="pause between ticks, s")
    parser.add_argument("--play", type=float, default=3.0, help="seconds of playing per case")
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    tick = args.tick or page_tick(args.src)
    rounds = [one_round(args.src, tick, args.pause, args.play) for _ in range(args.rounds)]
    result = {
        "src": str(args.src),
        "tick_epochs": tick,
        "pause_s": args.pause,
        "rounds": rounds,
        "median": {k: statistics.median(r[k] for r in rounds) for k in rounds[0]},
        "load_average": list(os.getloadavg()),
        "cpus": os.cpu_count(),
    }
    m = result["median"]
    print(f"explorer from {args.src}, {tick} epochs per tick, median of {args.rounds} rounds")
    print(f"  first response   {m['first_response_s']:.2f} s after the command (target 2 s)")
    print(f"  session created  {m['session_s']:.2f} s after the command")
    print(f"  first Step       {m['first_step_s']:.3f} s (target 0.5 s)")
    print(f"  playing          {m['epochs_per_s']:.0f} epochs/s (target 300)")
    print(f"  trace open       {m['epochs_per_s_trace_open']:.0f} epochs/s")
    print(f"  load average     {', '.join(f'{x:.1f}' for x in result['load_average'])}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


def traces_in_step(src: Path) -> bool:
    """Whether the page of ``src`` asks for the trace in its step request."""
    static = src / "backprop_lab" / "explorer" / "static"
    scripts = [*static.glob("*.js"), *static.glob("js/*.js")]
    return any("trace: Boolean(S.trace)" in p.read_text(encoding="utf-8") for p in scripts)


def page_tick(src: Path) -> int:
    """The epochs per tick the page's speed control selects by default."""
    html = (src / "backprop_lab" / "explorer" / "static" / "index.html").read_text()
    select = html[html.index('id="speed"') :]
    select = select[: select.index("</select>")]
    option = select[: select.index(" selected")]
    return int(option[option.rindex('value="') + 7 :].split('"')[0])


if __name__ == "__main__":
    main()
