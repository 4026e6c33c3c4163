"""Brokers: how several chat server processes (workers) hear each other.

One uvicorn process holds its own clients in its own ``ConnectionManager``. Run two processes
(``--workers 2``, or two servers on two ports) and a line sent to one never reaches the clients
of the other. A *broker* joins them: each worker **publishes** what its own clients say, and
**delivers** what comes from the broker to its own clients. This module has the small interface
(:class:`Broker`) and two implementations:

- :class:`InProcessBroker`, the default: one worker, nothing else to run. ``publish`` hands the
  event straight to the subscriber, so a single server behaves exactly as it did without one.
- :class:`RedisBroker`: Redis pub/sub through ``redis.asyncio``, one channel for the room.

What travels is an *event*: a small JSON object (never pickle: anyone who can publish on the
channel could otherwise run code in every worker), tagged with the worker that published it, a
sequence number, and its kind::

    {"v": 1, "worker": "host-4242-1a2b", "seq": 17, "kind": "chat", "text": "<the wire message>"}

``kind`` is ``chat`` (a line: ``text`` is exactly what clients are sent), ``join`` and
``leave`` (``client``, whether to ``announce`` it, and for a leave ``why``: each worker writes
the announcement itself, with the count as it sees it), ``presence`` (a worker's whole list of
``clients``, sent as a heartbeat; ``ask`` asks the others for theirs) and ``bye`` (a worker
shutting down). :func:`encode_event` and :func:`decode_event` are the only way in and
out, and :func:`decode_event` refuses anything malformed, so a stray publisher cannot crash a
worker.

Redis pub/sub is *at most once*: a message published while a worker is not subscribed (Redis
restarting, the network down) is gone for that worker, and nobody is told. The sequence numbers
make such a loss visible (:func:`sequence_check`), and :class:`Roster` keeps the participant
list right anyway, because every worker re-announces its whole list of clients on every
heartbeat. Redis Streams would keep the messages instead (``XADD`` to a stream, each worker
``XREAD BLOCK`` from the last id it saw), at the price of storing and trimming them.

:class:`RedisServer` starts a throwaway ``redis-server`` (for the lesson, the tests and the
benchmark) or finds one through ``REDIS_URL``; where there is neither, the lesson gets a
stand-in that runs inside the notebook's own process (:mod:`wslab.redis_stand_in`).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import json
import logging
import os
import random
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterator, Optional, Protocol

from wslab.envelope import CLIENT_ID_PATTERN

if TYPE_CHECKING:
    from wslab.redis_stand_in import RedisStandIn

logger = logging.getLogger("wslab.broker")

#: The Redis channel a room's workers publish on and subscribe to.
DEFAULT_CHANNEL = "wslab:chat"
#: Seconds between two presence heartbeats of a worker; one silent for
#: ``HEARTBEATS_MISSED`` heartbeats is taken for gone (killed, or cut off from Redis).
DEFAULT_HEARTBEAT = 2.0
HEARTBEATS_MISSED = 3
#: The event format's version: a worker ignores events of a version it does not know.
EVENT_VERSION = 1
KINDS = ("chat", "join", "leave", "presence", "bye")
#: Longest event a worker accepts from the broker (a chat line is at most a few kB).
MAX_EVENT_BYTES = 1 << 20

Event = dict[str, Any]
EventHandler = Callable[[Event], Awaitable[None]]
#: Told ``(True, "")`` when the link to the other workers works, ``(False, why)`` when it fails.
StatusHandler = Callable[[bool, str], Awaitable[None]]

INSTALL_REDIS = ("Redis is not installed here. Elective E5 works without it: it starts a "
                 "stand-in (fakeredis) in the notebook. The tests and the benchmark need the real "
                 "one: install it (Debian or Ubuntu: `sudo apt-get install redis-server`; macOS: "
                 "`brew install redis`; Windows: run it in WSL, or `docker run -p 6379:6379 "
                 "redis`), or set REDIS_URL to a Redis server you may use, such as "
                 "redis://127.0.0.1:6379/0.")


def new_worker_id() -> str:
    """A name for this worker that no other process, now or later, will have."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


# -- events -------------------------------------------------------------------------------------


def encode_event(event: Event) -> str:
    """An event as JSON text: what goes over the broker. ``allow_nan=False``: plain JSON only."""
    return json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def event_problem(event: Any) -> str | None:
    """What is wrong with an event that came from the broker, or None when it is well formed."""
    if not isinstance(event, dict):
        return "not a JSON object"
    if event.get("v") != EVENT_VERSION:
        return f"unknown event version {event.get('v')!r}"
    worker, seq, kind = event.get("worker"), event.get("seq"), event.get("kind")
    if not isinstance(worker, str) or not 0 < len(worker) <= 200:
        return "no worker id"
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return "no sequence number"
    if kind not in KINDS:
        return f"unknown kind {kind!r}"
    if kind == "chat" and not isinstance(event.get("text"), str):
        return "a chat event without text"
    if kind in ("join", "leave"):
        client = event.get("client")
        if not isinstance(client, str) or not CLIENT_ID_PATTERN.fullmatch(client):
            return "a presence change without a valid client id"
        if not isinstance(event.get("announce"), bool):
            return "'announce' is not true or false"
        if kind == "leave" and (not isinstance(event.get("why"), str) or len(event["why"]) > 200):
            return "a leave without a short 'why'"
    if kind == "presence":
        clients = event.get("clients")
        if not isinstance(clients, list) or not all(
                isinstance(c, str) and CLIENT_ID_PATTERN.fullmatch(c) for c in clients):
            return "a presence event without a valid list of clients"
        if not isinstance(event.get("ask"), bool):
            return "'ask' is not true or false"
    return None


def decode_event(data: str | bytes) -> Event | None:
    """Read one event from the broker; None (and a log line) for anything malformed."""
    if len(data) > MAX_EVENT_BYTES:
        logger.warning("Ignored an event of %d bytes from the broker", len(data))
        return None
    try:
        event = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        logger.warning("Ignored an event from the broker that is not JSON (%s)",
                       type(exc).__name__)
        return None
    problem = event_problem(event)
    if problem is not None:
        logger.warning("Ignored an event from the broker: %s", problem)
        return None
    return event


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def sequence_check(last: int | None, seq: int) -> tuple[bool, int]:
    """Compare an event's sequence number with the last one seen from the same worker.

    Returns ``(deliver, lost)``: whether the event is new (a repeat or an older event is not
    delivered again), and how many events of that worker were skipped on the way, which is
    what pub/sub lost without saying so. The first event seen from a worker (``last`` None)
    counts no loss: there is no telling what came before we started listening.
    """
    if last is None:
        return True, 0
    if seq <= last:
        return False, 0
    return True, seq - last - 1


class SequenceTracker:
    """The last sequence number seen from each worker: drops repeats, counts what was lost."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        #: Events the broker lost, over all workers, since this tracker started.
        self.lost = 0

    def accept(self, worker: str, seq: int) -> bool:
        deliver, lost = sequence_check(self.last.get(worker), seq)
        if deliver:
            self.last[worker] = seq
        if lost:
            self.lost += lost
            logger.warning("%d event(s) from worker %s never arrived (at-most-once delivery)",
                           lost, worker)
        return deliver

    def forget(self, worker: str) -> None:
        self.last.pop(worker, None)


# -- who is where -------------------------------------------------------------------------------


class Roster:
    """What one worker knows about the clients of the *other* workers, and when it last heard.

    Presence travels as events, which pub/sub may lose, so the roster does not trust a single
    event: every worker sends its whole list of clients as a heartbeat (``presence``), and
    :meth:`replace` makes the roster match it. A worker not heard from for ``timeout`` seconds
    (killed with SIGKILL, say, so it never said goodbye) is forgotten by :meth:`expire`, and its
    clients with it: no ghosts. ``clock`` is replaceable, for tests.
    """

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        self._clients: dict[str, set[str]] = {}
        self._seen: dict[str, float] = {}

    @property
    def workers(self) -> list[str]:
        return sorted(self._clients)

    def clients(self) -> set[str]:
        """Every client id connected to some other worker."""
        return set().union(*self._clients.values()) if self._clients else set()

    def clients_of(self, worker: str) -> set[str]:
        return set(self._clients.get(worker, ()))

    def where(self, client_id: str) -> str | None:
        """The worker ``client_id`` is connected to, if it is on another worker."""
        for worker, clients in self._clients.items():
            if client_id in clients:
                return worker
        return None

    def seen(self, worker: str) -> None:
        """Note a sign of life from ``worker`` (any event counts)."""
        self._seen[worker] = self.clock()
        self._clients.setdefault(worker, set())

    def add(self, worker: str, client_id: str) -> None:
        self.seen(worker)
        self._clients[worker].add(client_id)

    def remove(self, worker: str, client_id: str) -> None:
        self.seen(worker)
        self._clients[worker].discard(client_id)

    def replace(self, worker: str, clients: list[str]) -> None:
        self.seen(worker)
        self._clients[worker] = set(clients)

    def forget(self, worker: str) -> set[str]:
        """Drop ``worker`` (it said goodbye, or it expired); return the clients it had."""
        self._seen.pop(worker, None)
        return self._clients.pop(worker, set())

    def expire(self) -> list[str]:
        """Forget every worker silent for longer than ``timeout``; return their ids."""
        now = self.clock()
        gone = [worker for worker, seen in self._seen.items() if now - seen > self.timeout]
        for worker in gone:
            self.forget(worker)
        return gone

    def refresh(self) -> None:
        """Count every worker as just heard from: after our own outage we cannot tell who died
        meanwhile, so everyone gets a full ``timeout`` to speak up again."""
        now = self.clock()
        for worker in self._seen:
            self._seen[worker] = now


# -- reconnecting -------------------------------------------------------------------------------


def backoff_delay(attempt: int, rand: float, base: float = 0.1, cap: float = 5.0) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0 is the first retry).

    Capped exponential backoff with "equal jitter": the ceiling doubles from ``base`` with each
    failed attempt up to ``cap``, and the wait is at least half the ceiling plus a random part
    (``rand`` in [0, 1)) of the other half. The doubling keeps a worker from hammering a Redis
    that is down; the cap bounds how long the room stays split once Redis is back; the jitter
    keeps the workers, which all lost Redis at the same moment, from all reconnecting at the
    same moment again; the guaranteed half keeps a retry from coming right away by chance.
    """
    ceiling = min(cap, base * 2 ** min(attempt, 32))
    return ceiling / 2 + rand * ceiling / 2


class Backoff:
    """:func:`backoff_delay` with its numbers and a random source (replaceable, for tests)."""

    def __init__(self, base: float = 0.1, cap: float = 5.0,
                 rand: Callable[[], float] = random.random) -> None:
        self.base, self.cap, self.rand = base, cap, rand

    def delay(self, attempt: int) -> float:
        return backoff_delay(attempt, self.rand(), self.base, self.cap)


# -- the interface ------------------------------------------------------------------------------


class Broker(Protocol):
    """What the chat room needs from a broker.

    ``subscribe`` registers the handler that gets every event (this worker's own included) and,
    optionally, a status handler told when the link to the other workers fails and recovers.
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

    def subscribe(self, handler: EventHandler, on_status: StatusHandler | None = None) -> None: ...

    async def start(self) -> None: ...

    async def publish(self, event: Event) -> bool: ...

    async def close(self) -> None: ...


class InProcessBroker:
    """The broker of a single worker: ``publish`` delivers to the subscriber, right away.

    The event still makes the round trip through JSON, so that a room never depends on being
    handed the very dict it published, and works the same behind Redis. Nothing is shared with
    any other process: with several workers, use :class:`RedisBroker`.
    """

    shared = False
    up = True

    def __init__(self, worker_id: str | None = None) -> None:
        self.worker_id = worker_id or new_worker_id()
        self.heartbeat = DEFAULT_HEARTBEAT
        self._handlers: list[EventHandler] = []

    def subscribe(self, handler: EventHandler, on_status: StatusHandler | None = None) -> None:
        self._handlers.append(handler)

    async def start(self) -> None:
        pass

    async def publish(self, event: Event) -> bool:
        data = encode_event(event)
        for handler in list(self._handlers):
            await handler(json.loads(data))
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
    :func:`backoff_delay` until it can subscribe again; then it tells the room (status up).
    Meanwhile :meth:`publish` returns False at once instead of waiting for a dead server, so no
    client's handler hangs. redis-py's own retries are off: they would reconnect and resubscribe
    behind our back, and the room would never learn that messages were lost meanwhile.
    """

    shared = True

    def __init__(self, url: str, *, channel: str = DEFAULT_CHANNEL,
                 worker_id: str | None = None, heartbeat: float = DEFAULT_HEARTBEAT,
                 timeout: float = 1.0, backoff: Backoff | None = None) -> None:
        if heartbeat <= 0:
            raise ValueError(f"heartbeat must be positive, not {heartbeat}")
        self.url = url
        self.channel = channel
        self.worker_id = worker_id or new_worker_id()
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        self._handlers: list[EventHandler] = []
        self._status_handlers: list[StatusHandler] = []
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

    def subscribe(self, handler: EventHandler, on_status: StatusHandler | None = None) -> None:
        self._handlers.append(handler)
        if on_status is not None:
            self._status_handlers.append(on_status)

    async def start(self) -> None:
        """Connect and subscribe, waiting at most a few seconds: the server starts either way.

        If Redis cannot be reached now, the status handlers hear so, and the broker keeps
        trying in the background.
        """
        import redis.asyncio as aioredis

        await self.close()
        self._closing = False
        self._publisher = aioredis.Redis.from_url(self.url, **self._connection_options())
        self._publish_lock = asyncio.Lock()
        self._broken = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._first_attempt = loop.create_future()
        self._task = loop.create_task(self._supervise(), name=f"wslab broker {self.worker_id}")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._first_attempt), 3 * self.timeout + 1)

    async def publish(self, event: Event) -> bool:
        """Hand ``event`` to Redis; False at once when the link is down or the publish fails."""
        if not self._up or self._publish_lock is None:
            return False
        data = encode_event(event)
        async with self._publish_lock:
            if not self._up:
                return False
            try:
                await asyncio.wait_for(self._publisher.publish(self.channel, data), self.timeout)
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # RedisError, OSError, TimeoutError: the link failed
                problem = f"publishing failed: {_describe(exc)}"
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
                    problem = _describe(exc)
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

    async def _deliver(self, data: bytes) -> None:
        event = decode_event(data)
        if event is None:
            return
        for handler in list(self._handlers):
            try:
                await handler(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in a handler must not end the subscription
                logger.exception("A broker handler failed on a %s event", event.get("kind"))

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


def broker_from_url(url: str | None, **options: Any) -> InProcessBroker | RedisBroker:
    """The broker a URL names: none or ``memory://`` for one worker; ``redis://``, ``rediss://``
    or ``unix://`` for Redis. ``options`` go to :class:`RedisBroker`."""
    if not url or url == "memory://":
        return InProcessBroker(options.get("worker_id"))
    if url.split("://", 1)[0] in ("redis", "rediss", "unix"):
        return RedisBroker(url, **options)
    raise ValueError(f"unknown broker {url!r}: use redis://host:port (or none, for one worker)")


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


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def safe_url(url: str) -> str:
    """A Redis URL without its password, for logs."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


# -- a Redis server to use ----------------------------------------------------------------------

#: Set to ``1`` to give the lesson the stand-in even where ``redis-server`` is installed.
STAND_IN_ENV = "WSLAB_REDIS_STAND_IN"


class RedisServer:
    """A Redis server for the lesson, the tests and the benchmark.

    :meth:`spawn` starts ``redis-server`` from the PATH on loopback, storing nothing on disk
    (``--save ''``, ``--appendonly no``); :meth:`stop` and :meth:`start` stop it and start it
    again on the same port (to show an outage). :meth:`find` takes ``REDIS_URL`` when it is set
    (a server someone else runs: never stopped here), or else spawns one. Use it as a context
    manager, or call :meth:`stop` at the end.
    """

    def __init__(self, url: str, *, port: int | None = None,
                 executable: str | None = None) -> None:
        self.url = url
        self.port = port
        self.executable = executable
        self.process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def owned(self) -> bool:
        """True when this object started the server (and so may stop it)."""
        return self.executable is not None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @classmethod
    def spawn(cls, port: int = 0, *, executable: str | None = None,
              timeout: float = 5.0) -> RedisServer:
        """Start ``redis-server`` on 127.0.0.1 (a free port when ``port`` is 0)."""
        executable = executable or shutil.which("redis-server")
        if executable is None:
            raise FileNotFoundError(INSTALL_REDIS)
        port = port or _free_port()
        server = cls(f"redis://127.0.0.1:{port}/0", port=port, executable=executable)
        server.start(timeout=timeout)
        return server

    @classmethod
    def find(cls, *, env: str = "REDIS_URL",
             stand_in: bool = False) -> RedisServer | RedisStandIn | None:
        """``REDIS_URL`` if set (checked with a PING), else a fresh ``redis-server``, else None.

        With ``stand_in`` (the lesson), a machine without ``redis-server`` gets the in-process
        stand-in instead of None, when fakeredis is installed; and :data:`STAND_IN_ENV` set to
        ``1`` picks the stand-in even where ``redis-server`` is installed (to see the lesson as
        a student without Redis sees it). The tests and the benchmark leave ``stand_in`` off:
        what they check and measure is the real Redis.
        """
        url = os.environ.get(env)
        if url:
            server = cls(url)
            if not server.ping():
                raise ConnectionError(f"{env}={safe_url(url)} is set, but no Redis answers there")
            return server
        forced = stand_in and os.environ.get(STAND_IN_ENV) == "1"
        if shutil.which("redis-server") is not None and not forced:
            return cls.spawn()
        if not stand_in or importlib.util.find_spec("fakeredis") is None:
            return None
        from wslab.redis_stand_in import RedisStandIn

        return RedisStandIn.spawn()

    def start(self, timeout: float = 5.0) -> None:
        """Start the server (again) on its port; return once it answers PING."""
        if not self.owned:
            raise RuntimeError(f"{safe_url(self.url)} is not a server this kit started")
        if self.running:
            return
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="wslab-redis-")
        log = os.path.join(self._dir.name, "redis.log")
        # A session of its own: Jupyter's Interrupt button signals the kernel's whole process
        # group, and Redis would take that SIGINT for an order to shut down.
        self.process = subprocess.Popen(
            [str(self.executable), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self._dir.name,
             "--logfile", log, "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        _started.add(self)
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = _tail(log)
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{tail}")
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop a server this object started (SIGTERM, then SIGKILL). Safe to call twice."""
        process, self.process = self.process, None
        _started.discard(self)
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)

    def close(self) -> None:
        """Stop the server and remove its working folder."""
        self.stop()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def ping(self) -> bool:
        """Whether a Redis answers at :attr:`url` (within half a second)."""
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        where = safe_url(self.url)
        if not self.owned:
            return f"<RedisServer {where} (from REDIS_URL)>"
        return f"<RedisServer {where} {'running' if self.running else 'stopped'}>"


#: Every server started here and still running, stand-ins included: stopped when this
#: interpreter exits (a kernel restarted before its notebook's last cell ran leaves no
#: redis-server behind, and no stand-in thread holding a port).
_started: set[RedisServer | RedisStandIn] = set()


@atexit.register
def _stop_started() -> None:
    for server in list(_started):
        server.close()


@contextlib.contextmanager
def local_redis() -> Iterator[RedisServer | None]:
    """A Redis to use for a while (see :meth:`RedisServer.find`), or None when there is none."""
    server = RedisServer.find()
    try:
        yield server
    finally:
        if server is not None:
            server.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: str, lines: int = 10) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            return "".join(log.readlines()[-lines:])
    except OSError:
        return "(no log)"
