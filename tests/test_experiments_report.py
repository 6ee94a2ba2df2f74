"""The experiments API and the report's parts, on small, fast settings."""

import io
import json
import math
from html.parser import HTMLParser

import numpy as np
import pytest

from backprop_lab._util.validation import InputError
from backprop_lab.tutorial import experiments, report
from backprop_lab.tutorial import figures as plots
from backprop_lab.tutorial.experiments import Config
from backprop_lab.tutorial.sections import FigureSpec, Section, Table

TINY = Config(
    n=300,
    epochs=30,
    n_seeds=2,
    learning_rates=(0.01, 0.1),
    large_learning_rates=(100.0,),
    nonlinear_epoch_factor=1,
)


@pytest.fixture(scope="module")
def tiny_results():
    ticks = []
    results = experiments.run_all(TINY, tick=lambda: ticks.append(1))
    return results, len(ticks)


def test_progress_ticks_match_the_plan(tiny_results):
    _, ticks = tiny_results
    assert ticks == experiments.planned_runs(TINY) == 4 + 3 * 2 + 1


def test_engine_agrees_with_textbook_from_identical_weights(tiny_results):
    results, _ = tiny_results
    fb = results.forward_vs_backprop
    np.testing.assert_allclose(fb.backprop.loss, fb.textbook_backprop.loss, rtol=0, atol=1e-13)
    assert len(fb.forward_only.loss) == TINY.epochs and len(set(fb.forward_only.loss)) == 1
    assert len(set(fb.textbook_forward_only.loss)) == 1
    np.testing.assert_allclose(fb.forward_only.loss, fb.textbook_forward_only.loss, atol=1e-13)
    assert fb.forward_only_loss_range == 0.0 and fb.forward_only_weights_unchanged
    # the tutorial's initialisation: y_hat stays within a hair of 1/2
    assert fb.initial_output_spread < 0.01
    model = experiments.initial_network(TINY, TINY.seed)
    for name, value in experiments.initial_params(TINY, TINY.seed).items():
        np.testing.assert_array_equal(model.params[name].reshape(value.shape), value)


def test_default_run_is_reused_in_the_sweep(tiny_results):
    results, _ = tiny_results
    run = results.run
    reused = next(r for r in results.learning_rates.runs if r.lr == TINY.lr and r.seed == TINY.seed)
    assert reused.loss == run.loss and reused.accuracy == run.accuracy
    # retraining the same (lr, seed) from scratch gives the same curve, bit for bit
    split = experiments.make_split(TINY.n, TINY.seed, test_size=TINY.test_size)
    again = experiments.learning_rate_sweep(
        Config(**{**TINY.__dict__, "n_seeds": 1, "large_learning_rates": ()}),
        splits={TINY.seed: split},
    )
    assert again.runs_for(TINY.lr)[0].loss == run.loss


def test_sweep_summary_mean_and_band(tiny_results):
    results, _ = tiny_results
    sweep = results.learning_rates
    s = sweep.summary(0.1)
    curves = np.array([r.loss for r in sweep.runs_for(0.1)])
    np.testing.assert_allclose(s.loss_mean, curves.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(s.loss_sd, curves.std(axis=0, ddof=1), rtol=1e-12)
    assert s.final_loss_mean == pytest.approx(curves[:, -1].mean(), rel=1e-15)
    diverged = sweep.summary(100.0)
    assert diverged.verdict == "diverged" and diverged.final_loss_mean is None
    assert diverged.n_diverged == 2 and len(diverged.diverged_at) == 2
    for run in sweep.runs_for(100.0):
        assert run.status == "diverged" and len(run.loss) == run.diverged_at
        assert run.final_loss is None and all(math.isfinite(v) for v in run.loss)


def test_dead_unit_share_counts_units_silent_on_every_row():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    params = {
        "W1": np.array([[1.0, -1.0, 0.0, -1.0], [1.0, -1.0, 0.0, 1.0]]),
        "b1": np.array([[0.0, 0.0, -0.5, 0.0]]),
    }
    # unit 0 fires on rows 0 and 1; unit 1 only on row 2; unit 2 never; unit 3 on row 1
    assert experiments.dead_unit_share(params, X) == 0.25


def test_config_rejects_bad_settings():
    with pytest.raises(InputError, match="n must be an integer of at least 100"):
        Config(n=50)
    with pytest.raises(InputError, match="learning rates must be positive"):
        Config(large_learning_rates=(0.0,))
    with pytest.raises(InputError, match="init_scale must be a positive number"):
        Config(init_scale=float("nan"))
    assert Config(seed=3, n_seeds=3).seeds == (3, 4, 5)


def test_json_safe_turns_non_finite_into_null():
    value = {"a": [1.0, float("nan"), float("inf")], "b": np.float64(-np.inf), "c": np.int64(3)}
    assert report.json_safe(value) == {"a": [1.0, None, None], "b": None, "c": 3}
    assert json.loads(report.metrics_json(report.json_safe(value)))["c"] == 3
    with pytest.raises(ValueError):
        report.metrics_json({"x": float("nan")})
    with pytest.raises(TypeError, match="cannot put object"):
        report.json_safe({"x": object()})


def test_figures_render_to_identical_bytes(tiny_results):
    results, _ = tiny_results
    first = plots.render(plots.gradient_check(results.gradient_check))
    second = plots.render(plots.gradient_check(results.gradient_check))
    assert first == second
    assert first[0].startswith(b"\x89PNG") and b"<svg" in first[1]
    assert b"<dc:date>" not in first[1]


def test_a_new_section_plugs_in_without_touching_the_template(tiny_results):
    results, _ = tiny_results

    def audit_section(ctx):
        fig = plots.gradient_check(ctx.results.gradient_check)
        m = {"worst": ctx.results.gradient_check.max_rel_error, "note": "<b>&'\""}
        return Section(
            id="audit",
            title="8. An added section <script>",
            paragraphs=[f"Worst error {m['worst']:.1e}; note {m['note']}"],
            figures=[FigureSpec("audit_figure", "An added figure", fig)],
            tables=[Table("t", ["a <i>"], [["1 & 2"]])],
            metrics=m,
        )

    built = report.build_report(results, [report.about_section, audit_section])
    assert list(built.metrics) == ["config", "about", "audit"]
    assert built.metrics["audit"]["worst"] == results.gradient_check.max_rel_error
    html = report.render_html(built)
    assert "8. An added section &lt;script&gt;" in html and "<script>" not in html
    assert "&lt;b&gt;&amp;&#39;&#34;" in html and "1 &amp; 2" in html and "a &lt;i&gt;" in html
    assert html.count("data:image/png;base64,") == 1
    HTMLParser().feed(html)  # parses
    with pytest.raises(ValueError, match="share the id"):
        report.build_report(results, [report.about_section, report.about_section])


def test_progress_bar_goes_to_stderr_when_asked(tmp_path, tiny_results, monkeypatch):
    results, _ = tiny_results
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr(report, "run_all", lambda config, tick, **_: _replay(results, config, tick))
    builders = [report.about_section, report.gradient_check_section]
    outcome = report.reproduce(TINY, tmp_path / "r", progress=True, builders=builders)
    bar = err.getvalue()
    total = experiments.planned_runs(TINY) + 1  # the runs, then one figure
    assert f"{total}/{total}" in bar and "step" in bar
    assert outcome.paths["report.html"].exists()
    assert sorted(outcome.report.figures) == ["gradient_check"]


def _replay(results, config, tick):
    for _ in range(experiments.planned_runs(config)):
        tick()
    return results
