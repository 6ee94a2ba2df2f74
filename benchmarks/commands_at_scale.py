"""The commands at portfolio scale: `predict` and `evaluate` end to end, as a user runs them.

    python benchmarks/commands_at_scale.py [--rows 2000000] [--out benchmarks/results]

Generates N borrowers with `backprop-lab generate` (with a loan_id column), writes the same
rows as Parquet, trains a model on 20,000 other rows, then times each command in a fresh
process, start-up included: `predict` from CSV to CSV and from Parquet to Parquet, and
`evaluate` on each. Each command runs ``--repeats`` times and the median counts, so a
neighbour's load on the machine hits it less. The peak resident memory of each process
is read from the kernel (``wait4``), and the same commands on N/10 rows show whether
memory stays bounded by the chunk as N grows (this process holds no file itself: see
:func:`make_files`). `bench.py` runs this too, into bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

#: Rows per second that each command should reach on a 2-core machine, end to end
#: (start-up, reading, scoring, writing) on N rows, and at the margin: the rate at which
#: rows beyond the first N/10 go through, (N - N/10) / (t(N) - t(N/10)), which is what a
#: file of any size costs once the process is up.
TARGETS = {
    "predict CSV -> CSV": 500_000,
    "predict Parquet -> Parquet": 2_000_000,
    "evaluate CSV": 500_000,
    "evaluate Parquet": 2_000_000,
}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "backprop_lab", *args]


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """(seconds, peak resident MB) of one command in a fresh process; raises if it fails."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    error = process.stderr.read().decode() if process.stderr else ""
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{error}")
    return seconds, usage.ru_maxrss / 1024  # Linux reports kilobytes


#: Writes the CSV file argv[1] as the Parquet file argv[2], in a process of its own.
TO_PARQUET = """
import sys
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
pq.write_table(pcsv.read_csv(sys.argv[1]), sys.argv[2])
"""


def make_files(folder: Path, rows: int) -> dict[str, Path]:
    """The CSV file of ``rows`` borrowers and the same rows as Parquet. The Parquet file is
    written by a child process: on Linux a child's ``ru_maxrss`` is at least the peak
    resident memory of the parent that started it (the parent's memory counts until the
    child's ``exec``), so this process must never hold a whole file itself, or every
    command timed after it would report that peak as its own (all four did: 596 MB at
    2,000,000 rows, the CSV file read whole)."""
    files = {"csv": folder / f"loans_{rows}.csv", "parquet": folder / f"loans_{rows}.parquet"}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(
        cli("generate", "--n", str(rows), "--seed", "2", "--id-column", "loan_id",
            "-o", str(files["csv"]), "--force"),
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    subprocess.run(
        [sys.executable, "-c", TO_PARQUET, str(files["csv"]), str(files["parquet"])],
        check=True,
        capture_output=True,
        env=env,
    )
    return files


def run(rows: int = 2_000_000, repeats: int = 3) -> dict:
    """Time the commands on ``rows`` rows (and memory on rows / 10); return the results."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train = folder / "train.csv"
        subprocess.run(
            cli("generate", "--n", "20000", "--seed", "1", "--id-column", "loan_id",
                "-o", str(train)),
            check=True, capture_output=True, env=env,
        )  # fmt: skip
        model = folder / "model.blab"
        subprocess.run(
            cli("train", str(train), "--target", "default", "--id", "loan_id",
                "--calibrate", "platt", "-o", str(model), "--seed", "0"),
            check=True, capture_output=True, env=env,
        )  # fmt: skip
        results = []
        for n in (rows // 10, rows):
            files = make_files(folder, n)
            commands = {
                "predict CSV -> CSV": cli(
                    "predict", str(model), str(files["csv"]), "-o", str(folder / "p.csv"),
                    "--force",
                ),
                "predict Parquet -> Parquet": cli(
                    "predict", str(model), str(files["parquet"]), "-o",
                    str(folder / "p.parquet"), "--force",
                ),
                "evaluate CSV": cli("evaluate", str(model), str(files["csv"])),
                "evaluate Parquet": cli("evaluate", str(model), str(files["parquet"])),
            }  # fmt: skip
            timed(commands["predict CSV -> CSV"], folder)  # warm the file cache and Numba's
            for name, command in commands.items():
                runs = [timed(command, folder) for _ in range(repeats)]
                seconds = float(np.median([s for s, _ in runs]))
                results.append(
                    {
                        "command": name,
                        "rows": n,
                        "seconds": seconds,
                        "rows_per_s": n / seconds,
                        "peak_mb": max(m for _, m in runs),
                        "file_mb": files["csv" if "CSV" in name else "parquet"].stat().st_size
                        / 2**20,
                    }
                )
    return {"rows": rows, "repeats": repeats, "results": results, "targets": targets(results)}


def targets(results: list[dict]) -> list[dict]:
    out = []
    largest = max(r["rows"] for r in results)
    for name, need in TARGETS.items():
        row = next(r for r in results if r["command"] == name and r["rows"] == largest)
        out.append(
            {
                "target": f"{name}: >= {need:,} rows/s end to end",
                "ratio": row["rows_per_s"] / need,
                "met": row["rows_per_s"] >= need,
                "measured": f"{row['rows_per_s']:,.0f} rows/s ({row['seconds']:.2f} s for "
                f"{largest:,} rows), {row['rows_per_s'] / need:.2f}x the target",
            }
        )
        small = next(r for r in results if r["command"] == name and r["rows"] < largest)
        margin = (largest - small["rows"]) / max(row["seconds"] - small["seconds"], 1e-9)
        out.append(
            {
                "target": f"{name}: >= {need:,} rows/s at the margin",
                "ratio": margin / need,
                "met": margin >= need,
                "measured": f"{margin:,.0f} rows/s beyond the first {small['rows']:,} rows, "
                f"{margin / need:.2f}x the target",
            }
        )
        growth = row["peak_mb"] / small["peak_mb"]
        out.append(
            {
                "target": f"{name}: memory bounded by the chunk (peak at N within 1.5x of "
                "peak at N/10)",
                "ratio": 1.5 / growth,
                "met": growth <= 1.5,
                "measured": f"{small['peak_mb']:.0f} MB at {small['rows']:,} rows, "
                f"{row['peak_mb']:.0f} MB at {largest:,} rows ({growth:.2f}x)",
            }
        )
    return out


def print_report(report: dict) -> None:
    print(f"{'command':<28} {'rows':>10} {'seconds':>8} {'rows/s':>12} {'peak MB':>8}")
    for r in report["results"]:
        print(
            f"{r['command']:<28} {r['rows']:>10,} {r['seconds']:>8.2f} "
            f"{r['rows_per_s']:>12,.0f} {r['peak_mb']:>8.0f}"
        )
    print("targets:")
    for t in report["targets"]:
        print(f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['measured']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    report = run(args.rows, args.repeats)
    report["command"] = "python benchmarks/commands_at_scale.py" + (
        f" --rows {args.rows}" if args.rows != 2_000_000 else ""
    )
    report["load_average_end"] = list(os.getloadavg())
    print_report(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "commands.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out / 'commands.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
