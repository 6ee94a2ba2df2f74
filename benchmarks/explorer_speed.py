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


def one_round(src: Path, tick: int, pause: float, play: float) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(src)}
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache  # empty: as after a fresh installation
        start = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-m", "backprop_lab", "explore", "--no-browser", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            page = Page(port)
            while True:
                try:
                    status, _ = page.call("GET", "/")
                    if status == 200:
                        break
                except OSError:
                    time.sleep(0.005)
                if time.perf_counter() - start > 120:
                    raise TimeoutError("the explorer did not answer within 120 s")
            first_response = time.perf_counter() - start
            status, snapshot = page.call("POST", "/api/session", {})
            assert status == 201, snapshot
            page.token = snapshot["token"]
            session = time.perf_counter() - start
            sid = snapshot["session"]
            borrower = {"index": 0}
            t = time.perf_counter()
            status, reply = page.call(
                "POST", f"/api/session/{sid}/step", {"epochs": tick, "borrower": borrower}
            )
            assert status == 200, reply
            first_step = time.perf_counter() - t
            rates = {}
            for trace in (False, True):
                epochs, t = 0, time.perf_counter()
                while time.perf_counter() - t < play:
                    status, reply = page.call(
                        "POST", f"/api/session/{sid}/step", {"epochs": tick, "borrower": borrower}
                    )
                    assert status == 200, reply
                    epochs += len(reply["history"]["loss"])
                    if trace:
                        status, reply = page.call("POST", f"/api/session/{sid}/trace", borrower)
                        assert status == 200, reply
                    time.sleep(pause)
                rates["trace" if trace else "plain"] = epochs / (time.perf_counter() - t)
                # a fresh session for the second measurement: the same epochs of training
                status, snapshot = page.call("POST", "/api/session", {})
                page.token, sid = snapshot["token"], snapshot["session"]
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "first_response_s": first_response,
        "session_s": session,
        "first_step_s": first_step,
        "epochs_per_s": rates["plain"],
        "epochs_per_s_trace_open": rates["trace"],
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


def page_tick(src: Path) -> int:
    """The epochs per tick the page's speed control selects by default."""
    html = (src / "backprop_lab" / "explorer" / "static" / "index.html").read_text()
    select = html[html.index('id="speed"') :]
    select = select[: select.index("</select>")]
    option = select[: select.index(" selected")]
    return int(option[option.rindex('value="') + 7 :].split('"')[0])


if __name__ == "__main__":
    main()
