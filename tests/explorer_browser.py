"""Shared parts of the explorer's browser tests: Chromium, the server, and a tab driver.

Without Chromium the tests are skipped, unless the environment variable ``CI`` is set:
then they fail. Each tab is a fresh page (a fresh session) on the real threaded server.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from backprop_lab.explorer.server import ExplorerServer

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, and CI is set: the browser tests must run in CI")
    pytest.skip(reason)


def _chromium(exists=os.path.exists, which=shutil.which) -> str:
    path = "/usr/bin/chromium" if exists("/usr/bin/chromium") else which("chromium")
    if path is None:
        _unavailable("Chromium is not installed (Debian package 'chromium')")
    return path


@pytest.fixture(scope="module")
def playwright_api():
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed")
    return sync_playwright, expect


@pytest.fixture(scope="module")
def browser(playwright_api):
    sync_playwright, _ = playwright_api
    executable = _chromium()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server():
    with ExplorerServer(max_sessions=8).start() as running:
        yield running


@dataclass
class Tab:
    page: object
    expect: object
    url: str
    screenshots: Path | None = None
    errors: list = field(default_factory=list)
    requests: list = field(default_factory=list)

    def number(self, selector: str) -> float:
        return float(self.page.locator(selector).inner_text().replace("\u2212", "-"))

    def screenshot(self, name: str) -> None:
        """Save the full page as ``name`` in the test's temporary directory."""
        self.page.screenshot(path=str(self.screenshots / name), full_page=True)

    def step(self, times: int) -> None:
        pill = self.page.locator("#epoch-pill")
        start = int(pill.inner_text().split()[1])
        for k in range(start + 1, start + times + 1):
            self.page.click("#btn-step")
            self.expect(pill).to_have_text(f"epoch {k}")

    def settings_change(self, action) -> None:
        """Do ``action`` and wait until the server has taken the new settings."""
        with self.page.expect_response(lambda r: r.url.endswith("/settings")) as reply:
            action()
        assert reply.value.status == 200

    def reset_change(self, action) -> None:
        """Do ``action`` and wait until the server has rebuilt the session."""
        with self.page.expect_response(lambda r: r.url.endswith("/reset")) as reply:
            action()
        assert reply.value.status == 200

    def idle(self) -> None:
        """Wait until every call the page has made has been answered and handled."""
        self.expect(self.page.locator("body")).to_have_attribute("data-pending", "0")

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()

    def check_clean(self) -> None:
        assert self.errors == [], self.errors
        outside = [u for u in self.requests if not u.startswith(self.url)]
        assert outside == [], f"the page fetched from elsewhere: {outside}"


@pytest.fixture
def open_tab(browser, server, playwright_api, tmp_path):
    """``open_tab(width, height, hash="")``: a fresh page at that viewport, ready to use."""
    _, expect = playwright_api
    contexts = []

    def opener(width: int = 1440, height: int = 1000, hash: str = "") -> Tab:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        t = Tab(page, expect, server.url, screenshots=tmp_path)
        page.on("pageerror", lambda e: t.errors.append(str(e)))
        page.on("console", lambda m: t.errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: t.requests.append(r.url))
        page.goto(server.url + hash)
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        return t

    yield opener
    for context in contexts:
        context.close()


@pytest.fixture
def tab(open_tab):
    return open_tab(1440, 1000)
