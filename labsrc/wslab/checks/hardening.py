"""Elective E6's checks: a TestClient test, a broadcast test, the Origin check, first-message auth.

Two of the exercises are tests, so their checks judge the student's *test*, and need endpoints
the test can be wrong about: a test is worth its place only if it fails when the code is wrong.

- The ``test_shout`` check runs the student's plain ``def test_shout(client)`` with a
  ``TestClient`` against a correct shouting endpoint (lesson 01's exercise), where it must pass,
  and against broken ones, where it must fail. Those endpoints close a connection that has been
  silent for :data:`IDLE_CLOSE` seconds, so a test that waits for a message that never comes
  fails instead of hanging. A comparison left without ``assert`` is found in the test's source.
- The broadcast-test check runs the student's ``async def test_broadcast(ws_url)`` against
  the kit's chat server and against a slow but correct one, where it must pass, and against
  broken ones, where it must fail. The slow and broken servers are one small app
  (:func:`toy_chat_app`) with a room per variant, each under a path prefix of its own, so the
  student's test reaches a variant through the ``ws_url`` it is given and all variants are
  tried at once: a broken server that relays nothing makes a good test wait for its deadline,
  and waiting for several deadlines one after another would take too long.

The first-message check serves the student's function inside an endpoint on a real server and
talks to it with the ``websockets`` client, as a page would: a right token, a wrong one, no
token at all, things that are not a token, and silence. Two of its mistakes cannot be seen
from outside, so it also reads the code: a call to an async function left without ``await``
(``websocket.close(code=1008)`` only makes a coroutine; the client then sees a normal close),
and a token compared with ``==``, which leaks through timing what it should keep secret.

The Origin check compares the student's function with the package's own,
:func:`wslab.access.origin_allowed`, on every case. (The fan-out lab's percentile, once in the
same lesson, is checked in :mod:`wslab.checks.fanout`.)
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import dataclasses
import inspect
import itertools
import json
import re
import threading
import time
import traceback
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wslab import envelope
from wslab.access import origin_allowed
from wslab.answers import hardening as answers
from wslab.answers.endpoint import GREETING
from wslab.chat import create_app
from wslab.checks.core import (LOOP_LIMIT, Case, Failure, GuardedCoroutine, Mistake, NotDone,
                               StuckInLoop, carry_on, check_function, common_exception,
                               describe_exception, guard_this_thread, missing_await_hint,
                               run_async_check, run_check, shown, source_of, unawaited_calls,
                               what_it_raised)
from wslab.checks.endpoint import unasserted_comparisons, unasserted_hint
from wslab.checks.predictions import Question
from wslab.checks.progress import Exercise
from wslab.runner import BackgroundServer

__all__ = ["toy_chat_app", "check_shout_test", "check_broadcast_test", "check_origin_allowed",
           "check_first_message_auth", "HIJACK", "EXERCISES"]


#: A name the student's code uses that has no value: mostly an import left out of the cell.
NAME_ERROR = ("Your code uses a name that has no value here (see got): an import left out, a "
              "name from a cell not run yet, a typo, or a variable used before it is assigned. "
              "Import or define it, run your cell, then this check again.")


def _student_exception(exc: BaseException) -> str | None:
    """The hint for an exception any exercise can raise (common_exception), or a NameError's."""
    return common_exception(exc) or (NAME_ERROR if isinstance(exc, NameError) else None)


def _missing_awaits_named(failure: Failure, forgotten: list[str]) -> Failure:
    """``failure``, its hint replaced by the missing ``await`` that explains it, if any."""
    if forgotten:
        failure.hint = missing_await_hint(forgotten)
    return failure


def _no_missing_awaits(forgotten: list[str]) -> None:
    """Even when the behaviour looked right, a coroutine nobody awaits is a bug waiting."""
    if forgotten:
        raise Failure(tried="reading your code", got=", ".join(forgotten),
                      expected="await in front of every call to an async function",
                      hint=missing_await_hint(forgotten))


# -- exercise 1: a TestClient test of lesson 01's shouting endpoint -----------------------

#: Lesson 01's shouting endpoint lives here; a TestClient test connects to it.
SHOUT_PATH = "/ws/shout"
#: The check's endpoints for the test exercise close a connection silent for this long.
IDLE_CLOSE = 1.0
#: How long one run of the student's test may take.
SHOUT_TEST_TIMEOUT = 8.0


async def _receive_text(websocket: WebSocket) -> str:
    """receive_text(), but a connection silent for IDLE_CLOSE seconds is closed (1000)."""
    try:
        return await asyncio.wait_for(websocket.receive_text(), IDLE_CLOSE)
    except asyncio.TimeoutError:
        await websocket.close()
        raise WebSocketDisconnect(1000) from None


async def _shouts(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    try:
        while True:
            await websocket.send_text((await _receive_text(websocket)).upper())
    except WebSocketDisconnect:
        pass


async def _no_greeting(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text((await _receive_text(websocket)).upper())
    except WebSocketDisconnect:
        pass


async def _other_greeting(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("Hello.")
    try:
        while True:
            await websocket.send_text((await _receive_text(websocket)).upper())
    except WebSocketDisconnect:
        pass


async def _no_shouting(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    try:
        while True:
            await websocket.send_text(await _receive_text(websocket))
    except WebSocketDisconnect:
        pass


async def _only_once(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    try:
        await websocket.send_text((await _receive_text(websocket)).upper())
        await websocket.close()
    except WebSocketDisconnect:
        pass


async def _crashes_on_leave(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    while True:  # no except WebSocketDisconnect: the endpoint fails when the client leaves
        await websocket.send_text((await _receive_text(websocket)).upper())


@dataclasses.dataclass
class _BrokenShout:
    endpoint: Callable[[WebSocket], Awaitable[None]]
    does: str
    hint: str


SHOUT_BROKEN = [
    _BrokenShout(_no_greeting, "never sends the greeting",
                 "Your test does not check the greeting, the first thing a client receives."),
    _BrokenShout(_other_greeting, "greets with 'Hello.' instead",
                 "Your test checks that a greeting comes, not that it is the right one: compare "
                 "it with GREETING."),
    _BrokenShout(_no_shouting, "sends the text back unchanged",
                 "Your test does not show that the answers are upper-cased: a text already in "
                 "capitals comes back the same from an endpoint that only echoes."),
    _BrokenShout(_only_once, "answers the first text only, then closes",
                 "Your test stops after one text: a second one shows that the endpoint keeps "
                 "going."),
    _BrokenShout(_crashes_on_leave, "crashes with WebSocketDisconnect when the client leaves",
                 "Your test does not see the endpoint crash as the client leaves: open the "
                 "connection with `with client.websocket_connect(...) as websocket:`; leaving "
                 "the with block closes it, and the TestClient re-raises what the endpoint "
                 "raised then."),
]


def _shout_app(endpoint: Callable[[WebSocket], Awaitable[None]]) -> FastAPI:
    app = FastAPI()
    app.add_api_websocket_route(SHOUT_PATH, endpoint)
    return app


def _run_shout_test(test: Callable[[Any], Any],
                    app: FastAPI) -> tuple[bool, BaseException | None]:
    """Run ``test(client)`` in a thread of its own; return (finished in time, what it raised)."""
    from fastapi.testclient import TestClient  # needs httpx2: imported only when used

    outcome: list[BaseException | None] = []

    def run() -> None:
        guard_this_thread()
        try:
            with TestClient(app) as client:
                test(client)
        except BaseException as exc:  # the test's verdict, kept for the check
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, name="wslab test run", daemon=True)
    thread.start()
    thread.join(SHOUT_TEST_TIMEOUT)
    if thread.is_alive():
        return False, None
    return True, outcome[0]


def _where(exc: BaseException, test: Callable[..., Any]) -> str:
    """`` at: <the line of the test that raised>``, when the traceback passes through it."""
    code = getattr(test, "__code__", None)
    if code is None:
        return ""
    lines = [frame.line for frame in traceback.extract_tb(exc.__traceback__)
             if frame.filename == code.co_filename and frame.line]
    return f", at: {lines[-1]}" if lines else ""


def _correct_run_hint(exc: BaseException) -> str:
    said = _student_exception(exc)
    if said:
        return said
    if isinstance(exc, TypeError) and "argument" in str(exc):
        return ("Your test must take one argument, client, and use it: "
                "client.websocket_connect(...).")
    if isinstance(exc, WebSocketDisconnect):
        return (f"The endpoint closed the connection. Connect to {SHOUT_PATH!r}, and receive "
                f"only what the endpoint sends: the greeting first, then one answer per text "
                f"(this endpoint closes a connection silent for {IDLE_CLOSE:g} s).")
    if isinstance(exc, AssertionError):
        return (f"One of your asserts does not hold for a correct endpoint: it sends "
                f"{GREETING!r}, then each text upper-cased.")
    return "Read the exception: it comes from your test."


def check_shout_test(test: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Exercise 1: ``test(client)`` passes on a correct shout endpoint and fails on broken ones."""

    def body() -> str:
        if not callable(test):
            raise Failure(tried=f"call {shown(test, 60)}", expected="a function test(client)",
                          got=f"a {type(test).__name__}",
                          hint="The check needs the function itself, without parentheses.")
        if inspect.iscoroutinefunction(test):
            raise Failure(tried="look at test_shout", expected="def test_shout(client)",
                          got="async def test_shout(client)",
                          hint="Your test is declared async def: calling it only makes a "
                               "coroutine, and nothing in it runs. The TestClient's calls are "
                               "plain calls, without await, in a plain def.")
        tried = "your test against a correct shout endpoint"
        finished, exc = _run_shout_test(test, _shout_app(_shouts))
        if not finished:
            raise Failure(tried=tried, expected=f"it finishes within {SHOUT_TEST_TIMEOUT:g} s",
                          got="it was still running",
                          hint="Look for a loop that never ends, a sleep, or a "
                               "websocket_connect() used without with: that connection never "
                               "closes, and TestClient waits for it.")
        if isinstance(exc, NotImplementedError):
            raise NotDone
        if exc is not None:
            raise Failure(tried=tried, expected="it passes",
                          got=what_it_raised(exc) + _where(exc, test),
                          hint=_correct_run_hint(exc))
        unasserted = unasserted_comparisons(test)
        for broken in SHOUT_BROKEN:
            finished, exc = _run_shout_test(test, _shout_app(broken.endpoint))
            if finished and exc is None:
                raise Failure(tried=f"your test against an endpoint that {broken.does}",
                              expected="it fails (an assert or an error)", got="it passed",
                              hint=unasserted_hint(unasserted) if unasserted else broken.hint)
        if unasserted:  # it failed on each broken endpoint for other reasons, by luck
            raise Failure(tried="read the code of test_shout",
                          expected="every check in an assert", got=", ".join(unasserted),
                          hint=unasserted_hint(unasserted))
        return f"it passes on a correct endpoint and fails on {len(SHOUT_BROKEN)} broken ones."

    ok = run_check("test_shout", body, fallback="the kit's test_shout", student=test)
    return carry_on(ok, test, answers.test_shout)


# -- exercise 2: a broadcast test that does not flake -------------------------------------------


@dataclasses.dataclass(frozen=True)
class ToyChat:
    """One variant of the toy chat: how slow it is, and what it gets wrong (if anything)."""

    path: str
    does: str
    hint: str = ""
    join_delay: float = 0.0
    relay_delay: float = 0.0
    relay_to: str = "everyone"          # "everyone", "sender" or "nobody"
    relay_as: str | None = None         # a client id to relay every line as, instead
    relay_text: Callable[[str], str] = lambda text: text


SLOW = ToyChat("slow", "puts a client in the room 0.3 s after its handshake and relays each "
                       "line 0.2 s late (as a busy server may)", join_delay=0.3, relay_delay=0.2)
BROKEN = (
    ToyChat("echo", "sends each line back to its sender only",
            "Your test passed although Bob never got the line: check that Bob, not Alice, "
            "receives Alice's line.", relay_to="sender"),
    ToyChat("silent", "never relays a line",
            "Your test passed although nobody got the line: wait for the line at Bob, with a "
            "deadline, and let the test fail when it does not come.", relay_to="nobody"),
    ToyChat("anonymous", "relays every line as if 'someone' had said it",
            "Your test passed although the line came from 'someone': check the client_id of "
            "the line Bob receives.", relay_as="someone"),
    ToyChat("short", "relays only the first 5 characters of a line",
            "Your test passed although Bob got only 'hello': compare the whole text Bob "
            "receives with what Alice sent, not a part of it.",
            relay_text=lambda text: text[:5]),
)

#: The calls of a test that are coroutines, and do nothing unless awaited.
TEST_COROUTINES = ("send", "recv", "receive_until", "sleep", "close", "wait_for")


def toy_chat_app(variants: tuple[ToyChat, ...] = (SLOW, *BROKEN)) -> FastAPI:
    """A chat that speaks the kit's protocol, once per variant, at ``/<variant>/ws/{client_id}``.

    Enough of the protocol for a broadcast test: a welcome once the client is in the room, a
    join announcement to the others, chat lines relayed as ``{"message", "client_id",
    "timestamp"}`` to everyone in the room. Each variant's room is its own. A variant with a
    ``join_delay`` reads a client's lines at once but puts the client in the room only that
    much later, as a server does that looks something up first: a line said to a client
    that is connected but not yet welcomed does not reach it, which is the kit's promise too.
    """
    app = FastAPI()
    for variant in variants:
        app.add_api_websocket_route(f"/{variant.path}/ws/{{client_id}}", _toy_endpoint(variant))
    return app


def _toy_endpoint(variant: ToyChat) -> Callable[[WebSocket, str], Awaitable[None]]:
    room: dict[str, WebSocket] = {}

    async def deliver(message: str, to: list[WebSocket]) -> None:
        for websocket in to:
            try:
                await websocket.send_text(message)
            except Exception:  # a client that left meanwhile: the others still get it
                pass

    async def register(websocket: WebSocket, client_id: str) -> None:
        await asyncio.sleep(variant.join_delay)
        others = list(room.values())
        room[client_id] = websocket
        await websocket.send_text(envelope.welcome_message(client_id, sorted(room)))
        await deliver(envelope.join_message(client_id, len(room)), others)

    async def endpoint(websocket: WebSocket, client_id: str) -> None:
        await websocket.accept()
        # Reading starts at once, but the client is in the room (and welcomed) only later.
        joining = asyncio.get_running_loop().create_task(register(websocket, client_id))
        try:
            while True:
                event = await websocket.receive()
                if event["type"] == "websocket.disconnect":
                    return
                frame = envelope.read_client_text(event.get("text") or "", 4096)
                if not isinstance(frame, envelope.Chat):
                    continue
                await asyncio.sleep(variant.relay_delay)
                line = envelope.chat_message(variant.relay_as or client_id,
                                             variant.relay_text(frame.text))
                targets = {"everyone": list(room.values()), "sender": [websocket],
                           "nobody": []}[variant.relay_to]
                await deliver(line, targets)
        finally:
            joining.cancel()
            if room.get(client_id) is websocket:
                del room[client_id]

    return endpoint


#: How long one run of the student's test may take before it counts as hanging.
TEST_RUN_TIMEOUT = 6.0
#: A deadline shorter than this is too short for the slow server, which relays 0.2 s late.
TOO_SHORT = 0.5


@dataclasses.dataclass(frozen=True)
class _TestRun:
    """One run of the student's test: whether it finished in time, what it raised, how long."""

    finished: bool
    raised: BaseException | None
    seconds: float

    @property
    def passed(self) -> bool:
        return self.finished and self.raised is None

    def said(self) -> str:
        if not self.finished:
            return f"it was still running after {TEST_RUN_TIMEOUT:g} s"
        if self.raised is not None:
            return f"it {describe_exception(self.raised)}"
        return f"it passed ({self.seconds:.1f} s)"


async def _run_test(test: Callable[[str], Awaitable[None]], ws_url: str,
                    runs: list[asyncio.Future[None]]) -> _TestRun:
    """Run ``test(ws_url)`` for at most :data:`TEST_RUN_TIMEOUT` seconds, beside ``runs``.

    Not with ``asyncio.wait_for``: a ``TimeoutError`` the test raises itself (its own
    deadline) must count as the test failing, not as the test hanging. ``runs`` are all the
    runs of the same test: when one is stopped in an endless loop, the others are cancelled.
    """

    def stop_the_others() -> None:
        for other in runs:
            if other is not run:
                other.cancel()

    began = time.monotonic()
    run = asyncio.ensure_future(GuardedCoroutine(test(ws_url), stop_the_others))
    runs.append(run)
    await asyncio.wait({run}, timeout=TEST_RUN_TIMEOUT)
    seconds = time.monotonic() - began
    if not run.done():
        run.cancel()
        with contextlib.suppress(BaseException):
            await run
        return _TestRun(False, None, seconds)
    return _TestRun(True, asyncio.CancelledError() if run.cancelled() else run.exception(),
                    seconds)


async def _broadcast_body(test: Any) -> str:
    if not callable(test):
        raise Failure(tried="calling test_broadcast", expected="an async def test(ws_url)",
                      got=f"a {type(test).__name__}", hint="Define test_broadcast as a "
                      "function, async def test_broadcast(ws_url): ..., and run its cell.")
    if not inspect.iscoroutinefunction(test):
        raise Failure(tried="calling test_broadcast", expected="an async def test(ws_url)",
                      got="a plain def", hint="Declare the test async def: it waits for the "
                      "server with await, and the check awaits it, as pytest does with async "
                      "tests.")
    forgotten = unawaited_calls(test, TEST_COROUTINES)
    kit = BackgroundServer(create_app(), name="E6-check-kit").start()
    toys = BackgroundServer(toy_chat_app(), name="E6-check-toys").start()
    servers = {"the kit's chat server": kit.ws_url,
               f"a correct chat server that {SLOW.does}": f"{toys.ws_url}/{SLOW.path}",
               **{f"a chat server that {toy.does}": f"{toys.ws_url}/{toy.path}"
                  for toy in BROKEN}}
    runs: list[asyncio.Future[None]] = []
    try:
        outcomes = await asyncio.gather(*(_run_test(test, url, runs)
                                          for url in servers.values()))
    finally:
        kit.stop()
        toys.stop()
    judged = list(zip(servers, outcomes))
    try:
        for server, run in judged:
            if isinstance(run.raised, StuckInLoop):
                raise Failure(tried=f"your test against {server}", expected="it finishes",
                              got=run.said(), hint=common_exception(run.raised) or "")
        for server, run in judged[:2]:
            _must_pass(run, server)
        broken = judged[2:]
        if all(run.passed for _, run in broken):
            raise Failure(tried=f"your test against {len(BROKEN)} broken chat servers",
                          expected="it fails against each of them", got="it passed every time",
                          hint="Your test passes whatever the server does, so it cannot catch "
                               "a bug: it never checks what Bob received, or a try/except "
                               "swallows the failure.")
        for (server, run), toy in zip(broken, BROKEN):
            if run.passed:
                raise Failure(tried=f"your test against {server}",
                              expected="it fails (an assert or an error)", got=run.said(),
                              hint=toy.hint)
            if not run.finished:
                raise Failure(tried=f"your test against {server}",
                              expected=f"it fails within {TEST_RUN_TIMEOUT:g} s",
                              got=run.said(),
                              hint="A wait without a deadline: when the line never comes, "
                                   "your test waits for ever instead of failing. A bare "
                                   "await ws.recv() has no deadline; receive_until has one.")
    except Failure as failure:
        raise _missing_awaits_named(failure, forgotten) from None
    _no_missing_awaits(forgotten)
    return (f"it passes on the kit's server and on a slow one, and fails on {len(BROKEN)} broken "
            "ones.")


def _must_pass(run: _TestRun, server: str) -> None:
    """A correct server: the test must pass, or the hint says what made it fail."""
    if isinstance(run.raised, NotImplementedError):
        raise NotDone()
    if run.passed:
        return
    raise Failure(tried=f"your test against {server}", expected="it passes", got=run.said(),
                  hint=_why_it_failed(run))


def _why_it_failed(run: _TestRun) -> str:
    exc = run.raised
    never_came = ("The line never reached Bob. Did Alice speak before Bob was in the room? A "
                  "client is in the room once the server has welcomed it, and a line said "
                  "before that never reaches it: wait for both welcomes first.")
    if not run.finished:
        return never_came + " And give every wait a deadline (receive_until has one)."
    deadline = re.search(r"nothing matching arrived within ([\d.]+) s", str(exc))
    if (isinstance(exc, AssertionError) and deadline) or isinstance(exc, TimeoutError):
        # Without the deadline in the message, the run's length tells: the welcomes took
        # the slow server's join delay, and the rest was the deadline.
        if (float(deadline[1]) if deadline else run.seconds - SLOW.join_delay) < TOO_SHORT:
            return ("Your deadline is too short: a busy server may take longer than that, and "
                    "this one relays 0.2 s late. A deadline is there to stop a test that would "
                    "wait for ever, so make it generous (a second or two).")
        return never_came
    if isinstance(exc, AssertionError) and "the connection closed" in str(exc):
        return ("The server closed the connection before the line came: read its close code "
                "and reason in got.")
    if isinstance(exc, AssertionError):
        return ("Your own assert failed against a correct server: look at what it compared. "
                "Often it compared 'the next message', while the server also sends welcomes "
                "and join announcements, in an order that depends on timing: wait for what you "
                "mean (receive_until), not for the next message.")
    if isinstance(exc, InvalidStatus):
        return (f"The server refused the handshake (HTTP {exc.response.status_code}): check "
                "the address. The chat's endpoint is /ws/<name>, under the ws_url the test "
                "is given.")
    if isinstance(exc, KeyError):
        return (f"Your test read the field {exc}, which the message it looked at does not "
                "have. A chat line has 'message', 'client_id' and 'timestamp'; a welcome has "
                "'type', 'user' and 'online'.")
    if isinstance(exc, TypeError) and "indices must be integers" in str(exc):
        return ("recv() gives the frame's text, a str: decode it with json.loads before reading "
                "its fields (receive_until does that for you).")
    if isinstance(exc, ConnectionClosed):
        return ("The connection was closed while your test still read from it: read its close "
                "code in got, and make sure each client stays inside its async with.")
    return _student_exception(exc) or "Read the error in got: it comes from your test."


async def check_broadcast_test(test: Any) -> Any:
    """Exercise 2: ``test(ws_url)`` passes on correct chats, slow or not, and fails on broken ones.

    Returns the test to carry on with: the student's once it passes, the kit's until then.
    """
    ok = await run_async_check("test_broadcast", lambda: _broadcast_body(test),
                               fallback="the kit's test_broadcast",
                               timeout=3 * TEST_RUN_TIMEOUT, student=test)
    return test if ok else answers.test_broadcast


# -- exercise 3: the Origin check ---------------------------------------------------------------

SERVER = "127.0.0.1:8000"
COURSE = ("https://course.example",)

#: (origin, host, allowed) and the hint for when the answer differs from origin_allowed's.
ORIGIN_CASES = [
    ((None, SERVER, ()),
     "No Origin header means no browser page sent the handshake (a script, a notebook): allow "
     "it, and let the token decide."),
    (("http://127.0.0.1:8000", SERVER, ()),
     "A page from the server itself has the server's own origin: allow it."),
    (("http://evil.example", SERVER, ()), "A page from any other site must be refused."),
    (("http://127.0.0.1:9999", SERVER, ()),
     "The port is part of an origin: a page from another port is another origin."),
    (("http://LOCALHOST:8000", "localhost:8000", ()),
     "Host names do not care about case: compare them in lower case."),
    (("http://127.0.0.1:8000.evil.example", SERVER, ()),
     "That origin only starts like the server's own: compare the whole host and port, not a "
     "prefix."),
    (("https://127.0.0.1:8000", SERVER, ()),
     "A page of this host and port is this server's own, over https too: compare the origin's "
     "host and port (urlsplit(origin).netloc) with the Host header."),
    (("null", SERVER, ()),
     "Sandboxed frames and local files send the origin 'null': refuse it."),
    (("https://course.example", SERVER, COURSE), "An origin in the allowed list may connect."),
    ((None, SERVER, COURSE),
     "A handshake without an Origin header is allowed with or without a list of other "
     "origins: the list adds origins, it does not take the missing one away."),
    (("https://course.example.evil", SERVER, COURSE),
     "The allowed list holds exact origins: compare for equality, not with startswith."),
    (("http://course.example", SERVER, COURSE),
     "The scheme is part of an origin: http://course.example is not the allowed "
     "https://course.example. Compare whole origins with the allowed list."),
    (("http://127.0.0.1:8000", None, ()),
     "Without a Host header (host is None) there is nothing to compare with: refuse a "
     "browser's page."),
]


def _origins_on_hosts(origin, host, allowed) -> bool:
    return origin is None or origin in allowed or (
        host is not None and urlsplit(origin).hostname == host.split(":")[0].lower())


def _origins_case_sensitive(origin, host, allowed) -> bool:
    return origin is None or origin in allowed or urlsplit(origin).netloc == host


def _origins_by_prefix(origin, host, allowed) -> bool:
    return origin is None or origin in allowed or \
        origin.lower().startswith(f"http://{host}".lower())


def _origins_built_with_http(origin, host, allowed) -> bool:
    return origin is None or origin in allowed or origin.lower() == f"http://{host}".lower()


def _allowed_by_prefix(origin, host, allowed) -> bool:
    return origin_allowed(origin, host) or any(origin.startswith(one) for one in allowed)


def _allowed_without_scheme(origin, host, allowed) -> bool:
    return origin_allowed(origin, host) or \
        urlsplit(origin).netloc in {urlsplit(one).netloc for one in allowed}


class _LikeButNotBool:
    """A result as true or false as origin_allowed's, but not a bool (None, a string...)."""

    def __init__(self, truth: bool) -> None:
        self.truth = truth

    def __eq__(self, other: object) -> bool:
        return not isinstance(other, bool) and bool(other) is self.truth


ORIGIN_MISTAKES = [
    Mistake(NAME_ERROR, raises=NameError),
    Mistake("Your function returned something that is not True or False: a function that "
            "ends without return gives None, and an `and`/`or` expression gives one of its "
            "operands. Return a bool.",
            makes=lambda *args: _LikeButNotBool(origin_allowed(*args))),
    Mistake("A handshake without an Origin header was refused: no Origin means no browser "
            "page sent it (a script, a notebook), so it carries no cookie a browser added. "
            "Allow it, and let the token decide.",
            makes=lambda origin, host, allowed: origin is not None and origin_allowed(
                origin, host, allowed)),
    Mistake("The origin 'null' (sandboxed frames, local files) was let in: a page that hides "
            "where it comes from must be refused.",
            makes=lambda origin, host, allowed: origin == "null" or origin_allowed(
                origin, host, allowed)),
    Mistake("The origin was compared with 'http://' + host, but the Host header has no "
            "scheme: a page of this host and port over https is this server's own too. "
            "Compare the origin's host and port (urlsplit(origin).netloc) with Host.",
            makes=_origins_built_with_http),
    Mistake("That origin only starts like the server's own: compare the whole host and port, "
            "not a prefix.", makes=_origins_by_prefix),
    Mistake("Only the host names were compared, not the ports: the port is part of an origin, "
            "so a page from another port of this machine is another origin (the hijacking of "
            "section 6 came from one).", makes=_origins_on_hosts),
    Mistake("Host names do not care about case, but your comparison does: compare them in "
            "lower case.", makes=_origins_case_sensitive),
    Mistake("The allowed list holds exact origins, but your code let in an origin that only "
            "starts like one of them: compare for equality, not with startswith.",
            makes=_allowed_by_prefix),
    Mistake("The allowed origins were compared by host only, without their scheme: "
            "http://course.example is not the allowed https://course.example. Compare whole "
            "origins with the allowed list.", makes=_allowed_without_scheme),
]


def check_origin_allowed(student: Callable[..., bool]) -> Callable[..., bool]:
    """Exercise 3: ``origin_allowed`` answers as ``wslab.access.origin_allowed`` on every case."""
    cases = [Case(args, origin_allowed(*args), hint,
                  call=f"origin_allowed({', '.join(shown(arg, 60) for arg in args)})")
             for args, hint in ORIGIN_CASES]
    return check_function(student, cases, name="origin_allowed", reference=origin_allowed,
                          fallback="the kit's origin_allowed", mistakes=ORIGIN_MISTAKES,
                          same=lambda got, want: got is want)


# -- exercise 4: authentication in the first message --------------------------------------------

TOKEN = "open-sesame"
AUTH_TIMEOUT = 0.5
#: How long the client waits for an answer; past it, the function answered nothing.
AUTH_PATIENCE = AUTH_TIMEOUT + 1.5
#: The calls in the function that are coroutines, and do nothing unless awaited.
AUTH_COROUTINES = ("accept", "close", "receive", "receive_text", "receive_json",
                   "receive_bytes", "send", "send_text", "send_json", "wait_for", "sleep")


@dataclasses.dataclass(frozen=True)
class _AuthCase:
    what: str
    send: str | bytes | None      # None: stay silent
    admitted: bool
    hint: str                     # when the client saw the wrong outcome
    raised: str                   # when the function raised


AUTH_CASES = (
    _AuthCase("the right token", json.dumps({"token": TOKEN}), True,
              "The right token was not let in: look at how you read the token from the "
              "message, and at what you compare it with (str with str).",
              "The right token made your function raise: read the exception in got, it comes "
              "from how you read or compare the token."),
    _AuthCase("a wrong token", json.dumps({"token": "guess"}), False,
              "A wrong token was let in: compare the token the client sent with the one you "
              "were given, and refuse it when they differ.",
              "A wrong token must be refused with a close, not an exception."),
    _AuthCase("JSON without a token", json.dumps({"message": "hi"}), False,
              "A first message without 'token' must be refused like a wrong token.",
              "A first message without 'token' made your function raise (data['token'] raises "
              "KeyError): refuse it like a wrong token."),
    _AuthCase("a token that is a number", json.dumps({"token": 5}), False,
              "A token that is a number must be refused: only a string can be the token.",
              "A token that is a number made your function raise: check that it is a str "
              "before you compare it, and refuse it otherwise."),
    _AuthCase("JSON that is a list", json.dumps(["token"]), False,
              "JSON that is not an object must be refused.",
              "json.loads can return a list, and data['token'] then raises TypeError: refuse "
              "such a message instead."),
    _AuthCase("text that is not JSON", "let me in", False,
              "Text that is not JSON must be refused.",
              "json.loads raises ValueError on text that is not JSON: refuse it instead."),
    _AuthCase("binary data", b"\x00\x01", False,
              "Binary data must be refused: it is not the token.",
              "receive_text() raises KeyError on a binary message. Receive with "
              "websocket.receive() and look for 'text' in the event, and refuse what has none."),
    _AuthCase("silence", None, False,
              "A client that never sends must not hold a connection open for ever: wait for "
              "the first message with a deadline (asyncio.wait_for), and refuse when the time "
              "is up.",
              "When the time is up, asyncio.wait_for raises TimeoutError: catch it, and refuse "
              "the client."),
)


class _Guarded:
    """An ASGI app that guards the server thread against a student's endless loop."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        guard_this_thread()
        await self.app(scope, receive, send)


#: The start of a line of the server's log, as opposed to the lines of a traceback.
_LOG_LINE = re.compile(r"\d\d:\d\d:\d\d ")


class _AuthServer:
    """Serves the student's function in an endpoint; notes what it raised or returned."""

    def __init__(self, student: Callable[..., Awaitable[bool]]) -> None:
        self.student = student
        self.raised: BaseException | None = None
        self.returned: Any = None
        self.done = threading.Event()
        app = FastAPI()
        app.add_api_websocket_route("/ws", self._endpoint)
        self.server = BackgroundServer(_Guarded(app), name="E6-check-auth")

    def reset(self) -> None:
        self.raised, self.returned = None, None
        self.done.clear()

    async def _endpoint(self, websocket: WebSocket) -> None:
        try:
            self.returned = admitted = await self.student(websocket, TOKEN, AUTH_TIMEOUT)
            if admitted is True:
                await websocket.send_text("welcome")
                await websocket.receive()
        except Exception as exc:  # the student's bug: noted, and the client told with 1011
            self.raised = exc
            try:
                await websocket.close(code=1011)
            except Exception:  # closed already, by the student's code or the client
                pass
        finally:
            self.done.set()

    async def finished(self) -> None:
        """Wait until the endpoint has returned; a frame stuck in a loop is stopped by then."""
        deadline = time.monotonic() + LOOP_LIMIT + 1
        while not self.done.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def first_error(self) -> str | None:
        """The server log's first error (a failed task of the student's, say), in one line.

        An error logged with a traceback is shown with the traceback's last line, the
        exception itself.
        """
        lines = self.server.logs(None)
        for at, line in enumerate(lines):
            logged = re.match(r"\S+ (?:ERROR|CRITICAL) +(.*)", line)
            if logged:
                rest = itertools.takewhile(lambda more: not _LOG_LINE.match(more),
                                           lines[at + 1:])
                raised = [more for more in rest if more[:1].strip()][-1:]
                return " ".join([logged[1], *(f"… {more}" for more in raised)])
        return None


async def _try_auth(server: _AuthServer, case: _AuthCase) -> str:
    """What the client saw: "welcome", "closed 1008", "refused (HTTP 403)", "nothing"..."""
    url = f"{server.server.ws_url}/ws"
    try:
        async with connect(url, open_timeout=3, close_timeout=0.5) as ws:
            if case.send is not None:
                await ws.send(case.send)
            try:
                answer = await asyncio.wait_for(ws.recv(), AUTH_PATIENCE)
            except asyncio.TimeoutError:
                return "nothing"
            except ConnectionClosed as closed:
                return f"closed {closed.rcvd.code}" if closed.rcvd else "closed without a code"
            return answer if isinstance(answer, str) else "binary data"
    except InvalidStatus as exc:
        return f"refused (HTTP {exc.response.status_code})"


def _judge_auth(case: _AuthCase, got: str, server: _AuthServer) -> None:
    raised, returned = server.raised, server.returned
    if isinstance(raised, NotImplementedError):
        raise NotDone()
    tried = f"a client whose first message is {case.what}"
    expected = "'welcome' (admitted)" if case.admitted else "close code 1008"
    general = _student_exception(raised) if raised is not None else None
    if general:
        raise Failure(tried=tried, expected=expected,
                      got=f"your function {describe_exception(raised)}", hint=general)
    if got.startswith("refused"):
        raise Failure(tried=tried, expected=expected, got=f"the handshake was {got}",
                      hint="The handshake was refused: accept the connection first. With "
                           "first-message authentication the token comes after the "
                           "handshake.")
    if got == "nothing":
        raise Failure(tried=tried, expected=expected,
                      got=f"no answer within {AUTH_PATIENCE:g} s, and the connection open",
                      hint=case.hint if case.send is None else
                      "Your function neither let this client in nor refused it: decide on "
                      "the first message, at once.")
    if raised is not None:
        raise Failure(tried=tried, expected=expected,
                      got=f"your function {describe_exception(raised)}", hint=case.raised)
    want = "welcome" if case.admitted else "closed 1008"
    if got != want:
        hint = case.hint
        if not case.admitted and got.startswith("closed") and got != "closed 1011":
            hint = ("The client was refused, but not with close code 1008: close() without a "
                    "code sends 1000, a normal closure, and the client cannot tell it was "
                    "refused. 1008 means 'policy violation'.")
        raise Failure(tried=tried, expected=expected, got=got, hint=hint)
    if returned is not case.admitted:
        raise Failure(tried=tried, expected=f"{expected}, and your function returns "
                                            f"{case.admitted}",
                      got=f"{got}, and it returned {shown(returned)}",
                      hint=f"Return {case.admitted} when you "
                           f"{'let the client in' if case.admitted else 'refuse the client'}: a "
                           "function that ends without return gives None.")


def _compares_token_with_eq(function: Any) -> list[str]:
    """The ``==`` and ``!=`` comparisons in ``function`` that involve its ``token`` argument.

    The token's parameter is the second one, whatever it is called; names assigned from an
    expression that involves it count as the token too. ``len(token)`` does not (the length
    is not the secret), nor does ``compare_digest(given, token) == True``.
    """
    try:
        tree = ast.parse(source_of(function))
        secret = list(inspect.signature(function).parameters)[1]
    except (SyntaxError, ValueError, TypeError, IndexError):
        return []
    tainted = {secret}

    def involves(node: ast.AST) -> bool:
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("len", "compare_digest"):
                return False
        if isinstance(node, ast.Name):
            return node.id in tainted
        return any(involves(child) for child in ast.iter_child_nodes(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and involves(node.value):
            tainted.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return [ast.unparse(node) for node in ast.walk(tree)
            if isinstance(node, ast.Compare)
            and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops)
            and any(involves(side) for side in (node.left, *node.comparators))]


TIMING_HINT = ("{compare} compares the secret token as ordinary text, and that stops at the "
               "first character that differs, so a wrong guess is answered a little sooner the "
               "earlier it goes wrong. An attacker who times many answers learns the token one "
               "character at a time: a timing attack. Compare secrets with a function whose "
               "time does not depend on where they differ: the secrets and hmac modules each "
               "have one, compare_digest.")


async def _auth_body(student: Any) -> str:
    if not inspect.iscoroutinefunction(student):
        raise Failure(tried="first_message_auth(websocket, token)",
                      expected="an async def function", got=shown(student, 80),
                      hint="Declare it async def: it has to await accept() and the first "
                           "message.")
    forgotten = unawaited_calls(student, AUTH_COROUTINES)
    server = _AuthServer(student)
    server.server.start()
    try:
        for case in AUTH_CASES:
            server.reset()
            got = await _try_auth(server, case)
            await server.finished()
            _judge_auth(case, got, server)
        error = server.first_error()
        if error:
            raise Failure(tried="all eight clients", expected="a server log without errors",
                          got=f"the server logged: {error}",
                          hint="Your code made the server log an error, although the clients "
                               "saw the right answers: read the log line in got. (A task you "
                               "started that failed is logged so.)")
    except Failure as failure:
        raise _missing_awaits_named(failure, forgotten) from None
    finally:
        server.server.stop()
    _no_missing_awaits(forgotten)
    unsafe = _compares_token_with_eq(student)
    if unsafe:
        raise Failure(tried="reading your code: how it compares the token",
                      expected="a comparison that takes as long wherever a guess goes wrong",
                      got=", ".join(f"`{compare}`" for compare in unsafe[:2]),
                      hint=TIMING_HINT.format(compare=f"`{unsafe[0]}`"))
    return f"all {len(AUTH_CASES)} first messages were handled right, in constant time."


async def check_first_message_auth(student: Any) -> Any:
    """Exercise 4: ``first_message_auth`` admits the right token and refuses everything else.

    Returns the function to carry on with: the student's once it passes, the kit's until then.
    """
    ok = await run_async_check("first_message_auth", lambda: _auth_body(student),
                               fallback="the kit's first_message_auth", timeout=40,
                               student=student)
    return student if ok else answers.first_message_auth


# -- predict, then run: the hostile page of section 6 -------------------------------------------

def _what_the_page_got(observed: Any) -> str:
    if isinstance(observed, str) and "notes" in observed:
        return "a"
    return "b" if isinstance(observed, InvalidStatus) else "c"


#: What a page from another port of the same machine gets from a server that knows its users by
#: a cookie and does not check Origin.
HIJACK = Question(
    "predict: the page from another port",
    options={"a": "it reads Ada's notes",
             "b": "it is refused (HTTP 403): the server does not know it",
             "c": "it cannot connect at all: a page cannot open a WebSocket to another port"},
    classify=_what_the_page_got,
    why="The browser adds Ada's cookie to every request to the notes server, whichever page "
        "makes it: the cookie belongs to the server, not to the page. CORS, which keeps "
        "fetch() from reading answers across origins, does not apply to WebSockets. So the "
        "server sees Ada's cookie and answers as to Ada; only the Origin header says where "
        "the page came from, and this server does not look at it.")


EXERCISES = (
    Exercise("test_shout", check_shout_test, reads=("test_shout",)),
    Exercise("test_broadcast", check_broadcast_test, reads=("test_broadcast",)),
    HIJACK,
    Exercise("origin_allowed", check_origin_allowed, reads=("origin_allowed",)),
    Exercise("first_message_auth", check_first_message_auth, reads=("first_message_auth",)),
)
