"""Crafted model files: refused in one line, before anything large is unpacked or allocated.

A crafted file here is re-signed (its plain SHA-256 digests recomputed), as anyone can
do, so what refuses it is the size limits and value checks of reading, or an HMAC.

Memory bound for refusals: refusing reads the zip directory and at most metadata.json,
a few KB here, so tracemalloc's peak stays near the legit file's size. REFUSAL_PEAK,
4 MiB, is over 400 times the legit file (~5 KB; its metadata ~9 KB unpacked); measured
peaks of these refusals are under 0.3 MiB, over 10x inside. It is at least 16 times
below what any crafted file here asks for when it is bounded by it (64 MiB or more;
the 20000 x 20000 network asks for 3.2 GB).
"""

import copy
import json
import re
import tracemalloc
import zipfile

import numpy as np
import pytest
from crafted_model_files import (
    declared_array_npz,
    members,
    npy_header,
    npz_bytes,
    patch_directory,
    resign,
    write_model,
    zeros_bomb_npz,
    zip_bytes,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_lab import fit_tabular, load_model
from backprop_lab.classifier import modelio
from backprop_lab.classifier.modelio import (
    KEY_ENV,
    KEY_FILE_ENV,
    ModelFileError,
    arrays_digest,
    read_model_file,
    signature,
    write_model_file,
)
from backprop_lab.cli import main
from backprop_lab.data import make_credit_risk

REFUSAL_PEAK = 4 * 2**20
KEY = "k" * 32


@pytest.fixture(autouse=True)
def no_model_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)


@pytest.fixture(scope="module")
def legit(tmp_path_factory):
    """A small binary model (10 inputs, hidden [8]): its file, metadata and arrays."""
    frame = make_credit_risk(400, seed=0).frame()
    frame["purpose"] = np.random.default_rng(0).choice(["car", "home", "study"], len(frame))
    # alpha=10: one network, so the arrays have the shapes hidden_layer_sizes gives
    model = fit_tabular(frame, "default", seed=0, alpha=10.0)
    path = tmp_path_factory.mktemp("legit") / "legit.blab"
    model.save(path)
    metadata, arrays = read_model_file(path)
    return path, metadata, arrays, frame


def parts(legit):
    """Copies of the legit metadata and arrays, to edit."""
    _, metadata, arrays, _ = legit
    return copy.deepcopy(metadata), {k: v.copy() for k, v in arrays.items()}


def refusal(load, path, match):
    """Load under tracemalloc; the ModelFileError (matching ``match``) and the peak bytes."""
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=match) as caught:
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path)), message
    return message, peak


# ---- bounded cost ------------------------------------------------------------------------
def test_a_declared_20000_by_20000_network_is_refused_before_allocating(legit, tmp_path):
    metadata, arrays = parts(legit)
    metadata["network"].update(n_inputs=20000, hidden=[20000])
    path = write_model(tmp_path / "big.blab", metadata, arrays)
    assert path.stat().st_size < 8192
    _, peak = refusal(
        load_model, path, r"has 400,040,001 parameters; a model file holds at most 10,000,000"
    )
    assert peak < REFUSAL_PEAK


def test_too_many_hidden_layers_are_refused(legit, tmp_path):
    metadata, arrays = parts(legit)
    metadata["network"]["hidden"] = [1] * 100_000
    path = write_model(tmp_path / "deep.blab", metadata, arrays)
    refusal(load_model, path, r"lists 100,000 layers; at most 64 are read")


def test_a_zip_bomb_inside_the_arrays_is_refused_unread(legit, tmp_path):
    metadata, arrays = parts(legit)
    # 96 MiB of zeros: more than the 80 MB that MAX_PARAMETERS float64 numbers take
    bomb = zeros_bomb_npz("W1", 96 * 2**20, {k: v for k, v in arrays.items() if k != "W1"})
    path = write_model(tmp_path / "bomb.blab", metadata, bomb)
    assert path.stat().st_size < 200_000
    # the metadata describes ~100 numbers: arrays.npz itself is already too big
    _, peak = refusal(load_model, path, r"arrays.npz unpacks to [\d,]+ bytes; the arrays")
    assert peak < REFUSAL_PEAK
    # without the metadata's shapes, the member is checked against the size limit
    _, peak = refusal(read_model_file, path, r"array W1 unpacks to 100,663,424 bytes; the limit")
    assert peak < REFUSAL_PEAK


def test_an_outer_zip_bomb_is_refused_unread(legit, tmp_path):
    metadata, _ = parts(legit)
    inner = zip_bytes([("W1.npy", npy_header((2**23,)) + bytes(2**26))], zipfile.ZIP_STORED)
    path = write_model(tmp_path / "bomb.blab", metadata, inner)
    _, peak = refusal(load_model, path, r"arrays.npz unpacks to 67,10\d,\d+ bytes")
    assert peak < REFUSAL_PEAK


def test_reading_stops_at_the_size_in_the_zip_directory(legit, tmp_path):
    """A directory that understates a member's size: only that much is unpacked."""
    metadata, _ = parts(legit)
    inner = zip_bytes([("W1.npy", npy_header((2**23,)) + bytes(2**26))], zipfile.ZIP_STORED)
    path = write_model(tmp_path / "liar.blab", metadata, inner)
    path.write_bytes(patch_directory(path.read_bytes(), "arrays.npz", file_size=1000))
    _, peak = refusal(load_model, path, r"damaged or truncated \(Bad CRC-32")
    assert peak < REFUSAL_PEAK


def test_a_declared_7_tib_array_is_refused(legit, tmp_path):
    metadata, arrays = parts(legit)
    others = {k: v for k, v in arrays.items() if k != "W1"}
    count = 7 * 2**40 // 8
    path = write_model(tmp_path / "huge.blab", metadata, declared_array_npz("W1", (count,), others))
    _, peak = refusal(load_model, path, r"array W1 has shape \(962072674304,\); the metadata")
    assert peak < REFUSAL_PEAK
    _, peak = refusal(
        read_model_file, path, r"array W1 declares 962,072,674,304 numbers, more than the"
    )
    assert peak < REFUSAL_PEAK


def test_a_member_size_claim_beyond_the_shapes_is_refused_unread(legit, tmp_path):
    metadata, arrays = parts(legit)
    raw = patch_directory(npz_bytes(arrays), "W1.npy", file_size=3 * 2**30)
    path = write_model(tmp_path / "claim.blab", metadata, raw)
    _, peak = refusal(
        load_model, path, r"array W1 unpacks to 3,221,225,472 bytes; its shape \(10, 8\) takes"
    )
    assert peak < REFUSAL_PEAK


def test_an_array_must_fill_its_member_exactly(legit, tmp_path):
    metadata, arrays = parts(legit)
    others = {k: v for k, v in arrays.items() if k != "W1"}
    values = arrays["W1"].tobytes() + b"\0" * 64  # trailing bytes after the values
    raw = declared_array_npz("W1", (10, 8), others, values)
    path = write_model(tmp_path / "extra.blab", metadata, raw)
    refusal(load_model, path, r"array W1 is 832 bytes in the zip directory, but a \(10, 8\)")


def test_the_arrays_together_stay_within_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(modelio, "MAX_PARAMETERS", 1000)
    arrays = {"a": np.zeros(600, np.float16), "b": np.zeros(600, np.float16)}
    metadata = resign({"format": modelio.FORMAT, "schema_version": 1}, arrays_digest(arrays))
    path = write_model(tmp_path / "two.blab", metadata, arrays)
    refusal(read_model_file, path, r"declares 600 numbers, more than the 1,000 a model file")


def test_oversized_metadata_is_refused_unread(legit, tmp_path):
    metadata, arrays = parts(legit)
    text = json.dumps(resign(metadata, arrays_digest(arrays))) + " " * (64 * 2**20)
    path = write_model(tmp_path / "padded.blab", text, arrays)
    _, peak = refusal(
        load_model, path, r"metadata.json unpacks to 67,1\d\d,\d+ bytes; the limit is 4,194,304"
    )
    assert peak < REFUSAL_PEAK


def test_metadata_with_too_many_lists_is_refused_unparsed(legit, tmp_path):
    """Empty lists cost ~64 bytes each parsed, 16 times their 4 bytes of JSON ('[], ').

    The text (4 MB, under MAX_METADATA_BYTES) is read in chunks but not parsed: the peak
    is its size plus read buffers (measured +0.25 MiB; 4 MiB allowed), 8 times below the
    64 MB that parsing it would add.
    """
    metadata, arrays = parts(legit)
    path = write_model(tmp_path / "lists.blab", {**metadata, "x": [[]] * 1_000_000}, arrays)
    size = zipfile.ZipFile(path).getinfo("metadata.json").file_size
    assert size < modelio.MAX_METADATA_BYTES
    _, peak = refusal(load_model, path, r"metadata.json holds 1,000,0\d\d '\[' and '\{' \(lists")
    assert peak < size + 4 * 2**20


# ---- checked values ----------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_weights_that_are_not_finite_are_refused(legit, tmp_path, bad):
    metadata, arrays = parts(legit)
    arrays["W2"][3, 0] = bad
    path = write_model(tmp_path / "nan.blab", metadata, arrays)
    refusal(
        load_model,
        path,
        r"array W2 holds NaN or infinity \(1 values; the first at index \(3, 0\)\)",
    )


def test_the_cli_refuses_nan_weights_in_one_line(legit, tmp_path, capsys):
    metadata, arrays = parts(legit)
    arrays["W1"][:] = np.nan  # before: exit 0 and an empty p_default on every row
    path = write_model(tmp_path / "nan.blab", metadata, arrays)
    csv = tmp_path / "rows.csv"
    legit[3].to_csv(csv, index=False)
    assert main(["predict", str(path), str(csv), "-o", str(tmp_path / "out.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}: not a usable backprop-lab model file: array W1 holds NaN" in err
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize(
    "dtype",
    [
        np.complex128,
        np.int64,
        np.bool_,
        "<U3",
        "datetime64[s]",
        [("a", "<f8"), ("b", "<f8")],
        np.longdouble,
    ],
)
def test_weights_must_be_real_floats(legit, tmp_path, dtype):
    if np.dtype(dtype) == np.longdouble and np.dtype(np.longdouble).itemsize == 8:
        pytest.skip("long double is float64 on this platform")
    metadata, arrays = parts(legit)
    arrays["W1"] = np.zeros(arrays["W1"].shape, dtype=dtype)
    path = write_model(tmp_path / "dtype.blab", metadata, arrays)
    refusal(load_model, path, r"array W1 has dtype .*; only real floating-point arrays")


@pytest.mark.parametrize(
    ("name", "shape"), [("W1", (8, 10)), ("b1", (1, 8)), ("W2", (8,)), ("b2", ())]
)
def test_weights_must_have_the_shapes_the_network_describes(legit, tmp_path, name, shape):
    metadata, arrays = parts(legit)
    arrays[name] = np.zeros(shape)
    path = write_model(tmp_path / "shape.blab", metadata, arrays)
    refusal(load_model, path, re.escape(f"array {name} has shape {shape}; the metadata describes"))


def test_missing_or_extra_weights_are_refused(legit, tmp_path):
    metadata, arrays = parts(legit)
    path = write_model(tmp_path / "extra.blab", metadata, {**arrays, "W3": np.zeros((1, 1))})
    refusal(load_model, path, r"arrays.npz holds \['W1', 'W2', 'W3', 'b1', 'b2'\]; the metadata")


# ---- the zip container -------------------------------------------------------------------
@pytest.mark.parametrize("member", ["metadata.json", "arrays.npz", "W1.npy"])
def test_encrypted_members_are_refused(legit, tmp_path, member):
    metadata, arrays = parts(legit)
    raw = npz_bytes(arrays)
    if member == "W1.npy":
        raw = patch_directory(raw, member, flag_bits=0x1)
    path = write_model(tmp_path / "locked.blab", metadata, raw)
    if member != "W1.npy":
        path.write_bytes(patch_directory(path.read_bytes(), member, flag_bits=0x1))
    what = "array W1" if member == "W1.npy" else member
    refusal(load_model, path, rf"{what} is encrypted or patched \(zip flags 0x0001\)")


@pytest.mark.parametrize("method", [9, 12, 14, 99])
@pytest.mark.parametrize("member", ["metadata.json", "arrays.npz", "W1.npy"])
def test_compression_other_than_stored_or_deflated_is_refused(legit, tmp_path, member, method):
    metadata, arrays = parts(legit)
    raw = npz_bytes(arrays)
    if member == "W1.npy":
        raw = patch_directory(raw, member, compress_type=method)
    path = write_model(tmp_path / "packed.blab", metadata, raw)
    if member != "W1.npy":
        path.write_bytes(patch_directory(path.read_bytes(), member, compress_type=method))
    what = "array W1" if member == "W1.npy" else member
    refusal(load_model, path, rf"{what} is packed with zip compression method {method}; only")


def test_a_member_given_twice_is_refused(legit, tmp_path):
    path, metadata, _, _ = legit
    files = members(path)
    forged = resign({**metadata, "note": "second"}, metadata["integrity"]["arrays_sha256"])
    entries = [
        ("metadata.json", files["metadata.json"]),
        ("metadata.json", json.dumps(forged).encode()),
        ("arrays.npz", files["arrays.npz"]),
    ]
    twice = tmp_path / "twice.blab"
    with pytest.warns(UserWarning, match="Duplicate name"):
        twice.write_bytes(zip_bytes(entries))
    refusal(load_model, twice, r"it holds 2 members called metadata.json")


# ---- metadata.json -----------------------------------------------------------------------
def test_deeply_nested_metadata_is_refused(legit, tmp_path):
    metadata, arrays = parts(legit)
    text = json.dumps(resign(metadata, arrays_digest(arrays)))
    deep = text[:-1] + ', "x": ' + "[" * 50_000 + "]" * 50_000 + "}"
    path = write_model(tmp_path / "deep.blab", deep, arrays)
    refusal(load_model, path, r"metadata.json is nested too deeply to parse; at most 32")
    nested: list = []
    for _ in range(40):  # parses, but deeper than any model's metadata
        nested = [nested]
    path = write_model(tmp_path / "forty.blab", {**metadata, "x": nested}, arrays)
    refusal(load_model, path, r"metadata.json is nested 33 or more levels deep; at most 32")


@pytest.mark.parametrize(
    ("literal", "match"),
    [
        ("NaN", "holds NaN, which is not a number"),
        ("-Infinity", "holds -Infinity, which is not a number"),
        ("1e999", r"holds a number too large for a float"),
        ("-2e308", r"holds a number too large for a float"),
    ],
)
def test_non_finite_numbers_in_the_metadata_are_refused(legit, tmp_path, literal, match):
    metadata, arrays = parts(legit)
    metadata["preprocessing"]["numeric"][0]["fill"] = "@"
    text = json.dumps(resign(metadata, arrays_digest(arrays))).replace('"@"', literal)
    path = write_model(tmp_path / "nan.blab", text, arrays)
    refusal(load_model, path, rf"metadata.json {match}")


def test_a_5000_digit_schema_version_is_refused_naming_the_file(legit, tmp_path):
    metadata, arrays = parts(legit)
    metadata["schema_version"] = "@"
    text = json.dumps(metadata).replace('"@"', "1" + "0" * 4999)
    path = write_model(tmp_path / "digits.blab", text, arrays)
    refusal(load_model, path, r"metadata.json holds an integer of 5000 digits; at most 40")


@pytest.mark.parametrize("version", [True, "1", 1.0, 0, -3, None, [1]])
def test_schema_version_must_be_a_positive_integer(legit, tmp_path, version):
    metadata, arrays = parts(legit)
    metadata["schema_version"] = version
    path = write_model(tmp_path / "version.blab", metadata, arrays)
    refusal(load_model, path, r"schema_version must be a positive integer; got ")


def edit(metadata: dict, dotted: str, value: object) -> dict:
    """``metadata`` with the entry at ``dotted`` (keys and list indices) set to ``value``."""
    *parents, last = [int(k) if k.isdigit() else k for k in dotted.split(".")]
    target = metadata
    for key in parents:
        target = target[key]
    target[last] = value
    return metadata


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("fit", [1, 2], r"fit must be an object; got \[1, 2\]"),
        ("fit.epochs", "ten", r"fit.epochs must be a non-negative integer; got 'ten'"),
        ("fit.loss_curve", "abc", r"fit.loss_curve must be a list of numbers"),
        ("fit.early_stopping", 1, r"fit.early_stopping must be true or false"),
        (
            "preprocessing.categorical.0.categories",
            ["car", "car", "study"],
            r"column 'purpose' lists category 'car' twice",
        ),
        (
            "preprocessing.categorical.0.categories",
            "abc",
            r"preprocessing.categorical\[0\].categories must be a list of strings; got 'abc'",
        ),
        (
            "preprocessing.categorical.0.categories",
            [1, 2, 3],
            r"categories must be a list of strings",
        ),
        ("preprocessing.categorical.0.fill", "boat", r"fill 'boat' is not one of its categories"),
        ("preprocessing.numeric.0.scale", 0, r"numeric\[0\].scale must be a positive finite"),
        ("preprocessing.numeric.0.fill", "7", r"numeric\[0\].fill must be a number or null"),
        ("preprocessing.numeric.1.name", "age", r"preprocessing names column 'age' twice"),
        ("preprocessing.impute", ["median"], r"preprocessing.impute must be one of"),
        ("task.classes", [1, 0], r"task.classes must be distinct and sorted"),
        ("task.classes", [0, "1"], r"task.classes must be all strings or all numbers"),
        ("task.positive_class", 2, r"task.positive_class 2 is not one of task.classes"),
        ("task", "default", r"task must be an object; got 'default'"),
        ("network.activation", ["relu"], r"network.activation must be one of"),
        ("network.n_inputs", 11, r"the preprocessing makes 10 inputs but the network takes 11"),
        ("network.hidden", [8.0], r"network.hidden must be a list of positive integers"),
        ("network.n_outputs", 2, r"a network for 2 classes has 1 output\(s\)"),
        ("classifier.max_epochs", 0, r"classifier.max_epochs must be a positive integer; got 0"),
        ("classifier.hidden_layer_sizes", [16], r"disagrees with network.hidden \[8\]"),
        # an average of K networks has K x the units; 8 is no whole multiple of 3
        ("classifier.hidden_layer_sizes", [3], r"disagrees with network.hidden \[8\]"),
        ("classifier.hidden_layer_sizes", [8, 4], r"disagrees with network.hidden \[8\]"),
        ("classifier.hidden_layer_sizes", [], r"disagrees with network.hidden \[8\]"),
        ("classifier.alpha", "large", r"classifier.alpha must be 'auto' or a non-negative"),
        ("classifier.verbose", True, r"classifier has an unknown entry 'verbose'"),
        ("metrics", [0.5], r"metrics must be an object or null"),
    ],
)
def test_metadata_fields_are_checked_with_precise_messages(legit, tmp_path, field, value, match):
    metadata, arrays = parts(legit)
    path = write_model(tmp_path / "field.blab", edit(metadata, field, value), arrays)
    refusal(load_model, path, match)


# ---- keyed signatures ---------------------------------------------------------------------
def test_a_keyed_model_loads_with_its_key_and_an_edit_is_refused(legit, tmp_path, monkeypatch):
    path, _, _, frame = legit
    model = load_model(path)
    monkeypatch.setenv(KEY_ENV, KEY)
    signed = tmp_path / "signed.blab"
    model.save(signed)
    assert np.array_equal(load_model(signed).p_default(frame), model.p_default(frame))
    metadata, arrays = read_model_file(signed)
    assert len(metadata["integrity"]["hmac_sha256"]) == 64
    # an edit re-signed with plain digests, as anyone without the key can do
    arrays["b2"] = arrays["b2"] + 5.0
    edited = write_model(tmp_path / "edited.blab", metadata, arrays)
    refusal(load_model, edited, r"it has no HMAC signature, and a model key is set")
    # ... keeping the old HMAC
    integrity = {**resign(metadata, arrays_digest(arrays))["integrity"]}
    integrity["hmac_sha256"] = metadata["integrity"]["hmac_sha256"]
    write_model(edited, {**metadata, "integrity": integrity}, arrays, resigned=False)
    refusal(load_model, edited, r"its HMAC signature does not match the model key: it was edited")
    # a different key
    monkeypatch.setenv(KEY_ENV, "another key of thirty-two bytes!")
    refusal(load_model, signed, r"its HMAC signature does not match the model key")
    # a file saved without any key
    monkeypatch.setenv(KEY_ENV, KEY)
    refusal(load_model, path, r"it has no HMAC signature, and a model key is set")
    # without a key configured, the signed file still loads (the HMAC cannot be checked)
    monkeypatch.delenv(KEY_ENV)
    assert np.array_equal(load_model(signed).p_default(frame), model.p_default(frame))


def test_the_key_can_come_from_a_file(legit, tmp_path, monkeypatch):
    model = load_model(legit[0])
    key_file = tmp_path / "model.key"
    key_file.write_text(KEY + "\n")
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
    model.save(tmp_path / "signed.blab")
    integrity = read_model_file(tmp_path / "signed.blab")[0]["integrity"]
    assert integrity["hmac_sha256"] == signature(KEY.encode(), integrity)  # newline stripped
    load_model(tmp_path / "signed.blab")
    key_file.write_text("another key of thirty-two bytes!")
    refusal(load_model, tmp_path / "signed.blab", r"its HMAC signature does not match")


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({KEY_ENV: "short"}, r"the model key in BACKPROP_LAB_MODEL_KEY is 5 bytes; use at least"),
        ({KEY_ENV: KEY, KEY_FILE_ENV: "x"}, r"set BACKPROP_LAB_MODEL_KEY or .*, not both"),
        ({KEY_FILE_ENV: "missing.key"}, r"missing.key: no such model key file"),
    ],
)
def test_a_bad_key_setting_is_refused(legit, tmp_path, monkeypatch, env, match):
    model = load_model(legit[0])
    for name, value in env.items():
        monkeypatch.setenv(name, str(tmp_path / value) if name == KEY_FILE_ENV else value)
    with pytest.raises(ValueError, match=match):
        load_model(legit[0])
    with pytest.raises(ValueError, match=match):
        model.save(tmp_path / "m.blab")
    assert not (tmp_path / "m.blab").exists()


# ---- writing -----------------------------------------------------------------------------
def test_writing_refuses_what_reading_would_refuse(tmp_path, monkeypatch):
    path = tmp_path / "m.blab"
    with pytest.raises(ValueError, match=r"array 'W1' holds NaN or infinity"):
        write_model_file(path, {}, {"W1": np.array([1.0, np.nan])})
    with pytest.raises(ValueError, match=r"array 'W1' has dtype int64; only real floating"):
        write_model_file(path, {}, {"W1": np.arange(3)})
    monkeypatch.setattr(modelio, "MAX_PARAMETERS", 10)
    with pytest.raises(ValueError, match=r"the arrays hold 12 numbers; a model file holds at most"):
        write_model_file(path, {}, {"W1": np.zeros(6), "W2": np.zeros(6)})
    monkeypatch.setattr(modelio, "MAX_METADATA_CONTAINERS", 5)
    with pytest.raises(ValueError, match=r"the metadata holds 8 lists and objects; a model file"):
        write_model_file(path, {"notes": [[], [], [], [], []]}, {"W1": np.zeros(2)})
    monkeypatch.setattr(modelio, "MAX_METADATA_BYTES", 1000)
    with pytest.raises(ValueError, match=r"the metadata takes [\d,]+ bytes as JSON; a model file"):
        write_model_file(path, {"notes": "x" * 1000}, {"W1": np.zeros(2)})
    assert not path.exists()


def test_a_scalar_hidden_layer_size_round_trips(legit, tmp_path):
    frame = legit[3]
    model = fit_tabular(frame, "default", seed=0, hidden_layer_sizes=4)
    model.save(tmp_path / "m.blab")
    again = load_model(tmp_path / "m.blab")
    assert again.classifier.get_params() == model.classifier.get_params()
    assert np.array_equal(again.p_default(frame), model.p_default(frame))


# ---- any edit ----------------------------------------------------------------------------
def entry_paths(value, prefix=()):
    """The path (keys and indices) of every entry in a JSON value, outside the envelope."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        if prefix == () and key in ("format", "schema_version", "integrity"):
            continue
        yield (*prefix, key)
        if isinstance(child, dict | list) and len(child) <= 20:
            yield from entry_paths(child, (*prefix, key))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_edit_of_the_metadata_is_loaded_or_refused_in_one_line(legit, tmp_path, data):
    """Re-signed edits (a value replaced or removed): a ValueError in one line, or a model
    that predicts; never a traceback."""
    metadata, arrays = parts(legit)
    path = data.draw(st.sampled_from(sorted(entry_paths(metadata), key=repr)))
    target = metadata
    for key in path[:-1]:
        target = target[key]
    if data.draw(st.booleans()):
        target[path[-1]] = data.draw(json_values)
    else:
        del target[path[-1]]
    file = write_model(tmp_path / "edited.blab", metadata, arrays)
    try:
        model = load_model(file)
        model.predict_proba(legit[3].head(20))
    except ValueError as error:
        assert "\n" not in str(error)


def test_long_digit_runs_in_strings_and_small_exponents_are_fine(legit, tmp_path):
    """Only numbers are held to MAX_INTEGER_DIGITS digits and finite values."""
    metadata, arrays = parts(legit)
    metadata["training"]["note"] = "7" * 60
    metadata["training"]["tiny"] = 1e-300
    metadata["training"]["count"] = 10**39
    path = write_model(tmp_path / "digits.blab", metadata, arrays)
    training = load_model(path).training
    assert training["note"] == "7" * 60 and training["tiny"] == 1e-300
    assert training["count"] == 10**39
