"""Nothing lost across workers: real ``python -m wslab serve`` workers sharing a real redis-server.

Every chat line, join and leave is numbered by Redis and kept in the room's history there
(``wslab.redis_history``); each worker follows that history (``wslab.brokers``). So a student
whose worker dies resumes on another with nothing lost or doubled, a worker cut off from Redis
reads what it missed when it is back, and a Redis that restarts without its data starts a new
epoch, which every client is told of.
"""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
import redis
import websockets

from peers import Peer, join
from worker_processes import HEARTBEAT, Worker, propagated
from wslab import envelope
from wslab.catch_up import numbered

pytestmark = [pytest.mark.redis, pytest.mark.slow]


async def said(speaker: Peer, *lines: str) -> None:
    """``speaker`` says each of ``lines`` and hears each come back: each is numbered then."""
    for line in lines:
        await speaker.say(line)
        assert (await speaker.chat_line())["message"] == line


async def resume_from(peer: Peer, ws_url: str) -> Peer:
    """``peer`` connects again, to ``ws_url``, with its key and the last number it saw."""
    last = max(number for message in peer.heard if isinstance(message, dict)
               and (number := numbered(message)) is not None)
    return await join(ws_url, peer.client_id, resume=peer.welcome["resume"], epoch=last[0],
                      after=last[1])


async def caught_up(peer: Peer) -> tuple[list[str], dict]:
    """What ``peer`` is replayed after its welcome, up to ``resumed``: its chat lines, in order,
    and ``resumed``. Every message before ``resumed`` must be marked as a replay."""
    lines = []
    while (message := await peer.next()).get("type") != "resumed":
        assert message.get(envelope.REPLAY), message
        if message["client_id"] != envelope.SYSTEM:
            lines.append(message["message"])
    return lines, message


async def alice_and_bob(workers, *args: str) -> tuple[Worker, Worker, Peer, Peer]:
    """Two workers (started with ``args``), alice on the first and bob on the second, each
    knowing of the other."""
    one, two = workers(*args), workers(*args)
    alice = await join(one.ws_url, "alice")
    await propagated()
    bob = await join(two.ws_url, "bob")
    await alice.next_of("join")
    return one, two, alice, bob


async def test_a_student_whose_worker_is_killed_resumes_on_another_with_nothing_lost(workers):
    one, two, alice, bob = await alice_and_bob(workers)
    await said(bob, "before")
    assert (await alice.chat_line())["message"] == "before"
    os.killpg(one.process.pid, signal.SIGKILL)
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(alice.ws.recv(), 5)
    await said(bob, "one", "two", "three")  # while alice is away
    alice = await resume_from(alice, two.ws_url)  # at once: worker two still lists her there
    lines, resumed = await caught_up(alice)
    assert lines == ["one", "two", "three"] and resumed["replayed"] == 3, (lines, resumed)
    await said(bob, "live again")
    assert (await alice.chat_line())["message"] == "live again"  # once, and nothing between


async def test_a_student_back_after_its_dead_worker_was_forgotten_still_resumes(workers):
    """Worker two forgets a silent worker's clients after three heartbeats; the keys of their
    names stay with it, so they can still resume there."""
    one, two, alice, bob = await alice_and_bob(workers)
    await said(bob, "before")
    await alice.chat_line()
    os.killpg(one.process.pid, signal.SIGKILL)
    await said(bob, "while", "you", "were", "away")
    left = await bob.next_of("disconnect", timeout=3 * HEARTBEAT + 5)
    assert left["user"] == "alice", left
    alice = await resume_from(alice, two.ws_url)
    lines, resumed = await caught_up(alice)
    assert lines == ["while", "you", "were", "away"], lines


async def test_a_worker_started_later_can_replay_what_was_said_before_it(workers):
    one = workers()
    alice, bob = await join(one.ws_url, "alice"), await join(one.ws_url, "bob")
    await said(alice, "first")
    await bob.chat_line()
    await bob.ws.close()
    await said(alice, "said while bob was away")
    two = workers()  # it reads the room's history from Redis as it starts
    bob = await resume_from(bob, two.ws_url)
    lines, _ = await caught_up(bob)
    assert lines == ["said while bob was away"], lines
    carol = await join(two.ws_url, "carol")  # a latecomer there sees the room's last lines too
    earlier = [message["message"] for message in await carol.silence(earlier=True)
               if message.get(envelope.HISTORY)]
    assert "said while bob was away" in earlier[-2:], earlier  # bob's join may come after


async def test_a_redis_restart_that_keeps_its_data_keeps_the_numbers(workers, redis_server):
    one, two, alice, bob = await alice_and_bob(workers)
    await said(alice, "before the restart")
    before = numbered(await bob.chat_line())
    with redis.Redis.from_url(redis_server.url) as client:
        client.save()  # a dump, as a Redis configured to keep its data writes one
    redis_server.stop()
    redis_server.start()
    for peer in (alice, bob):
        await peer.next_of("recovered", timeout=10)
    await said(alice, "after the restart")
    after = numbered(await bob.chat_line())
    assert after == (before[0], before[1] + 1), (before, after)  # same epoch, next number
    assert not [m for m in bob.heard if m.get("type") in ("history_reset", "gap_too_old")]


async def test_a_redis_restart_that_loses_its_data_starts_a_new_epoch_and_says_so(
        workers, redis_server):
    one, two, alice, bob = await alice_and_bob(workers)
    await said(alice, "before the restart")
    before = numbered(await bob.chat_line())
    redis_server.stop()  # no dump: everything Redis held is gone
    redis_server.start()
    resets = [await peer.next_of("history_reset", timeout=10) for peer in (alice, bob)]
    assert resets[0]["epoch"] == resets[1]["epoch"] != before[0], resets
    await said(alice, "after the restart")
    assert numbered(await bob.chat_line()) == (resets[0]["epoch"], resets[0]["seq"] + 1)
    # A client that saw only the old epoch is told, and shown the room's last lines instead.
    carol = await join(two.ws_url, "carol", epoch=before[0], after=before[1])
    assert (await carol.next())["type"] == "history_reset"


async def test_a_worker_cut_off_from_redis_reads_what_it_missed_when_it_is_back(
        workers, redis_server):
    """Worker one is frozen while every subscription is cut, so it misses what worker two
    numbers meanwhile: once it runs again and subscribes anew, it reads those from the history,
    and alice gets each of them once, in order."""
    one, two, alice, bob = await alice_and_bob(workers)
    os.killpg(one.process.pid, signal.SIGSTOP)
    try:
        with redis.Redis.from_url(redis_server.url) as client:
            client.client_kill_filter(_type="pubsub")
        await bob.next_of("recovered", timeout=10)  # worker two subscribed again
        await said(bob, "one", "two", "three")
    finally:
        os.killpg(one.process.pid, signal.SIGCONT)
    lines = []
    while len(lines) < 3:
        message = await alice.next(timeout=10)
        if message["client_id"] == "bob":
            lines.append(message["message"])
    assert lines == ["one", "two", "three"], alice.heard
    await said(bob, "and live")
    assert (await alice.chat_line())["message"] == "and live"  # nothing twice in between


async def test_a_worker_back_after_more_than_the_history_tells_its_clients_what_was_lost(
        workers, redis_server):
    """As above, but bob says more than the history keeps (``--history 1``: one chat line, four
    messages in all): alice is told how many she lost, then gets what is left, once each."""
    one, two, alice, bob = await alice_and_bob(workers, "--history", "1")
    os.killpg(one.process.pid, signal.SIGSTOP)
    try:
        with redis.Redis.from_url(redis_server.url) as client:
            client.client_kill_filter(_type="pubsub")
        await bob.next_of("recovered", timeout=10)
        await said(bob, *(f"line {n}" for n in range(1, 9)))
    finally:
        os.killpg(one.process.pid, signal.SIGCONT)
    gap = await alice.next_of("gap_too_old", timeout=10)
    assert gap["missed"] == 4, gap  # lines 1-4: the history holds the last four messages
    lines = [(await alice.chat_line())["message"] for _ in range(4)]
    assert lines == ["line 5", "line 6", "line 7", "line 8"], alice.heard
    await said(bob, "and live")
    assert (await alice.chat_line())["message"] == "and live"
