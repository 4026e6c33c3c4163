"""``wslab.uvicorn_protocol``: the uvicorn protocol every wslab server runs, and what it keeps
per client.

The protocol class replaces two of uvicorn's per-connection objects with smaller ones of the
same behaviour (:class:`_Inbox` for ``asyncio.Queue``, :class:`_Writable` for
``asyncio.Event``), lets go of the handshake once it is done, and offers the app a way to write
ready-made frames (:data:`WRITE_FRAME`). First, every private part of uvicorn it relies on,
checked against the installed uvicorn (an upgrade that changes one fails here, naming it); then
unit tests for the two small classes, then a real server on loopback for the rest.
"""

from __future__ import annotations

import asyncio
import json

import inspect
import re

import pytest
import uvicorn
import websockets
from fastapi import FastAPI, WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.protocol import State
from websockets.server import ServerProtocol

from deadlines import eventually
from wslab import protocol
from wslab.runner import BackgroundServer
from wslab.uvicorn_protocol import (RELIED_ON, WRITE_FRAME, WebSocketProtocol, _Inbox,
                                    _Writable)

# -- what the kit relies on in uvicorn ----------------------------------------------------------

UPGRADE = ("uvicorn {version} changed {what}, a private part of WebSocketsSansIOProtocol that "
           "wslab.uvicorn_protocol relies on: adapt WebSocketProtocol, or run uvicorn's own "
           "protocol (uvicorn_config(app, ws='websockets-sansio'))")


def uvicorn_protocol() -> WebSocketsSansIOProtocol:
    """A fresh instance of uvicorn's own protocol class, as uvicorn builds one per connection."""
    config = uvicorn.Config(FastAPI(), ws="websockets-sansio", log_config=None)
    config.load()
    return WebSocketsSansIOProtocol(config, ServerState(), {}, _loop=asyncio.get_running_loop())


def calls_on(attribute: str) -> set[str]:
    """The methods uvicorn's protocol calls on ``self.<attribute>``, read from its source."""
    source = inspect.getsource(WebSocketsSansIOProtocol)
    return set(re.findall(rf"self\.{attribute}\.(\w+)\(", source))


def upgrade(what: str) -> str:
    return UPGRADE.format(version=uvicorn.__version__, what=what)


@pytest.mark.parametrize("name, kind", sorted(RELIED_ON["attributes"].items(),
                                              key=lambda item: item[0]))
async def test_each_attribute_relied_on_is_there_with_its_kind(name, kind):
    proto = uvicorn_protocol()
    assert hasattr(proto, name), upgrade(f"the attribute {name!r} (gone)")
    assert isinstance(getattr(proto, name), kind), upgrade(
        f"the attribute {name!r} (now {type(getattr(proto, name)).__name__}, "
        f"not {kind.__name__})")


async def test_the_websockets_connection_has_the_state_and_extensions_relied_on():
    conn = uvicorn_protocol().conn
    assert isinstance(conn, ServerProtocol), upgrade(f"the attribute 'conn' (now {conn!r})")
    assert isinstance(conn.state, State), upgrade("'conn.state' (not a websockets State)")
    assert isinstance(conn.extensions, list), upgrade("'conn.extensions' (not a list)")


@pytest.mark.parametrize("name", RELIED_ON["methods"])
def test_each_method_overridden_is_there_and_takes_what_it_did(name):
    method = getattr(WebSocketsSansIOProtocol, name, None)
    assert callable(method), upgrade(f"the method {name!r} (gone)")
    ours = inspect.signature(getattr(WebSocketProtocol, name))
    assert list(inspect.signature(method).parameters) == list(ours.parameters), upgrade(
        f"the signature of {name!r} (now {inspect.signature(method)})")


@pytest.mark.parametrize("name", RELIED_ON["state"])
async def test_each_piece_of_connection_state_relied_on_is_there(name):
    assert hasattr(uvicorn_protocol(), name), upgrade(f"the attribute {name!r} (gone)")


@pytest.mark.parametrize("name", RELIED_ON["handshake"])
def test_the_handshake_is_kept_where_it_is_let_go_of(name):
    source = inspect.getsource(WebSocketsSansIOProtocol.handle_connect)
    assert f"self.{name} =" in source or f"self.{name}:" in source, upgrade(
        f"where the handshake's {name!r} is kept (no longer set in handle_connect)")
    if name == "scope":
        assert '"extensions"' in source, upgrade("the scope's 'extensions' (gone)")


def test_uvicorn_starts_keepalive_once_the_101_is_written():
    source = inspect.getsource(WebSocketsSansIOProtocol.send)
    assert source.index("send_response(self.response)") < source.index(
        "self.start_keepalive()"), upgrade("when start_keepalive is called (not after the 101)")


@pytest.mark.parametrize("attribute, ours, calls", [
    ("queue", _Inbox, RELIED_ON["queue_calls"]),
    ("writable", _Writable, RELIED_ON["writable_calls"]),
])
def test_uvicorn_calls_only_what_the_stand_ins_implement(attribute, ours, calls):
    used = calls_on(attribute)
    assert used, upgrade(f"the attribute {attribute!r} (no longer used as before)")
    assert used <= calls, upgrade(f"what it calls on {attribute!r}: {sorted(used - calls)} too")
    assert all(callable(getattr(ours, call, None)) for call in calls), ours


# -- the stand-ins for uvicorn's queue and event -------------------------------------------------


async def test_inbox_hands_out_events_in_order():
    inbox = _Inbox()
    assert inbox.empty()
    inbox.put_nowait("a")
    inbox.put_nowait("b")
    assert not inbox.empty()
    assert [await inbox.get(), await inbox.get()] == ["a", "b"]
    assert inbox.empty()


async def test_inbox_wakes_a_waiting_getter_and_keeps_what_a_cancelled_one_missed():
    inbox = _Inbox()
    first = asyncio.create_task(inbox.get())
    second = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)  # both wait
    inbox.put_nowait("x")  # wakes the first ...
    first.cancel()  # ... which is cancelled before it can take it
    assert await asyncio.wait_for(second, 1) == "x"
    assert first.cancelled() and inbox.empty()
    third = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("y")
    assert await asyncio.wait_for(third, 1) == "y"


async def test_writable_blocks_only_while_cleared_and_wakes_every_waiter():
    writable = _Writable()
    assert writable.is_set() and await writable.wait() is True
    writable.clear()
    waiters = [asyncio.create_task(writable.wait()) for _ in range(3)]
    cancelled = asyncio.create_task(writable.wait())
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    cancelled.cancel()
    await asyncio.sleep(0)
    writable.set()
    assert await asyncio.gather(*waiters) == [True, True, True]
    assert cancelled.cancelled() and writable._waiters is None


def make_app(seen: list) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        write_frame = websocket.scope["extensions"].get(WRITE_FRAME)
        seen.append((websocket, write_frame))
        await websocket.send_text(json.dumps({"host": websocket.headers.get("host"),
                                              "offered": write_frame is not None}))
        async for text in websocket.iter_text():
            if text == "frame":
                took = write_frame(protocol.encode_frame(protocol.Opcode.TEXT, b"by frame"))
                await websocket.send_text(f"took: {took}")
            elif text == "close":
                await websocket.close(4000, "asked to")
                seen.append(("after close", write_frame(b"\x81\x02no")))
                return

    return app


@pytest.fixture
def served():
    seen: list = []
    servers: list[BackgroundServer] = []

    def start(**uvicorn_options) -> BackgroundServer:
        server = BackgroundServer(make_app(seen), name=f"test-serving-{len(servers)}",
                                  **uvicorn_options).start()
        servers.append(server)
        return server

    yield start, seen
    for server in servers:
        server.stop()


@pytest.mark.slow
async def test_an_open_connection_keeps_no_handshake_and_small_queues(served):
    start, seen = served
    server = start()
    async with websockets.connect(f"{server.ws_url}/ws") as ws:
        hello = json.loads(await ws.recv())
        assert hello == {"host": f"127.0.0.1:{server.port}", "offered": True}  # from the scope
        _, write_frame = seen[0]
        proto = write_frame.__self__
        assert isinstance(proto, WebSocketProtocol)
        assert proto.request is None and proto.response is None
        assert isinstance(proto.queue, _Inbox) and isinstance(proto.writable, _Writable)
        await ws.send("frame")
        assert [await ws.recv(), await ws.recv()] == ["by frame", "took: True"]


@pytest.mark.slow
async def test_no_frame_is_written_after_the_close_frame(served):
    start, seen = served
    server = start()
    async with websockets.connect(f"{server.ws_url}/ws") as ws:
        await ws.recv()
        await ws.send("close")
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4000
    await eventually(lambda: seen[-1][0] == "after close", "the app's send after the close")
    assert seen[-1] == ("after close", False)


@pytest.mark.slow
async def test_no_frame_is_written_by_hand_once_compression_is_agreed(served):
    """Frames made by hand are never compressed: with permessage-deflate on, send() does it."""
    start, _ = served
    server = start(ws_per_message_deflate=True)
    async with websockets.connect(f"{server.ws_url}/ws", compression="deflate") as ws:
        await ws.recv()
        assert ws.protocol.extensions  # compression was agreed
        await ws.send("frame")
        assert await ws.recv() == "took: False"
