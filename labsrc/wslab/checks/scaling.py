"""Elective E5's checks: a worker's two halves, and sequence numbers.

The worker check drives the student's ``Worker`` class with stand-ins: :class:`HeldBroker`, a
broker that keeps every event until the check lets it go (so a line delivered *before* the
broker delivers it shows up as exactly that), and the stand-in sockets of core lesson 02's checks. Two
workers, three clients, a few lines: every client must get every line exactly once, in one
order, and only once the broker has delivered it.

The lesson also finds its Redis here (:func:`redis_for_lesson`): a real one, or else a stand-in
in the kernel; and it says what it skips when there is neither.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
from typing import TYPE_CHECKING, Any, Callable

from wslab.answers import scaling as answers
from wslab.checks.core import (Case, Failure, Mistake, NotDone, call_method, check_function,
                               describe_exception, missing_await_hint, run_async_check, shown,
                               unawaited_calls)
from wslab.checks.manager import FakeSocket, settle
from wslab.checks.progress import Exercise
from wslab.presence import sequence_check
from wslab.redis_server import INSTALL_REDIS, STAND_IN_ENV, RedisServer, safe_url

if TYPE_CHECKING:
    from wslab.redis_stand_in import RedisStandIn

# -- finding Redis ------------------------------------------------------------------------------

#: Why there is no stand-in either, and how to get one.
NO_STAND_IN = ("But fakeredis, that stand-in, is not installed either: `make lab` installs it "
               "(or `pip install fakeredis`); then run this cell again.")


def lesson_redis() -> RedisServer | RedisStandIn | None:
    """``REDIS_URL``, else a fresh ``redis-server``, else the in-process stand-in, else None.

    The stand-in needs fakeredis; :data:`~wslab.redis_server.STAND_IN_ENV` set to ``1`` picks it
    even where ``redis-server`` is installed (to see the lesson as a student without Redis sees
    it), but never over ``REDIS_URL``.
    """
    if os.environ.get(STAND_IN_ENV) != "1" or os.environ.get("REDIS_URL"):
        redis = RedisServer.find()
        if redis is not None:
            return redis
    if importlib.util.find_spec("fakeredis") is None:
        return None
    from wslab.redis_stand_in import RedisStandIn

    return RedisStandIn.spawn()


def redis_for_lesson() -> RedisServer | RedisStandIn | None:
    """The lesson's Redis: ``REDIS_URL``, or a ``redis-server`` started here, or else a stand-in
    started in this kernel (fakeredis, see :mod:`wslab.redis_stand_in`), or None.

    Says which, and why; or, with neither ``redis-server`` nor fakeredis installed, how to get
    one and what the lesson will skip. In CI (``CI`` set) that last case is an error: there the
    lesson must run in full.
    """
    try:
        redis = lesson_redis()
    except ConnectionError as exc:
        if os.environ.get("CI"):
            raise
        print(f"⚠️ {exc}.\nThe cells that need Redis will say that they skipped.")
        return None
    if redis is None:
        if os.environ.get("CI"):
            raise RuntimeError(f"CI is set, so this lesson needs Redis. {INSTALL_REDIS}")
        print(f"⚠️ {INSTALL_REDIS} {NO_STAND_IN}\nThe cells that need Redis will say that they "
              "skipped; the rest of the lesson, exercises included, works without it.")
        return None
    if not isinstance(redis, RedisServer):
        from wslab.redis_stand_in import VERSION

        why = (f"{STAND_IN_ENV}=1 asks for it" if os.environ.get(STAND_IN_ENV) == "1"
               else "there is no redis-server on this machine")
        print(f"Started a stand-in for Redis, since {why}:\nfakeredis {VERSION}, a Redis "
              f"written in Python, on port {redis.port}, running inside this kernel (it stores "
              "nothing, and the last cell stops it).")
    elif redis.owned:
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

#: The async methods a worker calls: left without ``await``, either only makes a coroutine, and
#: nothing is published or delivered.
WORKER_ASYNC = ("publish", "broadcast")

#: What alice's first line must be published as (``text`` shown as the call that makes it).
HI_EVENT = "{'kind': 'chat', 'worker': 'worker-1', 'text': chat_message('alice', 'hi')}"


def _unless_unawaited(cls: Any, hint: str) -> str:
    calls = unawaited_calls(cls, WORKER_ASYNC)
    return missing_await_hint(calls) if calls else hint


def _on_event_failed(event: dict, exc: BaseException) -> str:
    """The hint for an exception ``on_event`` raised on ``event``."""
    key = exc.args[0] if isinstance(exc, KeyError) and exc.args else None
    if key == "text" and event.get("kind") != "chat":
        return ("Only a 'chat' event has a 'text': look at event['kind'] first, and deliver "
                "only chat events.")
    if key is not None and key not in event:
        return (f"The event has no {key!r}: its keys are {', '.join(map(repr, event))}. Read "
                "the fields the sender publishes.")
    if isinstance(exc, (AttributeError, TypeError)) and event.get("kind") == "chat":
        return ("broadcast takes the line itself, a str: deliver event['text'], not the whole "
                "event.")
    return "on_event delivers a chat event's text to this worker's clients, and nothing else."


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

    async def release(self, what: str) -> None:
        """Deliver what is held to every worker's ``on_event``; ``what`` says what it is."""
        held, self.held = self.held, []
        for data in held:
            for handler in self.handlers:
                event = json.loads(data)
                shown_event = shown(event, 90)
                await call_method(handler, event, tried=f"the broker delivers {what}: "
                                  f"await on_event({shown_event})", expected="no exception",
                                  hint=lambda exc, event=event: _on_event_failed(event, exc))
        await settle()


def _line_of(message: Any) -> str:
    """What a client was sent, in short: the chat line's text, else the message itself."""
    try:
        data = json.loads(message)
    except (TypeError, ValueError):
        return shown(message, 60)
    return data["message"] if isinstance(data, dict) and "message" in data \
        else shown(message, 60)


def _lines(ws: FakeSocket) -> list[str]:
    return [_line_of(m) for m in ws.sent]


async def _say(cls: Any, worker: Any, client_id: str, text: str) -> None:
    await call_method(worker.client_said, client_id, text,
                      tried=f"await {worker.worker_id}.client_said({client_id!r}, {text!r})",
                      expected="the line published",
                      hint="client_said publishes one event (a dict) and does nothing else.")
    await settle()


def _why_not_this_event(event: Any) -> str | None:
    """What is wrong with alice's published event, or None if it is right."""
    if isinstance(event, (str, bytes)):
        return ("You published text (JSON already, perhaps): publish the dict itself. The broker "
                "turns it into JSON for Redis, and hands the other workers a dict again.")
    if not isinstance(event, dict):
        return f"You published a {type(event).__name__}: an event is a dict."
    others = ", ".join(repr(key) for key in event if key not in ("kind", "worker", "text"))
    if "kind" not in event:
        return ("The event has no 'kind'" + (f" (it has {others})" if others else "")
                + ": every worker reads event['kind'] to know what to do with it.")
    if event["kind"] != "chat":
        return f"The event's kind is {event['kind']!r}: a chat line's kind is 'chat'."
    if "worker" not in event:
        return ("The event does not say where it came from: tag it with this worker's id, under "
                "'worker'" + (f" (it has {others})" if others else "") + ".")
    if event["worker"] == "alice":
        return ("The event's 'worker' is alice, a client: it names the worker that published "
                "the line, self.worker_id.")
    if event["worker"] != "worker-1":
        return f"The event's 'worker' is {event['worker']!r}: it is self.worker_id."
    if "text" not in event:
        return ("The event has no 'text'" + (f" (it has {others})" if others else "")
                + ": the other workers deliver event['text'] to their clients.")
    try:
        line = json.loads(event["text"])
    except (TypeError, ValueError):
        line = None
    if not isinstance(line, dict):
        return ("The event's text is not the chat line every client gets: build the line once, "
                "on the sender's worker, with chat_message(client_id, text). Then every worker "
                "sends the very same text, timestamp included.")
    if line.get("client_id") == "hi" and line.get("message") == "alice":
        return ("The line says that 'hi' said 'alice': chat_message takes who said it first, "
                "then what was said.")
    if line.get("client_id") != "alice" or line.get("message") != "hi":
        return "The line must say that alice said 'hi': chat_message(client_id, text)."
    return None


def _why_not_delivered(cls: Any, sockets: tuple[FakeSocket, ...],
                       got: dict[str, list[str]]) -> str:
    """Why the clients did not get exactly one copy of each line the broker delivered."""
    for ws in sockets:
        for message in ws.sent:
            try:
                data = json.loads(message)
            except (TypeError, ValueError):
                continue
            if isinstance(data, dict) and "kind" in data:
                return ("The clients were sent the whole event: deliver event['text'], the "
                        "line itself.")
    if not any(got.values()):
        return _unless_unawaited(cls, (
            "The broker calls on_event on every worker, the sender's own included: deliver "
            "each chat event to this worker's clients with self.manager.broadcast(...)."))
    if got["alice"] == [] and got["bob"]:
        return ("alice's own worker got the event back from the broker too, and that is how "
                "alice sees her own line: do not skip events from this worker.")
    if any(len(lines) > len(set(lines)) for lines in got.values()):
        return "Deliver each event once: one broadcast per chat event."
    return _unless_unawaited(cls, "Deliver each event as the broker hands it over: then every "
                                  "client sees the broker's order.")


async def _worker_body(cls: Any) -> str:
    broker = HeldBroker()
    try:
        one, two = cls("worker-1", broker), cls("worker-2", broker)
    except NotImplementedError:
        raise NotDone() from None
    except Exception as exc:
        raise Failure(tried="Worker('worker-1', broker)", expected="a new worker",
                      got=describe_exception(exc),
                      hint="__init__ is given: keep it as it is (it subscribes on_event).") \
            from None
    alice, bob, carol = FakeSocket("alice"), FakeSocket("bob"), FakeSocket("carol")
    for worker, ws in ((one, alice), (two, bob), (two, carol)):
        await worker.manager.connect(ws)
    everyone = (alice, bob, carol)

    await _say(cls, one, "alice", "hi")
    if not broker.published:
        raise Failure(tried="alice (on worker-1) says 'hi'", expected="one event published",
                      got="nothing was published: worker-2's clients can never hear it",
                      hint=_unless_unawaited(cls, "client_said must hand the line to the "
                                                  "broker: nothing else reaches the other "
                                                  "workers."))
    if len(broker.published) > 1:
        raise Failure(tried="alice (on worker-1) says 'hi'", expected="one event published",
                      got=f"{len(broker.published)} events: {shown(broker.published)}",
                      hint="Publish each line once; the broker delivers it to every worker.")
    wrong = _why_not_this_event(broker.published[0])
    if wrong:
        raise Failure(tried="alice (on worker-1) says 'hi'", expected=HI_EVENT,
                      got=f"published {shown(broker.published[0])}", hint=wrong)
    early = [ws.name for ws in everyone if ws.sent]
    if early:
        raise Failure(tried="alice says 'hi'; the broker has not delivered it yet",
                      expected="nobody has the line yet",
                      got=f"{', '.join(early)} already got it",
                      hint="Deliver only what the broker delivers. The broker hands every "
                           "event to its own worker too, so a worker that also broadcasts its "
                           "own clients' lines directly gives them each line twice.")

    await broker.release("alice's 'hi'")
    got = {ws.name: _lines(ws) for ws in everyone}
    if got != {"alice": ["hi"], "bob": ["hi"], "carol": ["hi"]}:
        raise Failure(tried="the broker delivers alice's 'hi' to both workers",
                      expected="alice, bob and carol each get ['hi'] once",
                      got=", ".join(f"{name} got {lines!r}" for name, lines in got.items()),
                      hint=_why_not_delivered(cls, everyone, got))

    await _say(cls, two, "bob", "hello")
    await _say(cls, one, "alice", "again")
    await broker.release("bob's 'hello' and alice's 'again'")
    got = {ws.name: _lines(ws) for ws in everyone}
    if any(lines != ["hi", "hello", "again"] for lines in got.values()):
        raise Failure(tried="bob says 'hello', alice says 'again'; the broker delivers both",
                      expected="everyone gets ['hi', 'hello', 'again'], in that order",
                      got=", ".join(f"{name} got {lines!r}" for name, lines in got.items()),
                      hint=_why_not_delivered(cls, everyone, got))

    await broker.publish({"kind": "presence", "worker": "worker-2", "clients": ["bob", "carol"]})
    await broker.release("a presence event (not a chat line)")
    if any(len(ws.sent) != 3 for ws in everyone):
        raise Failure(tried="the broker delivers a presence event (not a chat line)",
                      expected="no line for anyone",
                      got=", ".join(f"{w.name} got {w.sent[3:]!r}" for w in everyone),
                      hint="Only 'chat' events are lines for the clients: look at "
                           "event['kind'].")
    return ("each line published once, delivered only by the broker, to every client once, "
            "in one order.")


async def check_worker(cls: Any) -> Any:
    """Exercise 1: ``client_said`` publishes, ``on_event`` delivers. Returns the class to use."""
    ok = await run_async_check("Worker", lambda: _worker_body(cls), student=cls,
                               fallback="the kit's Worker", timeout=5.0)
    return cls if ok else answers.Worker


# -- exercise 2: sequence numbers ---------------------------------------------------------------

#: (last, seq) pairs, each with the hint for when nothing else names the mistake. The expected
#: answer is always what wslab.presence.sequence_check, the kit's own code, says.
SEQUENCE_CASES = (
    ((4, 5), "The next number after the last one: deliver it; nothing lost."),
    ((4, 8), "5, 6 and 7 never came: 3 lost. Deliver 8 all the same."),
    ((4, 4), "The same number again is a repeat: do not deliver it twice."),
    ((4, 2), "An older number than the last one is a repeat too."),
    ((None, 1), "Nothing seen yet from this worker: deliver, nothing lost."),
    ((None, 41), "The first event heard from a worker can be its 41st: we started listening "
                 "late, so nothing counts as lost."),
    ((41, 42), "The next one after 41."),
)


def _first_seen_or(rule: Callable[[int, int], tuple[Any, Any]]) -> Callable[..., Any]:
    """A mistaken ``sequence_check`` that is right about a first event (``last`` None)."""
    return lambda last, seq: (True, 0) if last is None else rule(last, seq)


class _NoneCompared(Mistake):
    """Recognised by a TypeError on a case where ``last`` is None."""

    def seen(self, args: tuple[Any, ...], got: Any = None,
             exc: BaseException | None = None) -> bool:
        return isinstance(exc, TypeError) and args[0] is None


SEQUENCE_MISTAKES = [
    _NoneCompared("`last` is None while nothing has been seen from that worker, and None cannot "
                  "be compared with (or subtracted from) a number: handle that case first."),
    Mistake("Your function never counts a loss: when seq jumps ahead of last + 1, the numbers "
            "in between were lost.", makes=_first_seen_or(lambda last, seq: (seq > last, 0))),
    Mistake("One too many counted as lost: only the numbers strictly between last and seq "
            "were skipped. From 4 to 5 that is none; from 4 to 8 it is 5, 6 and 7, which is 3, "
            "not 4.",
            makes=_first_seen_or(lambda last, seq: (seq > last, max(0, seq - last)))),
    Mistake("A repeat is counted as a negative loss: count a loss only when seq is further on "
            "than last + 1.", makes=_first_seen_or(lambda last, seq: (seq > last,
                                                                     seq - last - 1))),
    Mistake("The same number again is a repeat (a publish that was retried): delivering it "
            "shows the line twice.",
            makes=_first_seen_or(lambda last, seq: (seq >= last, max(0, seq - last - 1)))),
    Mistake("An older number than the last one is delivered: it came out of order, after the "
            "lines that followed it, so it is not delivered again.",
            makes=_first_seen_or(lambda last, seq: (seq != last, max(0, seq - last - 1)))),
    Mistake("With nothing seen yet, nothing counts as lost: the worker may have been talking "
            "before we started listening.",
            makes=lambda last, seq: sequence_check(last or 0, seq)),
    Mistake("The pair is in the wrong order: (deliver, lost), deliver first.",
            makes=lambda last, seq: sequence_check(last, seq)[::-1]),
    Mistake("Return both values, as one tuple: (deliver, lost).",
            makes=lambda last, seq: sequence_check(last, seq)[0]),
]


def check_sequence_check(student: Callable[[int | None, int], tuple[bool, int]]):
    """Exercise 2: ``sequence_check(last, seq)`` returns ``(deliver, lost)``, as the kit's does."""
    return check_function(
        student, [Case(args, sequence_check(*args), hint) for args, hint in SEQUENCE_CASES],
        name="sequence_check", reference=sequence_check, mistakes=SEQUENCE_MISTAKES,
        fallback="wslab.presence.sequence_check",
        same=lambda got, want: isinstance(got, tuple) and got == want)


EXERCISES = (
    Exercise("Worker", check_worker, reads=("Worker",)),
    Exercise("sequence_check", check_sequence_check, reads=("sequence_check",)),
)
