"""The ``/chat`` page catches up after its socket is cut: in a real Chromium, against a real
uvicorn server that says what the test tells it to (``tests/scripted_room.py``).

The room cuts the page's TCP connection without a close frame (a Wi-Fi drop, seen from the
server), repeats lines, skips numbers, replays, and says ``history_reset`` and ``gap_too_old``;
the page must come back asking for what it missed (``resume``, ``epoch``, ``after``), show each
line once, the lines of before it came in greyed under "earlier messages", and "You missed some
messages" whenever it did. The bookkeeping's every case is tested in Python, where it is
written first (``tests/test_catch_up.py``); the page keeps a copy of it in JavaScript.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from browser import require_browser

require_browser()  # skips this module without Chromium or Playwright (fails instead when CI is set)

from playwright.sync_api import expect  # noqa: E402

from browser import page_url  # noqa: E402
from scripted_room import KEY, ScriptedRoom, resumed, said, system, welcome  # noqa: E402
from wslab.catch_up import EARLIER, LOST_HISTORY, missed_notice  # noqa: E402
from wslab.resume import AFTER_PARAM, EPOCH_PARAM, RESUME_PARAM  # noqa: E402

pytestmark = pytest.mark.browser

#: Fast reconnects (the first after 0.05-0.1 s), so the tests need not wait for the real delays.
FAST = {"retry": "0.1"}


@pytest.fixture
def room():
    with ScriptedRoom() as scripted:
        yield scripted


def log(page: Any) -> list[str]:
    """The message list as a reader sees it: each line's kind and text, top to bottom."""
    return page.evaluate("""() => [...document.getElementById('messages').children].map(line =>
        line.classList.contains('divider') ? `-- ${line.textContent} --`
        : `${line.classList.contains('history') ? 'grey ' : ''}${line.classList.contains('system')
            ? 'system' : 'chat'}: ${line.querySelector('.text').textContent}`)""")


def shown_once(page: Any, text: str) -> None:
    expect(page.locator("#messages .text", has_text=re.compile(f"^{re.escape(text)}$"))
           ).to_have_count(1)


def test_the_page_resumes_after_its_socket_is_cut_and_shows_each_line_once(room, new_page):
    page = new_page(page_url(room.url, name="pat", **FAST))
    first = room.connection(0)
    assert RESUME_PARAM not in first.query and EPOCH_PARAM not in first.query
    first.send(welcome("e1", 2),
               system("join", "Client #bob joined the chat", user="bob", participants=9,
                      seq=1, epoch="e1", history=True),
               said(2, "two", history=True), said(3, "three"), said(3, "three"),
               said(5, "five"))
    shown_once(page, "five")
    # The count is the welcome's: a line of history is not news of who is online.
    expect(page.locator("#participants")).to_have_text("2 online")
    assert log(page) == ["system: Welcome to the chat!", f"-- {EARLIER} --",
                         "grey system: Client #bob joined the chat", "grey chat: two",
                         "chat: three", f"system: {missed_notice(1)}", "chat: five"]

    first.cut()  # the TCP connection ends without a close frame
    again = room.connection(1)
    assert again.query == {RESUME_PARAM: KEY, EPOCH_PARAM: "e1", AFTER_PARAM: "5"}
    again.send(welcome("e1", 7), said(5, "five", replay=True), said(6, "six", replay=True),
               said(7, "seven", replay=True),
               resumed(2, "e1", 7), said(8, "eight"))
    shown_once(page, "eight")
    assert log(page)[7:] == [
        "system: Disconnected: the connection was lost without a close frame.",
        "system: Reconnected.", "chat: six", "chat: seven",
        "system: Caught up: 2 missed lines", "chat: eight"]
    for text in ("two", "three", "five", "six", "seven"):
        shown_once(page, text)


def test_the_page_says_it_missed_messages_when_the_server_cannot_replay_them(room, new_page):
    page = new_page(page_url(room.url, name="pat", **FAST))
    first = room.connection(0)
    first.send(welcome("e1", 0), said(1, "one"))
    shown_once(page, "one")
    first.cut()

    # Away too long: lines 2 to 9 are no longer in the server's history.
    second = room.connection(1)
    assert (second.query[EPOCH_PARAM], second.query[AFTER_PARAM]) == ("e1", "1")
    second.send(welcome("e1", 11), system("gap_too_old", "8 lines are too old", missed=8),
                said(10, "ten", replay=True), said(11, "eleven", replay=True),
                resumed(2, "e1", 11))
    expect(page.locator("#messages .text", has_text="Caught up")).to_have_count(1)
    second.cut()

    # The server restarted and lost its history: a new epoch, and its latecomer lines.
    third = room.connection(2)
    assert (third.query[EPOCH_PARAM], third.query[AFTER_PARAM]) == ("e1", "11")
    third.send(welcome("e2", 2),
               system("history_reset", "the chat server lost its history", epoch="e2", seq=2),
               said(1, "first of e2", epoch="e2", history=True),
               said(2, "second of e2", epoch="e2", history=True), said(3, "live", epoch="e2"))
    shown_once(page, "live")
    missed = page.locator("#messages .message.system.missed")
    expect(missed).to_have_text([re.compile(re.escape(missed_notice(8))),
                                 re.compile(re.escape(missed_notice(why=LOST_HISTORY)))])
    assert log(page)[-6:] == [
        "system: Reconnected.", f"system: {missed_notice(why=LOST_HISTORY)}",
        f"-- {EARLIER} --", "grey chat: first of e2", "grey chat: second of e2", "chat: live"]
    third.cut()
    assert room.connection(3).query[AFTER_PARAM] == "3"
