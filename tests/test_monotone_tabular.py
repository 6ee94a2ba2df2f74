"""Monotone constraints on named CSV columns: ``train --monotone``, ``fit_tabular(monotone=)``,
the model file, and the sign of ``explain``'s contributions.

Sign of a contribution. With integrated gradients from baseline x' (or gradient x input),
a_j = (x_j - x'_j) * mean over the path of df/dx_j. Under a constraint s_j on the logit of
default f, s_j df/dx_j >= 0 at every point, so s_j a_j (x_j - x'_j) >= 0: a column that may
only raise risk contributes with the sign of (x_j - x'_j), one that may only lower it with
the opposite sign, and a column at its baseline value contributes nothing. The network
input is (x_raw - mean) / scale with scale > 0, so the raw difference has the same sign.
This holds exactly in floating point (see tests/test_monotone.py): no tolerance.
"""

import numpy as np
import pandas as pd
import pytest
from cli_support import run

from backprop_lab import fit_tabular, load_model
from backprop_lab.classifier.modelio import read_model_file, write_model_file
from backprop_lab.data import make_credit_risk
from backprop_lab.responsible.explain import model_attributions
from backprop_lab.responsible.gradients import input_gradients

MONOTONE = {"late_payments": 1, "annual_income": -1, "debt_to_income": 1}


def loans(n, seed, positive_first=False):
    """Borrowers with a categorical 'region' column; labels 'bad'/'good' when asked (the
    positive class 'bad' then sorts first, so the network's logit is that of 'good')."""
    frame = make_credit_risk(n, seed=seed).frame()
    frame["region"] = np.random.default_rng(seed).choice(["north", "south", "east"], n)
    if positive_first:
        frame["default"] = np.where(frame["default"] == 1, "bad", "good")
    return frame


@pytest.fixture(scope="module", params=[False, True], ids=["positive-second", "positive-first"])
def model(request):
    frame = loans(1200, seed=4, positive_first=request.param)
    positive = "bad" if request.param else None
    return fit_tabular(
        frame, "default", positive=positive, monotone=MONOTONE, max_epochs=200, seed=0
    ), frame


def test_p_default_never_moves_against_the_constraint(model):
    model, frame = model
    assert model.monotone == MONOTONE
    assert model.training["monotone"] == MONOTONE
    X = model.transform(frame)
    g = input_gradients(model.network, X) * model.default_sign  # of the logit of default
    for name, sign in MONOTONE.items():
        j = model.feature_names_out.index(name)
        assert (sign * g[:, j] >= 0).all()
        for step in (0.01, 1.0):  # raw units of a tenth of a late payment, or a whole one
            shifted = frame.copy()
            shifted[name] = shifted[name] * (1 + step) + step  # strictly larger everywhere
            dp = sign * (model.p_default(shifted) - model.p_default(frame))
            # p = sigma(z) is 1/4-Lipschitz, and z's round-off is below 1e-12 for inputs of
            # a few standard deviations (tests/test_monotone.py's bound), so 1e-12 is ample
            assert dp.min() >= -1e-12


@pytest.mark.parametrize("baseline", ["zeros", "reference"])
@pytest.mark.parametrize("method", ["ig", "gradxinput"])
def test_explain_contributions_have_the_constraints_sign(model, method, baseline):
    model, frame = model
    rows = frame.iloc[:150]
    result = model_attributions(model, rows, method=method, baseline=baseline, reference=frame)
    X = model.transform(rows)
    if baseline == "zeros":
        B = np.zeros(X.shape[1])
    else:
        from backprop_lab.responsible.explain import reference_point

        B = reference_point(model, [model.transform(frame)], 0.5)
    for name, sign in MONOTONE.items():
        j = model.feature_names_out.index(name)
        a = result.attributions[name].to_numpy()
        assert (sign * a * (X[:, j] - B[j]) >= 0).all()
        assert (a[X[:, j] == B[j]] == 0).all()
        assert (a != 0).mean() > 0.5  # the property is not met by contributions of zero


def test_model_file_round_trip_keeps_and_checks_the_constraint(model, tmp_path):
    model, frame = model
    path = tmp_path / "m.blab"
    model.save(path)
    loaded = load_model(path)
    assert loaded.monotone == MONOTONE
    assert loaded.classifier.monotonic_cst == model.classifier.monotonic_cst
    np.testing.assert_array_equal(loaded.p_default(frame), model.p_default(frame))
    # weights that break the constraint (re-signed, so only the constraint check objects)
    metadata, arrays = read_model_file(path)
    j = model.feature_names_out.index("late_payments")
    arrays["W1"][j] = -np.abs(arrays["W1"][j]) * model.default_sign - 0.1
    arrays["W1"][j, 1::2] *= -1  # break it for units of either orientation
    write_model_file(tmp_path / "bad.blab", metadata, arrays)
    with pytest.raises(ValueError, match=r"does not satisfy monotonic_cst: W1\["):
        load_model(tmp_path / "bad.blab")


def test_unconstrained_model_file_has_no_constraint_entry(tmp_path):
    """A model without constraints is written as before (older versions read it)."""
    frame = loans(200, seed=5)
    model = fit_tabular(frame, "default", max_epochs=5)
    model.save(tmp_path / "m.blab")
    metadata, _ = read_model_file(tmp_path / "m.blab")
    assert "monotonic_cst" not in metadata["classifier"]
    assert load_model(tmp_path / "m.blab").monotone == {}


@pytest.mark.parametrize(
    ("cst", "message"),
    [
        ({"region": 1}, "column 'region': a monotone constraint needs a numeric column"),
        ({"salary": 1}, "column 'salary': no such column in the file; .* numeric feature"),
        ({"default": 1}, "column 'default': is not a feature"),
        ({"age": 2}, "column 'age': a monotone constraint is \\+1, -1 or 0"),
    ],
)
def test_fit_tabular_refuses_bad_columns(cst, message):
    with pytest.raises(ValueError, match=message):
        fit_tabular(loans(100, seed=6), "default", monotone=cst, max_epochs=2)


def test_multiclass_is_refused():
    frame = loans(150, seed=7)
    frame["default"] = np.arange(150) % 3
    with pytest.raises(ValueError, match="binary targets only"):
        fit_tabular(frame, "default", multiclass=True, monotone={"age": 1}, max_epochs=2)


# ---- the command line ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("monotone") / "loans.csv"
    loans(400, seed=8).to_csv(path, index=False)
    return path


def test_train_monotone_saves_and_reports(csv_file, tmp_path, capsys):
    out = tmp_path / "m.blab"
    status, stdout, err = run(
        [
            "train",
            csv_file,
            "--target",
            "default",
            "-o",
            out,
            "--epochs",
            "30",
            "--monotone",
            "late_payments=+1,annual_income=-1",
            "--monotone",
            "age=0",
        ],
        capsys,
    )
    assert status == 0, err
    assert (
        "monotone by construction: annual_income -1 (risk only falls with it), "
        "late_payments +1 (risk only rises with it)" in stdout
    )
    assert load_model(out).monotone == {"late_payments": 1, "annual_income": -1}
    status, stdout, err = run(["explain", out, csv_file, "-o", tmp_path / "r.csv"], capsys)
    assert status == 0, err
    assert "monotone by construction: annual_income -1" in stdout


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("region=+1", "column 'region': a monotone constraint needs a numeric column"),
        (
            "salary=+1",
            "column 'salary': no such column in the file; monotone constraints apply to the "
            "numeric feature columns: age, annual_income, debt_to_income",
        ),
        ("late_payments", "expected COLUMN=\\+1 or COLUMN=-1"),
        ("late_payments=up", "the sign of column 'late_payments' must be \\+1, -1 or 0"),
        ("age=+1,age=-1", "gives column 'age' two different signs"),
    ],
)
def test_train_monotone_errors(csv_file, tmp_path, capsys, option, message):
    out = tmp_path / "m.blab"
    status, _, err = run(
        ["train", csv_file, "--target", "default", "-o", out, "--monotone", option], capsys
    )
    assert status != 0
    assert pd.Series([err]).str.contains(message).all(), err
    assert not out.exists()


def test_calibration_that_would_reverse_the_constraints_is_refused(monkeypatch):
    """A Platt fit with a < 0 maps a rising logit to a falling probability: refused.
    (On real data a < 0 needs a network worse than chance on its calibration rows, so the
    fit is replaced here by one with a = -1.)"""
    from backprop_lab.classifier import fitting
    from backprop_lab.classifier.calibration import PlattScaling

    monkeypatch.setattr(fitting, "fit_calibrator", lambda method, z, y: PlattScaling(-1.0, 0.0))
    with pytest.raises(ValueError, match="decreasing map of the network's logit"):
        fit_tabular(loans(300, seed=9), "default", monotone={"age": -1}, calibrate="platt")
    # without constraints the same calibrator is accepted (nothing to reverse)
    fit_tabular(loans(300, seed=9), "default", calibrate="platt", max_epochs=5)
