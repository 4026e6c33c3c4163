"""``wslab.catch_up``: a client's count of the room's numbered messages, without a socket.

Each test plays the messages a client receives in one situation of the wire protocol (a
latecomer, a Wi-Fi drop and a resume, a refused resume, a lost history, a gap too old, a live
gap) and checks what the client shows. The page's script does the same in JavaScript; the
Chromium tests (``tests/test_chat_page_resume.py``) check it there.
"""

from __future__ import annotations

import pytest

from wslab.catch_up import (EARLIER, LOST_HISTORY, MISSED, CatchUp, Take, for_page,
                            missed_notice, numbered)
from wslab.resume import AFTER_PARAM, EPOCH_PARAM


def line(seq: int, epoch: str = "e1", **marks: bool) -> dict:
    return {"message": f"line {seq}", "client_id": "ann", "timestamp": "10:00:00",
            "seq": seq, "epoch": epoch, **marks}


def system(kind: str, **fields) -> dict:
    return {"client_id": "system", "type": kind, "message": "...", **fields}


def welcome(seq: int, epoch: str = "e1") -> dict:
    return system("welcome", epoch=epoch, seq=seq, participants=1, online=["py"])


def shown(catch_up: CatchUp, messages: list[dict]) -> list[str]:
    """What a client shows of ``messages``: their texts, and the notices before them."""
    out = []
    for message in messages:
        take = catch_up.take(message)
        if take.notice:
            out.append(take.notice)
        if take.show:
            out.append(message["message"])
    return out


def test_a_latecomer_is_shown_the_history_and_then_live_lines():
    catch_up = CatchUp()
    history = [line(n, history=True) for n in range(81, 101)]
    assert shown(catch_up, [welcome(100), *history, line(101)]) == [
        "...", *(f"line {n}" for n in range(81, 101)), "line 101"]
    assert catch_up.resume_params() == {EPOCH_PARAM: "e1", AFTER_PARAM: "101"}


def test_a_newcomer_without_history_starts_counting_at_the_welcome():
    catch_up = CatchUp()
    assert shown(catch_up, [welcome(100), line(101), line(102)]) == [
        "...", "line 101", "line 102"]
    # Dropped before anything was said: it asks only for what came after it joined.
    catch_up = CatchUp()
    catch_up.take(welcome(100))
    assert catch_up.resume_params() == {EPOCH_PARAM: "e1", AFTER_PARAM: "100"}


def test_before_any_epoch_there_is_nothing_to_resume():
    assert CatchUp().resume_params() == {}


def test_a_resume_replays_each_missed_line_once():
    catch_up = CatchUp()
    shown(catch_up, [welcome(0), line(1), line(2)])
    assert catch_up.resume_params() == {EPOCH_PARAM: "e1", AFTER_PARAM: "2"}
    # The reconnect: the welcome, line 2 again (it was in flight), 3 to 5 replayed, resumed.
    after_reconnect = [welcome(5), line(2, replay=True), line(3, replay=True),
                       line(4, replay=True), line(5, replay=True),
                       system("resumed", replayed=3, epoch="e1", seq=5), line(6), line(6)]
    assert shown(catch_up, after_reconnect) == [
        "...", "line 3", "line 4", "line 5", "...", "line 6"]
    assert catch_up.repeats == 2
    assert catch_up.shown == 6


def test_a_live_gap_is_told_once_before_the_line_after_it():
    catch_up = CatchUp()
    assert shown(catch_up, [welcome(0), line(1), line(4), line(5)]) == [
        "...", "line 1", missed_notice(2), "line 4", "line 5"]
    assert missed_notice(2) == f"{MISSED} (2 lines)."


def test_joins_and_leaves_are_counted_and_other_system_messages_are_not():
    join = system("join", user="bob", participants=2, seq=2, epoch="e1")
    repair = system("join", user="cy", participants=3)  # a heartbeat repair: not numbered
    pong = system("pong")
    catch_up = CatchUp()
    assert shown(catch_up, [welcome(0), line(1), join, repair, pong, line(3)]) == [
        "...", "line 1", "...", "...", "...", "line 3"]
    assert numbered(join) == ("e1", 2) and numbered(repair) is None
    assert numbered(welcome(3)) is None  # where the room stands, not a message of the room


def test_a_refused_resume_shows_what_the_history_still_has_and_says_what_was_missed():
    catch_up = CatchUp()
    shown(catch_up, [welcome(0), line(1), line(2)])
    # Resume refused: newcomer treatment in the same epoch; the history holds 2 and 5 to 7.
    again = [welcome(7), system("error", code="resume_refused"),
             *(line(n, history=True) for n in (2, 5, 6, 7))]
    assert shown(catch_up, again) == [
        "...", "...", missed_notice(2), "line 5", "line 6", "line 7"]


def test_a_refused_resume_without_history_says_so_at_the_first_live_line():
    catch_up = CatchUp()
    shown(catch_up, [welcome(0), line(1)])
    assert shown(catch_up, [welcome(9), line(10)]) == ["...", missed_notice(8), "line 10"]


def test_a_lost_history_starts_a_new_count():
    catch_up = CatchUp()
    shown(catch_up, [welcome(0), line(1), line(2), line(3)])
    new_epoch = [welcome(2, "e2"), system("history_reset", epoch="e2", seq=2),
                 line(1, "e2", history=True), line(2, "e2", history=True), line(3, "e2")]
    assert shown(catch_up, new_epoch) == [
        "...", missed_notice(why=LOST_HISTORY), "line 1", "line 2", "line 3"]
    assert catch_up.resume_params() == {EPOCH_PARAM: "e2", AFTER_PARAM: "3"}


def test_a_gap_too_old_is_told_once_and_the_rest_replayed():
    catch_up = CatchUp()
    shown(catch_up, [welcome(0), line(1)])
    after = [welcome(9), system("gap_too_old", missed=4), line(6, replay=True),
             line(7, replay=True), system("resumed", replayed=2, epoch="e1", seq=7), line(8)]
    assert shown(catch_up, after) == [
        "...", missed_notice(4), "line 6", "line 7", "...", "line 8"]


def test_a_gap_too_old_with_nothing_left_to_replay_is_told_once():
    catch_up = CatchUp()
    shown(catch_up, [welcome(0), line(1)])
    assert shown(catch_up, [welcome(9), system("gap_too_old", missed=8), line(10)]) == [
        "...", missed_notice(8), "line 10"]


def test_a_line_of_another_epoch_under_a_live_connection_starts_the_count_afresh():
    catch_up = CatchUp()
    shown(catch_up, [welcome(0), line(1), line(2)])
    assert shown(catch_up, [line(1, "e2"), line(2, "e2")]) == ["line 1", "line 2"]
    assert shown(catch_up, [line(5, "e3")]) == [missed_notice(4), "line 5"]


def test_a_first_line_without_a_welcome_is_where_counting_starts():
    catch_up = CatchUp()
    assert shown(catch_up, [line(41), line(42)]) == ["line 41", "line 42"]


@pytest.mark.parametrize("message", [
    {"message": "hi", "client_id": "ann"},                       # the lecture's own server
    {"message": "hi", "client_id": "ann", "seq": "3", "epoch": "e1"},
    {"message": "hi", "client_id": "ann", "seq": True, "epoch": "e1"},
    {"message": "hi", "client_id": "ann", "seq": 0, "epoch": "e1"},
    {"message": "hi", "client_id": "ann", "seq": 3, "epoch": ""},
    {"type": "plain", "message": "Client ann: hi"},
])
def test_what_is_not_numbered_is_always_shown(message):
    catch_up = CatchUp()
    assert catch_up.take(message) == Take(True) == catch_up.take(message)
    assert catch_up.epoch is None


def test_the_page_gets_the_names_and_words_from_here():
    assert for_page() == {"epoch_param": EPOCH_PARAM, "after_param": AFTER_PARAM,
                          "missed": MISSED, "lost_history": LOST_HISTORY, "earlier": EARLIER}


def test_a_message_marked_known_is_counted_and_not_shown():
    """With several workers a connection is welcomed before its own join is numbered: the join
    comes to it marked ``known``, so the next line is no gap, and nothing shows twice."""
    catch_up = CatchUp()
    own_join = system("join", user="py", epoch="e1", seq=101, known=True)
    assert shown(catch_up, [welcome(100), own_join, line(102)]) == ["...", "line 102"]
    assert catch_up.resume_params() == {EPOCH_PARAM: "e1", AFTER_PARAM: "102"}
