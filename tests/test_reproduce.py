"""`backprop-lab reproduce`: files, numbers, determinism, a self-contained HTML page.

The default run (the one a new user gets) is made once per module and shared.
"""

import base64
import contextlib
import io
import json
import math
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar
from xml.etree import ElementTree

import pytest

from backprop_lab.cli import main

FIGURES = (
    "network",
    "forward_vs_backprop",
    "learning_rates",
    "learning_rate_stability",
    "gradient_check",
    "generalisation",
    "hidden_layer",
    "inside_backprop",
    "fairness_by_age",
    "planted_bias",
    "reliability",
    "importance",
)
SMALL = ["--n", "400", "--epochs", "40"]


def _strict_json(text: str) -> dict:
    def refuse(token: str) -> None:
        raise AssertionError(f"metrics.json contains {token}")

    return json.loads(text, parse_constant=refuse)


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def default_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "default"
    code, stdout, stderr = _run(["reproduce", "--out", str(out)])
    assert code == 0, stderr
    metrics = _strict_json((out / "metrics.json").read_text(encoding="utf-8"))
    return out, metrics, stdout, stderr


class _Resources(HTMLParser):
    """Collects every tag and every attribute that can load something."""

    LOADING: ClassVar[set[str]] = {
        "src",
        "href",
        "srcset",
        "poster",
        "data",
        "action",
        "xlink:href",
        "background",
    }

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[dict[str, str]] = []
        self.references: list[tuple[str, str, str]] = []
        self.style_text: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(attrs)
        for key, value in attrs.items():
            if key in self.LOADING:
                self.references.append((tag, key, value))
            if key == "style":
                self.style_text.append(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.style_text.append(data)


def test_writes_report_metrics_and_every_figure(default_report):
    out, metrics, _, _ = default_report
    assert (out / "report.html").stat().st_size > 10_000
    for name in FIGURES:
        png = (out / "figures" / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), name
        root = ElementTree.fromstring((out / "figures" / f"{name}.svg").read_bytes())
        assert root.tag == "{http://www.w3.org/2000/svg}svg", name
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(
        f"{n}.{e}" for n in FIGURES for e in ("png", "svg")
    )
    assert not list(out.glob(".*.tmp")) and not list((out / "figures").glob(".*.tmp"))
    assert metrics["config"]["n"] == 5000 and metrics["config"]["seed"] == 0


def test_default_numbers_meet_the_tutorials_claims(default_report):
    _, m, _, _ = default_report
    fo = m["forward_vs_backprop"]["forward_only"]
    assert len(fo["loss"]) == m["config"]["epochs"]
    assert len(set(fo["loss"])) == 1 and fo["all_losses_identical"] and fo["weights_unchanged"]
    assert fo["loss"][0] == pytest.approx(math.log(2), abs=1e-3)  # predicting 1/2 for everyone

    bp = m["forward_vs_backprop"]["backprop"]
    assert bp["loss"][-1] < bp["loss"][0] - 0.15
    assert bp["accuracy"][-1] > fo["accuracy"][-1] + 0.2
    assert m["forward_vs_backprop"]["textbook_vs_engine"]["max_abs_diff_loss"] < 1e-12

    final = m["learning_rates"]["final_loss_mean"]
    assert final["0.1"] < final["0.01"] < final["0.001"]
    assert m["learning_rates"]["ordered_slow_to_fast"]

    gc = m["gradient_check"]
    assert gc["max_rel_error"] < 1e-7 and gc["passed"] and gc["threshold"] == 1e-7
    assert {r["param"] for r in gc["at_init"]} == {"W1", "b1", "W2", "b2"}
    assert all(r["max_rel_error"] < 1e-7 for r in gc["at_init"] + gc["trained"])

    gen = m["generalisation"]
    assert gen["lr"] == 0.1
    assert abs(gen["final_test_accuracy"] - gen["bayes_test_accuracy"]) <= 0.02
    assert gen["final_test_loss"] < gen["bayes_test_log_loss"] + 0.02
    assert gen["logistic_test_accuracy"] == pytest.approx(gen["bayes_test_accuracy"], abs=0.02)

    nl = m["hidden_layer"]["nonlinear"]
    assert nl["network"]["test_accuracy"] > nl["logistic"]["test_accuracy"] + 0.03
    assert nl["bayes"]["test_log_loss"] < nl["network"]["test_log_loss"]
    assert nl["network"]["test_log_loss"] < nl["logistic"]["test_log_loss"]

    ib = m["inside_backprop"]
    assert len(ib["dead_share"]) == len(ib["layer_norms"]["layer 1"]) == m["config"]["epochs"]
    assert all(0.0 <= s <= 1.0 for s in ib["dead_share"])
    assert ib["first_ratio"] < 1  # tiny W2 shrinks the signal reaching layer 1


def test_divergent_runs_are_recorded_without_nan(default_report):
    out, m, _, _ = default_report
    text = (out / "metrics.json").read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    by_lr = {e["lr"]: e for e in m["learning_rates"]["rates"]}
    diverged = by_lr[30.0]
    assert diverged["verdict"] == "diverged"
    assert diverged["n_diverged"] == len(diverged["runs"]) == m["config"]["n_seeds"]
    for run in diverged["runs"]:
        assert run["status"] == "diverged"
        assert isinstance(run["diverged_at"], int) and run["diverged_at"] >= 1
        assert run["epochs_run"] == run["diverged_at"] == len(run["loss"])
        assert run["final_loss"] is None and run["final_accuracy"] is None
        assert run["divergence_reason"]
        assert all(math.isfinite(v) for v in run["loss"])
    assert diverged["final_loss_mean"] is None and diverged["loss_mean"] is None
    assert by_lr[10.0]["verdict"] == "unstable"  # overshoots: ends above its start
    assert by_lr[1.0]["verdict"] == "stable"
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"at lr 30, {diverged['n_diverged']} of {diverged['n_diverged']} runs diverged" in html


def test_html_parses_embeds_figures_and_loads_nothing_external(default_report):
    out, _, _, _ = default_report
    html = (out / "report.html").read_text(encoding="utf-8")
    parser = _Resources()
    parser.feed(html)
    parser.close()
    assert parser.tags[:1] == ["html"] and "main" in parser.tags
    assert "script" not in parser.tags and "link" not in parser.tags and "iframe" not in parser.tags
    assert len(parser.images) == len(FIGURES)
    for img, name in zip(parser.images, FIGURES, strict=True):
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        assert (
            base64.b64decode(img["src"][len(prefix) :])
            == (out / "figures" / f"{name}.png").read_bytes()
        )
        assert img["alt"].startswith("Figure ")
    for tag, key, value in parser.references:
        if tag == "img":
            continue
        assert value.startswith("#"), (tag, key, value)  # only links within the page
    style = " ".join(parser.style_text)
    assert "url(" not in style and "@import" not in style
    assert "http://" not in html and "https://" not in html


def test_report_states_the_numbers_in_metrics(default_report):
    out, m, _, _ = default_report
    html = (out / "report.html").read_text(encoding="utf-8")
    gen = m["generalisation"]
    assert f"test accuracy is {gen['final_test_accuracy']:.3f}" in html
    assert f"Bayes-optimal {gen['bayes_test_accuracy']:.3f}" in html
    assert f"{m['gradient_check']['max_rel_error']:.1e}" in html
    assert f"{m['forward_vs_backprop']['forward_only']['loss_first']:.4f} nats in every one" in html
    # the tutorial's values are shown beside ours
    assert "≈ 0.69" in html and "≈ 0.53" in html and "≈ 0.68" in html
    assert m["tutorial_comparison"]["agree"]["forward_only_loss"] is True
    assert m["tutorial_comparison"]["agree"]["learning_rate_order"] is True


def test_fairness_calibration_and_reasons_section(default_report):
    out, m, stdout, _ = default_report
    r = m["responsible"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert r["age_bands"] == ["under 25", "25-39", "40-61", "62 and over"]
    assert sum(r["by_age_band"][b]["count"]["value"] for b in r["age_bands"]) == r["n_test"]
    # approval rates per band, within their intervals; the gap is largest minus smallest
    rates = [r["by_age_band"][b]["selection_rate"] for b in r["age_bands"]]
    for rate in rates:
        assert rate["ci_low"] <= rate["value"] <= rate["ci_high"]
    dp = r["age_demographic_parity_difference"]
    values = [x["value"] for x in rates]
    assert dp["value"] == pytest.approx(max(values) - min(values), abs=1e-12)
    assert f"{100 * dp['value']:.1f} pp" in html
    # the network is calibrated within each band (the report says so only when it is)
    assert r["largest_abs_calibration_gap_by_band"] <= 0.05
    assert "it is calibrated within each band" in html

    # Regulation B: age lowers the risk in this data; no elderly borrower is adverse
    rb = r["regulation_b"]
    assert rb["n_elderly"] == r["by_age_band"]["62 and over"]["count"]["value"] > 50
    assert rb["passed"] and rb["n_adverse"] == 0
    assert r["max_completeness_gap"] <= 1e-3

    # planted bias: found with an interval excluding zero, near the planted size;
    # without it, the interval covers zero
    biased, control = r["planted"]
    assert biased["planted_bias"] == 1.0 and control["planted_bias"] == 0.0
    assert biased["planted_gap"] == pytest.approx(0.234, abs=0.002)
    diff = biased["approval_group_1_minus_group_0"]
    assert diff["ci_high"] < 0 and abs(-diff["value"] - biased["planted_gap"]) < 0.1
    c = control["approval_group_1_minus_group_0"]
    assert c["ci_low"] <= 0 <= c["ci_high"]
    assert r["claims"]["bias_found"] is True and "Backprop found the bias in the data" in html
    assert "planted bias     group approved" in stdout and ": found" in stdout

    # calibration: the ECE is the count-weighted mean |gap| of the reliability bins
    cal, bins = r["calibration"], r["reliability"]
    n = sum(b["count"] for b in bins)
    assert n == r["n_test"]
    ece = sum(b["count"] / n * abs(b["mean_predicted"] - b["observed_rate"]) for b in bins)
    assert cal["expected_calibration_error"] == pytest.approx(ece, rel=1e-12)
    assert cal["expected_calibration_error"] < 0.05
    assert f"expected calibration error {cal['expected_calibration_error']:.4f}" in html

    # importance: shares sum to 1; the two risk-raising features of the data lead
    imp = r["importance"]
    assert sum(row["share"] for row in imp) == pytest.approx(1.0)
    assert {row["feature"] for row in imp[:2]} == {"debt_to_income", "late_payments"}
    assert all(row["direction"] == 1 for row in imp[:2])

    # three example borrowers: at most four reasons each, strongest first, all in the page
    examples = r["examples"]
    assert [e["label"] for e in examples] == [
        "highest predicted risk",
        "declined, closest to the cut-off",
        "median predicted risk",
    ]
    assert examples[0]["p_default"] >= examples[1]["p_default"] >= 0.5 > examples[2]["p_default"]
    for e in examples:
        contributions = [x["contribution"] for x in e["reasons"]]
        assert 1 <= len(contributions) <= 4
        assert contributions == sorted(contributions, reverse=True) and contributions[-1] > 0
        for x in e["reasons"]:
            assert x["value"] == e["values"][x["feature"]]
            assert x["reason"].replace("'", "&#39;") in html


def test_summary_on_stdout_and_no_progress_bar_off_a_terminal(default_report):
    out, _, stdout, stderr = default_report
    lines = stdout.strip().splitlines()
    assert len(lines) <= 24
    assert lines[-1].startswith(f"report: {out / 'report.html'}")
    assert "gradient check" in stdout and "PASS" in stdout
    assert "30: diverged" in stdout
    # stderr is not a terminal here, so no bar: one line per finished stage instead
    assert "\r" not in stderr
    assert all(line.startswith("[") and line.endswith(" s") for line in stderr.splitlines())


def test_same_seed_same_bytes_and_quiet_is_silent(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    code, stdout, stderr = _run(["reproduce", "--out", str(first), "--quiet", *SMALL])
    assert (code, stdout, stderr) == (0, "", "")
    assert _run(["reproduce", "--out", str(second), "--quiet", *SMALL])[0] == 0
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(files) == 2 + 2 * len(FIGURES)
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    metrics = _strict_json((first / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["config"]["n"] == 400 and metrics["config"]["epochs"] == 40


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n", "10"], "n must be an integer of at least 100"),
        (["--epochs", "1"], "epochs must be an integer of at least 2"),
        (["--seed", "-1"], "seed must be a non-negative integer"),
    ],
)
def test_bad_settings_fail_with_one_line(tmp_path, argv, message):
    code, stdout, stderr = _run(["reproduce", "--out", str(tmp_path / "r"), *argv])
    assert code == 2 and stdout == ""
    assert stderr.startswith("backprop-lab: error: ") and message in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_out_must_be_a_folder(tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder", encoding="utf-8")
    code, _, stderr = _run(["reproduce", "--out", str(target), *SMALL])
    assert code == 2 and "is not a folder" in stderr
    assert Path(target).read_text(encoding="utf-8") == "not a folder"
