"""L-BFGS training of the 7-8-1 network on a Dask cluster, against Spark MLlib, in one run.

    python benchmarks/spark_vs_dask.py [--rows 1e6 1e7] [--iterations 10] [--keep DIR]

For each N: the same synthetic loans (seven standardised features, 0/1 default) written
as Parquet files (8 up to 1e6 rows, 16 beyond), then, side by side on this machine:

* Spark MLlib: MultilayerPerceptronClassifier(layers=[7, 8, 2], solver='l-bfgs') on
  local[2] (sigmoid hidden layer, softmax output), the assembled rows cached and counted
  before timing;
* ours on Dask: BackpropClassifier(hidden (8,), sigmoid, optimizer='lbfgs', alpha=0,
  full batch) fitted on dask.dataframe.read_parquet of the same files, on a LocalCluster
  of 2 worker processes x 1 thread (rows persisted in worker memory);
* ours in memory: the same estimator on the rows gathered into NumPy (2 threads).

Per iteration, ours (Dask and in memory): the median time between the callbacks of
successive iterations of a fit of K + 2 iterations (the estimator's own callback; for
Dask its progress callback), the first left out. Spark has no such callback: (time of a
fit of K + 2 iterations - time of a fit of 2) / K, so loading and setup cancel out, after
an untimed fit that warms the JVM up (the same difference is also recorded for ours). Time to reach a loss: the first iteration of ours whose training log
loss (mean cross-entropy, no penalty on either side) is at most Spark's after K + 2
iterations, against Spark's K + 2 iterations, both at their per-iteration rates.
Peak worker memory: the largest peak resident memory (VmHWM, reset before the fit) of a
worker process over one whole fit (reading, checking and persisting its partitions, then
the iterations), minus its resident memory before the data arrived (Python, NumPy,
Numba, dask), against the worker's share of X (N x 7 x 8 bytes / 2).

Targets (printed as met/missed): at 1e7 rows, ours on Dask >= 10x faster per iteration
than Spark; Dask per iteration <= 1.5x ours in memory; peak worker memory <= 1.5x the
worker's share of X. Timings depend on the machine and on what else runs on it: results
are written with the machine's core count and load average to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def files_for(n: int) -> int:
    """Parquet files (= partitions): 8 up to a million rows, 16 beyond."""
    return 8 if n <= 1_000_000 else 16


FEATURES = [f"x{j}" for j in range(7)]
TARGET_SPARK_RATIO = 10.0
TARGET_DASK_OVERHEAD = 1.5
TARGET_MEMORY_RATIO = 1.5


def write_loans(n: int, folder: Path) -> list[str]:
    """N synthetic loans as ``files_for(n)`` Parquet files, standardised by the
    mean and standard deviation of a fixed sample of 100,000 (the same for every file)."""
    import pandas as pd

    from backprop_lab.data import make_credit_risk

    sample = make_credit_risk(100_000, seed=0).X.to_numpy(dtype=np.float64)
    mean, std = sample.mean(axis=0), sample.std(axis=0)
    files = []
    bounds = np.linspace(0, n, files_for(n) + 1).astype(np.int64)
    for i in range(files_for(n)):
        rows = int(bounds[i + 1] - bounds[i])
        d = make_credit_risk(rows, seed=1000 + i)
        X = (d.X.to_numpy(dtype=np.float64) - mean) / std
        frame = pd.DataFrame(X, columns=FEATURES)
        frame["label"] = d.y.to_numpy().astype(np.int64)
        path = folder / f"part-{i:04d}.parquet"
        frame.to_parquet(path, index=False)
        files.append(str(path))
    return files


def estimator(iterations: int):
    from backprop_lab import BackpropClassifier

    return BackpropClassifier(
        hidden_layer_sizes=(8,),
        activation="sigmoid",
        optimizer="lbfgs",
        alpha=0.0,
        early_stopping=False,
        max_epochs=iterations,
        tol=0.0,
        random_state=0,
    )


def quiet_fit(fit, *args, **kwargs):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(*args, **kwargs)


# ---- Spark ---------------------------------------------------------------------------------
def spark_run(files: list[str], iterations: int) -> dict:
    from pyspark.ml.classification import MultilayerPerceptronClassifier
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("spark_vs_dask")
        .config("spark.driver.memory", "8g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        frame = spark.read.parquet(*files)
        data = VectorAssembler(inputCols=FEATURES, outputCol="features").transform(frame)
        data = data.select("features", data["label"].cast("double").alias("label")).cache()
        rows = data.count()
        fits = {}
        for k in (2, 2, iterations + 2):  # the first fit warms the JVM up, untimed
            mlp = MultilayerPerceptronClassifier(
                layers=[7, 8, 2], solver="l-bfgs", maxIter=k, tol=0.0, seed=0, blockSize=128
            )
            start = time.perf_counter()
            model = mlp.fit(data)
            seconds = time.perf_counter() - start
            summary = model.summary() if callable(model.summary) else model.summary
            fits[k] = (seconds, list(summary.objectiveHistory))
        (t_a, h_a), (t_b, h_b) = fits[2], fits[iterations + 2]
        done = max(len(h_b) - len(h_a), 1)
        return {
            "rows": rows,
            "seconds_per_iteration": (t_b - t_a) / done,
            "iterations": len(h_b),
            "fit_seconds": t_b,
            "final_loss": float(h_b[-1]),
            "loss_curve": [float(v) for v in h_b],
        }
    finally:
        spark.stop()


# ---- ours on Dask ----------------------------------------------------------------------------
def _rss_now() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> None:
    """Start the process's peak resident memory (VmHWM) afresh (Linux: clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def _rss_peak() -> int:
    """The process's peak resident memory since the last _reset_peak (VmHWM)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def dask_run(files: list[str], n: int, iterations: int) -> dict:
    import dask.array as da
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    from backprop_lab.distributed import fit_collection
    from backprop_lab.distributed.cluster import WORKER_ENV

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        memory_limit=0,
        dashboard_address=":0",
        env=WORKER_ENV,
    )
    client = Client(cluster)
    try:
        # compile (or load from the cache) the kernels on the workers before measuring
        rng = np.random.default_rng(0)
        Xw = rng.normal(size=(2000, 7))
        yw = (Xw[:, 0] > 0).astype(np.int64)
        quiet_fit(
            fit_collection,
            estimator(3),
            da.from_array(Xw, chunks=(1000, 7)),
            da.from_array(yw, chunks=1000),
        )
        baseline = client.run(_rss_now)
        client.run(_reset_peak)
        frame = dd.read_parquet(files)
        X, y = frame[FEATURES], frame["label"]
        seconds_each: list[float] = []

        def progress(iteration: int, loss: float, seconds: float) -> None:
            seconds_each.append(seconds)

        # memory: the peak over one whole fit (reading, checking, persisting, iterating)
        quiet_fit(fit_collection, estimator(iterations + 2), X, y, progress=progress)
        peak = client.run(_rss_peak)
        fits = {}
        curve: list[float] = []
        for k in (2, iterations + 2):
            seconds_each.clear()
            clf = estimator(k)
            start = time.perf_counter()
            quiet_fit(fit_collection, clf, X, y, progress=progress)
            fits[k] = (time.perf_counter() - start, clf.n_iter_, clf.distributed_passes_)
            curve = list(clf.loss_curve_)
            per_iteration = list(seconds_each)
        (t_a, n_a, p_a), (t_b, n_b, p_b) = fits[2], fits[iterations + 2]
        share = n * len(FEATURES) * 8 / 2
        growth = {w: peak[w] - baseline[w] for w in peak}
        return {
            "seconds_per_iteration": statistics.median(per_iteration[1:] or per_iteration),
            "fit_difference_seconds_per_iteration": (t_b - t_a) / max(n_b - n_a, 1),
            "iteration_seconds": per_iteration,
            "passes_per_iteration": (p_b - p_a) / max(n_b - n_a, 1),
            "iterations": n_b,
            "fit_seconds": t_b,
            "loss_curve": curve,
            "partitions": len(files),
            "worker_share_of_X_bytes": share,
            "worker_baseline_bytes": max(baseline.values()),
            "worker_peak_bytes": max(peak.values()),
            "worker_peak_growth_bytes": max(growth.values()),
        }
    finally:
        client.close()
        cluster.close()


def scheduler_overhead(partitions: int = 16, passes: int = 30) -> dict:
    """A pass over partitions of 100 rows each (their sums cost microseconds), timed two
    ways in turn on one cluster: the training's pass (training.Objective: one task per
    worker thread, the client adding the sums) and one task per partition plus one per
    addition of the tree (2P - 1 tasks, the scheduler's cost per task: that median over
    2P - 1). Both give the same bits; medians over ``passes`` after 3 untimed."""
    import dask
    from distributed import Client, LocalCluster

    from backprop_lab.distributed.cluster import WORKER_ENV
    from backprop_lab.distributed.partials import RowSpec, partition_sums, prepare, tree_sum
    from backprop_lab.distributed.training import Objective, _rows
    from backprop_lab.engine.fused import compile_network
    from backprop_lab.nn import mlp

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", env=WORKER_ENV
    )
    client = Client(cluster)
    try:
        rng = np.random.default_rng(0)
        spec = RowSpec(np.array([0, 1]), False)
        pieces = [
            dask.delayed(prepare)(
                rng.normal(size=(100, 7)), rng.integers(0, 2, 100), None, spec, "p"
            )
            for _ in range(partitions)
        ]
        network = mlp(7, hidden=(8,), n_outputs=1, activation="sigmoid", init="xavier", seed=0)
        fused = compile_network(network)
        parts = _rows(client, pieces, True)
        objective = Objective(client, parts, fused, 0, 0.0)
        theta = fused.flatten(network.params)

        def per_partition() -> np.ndarray:
            submit = client.submit
            leaves = [submit(partition_sums, p, theta, fused, 0, True, pure=False) for p in parts]
            return tree_sum(leaves, lambda a, b: submit(np.add, a, b, pure=False)).result()

        grouped, single = [], []
        for _ in range(passes + 3):
            start = time.perf_counter()
            ours = objective.sums(theta, True)
            grouped.append(time.perf_counter() - start)
            start = time.perf_counter()
            theirs = per_partition()
            single.append(time.perf_counter() - start)
            if not np.array_equal(ours, theirs):
                raise AssertionError("the two passes differ in their bits")
        per_partition_pass = statistics.median(single[3:])
        return {
            "partitions": partitions,
            "pass_seconds": statistics.median(grouped[3:]),
            "tasks_per_pass": objective.tasks / objective.passes,
            "per_partition_pass_seconds": per_partition_pass,
            "task_seconds": per_partition_pass / (2 * partitions - 1),
            "load_average": os.getloadavg(),
        }
    finally:
        client.close()
        cluster.close()


def print_overhead(o: dict) -> None:
    print(f"scheduler: a pass over {o['partitions']} tiny partitions {o['pass_seconds'] * 1e3:.1f} "
          f"ms in {o['tasks_per_pass']:g} tasks (one per worker thread); one task per partition "
          f"and addition ({2 * o['partitions'] - 1} tasks) {o['per_partition_pass_seconds'] * 1e3:.1f} "
          f"ms, {o['task_seconds'] * 1e3:.2f} ms per task; load average "
          f"{', '.join(f'{x:.2f}' for x in o['load_average'])}")  # fmt: skip


# ---- ours in memory ---------------------------------------------------------------------------
def memory_run(files: list[str], iterations: int) -> dict:
    import pandas as pd

    import backprop_lab.classifier.estimator as estimator_module

    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    X = np.ascontiguousarray(frame[FEATURES].to_numpy(dtype=np.float64))
    y = frame["label"].to_numpy()
    del frame
    quiet_fit(estimator(2).fit, X[:2000], y[:2000])  # compile / load the kernels
    stamps: list[float] = []
    monitor = estimator_module.TrainingMonitor

    class TimedMonitor(monitor):  # the estimator's own callback, timing each iteration
        def __call__(self, epoch, network, history):
            stamps.append(time.perf_counter())
            return super().__call__(epoch, network, history)

    estimator_module.TrainingMonitor = TimedMonitor
    try:
        fits = {}
        for k in (2, 2, iterations + 2):  # the first fit warms the caches up, untimed
            stamps.clear()
            clf = estimator(k)
            start = time.perf_counter()
            quiet_fit(clf.fit, X, y)
            fits[k] = (time.perf_counter() - start, clf.n_iter_, list(clf.loss_curve_))
    finally:
        estimator_module.TrainingMonitor = monitor
    (t_a, n_a, _), (t_b, n_b, curve) = fits[2], fits[iterations + 2]
    between = list(np.diff(stamps))
    return {
        "seconds_per_iteration": statistics.median(between),
        "iteration_seconds": between,
        "fit_difference_seconds_per_iteration": (t_b - t_a) / max(n_b - n_a, 1),
        "iterations": n_b,
        "fit_seconds": t_b,
        "loss_curve": curve,
    }


def _reach(curve: list[float], loss: float) -> int | None:
    """The first iteration (from 1) whose loss is at most ``loss``."""
    for i, value in enumerate(curve, start=1):
        if value <= loss:
            return i
    return None


#: The projection's cluster: rows, workers, and the network latency assumed per round trip
#: between client, scheduler and workers (not measured here: a typical data-centre one).
PROJECT_ROWS, PROJECT_WORKERS, PROJECT_LATENCY_S = 1_000_000_000, 100, 0.001


def project(results: dict) -> dict:
    """Seconds per pass (one J and gradient) at PROJECT_ROWS on PROJECT_WORKERS, from the
    largest measured size:

        c_row   = (in-memory seconds per pass) x 2 threads / N   (one core's cost per row)
        t_task  = scheduler_overhead()'s seconds per task          (a pass over tiny partitions)
        T_pass  = (R / W) c_row + W t_task + 2 latency

    with one worker thread per worker (R / W rows each): one task per worker, and two
    round trips (where the partitions are; the workers' sums back), the tree's additions
    on the client taking microseconds. A pass moves 8 (n_params + 3) bytes per partition
    back: 608 bytes for the 7-8-1 network, negligible against the latency."""
    largest = results["sizes"][-1]
    n = largest["rows"]
    mem, dask = largest["in_memory"], largest["dask"]
    mem_pass = mem["seconds_per_iteration"] / max(dask["passes_per_iteration"], 1.0)
    c_row = mem_pass * 2 / n
    t_task = results["overhead"]["task_seconds"]
    per_worker = PROJECT_ROWS / PROJECT_WORKERS
    compute = per_worker * c_row
    scheduling = PROJECT_WORKERS * t_task
    latency = 2 * PROJECT_LATENCY_S
    out = {
        "measured_at_rows": n,
        "c_row_seconds": c_row,
        "t_task_seconds": t_task,
        "rows": PROJECT_ROWS,
        "workers": PROJECT_WORKERS,
        "compute_seconds": compute,
        "scheduling_seconds": scheduling,
        "latency_seconds": latency,
        "pass_seconds": compute + scheduling + latency,
        "worker_memory_bytes": per_worker * 8 * 8,  # X (7 floats) + target, float64
    }
    print(f"\nprojected (not measured) at {PROJECT_ROWS:,} rows on {PROJECT_WORKERS} workers, "
          f"from the measurements at {n:,}: c_row {c_row * 1e9:.1f} ns, t_task "
          f"{t_task * 1e3:.2f} ms, one task per worker")  # fmt: skip
    print(f"  per pass: compute {compute:.2f} s + scheduling {scheduling:.2f} s + latency "
          f"{latency:.3f} s = {out['pass_seconds']:.2f} s; rows in memory per worker "
          f"{out['worker_memory_bytes'] / 2**30:.2f} GiB")  # fmt: skip
    return out


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(n: int, spark: dict | None, dask: dict, memory: dict) -> dict:
    rows = {"rows": n, "spark": spark, "dask": dask, "in_memory": memory}
    print(
        f"\nN = {n:,} rows ({dask['partitions']} Parquet files, 2 workers x 1 thread vs local[2])"
    )
    print(f"  seconds per L-BFGS iteration: dask {dask['seconds_per_iteration']:.3f} "
          f"({dask['passes_per_iteration']:.2f} passes/iteration), in memory "
          f"{memory['seconds_per_iteration']:.3f}"
          + (f", Spark {spark['seconds_per_iteration']:.3f}" if spark else ""))  # fmt: skip
    overhead = dask["seconds_per_iteration"] / memory["seconds_per_iteration"]
    rows["dask_over_memory"] = overhead
    print(f"  Dask / in memory per iteration: {overhead:.2f}x (by fit differences "
          f"{dask['fit_difference_seconds_per_iteration']:.3f} / "
          f"{memory['fit_difference_seconds_per_iteration']:.3f} s)")  # fmt: skip
    if spark:
        speedup = spark["seconds_per_iteration"] / dask["seconds_per_iteration"]
        rows["spark_over_dask"] = speedup
        print(f"  Spark / Dask per iteration: {speedup:.1f}x")
        k = _reach(dask["loss_curve"], spark["final_loss"])
        rows["dask_iterations_to_spark_loss"] = k
        spark_time = spark["iterations"] * spark["seconds_per_iteration"]
        if k is None:
            print(f"  Spark's loss after {spark['iterations']} iterations "
                  f"({spark['final_loss']:.5f}) not reached by ours in {dask['iterations']}")  # fmt: skip
        else:
            ours = k * dask["seconds_per_iteration"]
            rows["seconds_to_spark_loss"] = {"spark": spark_time, "dask": ours}
            print(f"  to Spark's loss {spark['final_loss']:.5f} (its {spark['iterations']} "
                  f"iterations): Spark {spark_time:.2f} s, ours {k} iterations {ours:.2f} s "
                  f"({spark_time / ours:.1f}x)")  # fmt: skip
    share = dask["worker_share_of_X_bytes"]
    ratio = dask["worker_peak_growth_bytes"] / share
    rows["memory_ratio"] = ratio
    print(f"  peak worker memory: {dask['worker_peak_bytes'] / 2**20:.0f} MiB, of which "
          f"{dask['worker_peak_growth_bytes'] / 2**20:.0f} MiB above the idle worker's "
          f"{dask['worker_baseline_bytes'] / 2**20:.0f} MiB; share of X {share / 2**20:.0f} MiB: "
          f"{ratio:.2f}x")  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--no-spark", action="store_true", help="skip Spark (no Java)")
    parser.add_argument("--keep", type=Path, help="write the Parquet files here and keep them")
    parser.add_argument("--out", type=Path, default=RESULTS / "spark_vs_dask.json")
    parser.add_argument(
        "--project", type=Path, metavar="JSON", help="only print the projection of a results file"
    )
    parser.add_argument("--overhead", type=Path, metavar="JSON",
                        help="measure the scheduler's cost per task into a results file")  # fmt: skip
    args = parser.parse_args()
    if args.project is not None:
        project(json.loads(args.project.read_text()))
        return 0
    if args.overhead is not None:  # add the overhead measurement to a results file
        results = json.loads(args.overhead.read_text())
        results["overhead"] = scheduler_overhead()
        print_overhead(results["overhead"])
        results["projection"] = project(results)
        args.overhead.write_text(json.dumps(results, indent=2) + "\n")
        return 0
    results = {
        "machine": {
            "cores": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
            "python": platform.python_version(),
            "note": "timings depend on the machine and on what else runs on it",
        },
        "iterations": args.iterations,
        "sizes": [],
        "overhead": scheduler_overhead(),
    }
    print_overhead(results["overhead"])
    for rows in args.rows:
        n = int(rows)
        folder = (
            Path(tempfile.mkdtemp(prefix="spark_vs_dask_"))
            if args.keep is None
            else args.keep / str(n)
        )
        folder.mkdir(parents=True, exist_ok=True)
        try:
            start = time.perf_counter()
            files = write_loans(n, folder)
            print(f"wrote {n:,} rows in {len(files)} files in {time.perf_counter() - start:.0f} s",
                  file=sys.stderr)  # fmt: skip
            memory = memory_run(files, args.iterations)
            dask = dask_run(files, n, args.iterations)
            spark = None if args.no_spark else spark_run(files, args.iterations)
            results["sizes"].append(report(n, spark, dask, memory))
        finally:
            if args.keep is None:
                shutil.rmtree(folder, ignore_errors=True)
        results["machine"]["load_average_at_end"] = os.getloadavg()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    largest = results["sizes"][-1]
    n = largest["rows"]
    print(f"\ntargets at N = {n:,}" + (" (the targets are set for 1e7)" if n < 1e7 else ""))
    if "spark_over_dask" in largest:
        s = largest["spark_over_dask"]
        print(f"  >= {TARGET_SPARK_RATIO:g}x faster than Spark per iteration: {s:.1f}x "
              f"{verdict(s >= TARGET_SPARK_RATIO)}")  # fmt: skip
    o = largest["dask_over_memory"]
    print(f"  Dask <= {TARGET_DASK_OVERHEAD:g}x in memory per iteration: {o:.2f}x "
          f"{verdict(o <= TARGET_DASK_OVERHEAD)}")  # fmt: skip
    m = largest["memory_ratio"]
    print(f"  peak worker memory <= {TARGET_MEMORY_RATIO:g}x its share of X: {m:.2f}x "
          f"{verdict(m <= TARGET_MEMORY_RATIO)}")  # fmt: skip
    results["projection"] = project(results)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    shown = args.out.resolve()
    print(f"wrote {shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
