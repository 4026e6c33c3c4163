"""Browser test helpers: headless Debian Chromium driven by Playwright's sync API.

Its fixtures (``browser``, ``new_page``, ``watched``) are declared for every test by the root
``conftest.py``; Playwright is imported only when one of them is used, so tests that never touch
a browser never load it.

Chromium comes from the system (``apt-get install chromium``), never from ``playwright install``,
which downloads a browser (and fails on a closed network).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlencode

import pytest

from deadlines import scaled
from wslab.chat_page import render_page

MISSING_BROWSER = "browser tests need Debian's chromium: apt-get install chromium"
MISSING_PLAYWRIGHT = "browser tests need Playwright's Python driver: pip install playwright"

#: Where screenshots go (gitignored): look at them after a run.
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PROJECTOR = {"width": 1280, "height": 720}  # the slides' frame

CHROMIUM_ARGS = [
    "--no-sandbox",                      # needed when running as root (containers, CI)
    "--disable-gpu",
    "--disable-background-networking",   # keep Chromium from reaching for the network
    "--disable-component-update",
]


def require_browser() -> None:
    """Skip the calling test module when Chromium or Playwright is missing; fail under CI.

    Call it at the top of a browser test module, before importing Playwright. On a laptop a
    missing browser is a skip with the command that fixes it; in CI (``CI`` set) the browser
    tests are required, so the same problem is a failure.
    """
    problem = None
    if shutil.which("chromium") is None:
        problem = MISSING_BROWSER
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = MISSING_PLAYWRIGHT
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{problem} (required when CI is set)", pytrace=False)
    pytest.skip(problem, allow_module_level=True)


def page_url(base: str, path: str = "/chat", **params: Any) -> str:
    """``base + path`` with the given query parameters (None values left out)."""
    query = urlencode({key: value for key, value in params.items() if value is not None})
    return f"{base.rstrip('/')}{path}" + (f"?{query}" if query else "")


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot of ``page`` as ``test-artifacts/chat-page/<name>.png``."""
    path = ARTIFACTS / "chat-page" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for a whole test module (starting one takes about a second)."""
    from playwright.sync_api import sync_playwright

    from playwright.sync_api import expect

    # Playwright's limits (30 s an action, 5 s an expect()), scaled like every test's.
    expect.set_options(timeout=scaled(5) * 1000)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open pages, each in its own browser context (its own cookies and storage).

    ``new_page(url=None, viewport=DESKTOP)`` returns the page, navigated to ``url`` if given.
    Every context is closed after the test, and an uncaught JavaScript error on any page fails
    the test: a broken script must not pass just because the assertions looked elsewhere.
    """
    contexts: list[Any] = []
    errors: list[str] = []

    def open_page(url: str | None = None, viewport: dict[str, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(scaled(30) * 1000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        if url is not None:
            page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def kit_page_html() -> str:
    """The kit's browser client, as the server serves it at ``/chat``."""
    return render_page()


def serve_kit_page(page: Any, url: str) -> None:
    """Answer ``url`` (any query) with the kit's page, without any server or network."""
    html = kit_page_html()
    page.route(re.compile(re.escape(url) + r"(\?.*)?$"),
               lambda route: route.fulfill(body=html, content_type="text/html"))


class Watched:
    """A browser context whose every request is recorded: anything not read from the disk is
    aborted, as a request that would leave the machine; its pages' console errors are recorded
    too. It watches every page of the context: popups (the speaker view) and frames included."""

    LOCAL = ("file://", "data:", "about:", "blob:")

    def __init__(self, page: Any) -> None:
        self.page = page
        self.context = page.context
        self.outside: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", self._request)
        self.context.on("requestfailed", lambda request: self.failed.append(request.url))
        self.context.on("console", lambda message: message.type == "error"
                        and self.errors.append(f"{message.page.url if message.page else ''}: "
                                               f"{message.text}"))
        self.context.on("page", self._watch_sockets)
        self._watch_sockets(page)
        self.context.route("**/*", self._route)

    def _watch_sockets(self, page: Any) -> None:
        page.on("websocket", lambda socket: self.outside.append(socket.url))

    def _request(self, request: Any) -> None:
        if not request.url.startswith(self.LOCAL):
            self.outside.append(request.url)

    def _route(self, route: Any) -> None:
        if route.request.url.startswith(self.LOCAL):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def assert_clean(self) -> None:
        assert self.outside == [], f"requests that would leave the machine: {self.outside}"
        assert [url for url in self.failed if url.startswith("file://")] == [], self.failed
        assert self.errors == [], f"console errors: {self.errors}"


@pytest.fixture
def watched(request: pytest.FixtureRequest) -> Callable[..., Watched]:
    """``watched(viewport)``: a new page in headless Chromium, watched (see :class:`Watched`)."""
    require_browser()
    opener = request.getfixturevalue("new_page")

    def open_page(viewport: dict[str, int] = PROJECTOR) -> Watched:
        return Watched(opener(viewport=viewport))

    return open_page
