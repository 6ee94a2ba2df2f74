"""The report's sections: one builder per section, and the pieces they share (``base``).

A builder ``builder(context) -> Section`` first puts every number it will state into
``section.metrics`` (plain JSON values), then writes its sentences from that dict.
``responsible`` builds section 8 (fairness, calibration, reasons).
"""

from __future__ import annotations

from .base import (
    AGREEMENT,
    CALIBRATED_WITHIN,
    FEATURE_MEANING,
    TUTORIAL,
    FigureSpec,
    ReportContext,
    Section,
    SectionBuilder,
    Table,
    f3,
    f4,
    json_safe,
    lr_key,
    pp,
    sci,
)
from .comparison import tutorial_section
from .gradients import gradient_check_section
from .held_out import generalisation_section, hidden_layer_section
from .inside import inside_backprop_section
from .introduction import about_section, data_section, network_section
from .learning import forward_backprop_section, learning_rate_section, ordered_slow_to_fast

__all__ = [
    "AGREEMENT",
    "CALIBRATED_WITHIN",
    "FEATURE_MEANING",
    "TUTORIAL",
    "FigureSpec",
    "ReportContext",
    "Section",
    "SectionBuilder",
    "Table",
    "about_section",
    "data_section",
    "f3",
    "f4",
    "forward_backprop_section",
    "generalisation_section",
    "gradient_check_section",
    "hidden_layer_section",
    "inside_backprop_section",
    "json_safe",
    "learning_rate_section",
    "lr_key",
    "network_section",
    "ordered_slow_to_fast",
    "pp",
    "sci",
    "tutorial_section",
]
