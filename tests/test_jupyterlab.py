"""The chat widgets in a real JupyterLab, in headless Chromium.

JupyterLab starts on a free port with a token and settings of its own; the test opens a
notebook that shows Alice's and Bob's ``ChatWidget`` side by side, runs its cells, types into
Alice's box, presses Enter, and finds the line in Bob's log, once. Then the chat server
restarts (both widgets reconnect by themselves) and a second "alice" pushes the first one out.
JupyterLab and its kernels are stopped at the end, also when the test fails.

Screenshots land in ``test-artifacts/jupyterlab/``. To run the same check on another notebook
(lesson 06's solution, say), call :func:`labdriver.check_widget_chat` with its path.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from browser import require_browser

require_browser()  # skips this module without Chromium or Playwright (fails instead when CI is set)

from playwright.sync_api import expect  # noqa: E402

from browser import browser, new_page  # noqa: E402,F401
from labdriver import (chat_widget_notebook, check_widget_chat,  # noqa: E402
                        execute_in_kernel, screenshot)

pytestmark = pytest.mark.browser

expect.set_options(timeout=10_000)


def restart_then_replace_alice(page: Any) -> None:
    """The server restarts: both reconnect. Then "alice" connects again elsewhere."""
    chats = {name: page.locator(f".wslab-chat-{name}") for name in ("alice", "bob")}
    execute_in_kernel(page, "port = server.port\nserver.stop()")
    for chat in chats.values():
        expect(chat.locator(".wslab-status")).to_have_text(re.compile(r"^reconnecting"))
        expect(chat.locator(".wslab-note").filter(
            has_text="Disconnected: the server is restarting.")).to_have_count(1)
    screenshot(page, "widget-chat-4-reconnecting", chats["alice"].locator("xpath=.."))
    execute_in_kernel(page, 'server = BackgroundServer(create_app(), port=port, '
                            'name="widget-chat-test").start()')
    for chat in chats.values():
        expect(chat.locator(".wslab-status")).to_have_text("connected")
        expect(chat.locator(".wslab-count")).to_have_text("2 online")

    execute_in_kernel(page, 'again = ChatWidget(server.ws_url, "alice")\n'
                            'await alice.wait_for(lambda chat: chat.status == "closed")\n'
                            'await again.close()')
    expect(chats["alice"].locator(".wslab-status")).to_have_text(
        "closed: the name alice connected again elsewhere")
    expect(chats["alice"].locator(".widget-text input")).to_be_disabled()
    screenshot(page, "widget-chat-5-replaced", chats["alice"].locator("xpath=.."))


def test_enter_in_alices_box_reaches_bobs_log(new_page, tmp_path):
    notebook = chat_widget_notebook(tmp_path / "widget_chat.ipynb")
    check_widget_chat(new_page, notebook, tmp_path / "lab", more=restart_then_replace_alice)
