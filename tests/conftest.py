"""Shared fixtures: the chat, started fresh for each test, with or without a server.

``start_chat`` runs a real uvicorn server on loopback (in this process); ``start_room`` runs
the same app with no server, its peers talking ASGI in memory (``peers.Room``). The fixtures of
Chromium, ``python -m wslab serve`` and Redis live in the modules the root ``conftest.py`` lists.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import pytest

from peers import Room
from wslab.chat import create_app
from wslab.runner import BackgroundServer
from wslab.settings import ChatSettings

_names = itertools.count()


@pytest.fixture
def start_chat() -> Iterator[Callable[..., BackgroundServer]]:
    """Start chat servers with the given ``ChatSettings`` fields; all stop after the test.

    Keywords starting with ``ws_`` are uvicorn settings instead (``ws_ping_interval=0.3``).
    """
    servers: list[BackgroundServer] = []

    def start(**settings: Any) -> BackgroundServer:
        uvicorn_options = {key: settings.pop(key) for key in list(settings)
                           if key.startswith("ws_")}
        server = BackgroundServer(create_app(ChatSettings(**settings)),
                                  name=f"test-chat-{next(_names)}", **uvicorn_options)
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def chat_server(start_chat: Callable[..., BackgroundServer]) -> BackgroundServer:
    """A chat server with the default settings."""
    return start_chat()


@pytest.fixture
async def start_room() -> AsyncIterator[Callable[..., Awaitable[Room]]]:
    """``await start_room(**settings)``: a chat room with these ``ChatSettings`` fields, and no
    server; every peer is disconnected and the room stopped after the test."""
    async with contextlib.AsyncExitStack() as rooms:
        async def start(**settings: Any) -> Room:
            return await rooms.enter_async_context(Room(**settings).running())

        yield start
