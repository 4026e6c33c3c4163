"""Admission by address (``wslab.admission``): token guessing slowed down, joins paced, and the
tables that remember addresses kept small. Against a real server where behaviour is claimed."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from deadlines import eventually, scaled
from peers import Peer, still_chatting
from wslab.admission import (FAILURE_WINDOW, FAILURES_ALLOWED, AddressBook, FailedJoins,
                             JoinPace)

TOKEN = "s3cret-word"


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# -- the pure rules ----------------------------------------------------------------------------


def test_an_address_book_forgets_the_oldest_address_beyond_its_cap():
    book: AddressBook[int] = AddressBook(limit=3)
    for n, address in enumerate(["10.0.0.1", "10.0.0.2", "10.0.0.3"]):
        book.put(address, n)
    book.put("10.0.0.1", 9)  # seen again: now the most recent
    book.put("10.0.0.4", 4)
    assert len(book) == 3
    assert book.get("10.0.0.2") is None
    assert [book.get(a) for a in ("10.0.0.1", "10.0.0.3", "10.0.0.4")] == [9, 2, 4]


def test_failed_joins_lock_an_address_out_for_the_window_at_most():
    clock = Clock()
    failures = FailedJoins(allowed=3, window=5.0, clock=clock)
    for _ in range(3):
        assert failures.wait("10.0.0.1") == 0
        failures.failed("10.0.0.1")
        clock.now += 1
    assert failures.wait("10.0.0.1") == pytest.approx(2.0)  # the first failure is 3 s old
    assert failures.wait("10.0.0.2") == 0  # another address is not touched
    clock.now += 2
    assert failures.wait("10.0.0.1") == 0


def test_a_million_guessing_addresses_leave_a_bounded_table():
    failures = FailedJoins(limit=100)
    for n in range(5000):
        failures.failed(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert len(failures._failures) == 100


def test_the_join_pace_lets_a_burst_in_then_spaces_joins_then_refuses():
    clock = Clock()
    pace = JoinPace(rate=10, burst=5, longest_wait=1.0, clock=clock)
    turns = [pace.turn("10.0.0.1") for _ in range(17)]
    assert turns[:5] == [0.0] * 5
    assert turns[5:15] == pytest.approx([0.1 * n for n in range(1, 11)])  # first come, first served
    assert turns[15:] == [None, None]  # more than a second away: refused, no turn taken
    assert pace.turn("10.0.0.2") == 0.0
    clock.now += 2.0
    assert pace.turn("10.0.0.1") == 0.0
    assert JoinPace(rate=0).turn("10.0.0.1") == 0.0


# -- against a real server ---------------------------------------------------------------------


async def join_or_not(ws_url: str, client_id: str, query: str = "", **options) -> Peer | None:
    """Join as ``client_id``; None when the server refuses (an error reply comes first)."""
    ws = await websockets.connect(f"{ws_url}/ws/{client_id}{query}", **options)
    first = json.loads(await asyncio.wait_for(ws.recv(), scaled(10)))
    if first.get("type") != "welcome":
        await ws.close()
        return None
    peer = Peer(ws, client_id)
    peer.welcome = first
    return peer


async def attempt(ws_url: str, query: str, client_id: str = "mallory", **options):
    """One join attempt that is refused: its error reply and close (code, reason)."""
    ws = await websockets.connect(f"{ws_url}/ws/{client_id}{query}", **options)
    try:
        error = json.loads(await asyncio.wait_for(ws.recv(), scaled(3)))
        await asyncio.wait_for(ws.wait_closed(), scaled(3))
        return error, (ws.close_code, ws.close_reason)
    finally:
        await ws.close()


async def test_guessing_tokens_locks_the_address_out_for_seconds_and_not_the_class(start_chat):
    """After FAILURES_ALLOWED wrong tokens, the address is refused for a few seconds without
    a look at its token (1013, try again later), even with the right token; another address
    is not touched; and a student behind the same address gets in once the window has passed."""
    server = start_chat(token=TOKEN)
    alice = await join_or_not(server.ws_url, "alice", f"?token={TOKEN}")
    loop = asyncio.get_running_loop()
    started = loop.time()
    codes = []
    for n in range(3 * FAILURES_ALLOWED):
        error, close = await attempt(server.ws_url, f"?token=guess{n}")
        codes.append((error["code"], close[0]))
    elapsed = loop.time() - started
    checked = codes.count(("bad_token", 1008))
    assert codes[:FAILURES_ALLOWED] == [("bad_token", 1008)] * FAILURES_ALLOWED
    # At most FAILURES_ALLOWED tokens looked at per window: about 2 guesses a second.
    assert checked <= FAILURES_ALLOWED * (1 + int(elapsed / FAILURE_WINDOW)), codes
    assert codes.count(("too_many_attempts", 1013)) == len(codes) - checked

    error, (code, reason) = await attempt(server.ws_url, f"?token={TOKEN}", "bob")
    assert (error["code"], code) == ("too_many_attempts", 1013)
    assert "too many wrong join tokens from your address: try again in" in error["message"]
    assert reason == error["message"]
    assert server.app.state.room.refused_handshakes["too_many_attempts"] >= 1

    # Another address (127.0.0.2 is this machine too, but another client address) gets in.
    carol = await join_or_not(server.ws_url, "carol", f"?token={TOKEN}",
                              local_addr=("127.0.0.2", 0))
    assert carol is not None
    # The classmate behind the guesser's address: in within the window.
    bob = await eventually(lambda: join_or_not(server.ws_url, "bob", f"?token={TOKEN}"),
                           "bob to get in after the lock-out", timeout=FAILURE_WINDOW + 2)
    await still_chatting(alice, bob, carol)


async def test_joins_over_the_pace_wait_their_turn_and_beyond_it_are_refused(start_chat):
    """With a pace of 2 joins a second, a storm of 250 at once from one address: the burst
    (200) and the joins whose turn is within the longest wait get in, the others are refused before
    the handshake with HTTP 429 and a Retry-After, and the people already in the room (on
    another address) keep chatting. (250, not more: beyond 256 handshakes in progress from one
    address, the transport makes room by closing the oldest, ``wslab.connection_table``.)"""
    server = start_chat(join_rate=2)
    alice = await join_or_not(server.ws_url, "alice", local_addr=("127.0.0.2", 0))
    bob = await join_or_not(server.ws_url, "bob", local_addr=("127.0.0.2", 0))

    async def one(n: int) -> str:
        try:
            ws = await websockets.connect(f"{server.ws_url}/ws/s{n}", open_timeout=scaled(10))
        except websockets.InvalidStatus as refused:
            response = refused.response
            assert response.headers["Retry-After"] == "10"
            assert b"too many joins from your address at once" in response.body
            return str(response.status_code)
        try:
            return json.loads(await asyncio.wait_for(ws.recv(), scaled(20)))["type"]
        finally:
            await ws.close()

    results = await asyncio.gather(*(one(n) for n in range(250)))
    welcomed, refused = results.count("welcome"), results.count("429")
    assert welcomed + refused == 250, set(results)
    # 200 at once and 2 a second for up to 10 s: about 220 in (a few more while the storm
    # was still arriving), the rest refused.
    assert 215 <= welcomed < 250 and refused > 0, (welcomed, refused)
    assert server.app.state.room.refused_handshakes["too_many_joins"] == refused
    await still_chatting(alice, bob)


async def test_a_class_behind_one_address_all_gets_in(start_chat):
    """200 students behind one NAT address join at once with the command line's pace: all are
    welcomed (the burst is a whole class), none is refused."""
    from wslab.settings import DEFAULT_JOIN_RATE

    server = start_chat(join_rate=DEFAULT_JOIN_RATE)

    async def student(n: int) -> str:
        peer = await join_or_not(server.ws_url, f"s{n}", open_timeout=scaled(10))
        await peer.ws.close()
        return peer.welcome["type"]

    assert await asyncio.gather(*(student(n) for n in range(200))) == ["welcome"] * 200
    assert server.app.state.room.refused_handshakes == {}
