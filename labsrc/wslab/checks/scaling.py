"""Lesson 07's checks: a worker's two halves, sequence numbers, and the reconnect backoff.

The worker check drives the student's ``Worker`` class with stand-ins: :class:`HeldBroker`, a
broker that keeps every event until the check lets it go (so a line delivered *before* the
broker delivers it shows up as exactly that), and the stand-in sockets of lesson 03. Two
workers, three clients, a few lines: every client must get every line exactly once, in one
order, and only once the broker has delivered it.

The lesson also finds its Redis here (:func:`redis_for_lesson`), and says what it skips when
there is none.
"""

from __future__ import annotations

import inspect
import json
import os
import secrets
from typing import Any, Callable

from wslab.broker import (INSTALL_REDIS, RedisServer, backoff_delay, safe_url,
                          sequence_check)
from wslab.checks.core import (Case, Failure, NotDone, check_function, describe_exception,
                               run_async_check, shown)
from wslab.checks.manager import FakeSocket, settle
from wslab.envelope import chat_message
from wslab.manager import ConnectionManager

# -- finding Redis ------------------------------------------------------------------------------


def redis_for_lesson() -> RedisServer | None:
    """The lesson's Redis: ``REDIS_URL``, or a ``redis-server`` started here, or None.

    Says which, or how to install Redis and what the lesson will skip. In CI (``CI`` set) a
    missing Redis is an error: there the lesson must run in full.
    """
    try:
        redis = RedisServer.find()
    except ConnectionError as exc:
        if os.environ.get("CI"):
            raise
        print(f"⚠️ {exc}.\nThe cells that need Redis will say that they skipped.")
        return None
    if redis is None:
        if os.environ.get("CI"):
            raise RuntimeError(f"CI is set, so this lesson needs Redis. {INSTALL_REDIS}")
        print(f"⚠️ {INSTALL_REDIS}\nThe cells that need Redis will say that they skipped; the "
              "rest of the lesson, exercises included, works without it.")
        return None
    if redis.owned:
        print(f"Started redis-server on port {redis.port}, just for this notebook (it stores "
              "nothing on disk, and the last cell stops it).")
    else:
        print(f"Using the Redis at {safe_url(redis.url)} (from REDIS_URL); this notebook will "
              "not stop it.")
    return redis


def lesson_channel() -> str:
    """A channel name of its own for this run, so that nobody else's servers on the same Redis
    (a shared classroom Redis, say) end up in this notebook's room."""
    return f"wslab:lesson07:{secrets.token_hex(3)}"


def skipped(what: str, why: str = "there is no Redis") -> None:
    print(f"⏭️ Skipped {what}: {why} (see the cell that looked for Redis).")


# -- exercise 1: a worker's two halves ----------------------------------------------------------


class Worker:
    """One server process of the chat: its own clients, and a broker shared with the others."""

    def __init__(self, worker_id: str, broker) -> None:
        self.worker_id = worker_id
        self.broker = broker
        self.manager = ConnectionManager()  # this worker's own clients, and only those
        broker.subscribe(self.on_event)

    async def client_said(self, client_id: str, text: str) -> None:
        """One of this worker's clients sent a line: publish it, tagged with this worker."""
        await self.broker.publish({"kind": "chat", "worker": self.worker_id,
                                   "text": chat_message(client_id, text)})

    async def on_event(self, event: dict) -> None:
        """The broker hands over an event from any worker, this one included: deliver it to
        this worker's own clients."""
        if event["kind"] == "chat":
            await self.manager.broadcast(event["text"])


class HeldBroker:
    """A broker for the check: keeps every event until :meth:`release`, then delivers it to
    every subscriber, in the order published, as a fresh copy decoded from JSON (as Redis
    would)."""

    def __init__(self) -> None:
        self.handlers: list[Callable[[dict], Any]] = []
        self.held: list[str] = []
        self.published: list[Any] = []

    def subscribe(self, handler: Callable[[dict], Any], *args: Any) -> None:
        self.handlers.append(handler)

    async def publish(self, event: Any) -> bool:
        self.published.append(event)
        try:
            self.held.append(json.dumps(event))
        except (TypeError, ValueError) as exc:
            raise Failure(tried="publishing an event", expected="an event made of JSON values",
                          got=f"json.dumps(event) {describe_exception(exc)}",
                          hint="A broker carries text between processes: publish a dict of "
                               "strings and numbers (the line as chat_message(...) returns "
                               "it), never a socket or another Python object.") from None
        return True

    async def release(self) -> None:
        held, self.held = self.held, []
        for data in held:
            for handler in self.handlers:
                result = handler(json.loads(data))
                if not inspect.isawaitable(result):
                    raise Failure(tried="the broker calling `await worker.on_event(event)`",
                                  expected="something to await",
                                  got=f"on_event returned {shown(result)}",
                                  hint="Write it as `async def on_event(self, event)`.")
                await result
        await settle()


def _lines(ws: FakeSocket) -> list[str]:
    return [json.loads(m)["message"] for m in ws.sent]


async def _say(worker: Any, client_id: str, text: str) -> None:
    call = f"await {worker.worker_id}.client_said({client_id!r}, {text!r})"
    try:
        result = worker.client_said(client_id, text)
        if not inspect.isawaitable(result):
            raise Failure(tried=call, expected="something to await",
                          got=f"it returned {shown(result)}",
                          hint="Write it as `async def client_said(...)`: publishing waits for "
                               "the broker.")
        await result
    except NotImplementedError:
        raise NotDone() from None
    except Failure:
        raise
    except Exception as exc:
        raise Failure(tried=call, expected="the line published", got=describe_exception(exc),
                      hint="Publish one dict: {'kind': 'chat', 'worker': self.worker_id, "
                           "'text': chat_message(client_id, text)}.") from None
    await settle()


async def _worker_body(cls: Any) -> str:
    broker = HeldBroker()
    try:
        one, two = cls("worker-1", broker), cls("worker-2", broker)
    except NotImplementedError:
        raise NotDone() from None
    alice, bob, carol = FakeSocket("alice"), FakeSocket("bob"), FakeSocket("carol")
    for worker, ws in ((one, alice), (two, bob), (two, carol)):
        await worker.manager.connect(ws)
    everyone = (alice, bob, carol)

    await _say(one, "alice", "hi")
    if not broker.published:
        raise Failure(tried="alice (on worker-1) says 'hi'", expected="one event published",
                      got="nothing was published: worker-2's clients can never hear it",
                      hint="client_said must hand the line to the broker: "
                           "await self.broker.publish({...}).")
    if len(broker.published) > 1:
        raise Failure(tried="alice (on worker-1) says 'hi'", expected="one event published",
                      got=f"{len(broker.published)} events: {shown(broker.published)}",
                      hint="Publish each line once; the broker delivers it to every worker.")
    event = broker.published[0]
    if not isinstance(event, dict) or event.get("kind") != "chat" \
            or event.get("worker") != "worker-1":
        raise Failure(tried="alice (on worker-1) says 'hi'",
                      expected="{'kind': 'chat', 'worker': 'worker-1', 'text': ...}",
                      got=shown(event),
                      hint="Tag the event with its kind and with self.worker_id: the workers "
                           "act on the kind, and the tag tells them where it came from.")
    try:
        line = json.loads(event.get("text"))
    except (TypeError, ValueError):
        line = None
    if not isinstance(line, dict) or line.get("message") != "hi" \
            or line.get("client_id") != "alice":
        raise Failure(tried="alice (on worker-1) says 'hi'",
                      expected="'text' is the line every client gets: chat_message('alice', 'hi')",
                      got=f"'text' is {shown(event.get('text'))}",
                      hint="Build the line once, on the sender's worker, with "
                           "chat_message(client_id, text): every worker then sends the same "
                           "text, with the same timestamp.")
    early = [ws.name for ws in everyone if ws.sent]
    if early:
        raise Failure(tried="alice says 'hi'; the broker has not delivered it yet",
                      expected="nobody has the line yet",
                      got=f"{', '.join(early)} already got it",
                      hint="Deliver only what the broker delivers. The broker hands every "
                           "event to its own worker too, so a worker that also broadcasts its "
                           "own clients' lines directly gives them each line twice.")

    await broker.release()
    got = {ws.name: _lines(ws) for ws in everyone}
    if got != {"alice": ["hi"], "bob": ["hi"], "carol": ["hi"]}:
        hint = ("The broker calls on_event on every worker, the sender's own included: deliver "
                "each chat event to this worker's clients with self.manager.broadcast(...).")
        if got["alice"] == [] and got["bob"]:
            hint = ("alice's own worker got the event back from the broker too, and that is "
                    "how alice sees her own line: do not skip events from this worker.")
        raise Failure(tried="the broker delivers alice's 'hi' to both workers",
                      expected="alice, bob and carol each get ['hi'] once",
                      got=", ".join(f"{name} got {lines!r}" for name, lines in got.items()),
                      hint=hint)

    await _say(two, "bob", "hello")
    await _say(one, "alice", "again")
    await broker.release()
    for ws in everyone:
        if _lines(ws) != ["hi", "hello", "again"]:
            raise Failure(tried="bob says 'hello', alice says 'again'; the broker delivers both",
                          expected="everyone gets ['hi', 'hello', 'again'], in that order",
                          got=", ".join(f"{w.name} got {_lines(w)!r}" for w in everyone),
                          hint="Deliver each event as the broker hands it over: then every "
                               "client sees the broker's order.")

    await broker.publish({"kind": "presence", "worker": "worker-2", "clients": ["bob", "carol"]})
    try:
        await broker.release()
    except Failure:
        raise
    except Exception as exc:
        raise Failure(tried="the broker delivers a presence event (not a chat line)",
                      expected="no line for anyone", got=f"on_event {describe_exception(exc)}",
                      hint="Look at event['kind'] first: only a 'chat' event has a 'text'.") \
            from None
    if any(len(ws.sent) != 3 for ws in everyone):
        raise Failure(tried="the broker delivers a presence event (not a chat line)",
                      expected="no line for anyone",
                      got=", ".join(f"{w.name} got {w.sent[3:]!r}" for w in everyone),
                      hint="Only 'chat' events are lines for the clients: check event['kind'].")
    return ("each line published once, delivered only by the broker, to every client once, "
            "in one order.")


async def check_worker(cls: Any) -> Any:
    """Exercise 1: ``client_said`` publishes, ``on_event`` delivers. Returns the class to use."""
    ok = await run_async_check("Worker", lambda: _worker_body(cls),
                               fallback="wslab.checks.scaling.Worker", timeout=5.0)
    return cls if ok else Worker


# -- exercise 2: sequence numbers ---------------------------------------------------------------


def check_sequence_check(student: Callable[[int | None, int], tuple[bool, int]]):
    """Exercise 2: ``sequence_check(last, seq)`` returns ``(deliver, lost)``."""
    return check_function(student, [
        Case((4, 5), (True, 0), "The next number after the last one: deliver it; nothing lost."),
        Case((4, 8), (True, 3), "5, 6 and 7 never came: 3 lost. Deliver 8 all the same."),
        Case((4, 4), (False, 0), "The same number again is a repeat: do not deliver it twice."),
        Case((4, 2), (False, 0), "An older number than the last one is a repeat too."),
        Case((None, 1), (True, 0), "Nothing seen yet from this worker: deliver, nothing lost."),
        Case((None, 41), (True, 0), "The first event heard from a worker can be its 41st: we "
                                    "started listening late, so nothing counts as lost."),
        Case((41, 42), (True, 0), "The next one after 41."),
    ], name="sequence_check", reference=sequence_check,
        fallback="wslab.broker.sequence_check",
        same=lambda got, want: isinstance(got, tuple) and got == want)


# -- exercise 3: the backoff --------------------------------------------------------------------


def _close(got: Any, want: float) -> bool:
    return isinstance(got, (int, float)) and not isinstance(got, bool) and abs(got - want) < 1e-9


def check_backoff_delay(student: Callable[..., float]):
    """Exercise 3: ``backoff_delay(attempt, rand)``: capped exponential, with equal jitter."""
    cases = [
        Case((0, 0.0), 0.05, "Attempt 0: the ceiling is base = 0.1 s, and the wait is at least "
                             "half of it."),
        Case((0, 0.5), 0.075, "Half the ceiling, plus rand times the other half."),
        Case((1, 0.0), 0.1, "Each attempt doubles the ceiling: 0.1 * 2 ** attempt."),
        Case((3, 0.5), 0.6, "Attempt 3: ceiling 0.8 s; half of it, plus half of the other half."),
        Case((6, 0.0), 2.5, "Attempt 6 would be 6.4 s: cap the ceiling at 5 s first, then halve."),
        Case((6, 0.99), 4.975, "The wait never goes above the cap."),
        Case((2000, 0.5), 3.75, "After hours of outage the attempt count is large, and "
                                "2 ** 2000 is too big for a float: stop doubling once the cap "
                                "is reached, for example with 2 ** min(attempt, 32)."),
    ]
    for case in cases:
        case.call = f"backoff_delay({case.args[0]}, rand={case.args[1]})"
    return check_function(student, cases, name="backoff_delay", reference=backoff_delay,
                          fallback="wslab.broker.backoff_delay", same=_close)
