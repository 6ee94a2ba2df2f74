"""CSV reading, column inference and the JSON-able preprocessor (against sklearn's)."""

import json
import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from backprop_lab._util.validation import InputError
from backprop_lab.data.tabular import (
    DataWarning,
    Preprocessor,
    check_labels,
    infer_column_types,
    iter_csv,
    parse_target,
    read_csv,
    read_header,
    to_numbers,
)


def loans(n=200, seed=0, missing=False):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, n),
            "dti": rng.beta(2, 5, n),
            "grade": rng.choice(list("ABCDE"), n, p=[0.3, 0.3, 0.2, 0.15, 0.05]),
            "late": rng.poisson(1.0, n).astype(float),
            "purpose": rng.choice(["car", "home", "study"], n),
        }
    )
    if missing:
        frame.loc[rng.choice(n, 15, replace=False), "income"] = np.nan
        frame.loc[rng.choice(n, 10, replace=False), "grade"] = None
        frame.loc[rng.choice(n, 5, replace=False), "late"] = np.nan
    return frame


NUMERIC, CATEGORICAL = ["income", "dti", "late"], ["grade", "purpose"]


def sklearn_equivalent(strategy):
    num = make_pipeline(StandardScaler())
    cat = make_pipeline(OneHotEncoder(handle_unknown="ignore", sparse_output=False))
    if strategy != "none":
        num = make_pipeline(SimpleImputer(strategy=strategy), StandardScaler())
        cat = make_pipeline(
            SimpleImputer(strategy="most_frequent"),
            OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        )
    return ColumnTransformer([("num", num, NUMERIC), ("cat", cat, CATEGORICAL)])


@pytest.mark.parametrize("impute", ["none", "median", "mean", "most_frequent"])
def test_preprocessor_equals_sklearn_column_transformer(impute):
    train = loans(300, seed=1, missing=impute != "none")
    test = loans(100, seed=2, missing=impute != "none")
    test.loc[3, "grade"] = "Z"  # unseen: all zeros, as handle_unknown="ignore"
    if impute != "none":
        train.loc[0, "late"] = np.nan  # most_frequent of a float column
    pre = Preprocessor.fit(train, NUMERIC, CATEGORICAL, impute=impute)
    ct = sklearn_equivalent(impute).fit(train)
    with pytest.warns(DataWarning, match=r"column 'grade' in 1 row"):
        ours = pre.transform(test)
    np.testing.assert_allclose(ours, ct.transform(test), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pre.transform(train), ct.transform(train), rtol=1e-12, atol=1e-12)
    assert ours[3, 3 : 3 + 5].sum() == 0.0  # the unseen grade row has no grade column set
    # names: numeric first, then column=category, each with its source column
    assert pre.feature_names_out[:4] == ["income", "dti", "late", "grade=A"]
    assert pre.source_columns == NUMERIC + ["grade"] * 5 + ["purpose"] * 3
    assert len(pre.feature_names_out) == ct.transform(test).shape[1] == pre.n_features_out


def test_preprocessor_json_round_trip_is_exact():
    pre = Preprocessor.fit(loans(missing=True), NUMERIC, CATEGORICAL, impute="median")
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert again == pre
    frame = loans(50, seed=5, missing=True)
    assert np.array_equal(again.transform(frame), pre.transform(frame))


def test_transform_matches_columns_by_name_not_order():
    train = loans()
    pre = Preprocessor.fit(train, NUMERIC, CATEGORICAL)
    shuffled = train[["purpose", "late", "grade", "dti", "income"]].assign(extra=1)
    assert np.array_equal(pre.transform(shuffled), pre.transform(train))
    assert pre.check_columns(shuffled.columns) == ["extra"]


def test_transform_refuses_a_missing_column_and_missing_values_without_impute():
    pre = Preprocessor.fit(loans(), NUMERIC, CATEGORICAL)
    with pytest.raises(InputError, match=r"new.csv, column 'dti': missing column"):
        pre.transform(loans().drop(columns="dti"), file="new.csv")
    frame = loans()
    frame.loc[[7, 9], "income"] = np.nan
    with pytest.raises(
        InputError, match=r"column 'income', row 8: missing value \(2 in this column\)"
    ):
        pre.transform(frame)


def test_unseen_categories_are_counted_not_warned_when_a_counter_is_given():
    pre = Preprocessor.fit(loans(), NUMERIC, CATEGORICAL)
    frame = loans(20, seed=3)
    frame.loc[[1, 2], "purpose"] = "boat"
    counts = Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pre.transform(frame, unseen=counts)
    assert counts == Counter({"purpose": 2})


def test_constant_column_gets_scale_one():
    frame = loans().assign(dti=0.25)
    pre = Preprocessor.fit(frame, NUMERIC, CATEGORICAL)
    assert pre.numeric[1].scale == 1.0
    assert np.all(pre.transform(frame)[:, 1] == 0.0)


def test_read_csv_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"nope.csv: no such file"):
        read_csv(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty.csv: the file is empty"):
        read_csv(empty)
    blank = tmp_path / "blank.csv"
    blank.write_text("\n\n")
    with pytest.raises(InputError, match=r"blank.csv: the file is empty \(no header line\)"):
        read_csv(blank)
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,default\n")
    with pytest.raises(InputError, match=r"header.csv: the file has a header but no data rows"):
        read_csv(header_only)
    with pytest.raises(InputError, match=r"no data rows"):
        list(iter_csv(header_only, 10))
    unnamed = tmp_path / "unnamed.csv"
    unnamed.write_text("a,,c\n1,2,3\n")
    with pytest.raises(InputError, match=r"unnamed.csv: column 2 has no name"):
        read_csv(unnamed)
    assert read_header(tmp_path / "header.csv") == ["a", "b", "default"]


def test_iter_csv_chunks_keep_global_row_numbers(tmp_path):
    path = tmp_path / "n.csv"
    pd.DataFrame({"x": [str(v) for v in range(7)]}).assign(
        x=lambda f: f.x.where(f.index != 5, "oops")
    ).to_csv(path, index=False)
    chunks = iter_csv(path, 3)
    first = next(chunks)
    assert list(first.index) == [0, 1, 2]
    second = next(chunks)
    with pytest.raises(InputError, match=r"n.csv, column 'x', row 6: text 'oops'"):
        to_numbers(second["x"], file=path)


def test_infer_column_types_and_typo_in_numeric_column(tmp_path):
    frame = pd.DataFrame(
        {
            "amount": [str(v) for v in range(30)],
            "grade": list("ABC") * 10,
            "zip": ["0" + str(v) for v in range(30)],  # numbers: override with categorical
            "default": ["0", "1"] * 15,
        }
    )
    num, cat = infer_column_types(frame, exclude=["default"])
    assert (num, cat) == (["amount", "zip"], ["grade"])
    num, cat = infer_column_types(frame, exclude=["default"], categorical=["zip"])
    assert (num, cat) == (["amount"], ["grade", "zip"])
    frame.loc[17, "amount"] = "12,5"
    with pytest.raises(InputError, match=r"l.csv, column 'amount', row 18: text '12,5'"):
        infer_column_types(frame, exclude=["default"], file="l.csv")
    with pytest.raises(InputError, match=r"column 'grade', row 1: text 'A' in a numeric"):
        infer_column_types(frame.drop(columns="amount"), numeric=["grade"], exclude=["default"])
    with pytest.raises(InputError, match="both numeric and categorical"):
        infer_column_types(frame, numeric=["zip"], categorical=["zip"])


def test_targets_numbers_or_text_and_two_classes():
    assert parse_target(pd.Series(["0", "1", "1"])).tolist() == [0, 1, 1]
    assert parse_target(pd.Series(["no", "yes"])).tolist() == ["no", "yes"]
    with pytest.raises(InputError, match=r"column 'y', row 2: missing target value"):
        parse_target(pd.Series(["a", None, "b"], name="y"))
    with pytest.raises(InputError, match=r"3 distinct values \(a, b, c\), not two; pass --multi"):
        check_labels(np.array(["a", "b", "c"]), multiclass=False)
    assert check_labels(np.array(["a", "b", "c"]), multiclass=True).tolist() == ["a", "b", "c"]
    with pytest.raises(InputError, match=r"only one value \(1\)"):
        check_labels(np.array([1, 1]), multiclass=False)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_subnormal=False),
        min_size=2,
        max_size=40,
    )
)
def test_numeric_scaling_matches_standard_scaler(values):
    frame = pd.DataFrame({"x": values, "c": ["u"] * len(values)})
    pre = Preprocessor.fit(frame, ["x"], ["c"])
    expected = StandardScaler().fit_transform(frame[["x"]])[:, 0]
    np.testing.assert_allclose(pre.transform(frame)[:, 0], expected, rtol=1e-9, atol=1e-9)
