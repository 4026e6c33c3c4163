"""Elective E2's answers: a JSON endpoint that survives bad input, the hardened chat endpoint,
and tests for it.

The answers to reading one frame (``read_message``, and ``read_strict`` for the JSON edge cases)
are not here: they are the chat server's own, in :mod:`wslab.envelope`, so that what the lesson
teaches and what the server does cannot drift apart.
"""

from __future__ import annotations

import json

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.testclient import TestClient

from wslab.envelope import (Chat, PlainText, Rejected, chat_message, error_message, leave_message,
                            plain_text_message, read_message)
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
