"""Chat clients for tests: a real ``websockets`` connection with a few words for the chat.

Every wait has a timeout, so a message that never comes fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

TIMEOUT = 3.0
QUIET = 0.3  # how long to listen before concluding that nothing more is coming


class Peer:
    """One chat participant. ``welcome`` is the server's greeting, read on connect."""

    def __init__(self, ws: ClientConnection, client_id: str) -> None:
        self.ws = ws
        self.client_id = client_id
        self.welcome: dict[str, Any] = {}

    async def say(self, text: str) -> None:
        await self.ws.send(json.dumps({"message": text}))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def next(self, timeout: float = TIMEOUT) -> Any:
        """The next message: a dict for JSON, a str for the lecture's plain-text relay."""
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw

    async def next_of(self, *types: str | None, timeout: float = TIMEOUT) -> Any:
        """The next message whose ``type`` is one of ``types`` (None: a chat line), skipping others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            message = await self.next(max(0.01, deadline - loop.time()))
            kind = message.get("type") if isinstance(message, dict) else "plain"
            if kind in types:
                return message

    async def chat_line(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await self.next_of(None, timeout=timeout)

    async def error(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await self.next_of("error", timeout=timeout)

    async def silence(self, seconds: float = QUIET) -> list[Any]:
        """Everything that arrives within ``seconds`` (expected: nothing)."""
        got = []
        try:
            while True:
                got.append(await self.next(seconds))
        except (asyncio.TimeoutError, websockets.ConnectionClosed):
            return got

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


async def join(ws_url: str, client_id: str, **connect_options: Any) -> Peer:
    """Connect as ``client_id`` and read the welcome message."""
    ws = await websockets.connect(f"{ws_url}/ws/{client_id}", open_timeout=TIMEOUT,
                                  **connect_options)
    peer = Peer(ws, client_id)
    peer.welcome = await peer.next_of("welcome")
    return peer


async def still_chatting(speaker: Peer, *listeners: Peer, text: str = "still here?") -> None:
    """Assert that ``speaker`` can still talk and every listener hears it, in full."""
    await speaker.say(text)
    for peer in (speaker, *listeners):
        line = await peer.chat_line()
        assert line == {"message": text, "client_id": speaker.client_id,
                        "timestamp": line["timestamp"]}, line
