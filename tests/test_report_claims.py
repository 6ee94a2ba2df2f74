"""The report's words follow its numbers, over a grid of settings.

For each of six settings (n 500 to 10,000 borrowers, 50 to 1,000 epochs, seeds 0 to 2)
the report is built once (module cache) and every qualitative claim is checked twice:

1. its value in metrics.json against a rule recomputed here, independently of the
   report's code, from the raw numbers in metrics.json (thresholds are the named
   constants of the section modules);
2. the page against the value: the words for that value appear in the section, the
   words for every other value do not (none when the claim does not apply).

Then the numbers behind the rules that metrics.json cannot show (standard errors from
per-row losses, the planted-bias gaps on the test rows) are recomputed from the data,
and the grid is checked to reach both sides of the claims whose sentences it is meant
to exercise. Figures are built but not rendered (the page gets empty images), which
keeps the whole grid to about a minute and a half on two cores (the largest setting
runs its learning-rate sweep over two seeds instead of five: no claim needs more).
"""

from __future__ import annotations

import html
import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from backprop_lab.data.synthetic import GROUP_COLUMN, make_credit_risk, stratified_split
from backprop_lab.tutorial import report
from backprop_lab.tutorial.experiments import Config, run_all
from backprop_lab.tutorial.sections import (
    AGREEMENT,
    CALIBRATED_WITHIN,
    CLAIMS,
    held_out,
    inside,
    learning,
)


@dataclass(frozen=True)
class Setting:
    n: int
    epochs: int
    seed: int
    n_seeds: int = 5  # learning-rate sweep; fewer only where the sweep dominates the time

    def __str__(self) -> str:
        return f"n{self.n}-e{self.epochs}-s{self.seed}"


GRID = [
    Setting(500, 50, 1),  # far too short: the network barely leaves its start
    Setting(1000, 100, 0),  # the settings of the problem that prompted these checks
    Setting(2000, 300, 2),  # half-way: learning, not yet at the ceiling
    Setting(3000, 400, 1),  # near the ceiling; the network overshoots the planted gap
    Setting(5000, 500, 0),  # the default report
    Setting(10000, 1000, 2, n_seeds=2),  # long and large: near the ceiling everywhere
]
_BUILT: dict[Setting, tuple[Any, dict[str, Any], dict[str, str], dict[str, str]]] = {}


def _refuse(token: str) -> None:
    raise AssertionError(f"metrics.json contains {token}")


def _sections(page: str) -> dict[str, str]:
    """Section id -> its HTML."""
    return dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', page, re.S))


def _text(fragment: str) -> str:
    """Visible text: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def _table(section_html: str, caption_start: str) -> list[list[str]]:
    """The body rows (cell texts) of the section's table whose caption starts so."""
    for caption, body in re.findall(
        r"<table>\s*<caption>(.*?)</caption>(.*?)</table>", section_html, re.S
    ):
        if _text(caption).startswith(caption_start):
            rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
            return [[_text(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r)] for r in rows]
    raise AssertionError(f"no table captioned {caption_start!r}")


def built(setting: Setting) -> tuple[Any, dict[str, Any], dict[str, str], dict[str, str]]:
    """(Results, metrics.json as parsed, section texts, section HTML) of ``setting``,
    built once."""
    if setting not in _BUILT:
        config = Config(
            n=setting.n, epochs=setting.epochs, seed=setting.seed, n_seeds=setting.n_seeds
        )
        results = run_all(config)
        sections = report.build_sections(results)
        blank = {spec.name: (b"", b"") for s in sections for spec in s.figures}
        page = report.Report("claims", sections, report.build_metrics(config, sections), blank)
        metrics = json.loads(report.metrics_json(page.metrics), parse_constant=_refuse)
        parts = _sections(report.render_html(page))
        texts = {sid: _text(body) for sid, body in parts.items()}
        _BUILT[setting] = (results, metrics, texts, parts)
    return _BUILT[setting]


# ---------------------------------------------------------------------------------------
# The rules, restated from their descriptions, on metrics.json's numbers only
# ---------------------------------------------------------------------------------------
def _falls(values: list[float | None]) -> bool:
    return None not in values and all(a > b for a, b in itertools.pairwise(values))


def _by_rate(losses: dict[str, float | None]) -> list[float | None]:
    return [losses[k] for k in sorted(losses, key=float)]


def _inf(values: list[float | None]) -> list[float]:
    return [math.inf if v is None else v for v in values]


def _covers(row: dict[str, Any], x: float) -> bool | None:
    if row["ci_low"] is None:
        return None
    return row["ci_low"] <= x <= row["ci_high"]


def forward_rules(m: dict[str, Any]) -> dict[str, Any]:
    fo, bp, diff = m["forward_only"], m["backprop"], m["textbook_vs_engine"]
    return {
        "loss_flat_without_backprop": max(fo["loss"]) == min(fo["loss"]),
        "weights_unchanged": fo["weights_unchanged"],
        "backprop_loss_falls": bp["loss"][-1] < bp["loss"][0],
        "backprop_accuracy_rises": bp["accuracy"][-1] > bp["accuracy"][0],
        "textbook_matches_engine": diff["max_abs_diff_loss"] <= learning.SAME_TO_ROUND_OFF
        and diff["max_abs_diff_accuracy"] == 0,
    }


def learning_rate_rules(m: dict[str, Any]) -> dict[str, Any]:
    rates = {e["lr"]: e for e in m["rates"]}
    standard = {str(lr): rates[lr]["final_loss_mean"] for lr in m["learning_rates"]}
    every = {str(lr): e["final_loss_mean"] for lr, e in rates.items()}
    slow = rates[min(m["learning_rates"])]
    moved = (
        None
        if slow["final_loss_mean"] is None
        else (slow["first_loss_mean"] - slow["final_loss_mean"]) / slow["first_loss_mean"]
        < learning.BARELY_MOVED
    )
    return {
        "ordered_slow_to_fast": _falls(_by_rate(standard)),
        "slowest_barely_moved": moved,
        "order_stops_at_large_rates": not _falls(_inf(_by_rate(every)))
        if m["large_learning_rates"]
        else None,
    }


def gradient_check_rules(m: dict[str, Any]) -> dict[str, Any]:
    rows = m["at_init"] + m["trained"]
    e = m["tutorial_entry"]
    agrees = e["relative_error"] < m["threshold"]
    explained = None
    if e["crosses_kink"] and not agrees:
        explained = e["package_checked"] and e["package_error"] < m["threshold"]
    return {
        "passed": max(r["max_rel_error"] for r in rows) < m["threshold"],
        "all_kinks_rechecked": all(r["kinks_excluded"] == 0 for r in rows),
        "tutorial_entry_crosses_kink": e["crosses_kink"],
        "tutorial_entry_agrees": agrees,
        "kink_explains_it": explained,
    }


def generalisation_rules(m: dict[str, Any]) -> dict[str, Any]:
    shortfall = m["bayes_test_accuracy"] - m["final_test_accuracy"]
    rise = m["test_loss"][-1] - min(m["test_loss"])
    if rise > held_out.RISE_IN_SE * m["test_loss_se"]:
        fit = "overfitting"
    elif shortfall > held_out.NEAR_BAYES:
        fit = "underfitting"
    else:
        fit = "good_fit"
    return {
        "above_bayes": shortfall < 0,
        "near_bayes": None if shortfall < 0 else shortfall <= held_out.NEAR_BAYES,
        "fit": fit,
        "fits_training_better": m["final_test_loss"] - m["final_train_loss"]
        > held_out.GAP_IN_SE * m["train_test_gap_se"],
        "network_below_bayes_loss": m["final_test_loss"] < m["bayes_test_log_loss"],
        "logistic_below_bayes_loss": m["logistic_test_log_loss"] < m["bayes_test_log_loss"],
    }


def hidden_layer_rules(m: dict[str, Any]) -> dict[str, Any]:
    acc = {k: {s: v["test_accuracy"] for s, v in m[k].items()} for k in ("linear", "nonlinear")}
    nl = acc["nonlinear"]
    short_logistic = nl["bayes"] - nl["logistic"]
    beats = nl["network"] > nl["logistic"]
    falls_short = short_logistic > held_out.NEAR_BAYES
    closed = (nl["network"] - nl["logistic"]) / short_logistic if short_logistic else 0.0
    linear_close = all(
        abs(acc["linear"]["bayes"] - acc["linear"][k]) <= held_out.NEAR_BAYES
        for k in ("logistic", "network")
    )
    nl_loss = m["nonlinear"]
    return {
        "logistic_short_of_bayes": falls_short,
        "network_beats_logistic": beats,
        "closes_most_of_gap": closed > held_out.MOST_OF_GAP if beats and falls_short else None,
        "nonlinear_still_learning": None if beats else int(np.argmin(m["test_loss"][::-1])) == 0,
        "network_below_bayes_loss": nl_loss["network"]["test_log_loss"]
        < nl_loss["bayes"]["test_log_loss"],
        "linear_all_close": linear_close,
        "pays_off_only_when_curved": linear_close and beats and falls_short,
    }


def inside_rules(m: dict[str, Any]) -> dict[str, Any]:
    l1, l2 = m["layer_norms"]["layer 1"], m["layer_norms"]["layer 2"]
    close = max(1, round(inside.CLOSE_EPOCHS * len(l1)))
    return {
        "layer1_smaller_at_start": l1[0] < l2[0],
        "peak_near_steepest": abs(int(np.argmax(l1)) - m["steepest_epoch"]) <= close,
        "gradients_settled": l1[-1] < inside.SHRUNK * max(l1) and l2[-1] < inside.SHRUNK * max(l2),
        # the share at the start of every epoch, and after the last update
        "units_died": any(share > 0 for share in [*m["dead_share"], m["final_dead_share"]]),
    }


def comparison_rules(m: dict[str, Any]) -> dict[str, Any]:
    ours, theirs = m["ours"], m["tutorial"]

    def agrees(key: str) -> bool:
        return abs(ours[key] - theirs[key]) <= AGREEMENT

    standard = _by_rate(ours["learning_rate_final_losses"])
    ordered = _falls(standard)
    large = _by_rate(m["large_rate_final_losses"])
    majority = max(m["default_rate_train"], 1 - m["default_rate_train"])
    return {
        "forward_only_loss_agrees": agrees("forward_only_loss"),
        "forward_only_accuracy_agrees": agrees("forward_only_accuracy"),
        "untrained_no_better_than_majority": ours["forward_only_accuracy"] <= majority,
        "backprop_accuracy_agrees": agrees("backprop_accuracy"),
        "reaches_bayes": ours["backprop_accuracy"] >= m["bayes_train_accuracy"] - AGREEMENT,
        "ours_above_tutorial": None
        if agrees("backprop_accuracy")
        else ours["backprop_accuracy"] > theirs["backprop_accuracy"],
        "learning_rate_order_agrees": ordered,
        "order_stops_at_large_rates": not _falls(_inf(standard + large))
        if ordered and large
        else None,
    }


def responsible_rules(m: dict[str, Any]) -> dict[str, Any]:
    biased, control = m["planted"]
    net = biased["approval_group_1_minus_group_0"]
    versus = biased["network_minus_true_lender"]
    found = None if net["ci_high"] is None else net["ci_high"] < 0
    if versus["ci_low"] is None:
        compared = None
    elif versus["ci_high"] < 0:
        compared = "larger"  # the network approves group 1 even less than the lender
    elif versus["ci_low"] > 0:
        compared = "smaller"
    else:
        compared = "consistent"
    bands = m["by_age_band"].values()
    approvals = [b["selection_rate"]["value"] for b in bands]
    rb = m["regulation_b"]
    return {
        "age_approval_differs": max(approvals) > min(approvals),
        "calibrated_within_bands": all(
            abs(b["mean_predicted"]["value"] - b["default_rate"]["value"]) <= CALIBRATED_WITHIN
            for b in bands
        ),
        "regulation_b_passed": None if rb is None or rb["n_elderly"] == 0 else rb["n_adverse"] == 0,
        "bias_found": found,
        "planted_gap_in_interval": _covers(net, -biased["planted_gap"]),
        "network_vs_true_lender": compared,
        "reproduced": None
        if found is None or compared != "consistent"
        else ("reproduced" if found else "undecided"),
        "control_covers_zero": _covers(control["approval_group_1_minus_group_0"], 0.0),
    }


RULES = {
    "forward_vs_backprop": forward_rules,
    "learning_rates": learning_rate_rules,
    "gradient_check": gradient_check_rules,
    "generalisation": generalisation_rules,
    "hidden_layer": hidden_layer_rules,
    "inside_backprop": inside_rules,
    "tutorial_comparison": comparison_rules,
    "responsible": responsible_rules,
}


# ---------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------
def test_every_claim_has_distinct_words_for_each_value():
    assert set(CLAIMS) == set(RULES)
    for sid, claims in CLAIMS.items():
        for name, claim in claims.items():
            words = [w for w in claim.phrases.values() if w]
            assert words, (sid, name)
            for a, b in itertools.permutations(words, 2):
                assert a not in b, (sid, name, a, b)  # else the page check could not tell


@pytest.mark.parametrize("setting", GRID, ids=str)
def test_claims_follow_the_numbers(setting):
    _, metrics, _, _ = built(setting)
    decided = {
        sid: m["claims"] for sid, m in metrics.items() if isinstance(m, dict) and "claims" in m
    }
    assert set(decided) == set(RULES)
    for sid, rules in RULES.items():
        assert decided[sid] == rules(metrics[sid]), sid


@pytest.mark.parametrize("setting", GRID, ids=str)
def test_the_page_says_what_the_claims_say(setting):
    _, metrics, texts, _ = built(setting)
    for sid, claims in CLAIMS.items():
        text = texts[sid]
        for name, claim in claims.items():
            value = metrics[sid]["claims"][name]
            for option, words in claim.phrases.items():
                if not words:
                    continue
                shown = words in text
                assert shown == (value == option and value is not None), (
                    f"{setting} {sid}.{name} = {value!r}: the words for {option!r} "
                    f"{'appear' if shown else 'are missing'}: {words!r}"
                )


@pytest.mark.parametrize("setting", GRID, ids=str)
def test_tables_follow_the_numbers(setting):
    """The learning-rate verdicts and the tutorial comparison's agree/differ column."""
    _, metrics, _, parts = built(setting)
    rows = {r[0]: r[-1] for r in _table(parts["learning_rates"], "Training loss and accuracy")}
    for e in metrics["learning_rates"]["rates"]:
        if any(run["status"] == "diverged" for run in e["runs"]):
            verdict = "diverged"
        elif e["final_loss_mean"] > e["first_loss_mean"]:
            verdict = "unstable"
        else:
            verdict = "stable"
        assert e["verdict"] == verdict
        assert rows[f"{e['lr']:g}"].split(" ")[0] == verdict
    claims = metrics["tutorial_comparison"]["claims"]
    agree = [
        claims[k]
        for k in (
            "forward_only_loss_agrees",
            "forward_only_accuracy_agrees",
            "backprop_accuracy_agrees",
            "learning_rate_order_agrees",
        )
    ]
    table = _table(parts["tutorial_comparison"], "The tutorial's reported values")
    assert [r[-1] for r in table] == ["agree" if ok else "differ" for ok in agree]


def _row_losses(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """-[y log p + (1 - y) log(1 - p)] of the 7-8-1 ReLU network, written out here."""
    z = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z = z[:, 0]
    return np.logaddexp(0.0, z) - y * z


@pytest.mark.parametrize("setting", GRID, ids=str)
def test_standard_errors_behind_the_fit_claims(setting):
    results, metrics, _, _ = built(setting)
    split, params, gen = results.split, results.run.params, metrics["generalisation"]
    test = _row_losses(params, split.X_test, split.y_test)
    train = _row_losses(params, split.X_train, split.y_train)
    # the mean of the rows is the reported loss, up to round-off of a sum of 10^4 terms
    assert test.mean() == pytest.approx(gen["final_test_loss"], rel=1e-9)
    se_test = test.std(ddof=1) / math.sqrt(test.size)
    se_gap = math.sqrt(se_test**2 + train.var(ddof=1) / train.size)
    assert gen["test_loss_se"] == pytest.approx(se_test, rel=1e-9)
    assert gen["train_test_gap_se"] == pytest.approx(se_gap, rel=1e-9)


@pytest.mark.parametrize("setting", GRID, ids=str)
def test_tutorial_entry_as_the_tutorial_computes_it(setting):
    """W1[0, 0] at the initial weights: backprop's value, the central difference and the
    kink test, recomputed here from the weights and the training rows."""
    results, metrics, texts, _ = built(setting)
    e = metrics["gradient_check"]["tutorial_entry"]
    config, split = results.config, results.split
    rng = np.random.default_rng(config.seed)  # the tutorial's initialisation, restated
    W1 = config.init_scale * rng.standard_normal((7, config.hidden))
    W2 = config.init_scale * rng.standard_normal((config.hidden, 1))
    X, y = split.X_train, split.y_train.astype(np.float64)

    def loss(w1: np.ndarray) -> tuple[float, np.ndarray]:
        z1 = X @ w1
        z = (np.maximum(z1, 0.0) @ W2)[:, 0]
        return float(np.mean(np.logaddexp(0.0, z) - y * z)), z1[:, 0] > 0

    z1 = X @ W1
    p = 1.0 / (1.0 + np.exp(-(np.maximum(z1, 0.0) @ W2)[:, 0]))
    analytic = float(np.mean((p - y) * W2[0, 0] * (z1[:, 0] > 0) * X[:, 0]))
    h = config.gradcheck_eps
    up, down = W1.copy(), W1.copy()
    up[0, 0] += h
    down[0, 0] -= h
    (j_up, side_up), (j_down, side_down) = loss(up), loss(down)
    assert e["analytic"] == pytest.approx(analytic, rel=1e-9)
    # the difference of two losses near 0.69 keeps about 16 - 5 = 11 digits, / 2h
    assert e["numeric"] == pytest.approx((j_up - j_down) / (2 * h), abs=1e-9)
    side = z1[:, 0] > 0
    assert e["crosses_kink"] == bool(np.any(side_up != side) or np.any(side_down != side))
    assert f"{e['analytic']:.10f}" in texts["gradient_check"]
    assert f"{e['numeric']:.10f}" in texts["gradient_check"]


@pytest.mark.parametrize("setting", GRID, ids=str)
def test_planted_bias_gaps_on_the_test_borrowers(setting):
    """The lender's gap is recomputed from the data; the network's minus it, from both."""
    results, metrics, _, _ = built(setting)
    config = results.config
    biased = metrics["responsible"]["planted"][0]
    data = make_credit_risk(config.n, seed=config.seed, planted_bias=biased["planted_bias"])
    _, X_te, _, _ = stratified_split(data.X, data.y, test_size=config.test_size, seed=config.seed)
    p_true = data.p_default.to_numpy()[X_te.index.to_numpy()]
    group = X_te[GROUP_COLUMN].to_numpy()
    approved = p_true < metrics["responsible"]["threshold"]
    lender = approved[group == 1].mean() - approved[group == 0].mean()
    assert biased["true_lender_group_1_minus_group_0"]["value"] == pytest.approx(lender, abs=1e-12)
    net = biased["approval_group_1_minus_group_0"]["value"]
    assert biased["network_minus_true_lender"]["value"] == pytest.approx(net - lender, abs=1e-12)
    assert biased["group_sizes"] == {"0": int((group == 0).sum()), "1": int((group == 1).sum())}
    for key in ("true_lender_group_1_minus_group_0", "network_minus_true_lender"):
        row = biased[key]
        assert row["ci_low"] <= row["value"] <= row["ci_high"], key


@pytest.mark.parametrize("setting", GRID, ids=str)
def test_planted_table_shows_signed_gaps(setting):
    """The gaps in the planted-bias table are signed (group 0 minus group 1 approval),
    with the network's interval as in the audit; the never-negative parity difference,
    whose interval cannot reach zero, is not shown."""
    _, metrics, _, parts = built(setting)
    rows = _table(parts["responsible"], "Planted bias:")
    for row, run in zip(rows, metrics["responsible"]["planted"], strict=True):
        net = run["approval_group_1_minus_group_0"]
        shown = [float(x) for x in re.findall(r"-?\d+\.\d", row[3])]
        expected = [-100 * net["value"], -100 * net["ci_high"], -100 * net["ci_low"]]
        assert shown == pytest.approx(expected, abs=0.051), row
    assert "demographic-parity difference" not in _text(
        parts["responsible"].split("Planted bias:", 1)[1].split("</table>", 1)[0]
    )


# Claims whose opposite sentences the grid is meant to show, each with both values
# reached somewhere in GRID (checked, so a change to the grid cannot quietly lose one).
BOTH_SIDES = {
    "gradient_check": ["tutorial_entry_crosses_kink", "tutorial_entry_agrees"],
    "generalisation": ["near_bayes", "fit"],
    "hidden_layer": ["closes_most_of_gap", "linear_all_close", "pays_off_only_when_curved"],
    "inside_backprop": ["peak_near_steepest", "gradients_settled"],
    "tutorial_comparison": ["reaches_bayes", "ours_above_tutorial"],
    "responsible": [
        "age_approval_differs",
        "calibrated_within_bands",
        "bias_found",
        "planted_gap_in_interval",
        "network_vs_true_lender",
    ],
}


def test_the_grid_shows_both_sides_of_its_claims():
    seen: dict[tuple[str, str], set] = {}
    for setting in GRID:
        _, metrics, _, _ = built(setting)
        for sid, names in BOTH_SIDES.items():
            for name in names:
                seen.setdefault((sid, name), set()).add(metrics[sid]["claims"][name])
    for (sid, name), values in seen.items():
        assert len(values - {None}) >= 2, (sid, name, values)
