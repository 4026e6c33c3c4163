"""The chat's wire format: what a client may send, and every message the server sends.

Pure functions on strings and dicts: no sockets, no clock you cannot replace. The endpoint in
``wslab.chat`` calls :func:`read_client_text` on every text frame and sends what the builders
here return, so the whole wire protocol can be read (and tested) in this one file.

The format is the lecture's, so the lecture's own page works against the kit's server:

- a client sends ``{"message": "..."}``, or plain text;
- chat goes out as ``{"message", "client_id", "timestamp"}``; plain text as ``Client {id}: {text}``;
- someone leaving goes out as ``{"client_id": "system", "type": "disconnect", ...}``.

The welcome carries the connection's secret resume key (``resume``): a second connection with
a name in use is let in only with it (``wslab.room``), and is otherwise refused with the error
``name_taken``.

What the room numbers (chat lines sent as JSON, joins, leaves; ``wslab.history``) carries two
more fields, ``seq`` and ``epoch``, added at the end (:func:`numbered`); a copy sent again
from the history is marked ``"replay": true`` (missed while away) or ``"history": true`` (said
before a newcomer came) (:func:`marked`). The lecture's page reads the fields it knows and
ignores the rest, so it shows them as before.

Everything the kit adds (join, welcome, errors, heartbeat answers) is a message from
``"client_id": "system"`` with its own ``"type"``, so the lecture's page shows it as a line of
text and the kit's page styles it. Only the server sets ``client_id``, ``timestamp`` and
``type`` on what it sends: a client that tries is refused, so no one can forge a system message.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from typing import Any, Union

#: What a client id may look like: it ends up in URLs, log lines and other people's screens.
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

#: The sender of every message the server itself writes.
SYSTEM = "system"

#: Fields only the server may set on a message.
RESERVED_FIELDS = ("client_id", "timestamp", "type")
#: The fields of a chat line, in the lecture's order (see :func:`chat_message`).
CHAT_FIELDS = ("message", "client_id", "timestamp")
#: The fields of a numbered message: its number in the room, and the epoch of that number.
SEQ, EPOCH = "seq", "epoch"
#: The marks of a copy sent from the history: missed while away, or said before one came.
REPLAY, HISTORY = "replay", "history"
#: The mark of a numbered message a client was told already in another way (its welcome listed
#: the person who joined): sent so that its count has no hole, and shown by nobody.
KNOWN = "known"


def timestamp(now: datetime | None = None) -> str:
    """The lecture's timestamp: the server's local wall-clock time as ``HH:MM:SS``."""
    return (now or datetime.now()).strftime("%H:%M:%S")


def encode(message: dict[str, Any]) -> str:
    """Serialise a server message. ``allow_nan=False``: browsers' JSON.parse rejects NaN."""
    return json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def client_id_problem(client_id: str) -> str | None:
    """Say what is wrong with a client id, or return None when it is fine."""
    if not client_id:
        return "the client id is empty"
    if len(client_id) > 64:
        return f"the client id is {len(client_id)} characters long; at most 64 are allowed"
    if not CLIENT_ID_PATTERN.fullmatch(client_id):
        return "the client id may use only letters, digits, '_' and '-'"
    if client_id.lower() == SYSTEM:
        return f"the client id {client_id!r} is reserved for the server's own messages"
    return None


# What a client's text frame turns out to be.

@dataclasses.dataclass(frozen=True)
class Chat:
    """A chat line sent as ``{"message": "..."}``."""
    text: str


@dataclasses.dataclass(frozen=True)
class PlainText:
    """A frame that is not JSON at all: the lecture relays it as ``Client {id}: {text}``."""
    text: str


@dataclasses.dataclass(frozen=True)
class Ping:
    """``{"type": "ping"}``: a browser's heartbeat (browsers cannot send protocol pings)."""


@dataclasses.dataclass(frozen=True)
class Rejected:
    """A frame the server refuses; ``code`` is for programs, ``reason`` for people."""
    code: str
    reason: str


ClientFrame = Union[Chat, PlainText, Ping, Rejected]


def read_client_text(text: str, max_message_bytes: int) -> ClientFrame:
    """Classify one text frame from a client, refusing anything the chat cannot relay.

    The rules are elective E2's answers, run as they are taught: :func:`read_strict` guarding
    :func:`read_message`. The server adds only the browser's heartbeat, ``{"type": "ping"}``,
    which to the lesson's rules is a reserved field.
    """
    frame = read_strict(text, max_message_bytes)
    if (isinstance(frame, Rejected) and frame.code == "reserved_field"
            and json.loads(text) == {"type": "ping"}):
        return Ping()
    return frame


def read_message(text: str, max_bytes: int) -> Chat | PlainText | Rejected:
    """E2's main rules: a chat line, plain text, or refused (and why), in the order checked."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:  # not JSON at all: the lecture's plain-text fallback
        return checked_line(text, max_bytes, PlainText)
    if not isinstance(data, dict):
        return Rejected("not_an_object", f"send a JSON object, not {json_kind(data)}")
    forged = [name for name in RESERVED_FIELDS if name in data]
    if forged:
        return Rejected("reserved_field", f"only the server sets {', '.join(forged)}")
    if "message" not in data:
        return Rejected("missing_message", 'the object has no "message" field')
    if not isinstance(data["message"], str):
        return Rejected("message_not_text", '"message" must be a string of text')
    return checked_line(data["message"], max_bytes, Chat)


def json_kind(value: object) -> str:
    """What JSON value ``value`` was read from, in words: ``a list``, ``null``..."""
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def checked_line(text: str, max_bytes: int, kind: type) -> Chat | PlainText | Rejected:
    """``kind(text)`` when the text is neither blank nor too long (in UTF-8 bytes)."""
    if not text.strip():
        return Rejected("empty_message", "the message is empty")
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        return Rejected("message_too_long",
                        f"the message is {size} bytes long; the limit is {max_bytes}")
    return kind(text)


def read_strict(text: str, max_bytes: int, read_message=read_message
                ) -> Chat | PlainText | Rejected:
    """``read_message``, guarded against JSON that JSON does not allow and half characters."""
    found = []  # NaN and Infinity: Python reads them, JSON (and browsers) do not
    try:
        json.loads(text, parse_constant=found.append)
    except json.JSONDecodeError:  # not JSON at all, even "Infinity war": plain text
        found.clear()
    except (ValueError, RecursionError):  # a number too long to convert, nesting too deep
        return Rejected("invalid_json", "that JSON cannot be read safely")
    if found:
        return Rejected("invalid_json", f"{found[0]} is not a JSON value")
    try:
        return read_message(text, max_bytes)
    except UnicodeEncodeError:  # a lone surrogate, such as the JSON escape "\ud800"
        return Rejected("invalid_text", "the message holds half of a character")


# What the server sends.

def chat_message(client_id: str, text: str, now: datetime | None = None) -> str:
    """A chat line for everyone: exactly the lecture's three fields, in the lecture's order."""
    return encode({"message": text, "client_id": client_id, "timestamp": timestamp(now)})


def plain_text_message(client_id: str, text: str) -> str:
    """The lecture's relay of a frame that was not JSON (deliberately not JSON itself)."""
    return f"Client {client_id}: {text}"


def system_message(kind: str, message: str, now: datetime | None = None, **fields: Any) -> str:
    """A message from the server itself: ``client_id`` is always ``"system"``."""
    return encode({"client_id": SYSTEM, "type": kind, "message": message,
                   "timestamp": timestamp(now), **fields})


def error_message(code: str, reason: str, now: datetime | None = None, **fields: Any) -> str:
    """An error reply, sent only to the client that caused it."""
    return system_message("error", reason, now, code=code, **fields)


def join_message(client_id: str, participants: int, now: datetime | None = None) -> str:
    return system_message("join", f"Client #{client_id} joined the chat ({participants} online)",
                          now, user=client_id, participants=participants)


def leave_message(client_id: str, participants: int, now: datetime | None = None,
                  why: str = "") -> str:
    """The lecture's ``disconnect`` message, with the count added for the kit's clients."""
    text = f"Client #{client_id} left the chat" + (f" ({why})" if why else "")
    return system_message("disconnect", text, now, user=client_id, participants=participants)


def welcome_message(client_id: str, online: list[str], now: datetime | None = None,
                    resume_key: str | None = None, epoch: str | None = None,
                    seq: int = 0) -> str:
    """The greeting sent to a newcomer alone: who is online, its resume key (``resume``), the
    secret that lets it alone take its name back on a new connection (``wslab.resume``), and
    where the room's numbering stands (``epoch``, and ``seq``, the last number handed out)."""
    others = [name for name in online if name != client_id]
    who = ", ".join(others) if others else "nobody else yet"
    fields: dict[str, Any] = {} if resume_key is None else {"resume": resume_key}
    if epoch is not None:
        fields.update({EPOCH: epoch, SEQ: seq})
    return system_message("welcome", f"Welcome, {client_id}! Online: {who}.", now,
                          user=client_id, participants=len(online), online=online, **fields)


def with_fields(message: str, **fields: Any) -> str:
    """``message`` (a JSON object this module encoded) with ``fields`` added at its end.

    Spliced into the text rather than decoded and encoded again: a line is numbered once per
    worker and marked once per copy, and the original's fields and order stay exactly as sent.
    """
    return message[:-1] + ", " + encode(fields)[1:]


def numbered(message: str, epoch: str, seq: int) -> str:
    """``message`` as the room numbered it: ``seq`` in ``epoch``."""
    return with_fields(message, **{SEQ: seq, EPOCH: epoch})


def marked(message: str, mark: str) -> str:
    """A copy of a numbered message sent from the history: ``mark`` is :data:`REPLAY` or
    :data:`HISTORY`."""
    return with_fields(message, **{mark: True})


def resumed_message(replayed: int, epoch: str, seq: int, now: datetime | None = None) -> str:
    """Sent after a replay, before any live message: how many were replayed, and up to where."""
    lines = "line" if replayed == 1 else "lines"
    return system_message("resumed", f"caught up: {replayed} missed {lines}", now,
                          replayed=replayed, **{EPOCH: epoch, SEQ: seq})


def history_reset_message(epoch: str, seq: int, now: datetime | None = None) -> str:
    """The client's epoch is gone: the server lost its history (it restarted)."""
    return system_message("history_reset", "the chat server lost its history; you may have "
                          "missed messages", now, **{EPOCH: epoch, SEQ: seq})


def gap_too_old_message(missed: int, now: datetime | None = None) -> str:
    """Part of what the client missed is no longer kept; what is left follows, as replay."""
    lines = "message" if missed == 1 else "messages"
    return system_message("gap_too_old", f"you missed {missed} {lines} that the chat server no "
                          "longer keeps; the rest follow", now, missed=missed)


def pong_message(now: datetime | None = None) -> str:
    return system_message("pong", "pong", now)
