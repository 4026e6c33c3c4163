"""Lesson 01's checks: the lecture's ``main.py`` served by ``uvicorn main:app``, and an endpoint.

The ``main.py`` check does what the student would do in a terminal: it starts ``uvicorn
main:app`` in the file's folder, as a process of its own (:class:`~wslab.app_process.AppProcess`),
asks the health check ``GET /`` over HTTP, and talks to the echo endpoint with a real
``websockets`` client. Before that it imports the file into the kernel, so a file Python cannot
read, or one that fails as it is imported, is named with its line instead of a server that does
not start; the ``app`` it imported is what the notebook carries on with once the check passes.

The endpoint check serves the student's endpoint with a real uvicorn (a
:class:`~wslab.runner.BackgroundServer`) and talks to it with a real ``websockets`` client, the
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

:class:`WatchedApp`, :func:`connection_mistake`, :func:`unasserted_comparisons` and
:func:`unasserted_hint` are used by the chat lesson's checks too.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.util
import io
import inspect
import itertools
import json
import os
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Awaitable, Callable, Mapping

import httpx2
import websockets
from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from starlette.routing import Route, WebSocketRoute

from wslab.answers import endpoint as answers
from wslab.answers.endpoint import GREETING, HEALTH
from wslab.app_process import AppProcess, AppStartError
from wslab.checks.core import (LOOP_LIMIT, Failure, NotDone, StuckInLoop, carry_on,
                               common_exception, describe_exception, guard_this_thread,
                               last_verdict, missing_await_hint, run_async_check, shown,
                               source_of, unawaited_calls, unawaited_failure, what_it_raised)
from wslab.checks.predictions import Question
from wslab.checks.progress import Exercise
from wslab.runner import BackgroundServer, ServerStartError

__all__ = [
    "GREETING", "HEALTH", "SHOUT_PATH", "ECHO_PATH", "WEBSOCKET_CALLS", "BINARY_TO_ECHO",
    "EXERCISES", "WatchedApp", "connection_mistake", "unasserted_comparisons", "unasserted_hint",
    "check_main_py", "check_shout", "check_served_endpoint", "MainFileExercise",
]

SHOUT_PATH = "/ws/shout"
#: The echo endpoint of ``main.py``; its health check answers ``GET /`` with :data:`HEALTH`.
ECHO_PATH = "/ws/echo"

#: How long a check waits for the handshake, and for each answer.
OPEN_TIMEOUT = 3.0
ANSWER_TIMEOUT = 2.0
#: How long a check waits, after its client has left, for the endpoint to return.
END_TIMEOUT = 2.0
#: How long the main.py check waits for ``uvicorn main:app`` to answer.
START_TIMEOUT = 10.0

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
                got = f"HTTP {status}: the endpoint {what_it_raised(raised)} before accepting"
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
                             f"{what_it_raised(raised)}",
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
                            f"it {what_it_raised(raised)} when the client left",
                            "receive_text() raises WebSocketDisconnect when the client leaves, "
                            "and nothing in your endpoint catches it: uvicorn logs it as a "
                            "crash. Catch it (except WebSocketDisconnect) around the loop.")
        if raised is not None:
            raise self.fail("the endpoint to end quietly", f"it {what_it_raised(raised)}",
                            connection_mistake(raised)
                            or "Read the exception: it comes from your endpoint.")
        if not ended:
            raise self.fail("the endpoint to return once the client left",
                            f"it was still running {END_TIMEOUT:g} s later",
                            "Your endpoint goes on after the client left: when receive_text() "
                            "raises WebSocketDisconnect, leave the loop; do not catch that "
                            "inside the loop and carry on.")


async def check_served_endpoint(endpoint: Any, *, name: str, path: str,
                                reference: Callable[..., Any],
                                talk: Callable[[_Conversation], Awaitable[None]],
                                success: str) -> Any:
    """Serve the student's ``endpoint`` at ``path`` on a real server and ``talk`` to it.

    The harness of every endpoint exercise (this lesson's ``shout``, elective E2's ``reply``):
    the server's log is watched, so an exception from the student's code fails the check even
    when the clients heard the right thing.
    """

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
            raise unawaited_failure(name, unawaited)
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
    return await check_served_endpoint(endpoint, name="shout", path=SHOUT_PATH,
                                 reference=answers.shout, talk=_talk_shout,
                                 success="it greeted, shouted 3 texts back and ended quietly.")


# -- exercise 1: main.py, served by uvicorn main:app ----------------------------------------------

#: The stub of the exercise: while it is still in main.py and no health check answers, the
#: exercise is not done yet, rather than wrong.
MAIN_STUB = 'NotImplementedError("exercise: main.py")'
#: The routes FastAPI adds to every app by itself: not the student's.
_FASTAPI_OWN = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")


def _http_paths(app: Any) -> list[str]:
    routes = getattr(getattr(app, "router", None), "routes", [])
    return [route.path for route in routes
            if isinstance(route, Route) and route.path not in _FASTAPI_OWN]


def _where_in(exc: BaseException, file: Path) -> str:
    """``, at line N: <code>``, for the innermost line of ``file`` the traceback passes through."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if Path(frame.filename).resolve() == file.resolve()]
    if not frames:
        return ""
    frame = frames[-1]
    return f", at line {frame.lineno}: {frame.line}" if frame.line else f", at line {frame.lineno}"


def _server_started_on_import(tree: ast.Module) -> ast.Call | None:
    """A call to ``uvicorn.run`` (or ``run``) that runs as the module is imported, if any.

    Calls inside functions, and under ``if __name__ == "__main__":``, do not run on import.
    """
    def runs_on_import(node: ast.AST) -> bool:
        return not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                      ast.ClassDef))
                    or (isinstance(node, ast.If) and "__name__" in ast.unparse(node.test)))

    todo = [node for node in tree.body if runs_on_import(node)]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("uvicorn.run", "run"):
            return node
        todo.extend(child for child in ast.iter_child_nodes(node) if runs_on_import(child))
    return None


def _import_main(file: Path, source: str) -> ModuleType:
    """Import ``file`` into the kernel, afresh, as uvicorn will in its process."""
    tried = f"import {file.name}, as uvicorn {file.stem}:app does first"
    try:
        tree = ast.parse(source, filename=str(file))
    except SyntaxError as exc:
        raise Failure(tried=tried, expected="Python that runs",
                      got=f"SyntaxError at line {exc.lineno}: {exc.msg}",
                      hint=f"Python cannot read {file.name}: fix the line the error names, "
                           "then run the %%writefile cell again, to write the file anew.") from None
    serving = _server_started_on_import(tree)
    if serving is not None:
        raise Failure(tried=tried, expected="it defines app, and serves nothing yet",
                      got=f"line {serving.lineno}: {ast.unparse(serving)}",
                      hint=f"{file.name} starts a server itself as it is imported: uvicorn "
                           f"{file.stem}:app imports the file and serves app on its own. Leave "
                           "that call out (in a notebook it cannot run at all).")
    spec = importlib.util.spec_from_file_location(file.stem, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except NotImplementedError:
        raise NotDone from None
    except (Exception, SystemExit) as exc:  # the student's file failed: report it
        got = describe_exception(exc) + _where_in(exc, file)
        if isinstance(exc, SystemExit):
            hint = f"{file.name} ends the program as it is imported: leave exit() out."
        else:
            hint = (common_exception(exc) or f"{file.name} raised an exception as it was "
                    "imported, before any server could serve it: read the line it names.")
        raise Failure(tried=tried, expected="it defines app, and nothing fails",
                      got=got, hint=hint) from None
    return module


def _health_hint(got: Any) -> str:
    if got is None:
        return ("Your health check answered null, JSON's None: its function returned nothing. "
                "print() only writes to the server's log; the client gets what you return.")
    if isinstance(got, str):
        return ("Your health check answered a JSON string, not an object: return the dict, "
                "{\"message\": ...}, and FastAPI sends it as a JSON object.")
    if not isinstance(got, dict):
        return (f"Your health check answered a JSON {type(got).__name__}, not an object: "
                "return a dict with the one field \"message\".")
    if set(got) != set(HEALTH):
        return (f"A field name differs: the answer has the one field \"message\"; yours has "
                f"{sorted(got)}. A program finds a field only by its exact name.")
    return ("The text differs from the lecture's: a script or a load balancer that checks the "
            "answer compares it exactly, spaces, case and punctuation included.")


async def _logged_error(process: AppProcess, patience: float = 1.0) -> str | None:
    """The exception the server logs, once it has: uvicorn sends the 500 first, then logs."""
    deadline = time.monotonic() + patience
    while (error := process.last_error()) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return error


async def _ask_health(process: AppProcess, source: str, app: Any) -> None:
    tried = f"uvicorn {process.target}, then GET /"
    expected = f"200 OK and the JSON {json.dumps(HEALTH)}"
    try:
        async with httpx2.AsyncClient(timeout=ANSWER_TIMEOUT) as client:
            response = await client.get(process.url + "/")
    except httpx2.HTTPError as exc:
        raise Failure(tried=tried, expected=expected,
                      got=f"no answer within {ANSWER_TIMEOUT:g} s ({type(exc).__name__})",
                      hint="The health check never answered: it returns at once, waiting for "
                           "nothing.") from None
    status = f"{response.status_code} {response.reason_phrase}"
    paths = _http_paths(app)
    error = await _logged_error(process) if response.status_code >= 500 else None
    if response.status_code != 200:
        if MAIN_STUB in source and (not paths or (error and "NotImplementedError" in error)):
            raise NotDone
        if response.status_code == 404:
            got = f"{status}; the HTTP routes of your app: {paths or 'none'}"
            hint = ("Nothing answers GET /: the health check is an HTTP route at \"/\", "
                    "declared with @app.get(\"/\") right above its function "
                    "(@app.websocket is for WebSocket connections only).")
        elif response.status_code == 405:
            got = status
            hint = ("The route at \"/\" does not take GET, the method a browser or a health "
                    "probe uses: declare it with @app.get(\"/\").")
        elif response.status_code >= 500:
            got = f"{status}; the server's log says: {error or 'no exception'}"
            hint = ("Your health check raised an exception, so the server answered 500: the "
                    "last line of its log, here under got, names it.")
        else:
            got, hint = status, "The health check answers 200 OK: return the dict, nothing else."
        raise Failure(tried=tried, expected=expected, got=got, hint=hint)
    try:
        answer = response.json()
    except ValueError:
        raise Failure(tried=tried, expected=expected,
                      got=f"{status}, not JSON: {shown(response.text, 120)}",
                      hint="The answer is not JSON: return the dict itself, and FastAPI "
                           "encodes it.") from None
    if answer != HEALTH:
        if answer is None and "print(" in source:
            hint = ("Your health check printed its answer and returned None: print() only "
                    "writes to the server's log. The client gets what the function returns.")
        else:
            hint = _health_hint(answer)
        raise Failure(tried=tried, expected=expected, got=f"{status}, {json.dumps(answer)}",
                      hint=hint)


async def _talk_echo(process: AppProcess, unawaited: list[str]) -> None:
    url = process.ws_url + ECHO_PATH
    steps = [f"connect to {ECHO_PATH}"]

    def fail(expected: str, got: str, hint: str) -> Failure:
        if unawaited:
            hint = missing_await_hint(unawaited)
        return Failure(tried=", ".join(steps), expected=expected, got=got, hint=hint)

    try:
        ws = await websockets.connect(url, open_timeout=OPEN_TIMEOUT, close_timeout=1)
    except websockets.InvalidStatus as exc:
        code = exc.response.status_code
        raise fail("the echo endpoint to accept the connection", f"HTTP {code}",
                   "The echo endpoint is not there as the cell gives it: keep "
                   "@app.websocket(\"/ws/echo\") and its function." if code in (403, 404) else
                   f"The echo endpoint failed before accepting; the server's log says: "
                   f"{process.last_error()}") from None
    except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake) as exc:
        raise fail("the echo endpoint to accept the connection",
                   f"no handshake ({type(exc).__name__})",
                   "The echo endpoint never accepted the connection: await "
                   "websocket.accept() comes first.") from None
    try:
        for text in ("hello", "Grüße aus dem Notebook"):
            steps.append(f"send {text!r}")
            await ws.send(text)
            steps.append("receive")
            got = await asyncio.wait_for(ws.recv(), ANSWER_TIMEOUT)
            if got != text:
                raise fail(repr(text), shown(got),
                           "The echo endpoint sends each text back unchanged, as the cell "
                           "gives it.")
    except asyncio.TimeoutError:
        raise fail("the same text back", f"nothing within {ANSWER_TIMEOUT:g} s",
                   "The echo endpoint sent nothing back: it answers each text with that "
                   "text.") from None
    except websockets.ConnectionClosed:
        raise fail("the same text back", f"the connection ended (code {ws.close_code})",
                   f"The echo endpoint ended the connection; the server's log says: "
                   f"{process.last_error() or 'nothing'}") from None
    finally:
        await ws.close()


async def check_main_py(path: str | os.PathLike[str] = "main.py") -> Any:
    """Exercise: ``uvicorn main:app`` serves the file; it answers ``GET /`` and echoes.

    Returns the ``app`` of the student's file once it passes, the kit's until then. The file is
    read afresh each time, so the closing summary runs this check again rather than trusting an
    earlier verdict.
    """
    file = Path(path)
    source = file.read_text(encoding="utf-8", errors="replace") if file.is_file() else ""
    served: list[Any] = []

    async def body() -> str:
        if not file.is_file():
            folder = file.resolve().parent.name
            raise Failure(tried=f"read {file.name} in the folder {folder}/",
                          expected="the file, written by the exercise's cell",
                          got="no such file",
                          hint="Run the cell that starts with %%writefile main.py: that line "
                               "writes the rest of the cell into the file.")
        module = _import_main(file, source)
        app = getattr(module, "app", None)
        if app is None:
            raise Failure(tried=f"find app in {file.name}", expected="app = FastAPI()",
                          got=f"no variable app in {file.name}",
                          hint=f"uvicorn {file.stem}:app serves the variable named app in "
                               f"{file.name}: keep app = FastAPI() under that name.")
        if app is answers.app:
            raise Failure(tried=f"look at the app of {file.name}", expected="an app of yours",
                          got="the kit's own app, imported from wslab",
                          hint="main.py imports the kit's answer: write the health check in "
                               "the file itself.")
        unawaited = unawaited_calls(module, WEBSOCKET_CALLS)
        process = AppProcess(f"{file.stem}:app", directory=file.resolve().parent,
                             name=f"check-main-{next(_names)}", start_timeout=START_TIMEOUT)
        try:
            process.start()
        except AppStartError as exc:
            raise Failure(tried=f"uvicorn {file.stem}:app", expected="it starts and answers",
                          got=str(exc).splitlines()[0],
                          hint="uvicorn could not serve the file: the reason is under got.") \
                from None
        try:
            await _ask_health(process, source, app)
            await _talk_echo(process, unawaited)
        finally:
            process.stop()
        if unawaited:
            raise unawaited_failure(file.name, unawaited)
        served.append(app)
        return f"served by uvicorn {file.stem}:app, it answered GET / and echoed at {ECHO_PATH}."

    judged = (str(file), source)
    _judged_main[:] = [judged]
    ok = await run_async_check("main.py", body, fallback="the kit's app", timeout=30,
                               student=judged[0], inputs=judged[1:])
    return served[0] if ok and served else answers.app


#: What :func:`check_main_py` judged last: the path and the text of the file.
_judged_main: list[tuple[str, str]] = []


class MainFileExercise:
    """The ``main.py`` exercise as the closing summary judges it: the file as it is now.

    An :class:`~wslab.checks.progress.Exercise` judges objects of the notebook, and trusts an
    earlier verdict while they are the same objects. A file is no such object: the student may
    have written it again since its check ran. So the summary trusts the last verdict only
    while the file holds the same text, and checks it again otherwise.
    """

    def __init__(self, path: str = "main.py") -> None:
        self.name = "main.py"
        self.path = path

    async def status(self, namespace: Mapping[str, Any]) -> str:
        file = Path(self.path)
        if _judged_main and file.is_file():
            path, source = _judged_main[-1]
            if path == str(file) and source == file.read_text(encoding="utf-8", errors="replace"):
                known = last_verdict(self.name, _judged_main[-1])
                if known is not None:
                    return known
        quiet = io.StringIO()
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            await check_main_py(self.path)
        return (last_verdict(self.name, _judged_main[-1]) if _judged_main else None) or "failed"

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
    MainFileExercise("main.py"),
    BINARY_TO_ECHO,
    Exercise("shout", check_shout, reads=("shout",)),
)
