"""Print the Markdown tables of docs/performance.md from a benchmark's JSON.

python benchmarks/tables.py [benchmarks/results/bench.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ENGINES = ["fused", "reference", "torch", "sklearn", "micrograd"]
NAMES = {"torch": "PyTorch eager", "sklearn": "scikit-learn"}


def fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return ""
    text = f"{x:,.{digits}g}" if x < 1000 else f"{x:,.0f}"
    return text


def case_name(r: dict) -> str:
    mode = "full batch" if r["mode"] == "full" else "mini-batch 32"
    network = r.get("network", "7-8-1")
    wide = "" if network == "7-8-1" else f", {network}"
    return f"{mode}, N = 1e{len(str(r['n'])) - 1}, {r['dtype']}{wide}"


def key(r: dict) -> tuple:
    return (r["mode"], r["dtype"], r["n"], r.get("network", "7-8-1"))


def main(path: str) -> None:
    data = json.loads(Path(path).read_text())
    m = data["machine"]
    results, ratios = data["results"], data["ratios"]
    cases = list(dict.fromkeys(key(r) for r in results))
    get = {(*key(r), r["engine"]): r for r in results}
    print(
        f"Recorded run: `{data['command']}`; read bandwidth {m['read_bandwidth_GBps']:.1f} GB/s, "
        f"dense rate {m['dense_GFLOPs']:.0f} GFLOP/s, {m['threads_used']} threads, "
        f"load average {m['load_average_start'][0]:.2f} at the start.\n"
    )
    print("Milliseconds per epoch, median over all timed epochs (fastest epoch in brackets):\n")
    print("| case | " + " | ".join(NAMES.get(e, e) for e in ENGINES) + " | lower bound |")
    print("|---|" + "---:|" * (len(ENGINES) + 1))
    for case in cases:
        row = [get.get((*case, e)) for e in ENGINES]
        cells = [f"{fmt(r['ms_per_epoch'])} ({fmt(r['min_ms'])})" if r else "" for r in row]
        first = next(r for r in row if r)
        print(
            f"| {case_name(first)} | "
            + " | ".join(cells)
            + f" | {fmt(first['lower_bound_ms'], 2)} |"
        )
    print("\nHow many times longer an epoch takes than with the fused engine (medians):\n")
    cols = [
        "reference/fused",
        "torch/fused",
        "sklearn/fused",
        "micrograd/fused",
        "torch/reference",
        "fused/lower_bound",
    ]
    print("| case | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for r in ratios:
        cells = [f"{r[c]:,.1f}" if r.get(c) is not None else "" for c in cols]
        print(f"| {case_name(r)} | " + " | ".join(cells) + " |")
    print(
        "\nRows per second of the fused engine, and the peak resident memory each engine adds"
        " during training (MB; the data themselves are not counted):\n"
    )
    mem = ["fused", "reference", "torch", "sklearn"]
    print("| case | fused rows/s | " + " | ".join(NAMES.get(e, e) for e in mem) + " |")
    print("|---|" + "---:|" * (len(mem) + 1))
    for case in cases:
        if case[2] < 100_000:
            continue
        row = [get.get((*case, e)) for e in mem]
        cells = [f"{r['peak_mb']:.1f}" if r else "" for r in row]
        print(f"| {case_name(row[0])} | {row[0]['rows_per_s']:.3g} | " + " | ".join(cells) + " |")
    if data.get("commands"):
        print(
            "\nThe commands end to end, each in a fresh process (start-up included), median of "
            f"{data['commands']['repeats']} runs:\n"
        )
        print("| command | rows | seconds | rows/s | peak MB |")
        print("|---|---:|---:|---:|---:|")
        for r in data["commands"]["results"]:
            print(
                f"| `{r['command']}` | {r['rows']:,} | {r['seconds']:.2f} | "
                f"{r['rows_per_s']:,.0f} | {r['peak_mb']:.0f} |"
            )
    print("\nTargets:\n")
    for t in data["targets"]:
        margin = "" if t.get("margin") is None else f" (margin {t['margin']:.2f})"
        print(f"- {'met' if t['met'] else 'MISSED'}: {t['target']}: {t['measured']}{margin}")
    cold, cached = data["compile"]["cold"], data["compile"]["cached"]
    print(
        f"\nFirst use in a fresh process compiles the kernels: {cold['float64_full_s']:.1f} s "
        f"(float64) and {cold['float32_full_s']:.1f} s (float32); from the on-disk cache "
        f"{cached['float64_full_s']:.2f} s."
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/bench.json")
