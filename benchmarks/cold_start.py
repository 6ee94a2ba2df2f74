"""The first run after installation against a later one: time and output bytes.

    python benchmarks/cold_start.py [--rounds 3] [--cases reproduce,train,...] [--out DIR]
    python benchmarks/cold_start.py --kernels      # compile time of each fused kernel
    python benchmarks/cold_start.py --batch-steps  # compile time in reference steps

A fresh installation has no compiled kernels: Numba compiles the fused engine's kernels on
their first call and caches them on disk (``cache=True``). Each case runs a command in a
fresh process twice per round: *cold* with ``NUMBA_CACHE_DIR`` set to a new empty folder
(Numba then reads and writes only there, so the package's own ``__pycache__`` plays no
part), *warm* with a folder that an earlier run of the same command filled. It prints the
median seconds of each, the ratio cold / warm against the target 1.3, and whether the
two runs wrote the same bytes (SHA-256 of every output file, and of what the command
printed with its output folder's name taken out).

Cases: ``reproduce`` (the report, default sizes), ``train`` (``generate --out-dir`` data,
6,000 rows, default options: full batch), ``train-minibatch`` (the same with
``--batch-size 64``, which runs the compiled kernels), ``explore`` (the command to the reply
of the first Step: server start, session, one tick). The machine may be shared with other
jobs: the load average is printed with the results.

``--kernels`` runs, in a fresh process with an empty cache, 2 epochs of the 7-8-1 network
for each dtype, full batch then mini-batches, and records Numba's compile events: the
seconds of each kernel's own compilation (without the kernels it calls, which compile
first) and with them.

``--batch-steps`` measures what sets ``training.AUTO_MIN_BATCH_STEPS`` and
``AUTO_STEP_ROW_PARAMETERS``, in one fresh process with an empty cache so that the
machine's load hits both alike (seconds of CPU, the 7-8-1 network with Adam on 3,840
rows): compiling the float64 mini-batch loop (the first one-epoch run minus a second),
and the reference engine's seconds per step with batches of 64 and of 1,024 (the fastest
of 3 runs). A step costs a + b x B x P: from the two batch sizes, the fixed overhead a, the
row-parameters a / b that cost as much, and the compile in overheads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
TARGET = 1.3
CASES = ("reproduce", "train", "train-minibatch", "explore")


def _env(cache: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC), "NUMBA_CACHE_DIR": cache}


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _command(case: str, data: Path, out: Path) -> list[str]:
    cli = [sys.executable, "-m", "backprop_lab"]
    if case == "reproduce":
        return [*cli, "reproduce", "--out", str(out / "report"), "--quiet"]
    extra = ["--batch-size", "64"] if case == "train-minibatch" else []
    loans = str(data / "loans.csv")
    return [*cli, "train", loans, "--target", "default", "-o", str(out / "model.blab"), *extra]


def run_case(case: str, data: Path, cache: str) -> tuple[float, dict[str, str]]:
    """(seconds, digests of the outputs) of one run of ``case`` with the Numba cache ``cache``."""
    if case == "explore":
        sys.path.insert(0, str(Path(__file__).parent))
        from explorer_speed import first_step

        return first_step(SRC, cache), {}
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        start = time.perf_counter()
        done = subprocess.run(
            _command(case, data, out), capture_output=True, check=True, env=_env(cache)
        )
        seconds = time.perf_counter() - start
        (out / "stdout.txt").write_bytes(done.stdout.replace(folder.encode(), b"OUT"))
        return seconds, _digests(out)


def cold_start(cases: list[str], rounds: int) -> dict[str, dict]:
    results = {}
    with tempfile.TemporaryDirectory() as data:
        subprocess.run(
            [sys.executable, "-m", "backprop_lab", "generate", "--out-dir", data],
            check=True,
            capture_output=True,
            env=_env(data),
        )
        for case in cases:
            with tempfile.TemporaryDirectory() as warm:
                run_case(case, Path(data), warm)  # fills the warm cache
                cold_s, warm_s, same = [], [], True
                for round_ in range(rounds):
                    # cold first in even rounds, warm first in odd ones: neither always
                    # follows the other's leftovers (a busy machine, the file cache)
                    for kind in ("cold", "warm") if round_ % 2 == 0 else ("warm", "cold"):
                        if kind == "warm":
                            seconds, warm_out = run_case(case, Path(data), warm)
                            warm_s.append(seconds)
                            continue
                        with tempfile.TemporaryDirectory() as empty:
                            seconds, cold_out = run_case(case, Path(data), empty)
                        cold_s.append(seconds)
                    same = same and cold_out == warm_out
            cold, warm_median = statistics.median(cold_s), statistics.median(warm_s)
            results[case] = {
                "cold_s": cold_s,
                "warm_s": warm_s,
                "cold_median_s": cold,
                "warm_median_s": warm_median,
                "ratio": cold / warm_median,
                "met": cold / warm_median <= TARGET,
                "same_bytes": same if case != "explore" else None,
                "files": len(cold_out),
            }
            r = results[case]
            bytes_ = "n/a" if r["same_bytes"] is None else ("same" if same else "DIFFERENT")
            print(
                f"{case:16s} cold {cold:6.2f} s  warm {warm_median:6.2f} s  "
                f"ratio {r['ratio']:.2f} ({'met' if r['met'] else 'MISSED'} vs {TARGET})  "
                f"outputs: {bytes_} ({r['files']} files)",
                flush=True,
            )
    return results


KERNEL_SCRIPT = """
import json, time
import numpy as np
from numba.core import event
from backprop_lab.engine.training import train
from backprop_lab.nn import mlp
from backprop_lab.nn.optim import GradientDescent

rng = np.random.default_rng(0)
X = rng.normal(size=(2000, 7))
y = (rng.random(2000) < 0.3).astype(float)
rows = []
for dtype in ("float64", "float32"):
    for batch in (None, 32):
        recorder = event.RecordingListener()
        event.register("numba:compile", recorder)
        start = time.perf_counter()
        train(mlp(7, dtype=np.dtype(dtype).type), X, y, optimizer=GradientDescent(0.1),
              epochs=2, batch_size=batch, engine="fused")
        total = time.perf_counter() - start
        event.unregister("numba:compile", recorder)
        stack, own, whole = [], {}, {}
        for stamp, ev in recorder.buffer:
            name = ev.data["dispatcher"].py_func.__qualname__
            if ev.is_start:
                stack.append([name, stamp, 0.0])
                continue
            name, begin, inner = stack.pop()
            own[name] = own.get(name, 0.0) + (stamp - begin) - inner
            whole[name] = whole.get(name, 0.0) + (stamp - begin)
            if stack:
                stack[-1][2] += stamp - begin
        rows.append({"dtype": dtype, "batch": batch, "total_s": total,
                     "own_s": own, "with_callees_s": whole})
print(json.dumps(rows))
"""


def _fresh_json(script: str) -> object:
    """Run ``script`` in a fresh process with an empty Numba cache; the JSON of its last line."""
    with tempfile.TemporaryDirectory() as cache:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script)],
            capture_output=True,
            text=True,
            check=True,
            env=_env(cache),
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def kernel_times() -> list[dict]:
    rows = _fresh_json(KERNEL_SCRIPT)
    for row in rows:
        kind = "full batch" if row["batch"] is None else f"batches of {row['batch']}"
        print(f"{row['dtype']}, {kind}: {row['total_s']:.2f} s to the end of epoch 2")
        own = sorted(row["own_s"].items(), key=lambda item: -item[1])
        for name, seconds in own:
            if seconds >= 0.05 and not name.startswith(("ol_", "_ol_")):
                print(
                    f"    {name:18s} {seconds:5.2f} s  ({row['with_callees_s'][name]:.2f} with callees)"
                )
        helpers = sum(s for n, s in own if n.startswith(("ol_", "_ol_")))
        print(f"    {'NumPy helpers':18s} {helpers:5.2f} s")
    return rows


STEPS_SCRIPT = """
import json, time
import numpy as np
from backprop_lab.engine.training import train
from backprop_lab.nn import mlp
from backprop_lab.nn.optim import Adam

rng = np.random.default_rng(0)
X = rng.normal(size=(3840, 7))
y = (rng.random(3840) < 0.3).astype(float)
seconds = []
for _ in range(2):  # the first run compiles, the second loads nothing more
    start = time.process_time()
    train(mlp(7), X, y, optimizer=Adam(0.001), epochs=1, batch_size=64, engine="fused")
    seconds.append(time.process_time() - start)
steps = {}
for batch, epochs in ((64, 40), (1024, 100)):
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        train(mlp(7), X, y, optimizer=Adam(0.001), epochs=epochs, batch_size=batch,
              engine="reference")
        best = min(best, time.process_time() - start)
    steps[batch] = best / (epochs * -(-3840 // batch))
print(json.dumps({"compile_s": seconds[0] - seconds[1], "step_64_s": steps[64],
                  "step_1024_s": steps[1024]}))
"""


def batch_steps() -> dict[str, float]:
    """Compile seconds and reference step seconds (``--batch-steps``), and what follows."""
    r = _fresh_json(STEPS_SCRIPT)
    params = 73  # the 7-8-1 network
    per_row_param = (r["step_1024_s"] - r["step_64_s"]) / ((1024 - 64) * params)  # b
    overhead = r["step_64_s"] - 64 * params * per_row_param  # a
    r["overhead_s"], r["row_parameter_s"] = overhead, per_row_param
    r["row_parameters_per_overhead"] = overhead / per_row_param  # AUTO_STEP_ROW_PARAMETERS
    r["compile_in_overheads"] = r["compile_s"] / overhead  # AUTO_MIN_BATCH_STEPS
    print(
        f"compile {r['compile_s']:.2f} s; reference step {r['step_64_s'] * 1e6:.0f} us "
        f"(batches of 64), {r['step_1024_s'] * 1e6:.0f} us (1,024): overhead "
        f"{overhead * 1e6:.0f} us + {per_row_param * 1e9:.2f} ns per row x parameter, equal "
        f"at {r['row_parameters_per_overhead']:,.0f} row-parameters; the compile costs "
        f"{r['compile_in_overheads']:,.0f} overheads"
    )
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated")
    parser.add_argument("--kernels", action="store_true", help="compile time per kernel only")
    parser.add_argument(
        "--batch-steps",
        action="store_true",
        help="compile time against the reference engine's step (the mini-batch rule)",
    )
    parser.add_argument("--out", type=Path, help="folder for cold_start.json / kernels.json")
    args = parser.parse_args()
    machine = {"load_average": list(os.getloadavg()), "cpus": os.cpu_count()}
    if args.kernels:
        result: object = {"kernels": kernel_times(), **machine}
        name = "kernels.json"
    elif args.batch_steps:
        result = {"batch_steps": batch_steps(), **machine}
        name = "batch_steps.json"
    else:
        cases = [c for c in args.cases.split(",") if c]
        unknown = sorted(set(cases) - set(CASES))
        if unknown:
            parser.error(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
        result = {"rounds": args.rounds, "cases": cold_start(cases, args.rounds), **machine}
        name = "cold_start.json"
    machine_after = list(os.getloadavg())
    print(
        f"load average before {machine['load_average']}, after {machine_after} "
        f"({machine['cpus']} CPUs)"
    )
    if args.out:
        result["load_average_after"] = machine_after  # type: ignore[index]
        (args.out / name).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
