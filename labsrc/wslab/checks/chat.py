"""Lesson 04's checks: reading a client's frame, the hardened endpoint, and tests for it.

Also the references the lesson's solutions are built from (``### SOURCE`` lines), and that a
student who is stuck carries on with: :func:`read_message`, :func:`create_hardened_app` and the
two TestClient tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import re
import threading
from typing import Any, Callable

import websockets
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient

from wslab import envelope
from wslab.checks.core import (Case, Failure, NotDone, check_function, describe_exception, failed,
                               not_done, passed, run_async_check, shown)
from wslab.envelope import (Chat, PlainText, Rejected, chat_message, error_message, leave_message,
                            plain_text_message)
from wslab.lecture import create_lecture_app
from wslab.manager import ConnectionManager

#: The lesson's limit for one chat line, in UTF-8 bytes.
MAX_MESSAGE_BYTES = 1000


# -- exercise 1: read_message ------------------------------------------------------------------

def read_message(text: str, max_bytes: int) -> Chat | PlainText | Rejected:
    """Classify one text frame from a client: a chat line, plain text, or refused (and why)."""
    try:
        data = json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError:  # not JSON at all: the lecture's plain-text fallback
        return checked_line(text, max_bytes, PlainText)
    except (ValueError, RecursionError):  # NaN or Infinity, a huge number, nesting too deep
        return Rejected("invalid_json", "that JSON cannot be read safely")
    if not isinstance(data, dict):
        return Rejected("not_an_object", 'send a JSON object like {"message": "hello"}')
    forged = [name for name in ("client_id", "timestamp", "type") if name in data]
    if forged:
        return Rejected("reserved_field", f"only the server sets {', '.join(forged)}")
    if "message" not in data:
        return Rejected("missing_message", 'the object has no "message" field')
    if not isinstance(data["message"], str):
        return Rejected("message_not_text", '"message" must be a string')
    return checked_line(data["message"], max_bytes, Chat)


def refuse_constant(name: str):
    """For ``json.loads(parse_constant=...)``: NaN, Infinity and -Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def checked_line(text: str, max_bytes: int, kind: type) -> Chat | PlainText | Rejected:
    """``kind(text)`` when the text is neither blank nor too long; otherwise the refusal."""
    if not text.strip():
        return Rejected("empty_message", "the message is empty")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate, such as the JSON escape "\ud800"
        return Rejected("invalid_json", "the message is not valid Unicode text")
    if size > max_bytes:
        return Rejected("message_too_long",
                        f"the message is {size} bytes; the limit is {max_bytes}")
    return kind(text)


@dataclasses.dataclass(frozen=True)
class _AnyReason:
    """What a check expects of a refusal: this code, and some reason a person can read."""

    code: str

    def __repr__(self) -> str:
        return f"Rejected(code={self.code!r}, reason=<any text>)"


def _expected(frame: Any) -> Any:
    return _AnyReason(frame.code) if isinstance(frame, Rejected) else frame


def _same_frame(got: Any, want: Any) -> bool:
    if isinstance(want, _AnyReason):
        return (isinstance(got, Rejected) and got.code == want.code
                and isinstance(got.reason, str) and bool(got.reason.strip()))
    return type(got) is type(want) and got == want


_DEEP = '{"message": "hi", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
_HUGE_NUMBER = '{"message": "hi", "n": ' + "9" * 5000 + "}"

#: (frame, max_bytes, how the call is shown or None, hint). The expected results are not
#: written here: they are whatever the kit's own ``envelope.read_client_text`` answers.
READ_MESSAGE_TABLE: list[tuple[str, int, str | None, str]] = [
    ('{"message": "hi"}', 100, None,
     'A JSON object with a string "message" is a chat line: return Chat(text).'),
    ("hello everyone", 100, None,
     "Text that is not JSON at all is the lecture's plain-text fallback: catch "
     "json.JSONDecodeError and return PlainText(text)."),
    ('{"message": "hi", "mood": "happy"}', 100, None,
     'Fields other than "message" are not refused, just dropped: the chat line is only the text.'),
    ("[1, 2, 3]", 100, None,
     "json.loads can return a list, a number, a string, True/False or None: anything that is "
     "not a dict gets the code not_an_object."),
    ("42", 100, None, "A number is valid JSON but not an object: not_an_object."),
    ('"hello"', 100, None, "A JSON string is not an object either: not_an_object."),
    ("null", 100, None, "null becomes None: not_an_object."),
    ("true", 100, None, "true becomes True: not_an_object."),
    ('{"text": "hi"}', 100, None,
     'An object without a "message" field gets missing_message (the lecture crashed here with '
     "KeyError)."),
    ('{"message": 42}', 100, None,
     '"message" must be a str: anything else gets message_not_text.'),
    ('{"message": null}', 100, None, '"message": null is not text either: message_not_text.'),
    ('{"message": ["hi"]}', 100, None, 'A list is not text: message_not_text.'),
    ('{"message": ""}', 100, None, "An empty message gets empty_message."),
    ('{"message": "   "}', 100, None,
     "A message of only spaces is empty too: test text.strip(), not just text."),
    ("   ", 100, None,
     "Blank plain text is empty as well: apply the same checks to plain text as to a chat line."),
    ('{"message": "' + "é" * 51 + '"}', 100,
     "read_message('{\"message\": \"' + 'é' * 51 + '\"}', 100)",
     "Count bytes, not characters: 'é' is 1 character but 2 bytes in UTF-8, so 51 of them are "
     "102 bytes. Use len(text.encode('utf-8')) and refuse with message_too_long."),
    (json.dumps({"message": "é" * 50}), 100,
     "read_message(json.dumps({'message': 'é' * 50}), 100)",
     "Measure the message, not the frame: json.dumps wrote each 'é' as the 6 characters \\u00e9, "
     "but the message itself is 100 bytes, which is allowed (the limit is inclusive)."),
    ("x" * 101, 100, "read_message('x' * 101, 100)",
     "Plain text has the same size limit as a chat line: message_too_long."),
    ("x" * 100, 100, "read_message('x' * 100, 100)",
     "Exactly max_bytes bytes is still allowed: refuse only when the size is greater."),
    ('{"message": "hi", "type": "disconnect"}', 100, None,
     'Only the server may set "client_id", "timestamp" or "type": if any of them is in the '
     "object, refuse with reserved_field (this is how eve forged a system message)."),
    ('{"message": "hi", "client_id": "system"}', 100, None,
     '"client_id" is reserved too: reserved_field.'),
    ('{"message": "hi", "timestamp": "00:00:00"}', 100, None,
     '"timestamp" is reserved too: reserved_field.'),
    ('{"message": NaN}', 100, None,
     "Python's json.loads accepts NaN and Infinity, which are not JSON (a browser's JSON.parse "
     "rejects them). Pass json.loads a parse_constant function that raises ValueError, catch "
     "ValueError after json.JSONDecodeError, and refuse with invalid_json."),
    ('{"message": "hi", "n": Infinity}', 100, None,
     "Infinity is not JSON either, even in a field you would drop: invalid_json."),
    (_DEEP, 100, "read_message('{\"message\": \"hi\", \"deep\": ' + '[' * 100_000 "
                 "+ ']' * 100_000 + '}', 100)",
     "Nesting that deep makes json.loads raise RecursionError: catch it too, and refuse with "
     "invalid_json."),
    (_HUGE_NUMBER, 100, "read_message('{\"message\": \"hi\", \"n\": ' + '9' * 5000 + '}', 100)",
     "A number with thousands of digits makes json.loads raise ValueError (Python limits "
     "int conversion): invalid_json."),
]


def check_read_message(read_message: Callable[[str, int], Any]) -> Callable[[str, int], Any]:
    """Exercise 1: compare ``read_message`` with the kit's ``read_client_text`` on the table."""
    cases = [Case((text, max_bytes), _expected(envelope.read_client_text(text, max_bytes)), hint,
                  call=call)
             for text, max_bytes, call, hint in READ_MESSAGE_TABLE]
    return check_function(read_message, cases, name="read_message",
                          reference=envelope.read_client_text,
                          fallback="wslab.envelope.read_client_text", same=_same_frame)


# -- exercise 2: the hardened endpoint ---------------------------------------------------------

def create_hardened_app(read_message=read_message,
                        max_message_bytes=MAX_MESSAGE_BYTES) -> FastAPI:
    """The lecture's chat, hardened: every frame is checked, and errors go to the sender only."""
    app = FastAPI()
    manager = ConnectionManager()  # lesson 03's manager: one slow or dead client stalls no one
    app.state.manager = manager

    @app.websocket("/ws/{client_id}")
    async def websocket_endpoint(websocket: WebSocket, client_id: str):
        await manager.connect(websocket)
        try:
            while True:
                event = await websocket.receive()  # a dict: text, bytes or a disconnect
                if event["type"] == "websocket.disconnect":
                    break
                if event.get("text") is None:  # a binary frame
                    frame = Rejected("binary_not_supported", "send text, not binary data")
                else:
                    frame = read_message(event["text"], max_message_bytes)
                if isinstance(frame, Rejected):  # to the sender only
                    await manager.send_personal_message(
                        error_message(frame.code, frame.reason), websocket)
                elif isinstance(frame, Chat):  # built from scratch: the server sets the fields
                    await manager.broadcast(chat_message(client_id, frame.text))
                elif isinstance(frame, PlainText):
                    await manager.broadcast(plain_text_message(client_id, frame.text))
        finally:  # however the loop ended: a disconnect, or a bug that raised
            manager.disconnect(websocket)
            await manager.broadcast(leave_message(client_id, manager.connection_count))

    return app


#: How long the check waits for one message before it says that nothing came.
WAIT = 2.0
#: The size limit the check passes to the student's app (smaller than the lesson's).
CHECK_LIMIT = 200
#: The text that makes the check's wrapper around ``read_message`` raise, as a bug would.
PLANTED_BUG = "please trip the planted bug"
_TIMESTAMP = re.compile(r"\d\d:\d\d:\d\d")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Disconnect|Disconnected)\b")


class _Closed:
    """What a client "received" when its connection had ended instead."""

    def __init__(self, exc: websockets.ConnectionClosed) -> None:
        self.code = exc.rcvd.code if exc.rcvd else None
        self.reason = exc.rcvd.reason if exc.rcvd else ""

    def __repr__(self) -> str:
        if self.code is None:
            return "its connection ended without a close frame (did the handler crash?)"
        return f"its connection was closed with code {self.code}" + (
            f" ({self.reason})" if self.reason else "")


class _Nothing:
    def __repr__(self) -> str:
        return f"received nothing within {WAIT:g} s"


class _Peer:
    """One of the check's clients: every wait is bounded."""

    def __init__(self, ws: Any, name: str) -> None:
        self.ws, self.name = ws, name

    async def next(self) -> Any:
        """The next message (a dict if it is JSON), a :class:`_Closed`, or a :class:`_Nothing`."""
        try:
            raw = await asyncio.wait_for(self.ws.recv(), WAIT)
        except asyncio.TimeoutError:
            return _Nothing()
        except websockets.ConnectionClosed as exc:
            return _Closed(exc)
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, TypeError):
            return raw

    async def send(self, frame: str | bytes) -> None:
        """Send a frame; if the connection has ended, the next :meth:`next` will say so."""
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.ws.send(frame)

    async def say(self, text: str) -> None:
        await self.send(json.dumps({"message": text}))


def _as_sent(message: Any, limit: int = 160) -> str:
    """A received message as it came over the wire (JSON again), cut short if it is long."""
    text = json.dumps(message, ensure_ascii=False) if isinstance(message, dict) else repr(message)
    return text if len(text) <= limit else f"{text[:limit - 12]} … (cut)"


def _planted(read_message: Callable[..., Any]) -> Callable[..., Any]:
    """``read_message``, except that one special text raises, as a bug in it would."""

    def wrapped(text: str, *args: Any, **kwargs: Any) -> Any:
        if PLANTED_BUG in text:
            raise RuntimeError("a bug in read_message (planted by the check)")
        return read_message(text, *args, **kwargs)

    return wrapped


def _is_chat(message: Any, sender: str, text: str) -> bool:
    return (isinstance(message, dict) and set(message) == {"message", "client_id", "timestamp"}
            and message["message"] == text and message["client_id"] == sender
            and bool(_TIMESTAMP.fullmatch(str(message["timestamp"]))))


def _is_error(message: Any, code: str) -> bool:
    return (isinstance(message, dict) and message.get("client_id") == "system"
            and message.get("type") == "error" and message.get("code") == code)


def _is_leave(message: Any, who: str) -> bool:
    return (isinstance(message, dict) and message.get("client_id") == "system"
            and message.get("type") == "disconnect"
            and message.get("message") == f"Client #{who} left the chat")


def _server_errors(server: Any) -> list[str]:
    """The exception lines (the last line of each traceback) in a server's log."""
    return [line.strip() for line in server.logs(None) if _EXCEPTION_LINE.match(line)]


class _Run:
    """One run of the exercise-2 check against a real server: each step says what it tried."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.peers: dict[str, _Peer] = {}

    def failure(self, tried: str, expected: str, got: str, hint: str) -> Failure:
        """A :class:`Failure`; ``got`` ends with the server's last logged exception, if any."""
        errors = _server_errors(self.server)
        if errors:
            got += f"; the server logged {errors[-1]}"
        return Failure(tried=tried, expected=expected, got=got, hint=hint)

    async def connect(self, name: str) -> _Peer:
        try:
            ws = await websockets.connect(f"{self.server.ws_url}/ws/{name}", open_timeout=WAIT)
        except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake) as exc:
            raise self.failure(f"connecting to /ws/{name}", "the handshake to be accepted",
                               f"the client's connect() {describe_exception(exc)}",
                               "The endpoint must accept the connection first: keep "
                               "`await manager.connect(websocket)` as its first line.") from None
        self.peers[name] = peer = _Peer(ws, name)
        return peer

    async def expect(self, peer: _Peer, ok: Callable[[Any], bool], *, tried: str, expected: str,
                     hint: str) -> Any:
        message = await peer.next()
        if not ok(message):
            got = (f"{peer.name}: {message!r}" if isinstance(message, (_Closed, _Nothing))
                   else f"{peer.name} received {_as_sent(message)}")
            raise self.failure(tried, f"{peer.name} receives {expected}", got, hint)
        return message

    async def close(self) -> None:
        for peer in self.peers.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(peer.ws.close(), 1)


#: (what eve sends, how it is described, the code of the error she must get, a hint)
_BAD_FRAMES: list[tuple[str | bytes, str, str, str]] = [
    ("[1, 2, 3]", "eve sends the JSON list [1, 2, 3]", "not_an_object",
     "Pass each text frame to read_message and send a Rejected result back to the sender "
     "alone: manager.send_personal_message(error_message(frame.code, frame.reason), websocket)."),
    ('{"text": "hi"}', 'eve sends {"text": "hi"} (no "message" field)', "missing_message",
     "Whatever read_message refuses goes back to the sender as an error, never to everyone."),
    ('{"message": "I am the system", "type": "disconnect"}',
     'eve sends {"message": "I am the system", "type": "disconnect"} (a forged field)',
     "reserved_field",
     "Never relay the client's dict: refuse it when read_message says so, and build every "
     "outgoing chat line with chat_message(client_id, text)."),
    (json.dumps({"message": "x" * (CHECK_LIMIT + 1)}),
     f"eve sends a message of {CHECK_LIMIT + 1} bytes to an app made with "
     f"max_message_bytes={CHECK_LIMIT}", "message_too_long",
     "Call read_message(text, max_message_bytes) with the limit create_hardened_app was given."),
    (b"\x00\x01binary", "eve sends a binary frame", "binary_not_supported",
     "Use event = await websocket.receive(): a binary frame has no 'text' key (event.get('text') "
     "is None); answer it with the error code binary_not_supported, to eve only."),
]


async def _exercise_endpoint(run: _Run) -> str:
    eve = await run.connect("eve")
    alice = await run.connect("alice")
    bob = await run.connect("bob")
    everyone = (eve, alice, bob)

    await alice.say("hello")
    for peer in everyone:
        await run.expect(
            peer, lambda m: _is_chat(m, "alice", "hello"),
            tried='alice sends {"message": "hello"}',
            expected='{"message": "hello", "client_id": "alice", "timestamp": "HH:MM:SS"}',
            hint="Broadcast chat_message(client_id, frame.text) for a Chat: exactly the lecture's "
                 "three fields, set by the server.")

    for n, (frame, what, code, hint) in enumerate(_BAD_FRAMES, 1):
        await eve.send(frame)
        await run.expect(eve, lambda m, code=code: _is_error(m, code), tried=what,
                         expected=f'an error: {{"client_id": "system", "type": "error", '
                                  f'"code": "{code}", ...}}', hint=hint)
        line = f"still there? ({n})"
        await alice.say(line)
        for peer in (alice, bob, eve):
            await run.expect(
                peer, lambda m, line=line: _is_chat(m, "alice", line),
                tried=f"{what}, then alice says {line!r}",
                expected=f"alice's line {line!r} and nothing before it",
                hint="Bad input must not reach the others (no error to everyone, no relay) and "
                     "must not end anyone's connection: the loop goes on after an error reply.")

    await eve.send("just plain text")
    for peer in everyone:
        await run.expect(
            peer, lambda m: m == "Client eve: just plain text",
            tried="eve sends the plain text 'just plain text'",
            expected="the lecture's relay 'Client eve: just plain text'",
            hint="For a PlainText result, broadcast plain_text_message(client_id, frame.text).")

    await eve.ws.close()
    for peer in (alice, bob):
        await run.expect(
            peer, lambda m: _is_leave(m, "eve"), tried="eve closes her connection",
            expected='the leave message {"client_id": "system", "type": "disconnect", '
                     '"message": "Client #eve left the chat", ...}',
            hint="Break out of the loop on a 'websocket.disconnect' event, and in the finally "
                 "block disconnect the socket and broadcast leave_message(client_id, "
                 "manager.connection_count).")

    await bob.say(PLANTED_BUG)
    first = await bob.next()
    if isinstance(first, dict) and first.get("type") == "error":
        await alice.say("and now?")
        for peer in (alice, bob):
            await run.expect(
                peer, lambda m: _is_chat(m, "alice", "and now?"),
                tried="read_message raises (a bug planted by the check); bob got an error "
                      "reply; then alice says 'and now?'",
                expected="both still chat", hint="After an error reply the loop goes on.")
        outcome = "a bug in read_message got an error reply, and the chat went on"
    else:
        await run.expect(
            alice, lambda m: _is_leave(m, "bob"),
            tried="bob sends a line on which read_message raises (a bug planted by the check)",
            expected="the leave message 'Client #bob left the chat' (bob's handler cleans "
                     "up as it ends)",
            hint="Put the cleanup in `finally:`, not after the loop or in `except "
                 "WebSocketDisconnect:`, so that it runs however the handler ends, even when "
                 "your own code raises.")
        outcome = "a bug in read_message still left no ghost behind"
    return (f"{len(_BAD_FRAMES)} kinds of bad input each got an error to the sender only, the "
            f"others kept chatting and lost nothing; {outcome}.")


async def check_hardened_endpoint(factory: Callable[..., Any],
                                  read_message: Callable[[str, int], Any]) -> Callable[..., Any]:
    """Exercise 2: run the student's endpoint on a real server, with real clients and bad input.

    Returns the app factory to carry on with: the student's once it passes, else the kit's.
    """
    from wslab.runner import BackgroundServer  # imported here: the runner is for notebooks

    async def body() -> str:
        try:
            app = factory(_planted(read_message), max_message_bytes=CHECK_LIMIT)
        except NotImplementedError:
            raise NotDone() from None
        except Exception as exc:
            raise Failure(tried=f"create_hardened_app(read_message, "
                                f"max_message_bytes={CHECK_LIMIT})",
                          expected="an app", got=describe_exception(exc),
                          hint="Keep the signature create_hardened_app(read_message, "
                               "max_message_bytes=...) and return the FastAPI app.") from None
        server = BackgroundServer(app, name="lesson04-check", log_level="info").start()
        run = _Run(server)
        try:
            return await _exercise_endpoint(run)
        except Failure:
            if any("NotImplementedError" in line for line in _server_errors(server)):
                raise NotDone() from None
            raise
        finally:
            await run.close()
            server.stop()

    ok = await run_async_check("hardened endpoint", body,
                               fallback="wslab.checks.chat.create_hardened_app", timeout=30)
    return factory if ok else create_hardened_app


# -- exercise 3: tests with the TestClient -----------------------------------------------------

def test_forged_field_is_refused(app):
    """A client that sets a field only the server may set gets an error, and is not relayed."""
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_json({"message": "hi", "type": "disconnect"})
            reply = alice.receive_json()
            assert reply["client_id"] == "system" and reply["type"] == "error", reply
            assert reply["code"] == "reserved_field", reply


def test_binary_frame_is_refused(app):
    """A binary frame gets an error reply, and the connection still works afterwards."""
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_bytes(b"\x00\x01")
            reply = alice.receive_json()
            assert reply["type"] == "error" and reply["code"] == "binary_not_supported", reply
            alice.send_json({"message": "still here"})
            assert alice.receive_json()["message"] == "still here"


#: How long one student test may run before the check ends it.
TEST_TIMEOUT = 3.0


class _Watched:
    """An ASGI app wrapped so the check can end a test stuck in ``receive_json()``.

    The TestClient has no receive timeout: a test that waits for a message the app never sends
    waits forever. The wrapper keeps each connection's ``send`` (and the loop it runs on) so
    that, when time is up, it can close the connection from the app's side; the waiting
    ``receive_json()`` then raises ``WebSocketDisconnect`` and the test ends.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._sessions: list[tuple[asyncio.AbstractEventLoop, Any]] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # app.state and the like, for the student's test
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            with self._lock:
                self._sessions.append((asyncio.get_running_loop(), send))
        await self.app(scope, receive, send)

    def end_sessions(self) -> None:
        with self._lock:
            sessions = list(self._sessions)
        for loop, send in sessions:
            close = {"type": "websocket.close", "code": 1011, "reason": "the check's time is up"}
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(send(close), loop).result(1)


@dataclasses.dataclass
class _Outcome:
    passed: bool = False
    error: BaseException | None = None
    timed_out: bool = False

    def __str__(self) -> str:
        if self.timed_out:
            return (f"it was still waiting after {TEST_TIMEOUT:g} s (a receive_json() for a "
                    "message that never came)")
        if self.error is None:
            return "it passed"
        if isinstance(self.error, AssertionError):
            detail = str(self.error)
            return f"AssertionError: {shown(detail, 200) if detail else 'an assert failed'}"
        return describe_exception(self.error)


def _run_test(test: Callable[[Any], None], app: Any) -> _Outcome:
    """Run one test function on ``app`` in a thread of its own, with a time limit."""
    watched = _Watched(app)
    outcome = _Outcome()

    def target() -> None:
        try:
            test(watched)
            outcome.passed = True
        except BaseException as exc:  # the test's verdict, whatever it is
            outcome.error = exc

    thread = threading.Thread(target=target, name=f"check {getattr(test, '__name__', 'test')}",
                              daemon=True)
    # The lecture's app print()s, and the TestClient logs: none of that belongs in the verdict.
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        thread.start()
        thread.join(TEST_TIMEOUT)
        if thread.is_alive():
            outcome.timed_out = True
            watched.end_sessions()
            thread.join(2.0)
    return outcome


def check_endpoint_tests(*tests: Callable[[Any], None]) -> tuple[Callable[[Any], None], ...]:
    """Exercise 3: each test must pass on the hardened endpoint and fail on the lecture's.

    Returns the tests to carry on with: the student's once they pass, else the kit's.
    """
    name = "endpoint tests"
    references = (test_forged_field_is_refused, test_binary_frame_is_refused)
    fallback = "wslab.checks.chat's two tests"
    if not tests:
        failed(name, tried="check_endpoint_tests()", expected="your test functions",
               got="no tests", hint="Pass the test functions themselves, without calling "
               "them: check_endpoint_tests(test_forged_field_is_refused, ...).",
               fallback=fallback)
        return references
    for test in tests:
        call = f"{getattr(test, '__name__', repr(test))}(app)"
        good = _run_test(test, create_hardened_app())
        if isinstance(good.error, NotImplementedError):
            not_done(name, fallback)
            return references
        if not good.passed:
            failed(name, tried=f"{call} with the hardened endpoint (wslab's reference)",
                   expected="the test passes: this endpoint does it right", got=str(good),
                   hint="Compare your asserts with what the endpoint sends: an error is "
                        '{"client_id": "system", "type": "error", "code": ..., "message": ...}. '
                        "Use `with TestClient(app) as client:` and receive only messages the "
                        "endpoint must send (receive_json() has no timeout).",
                   fallback=fallback)
            return references
        bad = _run_test(test, create_lecture_app())
        if bad.passed:
            failed(name, tried=f"{call} with the lecture's endpoint",
                   expected="the test fails: the lecture's endpoint has exactly this flaw",
                   got="it passed", hint="A test that passes on the flawed endpoint does not "
                   "test the fix: assert on the reply's type and code, which only the hardened "
                   "endpoint sends.", fallback=fallback)
            return references
    if len(tests) == 1:
        passed(name, "your test passes on the hardened endpoint and fails on the lecture's.")
    else:
        count = "both tests" if len(tests) == 2 else f"all {len(tests)} tests"
        passed(name, f"{count} pass on the hardened endpoint and fail on the lecture's.")
    return tests
