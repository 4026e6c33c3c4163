"""Chat clients for tests, with a few words for the chat, over either of two transports.

- :class:`Peer` (from :func:`join`): a real ``websockets`` connection to a real server.
- :class:`RoomPeer` (from :class:`Room`): the chat app itself, driven through ASGI in memory,
  as uvicorn would drive it, with no server and no socket. For what the room does with a
  frame, where a real server adds only time; the transport's own cases (frame limits, resets,
  keepalive) need a :class:`Peer`.

Every wait has a timeout (scaled, see ``deadlines``), so a message that never comes fails the
test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from abc import ABC, abstractmethod
from typing import Any, AsyncIterator
from urllib.parse import urlencode

import websockets
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection

from deadlines import scaled
from wslab.chat import create_app
from wslab.envelope import EPOCH, HISTORY, KNOWN, SEQ
from wslab.resume import AFTER_PARAM, EPOCH_PARAM, RESUME_PARAM
from wslab.settings import ChatSettings

TIMEOUT = scaled(3.0)
#: How long a real connection listens before concluding that nothing more is coming. The
#: behaviour under test is that nothing comes, so this is a wait no state can replace.
QUIET = 0.3


class Closed(Exception):
    """The server closed a :class:`RoomPeer`'s connection: ``code`` and ``reason`` say how."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed with {code} {reason!r}")
        self.code = code
        self.reason = reason


class ChatPeer(ABC):
    """One chat participant; a transport supplies ``send_raw`` and ``_receive``.

    ``welcome`` is the server's greeting, read on connect; ``heard`` is every message read so
    far, skipped ones included.
    """

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.welcome: dict[str, Any] = {}
        self.heard: list[Any] = []

    @abstractmethod
    async def send_raw(self, data: str | bytes) -> None:
        """Send one frame as it is: text for a str, binary for bytes."""

    @abstractmethod
    async def _receive(self, timeout: float) -> str | bytes:
        """The next message's data, within ``timeout`` seconds."""

    async def say(self, text: str) -> None:
        await self.send_raw(json.dumps({"message": text}))

    async def next(self, timeout: float = TIMEOUT) -> Any:
        """The next message: a dict for JSON, a str for the lecture's plain-text relay. Messages
        marked ``known`` are kept in :attr:`heard` and skipped, as every kit client counts them
        without showing them (``wslab.catch_up``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            raw = await self._receive(max(0.01, deadline - loop.time()))
            try:
                message = json.loads(raw)
            except json.JSONDecodeError:
                message = raw
            self.heard.append(message)
            if not (isinstance(message, dict) and message.get(KNOWN) is True):
                return message

    async def next_of(self, *types: str | None, timeout: float = TIMEOUT,
                      earlier: bool = False) -> Any:
        """The next message whose ``type`` is one of ``types`` (None: a chat line), skipping
        others, and skipping the room's last lines a newcomer is shown (``"history": true``)
        unless ``earlier``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self.next(max(0.01, deadline - loop.time()))
            kind = message.get("type") if isinstance(message, dict) else "plain"
            if kind in types and (earlier or not is_earlier(message)):
                return message

    async def chat_line(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await self.next_of(None, timeout=timeout)

    async def error(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await self.next_of("error", timeout=timeout)


class Peer(ChatPeer):
    """A participant on a real ``websockets`` connection (``ws``)."""

    def __init__(self, ws: ClientConnection, client_id: str) -> None:
        super().__init__(client_id)
        self.ws = ws

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def _receive(self, timeout: float) -> str | bytes:
        return await asyncio.wait_for(self.ws.recv(), timeout)

    async def silence(self, seconds: float = QUIET, earlier: bool = False) -> list[Any]:
        """Everything that arrives within ``seconds`` (expected: nothing), but for the room's
        last lines a newcomer is shown, unless ``earlier``."""
        got = []
        try:
            while True:
                got.append(await self.next(seconds))
        except (asyncio.TimeoutError, websockets.ConnectionClosed):
            return [message for message in got if earlier or not is_earlier(message)]

    async def closed(self, timeout: float = TIMEOUT) -> tuple[int | None, str]:
        """Read until the server closes the connection; return its (code, reason)."""
        async def drain() -> None:
            try:
                async for _ in self.ws:
                    pass
            except websockets.ConnectionClosed:
                pass

        await asyncio.wait_for(drain(), timeout)
        received = self.ws.protocol.close_rcvd
        return (received.code, received.reason) if received else (None, "")


def is_earlier(message: Any) -> bool:
    """Whether ``message`` is one of the room's last lines, sent to a newcomer as history."""
    return isinstance(message, dict) and message.get(HISTORY) is True


def lecture_fields(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` without the fields of the room's numbering (``seq``, ``epoch``): as the
    lecture's page knows it."""
    return {key: value for key, value in message.items() if key not in (SEQ, EPOCH)}


async def connect(ws_url: str, client_id: str, resume: str | None = None,
                  epoch: str | None = None, after: int | str | None = None,
                  **connect_options: Any) -> Peer:
    """Connect as ``client_id`` (with a resume key, and the epoch and last seq it saw, if
    given), reading nothing yet."""
    params = {name: value for name, value in
              ((RESUME_PARAM, resume), (EPOCH_PARAM, epoch), (AFTER_PARAM, after))
              if value is not None}
    query = f"?{urlencode(params)}" if params else ""
    ws = await websockets.connect(f"{ws_url}/ws/{client_id}{query}", open_timeout=TIMEOUT,
                                  **connect_options)
    return Peer(ws, client_id)


async def join(ws_url: str, client_id: str, resume: str | None = None,
               epoch: str | None = None, after: int | str | None = None,
               **connect_options: Any) -> Peer:
    """Connect as ``client_id`` (see :func:`connect`) and read the welcome message."""
    peer = await connect(ws_url, client_id, resume, epoch, after, **connect_options)
    peer.welcome = await peer.next_of("welcome")
    return peer


class RoomPeer(ChatPeer):
    """A participant talking to the chat app through ASGI messages in memory.

    The app runs its WebSocket endpoint for this peer as a task, exactly as a server would run
    it, reading ``receive()`` from :attr:`to_app` and writing ``send()`` into :attr:`to_peer`.
    """

    def __init__(self, app: FastAPI, client_id: str) -> None:
        super().__init__(client_id)
        path = f"/ws/{client_id}"
        scope = {"type": "websocket", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "scheme": "ws", "path": path, "raw_path": path.encode(), "root_path": "",
                 "query_string": b"", "headers": [(b"host", b"testserver")],
                 "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
                 "subprotocols": [], "state": {}, "extensions": {}}
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.to_peer: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.close_received: tuple[int, str] | None = None
        self.to_app.put_nowait({"type": "websocket.connect"})
        self.endpoint = asyncio.get_running_loop().create_task(
            app(scope, self.to_app.get, self.to_peer.put), name=f"endpoint {client_id}")

    async def accepted(self) -> None:
        """Wait for the app to accept the handshake."""
        message = await asyncio.wait_for(self.to_peer.get(), TIMEOUT)
        assert message["type"] == "websocket.accept", message

    async def send_raw(self, data: str | bytes) -> None:
        key = "bytes" if isinstance(data, bytes) else "text"
        await self.to_app.put({"type": "websocket.receive", key: data})

    async def _receive(self, timeout: float) -> str | bytes:
        if self.close_received is not None:
            raise Closed(*self.close_received)
        message = await asyncio.wait_for(self.to_peer.get(), timeout)
        if message["type"] == "websocket.close":
            self.close_received = (message.get("code", 1000), message.get("reason") or "")
            raise Closed(*self.close_received)
        assert message["type"] == "websocket.send", message
        return message["text"] if message.get("text") is not None else message["bytes"]

    async def silence(self, earlier: bool = False) -> list[Any]:
        """What arrives once the room has nothing left to do (expected: nothing), but for the
        room's last lines a newcomer is shown, unless ``earlier``.

        In memory nothing is in flight on a wire: once every task of the app has run as far
        as it can, whatever it sent is in the queue, so no time needs to pass.
        """
        await settled()
        got = []
        with contextlib.suppress(Closed):
            while not self.to_peer.empty():
                got.append(await self.next())
        return [message for message in got if earlier or not is_earlier(message)]

    async def closed(self, timeout: float = TIMEOUT) -> tuple[int, str]:
        """Read until the app closes the connection; return its (code, reason)."""
        with contextlib.suppress(Closed):
            while True:
                await self._receive(timeout)
        assert self.close_received is not None
        return self.close_received


#: Rounds of the event loop in which every ready task takes a step: more than the longest
#: chain of hand-offs in the app (endpoint, room, broker, outbox writer, send).
SETTLE_ROUNDS = 20


async def settled() -> None:
    """Let every task of the app run as far as it can: no time passes, no I/O is waited on."""
    for _ in range(SETTLE_ROUNDS):
        await asyncio.sleep(0)


class Room:
    """The chat app with the given ``ChatSettings``, its lifespan started, and no server.

    ``await room.join(client_id)`` connects a :class:`RoomPeer` and reads its welcome.
    """

    def __init__(self, **settings: Any) -> None:
        self.app = create_app(ChatSettings(**settings))
        self.peers: list[RoomPeer] = []

    async def join(self, client_id: str) -> RoomPeer:
        peer = RoomPeer(self.app, client_id)
        self.peers.append(peer)
        await peer.accepted()
        peer.welcome = await peer.next_of("welcome")
        return peer

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Room]:
        """Start the app's lifespan; afterwards disconnect every peer and stop it."""
        async with self.app.router.lifespan_context(self.app):
            try:
                yield self
            finally:
                for peer in self.peers:
                    if not peer.endpoint.done():
                        await peer.to_app.put({"type": "websocket.disconnect", "code": 1000})
                for peer in self.peers:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(peer.endpoint, TIMEOUT)


async def still_chatting(speaker: ChatPeer, *listeners: ChatPeer,
                         text: str = "still here?") -> None:
    """Assert that ``speaker`` can still talk and every listener hears it, in full."""
    await speaker.say(text)
    for peer in (speaker, *listeners):
        line = await peer.chat_line()
        assert lecture_fields(line) == {"message": text, "client_id": speaker.client_id,
                                        "timestamp": line["timestamp"]}, line
