"""Lesson 02's checks: a text endpoint, a JSON endpoint, and a TestClient test of an endpoint.

The endpoint checks serve the student's endpoint with a real uvicorn (a
:class:`~wslab.runner.BackgroundServer`) and talk to it with a real ``websockets`` client, the
way a browser would. Every wait has a deadline, so an endpoint that crashes, never accepts or
never answers is reported as such, never waited for. Whatever the endpoint raises inside the
server is caught on its way out (:class:`WatchedApp`) and fails the check, even when the client
saw nothing wrong. A call to the connection left without ``await`` is found in the endpoint's
source and named, since its only symptom is a message that never comes.

What the student may hand in, for an endpoint check: the endpoint function itself (an
``async def`` taking ``websocket: WebSocket``; the check mounts it at the exercise's path), or
an ``APIRouter`` or ``FastAPI`` app that has a WebSocket route at that path. A check returns what
the student handed in once it passes, and until then the kit's answer
(:mod:`wslab.answers.endpoint`), in the same form, so the notebook can carry on.

The test check runs the student's test function (``def test_shout(client)``) with a
``TestClient`` against a correct endpoint, where it must pass, and against broken ones, where
it must fail. Those endpoints close a connection that has been silent for
:data:`IDLE_CLOSE` seconds, so a test that waits for a message that never comes fails instead of
hanging.

:class:`WatchedApp`, :func:`connection_mistake` and :func:`unasserted_comparisons` are used by
lesson 04's checks too.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import inspect
import itertools
import json
import threading
import time
import traceback
from typing import Any, Awaitable, Callable

import websockets
from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from starlette.routing import WebSocketRoute

from wslab.answers import endpoint as answers
from wslab.answers.endpoint import GREETING
from wslab.checks.core import (LOOP_LIMIT, Failure, NotDone, StuckInLoop, carry_on,
                               common_exception, describe_exception, guard_this_thread,
                               missing_await_hint, run_async_check, run_check, shown, source_of,
                               unawaited_calls)
from wslab.checks.predictions import Question
from wslab.checks.progress import Exercise
from wslab.runner import BackgroundServer, ServerStartError

__all__ = [
    "GREETING", "SHOUT_PATH", "REPLY_PATH", "WEBSOCKET_CALLS", "BINARY_TO_ECHO", "EXERCISES",
    "WatchedApp", "connection_mistake", "unasserted_comparisons", "unasserted_hint",
    "check_shout", "check_reply", "check_shout_test",
]

SHOUT_PATH = "/ws/shout"
#: Exercise 2: ``{"message": "hi"}`` is answered ``{"reply": "hi", "length": 2}``.
REPLY_PATH = "/ws/reply"

#: How long a check waits for the handshake, and for each answer.
OPEN_TIMEOUT = 3.0
ANSWER_TIMEOUT = 2.0
#: How long a check waits, after its client has left, for the endpoint to return.
END_TIMEOUT = 2.0
#: The check's endpoints for the test exercise close a connection silent for this long.
IDLE_CLOSE = 1.0
#: How long one run of the student's test may take.
TEST_TIMEOUT = 8.0

#: The connection's coroutine methods: a call to one of them without ``await`` does nothing.
WEBSOCKET_CALLS = tuple(name for name, member in inspect.getmembers(WebSocket)
                        if inspect.iscoroutinefunction(member))

_names = itertools.count()


# -- what the server saw --------------------------------------------------------------------------


class WatchedApp:
    """An ASGI app around the student's app that notes how each WebSocket session ended.

    It runs in the server's thread, so it first puts that thread under the loop guard: an
    endpoint stuck in a loop without ``await`` is stopped there instead of holding the server
    (and the check waiting for it) for ever. The exception an endpoint raises is caught here,
    on its way to uvicorn, which would only log it and drop the connection, so the check can
    fail on it and name it.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.started = 0
        self.ended = 0
        self.errors: list[BaseException] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        guard_this_thread()
        self.loop = asyncio.get_running_loop()
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        self.started += 1
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            self.errors.append(exc)
            raise
        finally:
            self.ended += 1

    def raised(self) -> BaseException | None:
        return self.errors[-1] if self.errors else None

    async def all_ended(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every session to end; whether they all did."""
        deadline = time.monotonic() + timeout
        while self.ended < self.started and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.ended >= self.started

    async def unblocked(self, timeout: float = LOOP_LIMIT + 1) -> bool:
        """Wait up to ``timeout`` seconds for the server's loop to run again; whether it did.

        It does not while an endpoint spins without awaiting, until the loop guard stops that
        endpoint. Stopping the server before then would leave its thread running.
        """
        if self.loop is None or self.loop.is_closed():
            return True
        try:
            ran = asyncio.run_coroutine_threadsafe(asyncio.sleep(0), self.loop)
            await asyncio.wait_for(asyncio.wrap_future(ran), timeout)
        except (asyncio.TimeoutError, RuntimeError):
            return False
        return True


def connection_mistake(exc: BaseException) -> str | None:
    """The hint for an exception that names a mistake with the connection itself, or None."""
    said = common_exception(exc)
    if said:
        return said
    text = str(exc)
    if "'coroutine' object" in text:
        return ("A coroutine was used as if it were the message: an await is missing in front "
                "of a call that receives (receive_text(), receive_json(), receive()).")
    if any(words in text for words in ('Need to call "accept" first',
                                       'Expected ASGI message "websocket.accept"')):
        return ("Your endpoint used the connection before accepting it: until await "
                "websocket.accept() has answered the handshake, there is nothing to send to or "
                "receive from.")
    if "once a disconnect message has been received" in text:
        return ("Your endpoint went on receiving after the client had left: once "
                "receive_text() has raised WebSocketDisconnect, the loop must end, not carry on.")
    if "'bytes' object has no attribute 'encode'" in text:
        return ("Your endpoint handed send_text() bytes, where a str is due: text travels as a "
                "str; bytes (from .encode()) are for binary messages.")
    if "once a close message has been sent" in text:
        return "Your endpoint sent something after closing the connection: closing comes last."
    return None


def unasserted_comparisons(test: Any) -> list[str]:
    """Comparisons in ``test``'s source that check nothing: a line of their own, or printed.

    ``websocket.receive_text() == GREETING`` without ``assert`` works out True or False and
    throws it away, so the test passes whatever the endpoint does.
    """
    try:
        tree = ast.parse(source_of(test))
    except SyntaxError:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Compare):
            found.append(ast.unparse(node.value))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "print"):
            found.extend(ast.unparse(arg) for arg in node.args if isinstance(arg, ast.Compare))
    return found


def unasserted_hint(comparisons: list[str]) -> str:
    return (f"`{comparisons[0]}` checks nothing: Python works the comparison out, True or "
            "False, and throws the answer away (print only shows it). A test fails only "
            "through an assert (or an error).")


# -- serving the student's endpoint ---------------------------------------------------------------


def _is_app(value: Any) -> bool:
    return isinstance(value, (FastAPI, APIRouter))


def _websocket_routes(app: FastAPI | APIRouter) -> list[WebSocketRoute]:
    routes = app.routes if isinstance(app, APIRouter) else app.router.routes
    return [route for route in routes if isinstance(route, WebSocketRoute)]


def _code_of(endpoint: Any, path: str) -> Any:
    """The function that holds the student's endpoint code: itself, or its route's endpoint."""
    if _is_app(endpoint):
        return next((route.endpoint for route in _websocket_routes(endpoint)
                     if route.path == path), None)
    return endpoint


def _preflight(endpoint: Any, name: str, path: str) -> None:
    """Raise a Failure for what can be seen before serving: wrong kind, plain def, parameters."""
    if _is_app(endpoint):
        paths = [route.path for route in _websocket_routes(endpoint)]
        if path not in paths:
            raise Failure(
                tried=f"find the WebSocket route {path!r} in your {type(endpoint).__name__}",
                expected=f"a route declared with @....websocket({path!r})",
                got=f"WebSocket routes {paths}" if paths else "no WebSocket route at all",
                hint=f"The check talks to {path!r}: declare the endpoint at that path, or "
                     f"hand the check the endpoint function itself.")
        return
    if not callable(endpoint):
        raise Failure(tried=f"use {shown(endpoint, 60)} as an endpoint",
                      expected="an async def function (or an APIRouter or FastAPI app)",
                      got=f"a {type(endpoint).__name__}",
                      hint=f"The check needs the function itself: {name}, without parentheses.")
    if not inspect.iscoroutinefunction(endpoint):
        raise Failure(tried=f"look at {name}",
                      expected=f"async def {name}(websocket: WebSocket)",
                      got="a plain def",
                      hint="An endpoint awaits the network (accept, receive, send), and only an "
                           "async def can await.")
    try:
        signature = inspect.signature(endpoint, eval_str=True)
    except Exception:
        signature = inspect.signature(endpoint)
    params = list(signature.parameters.values())
    connection = [p for p in params
                  if inspect.isclass(p.annotation) and issubclass(p.annotation, WebSocket)]
    if not connection:
        listed = ", ".join(p.name for p in params) or "none"
        raise Failure(tried=f"look at the parameters of {name}",
                      expected="one parameter annotated WebSocket: (websocket: WebSocket)",
                      got=f"parameters: {listed}",
                      hint="FastAPI hands the connection only to a parameter annotated with "
                           "WebSocket; any other parameter is read from the URL's query string.")


def _app_for(endpoint: Any, path: str) -> Any:
    if isinstance(endpoint, FastAPI):
        return endpoint
    app = FastAPI()
    if isinstance(endpoint, APIRouter):
        app.include_router(endpoint)
    else:
        app.add_api_websocket_route(path, endpoint)
    return app


def _like(student: Any, reference: Callable[..., Any], path: str) -> Any:
    """The reference endpoint, in the form the student handed in."""
    if isinstance(student, APIRouter):
        router = APIRouter()
        router.add_api_websocket_route(path, reference)
        return router
    if isinstance(student, FastAPI):
        app = FastAPI()
        app.add_api_websocket_route(path, reference)
        return app
    return reference


def _what_it_raised(exc: BaseException) -> str:
    if isinstance(exc, WebSocketDisconnect):
        return f"raised WebSocketDisconnect (code {exc.code})"
    first_line = str(exc).strip().partition("\n")[0]
    return f"raised {type(exc).__name__}: {first_line}" if first_line else describe_exception(exc)


class _Conversation:
    """A real client's talk with the served endpoint; every step has a deadline and a report."""

    def __init__(self, server: BackgroundServer, watched: WatchedApp, path: str) -> None:
        self.server, self.watched, self.path = server, watched, path
        self.steps: list[str] = []
        self.ws: Any = None

    @property
    def tried(self) -> str:
        steps = self.steps if len(self.steps) <= 5 else [self.steps[0], "…", *self.steps[-3:]]
        return ", ".join(steps)

    def fail(self, expected: str, got: str, hint: str) -> Failure:
        return Failure(tried=self.tried, expected=expected, got=got, hint=hint)

    def _raised_or_stub(self) -> BaseException | None:
        exc = self.watched.raised()
        if isinstance(exc, NotImplementedError):
            raise NotDone
        return exc

    async def open(self) -> None:
        self.steps.append(f"connect to {self.path}")
        try:
            self.ws = await websockets.connect(self.server.ws_url + self.path,
                                               open_timeout=OPEN_TIMEOUT, close_timeout=1)
        except (TimeoutError, asyncio.TimeoutError):  # the same class from Python 3.11 on
            raise self.fail("the endpoint to accept the connection",
                            f"no answer to the handshake within {OPEN_TIMEOUT:g} s",
                            "The client waits until the endpoint accepts its connection: "
                            "that comes first, before the endpoint waits for anything.") from None
        except websockets.InvalidStatus as exc:
            status = exc.response.status_code
            raised = self._raised_or_stub()
            if raised is not None:
                got = f"HTTP {status}: the endpoint {_what_it_raised(raised)} before accepting"
                hint = (connection_mistake(raised) or "Read the exception: it comes from your "
                        "endpoint, before it accepted the connection.")
            elif status == 403:
                got = "HTTP 403: the server refused the connection"
                hint = ("The endpoint closed the connection before accepting it, or FastAPI "
                        "could not fill its parameters: take exactly one, websocket: WebSocket.")
            else:
                got = f"HTTP {status}: the endpoint returned without accepting the connection"
                hint = ("Your endpoint never accepted the connection: a client is connected "
                        "only once the endpoint has accepted it.")
            raise self.fail("the endpoint to accept the connection", got, hint) from None

    async def send(self, data: str) -> None:
        self.steps.append(f"send {data!r}")
        try:
            await self.ws.send(data)
        except websockets.ConnectionClosed:
            raise self._closed("the connection to stay open",
                               "The endpoint ended before this message.") from None

    async def receive(self, expected: str, hint: str) -> str | bytes:
        self.steps.append("receive")
        try:
            return await asyncio.wait_for(self.ws.recv(), ANSWER_TIMEOUT)
        except asyncio.TimeoutError:
            raise self.fail(expected, f"nothing within {ANSWER_TIMEOUT:g} s", hint) from None
        except websockets.ConnectionClosed:
            raise self._closed(expected, hint) from None

    def _closed(self, expected: str, hint: str) -> Failure:
        code = self.ws.close_code
        raised = self._raised_or_stub()
        if raised is not None:
            return self.fail(expected, f"the connection ended (code {code}): the endpoint "
                             f"{_what_it_raised(raised)}",
                             connection_mistake(raised)
                             or f"Read the exception: it comes from your endpoint. {hint}")
        got = (f"the endpoint closed the connection (code {code})" if code != 1006 else
               "the connection ended without a close frame (code 1006): the endpoint returned")
        return self.fail(expected, got, "When the endpoint returns, its connection ends: keep "
                         "answering in a while True: loop (and after an error, continue the "
                         "loop rather than break or return).")

    async def leave(self) -> None:
        """Close the client, then make sure the endpoint ended without an exception."""
        self.steps.append("close the connection")
        await self.ws.close()
        ended = await self.watched.all_ended(END_TIMEOUT)
        raised = self.watched.raised()
        if isinstance(raised, WebSocketDisconnect):
            raise self.fail("the endpoint to end quietly",
                            f"it {_what_it_raised(raised)} when the client left",
                            "receive_text() raises WebSocketDisconnect when the client leaves, "
                            "and nothing in your endpoint catches it: uvicorn logs it as a "
                            "crash. Catch it (except WebSocketDisconnect) around the loop.")
        if raised is not None:
            raise self.fail("the endpoint to end quietly", f"it {_what_it_raised(raised)}",
                            connection_mistake(raised)
                            or "Read the exception: it comes from your endpoint.")
        if not ended:
            raise self.fail("the endpoint to return once the client left",
                            f"it was still running {END_TIMEOUT:g} s later",
                            "Your endpoint goes on after the client left: when receive_text() "
                            "raises WebSocketDisconnect, leave the loop; do not catch that "
                            "inside the loop and carry on.")


async def _check_endpoint(endpoint: Any, *, name: str, path: str,
                          reference: Callable[..., Any],
                          talk: Callable[[_Conversation], Awaitable[None]],
                          success: str) -> Any:
    async def body() -> str:
        _preflight(endpoint, name, path)
        unawaited = unawaited_calls(_code_of(endpoint, path), WEBSOCKET_CALLS)
        watched = WatchedApp(_app_for(endpoint, path))
        try:
            server = BackgroundServer(watched, name=f"check-{name}-{next(_names)}",
                                      start_timeout=5).start()
        except ServerStartError as exc:
            raise Failure(tried="start a server with your app", expected="it starts",
                          got=str(exc).splitlines()[0],
                          hint="The app's startup code failed: see the message.") from None
        conversation = _Conversation(server, watched, path)
        try:
            await conversation.open()
            try:
                await talk(conversation)
            finally:
                await conversation.ws.close()
            await conversation.leave()
        except Failure as failure:
            await watched.unblocked()
            raised = watched.raised()
            named = connection_mistake(raised) if raised is not None else None
            if unawaited and (raised is None or named):
                # Its symptom is a message that never came, or the connection in a state it
                # would not be in had the call run: name the cause instead.
                failure.hint = missing_await_hint(unawaited)
            elif isinstance(raised, StuckInLoop):
                failure.hint = named or failure.hint
            raise
        finally:
            await watched.unblocked()
            server.stop()
        if unawaited:
            raise Failure(tried=f"read the code of {name}",
                          expected="every call to the connection awaited",
                          got=f"{', '.join(unawaited)} without await",
                          hint=missing_await_hint(unawaited))
        return success

    ok = await run_async_check(name, body, fallback=f"the kit's {name}", timeout=20,
                               student=endpoint)
    return carry_on(ok, endpoint, _like(endpoint, reference, path))


# -- exercise 1: shout ----------------------------------------------------------------------------


async def _talk_shout(talk: _Conversation) -> None:
    got = await talk.receive(f"the greeting {GREETING!r}",
                             "Nothing came after the handshake: the greeting is the endpoint's "
                             "first message, sent as soon as it has accepted, before it waits "
                             "for anything.")
    if got != GREETING:
        raise talk.fail(f"the greeting {GREETING!r}", shown(got), _text_hint(got, GREETING))
    for text in ("hello", "Shout with me, 2 of you!", "again"):
        await talk.send(text)
        want = text.upper()
        got = await talk.receive(repr(want), "Your endpoint sent nothing back for this text: "
                                 "each text it receives gets one answer.")
        if got != want:
            raise talk.fail(repr(want), shown(got), _text_hint(got, want))


def _text_hint(got: str | bytes, want: str) -> str:
    if isinstance(got, bytes):
        return ("That arrived as a binary frame: your endpoint sent bytes (send_bytes(), or a "
                "text turned into bytes with .encode()). Text travels as a str, with "
                "send_text().")
    if got == json.dumps(want):
        return "That is JSON (with quotes): send_json() encodes; send plain text with send_text()."
    if want == GREETING:
        if got == GREETING.upper():
            return ("The greeting went out upper-cased: it is sent as it is; only the answers "
                    "to the client's texts are upper-cased.")
        return ("The greeting must be exactly GREETING: send the constant itself rather than "
                "typing the text again.")
    if got.upper() == want:
        return "The answer is not upper-cased: each text comes back in capitals."
    return "Compare the two exactly, spaces and punctuation included."


async def check_shout(endpoint: Any) -> Any:
    """Exercise 1: greet with :data:`GREETING`, then send back every text in upper case."""
    return await _check_endpoint(endpoint, name="shout", path=SHOUT_PATH,
                                 reference=answers.shout, talk=_talk_shout,
                                 success="it greeted, shouted 3 texts back and ended quietly.")


# -- exercise 2: reply ----------------------------------------------------------------------------


_NOT_JSON_HINT = ("Text that is not JSON gets an error object, not a reply (receive_json() "
                  "raises json.JSONDecodeError for it), and then the loop goes on.")
_SHAPE_HINT = ("Valid JSON is not always an object with a text \"message\": a list, an object "
               "without it, or a number in it each get an error object, not a reply.")

_REPLY_CASES: list[tuple[str, dict[str, Any] | None, str]] = [
    # (what the client sends, the answer expected (None: an error object), hint)
    ('{"message": "hello"}', {"reply": "hello", "length": 5},
     'Answer each {"message": ...} with an object holding the reply and its length.'),
    ('{"message": "naïve café"}', {"reply": "naïve café", "length": 10},
     "The length counts characters, not bytes."),
    ("hello", None, _NOT_JSON_HINT),
    ('["hello"]', None, _SHAPE_HINT),
    ('{"text": "hello"}', None, _SHAPE_HINT),
    ('{"message": 42}', None, _SHAPE_HINT),
    ('{"message": "still there?"}', {"reply": "still there?", "length": 12},
     "After an error, keep the loop going: the client may send something valid next."),
]


def _reply_hint(answer: Any, want: dict[str, Any] | None, hint: str) -> str:
    """The hint for a JSON answer that is not the one due: a wrong field name, or the case's."""
    if not isinstance(answer, dict):
        return (f"Your answer is JSON, but a {type(answer).__name__}, not an object: each "
                "answer is an object with named fields.")
    if want is None:
        if "error" not in answer and "reply" not in answer:
            return (f"An error answer is an object with the field \"error\"; yours has the "
                    f"fields {sorted(answer)}. A program finds a field only by its exact name.")
        return hint
    missing, extra = sorted(set(want) - set(answer)), sorted(set(answer) - set(want))
    if missing and extra:
        return (f"A field name differs: the client looks for {missing}, your answer has "
                f"{extra} instead. A program finds a field only by its exact name.")
    if missing:
        return f"Your answer lacks the field(s) {missing}."
    if isinstance(answer.get("length"), int) and answer["length"] != want["length"] \
            and answer["length"] == len(want["reply"].encode()):
        return "The length counts characters, not bytes: the UTF-8 encoding is longer."
    return hint


async def _talk_reply(talk: _Conversation) -> None:
    for sent, want, hint in _REPLY_CASES:
        await talk.send(sent)
        expected = ('an error object such as {"error": "that was not JSON"}' if want is None
                    else json.dumps(want, ensure_ascii=False))
        got = await talk.receive(expected, hint)
        if isinstance(got, bytes):
            raise talk.fail(expected, f"a binary frame {shown(got, 80)}",
                            "That arrived as a binary frame: your endpoint sent bytes. Answer "
                            "with send_json(...), which sends text.")
        try:
            answer = json.loads(got)
        except json.JSONDecodeError:
            raise talk.fail(expected, f"text that is not JSON: {shown(got, 120)}",
                            "What you sent is not JSON: str() of a dict writes Python (single "
                            "quotes), not JSON. send_json() encodes it.") from None
        if want is None:
            if not (isinstance(answer, dict) and isinstance(answer.get("error"), str)
                    and answer["error"] and "reply" not in answer):
                raise talk.fail(expected, shown(answer), _reply_hint(answer, want, hint))
        elif answer != want:
            raise talk.fail(expected, shown(answer), _reply_hint(answer, want, hint))


async def check_reply(endpoint: Any) -> Any:
    """Exercise 2: answer ``{"reply", "length"}``; answer bad input with ``{"error"}`` and go on."""
    return await _check_endpoint(
        endpoint, name="reply", path=REPLY_PATH, reference=answers.reply, talk=_talk_reply,
        success=f"{len(_REPLY_CASES)} messages answered, 4 bad ones with an error, "
                f"and it ended quietly.")


# -- exercise 3: a TestClient test --------------------------------------------------------------


async def _receive_text(websocket: WebSocket) -> str:
    """receive_text(), but a connection silent for IDLE_CLOSE seconds is closed (1000)."""
    try:
        return await asyncio.wait_for(websocket.receive_text(), IDLE_CLOSE)
    except asyncio.TimeoutError:
        await websocket.close()
        raise WebSocketDisconnect(1000) from None


async def _correct(websocket: WebSocket) -> None:
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
class _Broken:
    endpoint: Callable[[WebSocket], Awaitable[None]]
    does: str
    hint: str


_BROKEN = [
    _Broken(_no_greeting, "never sends the greeting",
            "Your test does not check the greeting, the first thing a client receives."),
    _Broken(_other_greeting, "greets with 'Hello.' instead",
            "Your test checks that a greeting comes, not that it is the right one: compare it "
            "with GREETING."),
    _Broken(_no_shouting, "sends the text back unchanged",
            "Your test does not show that the answers are upper-cased: a text already in "
            "capitals comes back the same from an endpoint that only echoes."),
    _Broken(_only_once, "answers the first text only, then closes",
            "Your test stops after one text: a second one shows that the endpoint keeps going."),
    _Broken(_crashes_on_leave, "crashes with WebSocketDisconnect when the client leaves",
            "Your test does not see the endpoint crash as the client leaves: open the "
            "connection with `with client.websocket_connect(...) as websocket:`; leaving the "
            "with block closes it, and the TestClient re-raises what the endpoint raised then."),
]


def _shout_app(endpoint: Callable[[WebSocket], Awaitable[None]]) -> FastAPI:
    app = FastAPI()
    app.add_api_websocket_route(SHOUT_PATH, endpoint)
    return app


def _run_test(test: Callable[[Any], Any], app: FastAPI) -> tuple[bool, BaseException | None]:
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
    thread.join(TEST_TIMEOUT)
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
    said = common_exception(exc)
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
    """Exercise 3: ``test(client)`` passes on a correct shout endpoint and fails on broken ones."""

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
        finished, exc = _run_test(test, _shout_app(_correct))
        if not finished:
            raise Failure(tried=tried, expected=f"it finishes within {TEST_TIMEOUT:g} s",
                          got="it was still running",
                          hint="Look for a loop that never ends, a sleep, or a "
                               "websocket_connect() used without with: that connection never "
                               "closes, and TestClient waits for it.")
        if isinstance(exc, NotImplementedError):
            raise NotDone
        if exc is not None:
            raise Failure(tried=tried, expected="it passes",
                          got=_what_it_raised(exc) + _where(exc, test),
                          hint=_correct_run_hint(exc))
        unasserted = unasserted_comparisons(test)
        for broken in _BROKEN:
            finished, exc = _run_test(test, _shout_app(broken.endpoint))
            if finished and exc is None:
                raise Failure(tried=f"your test against an endpoint that {broken.does}",
                              expected="it fails (an assert or an error)", got="it passed",
                              hint=unasserted_hint(unasserted) if unasserted else broken.hint)
        if unasserted:  # it failed on each broken endpoint for other reasons, by luck
            raise Failure(tried="read the code of test_shout",
                          expected="every check in an assert", got=", ".join(unasserted),
                          hint=unasserted_hint(unasserted))
        return f"it passes on a correct endpoint and fails on {len(_BROKEN)} broken ones."

    ok = run_check("test_shout", body, fallback="the kit's test_shout", student=test)
    return carry_on(ok, test, answers.test_shout)


# -- the lesson's prediction, and its exercises for the closing summary ------------------------


def _what_came_back(observed: Any) -> str:
    if isinstance(observed, bytes):
        return "a"
    if isinstance(observed, str):
        return "b"
    return "c"


#: Predict, then run: bytes sent to the echo endpoint, whose loop calls ``receive_text()``.
BINARY_TO_ECHO = Question(
    "predict: bytes to the echo endpoint",
    options={"a": "the bytes come back, as a binary message",
             "b": "they come back as text, decoded",
             "c": "the connection breaks, and nothing comes back"},
    classify=_what_came_back,
    why="receive_text() expects a text message; a binary one has bytes where it looks for text, "
        "so it raises KeyError: 'text'. Nothing in the endpoint catches that, so the handler "
        "ends with an exception: uvicorn logs it and drops the connection without a close "
        "frame (1006). The endpoint never gets as far as sending anything back.")

EXERCISES = (
    BINARY_TO_ECHO,
    Exercise("shout", check_shout, reads=("shout",)),
    Exercise("reply", check_reply, reads=("reply",)),
    Exercise("test_shout", check_shout_test, reads=("test_shout",)),
)
