"""The report's sections: one builder per section, and the pieces they share (``base``).

A builder ``builder(context) -> Section`` first puts every number it will state into
``section.metrics`` (plain JSON values), decides its qualitative claims from them
(``section.metrics["claims"]``, see :class:`Claim`), then writes its sentences from that
dict. ``responsible`` builds section 8 (fairness, calibration, reasons). ``CLAIMS`` maps
each section id to its claims.
"""

from __future__ import annotations

from .base import (
    AGREEMENT,
    CALIBRATED_WITHIN,
    FEATURE_MEANING,
    TUTORIAL,
    Claim,
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
from .comparison import COMPARISON_CLAIMS, tutorial_section
from .gradients import GRADIENT_CHECK_CLAIMS, gradient_check_section
from .held_out import (
    GENERALISATION_CLAIMS,
    HIDDEN_LAYER_CLAIMS,
    generalisation_section,
    hidden_layer_section,
)
from .inside import INSIDE_CLAIMS, inside_backprop_section
from .introduction import about_section, data_section, network_section
from .learning import (
    FORWARD_BACKPROP_CLAIMS,
    LEARNING_RATE_CLAIMS,
    forward_backprop_section,
    learning_rate_section,
    ordered_slow_to_fast,
)
from .responsible import RESPONSIBLE_CLAIMS

#: Section id -> its claims (name -> Claim): the rules and the words the page shows.
CLAIMS: dict[str, dict[str, Claim]] = {
    "forward_vs_backprop": FORWARD_BACKPROP_CLAIMS,
    "learning_rates": LEARNING_RATE_CLAIMS,
    "gradient_check": GRADIENT_CHECK_CLAIMS,
    "generalisation": GENERALISATION_CLAIMS,
    "hidden_layer": HIDDEN_LAYER_CLAIMS,
    "inside_backprop": INSIDE_CLAIMS,
    "tutorial_comparison": COMPARISON_CLAIMS,
    "responsible": RESPONSIBLE_CLAIMS,
}

__all__ = [
    "AGREEMENT",
    "CALIBRATED_WITHIN",
    "CLAIMS",
    "FEATURE_MEANING",
    "TUTORIAL",
    "Claim",
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
