"""Elective E2's answers: a JSON endpoint that survives bad input, reading one frame from a
client, the hardened chat endpoint, and tests for it.

:func:`read_message` follows the lesson's main rules; :func:`read_strict` wraps it with the
lesson's optional part, the JSON edge cases. Together they make the same decisions as the kit's
own :func:`wslab.envelope.read_client_text`, the function the kit's chat server calls on every
text frame, except that they know no heartbeat (``{"type": "ping"}`` is a reserved field to
them). The lesson's checks compare a student's answers with ``read_client_text`` itself.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.testclient import TestClient

from wslab.envelope import (Chat, PlainText, Rejected, chat_message, error_message, leave_message,
                            plain_text_message)
from wslab.manager import ConnectionManager

#: The lesson's limit for one chat line, in UTF-8 bytes.
MAX_MESSAGE_BYTES = 1000


# -- exercise 1: reply -------------------------------------------------------------------------

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


# -- exercise 2: read_message ------------------------------------------------------------------

def read_message(text: str, max_bytes: int) -> Chat | PlainText | Rejected:
    """Classify one text frame from a client: a chat line, plain text, or refused (and why)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:  # not JSON at all: the lecture's plain-text fallback
        return checked_line(text, max_bytes, PlainText)
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


def checked_line(text: str, max_bytes: int, kind: type) -> Chat | PlainText | Rejected:
    """``kind(text)`` when the text is neither blank nor too long."""
    if not text.strip():
        return Rejected("empty_message", "the message is empty")
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        return Rejected("message_too_long",
                        f"the message is {size} bytes; the limit is {max_bytes}")
    return kind(text)


# -- exercise 3: the hardened endpoint ---------------------------------------------------------

def create_hardened_app(read_message=read_message,
                        max_message_bytes=MAX_MESSAGE_BYTES) -> FastAPI:
    """The lecture's chat, hardened: every frame is checked, and errors go to the sender only."""
    app = FastAPI()
    manager = ConnectionManager()  # core 02's safe manager: no client stalls the others
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


# -- exercise 4: tests with the TestClient -----------------------------------------------------

def test_forged_field_is_refused(app):
    """A field only the server may set gets an error, and the frame is not relayed."""
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_json({"message": "hi", "type": "disconnect"})
            reply = alice.receive_json()
            assert reply["type"] == "error" and reply["code"] == "reserved_field", reply
            alice.send_json({"message": "next"})
            assert alice.receive_json()["message"] == "next"  # and not her forged line


def test_binary_frame_is_refused(app):
    """A binary frame gets an error reply, and the connection still works afterwards."""
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_bytes(b"\x00\x01")
            reply = alice.receive_json()
            assert reply["type"] == "error" and reply["code"] == "binary_not_supported", reply
            alice.send_json({"message": "still here"})
            assert alice.receive_json()["message"] == "still here"


# Answers, not tests of this package: pytest must not collect them where they are imported.
test_forged_field_is_refused.__test__ = False  # type: ignore[attr-defined]
test_binary_frame_is_refused.__test__ = False  # type: ignore[attr-defined]


# -- if you have time: the JSON edge cases -----------------------------------------------------

def read_strict(text: str, max_bytes: int, read_message=read_message
                ) -> Chat | PlainText | Rejected:
    """``read_message``, guarded against JSON that JSON does not allow and half characters."""
    try:
        json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError:
        pass  # not JSON at all: plain text, which read_message handles
    except (ValueError, RecursionError):  # NaN or Infinity, a huge number, nesting too deep
        return Rejected("invalid_json", "that JSON cannot be read safely")
    try:
        return read_message(text, max_bytes)
    except UnicodeEncodeError:  # a lone surrogate, such as the JSON escape "\ud800"
        return Rejected("invalid_text", "the message holds half of a character")


def refuse_constant(name: str):
    """For ``json.loads(parse_constant=...)``: NaN, Infinity and -Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")
