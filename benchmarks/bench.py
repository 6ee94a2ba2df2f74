"""Time an epoch of training, side by side: the reference engine, the fused engine, PyTorch
eager, scikit-learn's MLPClassifier and micrograd, on the same data and initial weights.

    python benchmarks/bench.py [--quick] [--out benchmarks/results]

The network is the tutorial's 7-8-1 (ReLU, binary cross-entropy on the logit, plain
gradient descent). Cases: N in 1e3..1e7 rows, full batch, float64 and float32 (at 1e7 two
rounds of one epoch, without scikit-learn); mini-batches of 32 up to N = 1e5; and wider
networks (20-32-32-1, 30-64-64-1, on either side of fused.AUTO_MAX_PARAMETERS) at
N = 1e5, full batch. Each number is the median time of an epoch over all timed epochs,
collected in rounds (every engine in turn, several rounds) after a warm-up, so that load
from elsewhere on the machine hits all engines alike; with the fastest epoch, rows per
second, the peak resident memory added during training (sampled every millisecond), the
loss of the first epoch (the engines solve the same problem), and ratios between engines. The machine's read bandwidth (a large
np.sum) and dense floating-point rate (a large matrix product) give a lower bound per case:
max(bytes of X / bandwidth, flops / dense rate). The fused engine's first-call compile
time and cached-load time are measured in fresh processes.

Results go to <out>/bench.json and <out>/bench.png (bench-quick.* with --quick).
Needs the ``bench`` extra (torch, micrograd) and matplotlib.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numba  # noqa: E402

from backprop_lab.engine.fused import get_threads  # noqa: E402
from backprop_lab.engine.training import train  # noqa: E402
from backprop_lab.nn import mlp  # noqa: E402
from backprop_lab.nn.optim import GradientDescent  # noqa: E402

N_INPUTS, HIDDEN, LR = 7, 8, 0.1
NETWORK = "7-8-1"  # the default network of a case: n_inputs-hidden...-1
Params = dict[str, np.ndarray]
#: runner(epochs) trains ``epochs`` epochs from the initial weights and returns
#: (seconds of each epoch, loss of the first epoch).
Runner = Callable[[int], tuple[list[float], float]]
ENGINES = ["fused", "reference", "torch", "sklearn", "micrograd"]


# ------------------------------------------------------------------------------------------
# The machine
# ------------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def read_bandwidth(n_bytes: int = 400 * 2**20, repeats: int = 7) -> float:
    """Bytes per second that one np.sum streams through (best of ``repeats``)."""
    a = np.ones(n_bytes // 8)
    best = min(_timed(lambda: a.sum()) for _ in range(repeats))
    return a.nbytes / best


def dense_rate(n: int = 1536, repeats: int = 3) -> float:
    """Floating-point operations per second of a float64 matrix product (all BLAS threads)."""
    a = np.random.default_rng(0).random((n, n))
    b = a.T.copy()
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best


def flops_per_row(sizes: list[int]) -> int:
    """Forward 2 n_in n_out per layer; backward 2 n_in n_out for dW and (but the first layer)
    for dX; about 10 elementwise operations per unit for biases, activation, loss, updates."""
    pairs = list(itertools.pairwise(sizes))
    matrix = sum(2 * a * b for a, b in pairs) * 2 + sum(2 * a * b for a, b in pairs[1:])
    return matrix + 10 * sum(sizes[1:])


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class PeakMemory:
    """Peak resident memory above the level at entry, sampled every millisecond."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss() - self.base)
            time.sleep(0.001)

    def __enter__(self) -> PeakMemory:
        self.base = self.rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss() - self.base)


# ------------------------------------------------------------------------------------------
# The problem: the same X, y and initial weights for everyone
# ------------------------------------------------------------------------------------------
def network_sizes(network: str) -> list[int]:
    """'7-8-1' -> [7, 8, 1]: inputs, hidden widths, one output."""
    return [int(width) for width in network.split("-")]


def make_problem(
    n: int, dtype: type, network: str = NETWORK
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    sizes = network_sizes(network)
    rng = np.random.default_rng(42)
    X = rng.standard_normal((n, sizes[0]), dtype=np.float64).astype(dtype, copy=False)
    logit = X[:, 0] - 0.5 * X[:, 1] + X[:, 2] * X[:, 3]
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
    init = mlp(sizes[0], hidden=tuple(sizes[1:-1]), seed=0, dtype=dtype).get_params()
    return X, y, init


def epochs_for(seconds_per_epoch: float, budget: float, lo: int = 3, hi: int = 45) -> int:
    return int(min(hi, max(lo, round(budget / max(seconds_per_epoch, 1e-6)))))


# ------------------------------------------------------------------------------------------
# One runner per engine. ``runner(epochs)`` trains ``epochs`` epochs from the initial
# weights and returns (seconds of each epoch, loss of the first epoch).
# ------------------------------------------------------------------------------------------
def _hidden(init: Params) -> tuple[int, ...]:
    """The hidden widths of the network whose parameters are W1, b1, W2, b2, ..."""
    n_layers = sum(1 for name in init if name.startswith("W"))
    return tuple(init[f"b{i}"].shape[0] for i in range(1, n_layers))


def backprop_lab_runner(
    engine: str, X: np.ndarray, y: np.ndarray, init: Params, batch_size: int | None
) -> Runner:
    def run(epochs: int) -> tuple[list[float], float]:
        model = mlp(X.shape[1], hidden=_hidden(init), dtype=X.dtype)
        model.set_params(init)
        stamps: list[float] = []
        history = train(
            model,
            X,
            y,
            optimizer=GradientDescent(LR),
            epochs=epochs + 1,  # the first epoch also checks the inputs: not timed
            batch_size=batch_size,
            divergence_factor=None,
            engine=engine,
            callback=lambda epoch, m, h: stamps.append(time.perf_counter()),
        )
        assert history.engine == engine
        return list(np.diff(stamps)), history.loss[0]

    return run


def torch_runner(
    X: np.ndarray, y: np.ndarray, init: Params, batch_size: int | None, threads: int
) -> Runner:
    import torch

    torch.set_num_threads(threads)
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y.astype(X.dtype)).reshape(-1, 1)
    n = X.shape[0]

    def run(epochs: int) -> tuple[list[float], float]:
        n_layers = len(_hidden(init)) + 1
        layers = [
            (
                torch.tensor(init[f"W{i}"], requires_grad=True),
                torch.tensor(init[f"b{i}"], requires_grad=True),
            )
            for i in range(1, n_layers + 1)
        ]
        params = [p for layer in layers for p in layer]
        optimizer = torch.optim.SGD(params, lr=LR)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        generator = torch.Generator().manual_seed(0)
        times, losses = [], []

        def step(xb: torch.Tensor, yb: torch.Tensor) -> float:
            optimizer.zero_grad()
            z = xb
            for i, (W, b) in enumerate(layers):
                z = z @ W + b
                if i < n_layers - 1:
                    z = torch.relu(z)
            loss = loss_fn(z, yb)
            loss.backward()
            optimizer.step()
            return float(loss.detach())

        for _ in range(epochs):
            start = time.perf_counter()
            if batch_size is None:
                loss = step(Xt, yt)
            else:
                order = torch.randperm(n, generator=generator)
                loss = 0.0
                for s in range(0, n, batch_size):
                    idx = order[s : s + batch_size]
                    loss += step(Xt[idx], yt[idx]) * len(idx) / n
            times.append(time.perf_counter() - start)
            losses.append(loss)
        return times, losses[0]

    return run


def sklearn_runner(X: np.ndarray, y: np.ndarray, init: Params, batch_size: int | None) -> Runner:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    n = X.shape[0]

    def run(epochs: int) -> tuple[list[float], float]:
        clf = MLPClassifier(
            hidden_layer_sizes=_hidden(init),
            activation="relu",
            solver="sgd",
            alpha=0.0,
            batch_size=n if batch_size is None else batch_size,
            learning_rate_init=LR,
            momentum=0.0,
            nesterovs_momentum=False,
            shuffle=True,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a batch larger than the 2 rows below
            clf.partial_fit(X[:2], y[:2], classes=np.array([0.0, 1.0]))  # allocates weights
        n_layers = len(_hidden(init)) + 1
        clf.coefs_ = [init[f"W{i}"].copy() for i in range(1, n_layers + 1)]
        clf.intercepts_ = [init[f"b{i}"].copy() for i in range(1, n_layers + 1)]
        times, losses = [], []
        for _ in range(epochs):  # partial_fit: one epoch over (X, y)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                times.append(_timed(lambda: clf.partial_fit(X, y)))
            losses.append(clf.loss_)
        return times, losses[0]

    return run


def micrograd_runner(X: np.ndarray, y: np.ndarray, init: Params) -> Runner:
    """micrograd's scalar autograd; the loss node is written like its own ops (value and
    local derivative), since micrograd has no exp or log."""
    from micrograd.engine import Value
    from micrograd.nn import MLP

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 50 * X.shape[0] + 10_000))
    rows = [[float(v) for v in row] for row in X]

    def bce(z: Value, target: float) -> Value:
        """l = max(z, 0) - y z + log(1 + e^-|z|), dl/dz = sigmoid(z) - y"""
        v = z.data
        node = Value(max(v, 0.0) - target * v + math.log1p(math.exp(-abs(v))), (z,), "bce")

        def _backward() -> None:
            z.grad += (1.0 / (1.0 + math.exp(-v)) - target) * node.grad

        node._backward = _backward
        return node

    def run(epochs: int) -> tuple[list[float], float]:
        net = MLP(N_INPUTS, [HIDDEN, 1])
        for j, neuron in enumerate(net.layers[0].neurons):
            neuron.w = [Value(float(init["W1"][k, j])) for k in range(N_INPUTS)]
            neuron.b = Value(float(init["b1"][j]))
        out = net.layers[1].neurons[0]
        out.w = [Value(float(init["W2"][k, 0])) for k in range(HIDDEN)]
        out.b = Value(float(init["b2"][0]))
        times, losses = [], []
        for _ in range(epochs):
            start = time.perf_counter()
            terms = (bce(net(row), float(t)) for row, t in zip(rows, y, strict=True))
            loss = sum(terms, Value(0.0)) * (1.0 / len(rows))
            net.zero_grad()
            loss.backward()
            for p in net.parameters():
                p.data -= LR * p.grad
            times.append(time.perf_counter() - start)
            losses.append(loss.data)
        return times, losses[0]

    return run


def release_free_memory() -> None:
    """Hand freed heap memory back to the system, so that peaks are measured from a floor."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure(
    runners: dict[str, Runner], budget: float, rounds: int, probe: bool = True
) -> dict[str, dict]:
    """Time every runner over ``rounds`` interleaved rounds (engine after engine, round
    after round), so that a burst of load from elsewhere hits all engines alike.
    Without ``probe`` (the largest cases) every round times one epoch of each engine."""
    plans = {}
    for name, run in runners.items():
        if name == "micrograd":
            plans[name] = 1
            continue
        run(1)  # warm-up: imports, compilation, caches
        if not probe:
            plans[name] = 1
            continue
        times, _ = run(2)
        plans[name] = max(1, round(epochs_for(times[-1], budget) / rounds))
    out = {name: {"times": [], "first_loss": None, "peak": 0} for name in runners}
    for round_ in range(rounds):
        for name, run in runners.items():
            if name == "micrograd" and round_ > 0:
                continue
            release_free_memory()
            # Idle BLAS and OpenMP worker threads spin for a while before they sleep; on a
            # small machine they would steal cores from the next engine.
            time.sleep(0.2)
            with PeakMemory() as memory:
                times, first = run(plans[name] if name != "micrograd" else 2)
            out[name]["times"] += times
            out[name]["first_loss"] = first
            out[name]["peak"] = max(out[name]["peak"], memory.peak)
    return out


# ------------------------------------------------------------------------------------------
# Compile time of the fused kernels, in fresh processes
# ------------------------------------------------------------------------------------------
COMPILE_SCRIPT = """
import json, time
t0 = time.perf_counter()
import numpy as np
from backprop_lab.nn import mlp
from backprop_lab.engine.training import train
t1 = time.perf_counter()
out = {"import_s": t1 - t0}
X, y = np.random.default_rng(0).standard_normal((100, 7)), np.arange(100) % 2
for dtype in (np.float64, np.float32):
    for batch_size in (None, 32):
        start = time.perf_counter()
        train(mlp(7, dtype=dtype), X, y, epochs=1, batch_size=batch_size, engine="fused")
        key = f"{np.dtype(dtype).name}_{'full' if batch_size is None else 'mini'}_s"
        out[key] = time.perf_counter() - start
print(json.dumps(out))
"""


def compile_times() -> dict:
    """First call of each fused path with an empty cache, then again with the cache filled."""
    result = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(ROOT / "src")}
        for label in ("cold", "cached"):
            start = time.perf_counter()
            run = subprocess.run(
                [sys.executable, "-c", textwrap.dedent(COMPILE_SCRIPT)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            times = json.loads(run.stdout.strip().splitlines()[-1])
            times["process_s"] = time.perf_counter() - start
            result[label] = {k: round(v, 3) for k, v in times.items()}
    return result


# ------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------
#: Networks either side of fused.AUTO_MAX_PARAMETERS (1,761 and 6,209 parameters).
WIDE_NETWORKS = ["20-32-32-1", "30-64-64-1"]


def cases(quick: bool) -> list[dict]:
    sizes = [1_000, 10_000, 100_000, 1_000_000] + ([] if quick else [10_000_000])
    out = []
    for dtype in ("float64", "float32"):
        for n in sizes:
            out.append({"mode": "full", "batch_size": None, "dtype": dtype, "n": n})
    for dtype in ("float64", "float32"):
        for n in sizes[:3]:
            if quick and dtype == "float32":
                continue
            out.append({"mode": "mini32", "batch_size": 32, "dtype": dtype, "n": n})
    for network in WIDE_NETWORKS:
        for dtype in ("float64",) if quick else ("float64", "float32"):
            out.append(
                {
                    "mode": "full",
                    "batch_size": None,
                    "dtype": dtype,
                    "n": 100_000,
                    "network": network,
                }
            )
    for case in out:
        case.setdefault("network", NETWORK)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer cases")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--skip-compile", action="store_true", help="do not time compilation")
    parser.add_argument(
        "--skip-commands",
        action="store_true",
        help="do not time predict and evaluate on 2M rows (benchmarks/commands_at_scale.py)",
    )
    args = parser.parse_args(argv)
    budget = 0.4 if args.quick else 1.2  # seconds of timed epochs per engine and case
    rounds = 2 if args.quick else 4
    threads = get_threads()  # the fused engine's threads; PyTorch gets as many
    started = time.perf_counter()

    machine = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads_used": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "load_average_start": load_average(),
    }
    for module in ("torch", "sklearn"):
        try:
            machine[module] = __import__(module).__version__
        except ImportError:
            machine[module] = None
    bandwidth = read_bandwidth()
    rate = dense_rate()
    row_flops = flops_per_row([N_INPUTS, HIDDEN, 1])
    machine.update(
        read_bandwidth_GBps=round(bandwidth / 1e9, 2),
        dense_GFLOPs=round(rate / 1e9, 2),
        flops_per_row=row_flops,
    )
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {threads} threads used")
    print(
        f"read bandwidth {bandwidth / 1e9:.1f} GB/s (np.sum), dense {rate / 1e9:.1f} GFLOP/s "
        f"(float64 matmul), {row_flops} flops per row of a 7-8-1 epoch"
    )
    print(f"load average at start: {machine['load_average_start']}\n")

    results = []
    header = (
        f"{'case':<35} {'engine':<10} {'ms/epoch':>10} {'min ms':>9} {'rows/s':>10} "
        f"{'peak MB':>8} {'1st loss':>9} {'lower bd':>9}"
    )
    print(header)
    print("-" * len(header))
    for case in cases(args.quick):
        dtype = np.dtype(case["dtype"]).type
        X, y, init = make_problem(case["n"], dtype, case["network"])
        case_flops = flops_per_row(network_sizes(case["network"]))
        lower = max(X.nbytes / bandwidth, case_flops * case["n"] / rate)
        label = case_label(case)
        runners: dict[str, Runner] = {
            "fused": backprop_lab_runner("fused", X, y, init, case["batch_size"]),
            "reference": backprop_lab_runner("reference", X, y, init, case["batch_size"]),
            "torch": torch_runner(X, y, init, case["batch_size"], threads),
        }
        huge = case["n"] >= 10_000_000  # minutes per epoch for scikit-learn; two rounds
        if not huge:
            runners["sklearn"] = sklearn_runner(X, y, init, case["batch_size"])
        if case["mode"] == "full" and case["n"] == 1_000 and case["dtype"] == "float64":
            runners["micrograd"] = micrograd_runner(X, y, init)
        measured = measure(runners, budget, 2 if huge else rounds, probe=not huge)
        for engine, m in measured.items():
            times = m["times"]
            median = float(np.median(times))
            row = {
                **case,
                "engine": engine,
                "epochs_timed": len(times),
                "ms_per_epoch": median * 1e3,
                "min_ms": float(np.min(times)) * 1e3,
                "rows_per_s": case["n"] / median,
                "peak_mb": None if engine == "micrograd" else m["peak"] / 2**20,
                "first_loss": float(m["first_loss"]),
                "lower_bound_ms": lower * 1e3,
            }
            results.append(row)
            peak_text = "-" if row["peak_mb"] is None else f"{row['peak_mb']:8.1f}"
            print(
                f"{label:<35} {engine:<10} {median * 1e3:10.3f} {row['min_ms']:9.3f} "
                f"{row['rows_per_s']:10.3g} {peak_text:>8} {row['first_loss']:9.5f} "
                f"{lower * 1e3:9.3f}"
            )
        print()
        del X, y, runners, measured
        release_free_memory()

    ratios = ratio_table(results)
    print_ratios(ratios)
    targets = check_targets(results)
    print("targets:")
    for t in targets:
        margin = "" if t.get("margin") is None else f" (margin {t['margin']:.2f})"
        print(f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['measured']}{margin}")

    compile_info = None if args.skip_compile else compile_times()
    if compile_info:
        print("\nfused engine, first call in a fresh process (s):")
        for label, times in compile_info.items():
            print(f"  {label:<7} " + ", ".join(f"{k} {v:.2f}" for k, v in times.items()))

    command_info = None
    if not args.skip_commands:
        import commands_at_scale as commands  # beside this file

        print("\ncommands end to end (a fresh process each, start-up included):")
        command_info = commands.run(200_000 if args.quick else 2_000_000)
        commands.print_report(command_info)
        targets += command_info["targets"]

    machine["load_average_end"] = load_average()
    machine["wall_s"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "bench-quick" if args.quick else "bench"
    report = {
        "command": "python benchmarks/bench.py" + (" --quick" if args.quick else ""),
        "machine": machine,
        "network": "7-8-1, ReLU, binary cross-entropy on the logit, gradient descent lr 0.1",
        "results": results,
        "ratios": ratios,
        "targets": targets,
        "compile": compile_info,
        "commands": command_info,
    }
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, args.out / f"{stem}.png", machine)
    print(f"\nwrote {args.out / (stem + '.json')} and {args.out / (stem + '.png')}")
    print(f"load average at end: {machine['load_average_end']}; wall time {machine['wall_s']} s")
    return 0


def case_label(case: dict) -> str:
    network = case.get("network", NETWORK)
    return f"{case['mode']} N={case['n']:.0e} {case['dtype']}" + (
        "" if network == NETWORK else f" {network}"
    )


def _lookup(results: list[dict], **key: object) -> dict | None:
    """The first row with these values; rows without a network are the default 7-8-1."""
    key.setdefault("network", NETWORK)
    for row in results:
        if all(row.get(k, NETWORK if k == "network" else None) == v for k, v in key.items()):
            return row
    return None


def ratio_table(results: list[dict]) -> list[dict]:
    """Per case: how many times slower each peer is than the fused engine (and than the
    reference engine, for the reference's own target)."""
    table = []
    seen = []
    for row in results:
        key = (row["mode"], row["dtype"], row["n"], row.get("network", NETWORK))
        if key in seen:
            continue
        seen.append(key)
        where = {"mode": key[0], "dtype": key[1], "n": key[2], "network": key[3]}
        fused = _lookup(results, **where, engine="fused")
        ref = _lookup(results, **where, engine="reference")
        entry = dict(where)
        for peer in ENGINES[1:]:
            other = _lookup(results, **where, engine=peer)
            if other and fused:
                entry[f"{peer}/fused"] = other["ms_per_epoch"] / fused["ms_per_epoch"]
            if other and ref and peer != "reference":
                entry[f"{peer}/reference"] = other["ms_per_epoch"] / ref["ms_per_epoch"]
        if fused:
            entry["fused/lower_bound"] = fused["ms_per_epoch"] / fused["lower_bound_ms"]
        table.append(entry)
    return table


def print_ratios(ratios: list[dict]) -> None:
    columns = [
        "reference/fused",
        "torch/fused",
        "sklearn/fused",
        "micrograd/fused",
        "torch/reference",
        "fused/lower_bound",
    ]
    print(f"{'case':<35} " + " ".join(f"{c:>17}" for c in columns))
    for entry in ratios:
        label = case_label(entry)
        cells = [f"{entry[c]:17.2f}" if c in entry else f"{'-':>17}" for c in columns]
        print(f"{label:<35} " + " ".join(cells))
    print()


def check_targets(results: list[dict]) -> list[dict]:
    """Each target: text, measured value against what it needs, met or not, and the margin
    (measured / needed for "at least" targets, needed / measured for "at most" ones:
    above 1 when met)."""

    def ms(engine: str, mode: str, n: int, dtype: str = "float64", **key: object) -> float | None:
        row = _lookup(results, engine=engine, mode=mode, n=n, dtype=dtype, **key)
        return None if row is None else row["ms_per_epoch"]

    out = []

    def at_least(text: str, value: float | None, need: float, measured: str) -> None:
        margin = None if value is None else value / need
        out.append(
            {
                "target": text,
                "ratio": value,
                "need": need,
                "margin": margin,
                "met": margin is not None and margin >= 1,
                "measured": measured,
            }
        )

    def at_most(text: str, value: float | None, need: float, measured: str) -> None:
        margin = None if not value else need / value
        out.append(
            {
                "target": text,
                "ratio": value,
                "need": need,
                "margin": margin,
                "met": margin is not None and margin >= 1,
                "measured": measured,
            }
        )

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    def text(r: float | None) -> str:
        return f"{r:.2f}x" if r is not None else "n/a"

    sizes = sorted({r["n"] for r in results if r["mode"] == "full"})
    for dtype in ("float64", "float32"):
        for n in [n for n in sizes if n >= 10_000]:
            r = ratio(ms("torch", "full", n, dtype), ms("fused", "full", n, dtype))
            at_least(
                f"full batch N={n:.0e} {dtype}: fused >= 5x faster than PyTorch eager",
                r,
                5,
                text(r),
            )
    r = ratio(ms("torch", "full", 10**6), ms("fused", "full", 10**6))
    at_least("full batch N=1e6 float64: fused >= 8x faster than PyTorch eager", r, 8, text(r))
    r = ratio(ms("sklearn", "full", 10**6), ms("fused", "full", 10**6))
    at_least("full batch N=1e6 float64: fused >= 10x faster than sklearn", r, 10, text(r))
    for n in [n for n in sizes if n >= 100_000]:
        f64, f32 = ms("fused", "full", n), ms("fused", "full", n, "float32")
        r = ratio(f32, f64)
        at_most(
            f"full batch N={n:.0e}: fused float32 <= 0.6x the float64 time",
            r,
            0.6,
            f"{text(r)} ({f32:.3g} ms vs {f64:.3g} ms)" if r else "n/a",
        )
    for dtype in ("float64", "float32"):
        for n in [n for n in sizes if n >= 100_000]:
            row = _lookup(results, engine="fused", mode="full", n=n, dtype=dtype)
            if row:
                r = row["ms_per_epoch"] / row["lower_bound_ms"]
                at_most(
                    f"full batch N={n:.0e} {dtype}: fused within 4x of the lower bound",
                    r,
                    4,
                    f"{r:.1f}x the bound ({row['ms_per_epoch']:.3g} ms vs "
                    f"{row['lower_bound_ms']:.3g} ms)",
                )
    mini = sorted({r["n"] for r in results if r["mode"] == "mini32"})
    for dtype in ("float64", "float32"):
        for n in [n for n in mini if n >= 10_000]:
            row = _lookup(results, engine="fused", mode="mini32", n=n, dtype=dtype)
            if row:
                r = row["ms_per_epoch"] / row["lower_bound_ms"]
                at_most(
                    f"mini-batch 32 N={n:.0e} {dtype}: fused within 15x of the lower bound",
                    r,
                    15,
                    f"{r:.1f}x the bound ({row['ms_per_epoch'] * 1e3 / (n / 32):.2f} us a step)",
                )
    r = ratio(ms("torch", "mini32", 10**5), ms("fused", "mini32", 10**5))
    at_least("mini-batch 32 N=1e5: fused >= 20x faster than PyTorch eager", r, 20, text(r))
    r = ratio(ms("sklearn", "mini32", 10**5), ms("fused", "mini32", 10**5))
    at_least("mini-batch 32 N=1e5: fused >= 10x faster than sklearn", r, 10, text(r))
    for dtype in ("float64", "float32"):
        worst = None
        for row in results:
            if (
                row["engine"] == "reference"
                and row["dtype"] == dtype
                and row.get("network", NETWORK) == NETWORK
            ):
                r = ratio(ms("torch", row["mode"], row["n"], dtype), row["ms_per_epoch"])
                if r and (worst is None or r < worst[0]):
                    worst = (r, f"{row['mode']} N={row['n']:.0e}")
        if worst:
            at_least(
                f"reference engine no slower than PyTorch eager at any N, {dtype}",
                worst[0],
                1,
                f"slowest case {worst[1]}: PyTorch/reference = {worst[0]:.2f}",
            )
    from backprop_lab.engine.fused import AUTO_MAX_PARAMETERS

    for row in results:
        network = row.get("network", NETWORK)
        if row["engine"] != "fused" or network == NETWORK:
            continue
        sizes_ = network_sizes(network)
        n_params = sum(a * b + b for a, b in itertools.pairwise(sizes_))
        auto = "fused" if n_params <= AUTO_MAX_PARAMETERS else "reference"
        key = {"mode": row["mode"], "n": row["n"], "dtype": row["dtype"], "network": network}
        r = ratio(ms("reference", **key), row["ms_per_epoch"])
        if r is None:
            continue
        faster = "fused" if r >= 1 else "reference"
        out.append(
            {
                "target": f"engine='auto' picks the faster engine: {network} ({n_params:,} "
                f"parameters; AUTO_MAX_PARAMETERS {AUTO_MAX_PARAMETERS:,}), "
                f"{row['mode']} N={row['n']:.0e} {row['dtype']}",
                "ratio": r,
                "need": 1,
                "margin": r if auto == "fused" else 1 / r,
                "met": auto == faster,
                "measured": f"auto runs {auto}; reference/fused = {r:.2f}",
            }
        )
    return out


def plot(results: list[dict], path: Path, machine: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("full", "float64"),
        ("full", "float32"),
        ("mini32", "float64"),
        ("mini32", "float32"),
    ]
    panels = [p for p in panels if any(r["mode"] == p[0] and r["dtype"] == p[1] for r in results)]
    n_rows = (len(panels) + 1) // 2
    fig, axes = plt.subplots(n_rows, 2, figsize=(11, 4.6 * n_rows), squeeze=False)
    styles = {
        "fused": ("tab:red", "o"),
        "reference": ("tab:blue", "s"),
        "torch": ("tab:orange", "^"),
        "sklearn": ("tab:green", "v"),
        "micrograd": ("tab:purple", "*"),
    }
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (mode, dtype) in zip(axes.flat, panels, strict=False):
        rows = [r for r in results if r["mode"] == mode and r["dtype"] == dtype]
        for engine, (color, marker) in styles.items():
            mine = sorted((r["n"], r["ms_per_epoch"]) for r in rows if r["engine"] == engine)
            if mine:
                ax.plot(*zip(*mine, strict=True), marker=marker, color=color, label=engine)
        bound = sorted({(r["n"], r["lower_bound_ms"]) for r in rows})
        if mode == "full":
            ax.plot(*zip(*bound, strict=True), "k--", lw=1, label="lower bound")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows N")
        ax.set_ylabel("ms per epoch (median)")
        title = "full batch" if mode == "full" else "mini-batches of 32"
        ax.set_title(f"{title}, {dtype}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"7-8-1 network, one epoch of training; {machine['cpu']}, "
        f"{machine['threads_used']} threads",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
