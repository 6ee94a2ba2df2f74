"""Time and memory of ``backprop-lab audit``, ``explain`` and ``monitor`` on a million applicants.

    python benchmarks/responsible_scale.py [--rows 1000000] [--n-bootstrap 1000] [--keep DIR]

Writes a file of synthetic borrowers with ``backprop-lab generate`` (seven features,
``age`` among them), trains the default 7-8-1 network on 20,000 other borrowers with
``backprop-lab train``, then runs, each in a process of its own,

    backprop-lab audit   model.blab rows.csv --group age -o audit.json    (default bootstrap)
    backprop-lab explain model.blab rows.csv -o reasons.csv
    backprop-lab monitor model.blab rows.csv -o drift.json
    backprop-lab predict model.blab rows.csv -o scores.csv               (the plain pass, for scale)

and prints each one's wall time and peak resident memory (the child's own, from
os.wait4) against the targets for 1,000,000 rows: under 60 s and under 1 GB. The
audit includes the Regulation B check (integrated gradients for every applicant).
Generating the file and training are not timed. Timings depend on the machine and on
what else runs on it; the targets were set for 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60.0
TARGET_BYTES = 1 << 30


def backprop_lab(*args: str) -> list[str]:
    """The command line, run from this checkout's sources."""
    return [sys.executable, "-m", "backprop_lab", *args]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


def measured(command: list[str]) -> tuple[float, int]:
    """(wall seconds, peak resident bytes) of ``command`` run to completion."""
    start = time.perf_counter()
    child = subprocess.Popen(
        command, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    errors = child.stderr.read().decode() if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n{errors}")
    return seconds, usage.ru_maxrss * 1024  # kilobytes on Linux


def prepare(folder: Path, rows: int) -> tuple[Path, Path]:
    data, train_csv, model = folder / "rows.csv", folder / "train.csv", folder / "model.blab"
    env = environment()
    run = dict(env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not data.exists():
        print(f"generating {rows:,} rows ...", flush=True)
        subprocess.run(
            backprop_lab("generate", "--n", str(rows), "--seed", "1", "-o", str(data)), **run
        )
    if not model.exists():
        print("training the 7-8-1 network on 20,000 other rows ...", flush=True)
        subprocess.run(
            backprop_lab("generate", "--n", "20000", "--seed", "2", "-o", str(train_csv)), **run
        )
        subprocess.run(
            backprop_lab("train", str(train_csv), "--target", "default", "-o", str(model)), **run
        )
    return data, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--n-bootstrap", type=int, default=1000, help="audit replicates (1000)")
    parser.add_argument("--keep", type=Path, help="folder for the files (kept; reused if there)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="responsible-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        data, model = prepare(folder, args.rows)
        cases = {
            "audit": backprop_lab(
                "audit",
                str(model),
                str(data),
                "--group",
                "age",
                "--n-bootstrap",
                str(args.n_bootstrap),
                "-o",
                str(folder / "audit.json"),
            ),
            "explain": backprop_lab(
                "explain", str(model), str(data), "-o", str(folder / "reasons.csv"), "--show", "0"
            ),
            "monitor": backprop_lab(
                "monitor", str(model), str(data), "-o", str(folder / "drift.json")
            ),
            "predict": backprop_lab(
                "predict", str(model), str(data), "-o", str(folder / "scores.csv")
            ),
        }
        scale = args.rows / 1_000_000
        print(f"\n{args.rows:,} rows; targets: {TARGET_SECONDS * scale:.0f} s (60 s per million "
              f"rows), {TARGET_BYTES / 2**30:.0f} GiB whatever the rows")  # fmt: skip
        print(
            f"{'command':<9}{'wall s':>9}{'/ target':>10}{'peak MiB':>10}{'/ target':>10}  verdict"
        )
        for name, command in cases.items():
            seconds, peak = measured(command)
            t_ratio = seconds / (TARGET_SECONDS * scale)
            m_ratio = peak / TARGET_BYTES
            verdict = "met" if t_ratio < 1 and m_ratio < 1 else "MISSED"
            print(
                f"{name:<9}{seconds:>9.1f}{t_ratio:>10.2f}{peak / 2**20:>10.0f}{m_ratio:>10.2f}"
                f"  {verdict}",
                flush=True,
            )
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
