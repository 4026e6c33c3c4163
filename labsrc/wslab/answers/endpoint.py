"""Lesson 01's answers: the lecture's app as ``main.py`` holds it, and a shouting endpoint.

``app`` is what a finished ``main.py`` serves: the health check ``GET /`` and the echo endpoint.
The notebook carries on with it until the student's own ``main.py`` passes its check.
``shout`` is a plain ``async def``: the lesson (and its check) mount it on an app with
``app.add_api_websocket_route(path, endpoint)``.
"""

from __future__ import annotations

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

#: What the health check answers: the lecture's words.
HEALTH = {"message": "WebSocket Server is running"}
#: The shouting endpoint's first message; after it, every text comes back in upper case.
GREETING = "Welcome! I shout back."

app = FastAPI()


@app.get("/")
async def health():
    return {"message": "WebSocket Server is running"}


@app.websocket("/ws/echo")
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(text)
    except WebSocketDisconnect:
        pass


async def shout(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(text.upper())
    except WebSocketDisconnect:
        pass  # the client left: nothing to clean up
