"""Calibration: reliability curves, Brier score, ECE, Platt and temperature scaling."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit
from sklearn.calibration import calibration_curve
from sklearn.metrics import log_loss

from backprop_lab._util.validation import InputError
from backprop_lab.classifier.calibration import (
    PlattScaling,
    TemperatureScaling,
    brier_score,
    calibration_summary,
    calibrator_from_dict,
    expected_calibration_error,
    fit_calibrator,
    log_loss_from_logits,
    reliability_curve,
)
from backprop_lab.data import Standardizer, make_credit_risk, stratified_split
from backprop_lab.engine.training import train
from backprop_lab.nn import mlp
from backprop_lab.nn.optim import GradientDescent
from backprop_lab.responsible.figures import reliability_figure, save_figure


def _logistic_sample(n: int, seed: int, spread: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """True logits z ~ N(0, spread^2) and labels y ~ Bernoulli(sigma(z))."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, spread, n)
    return z, (rng.random(n) < expit(z)).astype(np.int64)


def test_reliability_curve_and_ece_by_hand() -> None:
    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.15, 0.15, 0.85, 0.95, 0.5])
    # uniform, 2 bins: [0, 0.5] (p = 0.5 goes to the lower bin) and (0.5, 1].
    curve = reliability_curve(y, p, n_bins=2)
    assert curve["bin"].tolist() == [0, 1] and curve["count"].tolist() == [4, 2]
    np.testing.assert_allclose(curve["mean_predicted"], [0.85 / 4, 0.9])
    np.testing.assert_allclose(curve["observed_rate"], [0.25, 1.0])
    # ECE = 4/6 |0.2125 - 0.25| + 2/6 |0.9 - 1| = 0.025 + 0.0333...
    ece = expected_calibration_error(y, p, n_bins=2)
    assert ece == pytest.approx(4 / 6 * 0.0375 + 2 / 6 * 0.1, abs=1e-15)
    # Brier = mean of (0.05^2, 0.15^2, 0.85^2, 0.15^2, 0.05^2, 0.5^2)
    assert brier_score(y, p) == pytest.approx((2 * 0.0025 + 2 * 0.0225 + 0.7225 + 0.25) / 6)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_curve_agrees_with_sklearn(strategy: str) -> None:
    z, y = _logistic_sample(3000, seed=1)
    p = expit(z)
    curve = reliability_curve(y, p, n_bins=10, strategy=strategy)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy=strategy)
    np.testing.assert_array_equal(curve["observed_rate"], observed)
    np.testing.assert_array_equal(curve["mean_predicted"], predicted)
    assert curve["count"].sum() == 3000
    # a calibrated model: ECE small, well under a deliberately over-confident one
    assert expected_calibration_error(y, p, strategy=strategy) < 0.04
    assert expected_calibration_error(y, expit(3 * z), strategy=strategy) > 0.1


def test_one_class_and_bad_inputs() -> None:
    curve = reliability_curve([0, 0, 0], [0.1, 0.2, 0.7], n_bins=2)
    assert curve["observed_rate"].tolist() == [0.0, 0.0]
    assert curve["count"].tolist() == [2, 1]
    with pytest.raises(InputError, match="column 'p_pred', row 1: must be a probability"):
        brier_score([0, 1], [0.2, 1.5])
    with pytest.raises(InputError, match="column 'y_true', row 0: must hold 0 or 1"):
        expected_calibration_error([3, 1], [0.2, 0.5])
    with pytest.raises(ValueError, match="strategy must be one of"):
        reliability_curve([0, 1], [0.2, 0.5], strategy="kmeans")
    with pytest.raises(ValueError, match="y_true has 2 labels but p_pred has 3"):
        brier_score([0, 1], [0.2, 0.5, 0.3])
    with pytest.raises(ValueError, match="both classes"):
        TemperatureScaling().fit([0.1, 0.3], [1, 1])


def test_log_loss_from_logits_is_stable() -> None:
    z = np.array([-2.0, 0.5, 3.0])
    y = np.array([0, 1, 1])
    assert log_loss_from_logits(y, z) == pytest.approx(log_loss(y, expit(z)), rel=1e-12)
    # sigma(1000) rounds to 1 in float64; the loss of a confident mistake is still 1000.
    assert log_loss_from_logits([0], [1000.0]) == pytest.approx(1000.0)
    assert log_loss_from_logits([1], [1000.0]) == 0.0


@pytest.mark.parametrize("temperature", [2.5, 0.5])
def test_temperature_fit_recovers_a_known_temperature(temperature: float) -> None:
    z, y = _logistic_sample(20_000, seed=2)
    scaler = TemperatureScaling().fit(temperature * z, y)  # logits miscalibrated by T
    assert scaler.temperature == pytest.approx(temperature, rel=0.05)
    np.testing.assert_allclose(
        scaler.predict_proba(temperature * z), expit(z * temperature / scaler.temperature)
    )


def test_platt_fit_recovers_a_known_slope_and_offset() -> None:
    z, y = _logistic_sample(20_000, seed=3)
    shown = (z - 0.7) / 2.0  # so the truth is sigma(2 * shown + 0.7)
    platt = PlattScaling().fit(shown, y)
    assert platt.a == pytest.approx(2.0, rel=0.05)
    assert platt.b == pytest.approx(0.7, abs=0.07)


def test_calibration_repairs_a_deliberately_overconfident_network(tmp_path) -> None:
    data = make_credit_risk(6000, seed=0)
    X_tr, X_rest, y_tr, y_rest = stratified_split(data.X, data.y, test_size=4000, seed=0)
    X_val, X_te, y_val, y_te = stratified_split(X_rest, y_rest, test_size=2000, seed=1)
    scaler = Standardizer().fit(X_tr)
    model = mlp(7, hidden=(8,), seed=0)
    train(
        model, scaler.transform(X_tr), y_tr.to_numpy(), optimizer=GradientDescent(0.5), epochs=500
    )
    # Miscalibrate on purpose: scale the output layer so every logit is 3 times too big.
    params = model.get_params()
    model.set_params({**params, "W2": 3 * params["W2"], "b2": 3 * params["b2"]})
    z_val = model.forward(scaler.transform(X_val))[:, 0]
    z_te = model.forward(scaler.transform(X_te))[:, 0]
    y_val, y_te = y_val.to_numpy(), y_te.to_numpy()

    temp = fit_calibrator("temperature", z_val, y_val)
    platt = fit_calibrator("platt", z_val, y_val)
    assert temp.temperature == pytest.approx(3.0, rel=0.15)
    before = calibration_summary(y_te, expit(z_te))
    for calibrator in (temp, platt):
        after = calibration_summary(y_te, calibrator.predict_proba(z_te))
        assert after["log_loss"] < before["log_loss"] - 0.1
        assert after["expected_calibration_error"] < before["expected_calibration_error"] / 3
        assert after["brier_score"] < before["brier_score"]
    # Temperature scaling keeps every decision at the 0.5 cut-off.
    np.testing.assert_array_equal(temp.predict_proba(z_te) < 0.5, z_te < 0)

    fig = reliability_figure(
        {
            "over-confident": reliability_curve(y_te, expit(z_te)),
            "temperature scaled": reliability_curve(y_te, temp.predict_proba(z_te)),
        }
    )
    top = fig.axes[0]
    assert top.get_ylabel() == "observed default rate"
    assert [t.get_text() for t in top.get_legend().get_texts()] == [
        "perfect calibration",
        "over-confident",
        "temperature scaled",
    ]
    assert save_figure(fig, tmp_path / "reliability.svg").read_text().startswith("<?xml")


def test_json_round_trip() -> None:
    z, y = _logistic_sample(2000, seed=4)
    for calibrator in (TemperatureScaling().fit(2 * z, y), PlattScaling().fit(2 * z - 1, y)):
        text = json.dumps(calibrator.to_dict())
        again = calibrator_from_dict(json.loads(text))
        assert type(again) is type(calibrator) and again == calibrator
        np.testing.assert_array_equal(again.predict_proba(z), calibrator.predict_proba(z))
    assert TemperatureScaling(2.0).to_dict() == {"method": "temperature", "temperature": 2.0}
    with pytest.raises(ValueError, match="unknown calibration method 'isotonic'"):
        calibrator_from_dict({"method": "isotonic"})
    with pytest.raises(ValueError, match="'temperature' must be a finite number"):
        calibrator_from_dict({"method": "temperature", "temperature": "hot"})
    with pytest.raises(ValueError, match="temperature must be positive"):
        calibrator_from_dict({"method": "temperature", "temperature": -1.0})
    with pytest.raises(ValueError, match="'b' must be a finite number"):
        calibrator_from_dict({"method": "platt", "a": 1.0, "b": float("nan")})
