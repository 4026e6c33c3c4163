"""The room's history core (``wslab.history``): numbering, bounds, and what a resume is owed;
and what a reconnect asks for (``wslab.resume``).

Pure: no server, no clock (every call is given ``now``).
"""

from __future__ import annotations

import re

import pytest

from wslab.history import (MESSAGES_PER_LINE, BadResume, GapTooOld, History, Numbering, Replay,
                           Reset, new_epoch)
from wslab.resume import DepartedHolders, Request, read_request

EPOCH = "e1e1e1e1"


def filled(count: int, limit: int = 200, max_age: float | None = None,
           now: float = 0.0) -> History:
    """A history of ``limit`` in which messages 1..count were made, one a second from ``now``."""
    history = History(limit, max_age, epoch=EPOCH)
    for seq in range(1, count + 1):
        history.add(EPOCH, seq, f"line {seq}", now + seq)
    return history


def seqs(entries) -> list[int]:
    return [entry.seq for entry in entries]


def test_an_epoch_is_a_fresh_word_of_8_hex_characters():
    epochs = {new_epoch() for _ in range(100)}
    assert len(epochs) == 100
    assert all(re.fullmatch(r"[0-9a-f]{8}", epoch) for epoch in epochs)


def test_numbering_counts_from_1_without_holes_under_one_epoch():
    numbering = Numbering()
    assert [numbering.next() for _ in range(5)] == [1, 2, 3, 4, 5]
    assert numbering.last == 5
    assert Numbering("abcd0123").epoch == "abcd0123"
    assert Numbering().epoch != numbering.epoch


def test_a_history_keeps_the_last_n_messages_and_counts_all():
    history = filled(10_000, limit=200)
    assert len(history) == 200
    assert seqs(history) == list(range(9801, 10_001))
    assert history.last_seq == 10_000


def test_a_history_of_0_keeps_nothing_but_still_counts():
    history = filled(5, limit=0)
    assert len(history) == 0
    assert history.last_seq == 5
    assert history.since(EPOCH, 2, 10.0) == GapTooOld(3, ())
    assert history.since(EPOCH, 5, 10.0) == Replay(())


def test_with_an_age_limit_older_messages_go_even_below_the_count():
    history = filled(10, limit=200, max_age=60.0)  # made at 1..10 s
    assert len(history) == 10
    assert seqs(history.recent(20, now=65.0)) == [5, 6, 7, 8, 9, 10]
    assert len(history) == 6
    assert history.since(EPOCH, 2, now=65.0) == GapTooOld(2, tuple(history))


def test_recent_gives_the_last_k_oldest_first():
    history = filled(30)
    assert seqs(history.recent(20, 31.0)) == list(range(11, 31))
    assert seqs(history.recent(100, 31.0)) == list(range(1, 31))
    assert history.recent(0, 31.0) == []
    assert [e.text for e in history.recent(2, 31.0)] == ["line 29", "line 30"]


def test_since_replays_exactly_what_came_after_in_order():
    history = filled(10)
    owed = history.since(EPOCH, 7, 11.0)
    assert isinstance(owed, Replay)
    assert seqs(owed.entries) == [8, 9, 10]
    assert [e.text for e in owed.entries] == ["line 8", "line 9", "line 10"]


def test_since_the_last_message_owes_nothing():
    assert filled(10).since(EPOCH, 10, 11.0) == Replay(())
    assert History(200, epoch=EPOCH).since(EPOCH, 0, 0.0) == Replay(())


def test_since_from_the_start_while_all_is_kept_replays_everything():
    owed = filled(10).since(EPOCH, 0, 11.0)
    assert isinstance(owed, Replay) and seqs(owed.entries) == list(range(1, 11))


def test_since_another_epoch_is_a_reset():
    assert filled(10).since("0badc0de", 3, 11.0) == Reset()
    # Even a number past the room's last: the client's numbers are of another history.
    assert filled(10).since("0badc0de", 99, 11.0) == Reset()


def test_since_a_gap_older_than_the_history_says_how_much_is_gone_and_gives_the_rest():
    history = filled(300, limit=200)  # keeps 101..300
    owed = history.since(EPOCH, 50, 301.0)
    assert isinstance(owed, GapTooOld)
    assert owed.missed == 50  # 51..100
    assert seqs(owed.entries) == list(range(101, 301))
    # Exactly the oldest kept one missing before it: still a full replay.
    assert seqs(history.since(EPOCH, 100, 301.0).entries) == list(range(101, 301))


@pytest.mark.parametrize("after", [11, 1000])
def test_since_a_number_the_room_never_handed_out_is_a_bad_resume(after):
    owed = filled(10).since(EPOCH, after, 11.0)
    assert isinstance(owed, BadResume)
    assert f"after={after}" in owed.reason and "10" in owed.reason


def test_a_message_of_a_new_epoch_drops_the_old_history():
    history = filled(10)
    history.add("f00df00d", 1, "first of the new epoch", 20.0)
    assert history.epoch == "f00df00d"
    assert history.last_seq == 1
    assert seqs(history) == [1]
    assert history.since(EPOCH, 10, 21.0) == Reset()


@pytest.mark.parametrize("limit, max_age", [(-1, None), (10, 0.0), (10, -5.0)])
def test_nonsense_bounds_are_refused(limit, max_age):
    with pytest.raises(ValueError):
        History(limit, max_age, epoch=EPOCH)


def test_memory_stays_bounded_at_200_after_10000_lines():
    """N=200 after 10,000 lines holds 200 entries, and the texts of only those."""
    history = History(200, epoch=EPOCH)
    for seq in range(1, 10_001):
        history.add(EPOCH, seq, "x" * 100 + str(seq), float(seq))
    assert len(history) == 200
    assert history.last_seq == 10_000
    assert history.recent(1, 10_001.0)[0].text.endswith("10000")


# What a reconnect asks for, and whose key still proves a name (``wslab.resume``).

def test_a_resume_request_is_read_from_the_query():
    assert read_request({}) == Request()
    assert not read_request({"resume": "K"}).resuming
    request = read_request({"resume": "K", "epoch": EPOCH, "after": "17"})
    assert request == Request("K", EPOCH, 17) and request.resuming


@pytest.mark.parametrize("query", [{"epoch": EPOCH}, {"after": "3"}, {"epoch": "a b", "after": "1"},
                                   {"epoch": EPOCH, "after": "-1"},
                                   {"epoch": EPOCH, "after": "1" * 19}])
def test_a_malformed_resume_request_says_why(query):
    request = read_request(query)
    assert request.resuming and request.problem and request.epoch is None


def test_departed_holders_are_bounded_in_number_and_age():
    holders = DepartedHolders(limit=3, max_age=60.0)
    for n in range(5):
        holders.remember(f"s{n}", f"digest{n}", now=float(n))
    assert len(holders) == 3
    assert holders.digest_of("s0", now=5.0) is None  # the oldest made room
    assert holders.digest_of("s4", now=5.0) == "digest4"
    assert holders.digest_of("s2", now=63.0) is None  # left 61 s ago: too long
    assert holders.digest_of("s4", now=63.0) == "digest4"
    holders.forget("s4")
    assert holders.digest_of("s4", now=63.0) is None


def test_joins_and_leaves_are_kept_among_the_lines_without_pushing_them_out():
    """``limit`` counts chat lines; the joins and leaves between them stay too, up to
    ``MESSAGES_PER_LINE`` messages per line in all: a class dropping and coming back (a leave
    and a join each) does not push out what was said meanwhile."""
    history = History(2, epoch=EPOCH)
    assert history.capacity == 2 * MESSAGES_PER_LINE == 8
    for seq, line in enumerate([True, True] + [False] * 5 + [True], 1):
        history.add(EPOCH, seq, f"m{seq}", 0.0, line=line)
    assert [entry.seq for entry in history] == [2, 3, 4, 5, 6, 7, 8]  # a third line: 1 goes
    history.add(EPOCH, 9, "m9", 0.0, line=False)
    history.add(EPOCH, 10, "m10", 0.0, line=False)  # nine messages: the oldest goes
    assert [entry.seq for entry in history] == list(range(3, 11))
    assert history.since(EPOCH, 2, 0.0) == Replay(tuple(history))
    history.restart(EPOCH, 10)
    assert len(history) == 0 and history.since(EPOCH, 9, 0.0) == GapTooOld(1, ())
