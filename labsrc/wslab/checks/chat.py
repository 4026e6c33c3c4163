"""Elective E2's checks: an endpoint and a chat that bad input cannot break, and tests for it.

- ``reply`` runs on a real server (the harness of core lesson 01's endpoint checks,
  :mod:`wslab.checks.endpoint`) and a real client sends it good and bad JSON on one connection.
- ``read_message`` is compared, case by case, with the kit's own
  :func:`wslab.envelope.read_client_text`, the function the kit's chat server runs on every
  frame, which is built from the lesson's answers (:func:`wslab.envelope.read_message` and
  :func:`wslab.envelope.read_strict`): what it answers is what the student's function must
  answer (the reason in words aside). A wrong answer is named by reproducing the mistake on
  the failing case: a limit that is off by one, characters counted instead of bytes, two rules
  checked in the wrong order...
  The JSON edge cases (NaN, nesting 100,000 deep, half a character) are the lesson's optional
  part, ``read_strict``, checked the same way with the lesson's plain ``read_message`` inside.
- The hardened endpoint runs on a real server with real clients, and eve sends it all the bad
  input of the lesson. It is judged with the kit's ``read_message`` (with a bug planted in it),
  so that a mistake in the previous exercise cannot fail this one. Any exception the student's
  endpoint raised in the server fails it, even when every client heard the right thing: a loop
  without ``break`` on the disconnect event, say, still cleans up, and then crashes.
- Each TestClient test must pass on the hardened endpoint and fail on the lecture's, and on
  every flawed endpoint of its kind (:data:`FLAWS`): one that answers every refusal with the
  same code, one that sends the error and relays the frame anyway, one that sends the error and
  then drops the connection. A test that stops at "an error came" passes on those, so it fails
  the check, with a hint that says what the test left unchecked.

The reference answers the lesson's solutions are built from, and that a student who is stuck
carries on with, are in :mod:`wslab.answers.chat`, except the two readers of a frame, which are
the server's own, in :mod:`wslab.envelope`.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import dataclasses
import inspect
import io
import json
import re
import sys
import threading
from typing import Any, Callable

import websockets
from fastapi import FastAPI, WebSocket

from wslab import envelope
from wslab.answers import chat as answers
from wslab.checks.core import (Case, Failure, Mistake, NotDone, call, carry_on, check_function,
                               common_exception, describe_exception, guard_this_thread,
                               is_kit_object, missing_await_hint, run_async_check, run_check,
                               shown, source_of, unawaited_calls, unawaited_failure)
from wslab.checks.endpoint import (WEBSOCKET_CALLS, WatchedApp, check_served_endpoint,
                                   connection_mistake, unasserted_comparisons, unasserted_hint)
from wslab.checks.predictions import Question
from wslab.checks.progress import Exercise
from wslab.envelope import (RESERVED_FIELDS, Chat, PlainText, Rejected, chat_message,
                            error_message, leave_message, plain_text_message, read_client_text)
from wslab.lecture import create_lecture_app
from wslab.manager import ConnectionManager


# -- exercise 1: reply -------------------------------------------------------------------------

#: Where the check mounts the student's ``reply`` endpoint.
REPLY_PATH = "/ws/reply"

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


async def _talk_reply(talk: Any) -> None:
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
    """Exercise 1: answer ``{"reply", "length"}``; answer bad input with ``{"error"}`` and go on.

    Served and talked to as core lesson 01's ``shout`` is: the endpoint function itself, or an
    ``APIRouter`` or ``FastAPI`` app with a WebSocket route at :data:`REPLY_PATH`.
    """
    return await check_served_endpoint(
        endpoint, name="reply", path=REPLY_PATH, reference=answers.reply, talk=_talk_reply,
        success=f"{len(_REPLY_CASES)} messages answered, 4 bad ones with an error, "
                f"and it ended quietly.")


# -- exercise 2: read_message ------------------------------------------------------------------

#: The refusal codes of the lesson's main rules, and those of its optional part.
CODES = ("not_an_object", "reserved_field", "missing_message", "message_not_text",
         "empty_message", "message_too_long")
STRICT_CODES = ("invalid_json", "invalid_text")


class _AnyReason:
    """What a check expects of a refusal: this code, and some reason a person can read.

    It equals any :class:`Rejected` with that code and a reason that is not blank, so the
    reason can be in the student's own words.
    """

    def __init__(self, code: str) -> None:
        self.code = code

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _AnyReason):
            return other.code == self.code
        return (isinstance(other, Rejected) and other.code == self.code
                and isinstance(other.reason, str) and bool(other.reason.strip()))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Rejected(code={self.code!r}, reason=<any text>)"


class _Looks:
    """Equal to any answer of a shape: lets a :class:`Mistake` recognise a shape of answer."""

    def __init__(self, shape: Callable[[Any], bool]) -> None:
        self.shape = shape

    def __eq__(self, got: object) -> bool:
        return bool(self.shape(got))

    __hash__ = None  # type: ignore[assignment]


def _expected(frame: Any) -> Any:
    return _AnyReason(frame.code) if isinstance(frame, Rejected) else frame


def _kit(text: str, max_bytes: int) -> Any:
    """What the kit's own ``read_client_text`` answers, as the check expects it."""
    return _expected(read_client_text(text, max_bytes))


def _is_plain(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return True
    except (ValueError, RecursionError):
        return False
    return False


# Each function below answers as a read_message with one mistake would: a student's answer
# equal to it, on the case that failed, is that mistake.

def _measured(size: Callable[[str, str], int], too_long: Callable[[int, int], bool]
              ) -> Callable[[str, int], Any]:
    """A reader that measures a line with ``size(message, frame)`` and ``too_long``."""

    def reads(text: str, max_bytes: int) -> Any:
        frame = read_client_text(text, sys.maxsize)
        if isinstance(frame, (Chat, PlainText)) and too_long(size(frame.text, text), max_bytes):
            return _AnyReason("message_too_long")
        return _expected(frame)

    return reads


def _plain_text_unchecked(text: str, max_bytes: int) -> Any:
    return PlainText(text) if _is_plain(text) else _kit(text, max_bytes)


def _blank_not_stripped(text: str, max_bytes: int) -> Any:
    frame = read_client_text(text, max_bytes)
    if not (isinstance(frame, Rejected) and frame.code == "empty_message"):
        return _expected(frame)
    if _is_plain(text):
        return PlainText(text) if text else frame
    message = json.loads(text)["message"]
    return Chat(message) if message else frame


def _missing_before_reserved(text: str, max_bytes: int) -> Any:
    """Rule 4 (no "message") checked before rule 3 (a reserved field)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return _kit(text, max_bytes)
    if isinstance(data, dict) and "message" not in data:
        return _AnyReason("missing_message")
    return _kit(text, max_bytes)


def _reserved_dropped(text: str, max_bytes: int) -> Any:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return _kit(text, max_bytes)
    if isinstance(data, dict):
        data = {name: value for name, value in data.items() if name not in RESERVED_FIELDS}
    return _kit(json.dumps(data), max_bytes)


def _looks(shape: Callable[[Any, Any], bool]) -> Callable[[str, int], Any]:
    """A "mistake" recognised by the shape of the answer (and of the kit's, for the case)."""
    return lambda text, max_bytes: _Looks(
        lambda got: shape(got, read_client_text(text, max_bytes)))


def _is_frame(got: Any) -> bool:
    return isinstance(got, (Chat, PlainText, Rejected))


#: Mistakes any reader can make in what it returns: the shape of the answer.
_SHAPE_MISTAKES = [
    Mistake("Your function returns one of the three classes of wslab.envelope: Chat(text), "
            "PlainText(text) or Rejected(code, reason); not a dict, a str or a tuple of your "
            "own (and None means a return is missing).",
            makes=_looks(lambda got, want: not _is_frame(got))),
    Mistake("Chat and PlainText hold the text itself, a str: not the object json.loads "
            "returned, nor bytes.",
            makes=_looks(lambda got, want: isinstance(got, (Chat, PlainText))
                         and not isinstance(got.text, str))),
    Mistake("The code and the reason are swapped: Rejected takes the code first, then the "
            "reason.", makes=_looks(lambda got, want: isinstance(got, Rejected)
                                    and got.reason in CODES + STRICT_CODES)),
    Mistake("That refusal code is not one of the table's: a code is a fixed word a program "
            "tests, so it must be spelled exactly as in the table.",
            makes=_looks(lambda got, want: isinstance(got, Rejected)
                         and isinstance(want, Rejected)
                         and got.code not in CODES + STRICT_CODES)),
    Mistake("The refusal has no reason: give a sentence a person can read, in your own words.",
            makes=_looks(lambda got, want: isinstance(got, Rejected)
                         and isinstance(want, Rejected) and got.code == want.code)),
]

READ_MESSAGE_MISTAKES = [
    *_SHAPE_MISTAKES,
    Mistake("Plain text (not JSON) gets the same checks as a chat line: blank or too long "
            "plain text is refused too.", makes=_plain_text_unchecked),
    Mistake("A message of only spaces is empty too: test the text without its surrounding "
            "spaces.", makes=_blank_not_stripped),
    Mistake("You measured the whole frame, JSON and all: the limit is about the message "
            "itself. (json.dumps even writes each 'é' as the 6 characters \\u00e9.)",
            makes=_measured(lambda message, frame: len(frame.encode("utf-8")),
                            lambda size, limit: size > limit)),
    Mistake("Off by one at the limit: a message of exactly max_bytes bytes is allowed; only a "
            "longer one is refused.",
            makes=_measured(lambda message, frame: len(message.encode("utf-8")),
                            lambda size, limit: size >= limit)),
    Mistake("You counted characters, not bytes: 'é' is 1 character but 2 bytes in UTF-8, and "
            "the limit is in bytes.",
            makes=_measured(lambda message, frame: len(message),
                            lambda size, limit: size > limit)),
    Mistake("Rules 3 and 4 are checked in the wrong order: an object with a reserved field is "
            "refused for that field, whether or not it also has a \"message\".",
            makes=_missing_before_reserved),
    Mistake("Only the server may set \"client_id\", \"timestamp\" or \"type\": an object with "
            "any of them is refused, not relayed without them (that is how eve forged a system "
            "message).", makes=_reserved_dropped),
    Mistake("Text that is not JSON makes json.loads raise json.JSONDecodeError: catch it, "
            "and the text is plain text.", raises=json.JSONDecodeError),
]

#: (frame, max_bytes, how the call is shown or None, hint). The expected results are not
#: written here: they are whatever the kit's own ``envelope.read_client_text`` answers. The
#: hint is the last resort, when no mistake of ``READ_MESSAGE_MISTAKES`` reproduces the answer.
READ_MESSAGE_TABLE: list[tuple[str, int, str | None, str]] = [
    ('{"message": "hi"}', 100, None, 'A JSON object with a string "message" is a chat line.'),
    ("hello everyone", 100, None,
     "Text that is not JSON at all is the lecture's plain-text fallback: json.loads raises "
     "json.JSONDecodeError for it."),
    ('{"message": "hi", "mood": "happy"}', 100, None,
     'Fields other than "message" are not refused, just dropped: the chat line is only the text.'),
    ("[1, 2, 3]", 100, None,
     "json.loads can return a list, a number, a string, True/False or None: anything that is "
     "not a dict is not_an_object."),
    ("42", 100, None, "A number is valid JSON but not an object: not_an_object."),
    ('"hello"', 100, None, "A JSON string is not an object either: not_an_object."),
    ("null", 100, None, "null becomes None: not_an_object."),
    ("true", 100, None, "true becomes True: not_an_object."),
    ('{"text": "hi"}', 100, None,
     'An object without a "message" field is missing_message (the lecture crashed here with '
     "KeyError)."),
    ('{"message": 42}', 100, None, '"message" must be a str: anything else is message_not_text.'),
    ('{"message": null}', 100, None, '"message": null is not text either: message_not_text.'),
    ('{"message": ["hi"]}', 100, None, "A list is not text: message_not_text."),
    ('{"message": ""}', 100, None, "An empty message is empty_message."),
    ('{"message": "   "}', 100, None, "A message of only spaces is empty too."),
    ("   ", 100, None, "Blank plain text is empty as well."),
    ('{"message": "' + "é" * 51 + '"}', 100,
     "read_message('{\"message\": \"' + 'é' * 51 + '\"}', 100)",
     "51 × 'é' is 102 bytes in UTF-8: over the limit of 100."),
    ("x" * 101, 100, "read_message('x' * 101, 100)",
     "Plain text has the same size limit as a chat line."),
    ("x" * 100, 100, "read_message('x' * 100, 100)",
     "Exactly max_bytes bytes is still allowed."),
    (json.dumps({"message": "é" * 50}), 100,
     "read_message(json.dumps({'message': 'é' * 50}), 100)",
     "This message is 50 × 'é', exactly 100 bytes in UTF-8: allowed."),
    ('{"message": "hi", "type": "disconnect"}', 100, None,
     'Only the server may set "client_id", "timestamp" or "type": reserved_field.'),
    ('{"message": "hi", "client_id": "system"}', 100, None,
     '"client_id" is reserved too: reserved_field.'),
    ('{"message": "hi", "timestamp": "00:00:00"}', 100, None,
     '"timestamp" is reserved too: reserved_field.'),
    ('{"type": "disconnect"}', 100, None,
     "A reserved field is refused as reserved_field even when \"message\" is missing too: "
     "rule 3 comes before rule 4."),
]


def check_read_message(read_message: Callable[[str, int], Any]) -> Callable[[str, int], Any]:
    """Exercise 2: compare ``read_message`` with the kit's ``read_client_text`` on the table."""
    cases = [Case((text, max_bytes), _kit(text, max_bytes), hint, call=shown_call)
             for text, max_bytes, shown_call, hint in READ_MESSAGE_TABLE]
    return check_function(read_message, cases, name="read_message",
                          reference=envelope.read_message, fallback="the kit's read_message",
                          mistakes=READ_MESSAGE_MISTAKES)


# -- exercise 3: the hardened endpoint ---------------------------------------------------------

#: How long the check waits for one message before it says that nothing came.
WAIT = 2.0
#: The size limit the check passes to the student's app (smaller than the lesson's).
CHECK_LIMIT = 200
#: The text that makes the check's wrapper around ``read_message`` raise, as a bug would.
PLANTED_BUG = "please trip the planted bug"
_TIMESTAMP = re.compile(r"\d\d:\d\d:\d\d")

#: Coroutine methods of the connection and of the manager: a call without await does nothing.
ASYNC_CALLS = WEBSOCKET_CALLS + tuple(
    name for name, member in inspect.getmembers(ConnectionManager)
    if inspect.iscoroutinefunction(member) and not name.startswith("_"))

NO_BREAK = ("Your loop went on after the \"websocket.disconnect\" event and called receive() "
            "again, which raises once the client has gone: the server logged it, after your "
            "cleanup had run. The loop needs a break on that event (and its type spelled "
            "exactly).")


def _planted(read_message: Callable[..., Any]) -> Callable[..., Any]:
    """``read_message``, except that one special text raises, as a bug in it would.

    The exception is a plain ``RuntimeError``, as a student's bug would raise, so that the
    verdict shows nothing of the kit's inside; it is told apart by :func:`_is_planted`.
    """

    def wrapped(text: str, *args: Any, **kwargs: Any) -> Any:
        if PLANTED_BUG in text:
            bug = RuntimeError("a bug in read_message")
            bug.planted_by_the_check = True  # type: ignore[attr-defined]
            raise bug
        return read_message(text, *args, **kwargs)

    return wrapped


def _is_planted(exc: BaseException) -> bool:
    """Whether ``exc`` is the bug the check planted (an endpoint may let it through)."""
    return bool(getattr(exc, "planted_by_the_check", False))


def _endpoint_mistake(exc: BaseException) -> str | None:
    """The hint for an exception the hardened endpoint raised in the server, if it names one."""
    text = str(exc)
    if "once a disconnect message has been received" in text:
        return NO_BREAK
    if isinstance(exc, KeyError) and exc.args:
        key = exc.args[0]
        if key == "text":
            return ("A binary frame's event has no 'text' key (it has 'bytes'): tell the two "
                    "apart before reading the text, and answer binary_not_supported.")
        return (f"The event has no key {key!r}: a text frame's event is "
                "{'type': 'websocket.receive', 'text': ...}, a binary frame's has 'bytes' "
                "instead of 'text', and a disconnect is {'type': 'websocket.disconnect', "
                "'code': ...}.")
    if isinstance(exc, AttributeError) and any(kind.__name__ in text
                                               for kind in (Chat, PlainText, Rejected)):
        return ("A field name is wrong: Chat and PlainText keep their text in .text, and "
                "Rejected has .code and .reason.")
    return connection_mistake(exc)


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


class _Run:
    """One run of the exercise-2 check against a real server: each step says what it tried."""

    def __init__(self, server: Any, watched: WatchedApp) -> None:
        self.server, self.watched = server, watched
        self.peers: dict[str, _Peer] = {}

    def own_errors(self) -> list[BaseException]:
        """What the student's endpoint raised in the server, the planted bug left out."""
        return [exc for exc in self.watched.errors if not _is_planted(exc)]

    def failure(self, tried: str, expected: str, got: str, hint: str) -> Failure:
        return Failure(tried=tried, expected=expected, got=got, hint=hint)

    async def explain(self, failure: Failure) -> None:
        """Once every handler has ended, add what the endpoint raised to ``failure``, a step's.

        ``got`` then ends with the first exception the server logged (the later ones are
        often its consequences, as the other handlers end), and an exception of the student's
        that names a mistake (:func:`_endpoint_mistake`) gives the hint. A handler's
        ``finally:`` runs before its exception reaches the server, so a client may hear the
        cleanup before the exception is known: hence the wait.
        """
        await self.close()
        await self.watched.unblocked()
        await self.watched.all_ended(WAIT)
        if self.watched.errors:
            first = self.watched.errors[0]
            failure.got += f"; the server logged: the endpoint {describe_exception(first)}"
        errors = self.own_errors()
        named = _endpoint_mistake(errors[0]) if errors else None
        failure.hint = named or failure.hint

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

    async def leave_quietly(self) -> None:
        """Everyone leaves; then the endpoint must not have raised anything of its own."""
        await self.close()
        await self.watched.all_ended(WAIT)
        errors = self.own_errors()
        if errors:
            raise Failure(tried="the whole conversation above, then everyone leaving",
                          expected="no exception from your endpoint in the server's log",
                          got=f"the endpoint {describe_exception(errors[0])}",
                          hint=_endpoint_mistake(errors[0]) or "Every client heard the right "
                               "thing, but your endpoint raised: read the exception. An "
                               "exception ends a handler before its time.")


#: (what eve sends, how it is described, the code of the error she must get, a hint)
_BAD_FRAMES: list[tuple[str | bytes, str, str, str]] = [
    ("[1, 2, 3]", "eve sends the JSON list [1, 2, 3]", "not_an_object",
     "Each text frame goes through read_message, and what it refuses goes back to the sender "
     "alone, as an error message."),
    ('{"text": "hi"}', 'eve sends {"text": "hi"} (no "message" field)', "missing_message",
     "Whatever read_message refuses goes back to the sender as an error, never to everyone."),
    ('{"message": "I am the system", "type": "disconnect"}',
     'eve sends {"message": "I am the system", "type": "disconnect"} (a forged field)',
     "reserved_field",
     "Never relay the client's dict: refuse it when read_message says so, and build every "
     "outgoing chat line from scratch with chat_message."),
    (json.dumps({"message": "x" * (CHECK_LIMIT + 1)}),
     f"eve sends a message of {CHECK_LIMIT + 1} bytes to an app made with "
     f"max_message_bytes={CHECK_LIMIT}", "message_too_long",
     "The limit is the one create_hardened_app was given, max_message_bytes: pass that one "
     "on to read_message."),
    (b"\x00\x01binary", "eve sends a binary frame", "binary_not_supported",
     "A binary frame's event has 'bytes' instead of 'text': answer it with the error code "
     "binary_not_supported, to eve only."),
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
            hint="A Chat goes to everyone as chat_message(client_id, ...): exactly the "
                 "lecture's three fields, set by the server.")

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
            hint="A PlainText goes to everyone as plain_text_message(client_id, ...).")

    await eve.ws.close()
    for peer in (alice, bob):
        await run.expect(
            peer, lambda m: _is_leave(m, "eve"), tried="eve closes her connection",
            expected='the leave message {"client_id": "system", "type": "disconnect", '
                     '"message": "Client #eve left the chat", ...}',
            hint="When a client leaves, the others hear it: the cleanup removes the connection "
                 "and broadcasts leave_message(client_id, manager.connection_count).")

    await bob.say(PLANTED_BUG)
    first = await bob.next()
    if isinstance(first, dict) and first.get("type") == "error":
        await alice.say("and now?")
        for peer in (alice, bob):
            await run.expect(
                peer, lambda m: _is_chat(m, "alice", "and now?"),
                tried="read_message raises (a bug the check planted); bob got an error "
                      "reply; then alice says 'and now?'",
                expected="both still chat", hint="After an error reply the loop goes on.")
        outcome = "a bug in read_message got an error reply, and the chat went on"
    else:
        await run.expect(
            alice, lambda m: _is_leave(m, "bob"),
            tried="bob sends a line on which read_message raises (a bug the check planted)",
            expected="the leave message 'Client #bob left the chat' (bob's handler cleans "
                     "up as it ends)",
            hint="Your cleanup did not run when your own code raised: it belongs in "
                 "`finally:`, which runs however the handler ends; not after the loop, nor "
                 "in `except WebSocketDisconnect:`.")
        outcome = "a bug in read_message still left no ghost behind"
    return (f"{len(_BAD_FRAMES)} kinds of bad input each got an error to the sender only, the "
            f"others kept chatting and lost nothing; {outcome}; nothing crashed.")


def _is_asgi_app(app: Any) -> bool:
    return callable(app) and not inspect.isclass(app)


async def check_hardened_endpoint(factory: Callable[..., Any]) -> Callable[..., Any]:
    """Exercise 3: run the student's endpoint on a real server, with real clients and bad input.

    Returns the app factory to carry on with: the student's once it passes, else the kit's.
    """
    from wslab.runner import BackgroundServer, ServerStartError  # the runner is for notebooks

    async def body() -> str:
        unawaited = unawaited_calls(factory, ASYNC_CALLS)
        made = f"create_hardened_app(read_message, max_message_bytes={CHECK_LIMIT})"
        app = call(factory, (_planted(envelope.read_message),),
                   {"max_message_bytes": CHECK_LIMIT}, tried=made, expected="a FastAPI app",
                   hint="Keep the signature create_hardened_app(read_message, "
                        "max_message_bytes=...): the check calls it so.")
        if not _is_asgi_app(app):
            raise Failure(tried=made, expected="a FastAPI app", got=shown(app),
                          hint="create_hardened_app builds an app and must return it.")
        watched = WatchedApp(app)
        try:
            server = BackgroundServer(watched, name="e2-check", log_level="info").start()
        except ServerStartError as exc:
            raise Failure(tried="start a server with your app", expected="it starts",
                          got=str(exc).splitlines()[0],
                          hint="The app's startup code failed: see the message.") from None
        run = _Run(server, watched)
        try:
            try:
                detail = await _exercise_endpoint(run)
            except Failure as failure:
                await run.explain(failure)
                if any(isinstance(exc, NotImplementedError) for exc in watched.errors):
                    raise NotDone() from None
                errors = run.own_errors()
                if unawaited and (not errors or connection_mistake(errors[0])):
                    # Its symptom is a message that never came, or the connection in a state
                    # it would not be in had the call run: name the cause instead.
                    failure.hint = missing_await_hint(unawaited)
                raise
            await run.leave_quietly()
        finally:
            await run.close()
            await watched.unblocked()
            server.stop()
        if unawaited:
            raise unawaited_failure("create_hardened_app", unawaited,
                                    "the connection and the manager")
        return detail

    ok = await run_async_check("hardened endpoint", body, student=factory, timeout=30,
                               fallback="the kit's create_hardened_app")
    return carry_on(ok, factory, answers.create_hardened_app)


# -- exercise 4: tests with the TestClient -----------------------------------------------------

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
        guard_this_thread()
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


_ERROR_FIELDS = ('an error is {"client_id": "system", "type": "error", "code": ..., '
                 '"message": ..., "timestamp": ...}')


def _failed_on_hardened_hint(outcome: _Outcome) -> str:
    """Why a test failed on the hardened endpoint, which does everything right."""
    exc = outcome.error
    if outcome.timed_out:
        return ("receive_json() has no timeout: your test waits for a message the endpoint "
                "never sends. Receive only what it must send.")
    said = exc is not None and common_exception(exc)
    if said:
        return said
    if isinstance(exc, KeyError):
        return (f"The reply has no field {exc.args[0]!r} (a wrong field name?): "
                f"{_ERROR_FIELDS}.")
    if isinstance(exc, json.JSONDecodeError):
        return ("receive_json() got text that is not JSON: the endpoint relayed what you sent "
                "as plain text ('Client alice: ...'), because it came as a text frame. "
                "send_bytes() sends a binary frame, send_json() a JSON object.")
    if isinstance(exc, TypeError) and "argument" in str(exc):
        return "Your test must take one argument, app, and use it: TestClient(app)."
    if isinstance(exc, AssertionError):
        return ("One of your asserts does not hold for the hardened endpoint, which does it "
                f"right: compare it with what the endpoint sends; {_ERROR_FIELDS}.")
    return "Read the exception: it comes from your test."


def _ignores_its_app(test: Callable[..., Any]) -> bool:
    """Whether ``test`` never uses its first parameter (the app it is given)."""
    try:
        first = next(iter(inspect.signature(test).parameters))
        tree = ast.parse(source_of(test))
    except (StopIteration, TypeError, ValueError, SyntaxError):
        return False
    body = tree.body[0].body if tree.body and hasattr(tree.body[0], "body") else []
    return not any(isinstance(node, ast.Name) and node.id == first
                   for statement in body for node in ast.walk(statement))


def _passed_on_lecture_hint(test: Callable[..., Any]) -> str:
    unasserted = unasserted_comparisons(test)
    if unasserted:
        return unasserted_hint(unasserted)
    if _ignores_its_app(test):
        return ("Your test never uses the app it is given: it tests another app of its own, so "
                "it cannot tell a flawed endpoint from a fixed one. Build the TestClient on "
                "the app parameter.")
    return ("A test that passes on the flawed endpoint does not test the fix: assert on the "
            "reply's type and code, which only the hardened endpoint sends.")


@dataclasses.dataclass(frozen=True)
class Flaw:
    """An endpoint that refuses bad input, but with one flaw a weak test does not see."""

    name: str
    described: str  # what the endpoint does, as the verdict's "tried" says it
    hint: str  # what a test that passes on it left unchecked


#: The flawed endpoints of :func:`flawed_app`, by name.
FLAWS = {flaw.name: flaw for flaw in (
    Flaw("one code",
         "an endpoint that answers every bad frame with the same error code, 'bad_input'",
         "Your test accepts any error reply: it passed on an endpoint that answers every bad "
         "frame with one code for all. Assert the reply's code as well."),
    Flaw("relays after an error",
         "an endpoint that sends alice the right error, then relays her forged message to "
         "everyone anyway",
         "Your test stops at the error reply: it passed on an endpoint that sends the error "
         "and then relays the forged message anyway. After the error, send a chat line, and "
         "check that the next thing alice receives is that line (its message), not her "
         "forged one."),
    Flaw("drops after an error",
         "an endpoint that answers the binary frame with the right error, then closes the "
         "connection",
         "Your test stops at the error reply: it passed on an endpoint that answers with the "
         "right error and then closes the connection. After the error, check that alice's "
         "connection still works: send a chat line and receive it back."),
)}

#: Each test of the exercise, in the order the check takes them, and the flaws it must catch.
TEST_KINDS = (("test_forged_field_is_refused", ("one code", "relays after an error")),
              ("test_binary_frame_is_refused", ("one code", "drops after an error")))


def flawed_app(flaw: str) -> FastAPI:
    """The hardened endpoint with one of the :data:`FLAWS`: what a weak test lets through."""
    app = FastAPI()
    manager = ConnectionManager()

    @app.websocket("/ws/{client_id}")
    async def websocket_endpoint(websocket: WebSocket, client_id: str) -> None:
        await manager.connect(websocket)
        try:
            while True:
                event = await websocket.receive()
                if event["type"] == "websocket.disconnect":
                    break
                text = event.get("text")
                frame = (Rejected("binary_not_supported", "send text, not binary data")
                         if text is None else envelope.read_message(text, 1000))
                if isinstance(frame, Rejected):
                    code = "bad_input" if flaw == "one code" else frame.code
                    await websocket.send_text(error_message(code, frame.reason))
                    if flaw == "drops after an error":
                        await websocket.close(code=1008)
                        break
                    if flaw == "relays after an error" and text is not None:
                        await manager.broadcast(_as_the_lecture_relays(text, client_id))
                elif isinstance(frame, Chat):
                    await manager.broadcast(chat_message(client_id, frame.text))
                elif isinstance(frame, PlainText):
                    await manager.broadcast(plain_text_message(client_id, frame.text))
        finally:
            manager.disconnect(websocket)
            await manager.broadcast(leave_message(client_id, manager.connection_count))

    return app


def _as_the_lecture_relays(text: str, client_id: str) -> str:
    """What the lecture's endpoint broadcasts for ``text``: the client's dict, two fields added."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return f"Client {client_id}: {text}"
    data.update({"client_id": client_id, "timestamp": "00:00:00"})
    return json.dumps(data)


def _judge_test(test: Any, flaws: tuple[str, ...]) -> None:
    """Raise a Failure unless ``test`` passes on the hardened endpoint, fails on the lecture's
    and on each of ``flaws``, and checks with assert."""
    name = f"{getattr(test, '__name__', repr(test))}(app)"
    if not callable(test):
        raise Failure(tried=f"call {shown(test, 60)}", expected="a test function",
                      got=f"a {type(test).__name__}",
                      hint="Pass the test functions themselves, without calling them.")
    if inspect.iscoroutinefunction(test):
        raise Failure(tried=f"look at {name}", expected="a plain def",
                      got="async def",
                      hint="Your test is declared async def: calling it only makes a "
                           "coroutine, and nothing in it runs. The TestClient's calls are plain "
                           "calls, without await, in a plain def.")
    good = _run_test(test, answers.create_hardened_app())
    if isinstance(good.error, NotImplementedError):
        raise NotDone
    if not good.passed:
        raise Failure(tried=f"{name} with the hardened endpoint (the kit's answer)",
                      expected="the test passes: this endpoint does it right", got=str(good),
                      hint=_failed_on_hardened_hint(good))
    if _run_test(test, create_lecture_app()).passed:
        raise Failure(tried=f"{name} with the lecture's endpoint",
                      expected="the test fails: the lecture's endpoint has exactly this flaw",
                      got="it passed", hint=_passed_on_lecture_hint(test))
    unasserted = unasserted_comparisons(test)
    for flaw in (FLAWS[name] for name in flaws):
        if _run_test(test, flawed_app(flaw.name)).passed:
            raise Failure(tried=f"{name} with {flaw.described}",
                          expected="the test fails: that endpoint is flawed", got="it passed",
                          hint=unasserted_hint(unasserted) if unasserted else flaw.hint)
    if unasserted:  # it failed on the flawed endpoints for another reason, by luck
        raise Failure(tried=f"read the code of {name}", expected="every check in an assert",
                      got=", ".join(unasserted), hint=unasserted_hint(unasserted))


def check_endpoint_tests(*tests: Callable[[Any], None]) -> tuple[Callable[[Any], None], ...]:
    """Exercise 4: each test must pass on the hardened endpoint, and fail on the lecture's and
    on the flawed endpoints of its kind (:data:`TEST_KINDS`).

    Returns the tests to carry on with: the student's once they pass, else the kit's.
    """
    references = (answers.test_forged_field_is_refused, answers.test_binary_frame_is_refused)

    def body() -> str:
        if len(tests) != len(TEST_KINDS):
            order = ", ".join(name for name, _ in TEST_KINDS)
            raise Failure(tried=f"check_endpoint_tests with {len(tests)} argument(s)",
                          expected=f"your {len(TEST_KINDS)} test functions",
                          got=", ".join(shown(test, 60) for test in tests) or "no tests",
                          hint="Pass the test functions themselves, without calling them, in "
                               f"this order: check_endpoint_tests({order}).")
        for test, (_, flaws) in zip(tests, TEST_KINDS):
            _judge_test(test, flaws)
        return ("both tests pass on the hardened endpoint, and fail on the lecture's and on "
                "flawed ones.")

    # The kit's own test among them, if any, is what the check must refuse to pass.
    kit = [test for test in tests if is_kit_object(test)]
    student, *inputs = kit or tests or [None]
    ok = run_check("endpoint tests", body, fallback="the kit's two tests", student=student,
                   inputs=tuple(inputs))
    return carry_on(ok, tests, references)


# -- if you have time: read_strict, the JSON edge cases ----------------------------------------

def _on_frame(reader: Callable[[str, int], Any]) -> Callable[..., Any]:
    """``reader`` for a strict check's arguments: (text, max_bytes, the reader it guards)."""
    return lambda text, max_bytes, *guarded: reader(text, max_bytes)


def _plain_refused(text: str, max_bytes: int) -> Any:
    return _AnyReason("invalid_json") if _is_plain(text) else _kit(text, max_bytes)


def _constants_refused_while_reading(text: str, max_bytes: int) -> Any:
    """A ``parse_constant`` that raises: the text is refused before it is known to be JSON."""

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    try:
        json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError:
        pass
    except (ValueError, RecursionError):
        return _AnyReason("invalid_json")
    return _kit(text, max_bytes)


def _constants_read(text: str, max_bytes: int) -> Any:
    try:
        data = json.loads(text, parse_constant=lambda name: 0.0)
    except (ValueError, RecursionError):
        return _kit(text, max_bytes)
    return _kit(json.dumps(data), max_bytes)


READ_STRICT_MISTAKES = [
    *(Mistake(mistake.hint, makes=_on_frame(mistake.makes)) for mistake in _SHAPE_MISTAKES),
    Mistake("Your parse_constant refuses NaN or Infinity while json.loads is still reading, "
            "before it knows whether the text is JSON at all: note them instead "
            "(found.append), and refuse them only once json.loads has read the whole text.",
            makes=_on_frame(_constants_refused_while_reading)),
    Mistake("json.JSONDecodeError is a kind of ValueError: text that is not JSON at all is "
            "plain text, not invalid_json. Catch JSONDecodeError first, and hand such text "
            "on to read_message.", makes=_on_frame(_plain_refused)),
    Mistake("Python's json.loads reads NaN and Infinity, which are not JSON (a browser's "
            "JSON.parse refuses them): make json.loads refuse them too, even in a field "
            "read_message would drop, and answer invalid_json.",
            makes=_on_frame(_constants_read)),
    Mistake("Nesting that deep makes json.loads raise RecursionError, which is not a "
            "ValueError: catch it too, and answer invalid_json.", raises=RecursionError),
    Mistake("Half of a character makes read_message raise UnicodeEncodeError when it measures "
            "the text: catch it around the call to read_message, and refuse with "
            "invalid_text.", raises=UnicodeEncodeError),
    Mistake("Text that is not JSON makes json.loads raise json.JSONDecodeError: that text is "
            "plain text, for read_message to handle.", raises=json.JSONDecodeError),
    Mistake("json.loads raised ValueError, which is not a json.JSONDecodeError (a number with "
            "thousands of digits raises it, and so does a parse_constant that refuses NaN): "
            "catch it after JSONDecodeError, and answer invalid_json.", raises=ValueError),
]

_DEEP = '{"message": "hi", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
_HUGE_NUMBER = '{"message": "hi", "n": ' + "9" * 5000 + "}"

#: (frame, how the call is shown or None, hint), all with max_bytes 100; as for
#: :data:`READ_MESSAGE_TABLE`, the kit's ``read_client_text`` gives the expected results.
READ_STRICT_TABLE: list[tuple[str, str | None, str]] = [
    ('{"message": "hi"}', None, "A chat line goes through read_message unchanged."),
    ("hello everyone", None,
     "Text that is not JSON at all is still plain text: read_message handles it."),
    ('{"message": "hi", "type": "disconnect"}', None,
     "Everything that is not an edge case is read_message's business: return what it says."),
    ('{"message": NaN}', None, "NaN is not JSON: invalid_json."),
    ('{"message": "hi", "n": Infinity}', None,
     "Infinity is not JSON either, even in a field read_message would drop: invalid_json."),
    ('{"message": -Infinity}', None, "Nor is -Infinity: invalid_json."),
    (_DEEP, "read_strict('{\"message\": \"hi\", \"deep\": ' + '[' * 100_000 + ']' * 100_000 "
            "+ '}', 100)", "JSON nested that deep is invalid_json."),
    (_HUGE_NUMBER, "read_strict('{\"message\": \"hi\", \"n\": ' + '9' * 5000 + '}', 100)",
     "A number with thousands of digits cannot be read safely: invalid_json."),
    ('{"message": "\\ud800"}', None,
     "The JSON escape \\ud800 is half of a character (a lone surrogate): no one could be sent "
     "it, and it is refused as invalid_text."),
    ('{"message": "ok", "nested": [1, [2, [3]]]}', None,
     "A little nesting is fine: only JSON that cannot be read safely is refused."),
    ("Infinity war was great", None,
     "Text that only starts like a constant is not JSON at all: plain text, for read_message."),
    ('{"message": NaN oops', None, "Not JSON at all, though it holds a NaN: plain text."),
]


def check_read_strict(read_strict: Callable[..., Any]) -> Callable[..., Any]:
    """The optional exercise: ``read_strict(text, 100, read_message)`` on the JSON edge cases.

    It is handed the lesson's plain ``read_message`` (:func:`wslab.envelope.read_message`,
    which knows none of the edge cases), so only the guard around it is judged.
    """
    cases = [Case((text, 100, envelope.read_message), _kit(text, 100), hint,
                  call=shown_call or f"read_strict({text!r}, 100)")
             for text, shown_call, hint in READ_STRICT_TABLE]
    return check_function(read_strict, cases, name="read_strict",
                          reference=envelope.read_strict, fallback="the kit's read_strict",
                          mistakes=READ_STRICT_MISTAKES)


# -- the lesson's predictions, and its exercises for the closing summary ------------------------

def _page_line(shown_line: Any) -> str:
    text = str(shown_line)
    if text.startswith("[system line]"):
        return "b"
    if text.startswith("Client eve"):
        return "a"
    return "c"


#: Predict, then run: eve's forged "type": "disconnect", as the lecture's page shows it to bob.
FORGED_LINE = Question(
    "predict: a forged system message",
    options={"a": "an ordinary chat line from eve: \"Client eve: Client #alice left the chat\"",
             "b": "a system line: \"Client #alice left the chat\", as if alice had left",
             "c": "nothing: the server does not relay it"},
    classify=_page_line,
    why="The server overwrites client_id with eve's, but relays every other field the client "
        "sent, \"type\" included. \"type\": \"disconnect\" is exactly what the lecture's page "
        "looks for to draw a system line, so bob reads that alice left, while she is still "
        "there.")


def _where_refused(observed: Any) -> str:
    """(what the TestClient got, what the real server's client heard): who refused the line."""
    by_the_app = ["message_too_long" in str(got) for got in observed]
    if all(by_the_app):
        return "a"
    return "b" if by_the_app[0] else "c"


#: Predict, then run: a 100 kB line through the TestClient, then through a real server.
TEST_CLIENT_LIMITS = Question(
    "predict: TestClient or a real server",
    options={"a": "both times, the error message_too_long from the app",
             "b": "the TestClient gets message_too_long; the real server closes the "
                  "connection (1009) before the app sees the line",
             "c": "both times, the connection is closed with 1009"},
    classify=_where_refused,
    why="The TestClient calls the app directly, in this process: there is no uvicorn, so no "
        "frame limit, and the app's own check refuses the line. On a real server, uvicorn "
        "refuses a frame over its limit (64 KiB in the kit, 16 MiB by default) before the app "
        "sees a byte of it, and closes with 1009, message too big.")

EXERCISES = (
    FORGED_LINE,
    Exercise("reply", check_reply, reads=("reply",)),
    Exercise("read_message", check_read_message, reads=("read_message",)),
    Exercise("hardened endpoint", check_hardened_endpoint, reads=("create_hardened_app",)),
    Exercise("endpoint tests", check_endpoint_tests,
             reads=tuple(name for name, _ in TEST_KINDS)),
    TEST_CLIENT_LIMITS,
    Exercise("read_strict", check_read_strict, reads=("read_strict",)),
)
