"""Shared fixtures: a real chat server on loopback, started fresh for each test."""

from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator

import pytest

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
