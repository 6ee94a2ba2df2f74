"""The model card's sections and their rendering as Markdown or HTML (jinja2).

A :class:`Section` holds text already formatted (paragraphs, label-value facts, tables,
bullets); the templates ``templates/card.md.j2`` and ``templates/card.html.j2`` only
lay them out. HTML is autoescaped. Markdown passes raw HTML through to whoever renders
it, so every value is escaped there too (:func:`markdown_escape`): a column named
``<script>`` reads as text in both.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import jinja2

from .._util.outputs import file_sha256 as sha256_of

__all__ = ["Section", "fmt", "markdown_escape", "pct", "render_card", "sha256_of"]


@dataclass
class Section:
    """One heading of the card: paragraphs, (label, value) facts, tables
    ({caption, header, rows}) and bullets, all plain text."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)


def fmt(value: object, spec: str = ",") -> str:
    """A number for the card ('not recorded' for None, 'n/a' for NaN)."""
    if value is None:
        return "not recorded"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    if isinstance(value, int | float):
        if spec == "," and isinstance(value, float) and value != int(value):
            return f"{value:.4g}"
        return format(value, spec)
    return str(value)


def pct(value: float | None) -> str:
    """A rate in percent, one decimal."""
    if value is None:
        return "not recorded"
    return "n/a" if not math.isfinite(value) else f"{100 * value:.1f}%"


_MARKDOWN_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "|": "\\|",
    "`": "\\`",
    "*": "\\*",
    "[": "\\[",
    "]": "\\]",
    "\\": "\\\\",
    "\n": " ",
    "\r": " ",
}


#: An underscore that can open or close emphasis: not between two letters or digits.
_EDGE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def markdown_escape(value: object) -> str:
    """Text that Markdown shows as written: HTML's specials as entities, Markdown's
    (table bars, emphasis, code, links, backslash) backslash-escaped, one line.
    Underscores inside a word (``p_default``) cannot make emphasis and stay as they are."""
    text = "".join(_MARKDOWN_ESCAPES.get(c, c) for c in str(value))
    return _EDGE_UNDERSCORE.sub(r"\\_", text)


def _environment(markdown: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("backprop_lab.responsible", "templates"),
        autoescape=not markdown,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=markdown_escape if markdown else None,
    )
    return env


def render_card(card: dict, fmt_name: str) -> str:
    """The card as Markdown (``fmt_name='md'``) or a standalone HTML page ('html')."""
    if fmt_name not in ("md", "html"):
        raise ValueError(f"a card is rendered as md or html; got {fmt_name!r}")
    env = _environment(fmt_name == "md")
    return env.get_template(f"card.{fmt_name}.j2").render(**card)
