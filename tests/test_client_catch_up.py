"""``ChatClient`` catches up after a Wi-Fi drop: each line once, gaps told, resumes asked for.

Against a scripted room (``tests/scripted_room.py``: a real uvicorn server whose every message
the test chooses) and real ``websockets`` inside the client: the room repeats lines, skips a
number, cuts the TCP connection without a close frame, and checks the query the client comes
back with. The bookkeeping's every case is tested without a socket in ``tests/test_catch_up.py``.
"""

from __future__ import annotations

import pytest

from scripted_room import KEY, ScriptedRoom, resumed, said, system, welcome
from wslab.catch_up import LOST_HISTORY, missed_notice
from wslab.client import ChatClient, close_all
from wslab.reconnect import ReconnectPolicy
from wslab.resume import AFTER_PARAM, EPOCH_PARAM, RESUME_PARAM

pytestmark = pytest.mark.slow  # each test starts a server

#: Fast reconnects, so that the tests need not wait for the real delays.
FAST = {"policy": ReconnectPolicy(first=0.05, cap=0.1)}


@pytest.fixture
async def room():
    with ScriptedRoom() as scripted:
        yield scripted
        await close_all()


def heard(client: ChatClient, text: str):
    return lambda _client: ("ann", text) in client.chat_lines


def log_of(client: ChatClient) -> list[str]:
    """The client's log, without what says how the connection went."""
    return [event.text for event in client.events if event.kind in ("heard", "missed")]


async def test_a_client_shows_each_line_once_and_says_when_lines_never_came(room):
    py = ChatClient(room.ws_url, "py", **FAST)
    first = await room.connection_made(0)
    assert RESUME_PARAM not in first.query and EPOCH_PARAM not in first.query
    first.send(welcome("e1", 2), said(1, "one", history=True), said(2, "two", history=True),
               said(3, "three"), said(3, "three"), said(5, "five"))
    await py.wait_for(heard(py, "five"))
    assert py.chat_lines == [("ann", "one"), ("ann", "two"), ("ann", "three"), ("ann", "five")]
    assert log_of(py)[1:] == ["heard ann: one", "heard ann: two", "heard ann: three",
                              missed_notice(1), "heard ann: five"]
    assert py.catch_up.repeats == 1


async def test_after_a_drop_it_resumes_where_it_was_and_shows_the_replay_once(room):
    py = ChatClient(room.ws_url, "py", **FAST)
    first = await room.connection_made(0)
    first.send(welcome("e1", 0), said(1, "one"), said(2, "two"))
    await py.wait_for(heard(py, "two"))
    first.cut()  # the TCP connection ends without a close frame

    again = await room.connection_made(1)
    assert py.close_code == 1006  # no close frame came
    assert again.query == {RESUME_PARAM: KEY, EPOCH_PARAM: "e1", AFTER_PARAM: "2"}
    again.send(welcome("e1", 5), said(2, "two", replay=True), said(3, "three", replay=True),
               said(4, "four", replay=True), said(5, "five", replay=True),
               resumed(3, "e1", 5), said(6, "six"))
    await py.wait_for(heard(py, "six"))
    assert [text for _, text in py.chat_lines] == ["one", "two", "three", "four", "five", "six"]
    assert not any(event.kind == "missed" for event in py.events)
    assert py.connections == 2 and py.catch_up.repeats == 1

    py._ws.transport.abort()  # and the client's side of a drop: the same again
    third = await room.connection_made(2)
    assert third.query == {RESUME_PARAM: KEY, EPOCH_PARAM: "e1", AFTER_PARAM: "6"}


async def test_a_lost_history_and_a_gap_too_old_are_each_told_once(room):
    py = ChatClient(room.ws_url, "py", **FAST)
    first = await room.connection_made(0)
    first.send(welcome("e1", 0), said(1, "one"), said(2, "two"))
    await py.wait_for(heard(py, "two"))
    first.cut()

    # The server restarted: a new epoch, the history is gone.
    second = await room.connection_made(1)
    assert second.query[EPOCH_PARAM] == "e1" and second.query[AFTER_PARAM] == "2"
    reset = system("history_reset", "the chat server lost its history", epoch="e2", seq=1)
    second.send(welcome("e2", 1), reset, said(1, "new one", epoch="e2", history=True))
    await py.wait_for(heard(py, "new one"))
    missed = [event for event in py.events if event.kind == "missed"]
    assert [event.text for event in missed] == [missed_notice(why=LOST_HISTORY)]
    assert missed[0].message == reset
    second.cut()

    # Away too long: the history no longer has lines 2 to 6 of the new epoch.
    third = await room.connection_made(2)
    assert (third.query[EPOCH_PARAM], third.query[AFTER_PARAM]) == ("e2", "1")
    third.send(welcome("e2", 8, participants=3),
               system("gap_too_old", "5 lines are too old", missed=5, epoch="e2", seq=8),
               said(7, "seven", epoch="e2", replay=True),
               said(8, "eight", epoch="e2", replay=True),
               resumed(2, "e2", 8),
               said(9, "nine", epoch="e2"))
    await py.wait_for(heard(py, "nine"))
    assert [event.text for event in py.events if event.kind == "missed"] == [
        missed_notice(why=LOST_HISTORY), missed_notice(5)]
    assert [text for _, text in py.chat_lines] == [
        "one", "two", "new one", "seven", "eight", "nine"]


async def test_without_a_resume_key_it_asks_for_nothing(room):
    py = ChatClient(room.ws_url, "nokey", **FAST)
    first = await room.connection_made(0)
    no_key = welcome("e1", 0)
    del no_key["resume"]
    first.send(no_key, said(1, "one"))
    await py.wait_for(heard(py, "one"))
    first.cut()
    again = await room.connection_made(1)
    assert again.query == {}  # epoch and after alone would only be refused: resume_refused
