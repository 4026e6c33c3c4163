"""Lesson 06 in a real JupyterLab, in headless Chromium: its solution, run as a student runs it.

JupyterLab starts on a free port with a token and settings of its own; the test opens
``solutions/06_widget_chat.ipynb`` (a copy without outputs), runs every cell above "## Clean up",
types into Alice's text box, presses Enter, and finds the line in Bob's log, once. Then: the
browser page in its frame (carol) chats with both widgets; the exercises' widgets show who is
online and mark a mention; clicks wait for a cell that blocks
but not for one that awaits, as the lesson says; the chat server restarts and every client
reconnects by itself; a second "alice" pushes the first one out. Last, the clean-up cells run.
JupyterLab and its kernels are stopped at the end, also when the test fails.

Screenshots land in ``test-artifacts/jupyterlab/``: look at them after a change to the widgets
or the lesson.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from browser import require_browser

require_browser()  # skips this module without Chromium or Playwright (fails instead when CI is set)

from playwright.sync_api import expect  # noqa: E402

from browser import browser, new_page  # noqa: E402,F401
from labdriver import (check_widget_chat, execute_in_kernel, screenshot,  # noqa: E402
                       start_cell, wait_for_cell)

pytestmark = pytest.mark.browser

expect.set_options(timeout=10_000)

LESSON = Path(__file__).resolve().parent.parent / "solutions" / "06_widget_chat.ipynb"
#: Who is in the room when the test types: alice and bob; carol, the browser page in its
#: frame; dave and erin, the exercises' widgets.
ONLINE = 5
#: The page reconnects with its own backoff (1 s, 2 s, 4 s, ... with jitter): give it time.
RECONNECT_TIMEOUT = 20_000


def carol_chats_with_the_widgets(page: Any) -> None:
    """The browser page in the lesson's frame is in the same room as the widgets."""
    carol = page.frame_locator("iframe[src*='/chat?name=carol']")
    expect(carol.locator("#participants")).to_have_text(f"{ONLINE} online")
    expect(carol.locator("#messages")).to_contain_text("Hello from the browser")
    carol.locator("#messageText").fill("Carol here, from the page")
    carol.locator("#messageText").press("Enter")
    for name in ("alice", "bob"):
        line = page.locator(f".wslab-chat-{name} .wslab-other").filter(
            has_text="Carol here, from the page")
        expect(line).to_have_count(1)
        expect(line.locator(".wslab-who")).to_have_text("carol")
    page.locator("iframe[src*='/chat?name=carol']").scroll_into_view_if_needed()
    screenshot(page, "widget-chat-3b-page-in-the-room")


def the_exercises_widgets(page: Any) -> None:
    """Dave's widget says who is online; Erin's marks her name."""
    dave = page.locator(".wslab-chat-dave")
    expect(dave.locator(".widget-html").nth(1)).to_have_text(
        "Online: alice, bob, carol, dave, erin")
    dave.scroll_into_view_if_needed()
    screenshot(page, "widget-chat-6-who-is-online", dave)
    erin = page.locator(".wslab-chat-erin")
    expect(erin.locator(".wslab-log mark")).to_have_text(["@erin"])
    erin.scroll_into_view_if_needed()
    screenshot(page, "widget-chat-7-mention", erin)


def version_tuple(package: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version(package).split(".")[:2])


def clicks_wait_for_a_blocking_cell(page: Any) -> None:
    """What step 2 of the lesson says: a blocking cell holds clicks back, an awaiting one not."""
    button = page.locator(".widget-button").filter(has_text="Click me")
    before = int(execute_in_kernel(page, "print(clicks)"))

    index = start_cell(page, "clicks handled while the cell blocked")
    button.click()
    button.click()
    assert wait_for_cell(page, index).strip() == "clicks handled while the cell blocked: 0"
    assert int(execute_in_kernel(page, "print(clicks)")) == before + 2  # handled afterwards

    index = start_cell(page, "clicks handled while the cell awaited")
    button.click()
    expect(page.locator(".widget-html").filter(has_text=f"{before + 3} clicks")).to_have_count(1)
    button.click()
    # ipykernel 7.4 (Python 3.11 and later) handles widget messages while a cell awaits; 7.3,
    # the last for Python 3.10, holds them until the cell ends, as the lesson warns.
    handled = 2 if version_tuple("ipykernel") >= (7, 4) else 0
    assert wait_for_cell(page, index).strip() == (
        f"clicks handled while the cell awaited: {handled}")


def restart_then_replace_alice(page: Any) -> None:
    """The server restarts: every client reconnects. Then "alice" connects again elsewhere."""
    chats = {name: page.locator(f".wslab-chat-{name}") for name in ("alice", "bob")}
    execute_in_kernel(page, "port = server.port\nserver.stop()")
    for chat in chats.values():
        expect(chat.locator(".wslab-status")).to_have_text(re.compile(r"^reconnecting"))
        expect(chat.locator(".wslab-note").filter(
            has_text="Disconnected: the server is restarting.")).to_have_count(1)
    chats["alice"].scroll_into_view_if_needed()
    screenshot(page, "widget-chat-4-reconnecting", chats["alice"].locator("xpath=.."))
    execute_in_kernel(page, 'server = BackgroundServer(create_app(), port=port, '
                            'name="lesson06").start()')
    for chat in chats.values():
        expect(chat.locator(".wslab-status")).to_have_text("connected")
        expect(chat.locator(".wslab-count")).to_have_text(f"{ONLINE} online",
                                                          timeout=RECONNECT_TIMEOUT)

    execute_in_kernel(page, 'again = ChatWidget(server.ws_url, "alice")\n'
                            'await alice.wait_for(lambda chat: chat.status == "closed")\n'
                            'await again.close()')
    expect(chats["alice"].locator(".wslab-status")).to_have_text(
        "closed: the name alice connected again elsewhere")
    expect(chats["alice"].locator(".widget-text input")).to_be_disabled()
    screenshot(page, "widget-chat-5-replaced", chats["alice"].locator("xpath=.."))


def more_of_the_lesson(page: Any) -> None:
    carol_chats_with_the_widgets(page)
    the_exercises_widgets(page)
    clicks_wait_for_a_blocking_cell(page)
    restart_then_replace_alice(page)


def test_enter_in_alices_box_reaches_bobs_log(new_page, tmp_path):
    check_widget_chat(new_page, LESSON, tmp_path / "lab", online=ONLINE,
                      more=more_of_the_lesson)
