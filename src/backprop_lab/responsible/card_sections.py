"""The sections of a model card (see :mod:`backprop_lab.responsible.card`), each from the
model file or a command's JSON report, and the limitations their numbers imply.

ROC AUC's 95% interval is +-1.96 SE by Hanley and McNeil (1982), with A the AUC and
n1, n0 the defaults and non-defaults:

    SE^2 = (A (1 - A) + (n1 - 1)(Q1 - A^2) + (n0 - 1)(Q2 - A^2)) / (n1 n0),
    Q1 = A / (2 - A),   Q2 = 2 A^2 / (1 + A).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from ..classifier.tabular_model import TabularModel
from .card_text import Section, fmt, pct

#: Above this half-width of ROC AUC's 95% interval, the set scored is called small.
WIDE_AUC_HALF_WIDTH = 0.05
#: Above this expected calibration error (ten equal-width bins), p_default is not
#: to be read at face value.
LARGE_ECE = 0.05
#: Audit groups with fewer rows get a limitation (their rates' intervals are wide).
FEW_GROUP_ROWS = 100
#: The four-fifths rule on the approval-rate ratio across groups.
FOUR_FIFTHS = 0.8


def auc_interval(auc: float, defaults: int, goods: int, z: float = 1.96) -> float | None:
    """Half-width z * SE of ROC AUC by Hanley and McNeil (None without both classes)."""
    if auc is None or defaults < 1 or goods < 1:
        return None
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (defaults - 1) * (q1 - auc**2) + (goods - 1) * (q2 - auc**2)) / (
        defaults * goods
    )
    return z * math.sqrt(max(var, 0.0))


# ---- the sections --------------------------------------------------------------------------
def purpose_section(model: TabularModel, path: str | Path, sha: str) -> Section:
    n_in = len(model.input_columns)
    if model.is_binary:
        text = (
            f"Estimates the probability that {model.target} = {model.positive_class} (the "
            f"probability of default, p_default) for each row, from {n_in} input column(s); "
            "a lender approves when p_default is below a cut-off."
        )
    else:
        classes = ", ".join(map(str, model.classes_))
        text = f"Estimates the probability of each value of {model.target} ({classes}) from {n_in} input column(s)."
    return Section(
        "What the model is for",
        paragraphs=[text],
        facts=[
            ("model file", Path(path).name),
            ("SHA-256", sha),
            ("saved by backprop-lab", model.version),
        ],
    )


def data_section(model: TabularModel, limits: list[str]) -> Section:
    card, t = model.model_card, model.training
    facts = [
        ("training file", t.get("file") or "not recorded"),
        ("rows in the file", fmt(t.get("rows"))),
        ("columns in the file", fmt(card.get("columns"))),
    ]
    splits = card.get("splits", {})
    rows = []
    for name, label in (
        ("all", "all rows"),
        ("train", "network training"),
        ("calibration", "calibration"),
        ("test", "held out"),
    ):
        s = splits.get(name)
        if not s or not s.get("rows"):  # no calibration rows without --calibrate
            continue
        rows.append([label, fmt(s["rows"]), fmt(s.get("defaults")), pct(s.get("default_rate"))])
    pre = model.preprocessor
    facts += [
        ("numeric inputs", ", ".join(c.name for c in pre.numeric) or "none"),
        (
            "categorical inputs",
            ", ".join(f"{c.name} ({len(c.categories)} categories)" for c in pre.categorical)
            or "none",
        ),
        ("not used", ", ".join(model.ignored_columns) or "none"),
        ("missing values", {"none": "refused"}.get(pre.impute, f"filled ({pre.impute})")),
        ("dates of the data", "not recorded"),
    ]
    tables = []
    if rows:
        tables.append(
            {
                "caption": "rows by split",
                "header": ["split", "rows", "defaults", "default rate"],
                "rows": rows,
            }
        )
    else:
        facts.append(
            ("rows by split and default rate", "not recorded (model saved before they were)")
        )
    return Section("Data", facts=facts, tables=tables)


def _resolved(setting: object, used: object) -> str:
    """'auto (adam used)' for a setting that resolved at fit time, else the setting."""
    if setting == "auto" and used not in (None, "auto"):
        return f"auto ({used} used)"
    return fmt(setting) if not isinstance(setting, str) else setting


def _alpha_text(setting: object, training: dict) -> str:
    """The L2 strength as set and as used: 'auto (10; 5 fold networks averaged)'."""
    used, networks = training.get("alpha_used"), training.get("networks_averaged")
    if setting != "auto" or used is None:
        return fmt(setting)
    averaged = f"; {networks} fold networks averaged" if networks and networks > 1 else ""
    return f"auto ({fmt(used)}{averaged})"


def network_section(model: TabularModel, metadata: dict, limits: list[str]) -> Section:
    net, clf, fit = metadata["network"], metadata["classifier"], metadata.get("fit", {})
    sizes = [net["n_inputs"], *net["hidden"], net["n_outputs"]]
    n_params = sum(a * b + b for a, b in itertools.pairwise(sizes))
    t = model.training
    facts = [
        ("layers", "-".join(map(str, sizes)) + f" ({n_params:,} parameters)"),
        ("activation, output", f"{net['activation']}, {net.get('output', 'not recorded')}"),
        (
            "optimizer",
            f"{_resolved(clf.get('optimizer'), fit.get('optimizer'))}, learning rate {fmt(clf.get('learning_rate'))}",
        ),
        ("batch size", "full batch" if clf.get("batch_size") is None else fmt(clf["batch_size"])),
        ("L2 strength (alpha)", _alpha_text(clf.get("alpha"), t)),
        (
            "epochs",
            f"{fmt(fit.get('epochs'))} run of at most {fmt(clf.get('max_epochs'))}; weights kept from epoch {fmt(fit.get('best_epoch'))}",
        ),
        (
            "stopping",
            "early stopping on validation log loss"
            if fit.get("early_stopping")
            else "training loss (no early stopping)",
        ),
        ("held-out share, seed", f"{fmt(t.get('test_size'))}, {fmt(t.get('seed'))}"),
    ]
    if not fit.get("early_stopping") and fit.get("epochs") == clf.get("max_epochs"):
        limits.append(
            f"Training stopped at its limit of {clf.get('max_epochs')} epochs, not because the "
            "loss stopped improving: a longer run may fit differently."
        )
    return Section("Network and training", facts=facts)


def _metric_facts(
    m: dict, limits: list[str], where: str, calibrated: bool
) -> list[tuple[str, str]]:
    """ROC AUC with its interval, Gini, KS, log loss, Brier, ECE, and the limits they imply."""
    defaults, n = m.get("defaults", 0), m.get("n", 0)
    half = auc_interval(m.get("roc_auc"), defaults, n - defaults)
    auc = fmt(m.get("roc_auc"), ".3f")
    if half is not None:
        auc += f" (95% interval +-{half:.3f}, Hanley-McNeil)"
    facts = [
        ("rows, defaults", f"{n:,}, {defaults:,} ({pct(m.get('default_rate'))})"),
        ("mean p_default", pct(m.get("mean_predicted"))),
        ("ROC AUC", auc),
        ("Gini, KS", f"{fmt(m.get('gini'), '.3f')}, {fmt(m.get('ks'), '.3f')}"),
        ("log loss, Brier score", f"{fmt(m.get('log_loss'), '.4f')}, {fmt(m.get('brier'), '.4f')}"),
        ("expected calibration error", fmt(m.get("expected_calibration_error"), ".4f")),
    ]
    if half is not None and half > WIDE_AUC_HALF_WIDTH:
        limits.append(
            f"The {where} has {n:,} rows ({defaults:,} defaults): ROC AUC's 95% interval is "
            f"+-{half:.3f}, wider than +-{WIDE_AUC_HALF_WIDTH}; a larger labelled set would "
            "pin it down."
        )
    ece = m.get("expected_calibration_error")
    if ece is not None and ece > LARGE_ECE:
        limits.append(
            f"On the {where}, predicted and observed default rates differ by {ece:.3f} on "
            f"average (expected calibration error above {LARGE_ECE}): do not read p_default "
            "at face value"
            + (
                " even after its post-hoc calibration."
                if calibrated
                else " (see train --calibrate)."
            )
        )
    return facts


def held_out_section(model: TabularModel, limits: list[str]) -> Section:
    m = model.metrics
    if not m or "roc_auc" not in m:
        text = (
            "not recorded (no rows were held out)" if not m else "see the model file (multiclass)"
        )
        return Section("Held-out metrics at training", paragraphs=[text])
    return Section(
        "Held-out metrics at training",
        paragraphs=["Rows held out of training, scored when the model was saved."],
        facts=_metric_facts(m, limits, "held-out set at training", model.calibrator is not None),
    )


def evaluation_section(model: TabularModel, ev: dict | None, path, limits: list[str]) -> Section:
    title = "Evaluation"
    if ev is None:
        limits.append("No evaluation on a separate labelled file was given (card --evaluation).")
        return Section(
            title,
            paragraphs=[
                "not run (run evaluate -o metrics.json, then card --evaluation metrics.json)"
            ],
        )
    m = ev["metrics"]
    if "roc_auc" not in m:
        return Section(title, paragraphs=[f"{Path(path).name}: a multiclass evaluation"])
    facts = [
        ("file", str(ev.get("data", "not recorded"))),
        *_metric_facts(m, limits, "evaluation file", model.calibrator is not None),
    ]
    tables = []
    if m.get("score_bands"):
        scale = m["points_scale"]
        tables.append(
            {
                "caption": f"score bands ({scale['base_score']:g} points at good:bad odds {scale['base_odds']:g}:1, {scale['pdo']:g} points to double)",
                "header": [
                    "points",
                    "rows",
                    "defaults",
                    "observed default rate",
                    "predicted default rate",
                ],
                "rows": [
                    [
                        f"{b['low']:g} to {b['high']:g}",
                        fmt(b["rows"]),
                        fmt(b["defaults"]),
                        pct(b["observed_rate"]),
                        pct(b["predicted_rate"]),
                    ]
                    for b in m["score_bands"]
                ],
            }
        )
    outside = ev.get("outside_training_range")
    if outside is None:
        facts.append(("rows outside the training range", "not recorded"))
    else:
        facts.append(
            (
                "rows outside the training range",
                f"{outside['rows_outside']:,} of {outside['rows']:,}",
            )
        )
        if outside["rows_outside"]:
            cols = ", ".join(f"{k} ({v:,})" for k, v in outside["by_column"].items() if v)
            limits.append(
                f"{outside['rows_outside']:,} of the {outside['rows']:,} evaluation rows have a "
                f"numeric input outside its training range ({cols}): the network extrapolates there."
            )
    return Section(title, facts=facts, tables=tables)


def calibration_section(model: TabularModel, ev: dict | None) -> Section:
    title = "Calibration"
    if not model.is_binary:
        return Section(title, paragraphs=["not applicable (multiclass)"])
    if model.calibrator is None:
        facts = [("post-hoc calibration", "none (the network's own probabilities)")]
    else:
        d, c = model.calibrator.to_dict(), model.training.get("calibration", {})
        how = (
            f"Platt scaling, p = sigmoid({d['a']:.4g} z + {d['b']:.4g})"
            if d["method"] == "platt"
            else f"temperature scaling, p = sigmoid(z / {d['temperature']:.4g})"
        )
        facts = [
            ("post-hoc calibration", how),
            ("fitted on", f"{fmt(c.get('rows'))} training rows set aside"),
            (
                "their log loss",
                f"{fmt(c.get('log_loss_before'), '.4f')} before, {fmt(c.get('log_loss_after'), '.4f')} after",
            ),
        ]
    cal = None if ev is None else ev.get("calibration")
    if cal is not None:
        line = f"Brier {cal['brier_score']:.4f}, ECE {cal['expected_calibration_error']:.4f}"
        if cal.get("network_alone"):
            net = cal["network_alone"]
            line = (
                f"network alone: Brier {net['brier_score']:.4f}, ECE {net['expected_calibration_error']:.4f}; calibrated: "
                + line
            )
        facts.append(("on the evaluation file", line))
    return Section(title, facts=facts)


def _metric(rows: list[dict], metric: str, group: str | None = None) -> dict | None:
    for r in rows:
        if r["metric"] == metric and r["group"] == group:
            return r
    return None


def _na(text: str) -> str:
    """An audit's missing value (a group with one class has no AUC) is 'n/a'."""
    return "n/a" if text == "not recorded" else text


def _rate_ci(r: dict | None) -> str:
    if r is None or r["value"] is None:
        return "n/a"
    out = pct(r["value"])
    if r.get("ci_low") is not None and r.get("ci_high") is not None:
        out += f" ({100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f})"
    return out


def fairness_section(aus: list[dict], paths, limits: list[str]) -> Section:
    title = "Fairness audit and Regulation B"
    if not aus:
        limits.append(
            "No fairness audit was given (card --audit): how groups are treated is unknown."
        )
        return Section(
            title,
            paragraphs=[
                "not run (run audit --group COL -o audit.json, then card --audit audit.json)"
            ],
        )
    section = Section(title)
    for a in aus:
        rows, s = a["metrics"], a.get("settings", {})
        groups = list(dict.fromkeys(r["group"] for r in rows if r["scope"] == "group"))
        table = []
        for g in groups:
            count = _metric(rows, "count", g)
            n = int(count["value"]) if count and count["value"] is not None else 0
            table.append(
                [
                    str(g),
                    fmt(n),
                    pct((_metric(rows, "default_rate", g) or {}).get("value")),
                    _rate_ci(_metric(rows, "selection_rate", g)),
                    _na(fmt((_metric(rows, "roc_auc", g) or {}).get("value"), ".3f")),
                ]
            )
            if n < FEW_GROUP_ROWS:
                limits.append(
                    f"Audit by {a['group_column']}: group {g} has {n} rows (fewer than "
                    f"{FEW_GROUP_ROWS}); its approval rate {_rate_ci(_metric(rows, 'selection_rate', g))} is uncertain."
                )
        section.tables.append(
            {
                "caption": f"by {a['group_column']} ({fmt(a.get('rows'))} rows of {a.get('data', 'not recorded')}; {s.get('approval_rule', 'approval rule not recorded')}; {s.get('confidence', 0.95):.0%} intervals)",
                "header": ["group", "rows", "default rate", "approval rate", "ROC AUC"],
                "rows": table,
            }
        )
        ratio = _metric(rows, "demographic_parity_ratio")
        diff = _metric(rows, "demographic_parity_difference")
        eo = _metric(rows, "equal_opportunity_difference")
        section.facts += [
            (
                f"{a['group_column']}: approval-rate difference, ratio",
                f"{fmt((diff or {}).get('value'), '.3f')}, {fmt((ratio or {}).get('value'), '.3f')}",
            ),
            (
                f"{a['group_column']}: equal opportunity difference",
                fmt((eo or {}).get("value"), ".3f"),
            ),
        ]
        if ratio and ratio["value"] is not None and ratio["value"] < FOUR_FIFTHS:
            limits.append(
                f"Audit by {a['group_column']}: the lowest approval rate is {ratio['value']:.2f} of the "
                f"highest, below the four-fifths rule ({FOUR_FIFTHS})."
            )
        age = a.get("regulation_b_age_check")
        label = f"Regulation B age check (audit by {a['group_column']})"
        if age is None:
            section.facts.append((label, a.get("regulation_b_note") or "not run"))
        else:
            verdict = "passed" if age["passed"] else "FAILED"
            section.facts.append(
                (
                    label,
                    f"{verdict}: age counts less favourably than for the most favoured class "
                    f"({age['most_favoured_class']}) for {age['n_adverse']} of {age['n_elderly']} "
                    f"applicants aged {age.get('elderly_age', 62)}+",
                )
            )
            if not age["passed"]:
                limits.append(
                    f"The Regulation B age check failed: age counts against {age['n_adverse']} of "
                    f"{age['n_elderly']} applicants aged {age.get('elderly_age', 62)} and over."
                )
    return section


def monotone_section(metadata: dict) -> Section:
    """Monotone constraints, wherever a model file keeps them (a ``monotonic_cst`` in the
    classifier's settings, the training block or the metadata itself), read as stored:
    a mapping of column to -1/0/+1, or a list over the network's inputs or the raw
    columns. "none" when the file records none."""
    title = "Monotone constraints"
    found, where = None, ""
    for name, block in (
        ("classifier", metadata.get("classifier")),
        ("training", metadata.get("training")),
        ("metadata", metadata),
    ):
        if isinstance(block, dict) and block.get("monotonic_cst") is not None:
            found, where = block["monotonic_cst"], name
            break
    if found is None:
        return Section(title, paragraphs=["none"])
    if isinstance(found, dict):
        items = list(found.items())
    elif isinstance(found, list):
        pre = metadata.get("preprocessing", {})
        numeric = [c.get("name") for c in pre.get("numeric", [])]
        categorical = pre.get("categorical", [])
        raw = numeric + [c.get("name") for c in categorical]
        inputs = numeric + [
            f"{c.get('name')}={v}" for c in categorical for v in c.get("categories", [])
        ]
        names = inputs if len(found) == len(inputs) else raw
        if len(found) != len(names):
            return Section(title, paragraphs=[f"as stored ({where}.monotonic_cst): {found}"])
        items = list(zip(names, found, strict=True))
    else:
        return Section(title, paragraphs=[f"as stored ({where}.monotonic_cst): {found}"])
    words = {1: "increasing", -1: "decreasing"}
    facts = [(str(k), words.get(v, str(v))) for k, v in items if v not in (0, None)]
    if not facts:
        return Section(title, paragraphs=["none (every input unconstrained)"])
    return Section(
        title,
        paragraphs=[
            f"As the model file stores them ({where}.monotonic_cst): the model's output is "
            "held increasing or decreasing in these inputs; the others are unconstrained."
        ],
        facts=facts,
    )


def importance_section(ex: dict | None, path) -> Section:
    title = "Most important inputs"
    if ex is None:
        return Section(
            title,
            paragraphs=[
                "not computed (run explain --summary explain.json, then card --explanation explain.json)"
            ],
        )
    rows = [
        [
            str(r["feature"]),
            pct(r["share"]),
            fmt(r["mean_abs_attribution"], ".3f"),
            {1: "raises risk", -1: "lowers risk"}.get(r.get("direction"), "mixed or categorical"),
        ]
        for r in ex["importance"][:10]
    ]
    return Section(
        title,
        paragraphs=[
            f"Mean |contribution| to the log-odds of default over {fmt(ex.get('rows'))} applicants of "
            f"{ex.get('data', 'not recorded')} ({ex.get('method')}, against {ex.get('baseline')}; "
            f"completeness gap at most {fmt(ex.get('max_completeness_gap'), '.1e')})."
        ],
        tables=[
            {
                "caption": "inputs by importance (at most ten)",
                "header": ["input", "share", "mean |contribution|", "higher values"],
                "rows": rows,
            }
        ],
    )
