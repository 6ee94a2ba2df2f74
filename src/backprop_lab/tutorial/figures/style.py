"""What every figure shares: colours (one per learning rate), labels, sizes, and ``render``
to reproducible PNG and SVG bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib
import numpy as np
from matplotlib import ticker
from matplotlib.figure import Figure

from ..._util.figures import FONT_SIZES
from ..._util.palette import OKABE_ITO

#: One colour per learning rate, in every figure.
LR_COLOURS: dict[float, str] = {
    0.001: OKABE_ITO["sky_blue"],
    0.01: OKABE_ITO["green"],
    0.1: OKABE_ITO["blue"],
    1.0: OKABE_ITO["orange"],
    10.0: OKABE_ITO["purple"],
    30.0: OKABE_ITO["vermillion"],
}
FORWARD_ONLY = "#767676"  # grey, 4.5:1 contrast on white
BAYES = OKABE_ITO["black"]
LOGISTIC = OKABE_ITO["vermillion"]
NETWORK = OKABE_ITO["blue"]

LOSS_LABEL = "binary cross-entropy (nats)"
ACC_LABEL = "accuracy (share correct)"
EPOCH_LABEL = "epoch (full-batch updates)"

STYLE = {
    **FONT_SIZES,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.8,
    "svg.hashsalt": "backprop-lab",
    "svg.fonttype": "path",
}
PNG_DPI = 150


def lr_colour(lr: float) -> str:
    """The colour of learning rate ``lr`` (grey-blue for a rate outside the standard set)."""
    return LR_COLOURS.get(float(lr), "#5A6F8A")


def lr_label(lr: float) -> str:
    return f"lr = {lr:g}"


def _figure(ncols: int = 2, height: float = 3.4, width: float = 9.0) -> tuple[Figure, list]:
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def render(fig: Figure) -> tuple[bytes, bytes]:
    """(PNG bytes, SVG bytes) of ``fig``, reproducible byte for byte."""
    engine = fig.get_layout_engine()
    with matplotlib.rc_context(STYLE):
        png, svg = io.BytesIO(), io.BytesIO()
        fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
        # The layout is now computed; keep it for the SVG instead of solving it again.
        fig.set_layout_engine("none")
        try:
            fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            fig.set_layout_engine(engine)
    return png.getvalue(), svg.getvalue()


def _plain_log_ticks(ax: object) -> None:
    """Label a log-scale y axis 0.5, 0.7, 1, 2, ... instead of 5 x 10^-1."""
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0, 7.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def _epochs(values: Sequence[float]) -> np.ndarray:
    return np.arange(len(values))
