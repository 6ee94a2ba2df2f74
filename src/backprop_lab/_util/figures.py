"""Writing a matplotlib figure to a file atomically (format from the file's suffix), and the
type sizes every figure of the package uses."""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.figure import Figure

from .atomic import atomic_write_bytes

#: Type sizes in points, the same in every figure (matplotlib rcParams). With figures at
#: most FIGURE_MAX_WIDTH inches wide, shown at 100 pixels per inch as the report does,
#: they appear at the same size on the page in every figure.
FONT_SIZES: dict[str, float] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "figure.titlesize": 11,
}
#: The widest figure, in inches (the report's page is 9 inches wide at 100 pixels per inch).
FIGURE_MAX_WIDTH = 9.0


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix: .png, .svg, .pdf) atomically."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    return path
