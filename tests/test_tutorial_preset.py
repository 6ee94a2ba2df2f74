"""The tutorial's initialisation by name: ``mlp(7, init="tutorial")`` and
``backprop-lab gradcheck --tutorial``."""

from __future__ import annotations

import numpy as np
from cli_support import run

from backprop_lab import textbook
from backprop_lab.nn import mlp


def test_tutorial_init_holds_the_textbook_weights():
    for seed in (0, 7):
        got = mlp(7, hidden=(8,), init="tutorial", seed=seed).get_params()
        want = textbook.init_params(7, 8, seed=seed)
        assert set(got) == set(want)
        for name, value in want.items():
            # same draws, exactly equal (biases: (8,) here, (1, 8) in the textbook layout)
            np.testing.assert_array_equal(got[name].reshape(value.shape), value)


def test_existing_inits_draw_as_before():
    # He weights are N(0, 2/n_in) drawn from default_rng(seed) in layer order: rebuild
    # them by hand, so adding an init name cannot have changed what seed=0 gives
    rng = np.random.default_rng(0)
    w1 = rng.normal(0.0, np.sqrt(2.0 / 7), size=(7, 8))
    w2 = rng.normal(0.0, np.sqrt(2.0 / 8), size=(8, 1))
    params = mlp(7, seed=0).get_params()
    np.testing.assert_array_equal(params["W1"], w1)
    np.testing.assert_array_equal(params["W2"], w2)


def test_gradcheck_tutorial(capsys):
    code, out, err = run(["gradcheck", "--tutorial"], capsys)
    assert code == 0, err
    assert out.startswith("gradient check: 7-8-1 network (relu, tutorial weights), N=4000,")
    assert "PASS" in out
    code, _, err = run(["gradcheck", "--tutorial", "--hidden", "4"], capsys)
    assert code == 2 and "--tutorial fixes the network and the data; drop --hidden" in err
