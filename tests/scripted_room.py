"""A chat server that says exactly what a test tells it to: for testing the clients' catch-up.

The clients (the ``/chat`` page, ``ChatClient``, ``ChatWidget``) must show each numbered line
once, say when lines were missed, and ask for what they missed when they reconnect. Testing
that against the kit's room would need the room to misbehave on cue: repeat a line, skip a
number, drop a connection without a close. This small FastAPI app does it on cue, over a real
uvicorn server (``wslab.runner.BackgroundServer``, in a thread): each connection to
``/ws/{client_id}`` is a :class:`Line` the test drives from its own thread, and ``/chat`` serves
the kit's page as the kit's server does.

    with ScriptedRoom() as room:
        ...                                   # a client connects to room.url
        first = room.connection(0)
        first.send(welcome("e1", 0), said(1, "hi"), said(1, "hi"))  # a repeat
        first.cut()                           # the TCP connection ends without a close frame
        again = room.connection(1)            # the client's reconnect
        assert again.query["after"] == "1"
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from fastapi import FastAPI, WebSocket
from fastapi.responses import HTMLResponse
from starlette.websockets import WebSocketDisconnect

from deadlines import eventually, wait_until
from wslab import envelope
from wslab.chat_page import render_page
from wslab.runner import BackgroundServer

#: The resume key the scripted room gives every connection it welcomes.
KEY = "scripted-resume-key"

#: What :meth:`Line.cut` puts in a connection's queue.
_CUT = object()


def welcome(epoch: str, seq: int, **fields: Any) -> dict[str, Any]:
    """The welcome: where the room stands (``epoch``, ``seq``), with the resume key."""
    return {"client_id": envelope.SYSTEM, "type": "welcome", "message": "Welcome to the chat!",
            "timestamp": envelope.timestamp(), "participants": 2, "online": ["ann", "py"],
            "resume": KEY, "epoch": epoch, "seq": seq, **fields}


def said(seq: int, text: str, sender: str = "ann", epoch: str = "e1",
         **marks: bool) -> dict[str, Any]:
    """A numbered chat line (``history=True`` or ``replay=True`` as marks)."""
    return {"message": text, "client_id": sender, "timestamp": envelope.timestamp(),
            "seq": seq, "epoch": epoch, **marks}


def system(kind: str, text: str, **fields: Any) -> dict[str, Any]:
    """A message of the server's own (``resumed``, ``history_reset``, ``gap_too_old`` ...)."""
    return {"client_id": envelope.SYSTEM, "type": kind, "message": text,
            "timestamp": envelope.timestamp(), **fields}


def resumed(replayed: int, epoch: str, seq: int) -> dict[str, Any]:
    """The end of a replay, in the server's words (``envelope.resumed_message``)."""
    lines = "line" if replayed == 1 else "lines"
    return system("resumed", f"caught up: {replayed} missed {lines}", replayed=replayed,
                  epoch=epoch, seq=seq)


class Line:
    """One connection to the scripted room, driven from the test's thread."""

    def __init__(self, client_id: str, query: dict[str, str],
                 loop: asyncio.AbstractEventLoop) -> None:
        self.client_id = client_id
        #: The query parameters the client connected with.
        self.query = query
        #: The text frames the client sent, oldest first.
        self.heard: list[str] = []
        #: True once the connection has ended (cut by the test, or closed by the client).
        self.ended = False
        self._loop = loop
        self._actions: asyncio.Queue[Any] = asyncio.Queue()

    def send(self, *messages: dict[str, Any]) -> None:
        """Send these messages, in order, as JSON text frames."""
        for message in messages:
            self._loop.call_soon_threadsafe(self._actions.put_nowait, message)

    def cut(self) -> None:
        """End the connection without a close frame: the server's side of a Wi-Fi drop."""
        self._loop.call_soon_threadsafe(self._actions.put_nowait, _CUT)

    async def _serve(self, ws: WebSocket) -> None:
        listening = asyncio.create_task(self._listen(ws))
        try:
            while (action := await self._actions.get()) is not _CUT:
                await ws.send_text(envelope.encode(action))
        finally:
            listening.cancel()
            self.ended = True
        # Returning without a close: uvicorn closes the TCP connection, and no close frame.

    async def _listen(self, ws: WebSocket) -> None:
        try:
            while True:
                self.heard.append(await ws.receive_text())
        except WebSocketDisconnect:
            self.cut()


class ScriptedRoom:
    """The scripted app on a real uvicorn server in a thread; a ``with`` block stops it."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self._lock = threading.Lock()
        app = FastAPI()

        @app.get("/chat")
        async def page() -> HTMLResponse:
            return HTMLResponse(render_page())

        @app.websocket("/ws/{client_id}")
        async def socket(ws: WebSocket, client_id: str) -> None:
            await ws.accept()
            line = Line(client_id, dict(ws.query_params), asyncio.get_running_loop())
            with self._lock:
                self.lines.append(line)
            await line._serve(ws)

        self.server = BackgroundServer(app, name="scripted-room")

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    def connection(self, index: int, timeout: float = 5.0) -> Line:
        """The ``index``-th connection (0: the first), once a client has made it."""
        wait_until(lambda: len(self.lines) > index, f"connection number {index + 1}", timeout)
        return self.lines[index]

    async def connection_made(self, index: int, timeout: float = 5.0) -> Line:
        """:meth:`connection` for a test on an event loop, which keeps running while it waits."""
        await eventually(lambda: len(self.lines) > index, f"connection number {index + 1}",
                         timeout)
        return self.lines[index]

    def __enter__(self) -> ScriptedRoom:
        self.server.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.server.stop()
