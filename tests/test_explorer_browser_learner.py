"""What a learner ran into in the explorer, each as a browser test in Chromium.

Every test here failed on the page as it was before its fix (run against that code) and
checks the fixed behaviour with numbers computed independently of the page: the
reference run of explorer_support (PyTorch autograd, scikit-learn's split and scaling),
or arithmetic on the numbers the page shows.
"""

# ruff: noqa: F811 (the fixtures imported from explorer_browser are requested by name)
from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from explorer_browser import browser, open_tab, playwright_api, server, tab  # noqa: F401
from explorer_support import reference_run

MINUS = "\u2212"


def _float(text: str) -> float:
    return float(text.replace(MINUS, "-").replace(",", ""))


# ---- 1. the trace and the network it highlights are on screen together ---------------------
#: Scroll until the step card's first 300 px reach the bottom of the window (as a learner
#: reading the step would), then say where the diagram and the card are, and whether
#: each is the element actually drawn at a point inside it (not covered by another),
#: after the page has had a few frames to react to the scroll.
ON_SCREEN = """async () => {
  const card = document.getElementById("step-card");
  let r = card.getBoundingClientRect();
  const need = r.top + Math.min(300, r.height) - innerHeight + 4;
  if (need > 0) window.scrollBy(0, need);
  for (let k = 0; k < 3; k++) await new Promise((done) => requestAnimationFrame(done));  // settle
  r = card.getBoundingClientRect();
  const net = document.getElementById("net").getBoundingClientRect();
  const drawn = (x, y, id) => { const el = document.elementFromPoint(x, y); return !!(el && el.closest("#" + id)); };
  return { vh: innerHeight, netTop: net.top, netBottom: net.bottom, cardTop: r.top,
           netDrawn: drawn(net.left + net.width / 2, net.top + net.height / 2, "net"),
           cardDrawn: drawn(r.left + 30, r.top + Math.min(150, r.height / 2), "step-card") };
}"""


@pytest.mark.parametrize("size", [(1400, 900), (1366, 768), (800, 900)])
def test_the_trace_and_the_network_are_on_screen_together(open_tab, size):
    t = open_tab(*size)
    t.page.click("#btn-trace")
    t.page.click("#rail button[data-step=dW1]")
    t.expect(t.page.locator("#step-card")).to_have_attribute("data-step", "dW1")
    seen = t.page.evaluate(ON_SCREEN)
    assert 0 <= seen["netTop"] and seen["netBottom"] <= seen["vh"], seen
    assert seen["netDrawn"] and seen["cardDrawn"], seen
    assert 0 <= seen["cardTop"] <= seen["vh"] - 150, seen
    t.check_clean()


# ---- 2. written-out sums wrap, and their terms add up to the result shown -------------------
@pytest.mark.parametrize("step", ["z1", "z2"])
def test_written_sums_fit_and_add_up(tab, step):
    tab.page.click("#btn-trace")
    tab.page.click(f"#rail button[data-step={step}]")
    tab.expect(tab.page.locator("#step-card")).to_have_attribute("data-step", step)
    clipped = tab.page.evaluate(
        """() => [...document.querySelectorAll("#step-card .eq, #step-card .sum")]
                 .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.outerHTML.slice(0, 80))"""
    )
    assert clipped == []
    written = tab.page.locator(f"#sum-{step}")
    terms = written.locator(".term")
    assert terms.count() >= 2  # the products (7 for z1, 8 for z2) and the bias
    total = Decimal(0)
    for k in range(terms.count()):
        term = terms.nth(k)
        value = Decimal(term.inner_text().replace(MINUS, "-"))
        total += -value if "neg" in (term.get_attribute("class") or "") else value
    result = written.locator(".sum-result").inner_text().replace(MINUS, "-")
    places = Decimal(1).scaleb(-len(result.split(".")[1]))
    assert total.quantize(places) == Decimal(result)
    # the result and the bias are inside the box, not cut off
    box = written.bounding_box()
    for part in (written.locator(".sum-result"), written.locator(".term.bias")):
        r = part.bounding_box()
        assert box["x"] <= r["x"] and r["x"] + r["width"] <= box["x"] + box["width"] + 1
    tab.check_clean()


# ---- 3. the gradient legend only with gradients, and gradients coloured by sign -------------
VISIBLE_GRADIENT_LEGEND = """() => [...document.querySelectorAll("#net-legend *")]
  .some((el) => [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.includes("∂L/∂w"))
                && el.getClientRects().length > 0)"""

EDGE_GRADIENTS = """() => [...document.querySelectorAll("#net line")].flatMap((line) => {
  const title = line.querySelector("title");
  const m = title && title.textContent.match(/∂L\\/∂w = (\\S+)/);
  return m ? [[m[1], line.getAttribute("stroke")]] : [];
})"""


def test_the_gradient_legend_shows_only_with_gradients(tab):
    assert tab.page.evaluate(VISIBLE_GRADIENT_LEGEND) is False  # no trace: no gradients drawn
    tab.page.click("#btn-trace")
    assert tab.page.evaluate(VISIBLE_GRADIENT_LEGEND) is False  # a forward step
    tab.page.click("#rail button[data-step=dW1]")
    tab.expect(tab.page.locator("#step-card")).to_have_attribute("data-step", "dW1")
    assert tab.page.evaluate(VISIBLE_GRADIENT_LEGEND) is True


def test_gradients_are_coloured_by_sign(tab):
    tab.page.click("#btn-trace")
    tab.page.click("#rail button[data-step=dW1]")
    tab.expect(tab.page.locator("#step-card")).to_have_attribute("data-step", "dW1")
    strokes: dict[int, set] = {1: set(), -1: set()}
    for text, stroke in tab.page.evaluate(EDGE_GRADIENTS):
        g = _float(text)
        if g != 0:
            strokes[int(np.sign(g))].add(stroke)
    assert len(strokes[1]) == 1 and len(strokes[-1]) == 1  # both signs occur for borrower #0
    assert strokes[1] != strokes[-1]
    tab.check_clean()


# ---- 4. the epoch counter and the table speak of the same weights ---------------------------
def test_after_three_steps_the_pill_and_the_table_show_the_same_weights(tab):
    tab.step(3)
    assert tab.text("#epoch-pill") == "epoch 3"
    assert tab.text("#m-epoch") == "3"
    # the loss of the weights after 3 updates: the reference's entry 3 (its 4th epoch)
    ref = reference_run(epochs=4)
    assert tab.text("#m-train-loss") == f"{ref.history['loss'][3]:.6f}"
    assert tab.text("#m-test-loss") == f"{ref.history['val_loss'][3]:.6f}"
    tab.check_clean()


# ---- 5. a gradient-check result says when it is out of date ---------------------------------
def test_the_gradient_check_result_goes_out_of_date(tab):
    tab.step(2)
    tab.page.click("#btn-gradcheck")
    tab.expect(tab.page.locator("#gc-verdict")).to_have_text("PASS")
    assert "weights after epoch 2" in tab.text("#gradcheck-result")
    tab.step(1)
    tab.expect(tab.page.locator("#gradcheck-result")).to_contain_text("Out of date")
    tab.page.select_option("#activation", "tanh")
    tab.expect(tab.page.locator("#gradcheck-result")).not_to_contain_text("weights after epoch")
    tab.expect(tab.page.locator("#gradcheck-result")).to_contain_text("rebuilt")
    tab.check_clean()


# ---- 6. the Bayes-optimal line comes with its sampling band ---------------------------------
def test_the_bayes_line_is_shown_as_an_expectation_with_its_band(tab):
    ref = reference_run()
    y, p = ref.y_test, ref.p_test
    losses = -(y * np.log(p) + (1 - y) * np.log1p(-p))
    se = losses.std(ddof=1) / np.sqrt(len(losses))
    assert tab.text("#m-bayes-loss") == f"{losses.mean():.4f} ± {2 * se:.4f}"
    explained = tab.text("#bayes-explain")
    assert "by chance" in explained and f"√{len(losses)}" in explained
    assert "No model beats it" not in tab.page.locator("body").inner_text()
    tab.check_clean()


# ---- 7. silent failure: oscillation and dead units are reported -----------------------------
def test_oscillation_and_dead_units_are_reported(tab):
    tab.reset_change(lambda: tab.page.select_option("#init", "small"))
    tab.settings_change(lambda: tab.page.locator("#lr").press("End"))
    tab.step(12)
    # the definitions, computed here from the reference run (PyTorch) of the same settings
    ref = reference_run(init="small", lr=10.0, epochs=12)
    loss = np.asarray(ref.history["loss"][-10:])
    rises = int(np.sum(np.diff(loss) > 0.005 * loss[:-1]))
    z1 = ref.X_train @ ref.final["W1"] + ref.final["b1"]
    dead = int(np.sum(np.all(z1 <= 0, axis=0)))
    assert rises >= 3 and dead >= 1  # the run the learner saw: it oscillates, units die
    pill = tab.page.locator("#status-pill")
    tab.expect(pill).to_contain_text("oscillating")
    tab.expect(pill).to_contain_text(f"{dead} of 8 units dead")
    warnings = tab.page.locator("#warnings")
    tab.expect(warnings.locator("[data-code=oscillating]")).to_contain_text(f"rose {rises} times")
    tab.expect(warnings.locator("[data-code=dead_units]")).to_contain_text(
        "every training borrower"
    )
    tab.check_clean()


# ---- 8. restart from the same weights; a mid-run change is marked ---------------------------
def test_restart_keeps_the_seed_and_weights_and_changes_are_marked(tab):
    tab.step(2)
    first = tab.text("#m-train-loss")
    tab.page.click("#btn-restart")
    tab.expect(tab.page.locator("#epoch-pill")).to_have_text("epoch 0")
    assert tab.page.locator("#seed").input_value() == "0"
    tab.step(2)
    assert tab.text("#m-train-loss") == first  # same data, same initial weights, same lr
    tab.expect(tab.page.locator("#runs li")).to_have_count(2)  # the first run as a ghost
    assert "run 1: seed 0, η 0.5" in tab.text("#runs")
    tab.settings_change(lambda: tab.page.locator("#lr").press("Home"))
    tab.step(1)
    tab.expect(tab.page.locator("#changes")).to_contain_text("epoch 2: learning rate 0.5 → 0.0001")
    tab.check_clean()


# ---- 9. the update: before and after, and the borrower's loss after the step ----------------
def test_the_update_step_shows_before_after_and_the_new_loss(tab):
    ref = reference_run()
    tab.page.click("#btn-trace")
    tab.page.click("#rail button[data-step=update]")
    tab.expect(tab.page.locator("#step-card")).to_have_attribute("data-step", "update")
    want = ref.trace(ref.X_train[0], int(ref.y_train[0]), lr=0.5)
    assert tab.text("#tv-loss-before") == f"{want['loss']:.6f}"
    assert tab.text("#tv-loss-after") == f"{want['loss_new']:.6f}"
    for table, key in (("#w1-before", "W1"), ("#w1-after", "W1_new")):
        cell = tab.page.locator(f"{table} tr").nth(1).locator("td").nth(0)
        assert _float(cell.inner_text()) == pytest.approx(want[key][0, 0], abs=5e-5)
    tab.check_clean()


# ---- 10. controls that show what they hold, and a diagram that can be read ------------------
#: Width the selected option's text needs, and the room the select gives it (its inner
#: width less padding and about 20 px for the drop-down arrow).
SELECT_ROOM = """(id) => {
  const el = document.getElementById(id);
  const style = getComputedStyle(el);
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const text = el.options[el.selectedIndex].text;
  const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 20;
  return { text, need: ctx.measureText(text).width, room };
}"""


def test_the_initial_weights_choice_is_not_cut_off(tab):
    tab.reset_change(lambda: tab.page.select_option("#init", "small"))
    seen = tab.page.evaluate(SELECT_ROOM, "init")
    assert "0.01·N(0, 1)" in seen["text"].replace("N(0,1)", "N(0, 1)")
    assert seen["need"] <= seen["room"], seen


def test_raw_values_read_the_same_in_the_boxes_and_the_trace(tab):
    tab.page.click("#btn-trace")
    tab.expect(tab.page.locator("#step-card")).to_have_attribute("data-step", "x")
    rows = tab.page.locator("#step-card table.nums tr")
    boxes = tab.page.locator("#feature-table input")
    assert rows.count() == 8 and boxes.count() == 7
    for i in range(7):
        shown = rows.nth(i + 1).locator("td").nth(0).inner_text()
        assert shown == boxes.nth(i).input_value(), i


def test_an_empty_feature_box_is_named_not_read_as_zero(tab):
    tab.page.locator("#f-age").fill("")
    message = tab.page.locator("#message")
    tab.expect(message).to_be_visible()
    tab.expect(message).to_contain_text("empty")
    assert "got 0" not in message.inner_text()


def test_an_invalid_seed_is_refused_and_the_box_shows_the_seed_in_use(tab):
    tab.step(1)
    seed = tab.page.locator("#seed")
    seed.fill("-5")
    seed.dispatch_event("change")
    tab.expect(tab.page.locator("#message")).to_contain_text("seed")
    tab.expect(seed).to_have_value("0")
    assert tab.text("#epoch-pill") == "epoch 1"  # the run goes on, on the data of seed 0


SMALLEST_TEXT = """() => {
  const svg = document.getElementById("net");
  const scale = svg.getScreenCTM().a;
  return Math.min(...[...svg.querySelectorAll("text")].map((t) => parseFloat(getComputedStyle(t).fontSize) * scale));
}"""


def test_the_diagram_text_is_readable_on_a_narrow_screen(open_tab):
    t = open_tab(800, 900)
    assert t.page.evaluate(SMALLEST_TEXT) >= 9.0  # pixels on screen


# ---- 11. controls and server stay in step when changes come quickly -------------------------
def test_a_batch_change_right_after_a_reset_is_what_the_server_trains_with(tab):
    both = """() => {
      const a = document.getElementById("activation"); a.value = "tanh"; a.dispatchEvent(new Event("change"));
      const b = document.getElementById("batch"); b.value = "8"; b.dispatchEvent(new Event("change"));
    }"""
    with tab.page.expect_response(lambda r: r.url.endswith("/settings")) as reply:
        tab.page.evaluate(both)
    assert reply.value.json()["config"]["batch_size"] == 8
    tab.expect(tab.page.locator("#batch")).to_have_value("8")
    tab.idle()
    tab.expect(tab.page.locator("#batch")).to_have_value("8")
    assert tab.page.locator("#activation").input_value() == "tanh"


# ---- 13. accessibility -------------------------------------------------------------------
def test_the_learning_rate_slider_announces_the_rate(tab):
    slider = tab.page.locator("#lr")
    tab.expect(slider).to_have_attribute("aria-valuetext", "learning rate 0.5")
    tab.settings_change(lambda: slider.press("End"))
    tab.expect(slider).to_have_attribute("aria-valuetext", "learning rate 10")


def test_moving_through_the_trace_keeps_the_focus_and_announces_the_step(tab):
    tab.page.click("#btn-trace")
    assert tab.page.locator("#step-card").get_attribute("aria-live") == "polite"
    button = tab.page.locator("#rail button[data-step=z1]")
    button.focus()
    tab.page.keyboard.press("Enter")
    tab.expect(tab.page.locator("#step-card")).to_have_attribute("data-step", "z1")
    focused = tab.page.evaluate(
        "() => document.activeElement.dataset.step || document.activeElement.tagName"
    )
    assert focused == "z1"
    tab.expect(button).to_have_attribute("aria-current", "step")


def test_arrow_keys_on_the_hidden_units_slider_reset_once(tab):
    resets = []
    tab.page.on(
        "request", lambda r: resets.append(r.post_data) if r.url.endswith("/reset") else None
    )
    slider = tab.page.locator("#hidden")
    slider.focus()
    with tab.page.expect_response(
        lambda r: r.url.endswith("/reset") and '"hidden":11' in (r.request.post_data or "")
    ):
        for _ in range(3):
            slider.press("ArrowRight")
    tab.expect(tab.page.locator("#arch")).to_contain_text("7 → 11")
    assert len(resets) == 1, resets
