"""Lesson 02's answers: a shouting endpoint, a JSON endpoint that survives bad input, and a test.

The endpoints are plain ``async def`` functions: the lesson (and its checks) mount them on an
app with ``app.add_api_websocket_route(path, endpoint)``.
"""

from __future__ import annotations

import json

from fastapi import WebSocket, WebSocketDisconnect

#: Exercise 1: the endpoint's first message; after it, every text comes back in upper case.
GREETING = "Welcome! I shout back."


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


test_shout.__test__ = False  # type: ignore[attr-defined]  # an answer, not a test of this package
