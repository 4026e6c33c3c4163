"""Brokers: how several chat server processes (workers) hear each other.

One uvicorn process holds its own clients in its own ``ConnectionManager``. Run two processes
(``--workers 2``, or two servers on two ports) and a line sent to one never reaches the clients
of the other. A *broker* joins them: each worker **publishes** its events (``wslab.events``),
and **delivers** what comes from the broker to its own clients. This module has the small
interface (:class:`Broker`) and two implementations:

- :class:`InProcessBroker`, the default: one worker, nothing else to run. ``publish`` hands the
  event straight to the subscriber, so a single server behaves exactly as it did without one.
- :class:`RedisBroker`: Redis pub/sub through ``redis.asyncio``, one channel for the room. Only
  here do events become text (:func:`~wslab.events.encode_event`), since only here do they
  leave the process; and only here are they signed with the workers' shared secret
  (``wslab.signing``), since only here can a stranger publish one. What fails the check is
  dropped before it is read, and reported to the room, which counts it.

What pub/sub may lose, and how the room copes, is ``wslab.presence``'s story.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional, Protocol

from wslab.backoff import Backoff
from wslab.errors import describe_exception
from wslab.events import MALFORMED, Event, decode_event, encode_event, new_worker_id
from wslab.history import (EVENT_EPOCH, EVENT_PAST, EVENT_SEQ, MESSAGES_PER_LINE, NUMBERED,
                           Numbering, Position)
from wslab.presence import DEFAULT_HEARTBEAT
from wslab.redis_server import safe_url
from wslab.settings import DEFAULT_HISTORY
from wslab.signing import EventSigner

if TYPE_CHECKING:
    from wslab.redis_history import Delivery, LogFollower, Numbered, Published, RedisRoomLog

logger = logging.getLogger(__name__)

#: The Redis channel a room's workers publish on and subscribe to.
DEFAULT_CHANNEL = "wslab:chat"
#: How long a worker that lost Redis waits before each new attempt: from 0.1 s, doubling, up to
#: 5 s. Shorter than the chat clients' waits: while a worker is cut off, its room is split in
#: two, so it comes back as soon as it can; and there are a few workers per room, not a whole
#: class of browsers, so their retries cannot swamp a Redis that is starting again.
REDIS_BACKOFF = Backoff(first=0.1, cap=5.0)

EventHandler = Callable[[Event], Awaitable[None]]
#: Told ``(True, "")`` when the link to the other workers works, ``(False, why)`` when it fails.
StatusHandler = Callable[[bool, str], Awaitable[None]]
#: Told why, each time the broker drops something that came in instead of handing it on.
RefusalHandler = Callable[[str], None]
#: Told where the numbers stand when the broker joins a shared history (``wslab.history``).
PositionHandler = Callable[[Position], Awaitable[None]]


class Broker(Protocol):
    """What the chat room needs from a broker.

    ``subscribe`` registers the handler that gets every event (this worker's own included) and,
    optionally, a status handler told when the link to the other workers fails and recovers,
    a refusal handler told why, each time something that came in was dropped, and a position
    handler told where the room's numbers stand whenever the broker joins a history shared by
    the workers (at its start, and after an outage that reset it or lost part of it).
    ``publish`` returns False, at once, when the event could not be handed on: the caller then
    knows the other workers will not hear it. ``shared`` says whether other processes can be
    on the other end (then the room keeps track of their clients); ``up`` whether the link
    works right now.
    """

    worker_id: str
    shared: bool
    heartbeat: float

    @property
    def up(self) -> bool: ...

    def subscribe(self, handler: EventHandler, on_status: StatusHandler | None = None,
                  on_refused: RefusalHandler | None = None,
                  on_position: PositionHandler | None = None) -> None: ...

    async def start(self) -> None: ...

    async def publish(self, event: Event) -> bool: ...

    async def close(self) -> None: ...


class InProcessBroker:
    """The broker of a single worker: ``publish`` delivers to the subscriber, right away.

    Each handler gets a copy of the event (a shallow one: an event's values are text, numbers
    and a list nobody changes), so that a room never depends on being handed the very dict it
    published, and works the same behind Redis. The event is not encoded: it never leaves the
    process, and nobody else can publish to it, so nothing is signed and nothing refused.
    Nothing is shared with any other process: with several workers, use :class:`RedisBroker`.

    It is also the room's numbering authority (``wslab.history``): an event published with
    ``numbered`` set gets the next number, under an epoch made when the broker was, so a
    server that starts again starts a new epoch (its history is gone).
    """

    shared = False
    up = True

    def __init__(self, worker_id: str | None = None) -> None:
        self.worker_id = worker_id or new_worker_id()
        self.heartbeat = DEFAULT_HEARTBEAT
        self.numbering = Numbering()
        self._handlers: list[EventHandler] = []

    @property
    def epoch(self) -> str:
        return self.numbering.epoch

    def subscribe(self, handler: EventHandler, on_status: StatusHandler | None = None,
                  on_refused: RefusalHandler | None = None,
                  on_position: PositionHandler | None = None) -> None:
        self._handlers.append(handler)

    async def start(self) -> None:
        pass

    async def publish(self, event: Event) -> bool:
        if event.get(NUMBERED):
            event = {**event, EVENT_EPOCH: self.numbering.epoch,
                     EVENT_SEQ: self.numbering.next()}
        for handler in list(self._handlers):
            await handler(dict(event))
        return True

    async def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<InProcessBroker worker {self.worker_id!r}>"


class RedisBroker:
    """Redis pub/sub: every worker publishes on one channel and subscribes to it.

    Every event, this worker's own included, reaches the room through the subscription, in the
    order Redis received them, which is one order for all workers. Two connections: one to
    publish (one publish at a time, so that Redis sees each worker's events in sequence order)
    and one subscribed.

    When Redis goes away, the broker notices (the subscribed connection fails, a publish fails,
    or Redis stops answering the ping sent after ``timeout`` seconds of silence), tells the
    room once (status down), drops both connections, and reconnects with
    :data:`REDIS_BACKOFF` until it can subscribe again; then it tells the room (status up).
    Meanwhile :meth:`publish` returns False at once instead of waiting for a dead server, so no
    client's handler hangs. redis-py's own retries are off: they would reconnect and resubscribe
    behind our back, and the room would never learn that messages were lost meanwhile.

    ``secret`` is the room's: every worker on the channel must have the same one
    (``wslab.signing``). A message on the channel that is unsigned, signed with another secret
    or malformed reaches no handler; the refusal handlers are told why.

    **Numbered events** (``NUMBERED`` set: chat lines, joins, leaves) are numbered by Redis, kept
    in the room's history there and published, in one step (``wslab.redis_history``); the
    others (heartbeats, goodbyes, the lecture's plain text) are only published. Every numbered
    event reaches the handlers once and in number order, with its number and epoch, through a
    :class:`~wslab.redis_history.LogFollower`: what pub/sub loses (an outage, a slow
    subscriber) is read from the history before anything newer is handed on. On its first
    subscription the broker tells the position handlers where the numbers stand and hands the
    events still in the history to the handlers marked ``EVENT_PAST``, so that a worker that
    starts late, or again after a crash, can replay what its clients missed. ``history`` and
    ``history_minutes`` bound that history, as the room's settings of the same names do.
    """

    shared = True

    def __init__(self, url: str, *, secret: str, channel: str = DEFAULT_CHANNEL,
                 worker_id: str | None = None, heartbeat: float = DEFAULT_HEARTBEAT,
                 timeout: float = 1.0, backoff: Backoff | None = None,
                 history: int = DEFAULT_HISTORY, history_minutes: float | None = None) -> None:
        if heartbeat <= 0:
            raise ValueError(f"heartbeat must be positive, not {heartbeat}")
        self.history = history
        self.history_minutes = history_minutes
        self.url = url
        self.channel = channel
        self._signer = EventSigner(secret, channel)
        self.worker_id = worker_id or new_worker_id()
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.backoff = backoff or REDIS_BACKOFF
        self._handlers: list[EventHandler] = []
        self._status_handlers: list[StatusHandler] = []
        self._refusal_handlers: list[RefusalHandler] = []
        self._position_handlers: list[PositionHandler] = []
        self._log: RedisRoomLog | None = None
        self._follower: LogFollower | None = None
        self._up: bool | None = None  # None: not known yet (before the first attempt)
        self._publisher: Any = None
        self._publish_lock: Optional[asyncio.Lock] = None
        self._broken: Optional[asyncio.Event] = None
        self._task: Optional[asyncio.Task[None]] = None
        self._closing = False
        self._first_attempt: Optional[asyncio.Future[None]] = None
        #: How many times the subscription was (re)established, and why it last failed.
        self.connects = 0
        self.last_problem = ""

    @property
    def up(self) -> bool:
        return bool(self._up)

    def subscribe(self, handler: EventHandler, on_status: StatusHandler | None = None,
                  on_refused: RefusalHandler | None = None,
                  on_position: PositionHandler | None = None) -> None:
        self._handlers.append(handler)
        if on_status is not None:
            self._status_handlers.append(on_status)
        if on_refused is not None:
            self._refusal_handlers.append(on_refused)
        if on_position is not None:
            self._position_handlers.append(on_position)

    async def start(self) -> None:
        """Connect and subscribe, waiting at most a few seconds: the server starts either way.

        If Redis cannot be reached now, the status handlers hear so, and the broker keeps
        trying in the background.
        """
        import redis.asyncio as aioredis

        from wslab.redis_history import LogFollower, RedisRoomLog

        await self.close()
        self._closing = False
        self._publisher = aioredis.Redis.from_url(self.url, **self._connection_options())
        # The stream keeps as many messages as a room's history can hold (the room keeps the
        # chat lines among them that its own limit allows).
        self._log = RedisRoomLog(self._publisher, self.url, self._signer, self.channel,
                                 self.history * MESSAGES_PER_LINE, self.history_minutes,
                                 on_refused=self._refused)
        self._follower = LogFollower(self._log)
        self._publish_lock = asyncio.Lock()
        self._broken = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._first_attempt = loop.create_future()
        self._task = loop.create_task(self._supervise(), name=f"wslab broker {self.worker_id}")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._first_attempt), 3 * self.timeout + 1)

    async def publish(self, event: Event) -> bool:
        """Hand ``event`` to Redis (numbered and kept first, if it asks to be); False at once
        when the link is down or the publish fails."""
        if not self._up or self._publish_lock is None or self._log is None:
            return False
        async with self._publish_lock:
            if not self._up:
                return False
            try:
                if event.get(NUMBERED):
                    await asyncio.wait_for(self._log.append(event), self.timeout)
                else:
                    data = self._signer.sign(encode_event(event))
                    await asyncio.wait_for(self._publisher.publish(self.channel, data),
                                           self.timeout)
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # RedisError, OSError, TimeoutError: the link failed
                problem = f"publishing failed: {describe_exception(exc)}"
        await self._set_status(False, problem)
        if self._broken is not None:
            self._broken.set()
        return False

    async def close(self) -> None:
        """Stop listening and drop the connections. ``start()`` may be called again later."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            await stop_task(task)
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(publisher.aclose(), self.timeout)
        self._up = None

    # -- the subscription, kept alive

    def _connection_options(self) -> dict[str, Any]:
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        return dict(socket_connect_timeout=self.timeout, socket_timeout=self.timeout,
                    retry=Retry(NoBackoff(), 0), decode_responses=False)

    async def _supervise(self) -> None:
        """Subscribe, listen until the link fails, back off, and again, until closed."""
        import redis.asyncio as aioredis

        attempt = 0
        while not self._closing:
            subscriber = aioredis.Redis.from_url(self.url, **self._connection_options())
            pubsub = subscriber.pubsub()
            try:
                try:
                    await asyncio.wait_for(pubsub.subscribe(self.channel), self.timeout)
                    await self._confirm(pubsub)
                    # A connection the publisher held before the outage may be stale.
                    await self._publisher.connection_pool.disconnect()
                    # Subscribed first, then read: whatever is numbered in between comes on
                    # the channel too, and the follower drops it as a repeat.
                    await self._join_history(first=self.connects == 0)
                    self.connects += 1
                    attempt = 0
                    assert self._broken is not None
                    self._broken.clear()
                    logger.info("Worker %s subscribed to %s on %s", self.worker_id,
                                self.channel, safe_url(self.url))
                    self._first_done()
                    await self._set_status(True, "")
                    problem = await self._listen(pubsub)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # Redis is unreachable or the connection broke
                    problem = describe_exception(exc)
            finally:
                await _close_quietly(pubsub, subscriber)
            if self._closing:
                return
            self.last_problem = problem
            await self._set_status(False, problem)
            self._first_done()
            delay = self.backoff.delay(attempt)
            attempt += 1
            logger.warning("Worker %s lost Redis (%s); trying again in %.2f s",
                           self.worker_id, problem, delay)
            await asyncio.sleep(delay)

    async def _confirm(self, pubsub: Any) -> None:
        """Wait for Redis to confirm the subscription: only then are we really listening."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError("Redis did not confirm the subscription")
            message = await pubsub.get_message(timeout=remaining)
            if message is not None and message.get("type") == "subscribe":
                return

    async def _listen(self, pubsub: Any) -> str:
        """Hand every message to the handlers until the link fails; return what failed.

        A connection can die without a word (a cable pulled, a Redis frozen): so after
        ``timeout`` seconds of silence the broker sends a PING, and three ``timeout`` without
        any answer count as a dead link.
        """
        loop = asyncio.get_running_loop()
        assert self._broken is not None
        last_heard = loop.time()
        pinged_at = 0.0
        tick = min(0.25, self.timeout)
        while not self._broken.is_set() and not self._closing:
            message = await pubsub.get_message(timeout=tick)
            now = loop.time()
            if message is not None:
                last_heard = now
                if message.get("type") == "message":
                    await self._deliver(message["data"])
                continue
            silent = now - last_heard
            if silent > 3 * self.timeout:
                return f"Redis has not answered for {silent:.1f} s"
            if silent > self.timeout and now - pinged_at > self.timeout:
                pinged_at = now
                await asyncio.wait_for(pubsub.ping(), self.timeout)
        return self.last_problem or "publishing failed"

    async def _join_history(self, first: bool) -> None:
        """On the first subscription, take the history's position and what it keeps; on a later
        one, read what was numbered while this worker was away, and hand it on."""
        assert self._follower is not None
        if first:
            kept = await self._follower.start()
            await self._tell_position(Position(self._follower.epoch, kept[0].seq - 1 if kept
                                               else self._follower.seq))
            for numbered in kept:
                await self._hand_on({**self._numbered_event(numbered),
                                     EVENT_PAST: numbered.time or time.time()})
            return
        await self._hand_on_delivery(await self._follower.catch_up())

    @staticmethod
    def _numbered_event(numbered: Numbered) -> Event:
        return {**numbered.event, EVENT_EPOCH: numbered.epoch, EVENT_SEQ: numbered.seq}

    async def _tell_position(self, position: Position) -> None:
        for handler in list(self._position_handlers):
            await handler(position)

    async def _deliver(self, message: bytes) -> None:
        from wslab.redis_history import read_published

        published = read_published(message)
        if published.seq is not None:
            await self._deliver_numbered(published)
            return
        data, why = self._signer.open(message)
        event = decode_event(data) if data is not None else None
        if event is None:
            self._refused(why or MALFORMED)
            return
        await self._hand_on(event)

    async def _deliver_numbered(self, published: Published) -> None:
        """A numbered event from the channel, through the follower: with whatever the worker
        missed before it, read from the history, and not at all if it came before."""
        assert self._log is not None and self._follower is not None
        numbered = self._log.open_published(published)
        if numbered is None:
            return
        await self._hand_on_delivery(await self._follower.receive(numbered))

    async def _hand_on_delivery(self, delivery: Delivery) -> None:
        """Hand on what the follower delivers, in order; first, if the history was reset or
        lost numbers, the position its events start after."""
        assert self._follower is not None
        if delivery.reset or delivery.lost:
            first_seq = delivery.entries[0].seq if delivery.entries else self._follower.seq + 1
            await self._tell_position(Position(self._follower.epoch, first_seq - 1,
                                               delivery.reset, delivery.lost))
        for numbered in delivery.entries:
            await self._hand_on(self._numbered_event(numbered))

    async def _hand_on(self, event: Event) -> None:
        for handler in list(self._handlers):
            try:
                await handler(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in a handler must not end the subscription
                logger.exception("A broker handler failed on a %s event", event.get("kind"))

    def _refused(self, why: str) -> None:
        for handler in list(self._refusal_handlers):
            try:
                handler(why)
            except Exception:
                logger.exception("A broker refusal handler failed")

    async def _set_status(self, up: bool, problem: str) -> None:
        if up == self._up:
            return
        self._up = up
        if not up:
            self.last_problem = problem
        for handler in list(self._status_handlers):
            try:
                await handler(up, problem)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("A broker status handler failed")

    def _first_done(self) -> None:
        if self._first_attempt is not None and not self._first_attempt.done():
            self._first_attempt.set_result(None)

    def __repr__(self) -> str:
        state = "up" if self._up else "down"
        return (f"<RedisBroker {safe_url(self.url)} channel {self.channel!r} "
                f"worker {self.worker_id!r} {state}>")


def is_redis_url(url: str | None) -> bool:
    """Whether ``url`` names a Redis server (``redis://``, ``rediss://`` or ``unix://``)."""
    return bool(url) and url.split("://", 1)[0] in ("redis", "rediss", "unix")


def broker_from_url(url: str | None, **options: Any) -> InProcessBroker | RedisBroker:
    """The broker a URL names: none or ``memory://`` for one worker; ``redis://``, ``rediss://``
    or ``unix://`` for Redis. ``options`` go to :class:`RedisBroker` (``secret`` is required
    there)."""
    if not url or url == "memory://":
        return InProcessBroker(options.get("worker_id"))
    if is_redis_url(url):
        return RedisBroker(url, **options)
    raise ValueError(f"unknown broker {safe_url(url)!r}: use redis://host:port (or none, for "
                     "one worker)")


async def stop_task(task: asyncio.Task[Any], wait: float = 2.0) -> None:
    """Cancel ``task`` and wait for it to end, but at most ``wait`` seconds.

    Never ``await task`` alone after a cancel: on Python 3.11, ``asyncio.wait_for`` (used by
    redis-py and here) can swallow a cancellation that arrives just as its inner call ends, and
    the task then runs on. The loops of the broker and the room also check a flag, so such a
    task ends at its next turn anyway; this bounds the wait in the meantime.
    """
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=wait)
    if not done:
        logger.warning("Task %s did not stop within %g s; leaving it", task.get_name(), wait)
    elif not task.cancelled() and task.exception() is not None:
        logger.debug("Task %s ended with %r", task.get_name(), task.exception())


async def _close_quietly(pubsub: Any, client: Any) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(pubsub.aclose(), 1.0)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.aclose(), 1.0)
