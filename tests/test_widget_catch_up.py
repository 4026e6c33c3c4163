"""``ChatWidget`` after a Wi-Fi drop: the log shows what the ``/chat`` page shows.

Each numbered line once, the replay as ordinary lines, the lines from before the widget came in
greyed under "earlier messages", "You missed some messages" for a live gap, ``gap_too_old`` and
``history_reset``, and a quiet "caught up". Against a scripted room
(``tests/scripted_room.py``, a real uvicorn server), with the widget's real client; checked in
``entries`` and in the HTML the log shows, as ``tests/test_widgets.py`` does.
"""

from __future__ import annotations

from html.parser import HTMLParser

import ipywidgets as widgets
import pytest

from scripted_room import KEY, ScriptedRoom, resumed, said, system, welcome
from widget_checks import FAST_POLICY
from wslab.catch_up import EARLIER, LOST_HISTORY, missed_notice
from wslab.resume import AFTER_PARAM, EPOCH_PARAM, RESUME_PARAM
from wslab.widgets import ChatWidget

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_widget_left_open")]


@pytest.fixture
async def room():
    with ScriptedRoom() as scripted:
        yield scripted


@pytest.fixture
async def chat(room):
    widget = ChatWidget(room.ws_url, "pat", policy=FAST_POLICY)
    yield widget
    await widget.close()
    widgets.Widget.close(widget)


class _Lines(HTMLParser):
    """Reads the log's HTML: each line's (or divider's) classes and text, top to bottom."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[list[str]] = []
        self._in_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if "wslab-line" in classes or "wslab-divider" in classes:
            kind = " ".join(name.removeprefix("wslab-") for name in classes
                            if name != "wslab-line")
            self.lines.append([kind, ""])
        self._in_text = "wslab-text" in classes or "wslab-divider" in classes

    def handle_endtag(self, tag: str) -> None:
        self._in_text = False

    def handle_data(self, data: str) -> None:
        if self._in_text:
            self.lines[-1][1] += data


def drawn(chat: ChatWidget) -> list[str]:
    """The log as drawn, top to bottom: ``"kind: text"`` for the divider and each line."""
    chat.render()
    reader = _Lines()
    reader.feed(chat.log_html.value)
    return [f"{kind}: {text}" for kind, text in reader.lines]


async def test_the_widget_shows_each_line_once_greys_history_and_resumes(room, chat):
    first = await room.connection_made(0)
    first.send(welcome("e1", 2),
               system("join", "Client #bob joined the chat", user="bob", participants=9,
                      seq=1, epoch="e1", history=True),
               said(2, "two", history=True), said(3, "three"), said(3, "three"),
               said(5, "five"))
    await chat.wait_for_text("five")
    assert chat.participants == 2  # the welcome's count, not the history's
    assert drawn(chat)[1:] == [
        f"divider: {EARLIER}", "system history: Client #bob joined the chat",
        "other history: two", "other: three", f"system missed: {missed_notice(1)}",
        "other: five"]

    first.cut()  # the TCP connection ends without a close frame
    again = await room.connection_made(1)
    assert again.query == {RESUME_PARAM: KEY, EPOCH_PARAM: "e1", AFTER_PARAM: "5"}
    again.send(welcome("e1", 7), said(5, "five", replay=True), said(6, "six", replay=True),
               said(7, "seven", replay=True),
               resumed(2, "e1", 7), said(8, "eight"))
    await chat.wait_for_text("eight")
    assert [text for _, text in chat.chat_lines] == [
        "two", "three", "five", "six", "seven", "eight"]
    assert drawn(chat)[-4:] == ["other: six", "other: seven",
                                "system quiet: caught up: 2 missed lines", "other: eight"]


async def test_the_widget_says_it_missed_messages_the_server_cannot_replay(room, chat):
    first = await room.connection_made(0)
    first.send(welcome("e1", 0), said(1, "one"))
    await chat.wait_for_text("one")
    first.cut()

    second = await room.connection_made(1)
    second.send(welcome("e1", 11), system("gap_too_old", "8 lines are too old", missed=8),
                said(10, "ten", replay=True), said(11, "eleven", replay=True),
                resumed(2, "e1", 11))
    await chat.wait_for(lambda chat: chat.entries[-1].get("type") == "resumed")
    second.cut()

    third = await room.connection_made(2)
    assert (third.query[EPOCH_PARAM], third.query[AFTER_PARAM]) == ("e1", "11")
    third.send(welcome("e2", 1),
               system("history_reset", "the chat server lost its history", epoch="e2", seq=1),
               said(1, "first of e2", epoch="e2", history=True), said(2, "live", epoch="e2"))
    await chat.wait_for_text("live")
    assert [entry["message"] for entry in chat.entries if entry.get("type") == "missed"] == [
        missed_notice(8), missed_notice(why=LOST_HISTORY)]
    assert drawn(chat)[-4:] == [f"system missed: {missed_notice(why=LOST_HISTORY)}",
                                f"divider: {EARLIER}", "other history: first of e2",
                                "other: live"]
