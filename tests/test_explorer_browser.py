"""The explorer in a real headless Chromium: train, trace, forward-only, divergence.

Each test starts from a fresh page (a fresh session) on the real threaded server, reads
the numbers the page displays, checks them against the independent reference run of
explorer_support, and saves a screenshot in its pytest temporary directory (pytest keeps
the last three runs' directories; ``--basetemp DIR`` puts them in DIR). Without Chromium
the tests are skipped, unless the environment variable ``CI`` is set: then they fail.
"""

# ruff: noqa: F811 (the fixtures imported from explorer_browser are requested by name)
from __future__ import annotations

import numpy as np
import pytest
from explorer_browser import (  # noqa: F401 (fixtures)
    Tab,
    _chromium,
    browser,
    open_tab,
    playwright_api,
    server,
    tab,
)
from explorer_support import reference_run

from backprop_lab.explorer.server import ExplorerServer

STEP_KEYS = ["x", "z1", "h", "z2", "y_hat", "loss", "delta2", "dW2", "delta1", "dW1", "update"]


def test_twenty_epochs_make_the_loss_fall(tab):
    tab.step(1)
    first = tab.page.locator("#m-train-loss").inner_text()
    tab.step(19)
    # the table shows the weights the network holds: after 20 updates, as the pill says
    assert tab.page.locator("#m-epoch").inner_text() == "20"
    last = tab.page.locator("#m-train-loss").inner_text()
    # the displayed numbers are the reference run's (entry e: the weights after e
    # updates), and the loss falls
    ref = reference_run(epochs=21)
    history = ref.history
    assert first == f"{history['loss'][1]:.6f}" and last == f"{history['loss'][20]:.6f}"
    assert float(last) < float(first) - 0.2
    assert tab.page.locator("#m-test-loss").inner_text() == f"{history['val_loss'][20]:.6f}"
    assert tab.page.locator("#m-bayes-acc").inner_text() == f"{ref.bayes['accuracy']:.4f}"
    tab.page.click("#btn-gradcheck")
    tab.expect(tab.page.locator("#gc-verdict")).to_have_text("PASS")
    assert tab.page.locator("#gc-table tr").count() == 5  # header + W1, b1, W2, b2
    tab.screenshot("explorer-trained.png")
    tab.check_clean()


def test_trace_one_borrower_shows_delta2_equal_to_y_hat_minus_y(tab):
    ref = reference_run()
    index = int(np.flatnonzero(ref.y_train == 1)[0])  # a borrower who defaulted
    box = tab.page.locator("#borrower-index")
    box.fill(str(index))
    box.dispatch_event("change")
    tab.expect(tab.page.locator("#label-1")).to_be_checked()
    tab.page.click("#btn-trace")
    tab.expect(tab.page.locator("#trace-view")).to_be_visible()
    tab.page.click("#rail button[data-step=delta2]")
    tab.expect(tab.page.locator("#step-card")).to_have_attribute("data-step", "delta2")
    y_hat, y, delta2 = (tab.number(s) for s in ("#tv-y_hat", "#tv-y", "#tv-delta2"))
    assert y == 1 and delta2 < 0
    assert delta2 == pytest.approx(y_hat - y, abs=2e-6)
    y_hat_ref = ref.forward(ref.X_train[index : index + 1])["y_hat"][0, 0]
    assert tab.page.locator("#tv-y_hat").inner_text() == f"{y_hat_ref:.6f}"
    tab.screenshot("explorer-trace-delta2.png")
    # every step renders, in order, with its equation
    tab.page.click("#rail button[data-step=x]")
    seen = []
    for _ in STEP_KEYS:
        card = tab.page.locator("#step-card")
        seen.append(card.get_attribute("data-step"))
        assert tab.page.locator("#step-eq").inner_text().strip()
        if seen[-1] == "dW1":
            tab.screenshot("explorer-trace-dW1.png")
        if tab.page.locator("#btn-step-next").is_enabled():
            tab.page.click("#btn-step-next")
    assert seen == STEP_KEYS
    tab.screenshot("explorer-trace-update.png")
    tab.check_clean()


def test_a_typed_in_borrower_is_traced_with_its_own_numbers(tab):
    age = tab.page.locator("#f-age")
    with tab.page.expect_response(lambda r: r.url.endswith("/network")):
        age.fill("70")
    tab.expect(tab.page.locator("#borrower-truth")).to_contain_text("Your own borrower")
    tab.expect(tab.page.locator("#network-caption")).to_contain_text("your own borrower")
    tab.page.check("#label-1")
    tab.page.click("#btn-trace")
    tab.expect(tab.page.locator("#step-card")).to_have_attribute("data-step", "x")
    # the standardised age shown is (70 - mean) / std of the training borrowers
    ref = reference_run()
    age_column = list(ref.raw_train.columns).index("age")
    expected = (70 - ref.scaler.mean_[age_column]) / ref.scaler.scale_[age_column]
    cell = tab.page.locator("#step-card table.nums tr").nth(1).locator("td").nth(1)
    assert float(cell.inner_text().replace("\u2212", "-")) == pytest.approx(expected, abs=5e-5)
    tab.page.click("#rail button[data-step=delta2]")
    assert tab.page.locator("#tv-y").inner_text() == "1"
    assert tab.number("#tv-delta2") == pytest.approx(tab.number("#tv-y_hat") - 1, abs=2e-6)
    tab.check_clean()


def test_forward_only_keeps_the_loss_flat(tab):
    tab.step(3)
    learning = tab.page.locator("#m-train-loss").inner_text()
    tab.settings_change(lambda: tab.page.check("#forward-only"))
    tab.expect(tab.page.locator("#status-pill")).to_have_text("forward only")
    losses = []
    for _ in range(5):
        tab.step(1)
        losses.append(tab.page.locator("#m-train-loss").inner_text())
    # no update: the loss stays at the weights the third update left (the table's)
    assert set(losses) == {learning}
    assert tab.page.locator("#chart-loss").is_visible()
    assert tab.page.locator("#m-epoch").inner_text() == "8"  # 8 epochs run, 3 with updates
    tab.screenshot("explorer-forward-only.png")
    tab.check_clean()


def test_learning_rate_ten_diverges_and_the_page_keeps_working(tab):
    slider = tab.page.locator("#lr")
    tab.settings_change(lambda: slider.press("End"))
    tab.expect(tab.page.locator("#lr-out")).to_have_text("10")
    tab.page.click("#btn-play")
    banner = tab.page.locator("#diverged")
    tab.expect(banner).to_be_visible()
    tab.expect(banner).to_contain_text("Training diverged at epoch 5")
    tab.expect(banner).to_contain_text("exceeds 10 x the first epoch's")
    tab.expect(tab.page.locator("#status-pill")).to_have_text("diverged at epoch 5")
    tab.expect(tab.page.locator("#btn-step")).to_be_disabled()
    # the network keeps the weights of the start of epoch 5 (after 5 updates); the table
    # shows them, and the curves end at epoch 4, the last epoch recorded
    assert tab.page.locator("#m-epoch").inner_text() == "5"
    tab.screenshot("explorer-diverged.png")
    # lower the learning rate, reset with seed 3: training works again
    tab.settings_change(lambda: slider.press("Home"))
    seed = tab.page.locator("#seed")
    seed.fill("3")
    seed.dispatch_event("change")
    tab.expect(banner).to_be_hidden()
    tab.expect(tab.page.locator("#btn-step")).to_be_enabled()
    tab.step(2)
    tab.expect(tab.page.locator("#status-pill")).to_have_text("ready")
    tab.check_clean()


def test_tabs_are_independent_and_an_evicted_tab_starts_again(browser, playwright_api):
    _, expect = playwright_api
    with ExplorerServer(max_sessions=2).start() as small:
        # one context (browser window) per tab, so that none is a throttled background tab
        contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(3)]
        tabs = []
        for context in contexts:
            page = context.new_page()
            t = Tab(page, expect, small.url)
            page.on("pageerror", lambda e, t=t: t.errors.append(str(e)))
            tabs.append(t)
        a, b, c = tabs
        for t in (a, b):
            t.page.goto(small.url)
            expect(t.page.locator("body")).to_have_attribute("data-ready", "true")
        a.step(2)
        expect(b.page.locator("#epoch-pill")).to_have_text("epoch 0")
        b.step(1)
        expect(a.page.locator("#epoch-pill")).to_have_text("epoch 2")
        c.page.goto(small.url)  # a third session: the least recently used (a's) goes
        expect(c.page.locator("body")).to_have_attribute("data-ready", "true")
        a.page.click("#btn-step")  # a's session is rebuilt, and the step runs on it
        expect(a.page.locator("#notice")).to_contain_text("rebuilt with the same settings")
        expect(a.page.locator("#epoch-pill")).to_have_text("epoch 1")
        a.step(1)
        expect(b.page.locator("#epoch-pill")).to_have_text("epoch 1")
        for t in tabs:
            t.check_clean()
        for context in contexts:
            context.close()


def test_missing_chromium_skips_here_and_fails_in_ci(monkeypatch):
    def nowhere(_):
        return None

    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        _chromium(nowhere, nowhere)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        _chromium(nowhere, nowhere)
