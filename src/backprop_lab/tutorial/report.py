"""The report: a list of sections, each with its title, text, figures, tables and metrics.

A section is built by a function ``builder(context) -> Section`` (the tutorial's in
:mod:`backprop_lab.tutorial.sections`, the responsible-model one in
:mod:`backprop_lab.tutorial.sections.responsible`). The builder first
puts every number it will state into ``section.metrics`` (plain JSON values), then
writes its sentences from that dict, so ``metrics.json`` holds every number the report
shows. To add a section, write a builder and pass ``[*SECTION_BUILDERS, builder]`` to
:func:`build_report`; the template loops over sections and needs no change.

Files written by :func:`write_report` into the output folder::

    report.html            one self-contained page (figures embedded as base64 PNG)
    metrics.json           {"config": ..., "<section id>": section.metrics, ...}
    figures/<name>.png     every figure, also as
    figures/<name>.svg

Each is written atomically (temporary file, then rename), report.html last.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import jinja2
from tqdm import tqdm

from .._util.atomic import atomic_write_bytes, atomic_write_text
from .experiments import (
    EXPERIMENTS,
    Config,
    Results,
    planned_runs,
    run_all,
)
from .figures import render
from .sections import (
    ReportContext,
    Section,
    SectionBuilder,
    about_section,
    data_section,
    forward_backprop_section,
    generalisation_section,
    gradient_check_section,
    hidden_layer_section,
    inside_backprop_section,
    json_safe,
    learning_rate_section,
    network_section,
    tutorial_section,
)
from .sections.responsible import responsible_section

#: The report's sections, in order. Extend with ``[*SECTION_BUILDERS, my_builder]``.
SECTION_BUILDERS: list[SectionBuilder] = [
    about_section,
    data_section,
    network_section,
    forward_backprop_section,
    learning_rate_section,
    gradient_check_section,
    generalisation_section,
    hidden_layer_section,
    inside_backprop_section,
    tutorial_section,
    responsible_section,
]


# ---------------------------------------------------------------------------------------
# Assembling and writing
# ---------------------------------------------------------------------------------------
@dataclass
class Report:
    title: str
    sections: list[Section]
    metrics: dict[str, Any]
    figures: dict[str, tuple[bytes, bytes]]  # name -> (PNG, SVG)


def build_metrics(config: Config, sections: Sequence[Section]) -> dict[str, Any]:
    """{"config": ..., section.id: section.metrics, ...}, JSON-safe (no NaN, no inf)."""
    metrics: dict[str, Any] = {"config": {**asdict(config), "seeds": list(config.seeds)}}
    for section in sections:
        if section.id in metrics:
            raise ValueError(f"two sections share the id {section.id!r}")
        metrics[section.id] = section.metrics
    return json_safe(metrics)


def build_sections(
    results: Results, builders: Iterable[SectionBuilder] = SECTION_BUILDERS
) -> list[Section]:
    """Run every builder on ``results``, in order."""
    ctx = ReportContext(config=results.config, results=results)
    return [builder(ctx) for builder in builders]


def render_figures(
    sections: Sequence[Section], on_figure: Callable[[], None] | None = None
) -> dict[str, tuple[bytes, bytes]]:
    """PNG and SVG bytes of every figure, by name (names must be unique)."""
    figures: dict[str, tuple[bytes, bytes]] = {}
    for section in sections:
        for spec in section.figures:
            if spec.name in figures:
                raise ValueError(f"two figures share the name {spec.name!r}")
            figures[spec.name] = render(spec.figure)
            if on_figure is not None:
                on_figure()
    return figures


def build_report(
    results: Results,
    builders: Iterable[SectionBuilder] = SECTION_BUILDERS,
    on_figure: Callable[[], None] | None = None,
) -> Report:
    """Build every section from ``results`` and render its figures."""
    sections = build_sections(results, builders)
    return _assemble(results.config, sections, render_figures(sections, on_figure))


def _assemble(
    config: Config, sections: list[Section], figures: dict[str, tuple[bytes, bytes]]
) -> Report:
    return Report(
        title=f"backprop-lab: the {config.architecture} network on credit-risk data",
        sections=sections,
        metrics=build_metrics(config, sections),
        figures=figures,
    )


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("backprop_lab.tutorial", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_html(report: Report) -> str:
    """The self-contained page: figures inline as base64 PNG, every value escaped."""
    images = {
        name: base64.b64encode(png).decode("ascii") for name, (png, _) in report.figures.items()
    }
    numbering, k = {}, 0
    for section in report.sections:
        for spec in section.figures:
            k += 1
            numbering[spec.name] = k
    widths = {
        spec.name: round(spec.figure.get_figwidth() * 100)
        for section in report.sections
        for spec in section.figures
    }
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=report.title,
        sections=report.sections,
        images=images,
        numbering=numbering,
        widths=widths,
        config=report.metrics["config"],
    )


def metrics_json(metrics: dict[str, Any]) -> str:
    """metrics.json's text; refuses NaN and infinity outright."""
    return json.dumps(metrics, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def write_report(report: Report, out_dir: str | Path) -> dict[str, Path]:
    """Write figures, metrics.json, then report.html into ``out_dir``; return their paths."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: exists and is not a folder")
    (out / "figures").mkdir(parents=True, exist_ok=True)  # the one output that is a folder
    paths: dict[str, Path] = {}
    for name, (png, svg) in report.figures.items():
        for ext, data in (("png", png), ("svg", svg)):
            path = out / "figures" / f"{name}.{ext}"
            atomic_write_bytes(path, data)
            paths[f"{name}.{ext}"] = path
    paths["metrics.json"] = out / "metrics.json"
    atomic_write_text(paths["metrics.json"], metrics_json(report.metrics))
    paths["report.html"] = out / "report.html"
    atomic_write_text(paths["report.html"], render_html(report))
    return paths


#: What :func:`reproduce` does, in order: the experiments, then the report's own steps
#: (section 8's fairness checks train their networks while its section is built).
STAGES = (*EXPERIMENTS, "report sections and fairness checks", "figures", "writing the files")


class _StageLog:
    """Prints '[k/total] stage: 2.1 s' to ``stream`` as each stage of :data:`STAGES` ends."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.done = 0
        self.last = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.done += 1
        if self.stream is not None:
            print(
                f"[{self.done}/{len(STAGES)}] {stage}: {now - self.last:.1f} s",
                file=self.stream,
                flush=True,
            )
        self.last = now


@dataclass
class Outcome:
    report: Report
    paths: dict[str, Path]
    seconds: float


def reproduce(
    config: Config | None = None,
    out_dir: str | Path = "backprop-lab-report",
    *,
    progress: bool = False,
    builders: Iterable[SectionBuilder] = SECTION_BUILDERS,
    log: TextIO | None = None,
) -> Outcome:
    """Run every experiment, build the report and write it; ``progress`` shows a tqdm bar,
    ``log`` gets one line per finished stage of :data:`STAGES` (for a log file or a pipe,
    where a bar would not show)."""
    config = config or Config()
    start = time.perf_counter()
    stage = _StageLog(log)
    with tqdm(
        total=planned_runs(config),
        desc="training",
        unit="step",
        file=sys.stderr,
        disable=not progress,
        leave=False,
    ) as bar:
        results = run_all(config, tick=lambda: bar.update(1), on_experiment=stage)
        sections = build_sections(results, builders)
        stage(STAGES[-3])
        bar.total += sum(len(section.figures) for section in sections)
        bar.set_description("figures")
        figures = render_figures(sections, on_figure=lambda: bar.update(1))
        report = _assemble(config, sections, figures)
        stage(STAGES[-2])
        bar.set_description("writing")
        paths = write_report(report, out_dir)
        stage(STAGES[-1])
    return Outcome(report=report, paths=paths, seconds=time.perf_counter() - start)
