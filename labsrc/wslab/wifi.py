"""A Wi-Fi link that can go dark: how a lesson and the tests drop a client without a word.

A real Wi-Fi drop is not a close. The laptop's side of the TCP connection is gone, but the
server hears nothing at all: it still holds the student's connection, and the student's name,
until its keepalive gives up (``wslab.serving``, at most 40 s). On loopback that cannot be
staged by cutting the client's socket alone, because the kernel then tells the server at once.
So :class:`WifiLink` stands between the clients and the server, a TCP relay that passes bytes
both ways, and :meth:`WifiLink.drop` cuts one client off the way Wi-Fi does: the client's
connection is aborted (no close frame), and the relay's connection to the server stays open and
silent. Elective E8 uses it for its demo; ``tests/test_resume_history.py`` for its tests.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from websockets.asyncio.client import ClientConnection

__all__ = ["WifiLink"]


class WifiLink:
    """A TCP relay from clients to the server on ``server_port`` (loopback) that can go dark.

    Use it as ``async with WifiLink(server.port) as wifi:``, and connect the clients that may
    lose their Wi-Fi to :attr:`ws_url` instead of the server's own address. Leaving the block
    closes everything it relayed.
    """

    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self._listener: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self._to_server: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> WifiLink:
        self._listener = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._listener is not None
        self._listener.close()
        for task in self._pumps:
            task.cancel()
        for writer in self._to_server:
            writer.close()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT``: the server, as seen through this link."""
        assert self._listener is not None
        return f"ws://127.0.0.1:{self._listener.sockets[0].getsockname()[1]}"

    @staticmethod
    def drop(ws: ClientConnection) -> None:
        """Cut ``ws``, a client connected through this link, as a Wi-Fi drop does: no close
        frame, and no word to the server."""
        ws.transport.abort()

    async def _relay(self, from_client: asyncio.StreamReader,
                     to_client: asyncio.StreamWriter) -> None:
        from_server, to_server = await asyncio.open_connection("127.0.0.1", self.server_port)
        self._to_server.append(to_server)
        for source, sink in ((from_client, to_server), (from_server, to_client)):
            task = asyncio.get_running_loop().create_task(self._pump(source, sink))
            self._pumps.add(task)

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        # A side that ends or fails ends this direction only: the other side is not told, so
        # the server's side stays open and silent after the client's is cut.
        with contextlib.suppress(ConnectionError, OSError):
            while data := await source.read(65536):
                if sink.is_closing():
                    return
                sink.write(data)
                await sink.drain()
