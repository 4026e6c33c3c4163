"""The brokers (``wslab.brokers``) and the room behind them: events (``wslab.events``),
sequence numbers, the broker's backoff and the roster (``wslab.presence``), the
room's logic over a stand-in for Redis (everywhere), then ``RedisBroker`` and two in-process
servers against a real ``redis-server`` (skipped without one, required in CI) and, each test a
second time, against the fakeredis server that elective E5 starts where there is no Redis
(``wslab.redis_stand_in``).

The multi-process tests (real worker processes) are in ``test_scale_out.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import signal
import time

import pytest

from peers import join, still_chatting
from deadlines import at_once, eventually, scaled
from wslab import envelope
from wslab.backoff import Backoff, backoff_delay
from wslab.brokers import REDIS_BACKOFF, InProcessBroker, RedisBroker, broker_from_url
from wslab.chat import create_app
from wslab.checks.manager import FakeSocket, settle
from wslab.close_codes import KitCloseCode
from wslab.events import decode_event, encode_event
from wslab.history import EVENT_EPOCH, EVENT_PAST, EVENT_SEQ, NUMBERED, Position
from wslab.resume import Request
from wslab.presence import MAX_SEQUENCE_JUMP, Roster, SequenceTracker, Verdict, sequence_check
from wslab.room import ChatRoom, Member
from wslab.runner import BackgroundServer
from wslab.settings import ChatSettings
from wslab.signing import new_secret

#: The secret of every room these tests make: their workers share it.
SECRET = new_secret()

# -- events -------------------------------------------------------------------------------------


def chat_event(**changes):
    event = {"v": 1, "worker": "w1", "seq": 1, "kind": "chat", "text": '{"message": "hi"}'}
    event.update(changes)
    return event


def test_an_event_travels_as_plain_json_and_comes_back_equal():
    event = chat_event(text="héllo ✓")
    data = encode_event(event)
    assert json.loads(data) == event and "héllo ✓" in data
    assert decode_event(data) == event
    assert decode_event(data.encode()) == event


@pytest.mark.parametrize("data, why", [
    ("not json at all", "not JSON"),
    (pickle.dumps({"kind": "chat"}), "pickle is never read"),
    ('{"v": 1, "worker": "w1", "seq": NaN, "kind": "chat", "text": "x"}', "NaN"),
    ("[1, 2, 3]", "not an object"),
    (json.dumps(chat_event(v=2)), "unknown version"),
    (json.dumps(chat_event(worker="")), "no worker"),
    (json.dumps(chat_event(seq=True)), "a boolean is not a sequence number"),
    (json.dumps(chat_event(seq=0)), "sequence numbers start at 1"),
    (json.dumps(chat_event(kind="shutdown")), "unknown kind"),
    (json.dumps(chat_event(text=None)), "a chat without text"),
    (json.dumps(chat_event(kind="join", client="bad id!", announce=True)), "bad client id"),
    (json.dumps(chat_event(kind="join", client="alice", announce="yes")), "announce not bool"),
    (json.dumps(chat_event(kind="leave", client="alice", announce=True)), "a leave without why"),
    (json.dumps(chat_event(kind="presence", clients="alice", ask=False)), "clients not a list"),
    (json.dumps(chat_event(kind="presence", clients=["alice"])), "no ask"),
    (json.dumps(chat_event(kind="join", client="alice", announce=True, key="the-key-itself")),
     "a join's key is a digest, never a key"),
    (json.dumps(chat_event(kind="join", client="alice", announce=True, resumed="yes")),
     "resumed not bool"),
    (json.dumps(chat_event(kind="presence", clients=["alice"], ask=False, keys=["f" * 64])),
     "keys not a mapping"),
    (json.dumps(chat_event(kind="presence", clients=["alice"], ask=False,
                           keys={"alice": "secret"})), "a presence key that is not a digest"),
    ("[" * 5000 + "]" * 5000, "nested too deep"),
    (json.dumps(chat_event(text="x" * (1 << 20))), "too big"),
])
def test_a_malformed_event_is_ignored_not_raised(data, why, caplog):
    assert decode_event(data) is None, why
    assert "Ignored" in caplog.text


def test_the_roster_keeps_each_clients_key_digest_from_joins_and_heartbeats():
    roster = Roster(timeout=3.0)
    roster.add("w2", "bob", "b" * 64)
    roster.replace("w3", ["dan", "eve"], {"dan": "d" * 64})
    assert roster.key_of("bob") == "b" * 64 and roster.key_of("dan") == "d" * 64
    assert roster.key_of("eve") is None and roster.key_of("nobody") is None
    roster.remove("w2", "bob")
    assert roster.key_of("bob") is None


# -- sequence numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("last, seq, expected", [
    (None, 1, (True, 0)), (None, 57, (True, 0)), (4, 5, (True, 0)), (4, 9, (True, 4)),
    (4, 4, (False, 0)), (4, 2, (False, 0)),
])
def test_sequence_check(last, seq, expected):
    assert sequence_check(last, seq) == expected


DELIVER, REPEAT = Verdict.DELIVER, Verdict.REPEAT


def test_the_tracker_drops_repeats_and_counts_losses_per_worker():
    tracker = SequenceTracker("me")
    assert [tracker.accept("a", n) for n in (1, 2, 2, 5, 3, 6)] == [DELIVER, DELIVER, REPEAT,
                                                                    DELIVER, REPEAT, DELIVER]
    assert tracker.accept("b", 10) is DELIVER and tracker.lost == 2
    tracker.forget("a")
    assert tracker.accept("a", 1) is DELIVER and tracker.lost == 2


def test_the_tracker_refuses_an_absurd_jump_and_still_hears_the_real_worker():
    tracker = SequenceTracker("me")
    assert tracker.accept("a", 7) is DELIVER  # the first event seen: any number will do
    assert tracker.accept("a", 7 + MAX_SEQUENCE_JUMP + 1) is Verdict.SEQUENCE_JUMP
    assert tracker.accept("a", 2**62) is Verdict.SEQUENCE_JUMP
    assert tracker.accept("a", 8) is DELIVER and tracker.lost == 0  # the real one goes on
    assert tracker.accept("a", 8 + MAX_SEQUENCE_JUMP) is DELIVER  # a big loss, yet possible
    tracker.forget("a")  # gone silent: the room forgets it, and hears it again from anywhere
    assert tracker.accept("a", 2**62) is DELIVER


def test_the_tracker_knows_its_own_numbers_and_never_stops_hearing_itself():
    tracker = SequenceTracker("me")
    assert tracker.accept("me", 1) is Verdict.NOT_PUBLISHED_HERE  # nothing published yet
    assert [tracker.next_own() for _ in range(3)] == [1, 2, 3]
    assert tracker.accept("me", 2**62) is Verdict.NOT_PUBLISHED_HERE
    assert tracker.accept("me", 4) is Verdict.NOT_PUBLISHED_HERE
    assert [tracker.accept("me", n) for n in (1, 2, 2, 3)] == [DELIVER, DELIVER, REPEAT, DELIVER]
    tracker.forget("me")  # a forged goodbye in its name changes nothing
    assert tracker.accept("me", 3) is REPEAT
    assert tracker.accept("me", tracker.next_own()) is DELIVER


# -- backoff ------------------------------------------------------------------------------------


def redis_backoff(attempt, rand):
    return backoff_delay(attempt, rand, REDIS_BACKOFF.first, REDIS_BACKOFF.cap)


def test_backoff_doubles_up_to_the_cap_with_at_least_half_of_each_step():
    lows = [redis_backoff(n, 0.0) for n in range(10)]
    highs = [redis_backoff(n, 0.999999) for n in range(10)]
    assert lows[:4] == pytest.approx([0.05, 0.1, 0.2, 0.4])
    assert highs[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8], rel=1e-5)
    assert max(highs) == pytest.approx(5.0, rel=1e-5) and lows[-1] == pytest.approx(2.5)
    assert redis_backoff(10_000, 0.5) == pytest.approx(3.75)  # no overflow, ever


def test_a_redis_broker_waits_by_the_brokers_numbers():
    assert RedisBroker("redis://127.0.0.1:6379/0", secret=SECRET).backoff is REDIS_BACKOFF


def test_two_workers_do_not_retry_in_step():
    first, second = REDIS_BACKOFF, Backoff(REDIS_BACKOFF.first, REDIS_BACKOFF.cap)
    assert [first.delay(n) for n in range(6)] != [second.delay(n) for n in range(6)]


# -- the roster ---------------------------------------------------------------------------------


def test_the_roster_tracks_other_workers_and_expires_the_silent_ones():
    now = [100.0]
    roster = Roster(timeout=3.0, clock=lambda: now[0])
    roster.replace("w2", ["bob", "carol"])
    roster.add("w3", "dan")
    assert roster.client_ids() == {"bob", "carol", "dan"} and roster.where("dan") == "w3"
    roster.remove("w2", "carol")
    now[0] = 102.0
    roster.seen("w3")
    now[0] = 104.0
    assert roster.expire() == {"w2": {"bob": None}}  # silent for 4 s; w3 spoke 2 s ago
    assert roster.client_ids() == {"dan"} and roster.where("bob") is None
    now[0] = 110.0
    roster.refresh()  # after our own outage: everyone gets a fresh timeout
    now[0] = 112.0
    assert roster.expire() == {} and roster.workers == ["w3"]


# -- choosing a broker --------------------------------------------------------------------------


def test_broker_from_url():
    assert isinstance(broker_from_url(None), InProcessBroker)
    assert isinstance(broker_from_url("memory://"), InProcessBroker)
    redis = broker_from_url("redis://127.0.0.1:6379/0", heartbeat=0.5, secret=SECRET)
    assert isinstance(redis, RedisBroker) and redis.heartbeat == 0.5 and redis.shared
    assert "hunter2" not in repr(broker_from_url("redis://:hunter2@10.0.0.1:6379", secret=SECRET))
    assert SECRET not in repr(redis)
    with pytest.raises(TypeError, match="secret"):
        broker_from_url("redis://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="unknown broker"):
        broker_from_url("kafka://somewhere")


async def test_the_in_process_broker_delivers_at_once_and_a_copy():
    broker = InProcessBroker("solo")
    got = []

    async def handler(event):
        got.append(event)

    broker.subscribe(handler)
    event = chat_event(worker="solo")
    assert await broker.publish(event) is True
    assert got == [event] and got[0] is not event


# -- the room over a stand-in for Redis ---------------------------------------------------------


class Hub:
    """A stand-in for one Redis channel: ordered, delivered by a task, and able to go down.

    Like Redis pub/sub, it keeps nothing: an event published while it is down, or while a
    worker is cut off, is simply never delivered.
    """

    def __init__(self) -> None:
        self.brokers: list[HubBroker] = []
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.up = True
        self.task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        while True:
            data = await self.queue.get()
            for broker in list(self.brokers):
                if broker.up:
                    for handler in broker.handlers:
                        await handler(decode_event(data))

    async def set_up(self, up: bool) -> None:
        self.up = up
        for broker in list(self.brokers):
            for on_status in broker.status_handlers:
                await on_status(up, "" if up else "the hub is down")
        await settle()

    async def settled(self) -> None:
        for _ in range(50):
            await settle()
            if self.queue.empty():
                await settle()
                return

    def close(self) -> None:
        self.task.cancel()


class HubBroker:
    shared = True

    def __init__(self, hub: Hub, worker_id: str, heartbeat: float = 0.05) -> None:
        self.hub, self.worker_id, self.heartbeat = hub, worker_id, heartbeat
        self.handlers, self.status_handlers = [], []
        self.cut_off = False

    @property
    def up(self) -> bool:
        return self.hub.up and not self.cut_off

    def subscribe(self, handler, on_status=None, on_refused=None, on_position=None):
        self.handlers.append(handler)
        if on_status:
            self.status_handlers.append(on_status)

    async def start(self):
        self.hub.brokers.append(self)
        for on_status in self.status_handlers:
            await on_status(self.up, "")

    async def publish(self, event):
        if not self.up:
            return False
        self.hub.queue.put_nowait(encode_event(event))
        return True

    async def close(self):
        if self in self.hub.brokers:
            self.hub.brokers.remove(self)


class Worker:
    """One room on the hub, and its stand-in clients."""

    def __init__(self, hub: Hub, name: str, **settings) -> None:
        self.room = ChatRoom(ChatSettings(rate_limit=0, **settings), HubBroker(hub, name))
        self.sockets: dict[str, FakeSocket] = {}
        self.members: dict[str, Member] = {}

    async def connect(self, client_id: str, resume: str | None = None) -> FakeSocket:
        ws = FakeSocket(client_id)
        self.sockets[client_id] = ws
        self.members[client_id] = await self.room.join(ws, client_id, Request(resume))
        await settle()  # the outbox writers send what was queued
        return ws

    async def say(self, client_id: str, text: str) -> None:
        frame = {"type": "websocket.receive", "text": json.dumps({"message": text})}
        await self.room.receive(self.members[client_id], frame)


def heard(ws: FakeSocket, kind: str | None = None) -> list[dict]:
    """What ``ws`` was sent, decoded: chat lines (kind None) or system messages of ``kind``."""
    messages = [json.loads(m) for m in ws.sent]
    return [m for m in messages if m.get("type") == kind]


def lines(ws: FakeSocket) -> list[str]:
    return [m["message"] for m in heard(ws)]


@pytest.fixture
async def hub():
    hub = Hub()
    yield hub
    hub.close()


async def two_workers(hub, **settings):
    one, two = Worker(hub, "w1", **settings), Worker(hub, "w2", **settings)
    await one.room.start()
    await two.room.start()
    await hub.settled()
    return one, two


async def stop(*workers):
    for worker in workers:
        await worker.room.stop()


async def test_every_line_reaches_every_client_once_in_one_order(hub):
    one, two = await two_workers(hub)
    alice = await one.connect("alice")
    bob, carol = await two.connect("bob"), await two.connect("carol")
    await hub.settled()
    for n in range(5):  # lines from both workers, interleaved, before any is delivered
        await one.say("alice", f"a{n}")
        await two.say("bob", f"b{n}")
    assert lines(alice) == []  # not delivered directly: only from the broker
    await hub.settled()
    assert lines(alice) == lines(bob) == lines(carol)
    assert sorted(lines(alice)) == sorted([f"a{n}" for n in range(5)] + [f"b{n}" for n in range(5)])
    await stop(one, two)


async def test_joins_leaves_and_counts_are_for_the_whole_room(hub):
    one, two = await two_workers(hub)
    alice = await one.connect("alice")
    await hub.settled()
    bob = await two.connect("bob")
    assert heard(bob, "welcome")[0]["online"] == ["alice", "bob"]
    await hub.settled()
    assert [(m["user"], m["participants"]) for m in heard(alice, "join")] == [("bob", 2)]
    carol = await two.connect("carol")
    await hub.settled()
    await two.room.leave(two.members["bob"])
    await hub.settled()
    assert [(m["user"], m["participants"]) for m in heard(alice, "disconnect")] == [("bob", 2)]
    assert [(m["user"], m["participants"]) for m in heard(carol, "disconnect")] == [("bob", 2)]
    assert one.room.online == two.room.online == ["alice", "carol"]
    await stop(one, two)


async def test_someone_who_joins_while_an_earlier_join_travels_hears_of_it_once(hub):
    """Bob's welcome lists alice already: the announcement of her join, back from the broker
    a moment later, is not for him."""
    one, two = await two_workers(hub)
    alice, bob = FakeSocket("alice"), FakeSocket("bob")
    await one.room.join(alice, "alice")  # her join is still on its way through the hub
    await one.room.join(bob, "bob")
    await hub.settled()
    assert heard(bob, "welcome")[0]["online"] == ["alice", "bob"]
    assert heard(bob, "join") == []
    assert [m["user"] for m in heard(alice, "join")] == ["bob"]
    carol = await two.connect("carol")
    await hub.settled()
    assert [m["user"] for m in heard(bob, "join")] == ["carol"]
    assert [m["user"] for m in heard(carol, "join")] == []
    await stop(one, two)


async def test_two_joins_at_the_same_moment_are_both_counted(hub):
    one, two = await two_workers(hub)
    alice, bob = FakeSocket("alice"), FakeSocket("bob")
    await one.room.join(alice, "alice")  # both join before either worker hears of the other
    await two.room.join(bob, "bob")
    await hub.settled()
    assert heard(alice, "join")[0]["participants"] == 2
    assert heard(bob, "join")[0]["participants"] == 2
    await stop(one, two)


async def test_the_same_client_id_on_another_worker_replaces_the_older_connection(hub):
    one, two = await two_workers(hub)
    alice, bob = await one.connect("alice"), await one.connect("bob")
    await hub.settled()
    alice_again = await two.connect("alice", heard(alice, "welcome")[0]["resume"])
    assert heard(alice_again, "welcome")[0]["participants"] == 2
    await hub.settled()
    assert alice.closed_with == (KitCloseCode.REPLACED,
                                 "replaced by a newer connection with the same client id")
    # Nobody left and nobody joined: alice is still here, on her new connection.
    assert [m["user"] for m in heard(bob, "join")] == []
    assert heard(bob, "disconnect") == []
    assert one.room.online == two.room.online == ["alice", "bob"]
    await one.say("bob", "still there, alice?")
    await hub.settled()
    assert lines(alice_again) == ["still there, alice?"] and "still" not in str(alice.sent[-1:])
    await stop(one, two)


async def test_a_lost_join_is_put_right_by_the_next_heartbeat(hub):
    one, two = await two_workers(hub)
    bob = await two.connect("bob")
    await hub.settled()
    one.room.broker.cut_off = True  # w1 is cut off: its join announcement goes nowhere
    await one.connect("alice")
    one.room.broker.cut_off = False
    assert two.room.online == ["bob"]
    await eventually(lambda: two.room.online == ["alice", "bob"], "a heartbeat to put it right")
    await hub.settled()
    assert two.room.online == ["alice", "bob"]
    assert [(m["user"], m["participants"]) for m in heard(bob, "join")] == [("alice", 2)]
    await stop(one, two)


async def test_a_worker_that_goes_silent_is_forgotten_with_its_clients(hub):
    one, two = await two_workers(hub)
    alice = await one.connect("alice")
    await two.connect("bob")
    await hub.settled()
    two.room._heartbeat.cancel()  # w2 dies without a word, like a SIGKILL
    hub.brokers.remove(two.room.broker)
    await eventually(lambda: one.room.online == ["alice"], "w1 to forget w2's clients")
    await hub.settled()
    left = heard(alice, "disconnect")
    assert [(m["user"], m["participants"]) for m in left] == [("bob", 1)]
    assert "stopped answering" in left[0]["message"] and one.room.online == ["alice"]
    await stop(one)


async def test_a_worker_that_stops_says_goodbye(hub):
    one, two = await two_workers(hub)
    alice = await one.connect("alice")
    await two.connect("bob")
    await hub.settled()
    two.room.manager.disconnect(two.sockets["bob"])  # as if uvicorn had closed bob's socket
    two.room._by_socket.clear(), two.room._members.clear()
    await two.room.stop()
    await hub.settled()
    assert [m["user"] for m in heard(alice, "disconnect")] == ["bob"]
    assert "shut down" in heard(alice, "disconnect")[0]["message"]
    await stop(one)


async def test_while_the_broker_is_down_local_clients_still_hear_each_other(hub):
    one, two = await two_workers(hub)
    alice, dan = await one.connect("alice"), await one.connect("dan")
    bob = await two.connect("bob")
    await hub.settled()
    await hub.set_up(False)
    for ws in (alice, dan, bob):
        assert heard(ws, "degraded"), ws
    await one.say("alice", "anyone?")
    await hub.settled()
    assert lines(alice) == lines(dan) == ["anyone?"] and lines(bob) == []
    late = await one.connect("erin")
    assert heard(late, "degraded")  # told at once that the room is split
    await hub.set_up(True)
    await hub.settled()
    for ws in (alice, dan, bob):
        assert heard(ws, "recovered"), ws
    await two.say("bob", "back")
    await hub.settled()
    assert lines(alice)[-1] == lines(bob)[-1] == "back"
    assert len(lines(alice)) == 2  # "anyone?" once, "back" once: nothing twice
    assert "erin" in two.room.online  # the join bob's worker missed, from a heartbeat
    await stop(one, two)


async def test_an_event_delivered_locally_and_then_by_the_broker_is_not_delivered_twice(hub):
    one, _ = await two_workers(hub)
    alice = await one.connect("alice")
    await hub.settled()
    event = {"v": 1, "worker": "w1", "seq": one.room.sequence.next_own(), "kind": "chat",
             "text": envelope.chat_message("alice", "once")}
    await one.room._on_event(dict(event))  # delivered here while the publish "failed"...
    hub.queue.put_nowait(encode_event(event))  # ...yet it reached the broker after all
    await hub.settled()
    assert lines(alice) == ["once"]
    await stop(one)


# -- RedisBroker against a real redis-server ----------------------------------------------------

class Listener:
    """A RedisBroker's events and status changes, as lists a test can wait on."""

    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker
        self.events: list[dict] = []
        self.status: list[bool] = []
        self.positions: list[Position] = []
        broker.subscribe(self._event, self._status, on_position=self._position)

    async def _event(self, event):
        self.events.append(event)

    async def _position(self, position):
        self.positions.append(position)

    async def _status(self, up, problem):
        self.status.append(up)

    async def until(self, condition, timeout=5.0):
        await eventually(condition, lambda: f"the broker (status {self.status}, events "
                                            f"{self.events})", timeout)


async def test_redis_broker_publishes_to_every_worker_itself_included(redis_or_stand_in):
    one, two = Listener(RedisBroker(redis_or_stand_in.url, secret=SECRET, worker_id="w1")), \
        Listener(RedisBroker(redis_or_stand_in.url, secret=SECRET, worker_id="w2"))
    await one.broker.start()
    await two.broker.start()
    try:
        assert one.status == two.status == [True]
        assert await one.broker.publish(chat_event(worker="w1", seq=1))
        assert await two.broker.publish(chat_event(worker="w2", seq=1))
        for listener in (one, two):
            await listener.until(lambda listener=listener: len(listener.events) == 2)
            assert [e["worker"] for e in listener.events] == ["w1", "w2"]
    finally:
        await one.broker.close()
        await two.broker.close()


async def test_redis_numbers_events_once_in_one_order_and_a_late_worker_reads_them(
        redis_or_stand_in):
    """Numbered events get the room's next number from Redis, and reach every worker in that
    order; a worker that starts later is told where the numbers stand, and gets what the
    history keeps, marked as past. Unnumbered events carry no number."""
    one, two = (Listener(RedisBroker(redis_or_stand_in.url, secret=SECRET, worker_id=worker))
                for worker in ("w1", "w2"))
    await one.broker.start()
    await two.broker.start()
    late = Listener(RedisBroker(redis_or_stand_in.url, secret=SECRET, worker_id="w3"))
    try:
        for seq, (listener, text) in enumerate([(one, "a"), (two, "b"), (one, "c")], 1):
            worker = listener.broker.worker_id
            assert await listener.broker.publish(
                chat_event(worker=worker, seq=seq, text=text, **{NUMBERED: True}))
        assert await one.broker.publish(chat_event(worker="w1", seq=4, text="not kept"))
        for listener in (one, two):
            await listener.until(lambda listener=listener: len(listener.events) == 4)
            assert [(e["text"], e.get(EVENT_SEQ)) for e in listener.events] == [
                ("a", 1), ("b", 2), ("c", 3), ("not kept", None)]
            epoch = listener.events[0][EVENT_EPOCH]
            assert listener.positions == [Position(epoch, 0)]
        await late.broker.start()
        assert late.positions == [Position(epoch, 0)]
        assert [(e["text"], e[EVENT_SEQ], bool(e[EVENT_PAST])) for e in late.events] == [
            ("a", 1, True), ("b", 2, True), ("c", 3, True)]
    finally:
        for listener in (one, two, late):
            await listener.broker.close()


async def test_redis_broker_fails_fast_while_down_and_recovers_after_a_restart(redis_or_stand_in):
    listener = Listener(RedisBroker(redis_or_stand_in.url, secret=SECRET, worker_id="w1",
                                    backoff=Backoff(first=0.05, cap=0.2)))
    await listener.broker.start()
    try:
        redis_or_stand_in.stop()
        await listener.until(lambda: listener.status == [True, False])
        # No waiting for a server that is not there.
        assert at_once(listener.broker.publish(chat_event())) is False
        redis_or_stand_in.start()
        await listener.until(lambda: listener.status == [True, False, True])
        assert await listener.broker.publish(chat_event(seq=2))
        await listener.until(lambda: len(listener.events) == 1)
        assert listener.broker.connects == 2
    finally:
        await listener.broker.close()


@pytest.mark.redis
async def test_redis_broker_notices_a_redis_that_stops_answering(redis_server):
    """A frozen Redis (SIGSTOP) keeps its connections open: only the ping finds out."""
    listener = Listener(RedisBroker(redis_server.url, secret=SECRET, worker_id="w1", timeout=0.2,
                                    backoff=Backoff(first=0.05, cap=0.2)))
    await listener.broker.start()
    try:
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            await listener.until(lambda: listener.status == [True, False], timeout=3)
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        await listener.until(lambda: listener.status == [True, False, True], timeout=3)
    finally:
        await listener.broker.close()


async def test_a_server_starts_while_redis_is_down_and_joins_when_it_comes(redis_or_stand_in):
    redis_or_stand_in.stop()
    listener = Listener(RedisBroker(redis_or_stand_in.url, secret=SECRET, worker_id="w1",
                                    backoff=Backoff(first=0.05, cap=0.2)))
    started = time.monotonic()
    await listener.broker.start()
    try:
        assert time.monotonic() - started < scaled(2) and listener.status == [False]
        redis_or_stand_in.start()
        await listener.until(lambda: listener.status == [False, True])
    finally:
        await listener.broker.close()


# -- two chat servers in this process, sharing a real Redis --------------------------------------


@pytest.fixture
def pair(redis_or_stand_in, request):
    """Start two chat servers that share ``redis_or_stand_in``; both stop after the test.

    Each test's servers get a channel of their own: a server of an earlier test that is still
    shutting down (``stop()`` gives up waiting after a second) must not say goodbye, as worker
    ``w1``, into the room of the next test's ``w1``.
    """
    servers: list[BackgroundServer] = []
    channel = f"wslab:test:{request.node.name}"

    def start(name: str, **settings) -> BackgroundServer:
        broker = RedisBroker(redis_or_stand_in.url, secret=SECRET, worker_id=name, heartbeat=0.2,
                             channel=channel, backoff=Backoff(first=0.05, cap=0.5))
        server = BackgroundServer(create_app(ChatSettings(**settings), broker),
                                  name=f"test-broker-{name}")
        servers.append(server.start())
        return server

    start.channel = channel  # type: ignore[attr-defined]
    yield start
    for server in servers:
        server.stop()


async def test_two_servers_sharing_redis_are_one_room(pair):
    one, two = pair("w1"), pair("w2")
    alice = await join(one.ws_url, "alice")
    await eventually(lambda: two.app.state.room.online == ["alice"],
                     "her join to travel through Redis to the other server")
    bob = await join(two.ws_url, "bob")
    assert bob.welcome["online"] == ["alice", "bob"]
    assert (await alice.next_of("join"))["participants"] == 2
    await still_chatting(alice, bob)
    await still_chatting(bob, alice)
    assert await alice.silence() == [] and await bob.silence() == []  # nothing twice


async def test_a_stranger_publishing_garbage_on_the_channel_harms_no_one(pair, redis_or_stand_in):
    import redis

    one, two = pair("w1"), pair("w2")
    alice, bob = await join(one.ws_url, "alice"), await join(two.ws_url, "bob")
    stranger = redis.Redis.from_url(redis_or_stand_in.url)
    try:
        for data in (b"\x80\x04garbage", pickle.dumps({"kind": "chat"}), b"[]",
                     json.dumps(chat_event(worker="w9", text=42))):
            stranger.publish(pair.channel, data)
    finally:
        stranger.close()
    await still_chatting(alice, bob)
    for server in (one, two):  # none of it signed: dropped unread, and counted
        assert server.app.state.room.refused_events == {"unsigned": 4}


async def test_without_the_key_a_name_on_another_worker_is_refused(hub):
    one, two = await two_workers(hub)
    alice = await one.connect("alice")
    await hub.settled()
    mallory = await two.connect("alice", "a-guess")
    assert [m["code"] for m in heard(mallory, "error")] == ["name_taken"]
    assert mallory.closed_with == (1008, "the name alice is in use")
    await hub.settled()
    assert alice.closed_with is None and heard(alice, "error") == []
    await stop(one, two)


async def test_two_keyless_claims_of_a_free_name_at_once_leave_it_to_the_first(hub):
    one, two = await two_workers(hub)
    bob = await one.connect("bob")
    await hub.settled()
    first = await one.connect("alice")  # neither worker has heard of the other's alice yet
    second = await two.connect("alice")
    await hub.settled()
    assert first.closed_with is None and heard(first, "error") == []
    assert [m["code"] for m in heard(second, "error")] == ["name_taken"]
    assert second.closed_with == (1008, "the name alice is in use")
    assert one.room.online == two.room.online == ["alice", "bob"]
    assert [m["user"] for m in heard(bob, "join")] == ["alice"]  # announced once
    assert two.room.refused_handshakes["name_taken"] == 1
    await stop(one, two)


async def test_redis_going_away_splits_the_room_and_its_return_heals_it(pair, redis_or_stand_in):
    one, two = pair("w1"), pair("w2")
    alice, dan = await join(one.ws_url, "alice"), await join(one.ws_url, "dan")
    bob = await join(two.ws_url, "bob")
    # Each server must have heard the other before the outage, or it has no sequence number
    # of the other's to find a gap after it: a broker that stops at once (the stand-in) could
    # otherwise cut off the joins still on their way.
    await eventually(lambda: (one.app.state.room.online == two.app.state.room.online
                              == ["alice", "bob", "dan"]),
                     "the servers to hear of each other's clients")
    redis_or_stand_in.stop()
    for peer in (alice, dan, bob):
        degraded = await peer.next_of("degraded")
        assert degraded["client_id"] == "system" and "only" in degraded["message"]
    await still_chatting(alice, dan)  # one worker's clients still hear each other
    assert [m for m in await bob.silence() if isinstance(m, dict) and "type" not in m] == []
    redis_or_stand_in.start()
    for peer in (alice, dan, bob):
        assert (await peer.next_of("recovered", timeout=5))["client_id"] == "system"
    await still_chatting(bob, alice, dan)
    # alice's line never reached bob's server; it counts the gap in her server's sequence
    # numbers once the next event from her server arrives (a heartbeat, at the latest).
    await eventually(lambda: two.app.state.room.sequence.lost >= 1, "the lost line to be counted")


async def test_the_same_client_id_on_two_servers_with_its_key_replaces_the_older(pair):
    one, two = pair("w1"), pair("w2")
    alice, bob = await join(one.ws_url, "alice"), await join(one.ws_url, "bob")
    await alice.next_of("join")
    await eventually(lambda: "alice" in two.app.state.room.online, "server two to hear of alice")
    alice_again = await join(two.ws_url, "alice", resume=alice.welcome["resume"])
    code, reason = await alice.closed()
    assert code == 4409 and "newer connection" in reason
    assert [m for m in await bob.silence() if m.get("type") in ("join", "disconnect")] == []
    await still_chatting(bob, alice_again)


async def test_a_client_of_a_stopped_server_is_announced_gone(pair):
    one, two = pair("w1"), pair("w2")
    alice = await join(one.ws_url, "alice")
    await join(two.ws_url, "bob")
    await alice.next_of("join")
    two.stop()  # bob is closed with 1012; his server says goodbye
    left = await alice.next_of("disconnect")
    assert left["user"] == "bob" and left["participants"] == 1
    await still_chatting(alice)
    bob = await join(one.ws_url, "bob")  # he reconnects, to the server still running
    assert (await alice.next_of("join"))["participants"] == 2
    await still_chatting(bob, alice)


# -- forged events on a real Redis channel ------------------------------------------------------

#: A chat line that looks like the server speaking: what a stranger would like everyone to see.
FAKE_NOTICE = envelope.system_message("error", "The server is moving: log in again at "
                                               "http://example.invalid/chat", code="moved")


@pytest.fixture
def stranger(redis_or_stand_in, pair):
    """Someone with redis-py on the room's channel (``redis_server.Stranger``)."""
    from redis_server import Stranger

    someone = Stranger(redis_or_stand_in.url, pair.channel)
    yield someone
    someone.close()


async def two_settled_servers(pair):
    """Servers w1 (alice) and w2 (bob), each knowing the other's client."""
    one, two = pair("w1"), pair("w2")
    alice = await join(one.ws_url, "alice")
    await eventually(lambda: two.app.state.room.online == ["alice"], "alice's join to travel")
    bob = await join(two.ws_url, "bob")
    # w2 keeps the room's numbered history too, so bob, a newcomer, is shown alice's join.
    earlier = await bob.next()
    assert earlier.get(envelope.HISTORY) and earlier["user"] == "alice", earlier
    await alice.next_of("join")
    return one, two, alice, bob


async def heard_next(speaker, *listeners, text):
    """``speaker`` says ``text``, and it is the very next thing each of them receives: so nothing
    published on the channel before it (Redis keeps one order) reached any of them."""
    await speaker.say(text)
    for peer in (speaker, *listeners):
        message = await peer.next()
        assert (message["message"], message["client_id"]) == (text, speaker.client_id), message


async def test_forged_events_reach_no_one_and_are_counted(pair, stranger):
    one, two, alice, bob = await two_settled_servers(pair)
    overheard = stranger.overheard(workers=2)  # the workers' ids, from their heartbeats
    assert sorted(overheard) == ["w1", "w2"]
    wrong = new_secret()
    for secret in (None, wrong):
        stranger.forge(secret, worker="w9", seq=1, kind="chat", text=FAKE_NOTICE)
        # alice's join from another worker: w1 would close her with 4409, newest wins.
        stranger.forge(secret, worker="w9", seq=2, kind="join", client="alice", announce=False)
        # w1's own id with a number it will never reach: it would ignore itself for good.
        stranger.forge(secret, worker="w1", seq=2**62, kind="presence", clients=[], ask=False)
    genuine = overheard["w1"]
    stranger.publish(genuine.replace(b'"seq":', b'"seq":9', 1))  # a real event, altered
    stranger.publish(genuine)  # a real event, replayed as it was: a repeat, dropped quietly
    for room in (one.app.state.room, two.app.state.room):
        await eventually(lambda room=room: room.refused_events == {"unsigned": 3,
                                                                   "bad_signature": 4},
                         lambda room=room: f"the forgeries to be counted: {room.refused_events}")
        assert room.snapshot().refused_events == room.refused_events
        assert room.online == ["alice", "bob"]  # no ghost from the forged join
    await heard_next(alice, bob, text="was that the server?")
    await heard_next(bob, alice, text="no, it was nobody")


async def test_an_event_under_a_workers_own_id_cannot_make_it_deaf_to_itself(pair, stranger):
    """Even signed with the real secret (a worker with a bug, or a stolen secret), an event
    under w1's id with a huge sequence number is refused: by w1, which knows it never published
    it, and by w2, as an absurd jump. Both go on hearing w1."""
    one, two, alice, bob = await two_settled_servers(pair)
    stranger.forge(SECRET, worker="w1", seq=2**62, kind="chat", text=FAKE_NOTICE)
    stranger.forge(SECRET, worker="w1", seq=2**62 + 1, kind="join", client="bob",
                   announce=False)
    await eventually(lambda: one.app.state.room.refused_events == {"not_published_here": 2},
                     lambda: f"w1 to refuse them: {one.app.state.room.refused_events}")
    await eventually(lambda: two.app.state.room.refused_events == {"sequence_jump": 2},
                     lambda: f"w2 to refuse them: {two.app.state.room.refused_events}")
    await heard_next(alice, bob, text="w1 still hears itself")
    await heard_next(bob, alice, text="and w2 still hears w1")
    assert one.app.state.room.online == two.app.state.room.online == ["alice", "bob"]


async def test_a_flood_of_forgeries_costs_three_log_lines_and_harms_no_one(pair, stranger):
    one, two, alice, bob = await two_settled_servers(pair)
    flood = 1000
    for n in range(flood):
        stranger.forge(worker="w9", seq=n + 1, kind="chat", text=FAKE_NOTICE)
    await eventually(lambda: one.app.state.room.refused_events == {"unsigned": flood},
                     lambda: f"the flood to be counted: {one.app.state.room.refused_events}")
    logged = [line for line in one.logs(None) if "Refused an event from the broker" in line]
    assert len(logged) == 3 and "unsigned (3 so far)" in logged[-1], logged  # wslab.quiet_log
    assert "left out of the log" in logged[-1], logged
    await heard_next(alice, bob, text="after the flood")
