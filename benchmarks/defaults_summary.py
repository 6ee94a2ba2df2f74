"""Summaries of benchmarks/defaults_grid.py's result files, for the docs.

    python benchmarks/defaults_summary.py benchmarks/results/defaults_grid*.txt

For each file: the scenarios where the defaults' targets were missed; by truth (linear
or non-linear) and rows, how often each model has the lowest held-out log loss and the
highest ROC AUC; for each model its median log-loss ratio to LR and on how many
scenarios it would meet the targets; and the median fit time of the defaults relative to
the previous defaults (alpha=10, one network) and to LR.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

MODELS = ("LR", "ours", "before", "LGBM", "LGBM-es")


def parse(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("n") or "-d" not in line.split()[0]:
            continue
        f = line.split()
        row = {"name": f[0], "target": f[13], "d_auc": float(f[11]), "ratio": float(f[12])}
        for i, m in enumerate(MODELS):
            row[m] = (float(f[1 + 2 * i]), float(f[2 + 2 * i]), float(f[14 + i]))
        rows.append(row)
    return rows


def summarise(rows: list[dict]) -> None:
    missed = [r for r in rows if r["target"] != "met"]
    print(f"targets met on {len(rows) - len(missed)} of {len(rows)}")
    for r in missed:
        print(f"  missed: {r['name']}  AUC {r['d_auc']:+.4f}  log loss x{r['ratio']:.3f}")
    groups = defaultdict(list)
    for r in rows:
        n = r["name"].split("-")[0]
        truth = "nonlinear" if "-nonlinear-" in r["name"] else "linear"
        groups[(truth, n)].append(r)
    print("best log loss / best AUC, per group (ties count for each):")
    for key in sorted(groups, key=lambda k: (k[0], int(k[1][1:]))):
        members = groups[key]
        best_ll = {m: 0 for m in MODELS if m != "before"}
        best_auc = dict(best_ll)
        for r in members:
            low = min(r[m][1] for m in best_ll)
            high = max(r[m][0] for m in best_auc)
            for m in best_ll:
                best_ll[m] += r[m][1] == low
                best_auc[m] += r[m][0] == high
        text = ", ".join(f"{m} {best_ll[m]}/{best_auc[m]}" for m in best_ll)
        print(f"  {key[0]:9s} {key[1]:>8s} ({len(members):2d} scenarios): {text}")
    for m in MODELS[1:]:
        ratio = np.median([r[m][1] / r["LR"][1] for r in rows])
        met = sum(r[m][0] >= r["LR"][0] - 0.01 and r[m][1] <= 1.02 * r["LR"][1] for r in rows)
        print(f"{m}: median log loss / LR's {ratio:.3f}; targets met on {met} of {len(rows)}")
    t = np.median([r["ours"][2] / max(r["before"][2], 1e-3) for r in rows])
    t_lr = np.median([r["ours"][2] / max(r["LR"][2], 1e-3) for r in rows])
    print(f"median fit time: ours / before {t:.1f}x, ours / LR {t_lr:.1f}x")


def main() -> None:
    for name in sys.argv[1:]:
        print(f"== {name}")
        summarise(parse(Path(name)))


if __name__ == "__main__":
    main()
