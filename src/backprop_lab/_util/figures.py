"""Writing a matplotlib figure to a file atomically (format from the file's suffix)."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.figure import Figure

from .atomic import atomic_write_bytes


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix: .png, .svg, .pdf) atomically."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return path
