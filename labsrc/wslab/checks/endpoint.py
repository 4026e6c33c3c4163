"""Lesson 02's checks: a text endpoint, a JSON endpoint, and a TestClient test of an endpoint.

The endpoint checks serve the student's endpoint with a real uvicorn (a
:class:`~wslab.runner.BackgroundServer`) and talk to it with a real ``websockets`` client, the
way a browser would. Every wait has a deadline, so an endpoint that crashes, never accepts or
never answers is reported as such, never waited for. Whatever the endpoint raises inside the
server is caught on its way out and named in the report, instead of leaving the student with a
closed connection and a log to read.

What the student may hand in, for an endpoint check: the endpoint function itself (an
``async def`` taking ``websocket: WebSocket``; the check mounts it at the exercise's path), or
an ``APIRouter`` or ``FastAPI`` app that has a WebSocket route at that path. A check returns what
the student handed in once it passes, and until then the reference, in the same form, so the
notebook can carry on.

The test check runs the student's test function (``def test_shout(client)``) with a
``TestClient`` against a correct endpoint, where it must pass, and against broken ones, where
it must fail. Those endpoints close a connection that has been silent for
:data:`IDLE_CLOSE` seconds, so a test that waits for a message that never comes fails instead of
hanging.
"""

from __future__ import annotations

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

from wslab.checks.core import (Failure, NotDone, describe_exception, failed, not_done, passed,
                               run_async_check, shown)
from wslab.runner import BackgroundServer, ServerStartError

__all__ = [
    "GREETING", "SHOUT_PATH", "REPLY_PATH", "shout", "reply", "test_shout",
    "check_shout", "check_reply", "check_shout_test",
]

#: Exercise 1: the endpoint's first message, then every text comes back in upper case.
GREETING = "Welcome! I shout back."
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

_names = itertools.count()


# -- the reference answers (the solutions notebook shows this very code) -------------------------


async def shout(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(text.upper())
    except WebSocketDisconnect:
        pass  # the client left: nothing to clean up


async def reply(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            try:
                data = await websocket.receive_json()
            except json.JSONDecodeError:
                await websocket.send_json({"error": "that was not JSON"})
                continue
            if not isinstance(data, dict) or not isinstance(data.get("message"), str):
                await websocket.send_json({"error": 'send an object with a text "message"'})
                continue
            message = data["message"]
            await websocket.send_json({"reply": message, "length": len(message)})
    except WebSocketDisconnect:
        pass


def test_shout(client):
    with client.websocket_connect("/ws/shout") as websocket:
        assert websocket.receive_text() == GREETING
        websocket.send_text("hello")
        assert websocket.receive_text() == "HELLO"
        websocket.send_text("Shout with me!")
        assert websocket.receive_text() == "SHOUT WITH ME!"


test_shout.__test__ = False  # type: ignore[attr-defined]  # not a test of this package


# -- serving the student's endpoint ---------------------------------------------------------------


def _is_app(value: Any) -> bool:
    return isinstance(value, (FastAPI, APIRouter))


def _preflight(endpoint: Any, name: str, path: str) -> None:
    """Raise a Failure for what can be seen before serving: wrong kind, plain def, parameters."""
    if _is_app(endpoint):
        routes = endpoint.routes if isinstance(endpoint, APIRouter) else endpoint.router.routes
        paths = [route.path for route in routes if isinstance(route, WebSocketRoute)]
        if path not in paths:
            raise Failure(
                tried=f"find the WebSocket route {path!r} in your {type(endpoint).__name__}",
                expected=f"a route declared with @....websocket({path!r})",
                got=f"WebSocket routes {paths}" if paths else "no WebSocket route at all",
                hint=f"Declare the endpoint with @router.websocket({path!r}), or hand the "
                     f"check the endpoint function itself.")
        return
    if not callable(endpoint):
        raise Failure(tried=f"use {shown(endpoint, 60)} as an endpoint",
                      expected="an async def function (or an APIRouter or FastAPI app)",
                      got=f"a {type(endpoint).__name__}",
                      hint=f"Pass the function itself: {name} without parentheses.")
    if not inspect.iscoroutinefunction(endpoint):
        raise Failure(tried=f"look at {name}",
                      expected=f"async def {name}(websocket: WebSocket)",
                      got="a plain def",
                      hint="An endpoint awaits the network (await websocket.accept(), ...), so it "
                           "must be declared with async def.")
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


class _Watched:
    """An ASGI app around the student's app that notes how each WebSocket session ended.

    The exception an endpoint raises is caught here, in the server's thread, on its way to
    uvicorn (which would only log it and drop the connection), so the check can name it.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.started = 0
        self.ended = 0
        self.errors: list[BaseException] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
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


def _is_stub(exc: BaseException | None) -> bool:
    return isinstance(exc, NotImplementedError)


class _Conversation:
    """A real client's talk with the served endpoint; every step has a deadline and a report."""

    def __init__(self, server: BackgroundServer, watched: _Watched, path: str, name: str) -> None:
        self.server, self.watched, self.path, self.name = server, watched, path, name
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
        if _is_stub(exc):
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
                            "Call await websocket.accept() first thing in the endpoint; until "
                            "then the client waits.") from None
        except websockets.InvalidStatus as exc:
            status = exc.response.status_code
            raised = self._raised_or_stub()
            if raised is not None:
                got = f"HTTP {status}: the endpoint {_what_it_raised(raised)} before accepting"
                hint = ("Read the exception: it comes from your endpoint. The first call must "
                        "be await websocket.accept().")
            elif status == 403:
                got = "HTTP 403: the server refused the connection"
                hint = ("The endpoint closed the connection before accepting it, or FastAPI "
                        "could not fill its parameters: take exactly one, websocket: WebSocket.")
            else:
                got = f"HTTP {status}: the endpoint returned without accepting the connection"
                hint = "Start the endpoint with await websocket.accept()."
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
                             f"Read the exception: it comes from your endpoint. {hint}")
        got = (f"the endpoint closed the connection (code {code})" if code != 1006 else
               "the connection ended without a close frame (code 1006): the endpoint returned")
        return self.fail(expected, got, "When the endpoint returns, its connection ends: keep "
                         "answering in a while True: loop (and after an error, continue the "
                         "loop rather than break or return).")

    async def leave(self) -> None:
        """Close the client, then make sure the endpoint ended without an exception."""
        self.steps.append("close the connection")
        await self.ws.close()
        deadline = time.monotonic() + END_TIMEOUT
        while self.watched.ended < self.watched.started and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        raised = self.watched.raised()
        if isinstance(raised, WebSocketDisconnect):
            raise self.fail("the endpoint to end quietly",
                            f"it {_what_it_raised(raised)} when the client left",
                            "receive_text() raises WebSocketDisconnect when the client leaves: "
                            "wrap the loop in try: ... except WebSocketDisconnect: pass.")
        if raised is not None:
            raise self.fail("the endpoint to end quietly", f"it {_what_it_raised(raised)}",
                            "Read the exception: it comes from your endpoint.")
        if self.watched.ended < self.watched.started:
            raise self.fail("the endpoint to return once the client left",
                            f"it was still running {END_TIMEOUT:g} s later",
                            "Leave the loop when receive_text() raises WebSocketDisconnect; "
                            "do not catch that and carry on.")


async def _check_endpoint(endpoint: Any, *, name: str, path: str,
                          reference: Callable[..., Any],
                          talk: Callable[[_Conversation], Awaitable[None]],
                          success: str) -> Any:
    async def body() -> str:
        _preflight(endpoint, name, path)
        watched = _Watched(_app_for(endpoint, path))
        try:
            server = BackgroundServer(watched, name=f"check-{name}-{next(_names)}",
                                      start_timeout=5).start()
        except ServerStartError as exc:
            raise Failure(tried="start a server with your app", expected="it starts",
                          got=str(exc).splitlines()[0],
                          hint="The app's startup code failed: see the message.") from None
        try:
            talk_to = _Conversation(server, watched, path, name)
            await talk_to.open()
            try:
                await talk(talk_to)
            finally:
                await talk_to.ws.close()
            await talk_to.leave()
        finally:
            server.stop()
        return success

    fallback = f"wslab.checks.endpoint.{reference.__name__}"
    ok = await run_async_check(name, body, fallback=fallback, timeout=20)
    return endpoint if ok else _like(endpoint, reference, path)


# -- exercise 1: shout ----------------------------------------------------------------------------


async def _talk_shout(talk: _Conversation) -> None:
    got = await talk.receive(f"the greeting {GREETING!r}",
                             "Send the greeting with send_text right after accept(), before "
                             "waiting for anything.")
    if got != GREETING:
        raise talk.fail(f"the greeting {GREETING!r}", shown(got), _text_hint(got, GREETING))
    for text in ("hello", "Shout with me, 2 of you!", "again"):
        await talk.send(text)
        want = text.upper()
        got = await talk.receive(repr(want), "After the greeting, loop: receive_text(), then "
                                 "send_text() the upper-cased text.")
        if got != want:
            raise talk.fail(repr(want), shown(got), _text_hint(got, want))


def _text_hint(got: str | bytes, want: str) -> str:
    if isinstance(got, bytes):
        return "That arrived as a binary frame: send text with send_text(), not send_bytes()."
    if got == json.dumps(want):
        return "That is JSON (with quotes): send_json() encodes; send plain text with send_text()."
    if got.upper() == want and got != want:
        return "Upper-case it: text.upper()."
    return "Compare the two exactly, spaces and punctuation included."


async def check_shout(endpoint: Any) -> Any:
    """Exercise 1: greet with :data:`GREETING`, then send back every text in upper case."""
    return await _check_endpoint(endpoint, name="shout", path=SHOUT_PATH, reference=shout,
                                 talk=_talk_shout,
                                 success="it greeted, shouted 3 texts back and ended quietly.")


# -- exercise 2: reply ----------------------------------------------------------------------------


_NOT_JSON_HINT = ("receive_json() raises json.JSONDecodeError for text that is not JSON: catch "
                  "it, send_json({\"error\": ...}) and go on with the loop (continue).")
_SHAPE_HINT = ("Valid JSON is not always an object with a text \"message\": check "
               "isinstance(data, dict) and isinstance(data.get(\"message\"), str), and answer "
               "{\"error\": ...} when it is not.")

_REPLY_CASES: list[tuple[str, dict[str, Any] | None, str]] = [
    # (what the client sends, the answer expected (None: an error object), hint)
    ('{"message": "hello"}', {"reply": "hello", "length": 5},
     "Read data[\"message\"] and answer "
     "send_json({\"reply\": message, \"length\": len(message)})."),
    ('{"message": "naïve café"}', {"reply": "naïve café", "length": 10},
     "The length is len(message): characters, not bytes."),
    ("hello", None, _NOT_JSON_HINT),
    ('["hello"]', None, _SHAPE_HINT),
    ('{"text": "hello"}', None, _SHAPE_HINT),
    ('{"message": 42}', None, _SHAPE_HINT),
    ('{"message": "still there?"}', {"reply": "still there?", "length": 12},
     "After an error, keep the loop going: the client may send something valid next."),
]


async def _talk_reply(talk: _Conversation) -> None:
    for sent, want, hint in _REPLY_CASES:
        await talk.send(sent)
        expected = ('an error object such as {"error": "that was not JSON"}' if want is None
                    else json.dumps(want, ensure_ascii=False))
        got = await talk.receive(expected, hint)
        if isinstance(got, bytes):
            raise talk.fail(expected, f"a binary frame {shown(got, 80)}",
                            "Answer with send_json(...): it sends a text frame.")
        try:
            answer = json.loads(got)
        except json.JSONDecodeError:
            raise talk.fail(expected, f"text that is not JSON: {shown(got, 120)}",
                            "Answer with send_json(a_dict), not send_text(str(a_dict)).") from None
        if want is None:
            if not (isinstance(answer, dict) and isinstance(answer.get("error"), str)
                    and answer["error"] and "reply" not in answer):
                raise talk.fail(expected, shown(answer), hint)
        elif answer != want:
            raise talk.fail(expected, shown(answer), hint)


async def check_reply(endpoint: Any) -> Any:
    """Exercise 2: answer ``{"reply", "length"}``; answer bad input with ``{"error"}`` and go on."""
    return await _check_endpoint(
        endpoint, name="reply", path=REPLY_PATH, reference=reply, talk=_talk_reply,
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
            "Start with assert websocket.receive_text() == GREETING, before sending anything."),
    _Broken(_other_greeting, "greets with 'Hello.' instead",
            "Compare the greeting with the exact text: == GREETING."),
    _Broken(_no_shouting, "sends the text back unchanged",
            "Send text with lower-case letters and assert on the upper-cased answer."),
    _Broken(_only_once, "answers the first text only, then closes",
            "Send two texts and check both answers: a correct endpoint keeps going."),
    _Broken(_crashes_on_leave, "crashes with WebSocketDisconnect when the client leaves",
            "Use with client.websocket_connect(...) as websocket: leaving the with block "
            "closes the connection, and TestClient re-raises what the endpoint raised then."),
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
    name = "test_shout"
    fallback = "wslab.checks.endpoint.test_shout"

    def report(*, tried: str, expected: str, got: str, hint: str) -> Callable[[Any], Any]:
        failed(name, tried=tried, expected=expected, got=got, hint=hint, fallback=fallback)
        return test_shout

    if not callable(test):
        return report(tried=f"call {shown(test, 60)}", expected="a function test(client)",
                      got=f"a {type(test).__name__}", hint="Pass the function itself.")
    tried = "your test against a correct shout endpoint"
    finished, exc = _run_test(test, _shout_app(_correct))
    if not finished:
        return report(tried=tried, expected=f"it finishes within {TEST_TIMEOUT:g} s",
                      got="it was still running",
                      hint="Look for a loop that never ends, a sleep, or a websocket_connect() "
                           "used without with: that connection never closes, and TestClient "
                           "waits for it.")
    if isinstance(exc, NotImplementedError):
        not_done(name, fallback)
        return test_shout
    if exc is not None:
        return report(tried=tried, expected="it passes",
                      got=_what_it_raised(exc) + _where(exc, test), hint=_correct_run_hint(exc))
    for broken in _BROKEN:
        finished, exc = _run_test(test, _shout_app(broken.endpoint))
        if finished and exc is None:
            return report(tried=f"your test against an endpoint that {broken.does}",
                          expected="it fails (an assert or an error)", got="it passed",
                          hint=broken.hint)
    passed(name, f"it passes on a correct endpoint and fails on {len(_BROKEN)} broken ones.")
    return test
