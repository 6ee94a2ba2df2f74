"""Start-up: what the command line and the explorer load, the rule of ``engine="auto"``,
and that a first run after installation (no compiled kernels yet) writes the same bytes
as a later one. Speed itself is measured in benchmarks/cold_start.py and
benchmarks/explorer_speed.py, never asserted here.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from explorer_client import with_tokens
from explorer_support import api, reference_run
from test_explorer_browser import browser, playwright_api, server  # noqa: F401 (fixtures)

from backprop_lab.classifier.metrics import KS_EXACT_MAX_ROWS
from backprop_lab.engine.training import (
    AUTO_MIN_BATCH_STEPS,
    AUTO_MIN_ROW_PARAMETERS,
    AUTO_STEP_ROW_PARAMETERS,
    select_engine,
    train,
    worth_compiling,
)
from backprop_lab.explorer.server import create_app
from backprop_lab.nn import get_loss, mlp
from backprop_lab.nn.optim import GradientDescent

SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("sklearn", "pandas", "matplotlib", "numba", "scipy.stats", "torch")


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, **extra}


def _loaded_after(code: str, modules: tuple[str, ...] = HEAVY) -> list[str]:
    """The ``modules`` (default: HEAVY) in sys.modules after running ``code`` in a fresh
    interpreter."""
    probe = f"{code}\nimport sys\nprint([m for m in {modules!r} if m in sys.modules])\n"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=_env()
    )
    return json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_the_command_line_and_the_explorer_server_load_no_heavy_library():
    """`backprop-lab explore --help` builds the whole parser; the server imports the
    explorer. Neither needs scikit-learn, pandas, matplotlib, Numba or scipy.stats."""
    code = (
        "import contextlib, io\n"
        "from backprop_lab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['explore', '--help'])\n"
        "from backprop_lab.explorer.server import ExplorerServer\n"
    )
    assert _loaded_after(code) == []


#: What no command's parser needs. NumPy alone takes about 0.2 s to load, SciPy's special
#: functions another 0.4 s (they load NumPy's testing and f2py packages too).
NUMERICAL = ("numpy", "pandas", "pyarrow", "scipy", "sklearn", "matplotlib", "numba", "torch")


def test_the_help_of_every_command_loads_no_numerical_library():
    """`backprop-lab --help` and `backprop-lab COMMAND --help`, through the program's entry
    point: the parser of every command is built, and nothing numerical is loaded for it
    (a command loads what it uses when it runs)."""
    code = (
        "import argparse, contextlib, io\n"
        "from backprop_lab.__main__ import run\n"
        "from backprop_lab.cli import build_parser\n"
        "sub = next(a for a in build_parser()._actions\n"
        "           if isinstance(a, argparse._SubParsersAction))\n"
        "assert len(sub.choices) >= 10, sorted(sub.choices)\n"
        "for argv in [['--help'], *([c, '--help'] for c in sub.choices)]:\n"
        "    with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "        with contextlib.suppress(SystemExit):\n"
        "            run(argv)\n"
        "    assert 'usage: backprop-lab' in out.getvalue(), argv\n"
    )
    assert _loaded_after(code, NUMERICAL) == []


#: What scoring a file needs none of, besides HEAVY: SciPy's optimisers (fitting Platt
#: scaling), scikit-learn's base, the training loop and its progress bar (tqdm), the
#: attributions of explain and audit, and the module that opens a web browser.
SCORING_FREE = (
    "scipy.optimize",
    "sklearn.base",
    "backprop_lab.engine.training",
    "tqdm",
    "backprop_lab.responsible.integrated",
    "webbrowser",
)


def test_predict_and_evaluate_load_no_scikit_learn_scipy_stats_or_matplotlib(tmp_path):
    """Scoring a file with a saved model (a calibrated one: the calibration report and
    the KS p-value run too) needs pandas; it loads neither Numba nor scikit-learn nor
    scipy.stats nor scipy.optimize nor matplotlib. The file has more than
    KS_EXACT_MAX_ROWS rows of each class (fewer run ks_2samp itself, from scipy.stats),
    and its 30,000 rows x about 1,400 parameters are far above the 2^24 from which
    scoring used to load the fused engine. Nor do they load anything of SCORING_FREE."""
    from cli_support import write_loans

    from backprop_lab.classifier.fitting import fit_tabular

    data = write_loans(tmp_path / "loans.csv", n=30_000)
    labels = pd.read_csv(data)["default"]
    assert min(labels.sum(), (1 - labels).sum()) > KS_EXACT_MAX_ROWS
    model = fit_tabular(
        pd.read_csv(data, nrows=600),
        "default",
        calibrate="platt",
        hidden_layer_sizes=(64,),
        max_epochs=20,
    )
    assert len(labels) * model.network.n_parameters() > 2**25
    model.save(tmp_path / "model.blab")
    code = (
        "import contextlib, io\n"
        "from backprop_lab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['evaluate', {str(tmp_path / 'model.blab')!r}, {str(data)!r}, '--points'])\n"
        f"    main(['predict', {str(tmp_path / 'model.blab')!r}, {str(data)!r},\n"
        f"          '-o', {str(tmp_path / 'p.parquet')!r}])\n"
        "import sys\n"
        f"print([m for m in {SCORING_FREE!r} if m in sys.modules])\n"
    )
    assert _loaded_after(code) == ["pandas"]
    assert (
        "[]"
        in subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_env()
        ).stdout
    )
    assert (tmp_path / "p.parquet").exists()


def test_explain_and_audit_load_matplotlib_only_to_draw(tmp_path):
    """explain without --importance and audit without --plot draw no figure, so they load
    no matplotlib (with the option they do: the probe can see it)."""
    from cli_support import train_tiny_model, write_loans

    data = write_loans(tmp_path / "loans.csv")
    model = train_tiny_model(data, tmp_path / "model.blab")

    def commands(draw: bool) -> str:
        figures = (["--importance", str(tmp_path / "i.png")], ["--plot", str(tmp_path / "a.png")])
        explain = ["explain", str(model), str(data), "-o", str(tmp_path / "e.json")]
        audit = ["audit", str(model), str(data), "--group", "home_owner"]
        if draw:
            explain, audit = explain + figures[0], audit + figures[1]
        return (
            "import contextlib, io\n"
            "from backprop_lab.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    assert main({explain!r}) == 0\n"
            f"    assert main({audit!r}) == 0\n"
        )

    assert _loaded_after(commands(draw=False), ("matplotlib",)) == []
    assert _loaded_after(commands(draw=True), ("matplotlib",)) == ["matplotlib"]
    assert (tmp_path / "i.png").exists() and (tmp_path / "a.png").exists()


def test_gradcheck_loads_the_tutorial_experiments_only_for_their_data():
    """`gradcheck` on fresh borrowers needs NumPy and the synthetic data (pandas), not the
    tutorial's experiments, which load scikit-learn and scipy.stats; `--tutorial` does."""
    code = (
        "import contextlib, io\n"
        "from backprop_lab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['gradcheck', '--n', '50']) == 0\n"
    )
    assert _loaded_after(code) == ["pandas"]
    tutorial = code.replace("'--n', '50'", "'--tutorial'")
    assert "sklearn" in _loaded_after(tutorial)


def test_the_probe_sees_a_heavy_import():
    """The check above can fail: drawing borrowers does load pandas."""
    code = "from backprop_lab.data.synthetic import make_credit_risk\nmake_credit_risk(5)\n"
    assert "pandas" in _loaded_after(code)


# ---- engine="auto" --------------------------------------------------------------------
def test_auto_runs_small_full_batches_on_the_reference_engine():
    rng = np.random.default_rng(0)
    model = mlp(7)  # 73 parameters
    small = AUTO_MIN_ROW_PARAMETERS // model.n_parameters()  # the largest N below the rule
    large = small + 1
    assert not worth_compiling(small, model.n_parameters())
    assert worth_compiling(large, model.n_parameters())
    assert worth_compiling(64, model.n_parameters(), batch_size=32)  # epochs not known
    assert not worth_compiling(64, model.n_parameters(), batch_size=64)  # one batch
    assert not worth_compiling(64, model.n_parameters(), batch_size=32, backprop=False)
    X = rng.normal(size=(large, 7))
    y = (rng.random(large) < 0.3).astype(float)
    assert train(mlp(7), X[:small], y[:small], epochs=1).engine == "reference"
    assert train(mlp(7), X, y, epochs=1).engine == "fused"
    assert train(mlp(7), X[:64], y[:64], epochs=1, engine="fused").engine == "fused"


def test_auto_runs_short_mini_batch_runs_on_the_reference_engine():
    """Mini-batches go to the kernels only when the run at its most epochs would cost
    at least AUTO_MIN_BATCH_STEPS fixed step overheads on the reference engine:
    epochs x ceil(N / B) x (1 + B P / AUTO_STEP_ROW_PARAMETERS)."""
    assert AUTO_MIN_BATCH_STEPS == AUTO_STEP_ROW_PARAMETERS == 2**16  # the numbers below
    p = mlp(7).n_parameters()  # 73
    # `train --batch-size 64` on generate's 6,000 rows fits 3,840 (test and validation
    # rows set aside): 60 batches, each 1 + 64 x 73 / 2^16 = 1.071 overheads, so
    # 64.28 per epoch, and the boundary is 2^16 / 64.28 = 1019.6 epochs.
    assert not worth_compiling(3840, p, batch_size=64, epochs=1000)  # the default --epochs
    assert not worth_compiling(3840, p, batch_size=64, epochs=1019)
    assert worth_compiling(3840, p, batch_size=64, epochs=1020)
    # batches of 32: 120 x (1 + 32 x 73 / 2^16) = 124.28 per epoch, boundary 527.3
    assert not worth_compiling(3840, p, batch_size=32, epochs=527)
    assert worth_compiling(3840, p, batch_size=32, epochs=528)
    # a ragged last batch counts as a step: 3,841 rows are 61 batches of 64 (boundary 1002.9)
    assert worth_compiling(3841, p, batch_size=64, epochs=1003)
    assert not worth_compiling(3841, p, batch_size=64, epochs=1002)
    # large batches of a large network: each step weighs 1 + 1024 x 4096 / 2^16 = 65,
    # so 1,009 steps (ceil(2^16 / 65) = 1,009) are enough, 1,008 are not
    assert worth_compiling(1024 * 1009, 4096, batch_size=1024, epochs=1)
    assert not worth_compiling(1024 * 1008, 4096, batch_size=1024, epochs=1)
    # one batch, or forward only: the full-batch rule, whatever the epochs
    assert not worth_compiling(3840, p, batch_size=3840, epochs=10**6)
    assert not worth_compiling(3840, p, batch_size=64, backprop=False, epochs=10**6)
    # what train and select_engine do with it
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 7)), (rng.random(64) < 0.3).astype(float)
    assert train(mlp(7), X, y, epochs=1, batch_size=32).engine == "reference"
    assert train(mlp(7), X, y, epochs=1, batch_size=32, engine="fused").engine == "fused"
    loss, opt = get_loss("bce"), GradientDescent(0.1)
    y2 = y.reshape(-1, 1)
    # 2 batches of 32 an epoch: 2 x (1 + 32 x 73 / 2^16) = 2.071 overheads, boundary 31,640.5
    for epochs, name in [(31_640, "reference"), (31_641, "fused")]:
        engine = select_engine("auto", mlp(7), X, y2, loss, opt, batch_size=32, epochs=epochs)
        assert engine.name == name


# ---- the explorer: the trace in the step's reply ----------------------------------------
def test_a_step_with_the_trace_open_returns_the_trace_a_second_call_would():
    client = with_tokens(create_app()).test_client()
    sid = api(client, "POST", "/api/session", {})[1]["session"]
    status, reply = api(
        client, "POST", f"/api/session/{sid}/step", {"epochs": 3, "borrower": {"index": 4}}
    )
    assert status == 200 and "trace" not in reply
    body = {"epochs": 2, "borrower": {"index": 4}, "trace": True}
    status, reply = api(client, "POST", f"/api/session/{sid}/step", body)
    assert status == 200
    _, trace = api(client, "POST", f"/api/session/{sid}/trace", {"index": 4})
    assert reply["trace"] == trace  # the same weights, borrower and numbers
    status, reply = api(client, "POST", f"/api/session/{sid}/step", {"epochs": 1, "trace": 1})
    assert status == 400 and "trace must be true or false" in reply["error"]


# ---- the first run after installation ---------------------------------------------------
def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


MINI_BATCHES = ["--batch-size", "1", "--epochs", "300"]


@pytest.mark.parametrize(
    "options",
    [["--epochs", "30"], ["--batch-size", "64", "--epochs", "30"], MINI_BATCHES],
    ids=["full-batch", "short-mini-batch", "compiled-mini-batch"],
)
def test_train_writes_the_same_bytes_with_an_empty_and_a_filled_kernel_cache(tmp_path, options):
    """`train` twice in fresh processes sharing one Numba cache folder: the first finds it
    empty (as after installation), the second loads what the first compiled. The model
    files and what the command prints are the same bytes. The full batch of 320 rows and
    30 epochs of batches of 64 run on the reference engine; 300 epochs of single rows
    (96,000 steps, above AUTO_MIN_BATCH_STEPS) run the compiled kernels, so the second
    run really loads them from the cache."""
    subprocess.run(
        [sys.executable, "-m", "backprop_lab", "generate", "--n", "500", "-o", "loans.csv"],
        cwd=tmp_path,
        check=True,
        env=_env(),
    )
    cache = tmp_path / "numba-cache"
    cache.mkdir()
    outputs = []
    for run in ("first", "second"):
        out = tmp_path / run
        out.mkdir()
        command = [sys.executable, "-m", "backprop_lab", "train", str(tmp_path / "loans.csv")]
        command += ["--target", "default", "-o", str(out / "model.blab"), *options]
        command += ["--early-stopping", "off"]  # no validation pass: less to compile
        done = subprocess.run(
            command,
            cwd=out,
            capture_output=True,
            check=True,
            env=_env(NUMBA_CACHE_DIR=str(cache)),
        )
        (out / "stdout.txt").write_bytes(done.stdout.replace(str(out).encode(), b"OUT"))
        outputs.append(_digests(out))
        if run == "first":
            compiled = any(cache.rglob("*.nbi"))
            assert compiled == (options == MINI_BATCHES), "the engine rule did not hold"
    assert outputs[0] == outputs[1]


# ---- the explorer's page: a step with the trace card open --------------------------------
def test_the_page_steps_with_the_trace_open_in_one_round_trip(browser, playwright_api, server):  # noqa: F811
    """With the trace card open, Step sends one request and the card shows the borrower's
    numbers with the weights after the step (PyTorch's forward pass, by the reference run)."""
    from test_explorer_browser import Tab

    _, expect = playwright_api
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(10_000)
    tab = Tab(page, expect, server.url)
    page.on("pageerror", lambda e: tab.errors.append(str(e)))
    page.goto(server.url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.click("#btn-trace")
    expect(page.locator("#trace-view")).to_be_visible()
    page.click("#rail button[data-step=delta2]")
    page.on("request", lambda r: tab.requests.append(r.url))
    tab.step(1)
    assert [u for u in tab.requests if "/api/" in u and u.endswith("/trace")] == []
    y_hat = reference_run(epochs=1).forward(reference_run().X_train[:1])["y_hat"][0, 0]
    expect(page.locator("#tv-y_hat")).to_have_text(f"{y_hat:.6f}")
    assert tab.errors == []
    context.close()
