"""The room's numbered log in Redis (``wslab.redis_history``), against a real ``redis-server``:
numbers without holes from concurrent publishers, one order for every reader, the history
bounded by count and by age, Redis restarting with and without its data, a reader that was
away, and a wrong password. The benchmark of the two paths is smoke-run at the end.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from deadlines import eventually, scaled
from redis_server import require_redis
from wslab.redis_server import credentials_problem
from wslab.events import make_event
from wslab.redis_history import (EPOCH_PATTERN, Catchup, LogFollower, LogLoginError, Numbered,
                                 Published, RedisRoomLog, Status, new_epoch, read_published)
from wslab.ports import free_port
from wslab.redis_server import RedisServer
from wslab.signing import EventSigner, new_secret

SECRET = new_secret()
CHANNEL = "wslab:test-log"


def chat(worker: str, seq: int) -> dict[str, Any]:
    return make_event(worker, seq, "chat", text=f'{{"message": "{worker} {seq}"}}')


async def say(log: RedisRoomLog, first: int, last: int) -> str:
    """Append worker w1's chat events ``first`` to ``last``, one by one; return the epoch."""
    for n in range(first, last + 1):
        epoch, _ = await log.append(chat("w1", n))
    return epoch


class Room:
    """The Redis clients of one test, each with the room's log over it; all closed at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.clients: list[aioredis.Redis] = []
        self.refused: list[str] = []

    def log(self, url: str | None = None, **options: Any) -> RedisRoomLog:
        client = aioredis.Redis.from_url(url or self.url)
        self.clients.append(client)
        options.setdefault("history", 200)
        return RedisRoomLog(client, url or self.url, EventSigner(SECRET, CHANNEL), CHANNEL,
                            on_refused=self.refused.append, **options)

    async def reconnect(self) -> None:
        """Drop the connections a Redis that restarted has closed (as the broker does)."""
        for client in self.clients:
            await client.connection_pool.disconnect()

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


@pytest.fixture
async def room(redis_server):
    room = Room(redis_server.url)
    yield room
    await room.close()


class Reader:
    """A worker's listening half: subscribed to the channel, every numbered message through a
    :class:`LogFollower`, catching up after each new subscription. ``delivered`` is what it
    handed on, in order. ``away`` cleared keeps it from coming back after a cut."""

    def __init__(self, log: RedisRoomLog) -> None:
        self.log = log
        self.follower = LogFollower(log)
        self.delivered: list[Numbered] = []
        self.preloaded: list[Numbered] = []
        #: The numbers as they came off the channel, before the follower put them in order.
        self.heard: list[int] = []
        self.resets = 0
        self.subscriptions = 0
        self.may_return = asyncio.Event()
        self.may_return.set()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.preloaded = await self.follower.start()
        self._task = asyncio.get_running_loop().create_task(self._run())
        await eventually(lambda: self.subscriptions == 1, "the reader to subscribe")

    @property
    def numbers(self) -> list[int]:
        return [entry.seq for entry in self.delivered]

    async def _run(self) -> None:
        while True:
            await self.may_return.wait()
            client = aioredis.Redis.from_url(self.log.url, retry=Retry(NoBackoff(), 0))
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                while (await pubsub.get_message(timeout=1.0) or {}).get("type") != "subscribe":
                    pass
                self.subscriptions += 1
                self._take(await self.follower.catch_up())
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        numbered = self.log.open_published(read_published(message["data"]))
                        if numbered is not None:
                            self.heard.append(numbered.seq)
                            self._take(await self.follower.receive(numbered))
            except (redis.RedisError, OSError):
                await asyncio.sleep(0.05)  # cut off: subscribe again (when allowed), catch up
            finally:
                await pubsub.aclose()
                await client.aclose()

    def _take(self, delivery) -> None:
        self.delivered.extend(delivery.entries)
        self.resets += delivery.reset

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def readers(room):
    started: list[Reader] = []

    async def start(count: int = 1, **options: Any) -> list[Reader]:
        new = [Reader(room.log(**options)) for _ in range(count)]
        for reader in new:
            await reader.start()
        started.extend(new)
        return new

    yield start
    for reader in started:
        await reader.stop()


# -- what travels on the channel ----------------------------------------------------------------


def test_a_numbered_message_on_the_channel_splits_into_its_parts():
    signed = EventSigner(SECRET, CHANNEL).sign('{"v": 1}').encode()
    assert read_published(b"17 0a1b2c3d " + signed) == Published(signed, 17, "0a1b2c3d")
    for plain in (signed, b"17 not-an-epoch " + signed, b"1x 0a1b2c3d " + signed, b"17",
                  b"9" * 30 + b" 0a1b2c3d x"):
        assert read_published(plain) == Published(plain), plain
    assert EPOCH_PATTERN.fullmatch(new_epoch()) and new_epoch() != new_epoch()


# -- numbering ----------------------------------------------------------------------------------

@pytest.mark.redis
async def test_four_concurrent_publishers_number_without_holes_in_one_order_for_all(room, readers):
    listening = await readers(3)
    publishers = [room.log() for _ in range(4)]  # a connection each, as four workers have
    per_publisher = 100

    async def publish(index: int, log: RedisRoomLog) -> list[tuple[str, int]]:
        return [await log.append(chat(f"w{index}", n)) for n in range(1, per_publisher + 1)]

    numbers = await asyncio.gather(*(publish(i, log) for i, log in enumerate(publishers)))
    total = 4 * per_publisher
    epochs = {epoch for given in numbers for epoch, _ in given}
    assert len(epochs) == 1
    assert sorted(seq for given in numbers for _, seq in given) == list(range(1, total + 1))
    for given in numbers:  # each publisher's own events in the order it published them
        assert [seq for _, seq in given] == sorted(seq for _, seq in given)
    for reader in listening:
        await eventually(lambda reader=reader: len(reader.delivered) == total,
                         "every reader to hear every event", timeout=10)
    orders = [[(e.event["worker"], e.event["seq"]) for e in r.delivered] for r in listening]
    assert orders[0] == orders[1] == orders[2]
    for reader in listening:  # the channel itself carries them in number order
        assert reader.heard == reader.numbers == list(range(1, total + 1))
    kept = await room.log().after(epochs.pop(), 0)  # the stream has the same order
    assert [(e.event["worker"], e.event["seq"]) for e in kept.entries] == orders[0][-200:]


@pytest.mark.redis
async def test_a_worker_that_starts_copies_the_history_and_delivers_only_what_comes_next(
        room, readers):
    log = room.log()
    epoch = await say(log, 1, 3)
    [reader] = await readers(1)
    assert [(e.epoch, e.seq, e.event["seq"]) for e in reader.preloaded] == [
        (epoch, 1, 1), (epoch, 2, 2), (epoch, 3, 3)]
    assert all(entry.time is not None for entry in reader.preloaded)
    await say(log, 4, 5)
    await eventually(lambda: reader.numbers == [4, 5], "the reader to hear 4 and 5")


@pytest.mark.redis
async def test_a_resume_gets_what_came_after_and_a_number_never_seen_is_bad(room):
    log = room.log()
    epoch = await say(log, 1, 5)
    catchup = await log.after(epoch, 2)
    assert (catchup.status, catchup.epoch, catchup.seq, catchup.missed) == (Status.RESUMED,
                                                                             epoch, 5, 0)
    assert [(e.seq, e.event["seq"], e.epoch) for e in catchup.entries] == [(3, 3, epoch),
                                                                           (4, 4, epoch),
                                                                           (5, 5, epoch)]
    assert (await log.after(epoch, 5)).entries == []
    assert (await log.after(epoch, 6)).status is Status.BAD_RESUME
    assert await log.after(new_epoch(), 3) == Catchup(Status.HISTORY_RESET, epoch, 5, [])
    assert [e.seq for e in (await log.latest(2)).entries] == [4, 5]
    assert await log.position() == (epoch, 5)


@pytest.mark.redis
async def test_the_history_keeps_the_last_n_after_ten_thousand(room, redis_server):
    log = room.log(history=200)
    appenders = [room.log(history=200) for _ in range(8)]
    queue = iter(range(1, 10_001))

    async def append(log: RedisRoomLog) -> None:
        for n in queue:
            await log.append(chat("w1", n))

    await asyncio.gather(*(append(each) for each in appenders))
    epoch, last = await log.position()
    assert last == 10_000
    kept = await log.client.xlen(log.stream_key)
    assert 200 <= kept < 400, kept  # MAXLEN ~ trims whole stream nodes only
    assert [e.seq for e in (await log.latest(1000)).entries] == list(range(9801, 10_001))
    catchup = await log.after(epoch, 100)
    assert (catchup.status, catchup.missed) == (Status.GAP_TOO_OLD, 9700)
    assert [e.seq for e in catchup.entries] == list(range(9801, 10_001))
    assert (await log.after(epoch, 9800)).status is Status.RESUMED


@pytest.mark.redis
async def test_without_history_messages_are_still_numbered(room):
    log = room.log(history=0)
    epoch, _ = await log.append(chat("w1", 1))
    assert await log.append(chat("w1", 2)) == (epoch, 2)
    assert not await log.client.exists(log.stream_key)
    catchup = await log.after(epoch, 0)
    assert (catchup.status, catchup.missed, catchup.entries) == (Status.GAP_TOO_OLD, 2, [])


@pytest.mark.redis
async def test_the_age_limit_drops_old_lines_from_reads_and_from_memory(room):
    log = room.log(history=1000, history_minutes=0.01)  # 0.6 s
    epoch, _ = await log.append(chat("w1", 1))
    assert [e.seq for e in (await log.latest(1000)).entries] == [1]  # young: kept
    await say(log, 2, 150)
    await eventually(async_empty(log), "the lines to grow older than the limit", timeout=5)
    await log.append(chat("w1", 151))  # appending trims what is older than the limit
    assert await log.client.xlen(log.stream_key) < 150
    catchup = await log.after(epoch, 100)
    assert (catchup.status, catchup.missed) == (Status.GAP_TOO_OLD, 50)
    assert [e.seq for e in catchup.entries] == [151]


def async_empty(log: RedisRoomLog):
    async def empty() -> bool:
        return not (await log.latest(1000)).entries
    return empty


# -- Redis restarting ---------------------------------------------------------------------------


async def restart(server: RedisServer, room: Room) -> None:
    """Start ``server`` again after it stopped (by itself, or stopped here); ``room``'s clients
    connect again."""
    server.stop()
    server.start()
    await room.reconnect()


@pytest.fixture
async def five_lines(room, readers):
    """A log, a reader that has heard its first five lines, and their epoch."""
    log = room.log()
    [reader] = await readers(1)
    epoch = await say(log, 1, 5)
    await eventually(lambda: reader.numbers == [1, 2, 3, 4, 5], "the reader to hear five")
    return log, reader, epoch


@pytest.mark.redis
async def test_a_restart_with_its_data_keeps_the_epoch_and_the_numbers_go_on(room, five_lines,
                                                                          redis_server):
    log, reader, epoch = five_lines
    await log.client.shutdown(save=True)  # writes the dump, then stops
    await eventually(lambda: not redis_server.running, "Redis to stop")
    await restart(redis_server, room)
    assert await log.position() == (epoch, 5)
    assert await log.append(chat("w1", 6)) == (epoch, 6)
    await eventually(lambda: reader.numbers == [1, 2, 3, 4, 5, 6], "the reader to catch up")
    assert reader.resets == 0 and (await log.after(epoch, 2)).status is Status.RESUMED


@pytest.mark.redis
async def test_a_restart_without_its_data_is_a_new_epoch_and_a_history_reset(room, five_lines,
                                                                            redis_server):
    log, reader, old = five_lines
    await restart(redis_server, room)  # stored nothing: comes back empty
    new, seq = await log.append(chat("w1", 6))
    assert new != old and seq == 1 and EPOCH_PATTERN.fullmatch(new)
    catchup = await log.after(old, 5)  # a client that saw number 5 of the old epoch
    assert (catchup.status, catchup.epoch, catchup.seq) == (Status.HISTORY_RESET, new, 1)
    await eventually(lambda: len(reader.delivered) == 6, "the reader to hear the new epoch's")
    assert reader.resets == 1
    assert [(e.epoch, e.seq, e.event["seq"]) for e in reader.delivered[5:]] == [(new, 1, 6)]


@pytest.mark.redis
async def test_a_redis_back_from_an_older_dump_never_hands_out_a_number_twice(room, redis_server):
    log = room.log()
    epoch = await say(log, 1, 5)
    await log.client.save()  # the dump has 5...
    await say(log, 6, 8)  # ...the worker saw 8, then Redis crashes
    follower = LogFollower(room.log())
    assert [e.seq for e in await follower.start()] == list(range(1, 9))  # nothing delivered
    assert (follower.epoch, follower.seq) == (epoch, 8)
    redis_server.process.proc.kill()  # no time to save anything
    await restart(redis_server, room)
    assert await log.position() == (epoch, 5)
    assert (await log.after(epoch, 8)).status is Status.BAD_RESUME
    delivery = await follower.catch_up()  # the worker notices: the log went back
    assert delivery.reset and follower.epoch != epoch
    assert [e.event["seq"] for e in delivery.entries] == [1, 2, 3, 4, 5]  # the room drops them
    assert (await log.append(chat("w1", 9)))[0] == follower.epoch  # never number 6 of `epoch`


# -- a reader that was away ---------------------------------------------------------------------


@pytest.mark.redis
async def test_a_reader_whose_connection_was_cut_gets_exactly_what_it_missed(room, readers):
    log = room.log()
    away, present = await readers(2)
    await say(log, 1, 10)
    await eventually(lambda: len(away.delivered) == 10, "the reader to hear the first ten")
    away.may_return.clear()
    admin = room.log().client
    await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # both lose the channel
    await eventually(lambda: present.subscriptions == 2, "the other reader to come back")
    await say(log, 11, 20)
    await eventually(lambda: len(present.delivered) == 20, "the other reader to hear 20")
    assert len(away.delivered) == 10  # missed, for now
    talking = asyncio.ensure_future(say(log, 21, 80))  # lines keep coming while it catches up
    away.may_return.set()
    await eventually(lambda: away.subscriptions == 2, "the reader to come back")
    await talking
    for reader in (away, present):
        await eventually(lambda reader=reader: len(reader.delivered) >= 80, "all 80")
        assert reader.numbers == list(range(1, 81))  # none missing, none twice, in order
        assert [e.event["seq"] for e in reader.delivered] == list(range(1, 81))
    assert away.follower.lost == 0


@pytest.mark.redis
async def test_a_number_skipped_on_the_channel_is_read_from_the_stream(room, readers):
    [reader] = await readers(1)
    log, quiet = room.log(), room.log(publish=False)  # quiet: numbers and keeps, publishes not
    await log.append(chat("w1", 1))
    await quiet.append(chat("w1", 2))
    await quiet.append(chat("w1", 3))
    await log.append(chat("w1", 4))
    await eventually(lambda: len(reader.delivered) == 4, "the reader to hear four")
    assert reader.numbers == [1, 2, 3, 4] and reader.follower.lost == 0


@pytest.mark.redis
async def test_a_reader_away_longer_than_the_history_is_told_how_many_it_lost(room, readers):
    log = room.log(history=20)
    [reader] = await readers(1, history=20)
    await log.append(chat("w1", 1))
    await eventually(lambda: reader.numbers == [1], "the first line")
    reader.may_return.clear()
    await log.client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    await say(log, 2, 101)
    reader.may_return.set()
    await eventually(lambda: len(reader.delivered) == 21, "what the history still has")
    assert reader.numbers == [1, *range(82, 102)] and reader.follower.lost == 80


# -- who may read and write ---------------------------------------------------------------------


@pytest.mark.redis
async def test_an_entry_a_stranger_adds_to_the_stream_is_refused_and_reported(room):
    log = room.log()
    epoch, _ = await log.append(chat("w1", 1))
    await log.client.xadd(log.stream_key, {"seq": 2, "data": b'{"v": 1, "forged": true}'})
    await log.client.xadd(log.stream_key, {"seq": 3, "data": EventSigner(
        new_secret(), CHANNEL).sign('{"v": 1}')})
    await log.client.xadd(log.stream_key, {"nothing": "here"})
    await log.client.hset(log.numbers_key, "seq", 4)
    catchup = await log.after(epoch, 0)
    assert [e.seq for e in catchup.entries] == [1]
    assert sorted(room.refused) == ["bad_signature", "malformed", "unsigned"]


PASSWORD = "hunter2-but-longer"


@pytest.mark.redis
@pytest.mark.parametrize("login", ["", ":not-the-password@", "chat:not-the-password@"])
async def test_a_wrong_or_missing_password_gets_the_brokers_clear_error(login):
    require_redis()
    with RedisServer.spawn(password=PASSWORD) as guarded:
        url = f"redis://{login}127.0.0.1:{guarded.port}/0"
        room = Room(url)
        try:
            with pytest.raises(LogLoginError) as raised:
                await room.log().append(chat("w1", 1))
            assert str(raised.value) == credentials_problem(url)
            assert "not-the-password" not in str(raised.value)
            owner = Room(guarded.url)
            assert await owner.log().position() == ("", 0)  # nothing was numbered
            await owner.close()
        finally:
            await room.close()


#: What a Redis user needs, beyond the broker's pub/sub, to run the room's log on the room's keys
#: alone: what the README's restricted user gets.
LOG_ACL = ("resetkeys", "~{wslab:test-log}:*", "+evalsha", "+script|load", "+hget", "+hset",
           "+hincrby", "+del", "+xadd", "+xtrim", "+xrevrange", "+time")


@pytest.mark.redis
async def test_a_redis_user_with_only_the_logs_keys_and_commands_can_run_it():
    require_redis()
    user = ("--user", "default", "off", "--user", "chat", "on", f">{PASSWORD}", "resetchannels",
            f"&{CHANNEL}", "-@all", "+publish", "+subscribe", "+ping", "+hello", "+auth")
    port = free_port()
    with RedisServer(f"redis://chat:{PASSWORD}@127.0.0.1:{port}/0", port=port,
                     executable=shutil.which("redis-server"), access=user + LOG_ACL) as guarded:
        guarded.start()
        room = Room(guarded.url)
        try:
            log = room.log(history_minutes=5)
            epoch = await say(log, 1, 2)
            assert [e.seq for e in (await log.after(epoch, 0)).entries] == [1, 2]
            assert await log.retire_epoch(epoch, 3) != epoch
            with pytest.raises(redis.exceptions.NoPermissionError):
                await log.client.set("elsewhere", "x")  # nothing but the room's keys
        finally:
            await room.close()


# -- the benchmark ------------------------------------------------------------------------------


@pytest.mark.redis
def test_the_stream_path_benchmark_runs_and_prints_its_table(redis_server):
    """A smoke run of ``python -m wslab.bench.stream_path`` (figures are for ``make bench``)."""
    result = subprocess.run(
        [sys.executable, "-m", "wslab.bench.stream_path", "--readers", "2", "--rate", "100",
         "--seconds", "0.5", "--burst", "200", "--memory-sizes", "200"],
        capture_output=True, text=True, timeout=scaled(90),
        env={**os.environ, "REDIS_URL": redis_server.url})
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout
    figures = r" +2( +[\d.]+ms){3} +[\d,]+ +[\d,]+ +0 +0 +[\d.]+µs +[\d.]+µs$"  # none lost
    for path in (r"\(a\) script \+ PUBLISH, pub/sub", r"\(b\) script, XREAD BLOCK"):
        assert re.search(rf"^{path}{figures}", table, re.M), table
    assert "2 readers, (b) against (a): p99" in table, table
    assert re.search(r"^history N=200: [\d,]+ entries kept", table, re.M), table
