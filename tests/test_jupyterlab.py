"""The widget lessons in a real JupyterLab, in headless Chromium, run as a student runs them.

Core lesson 04: JupyterLab starts on a free port with a token and settings of its own; the test
opens ``solutions/04_widget_chat.ipynb`` (a copy without outputs), runs every cell above
"## Clean up", types into Alice's text box, presses Enter, and finds the line in Bob's log,
once. Then: the browser page in its frame (carol) chats with both widgets; the exercise's widget
shows who is online; the two zoes of the prediction show who was pushed out; the chat server
restarts and every client reconnects by itself; a second "alice" pushes the first one out.
Last, the clean-up cells run.

Elective E4: clicks wait for a cell that blocks but not for one that awaits, as the lesson says,
and the exercise's widget marks a mention.

JupyterLab and its kernels are stopped at the end, also when a test fails. Screenshots land in
``test-artifacts/jupyterlab/``: look at them after a change to the widgets or the lessons.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from browser import require_browser

require_browser()  # skips this module without Chromium or Playwright (fails instead when CI is set)

from playwright.sync_api import expect  # noqa: E402

from labdriver import (JupyterLab, check_widget_chat, execute_in_kernel,  # noqa: E402
                       fresh_copy, open_notebook, run_cells, screenshot, start_cell,
                       wait_for_cell)

pytestmark = pytest.mark.browser

expect.set_options(timeout=10_000)

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"
LESSON = SOLUTIONS / "04_widget_chat.ipynb"
ELECTIVE = SOLUTIONS / "E4_widgets_in_depth.ipynb"
#: Who is in the room when the test types: alice and bob; carol, the browser page in its
#: frame; dave, the exercise's widget; zoe, the second of the prediction's two zoes.
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


def the_exercises_widget(page: Any) -> None:
    """Dave's widget says who is online; of the two zoes, the first was pushed out."""
    dave = page.locator(".wslab-chat-dave")
    expect(dave.locator(".widget-html").nth(1)).to_have_text(
        "Online: alice, bob, carol, dave, zoe")
    dave.scroll_into_view_if_needed()
    screenshot(page, "widget-chat-6-who-is-online", dave)
    zoes = page.locator(".wslab-chat-zoe")
    expect(zoes.locator(".wslab-status")).to_have_text(
        ["closed: the name zoe connected again elsewhere", "connected"])
    expect(zoes.first.locator(".wslab-error").last).to_contain_text("in another window of yours")
    zoes.first.scroll_into_view_if_needed()
    screenshot(page, "widget-chat-6b-the-same-name", zoes.first.locator("xpath=.."))


def clicks_wait_for_a_blocking_cell(page: Any) -> None:
    """What step 1 of E4 says: a blocking cell holds clicks back, an awaiting one not."""
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
    # The locked ipykernel (7.4) handles widget messages while a cell awaits; older kernels
    # hold them until the cell ends, as the lesson warns.
    assert wait_for_cell(page, index).strip() == "clicks handled while the cell awaited: 2"


def restart_then_replace_alice(page: Any) -> None:
    """The server restarts: every client reconnects. Then "alice" connects again elsewhere."""
    chats = {name: page.locator(f".wslab-chat-{name}") for name in ("alice", "bob")}
    execute_in_kernel(page, "port = server.port\nserver.stop()")
    for chat in chats.values():
        expect(chat.locator(".wslab-status")).to_have_text(re.compile(r"^reconnecting"))
        expect(chat.locator(".wslab-note").filter(
            has_text="Disconnected: 1012 (the server is restarting).")).to_have_count(1)
    chats["alice"].scroll_into_view_if_needed()
    screenshot(page, "widget-chat-4-reconnecting", chats["alice"].locator("xpath=.."))
    execute_in_kernel(page, 'server = BackgroundServer(create_app(), port=port, '
                            'name="lesson04").start()')
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
    the_exercises_widget(page)
    restart_then_replace_alice(page)


def test_enter_in_alices_box_reaches_bobs_log(new_page, tmp_path):
    check_widget_chat(new_page, LESSON, tmp_path / "lab", online=ONLINE,
                      more=more_of_the_lesson)


def test_the_elective_clicks_wait_for_a_blocking_cell_and_mentions_are_marked(new_page,
                                                                             tmp_path):
    root = tmp_path / "lab" / "root"
    root.mkdir(parents=True)
    fresh_copy(ELECTIVE, root / ELECTIVE.name)
    with JupyterLab(root, tmp_path / "lab" / "home") as lab:
        page = new_page()
        try:
            open_notebook(page, lab, ELECTIVE.name)
            run_cells(page, before="clicks handled while the cell blocked")
            clicks_wait_for_a_blocking_cell(page)
            run_cells(page, from_="BLOCKED_TASK.predict")
            erin = page.locator(".wslab-chat-erin")
            expect(erin.locator(".wslab-log mark")).to_have_text(["@erin"])
            expect(erin.locator(".wslab-status")).to_have_text(re.compile("^closed"))
            erin.scroll_into_view_if_needed()
            screenshot(page, "widget-depth-mention", erin)
        except Exception:
            screenshot(page, "widget-depth-failed")
            print(f"JupyterLab's log:\n{lab.log_tail()}")
            raise
