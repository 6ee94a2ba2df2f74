"""The explorer's additions in Chromium: the tutorial's experiment in one click, compared
runs, settings in the link, a planted bug caught by the gradient check, hidden units."""

# ruff: noqa: F811 (the fixtures imported from explorer_browser are requested by name)
from __future__ import annotations

import re

from explorer_browser import browser, open_tab, playwright_api, server, tab  # noqa: F401

MINUS = "\u2212"


def _float(text: str) -> float:
    return float(text.replace(MINUS, "-"))


def test_the_tutorial_experiment_is_one_click(tab):
    tab.page.click("#btn-tutorial")
    tab.expect(tab.page.locator("#tutorial-progress")).to_contain_text("Done", timeout=180_000)
    runs = tab.page.locator("#runs li")
    tab.expect(runs).to_have_count(4)  # three earlier runs and the live one
    text = tab.text("#runs")
    for part in ("forward only", "η 0.001", "η 0.01", "init small"):
        assert part in text
    assert tab.text("#epoch-pill") == "epoch 500"
    assert tab.page.locator("#init").input_value() == "small"
    assert tab.page.locator("#n").input_value() == "5000"
    # forward only: the loss does not move; each larger rate ends lower (500 epochs)
    ends = {}
    for k in range(3):
        first, last = re.search(r"train loss (\S+) → (\S+)$", runs.nth(k).inner_text()).groups()
        ends[k] = (_float(first), _float(last))
    assert ends[0][0] == ends[0][1]
    assert ends[0][1] > ends[1][1] > ends[2][1] > _float(tab.text("#m-train-loss"))
    tab.screenshot("explorer-tutorial.png")
    tab.check_clean()


def test_a_link_opens_the_same_settings(open_tab):
    t = open_tab(1440, 1000, "#seed=5&lr=0.05&hidden=4&init=small&batch_size=32")
    assert t.page.locator("#seed").input_value() == "5"
    assert t.text("#lr-out") == "0.05" and t.text("#hidden-out") == "4"
    assert t.page.locator("#init").input_value() == "small"
    assert t.page.locator("#batch").input_value() == "32"
    assert t.text("#arch").startswith("7 → 4")
    t.reset_change(lambda: t.page.select_option("#activation", "tanh"))
    t.expect(t.page.locator("#arch")).to_contain_text("tanh")
    link = t.page.evaluate("() => location.hash")
    assert "activation=tanh" in link and "seed=5" in link and "lr=0.05" in link
    t.check_clean()


def test_a_bad_link_falls_back_to_defaults_with_a_note(open_tab):
    t = open_tab(1440, 1000, "#lr=abc&hidden=99&colour=red&seed=7")
    notice = t.page.locator("#notice")
    t.expect(notice).to_be_visible()
    for part in ("lr=abc", "hidden=99", "colour"):
        t.expect(notice).to_contain_text(part)
    assert t.text("#hidden-out") == "8" and t.text("#lr-out") == "0.5"
    assert t.page.locator("#seed").input_value() == "7"  # the valid part is kept


def test_a_planted_bug_is_caught_by_the_gradient_check(tab):
    tab.reset_change(lambda: tab.page.select_option("#bug", "no_fprime"))
    tab.step(3)
    tab.page.click("#btn-gradcheck")
    tab.expect(tab.page.locator("#gc-verdict")).to_have_text("FAIL")
    assert _float(tab.text("#gc-rel")) > 1e-2
    assert "wrong" in tab.page.locator("#gc-rel").get_attribute("class")
    tab.expect(tab.page.locator("#gradcheck-result .note.bug")).to_be_visible()
    tab.page.click("#btn-trace")
    tab.page.click("#rail button[data-step=delta1]")
    tab.expect(tab.page.locator("#step-card .note.bug")).to_be_visible()
    tab.screenshot("explorer-planted-bug.png")
    tab.reset_change(lambda: tab.page.select_option("#bug", "none"))
    tab.page.click("#btn-gradcheck")
    tab.expect(tab.page.locator("#gc-verdict")).to_have_text("PASS")
    assert _float(tab.text("#gc-rel")) < 1e-6
    tab.check_clean()


def test_the_hidden_units_are_drawn_one_plot_each_and_follow_training(tab):
    tab.page.click("#units-open summary")
    tab.expect(tab.page.locator("#units-grid canvas")).to_have_count(8)
    tab.expect(tab.page.locator("#units-caption")).to_contain_text("after epoch 0")
    tab.page.select_option("#units-feature", "age")
    tab.expect(tab.page.locator("#units-caption")).to_contain_text("their age")
    tab.step(2)
    tab.expect(tab.page.locator("#units-caption")).to_contain_text("after epoch 2")
    tab.check_clean()


def test_the_one_weight_check_is_written_out_for_a_chosen_weight(tab):
    tab.page.select_option("#gc-input", "1")  # annual income
    tab.page.select_option("#gc-unit", "2")  # unit 3
    tab.page.click("#btn-gradcheck")
    tab.expect(tab.page.locator("#gc-verdict")).to_have_text("PASS")
    tab.expect(tab.page.locator("#gradcheck-result")).to_contain_text("annual income → unit 3")
    assert _float(tab.text("#gc-rel")) < 1e-6
    tab.check_clean()


def test_a_deeper_network_is_drawn_layer_by_layer(tab):
    tab.reset_change(lambda: tab.page.select_option("#depth", "3"))
    tab.expect(tab.page.locator("#arch")).to_have_text("7 → 8 ReLU → 8 ReLU → 8 ReLU → 1 sigmoid")
    assert tab.page.locator("#net circle").count() == 7 + 3 * 8 + 1
    tab.expect(tab.page.locator("#btn-trace")).to_be_disabled()
    tab.expect(tab.page.locator("#trace-deep")).to_be_visible()
    tab.step(2)
    tab.page.click("#btn-gradcheck")
    tab.expect(tab.page.locator("#gc-verdict")).to_have_text("PASS")
    assert tab.page.locator("#gc-table tr").count() == 9  # header + W1..W4, b1..b4
    assert "depth=3" in tab.page.evaluate("() => location.hash")
    tab.check_clean()
