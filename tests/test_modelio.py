"""Saved models: exact round trips, atomic saves, and refusal of damaged or foreign files."""

import io
import json
import os
import zipfile

import numpy as np
import pandas as pd
import pytest

from backprop_lab import TabularModel, fit_tabular, load_model
from backprop_lab.classifier.modelio import (
    SCHEMA_VERSION,
    ModelFileError,
    metadata_digest,
    read_model_file,
    write_model_file,
)
from backprop_lab.data import make_credit_risk
from backprop_lab.nn import Sequential


def loan_frame(n=600, seed=0):
    frame = make_credit_risk(n, seed=seed).frame()
    rng = np.random.default_rng(seed)
    frame.insert(0, "loan_id", [f"L{i}" for i in range(n)])
    frame["purpose"] = rng.choice(["car", "home", "study"], n)
    frame.loc[rng.choice(n, 20, replace=False), "annual_income"] = np.nan
    return frame


@pytest.fixture(scope="module")
def model():
    return fit_tabular(loan_frame(), "default", id_column="loan_id", impute="median", seed=0)


def test_round_trip_gives_identical_probabilities(model, tmp_path):
    path = tmp_path / "m.blab"
    model.save(path)
    again = load_model(path)
    frame = loan_frame(300, seed=9)
    assert np.array_equal(again.p_default(frame), model.p_default(frame))
    assert np.array_equal(again.transform(frame), model.transform(frame))
    assert again.preprocessor == model.preprocessor
    assert again.feature_names_out == model.feature_names_out
    assert again.source_columns == model.source_columns
    assert isinstance(again.network, Sequential)
    for name, value in model.network.params.items():
        assert np.array_equal(again.network.params[name], value)
    assert again.metrics == model.metrics
    assert again.classifier.get_params() == model.classifier.get_params()
    assert again.classifier.loss_curve_ == model.classifier.loss_curve_
    assert again.positive_class == 1 and again.id_column == "loan_id"


def test_file_holds_what_was_promised(model, tmp_path):
    path = tmp_path / "m.blab"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["arrays.npz", "metadata.json"]
        meta = json.loads(archive.read("metadata.json"))
    # no calibration: the oldest schema that describes the file
    assert meta["schema_version"] == 1 and meta["package_version"] == "0.1.0"
    assert "calibration" not in meta
    # alpha='auto' averaged five fold networks of 8 units into one of 40
    assert meta["classifier"]["alpha"] == "auto" and meta["classifier"]["hidden_layer_sizes"] == [8]
    assert meta["network"]["hidden"] == [5 * 8] and meta["network"]["output"] == "sigmoid"
    numeric = {c["name"]: c for c in meta["preprocessing"]["numeric"]}
    assert numeric["annual_income"]["fill"] > 0  # the training median
    assert meta["preprocessing"]["categorical"][0]["categories"] == ["car", "home", "study"]
    assert meta["training"]["train_rows"] == 480 and meta["training"]["test_rows"] == 120
    assert 0.5 < meta["metrics"]["roc_auc"] < 1.0
    assert len(meta["integrity"]["arrays_sha256"]) == 64


def test_saving_twice_gives_the_same_bytes(model, tmp_path):
    model.save(tmp_path / "a.blab")
    model.save(tmp_path / "b.blab")
    assert (tmp_path / "a.blab").read_bytes() == (tmp_path / "b.blab").read_bytes()


def test_interrupted_save_leaves_the_previous_file(model, tmp_path, monkeypatch):
    path = tmp_path / "m.blab"
    model.save(path)
    before = path.read_bytes()
    real_writestr = zipfile.ZipFile.writestr

    def fail_on_arrays(self, member, data, *args, **kwargs):
        name = getattr(member, "filename", member)  # a ZipInfo or a name
        if name == "arrays.npz":  # metadata already written: the temp file is half-done
            raise KeyboardInterrupt
        return real_writestr(self, member, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", fail_on_arrays)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.blab"]  # no temporary file left behind
    monkeypatch.undo()
    assert np.array_equal(
        load_model(path).p_default(loan_frame(20)), model.p_default(loan_frame(20))
    )


def test_truncated_file_is_refused(model, tmp_path):
    path = tmp_path / "m.blab"
    model.save(path)
    data = path.read_bytes()
    for keep in (len(data) // 2, len(data) - 30, 10):
        path.write_bytes(data[:keep])
        with pytest.raises(ModelFileError, match=r"m.blab: not a usable backprop-lab model file"):
            load_model(path)


def test_corrupted_bytes_are_refused(model, tmp_path):
    path = tmp_path / "m.blab"
    model.save(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside a compressed member: CRC or inflate fails
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="damaged or truncated"):
        load_model(path)


def rewrite(path, *, metadata=None, arrays=None):
    """Replace members of a model zip, keeping the rest."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if metadata is not None:
        members["metadata.json"] = json.dumps(metadata).encode()
    if arrays is not None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        members["arrays.npz"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_tampered_weights_and_metadata_are_refused(model, tmp_path):
    path = tmp_path / "m.blab"
    model.save(path)
    meta, arrays = read_model_file(path)
    arrays["W1"] = arrays["W1"] + 1e-12
    rewrite(path, arrays=arrays)
    with pytest.raises(ModelFileError, match="weights do not match their SHA-256"):
        load_model(path)
    model.save(path)
    meta["preprocessing"]["numeric"][0]["mean"] += 1.0
    rewrite(path, metadata=meta)
    with pytest.raises(ModelFileError, match="metadata does not match its SHA-256"):
        load_model(path)


def test_newer_schema_is_refused_with_an_upgrade_hint(model, tmp_path):
    path = tmp_path / "m.blab"
    model.save(path)
    meta, _ = read_model_file(path)
    meta["schema_version"] = SCHEMA_VERSION + 1
    meta["integrity"]["metadata_sha256"] = metadata_digest(meta)
    rewrite(path, metadata=meta)
    newer = SCHEMA_VERSION + 1
    with pytest.raises(
        ModelFileError, match=rf"newer backprop-lab \(model schema {newer}; .*upgrade"
    ):
        load_model(path)


def test_object_arrays_need_pickle_and_are_refused(tmp_path):
    path = tmp_path / "evil.blab"
    write_model_file(path, {"note": "ok"}, {"W1": np.zeros((2, 2))})
    assert read_model_file(path)[0]["note"] == "ok"
    rewrite(path, arrays={"W1": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ModelFileError, match="cannot be read without pickle"):
        read_model_file(path)
    with pytest.raises(ValueError, match="holds Python objects"):
        write_model_file(path, {}, {"W1": np.array([None], dtype=object)})


def test_other_files_are_refused(tmp_path):
    text = tmp_path / "notes.blab"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match=r"notes.blab: not a usable .*damaged or truncated"):
        load_model(text)
    foreign = tmp_path / "foreign.blab"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("arrays.npz", b"")
    with pytest.raises(ModelFileError, match="does not describe a backprop-lab model"):
        load_model(foreign)
    with pytest.raises(ModelFileError, match=r"missing.blab: no such model file"):
        load_model(tmp_path / "missing.blab")


def test_multiclass_and_text_labels_round_trip(tmp_path):
    frame = loan_frame(400, seed=2).drop(columns="default")
    rng = np.random.default_rng(0)
    frame["grade"] = np.where(frame["late_payments"] > 1, "C", rng.choice(["A", "B"], 400))
    model = fit_tabular(
        frame.drop(columns="annual_income"),
        "grade",
        id_column="loan_id",
        multiclass=True,
        seed=1,
    )
    assert model.output_columns == ["p_A", "p_B", "p_C"]
    model.save(tmp_path / "g.blab")
    again = TabularModel.load(tmp_path / "g.blab")
    assert again.classes_.tolist() == ["A", "B", "C"]
    test = frame.drop(columns="annual_income")
    assert np.array_equal(again.predict_proba(test), model.predict_proba(test))
    assert pd.DataFrame(again.metrics["confusion_matrix"]).to_numpy().sum() == 80
