"""Tables written as several files, as the cluster tests read them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd


def parquet_parts(frame: pd.DataFrame, sizes: Sequence[int], folder: Path) -> tuple[str, list[str]]:
    """Write ``frame``'s rows in order as part0.parquet, part1.parquet, ... of ``sizes``
    rows each; returns the glob pattern and the file paths."""
    files, start = [], 0
    for i, n in enumerate(sizes):
        path = folder / f"part{i}.parquet"
        frame.iloc[start : start + n].reset_index(drop=True).to_parquet(path)
        files.append(str(path))
        start += n
    return str(folder / "*.parquet"), files
