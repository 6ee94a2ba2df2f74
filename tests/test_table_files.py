"""Arrow's readers and writers give the numbers, chunks and messages of the text reader.

``predict`` and ``evaluate`` read through :mod:`backprop_lab.data.table_files`; these tests
hold it to :func:`backprop_lab.data.csv_files.iter_csv` followed by ``to_numbers`` (the
path every other command uses): the same float64 numbers (the same bits but for the
sign of a zero), the same rows in the same chunks, the same error naming the same row,
a file that is half clean, half not, read seamlessly, and memory that does not grow
with the file.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import backprop_lab
from backprop_lab._util.validation import InputError
from backprop_lab.cli import main
from backprop_lab.data.columns import to_numbers, to_text
from backprop_lab.data.csv_files import iter_csv
from backprop_lab.data.synthetic import make_credit_risk
from backprop_lab.data.table_files import (
    NA_VALUES,
    CsvChunkWriter,
    iter_frames,
    read_columns,
    table_writer,
)


def _text_reader(path, chunk_size, numeric, text):
    """What every other command reads: cells as text, then parsed column by column."""
    for frame in iter_csv(path, chunk_size, columns=[*numeric, *text]):
        yield (
            frame.index.tolist(),
            {c: to_numbers(frame[c], file=path) for c in numeric},
            {c: to_text(frame[c]).tolist() for c in text},
        )


def _arrow_reader(path, chunk_size, numeric, text):
    for frame in iter_frames(path, chunk_size, numeric=numeric, text=text):
        yield (
            frame.index.tolist(),
            {c: to_numbers(frame[c], file=path) for c in numeric},
            {c: to_text(frame[c]).tolist() for c in text},
        )


def _same(a, b):
    a, b = list(a), list(b)
    assert len(a) == len(b)
    for (ia, na, ta), (ib, nb, tb) in zip(a, b, strict=True):
        assert ia == ib
        for c in na:  # the same numbers, NaN where missing included (the same bits but
            # for the sign of a zero: test_negative_zero_reads_as_an_equal_zero)
            assert np.array_equal(na[c], nb[c], equal_nan=True), c
        assert ta == tb


cells = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15).map(repr),
    st.tuples(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
        st.integers(1, 17),
    ).map(lambda fk: f"{fk[0]:.{fk[1]}g}"),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(NA_VALUES),
)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(cells, cells, st.sampled_from(["a", "b c", "", "NA", " x"])),
        min_size=1,
        max_size=40,
    ),
    chunk=st.integers(1, 12),
)
def test_numbers_chunks_and_missing_cells_as_the_text_reader(tmp_path_factory, rows, chunk):
    path = tmp_path_factory.mktemp("t") / "t.csv"
    lines = ["x,y,kind", *(",".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n")
    args = (path, chunk, ["x", "y"], ["kind"])
    _same(_arrow_reader(*args), _text_reader(*args))
    sizes = [len(f) for f in iter_frames(path, chunk, numeric=["x", "y"], text=["kind"])]
    assert max(sizes) <= chunk and sum(sizes) == len(rows)


def test_negative_zero_reads_as_an_equal_zero(tmp_path):
    """A cell "-0" is -0.0 to Arrow; pandas makes it +0.0 when every cell of the chunk is
    a whole number, -0.0 otherwise. The values are equal, and so is every result."""
    path = tmp_path / "zeros.csv"
    path.write_text("x,y\n-0,1.5\n3,-0\n")
    (x_arrow, y_arrow), (x_text, y_text) = (
        [to_numbers(f[c]) for c in ("x", "y")]
        for f in (next(iter_frames(path, 10, numeric=["x", "y"])), next(iter_csv(path, 10)))
    )
    assert list(x_arrow) == list(x_text) == [0.0, 3.0] and list(y_arrow) == [1.5, 0.0]
    assert np.signbit(x_arrow[0]) and not np.signbit(x_text[0])  # whole numbers: +0.0
    assert np.signbit(y_arrow[1]) and np.signbit(y_text[1])  # with 1.5 beside it: -0.0


def _loans(tmp_path, n=3000, name="loans.csv"):
    frame = make_credit_risk(n, seed=3).frame()
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path, frame


def test_a_bad_cell_late_in_the_file_is_named_as_the_text_reader_names_it(tmp_path):
    # 30,000 rows (about 3 MB) are several of Arrow's blocks (about 0.5 MB at chunks of
    # 5000 rows): the first ones come through Arrow, and the text reader takes over at
    # the block with the bad cell.
    path, frame = _loans(tmp_path, n=30_000)
    text = path.read_text().splitlines()
    cells = text[25_001].split(",")
    cells[1] = "lots"  # annual_income of data row 25,001
    text[25_001] = ",".join(cells)
    path.write_text("\n".join(text) + "\n")
    numeric = ["age", "annual_income"]
    with pytest.raises(InputError) as expected:
        list(_text_reader(path, 5000, numeric, []))
    seen, parsed_by_arrow = [], []
    with pytest.raises(InputError) as got:
        for chunk in iter_frames(path, 5000, numeric=numeric):
            parsed_by_arrow.append(chunk["age"].dtype == np.float64)
            seen.append(
                (
                    chunk.index[0],
                    to_numbers(chunk["age"], file=path),
                    to_numbers(chunk["annual_income"], file=path),
                )
            )
    assert str(got.value) == str(expected.value)
    assert "row 25001" in str(got.value) and "annual_income" in str(got.value)
    assert parsed_by_arrow[0] and not parsed_by_arrow[-1]  # both readers took part
    # the rows before it came through in chunks of at most 5000, with the file's values
    starts = [s for s, _, _ in seen]
    assert starts[0] == 0 and all(b - a <= 5000 for a, b in itertools.pairwise(starts))
    ages = np.concatenate([a for _, a, _ in seen])
    np.testing.assert_array_equal(ages[:25_000], frame["age"].to_numpy()[:25_000])


def test_padded_cells_and_a_malformed_line_fall_back_without_changing_anything(tmp_path):
    path, _ = _loans(tmp_path, n=1200)
    text = path.read_text().splitlines()
    text[900] = text[900].replace(",", ", ")  # padded cells: pandas skips initial spaces
    path.write_text("\n".join(text) + "\n")
    args = (path, 250, ["age", "late_payments"], [])
    _same(_arrow_reader(*args), _text_reader(*args))
    for broken in (text[1100] + ",1,2", text[1100].rsplit(",", 3)[0]):  # too many, too few
        lines = [*text[:1100], broken, *text[1101:]]
        path.write_text("\n".join(lines) + "\n")
        expected, got = _outcome(_text_reader(*args)), _outcome(_arrow_reader(*args))
        assert got[0] == expected[0]
        if got[0] == "error":
            assert got[1] == expected[1]
        else:
            _same(got[1], expected[1])


def _outcome(frames):
    """("error", message) or ("read", the frames): a reader's whole answer to a file."""
    try:
        return "read", list(frames)
    except InputError as error:
        return "error", str(error)


def test_bytes_that_are_not_utf8_fail_as_before(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"x,kind\n1,a\n2,\xff\xfe\n")
    with pytest.raises(InputError) as expected:
        list(_text_reader(path, 10, ["x"], ["kind"]))
    with pytest.raises(InputError) as got:
        list(_arrow_reader(path, 10, ["x"], ["kind"]))
    assert str(got.value) == str(expected.value)


def test_parquet_reads_as_the_csv_it_came_from(tmp_path):
    path, frame = _loans(tmp_path, n=1000)
    parquet = tmp_path / "loans.parquet"
    frame.to_parquet(parquet, index=False)
    assert read_columns(parquet) == read_columns(path) == frame.columns.tolist()
    numeric = ["age", "annual_income", "late_payments"]
    _same(_arrow_reader(parquet, 300, numeric, []), _arrow_reader(path, 300, numeric, []))
    with pytest.raises(InputError, match="no such column"):
        list(iter_frames(parquet, 300, numeric=["salary"]))
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        read_columns(tmp_path / "junk.parquet")


@pytest.mark.parametrize(
    "ids",
    [
        ["1", "2", "3"],
        ["a,b", 'say "hi"', "two\nlines"],  # cells that need quotes: pandas writes the chunk
    ],
)
def test_the_csv_writer_writes_what_pandas_reads_back(ids):
    frame = pd.DataFrame({"loan id": ids, "p_default": [1e-7, 0.5, 0.9999999999999999]})
    buffer = io.BytesIO()
    writer = CsvChunkWriter(buffer)
    writer.write(frame.iloc[:2])
    writer.write(frame.iloc[2:])
    assert writer.rows == 3
    back = pd.read_csv(io.BytesIO(buffer.getvalue()), dtype={"loan id": str})
    assert back.columns.tolist() == ["loan id", "p_default"]
    assert back["loan id"].tolist() == ids
    assert back["p_default"].to_numpy().tobytes() == frame["p_default"].to_numpy().tobytes()
    assert buffer.getvalue().startswith(b"loan id,p_default\n")  # no quotes around names


def test_a_failed_write_leaves_no_file(tmp_path):
    out = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), table_writer(out) as writer:
        writer.write(pd.DataFrame({"p": [0.5]}))
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scored")
    path, frame = _loans(folder, n=2500)
    model = folder / "m.blab"
    code = main(
        [
            "train", str(path), "--target", "default", "-o", str(model),
            "--epochs", "40", "--calibrate", "platt", "--seed", "0",
        ]
    )  # fmt: skip
    assert code == 0
    parquet = folder / "loans.parquet"
    frame.to_parquet(parquet, index=False)
    return folder, path, parquet, model


def test_predict_parquet_to_parquet_equals_csv_to_csv(scored, capsys):
    folder, path, parquet, model = scored
    assert main(["predict", str(model), str(path), "-o", str(folder / "p.csv")]) == 0
    assert main(["predict", str(model), str(parquet), "-o", str(folder / "p.parquet")]) == 0
    a = pd.read_csv(folder / "p.csv")
    b = pd.read_parquet(folder / "p.parquet")
    assert a.columns.tolist() == b.columns.tolist() == ["p_default"]
    # the CSV holds each probability's shortest round-trip text: the same doubles
    assert a["p_default"].to_numpy().tobytes() == b["p_default"].to_numpy().tobytes()


def test_evaluate_reads_once_and_reports_what_two_passes_did(scored, capsys):
    from backprop_lab.classifier.tabular_model import load_model

    folder, path, parquet, model_path = scored
    out_csv, out_parquet = folder / "e1.json", folder / "e2.json"
    assert main(["evaluate", str(model_path), str(path), "-o", str(out_csv)]) == 0
    assert main(["evaluate", str(model_path), str(parquet), "-o", str(out_parquet)]) == 0
    a, b = json.loads(out_csv.read_text()), json.loads(out_parquet.read_text())
    assert a["metrics"] == b["metrics"] and a["calibration"] == b["calibration"]
    # the network's own probabilities, scored in the same pass, are those of a pass
    # with calibrated=False
    model = load_model(model_path)
    assert model.calibrator is not None
    _, _, _, own = model.evaluate_csv(path, chunk_size=700, network_too=True)
    _, _, alone = model.evaluate_csv(path, chunk_size=700, calibrated=False)
    assert own.tobytes() == alone.tobytes()


def test_evaluate_without_a_figure_does_not_load_matplotlib(scored):
    """Drawing libraries cost a second of start-up; evaluate loads them only to draw."""
    import subprocess
    import sys
    from pathlib import Path

    import backprop_lab

    _, path, _, model = scored
    code = (
        "import sys\n"
        "from backprop_lab.cli import main\n"
        f"main(['evaluate', {str(model)!r}, {str(path)!r}])\n"
        "print('matplotlib' in sys.modules, file=sys.stderr)\n"
    )
    env = {"PYTHONPATH": str(Path(backprop_lab.__file__).parents[1]), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "False"


#: Scores a file with ``predict`` in a fresh interpreter (so with an Arrow memory pool of
#: its own) and prints the most bytes that pool held at once.
ARROW_PEAK_SCRIPT = """
import sys
import pyarrow as pa
from backprop_lab.classifier.tabular_model import load_model
load_model(sys.argv[1]).predict_csv(sys.argv[2], sys.argv[3], chunk_size=int(sys.argv[4]))
print(pa.default_memory_pool().max_memory())
"""


def _arrow_peak(model, source, chunk_size):
    src = str(Path(backprop_lab.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    output = source.with_name(f"scores{source.suffix}")
    done = subprocess.run(
        [sys.executable, "-c", ARROW_PEAK_SCRIPT, str(model), str(source), str(output),
         str(chunk_size)],
        capture_output=True, text=True, env=env, check=True, timeout=300,
    )  # fmt: skip
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize(
    ("suffix", "rows", "chunk_size"), [(".csv", 50_000, 500), (".parquet", 150_000, 50_000)]
)
def test_predict_memory_does_not_grow_with_the_file(scored, tmp_path, suffix, rows, chunk_size):
    """Arrow's peak while ``predict`` scores a file 10x as long is that of the shorter one.

    Each file is the 2,500 loans of ``scored`` over and over. The bound is 8 bytes per
    extra row, one float64 a row, the least that anything kept per row adds: 450,000
    extra CSV rows 3.4 MiB, 1,350,000 extra Parquet rows 10.3 MiB. What Arrow holds does
    not depend on the file's length:

    * CSV (5 and 50 MB, chunks of 500 rows): blocks of 64 KiB (500 rows of at most 103
      bytes are less), of which the reader queues up to 32 (2 MiB, less than the shorter
      file, so both fill the queue), a chunk's batches and the writer's table. With blocks
      of 1 MiB, as before, it queued 32 MiB, most of the longer file: 31.0 MiB more than
      for the shorter one.
    * Parquet (one row group each, chunks of 50,000 rows), written plain and uncompressed
      so that a column takes 8 bytes a row as a portfolio's distinct values do: each column
      chunk read through a 1 MiB buffer, a chunk's batches and the writer's row group.
      Column chunks read whole, as before: 72.1 MiB more.

    Measured: 0.00 to 0.06 MiB more for the longer CSV file, 0.15 MiB for the longer
    Parquet file (the pool's peak is the same in every run but for the CSV reader's
    queue, which is filled by a thread of its own).
    """
    _, csv_path, parquet_path, model = scored
    small, large = tmp_path / f"small{suffix}", tmp_path / f"large{suffix}"
    if suffix == ".csv":
        header, *lines = csv_path.read_text().splitlines(keepends=True)
        small.write_text(header + "".join(lines * (rows // len(lines))))
        large.write_text(header + "".join(lines * (10 * rows // len(lines))))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        loans = pd.read_parquet(parquet_path)
        for path, n in ((small, rows), (large, 10 * rows)):
            table = pa.Table.from_pandas(
                pd.concat([loans] * (n // len(loans))), preserve_index=False
            )
            pq.write_table(table, path, row_group_size=n, use_dictionary=False, compression="none")
    peak_small, peak_large = (_arrow_peak(model, path, chunk_size) for path in (small, large))
    assert peak_large - peak_small < 8 * (10 * rows - rows), (peak_small, peak_large)
