"""Time and memory to refuse crafted model files, each loaded in a fresh process.

    python benchmarks/model_files.py

Cases: a legit model (the reference: loaded, not refused); a ~4 KB file declaring a
20000 x 20000 network; a ~3 MB zip bomb whose arrays.npz holds a deflated 3 GiB array
of zeros; a file whose W1.npy header declares a 7 TiB array; and metadata.json filled
up to its size limit with what costs most to parse (empty lists, numbers, short
strings), each refused when its digest fails.

Each case is loaded in a fresh process, which imports backprop_lab, resets its peak
resident memory to the current one (``/proc/self/clear_refs``, Linux), times
load_model, and reads the peak again: "added MB" is what loading added to the
resident memory; "process peak MB" is the process's whole peak (getrusage ru_maxrss
after the imports, or the peak during loading if higher), what /usr/bin/time -v would
report. "x legit" is the time ratio to loading the legit model. Building the zip bomb
takes about 15 s (3 GiB through deflate).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Each case is loaded this many times: the fastest time (least disturbed by other load
#: on the machine) and the largest memory added are reported.
REPEATS = 3
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from crafted_model_files import (  # noqa: E402
    declared_array_npz,
    write_model,
    zeros_bomb_npz,
)

from backprop_lab import fit_tabular  # noqa: E402
from backprop_lab.classifier.modelio import (  # noqa: E402
    MAX_METADATA_BYTES,
    MAX_METADATA_CONTAINERS,
    read_model_file,
)
from backprop_lab.data import make_credit_risk  # noqa: E402

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    from backprop_lab import load_model
    from backprop_lab.classifier.modelio import ModelFileError

    def rss_kb(field):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])

    imports_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    before = rss_kb("VmRSS:")
    start = time.perf_counter()
    try:
        load_model(sys.argv[1])
        outcome = "loaded"
    except ModelFileError as error:
        outcome = str(error)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "imports_peak_kb": imports_peak,
                      "rss_before_kb": before, "peak_kb": rss_kb("VmHWM:"),
                      "outcome": outcome}))
    """
)


def build(folder: Path) -> dict[str, Path]:
    frame = make_credit_risk(2000, seed=0).frame()
    legit = folder / "legit.blab"
    fit_tabular(frame, "default", seed=0).save(legit)
    metadata, arrays = read_model_file(legit)
    others = {k: v for k, v in arrays.items() if k != "W1"}

    big = json.loads(json.dumps(metadata))
    big["network"].update(n_inputs=20000, hidden=[20000])
    files = {"legit": legit}
    files["20000x20000 network"] = write_model(folder / "network.blab", big, arrays)
    files["3 GiB zip bomb"] = write_model(
        folder / "bomb.blab",
        metadata,
        zeros_bomb_npz("W1", 3 * 2**30, others),
        compression=zipfile.ZIP_STORED,  # the bomb is the deflated W1.npy inside
    )
    files["7 TiB array"] = write_model(
        folder / "huge.blab", metadata, declared_array_npz("W1", (7 * 2**40 // 8,), others)
    )
    # metadata.json just under MAX_METADATA_BYTES: the most it can cost to parse and digest
    # before its digest fails (one case over MAX_METADATA_CONTAINERS, refused unparsed)
    text = json.dumps(metadata)[:-1]
    room = MAX_METADATA_BYTES - len(text) - 16
    fillers = {
        "4 MiB of []": ("[]", 100_000_000),
        "4 MiB of 99,999 []": ("[]", MAX_METADATA_CONTAINERS - 100),
        "4 MiB of integers": ("10", 100_000_000),
        "4 MiB of floats": ("0.5", 100_000_000),
        "4 MiB of strings": ('"ab"', 100_000_000),
    }
    for name, (item, most) in fillers.items():
        count = min(room // (len(item) + 1), most)
        body = f'{text}, "x": [{",".join([item] * count)}]}}'
        files[name] = write_model(folder / f"{len(files)}.blab", body, arrays)
    return files


def measure(path: Path) -> dict:
    """load_model(path) in a fresh process: the figures it prints."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = build(Path(tmp))
        rows = {}
        for name, path in files.items():
            runs = [measure(path) for _ in range(REPEATS)]
            rows[name] = {
                **min(runs, key=lambda r: r["seconds"]),
                "added_kb": max(r["peak_kb"] - r["rss_before_kb"] for r in runs),
                "bytes": path.stat().st_size,
            }
    if rows["legit"]["outcome"] != "loaded":
        raise SystemExit(f"the legit model did not load: {rows['legit']['outcome']}")
    legit_seconds = rows["legit"]["seconds"]
    print(
        f"{'case':<22} {'file bytes':>12} {'load s':>8} {'x legit':>8} "
        f"{'added MB':>9} {'process peak MB':>16}"
    )
    for name, r in rows.items():
        added = r["added_kb"] / 1024
        process_peak = max(r["imports_peak_kb"], r["peak_kb"]) / 1024
        print(
            f"{name:<22} {r['bytes']:>12,} {r['seconds']:>8.3f} "
            f"{r['seconds'] / legit_seconds:>8.2f} {added:>9.1f} {process_peak:>16.1f}"
        )
    for name, r in rows.items():
        print(f"{name}: {r['outcome'].split('model file: ', 1)[-1]}")


if __name__ == "__main__":
    main()
