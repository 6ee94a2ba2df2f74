"""The model card: its numbers come from the model file and the commands' JSON (each
recomputed here independently), user text is escaped, missing reports read 'not run',
and it never overwrites an input."""

from __future__ import annotations

import contextlib
import html
import io
import json
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from cli_support import digest, run
from hypothesis import given
from hypothesis import strategies as st

from backprop_lab.classifier.card_facts import RangeCounter, outward_range
from backprop_lab.classifier.fitting import fit_tabular
from backprop_lab.classifier.tabular_model import load_model
from backprop_lab.cli import main
from backprop_lab.data import make_credit_risk
from backprop_lab.responsible.card import auc_interval, build_card
from backprop_lab.responsible.card_sections import monotone_section
from backprop_lab.responsible.card_text import markdown_escape, render_card


def _loans(n: int, seed: int) -> pd.DataFrame:
    frame = make_credit_risk(n, seed=seed).frame()
    frame["purpose"] = np.where(frame.index % 3 == 0, "car", "home")
    return frame


def _cli(argv: list) -> None:
    """Run a command quietly; audit may exit 1 (a failed age check), nothing else may fail."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = main([str(a) for a in argv])
    assert status in (0, 1), argv


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A model trained by the command line, and what evaluate, audit and explain wrote."""
    folder = tmp_path_factory.mktemp("card")
    train, test = folder / "train.csv", folder / "test.csv"
    _loans(600, 0).to_csv(train, index=False)
    scored = _loans(400, 1)
    scored.loc[0, "annual_income"] = 1e9  # two rows beyond any training range
    scored.loc[1, "age"] = 150.0
    scored.to_csv(test, index=False)
    model = folder / "model.blab"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _cli(
            ["train", train, "--target", "default", "--hidden", "6", "--epochs", "80", "-o", model]
        )
        _cli(["evaluate", model, test, "-o", folder / "metrics.json", "--points"])
        _cli(
            [
                "audit",
                model,
                test,
                "--group",
                "purpose",
                "--n-bootstrap",
                "50",
                "-o",
                folder / "audit.json",
            ]
        )
        _cli(
            [
                "explain",
                model,
                test,
                "-o",
                folder / "reasons.csv",
                "--summary",
                folder / "explain.json",
            ]
        )
    return folder, train, test, model


def _card(files, capsys, suffix: str = "md", *extra: str) -> str:
    folder, _, _, model = files
    out = folder / f"card.{suffix}"
    status, _, err = run(["card", model, "-o", out, *extra], capsys)
    assert status == 0, err
    return out.read_text(encoding="utf-8")


def _all_reports(folder) -> list:
    return [
        "--evaluation",
        folder / "metrics.json",
        "--audit",
        folder / "audit.json",
        "--explanation",
        folder / "explain.json",
    ]


def test_the_card_holds_the_data_facts_recomputed_from_the_csv(files, capsys):
    folder, train, _, _ = files
    text = _card(files, capsys, "md", *_all_reports(folder))
    raw = pd.read_csv(train)
    assert f"| rows in the file | {len(raw):,} |" in text
    assert f"| columns in the file | {raw.shape[1]} |" in text
    rate = raw["default"].mean()
    assert (
        f"| all rows | {len(raw):,} | {int(raw['default'].sum()):,} | {100 * rate:.1f}% |" in text
    )
    assert "purpose (2 categories)" in text


def test_the_card_holds_the_evaluation_figures(files, capsys):
    folder, _, test, model = files
    text = _card(files, capsys, "md", *_all_reports(folder))
    report = json.loads((folder / "metrics.json").read_text())
    m = report["metrics"]
    # ROC AUC from the JSON, and recomputed from the test file with scikit-learn
    from sklearn.metrics import roc_auc_score

    raw = pd.read_csv(test)
    auc = roc_auc_score(raw["default"], load_model(model).p_default(raw))
    assert auc == pytest.approx(m["roc_auc"], abs=1e-12)
    n1 = int(raw["default"].sum())
    half = auc_interval(auc, n1, len(raw) - n1)
    assert f"| ROC AUC | {auc:.3f} (95% interval +-{half:.3f}, Hanley-McNeil) |" in text
    assert f"| expected calibration error | {m['expected_calibration_error']:.4f} |" in text
    # the score bands' rows add up to the file's rows
    band_rows = re.findall(r"^\| -?\d+ to -?\d+ \| (\d+) \|", text, re.M)
    assert sum(map(int, band_rows)) == len(raw)
    # rows outside the stored training ranges, counted with pandas
    ranges = load_model(model).model_card["numeric_ranges"]
    outside = np.zeros(len(raw), dtype=bool)
    for column, (lo, hi) in ranges.items():
        outside |= (raw[column] < lo) | (raw[column] > hi)
    assert outside[:2].all()
    assert report["outside_training_range"]["rows_outside"] == int(outside.sum())
    assert f"| rows outside the training range | {int(outside.sum()):,} of {len(raw):,} |" in text


def test_the_card_holds_the_audit_and_importance(files, capsys):
    folder, _, test, _ = files
    text = _card(files, capsys, "md", *_all_reports(folder))
    raw = pd.read_csv(test)
    counts = raw["purpose"].value_counts()
    for group, n in counts.items():
        rate = raw.loc[raw["purpose"] == group, "default"].mean()
        assert re.search(rf"^\| {group} \| {n:,} \| {100 * rate:.1f}% \|", text, re.M)
    assert "Regulation B age check (audit by purpose) |" in text
    summary = json.loads((folder / "explain.json").read_text())
    top = summary["importance"][0]
    assert f"| {top['feature']} | {100 * top['share']:.1f}% |" in text
    assert "## Monotone constraints\n\nnone" in text


def test_missing_reports_read_not_run(files, capsys):
    text = _card(files, capsys, "md")
    section = text.split("## Fairness audit and Regulation B", 1)[1].split("##", 1)[0]
    assert section.strip().startswith("not run")
    assert "## Evaluation\n\nnot run" in text
    assert "## Most important inputs\n\nnot computed" in text
    assert "No fairness audit was given" in text


def test_html_card_is_a_page_with_the_same_numbers(files, capsys):
    folder, train, _, _ = files
    page = _card(files, capsys, "html", *_all_reports(folder))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    raw = pd.read_csv(train)
    assert f"<td>{len(raw):,}</td>" in page
    assert "<script" not in page


def test_refuses_to_overwrite_the_model_or_a_report(files, capsys):
    folder, _, _, model = files
    before = digest(model)
    status, _, err = run(["card", model, "-o", model], capsys)
    assert status == 2 and "-o" in err and digest(model) == before
    report = folder / "metrics.json"
    before = digest(report)
    status, _, err = run(["card", model, "--evaluation", report, "-o", report], capsys)
    assert status == 2 and digest(report) == before
    status, _, err = run(["card", model, "-o", folder / "card.txt"], capsys)
    assert status == 2 and ".md or .html" in err


def test_refuses_a_report_of_another_model(files, capsys, tmp_path):
    folder, _, _, model = files
    report = json.loads((folder / "metrics.json").read_text())
    report["model_sha256"] = "0" * 64
    other = tmp_path / "other.json"
    other.write_text(json.dumps(report))
    status, _, err = run(["card", model, "--evaluation", other, "-o", tmp_path / "c.md"], capsys)
    assert status == 2 and "another model file" in err
    assert not (tmp_path / "c.md").exists()


def test_refuses_json_that_is_not_a_report(files, capsys, tmp_path):
    _, _, _, model = files
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    status, _, err = run(["card", model, "--audit", bad, "-o", tmp_path / "c.md"], capsys)
    assert status == 2 and "not the JSON audit writes" in err


# ---- user text is escaped -----------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A model whose column and group names are markup."""
    folder = tmp_path_factory.mktemp("hostile")
    frame = make_credit_risk(400, seed=2).frame().rename(columns={"age": "<script>"})
    frame["region"] = np.where(frame.index % 2 == 0, "<b>north</b>", "south|`x`")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_tabular(frame, "default", hidden_layer_sizes=(4,), max_epochs=20, verbose=False)
    model.save(folder / "model.blab")
    frame.to_csv(folder / "data.csv", index=False)
    return folder


@pytest.mark.parametrize("suffix", ["md", "html"])
def test_markup_in_column_and_group_names_is_escaped(hostile, capsys, suffix):
    folder = hostile
    model = folder / "model.blab"
    status, _, err = run(
        [
            *["audit", model, folder / "data.csv", "--group", "region"],
            *["--n-bootstrap", "20", "-o", folder / "audit.json"],
        ],
        capsys,
    )
    assert status in (0, 1), err
    out = folder / f"card.{suffix}"
    status, _, err = run(["card", model, "--audit", folder / "audit.json", "-o", out], capsys)
    assert status == 0, err
    text = out.read_text(encoding="utf-8")
    assert "<script>" not in text and "<b>" not in text
    assert "&lt;script&gt;" in text and "&lt;b&gt;north&lt;/b&gt;" in text
    if suffix == "md":
        assert "south\\|\\`x\\`" in text  # a bar cannot split a table cell
    else:
        assert html.escape("south|`x`", quote=False) in text


@given(st.text(max_size=40))
def test_markdown_escape_leaves_no_raw_markup(text):
    out = markdown_escape(text)
    assert "<" not in out and ">" not in out and "\n" not in out
    assert re.search(r"(?<!\\)\|", out) is None  # every bar escaped
    assert re.search(r"(?<!\\)`", out) is None


# ---- model files and the card's rules -----------------------------------------------------
def test_an_old_model_file_reads_not_recorded(tmp_path):
    frame = _loans(300, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_tabular(frame, "default", hidden_layer_sizes=(4,), max_epochs=10, verbose=False)
    model.model_card = {}  # as saved before training recorded it
    model.save(tmp_path / "old.blab")
    assert load_model(tmp_path / "old.blab").model_card == {}
    card = build_card(tmp_path / "old.blab")
    text = render_card(card, "md")
    assert "| columns in the file | not recorded |" in text
    assert "| rows by split and default rate | not recorded" in text


def test_training_records_the_splits(tmp_path):
    frame = _loans(500, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_tabular(
            frame,
            "default",
            hidden_layer_sizes=(4,),
            max_epochs=10,
            verbose=False,
            calibrate="platt",
        )
    model.save(tmp_path / "m.blab")
    facts = load_model(tmp_path / "m.blab").model_card
    s = facts["splits"]
    assert (
        s["all"]["rows"]
        == len(frame)
        == sum(s[k]["rows"] for k in ("train", "calibration", "test"))
    )
    assert s["all"]["defaults"] == int(frame["default"].sum())
    assert s["all"]["default_rate"] == pytest.approx(frame["default"].mean(), abs=1e-15)
    assert facts["label_counts"] == [
        [0, int((frame["default"] == 0).sum())],
        [1, int(frame["default"].sum())],
    ]


@given(st.floats(-1e12, 1e12), st.floats(0, 1e12))
def test_outward_range_holds_the_true_range_to_two_digits(least, width):
    largest = least + width
    lo, hi = outward_range(least, largest)
    assert lo <= least and hi >= largest
    for v in (lo, hi):  # two significant digits
        assert v == 0 or float(f"{v:.2g}") == pytest.approx(v, rel=1e-12)


def test_range_counter_counts_rows_outside(tmp_path):
    counter = RangeCounter({"a": [0.0, 1.0], "b": [10.0, 20.0]})
    counter.add(pd.DataFrame({"a": [0.5, -1, 2, None], "b": [15, 15, 25, 30]}))
    assert counter.to_dict() == {"rows": 4, "rows_outside": 3, "by_column": {"a": 2, "b": 2}}


def test_hanley_mcneil_by_hand():
    # A = 0.5, n1 = n0 = 100: Q1 = Q2 = 1/3, SE^2 = (0.25 + 2 * 99 * (1/3 - 1/4)) / 100^2
    # = 0.001675, SE = 0.0409268..., half-width 1.96 SE = 0.0802165...
    assert auc_interval(0.5, 100, 100) == pytest.approx(1.96 * math.sqrt(0.001675), rel=1e-12)
    assert auc_interval(None, 10, 10) is None and auc_interval(0.7, 0, 10) is None


def test_monotone_constraints_are_read_where_present():
    pre = {
        "numeric": [{"name": "a"}, {"name": "b"}],
        "categorical": [{"name": "c", "categories": ["x", "y"]}],
    }
    meta = {"classifier": {}, "preprocessing": pre}
    assert monotone_section(meta).paragraphs == ["none"]
    meta["classifier"]["monotonic_cst"] = [1, -1, 0]  # one per raw column
    assert dict(monotone_section(meta).facts) == {"a": "increasing", "b": "decreasing"}
    meta["classifier"]["monotonic_cst"] = [0, -1, 0, 0]  # one per network input
    assert dict(monotone_section(meta).facts) == {"b": "decreasing"}
    meta = {"classifier": {}, "preprocessing": pre, "monotonic_cst": {"a": 1, "c": 0}}
    assert dict(monotone_section(meta).facts) == {"a": "increasing"}
    meta["monotonic_cst"] = {"a": 0}
    assert monotone_section(meta).paragraphs == ["none (every input unconstrained)"]


def test_auto_settings_are_shown_as_set_and_as_used(files, capsys):
    """The defaults optimizer='auto' and alpha='auto' resolve at fit time: the card says
    what ran (600 rows: Adam, and five fold networks averaged, each with alpha 10)."""
    from backprop_lab.classifier.tabular_model import load_model

    _, _, _, model_path = files
    model = load_model(model_path)
    clf = model.classifier
    text = _card(files, capsys)
    assert f"| optimizer | auto ({clf.optimizer_} used), learning rate 0.01 |" in text
    assert model.training["networks_averaged"] == 5 and model.training["alpha_used"] == 10.0
    assert "| L2 strength (alpha) | auto (10.0; 5 fold networks averaged) |" in text
