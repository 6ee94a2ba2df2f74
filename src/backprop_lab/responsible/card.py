"""A model card: what a saved model is for, what it was trained on and how it did.

    card = build_card("model.blab", evaluation="metrics.json", audits=["audit.json"])
    write_card(card, "card.md")        # or card.html; the format follows the suffix

Every figure comes from the model file (its task, preprocessing, network, training
settings, held-out metrics, calibration and ``model_card`` facts: see
:mod:`backprop_lab.classifier.card_facts`) or from the JSON that ``evaluate -o``,
``audit -o`` and ``explain --summary`` write; nothing is typed in. A report whose
``model_sha256`` names another file than the model is refused. What was not given
reads "not run" or "not recorded".

Limitations follow from the numbers by fixed rules (the sections and the rules are in
:mod:`~backprop_lab.responsible.card_sections`):

* ROC AUC's 95% interval (+-1.96 SE by Hanley and McNeil) wider than
  +-:data:`WIDE_AUC_HALF_WIDTH`;
* expected calibration error above :data:`LARGE_ECE`;
* audit groups with fewer than :data:`FEW_GROUP_ROWS` rows; approval-rate ratio across
  groups below 0.8 (the four-fifths rule); a failed Regulation B age check;
* rows of the evaluation file with a numeric input outside its training range;
* training stopped by its epoch limit rather than by early stopping.

Text is rendered with jinja2 (templates in ``responsible/templates``): HTML autoescaped,
Markdown with HTML's and Markdown's special characters escaped
(:mod:`~backprop_lab.responsible.card_text`), since column and group names come from
the user's CSV file.
"""

from __future__ import annotations

import json
from pathlib import Path

from .._util.validation import InputError
from ..classifier.modelio import read_model_file
from ..classifier.tabular_model import load_model
from .card_sections import (
    FEW_GROUP_ROWS,
    FOUR_FIFTHS,
    LARGE_ECE,
    WIDE_AUC_HALF_WIDTH,
    auc_interval,
    calibration_section,
    data_section,
    evaluation_section,
    fairness_section,
    held_out_section,
    importance_section,
    monotone_section,
    network_section,
    purpose_section,
)
from .card_text import Section, render_card, sha256_of

__all__ = [
    "FEW_GROUP_ROWS",
    "FOUR_FIFTHS",
    "LARGE_ECE",
    "WIDE_AUC_HALF_WIDTH",
    "auc_interval",
    "build_card",
    "check_card_format",
    "render_card",
    "write_card",
]


def _read_report(path: str | Path, what: str, model_sha: str, keys: tuple[str, ...]) -> dict:
    """A JSON report, checked to be one ``what`` writes and made with this model."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no such {what} file", file=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"not a readable {what} JSON file ({error})", file=path) from None
    if not isinstance(data, dict) or any(k not in data for k in keys):
        raise InputError(f"not the JSON {what} writes (no {', '.join(keys)})", file=path)
    stored = data.get("model_sha256")
    if stored is not None and stored != model_sha:
        raise InputError(
            f"this {what} report was made with another model file (SHA-256 {str(stored)[:12]}..., "
            f"the model's is {model_sha[:12]}...); run it again on this model",
            file=path,
        )
    return data


def build_card(
    model_path: str | Path,
    *,
    evaluation: str | Path | None = None,
    audits: list[str | Path] | tuple = (),
    explanation: str | Path | None = None,
) -> dict:
    """The card's content: a title and its sections (see :func:`render_card`)."""
    model = load_model(model_path)
    metadata, _ = read_model_file(model_path)
    sha = sha256_of(model_path)
    ev = None if evaluation is None else _read_report(evaluation, "evaluate", sha, ("metrics",))
    aus = [_read_report(a, "audit", sha, ("metrics", "group_column")) for a in audits]
    ex = (
        None
        if explanation is None
        else _read_report(explanation, "explain --summary", sha, ("importance",))
    )
    limits: list[str] = []
    sections = [
        purpose_section(model, model_path, sha),
        data_section(model, limits),
        network_section(model, metadata, limits),
        held_out_section(model, limits),
        evaluation_section(model, ev, evaluation, limits),
        calibration_section(model, ev),
        fairness_section(aus, audits, limits),
        monotone_section(metadata),
        importance_section(ex, explanation),
    ]
    limits = list(dict.fromkeys(limits))  # two audits of one file find the same age check
    sections.append(Section("Limitations", bullets=limits or ["none found by the card's rules"]))
    return {"title": f"Model card: {Path(model_path).name}", "sections": sections}


def write_card(card: dict, output: str | Path) -> None:
    """Render ``card`` as Markdown (``.md``) or HTML (``.html``/``.htm``) and write it
    atomically."""
    from .._util.atomic import atomic_write_text

    atomic_write_text(output, render_card(card, _format_of(output)))


def check_card_format(output: str | Path) -> None:
    """Refuse an output whose suffix is neither .md nor .html, before anything runs."""
    _format_of(output)


def _format_of(output: str | Path) -> str:
    suffix = Path(output).suffix.lower()
    if suffix in (".md", ".markdown"):
        return "md"
    if suffix in (".html", ".htm"):
        return "html"
    raise InputError(f"a card is written as .md or .html; got {suffix or 'no suffix'!r}")
