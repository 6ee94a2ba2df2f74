"""Plain-text tables for the commands' reports."""

from __future__ import annotations


def aligned(rows: list[list[str]], right: set[int]) -> list[str]:
    """Rows of cells as text columns, each as wide as its widest cell, two spaces apart;
    the columns in ``right`` aligned right (numbers), the others left."""
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(w) if c in right else cell.ljust(w)
            for c, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
