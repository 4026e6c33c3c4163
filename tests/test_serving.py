"""``wslab.serving``: the uvicorn protocol every wslab server runs, and what it keeps per client.

The protocol class replaces two of uvicorn's per-connection objects with smaller ones of the
same behaviour (:class:`_Inbox` for ``asyncio.Queue``, :class:`_Writable` for
``asyncio.Event``), lets go of the handshake once it is done, and offers the app a way to write
ready-made frames (``wslab.manager.WRITE_FRAME``). Unit tests for the two small classes, then a
real server on loopback for the rest.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from fastapi import FastAPI, WebSocket

from wslab import protocol
from wslab.manager import WRITE_FRAME
from wslab.runner import BackgroundServer
from wslab.serving import WebSocketProtocol, _Inbox, _Writable


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


async def test_no_frame_is_written_after_the_close_frame(served):
    start, seen = served
    server = start()
    async with websockets.connect(f"{server.ws_url}/ws") as ws:
        await ws.recv()
        await ws.send("close")
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4000
    for _ in range(100):
        if seen[-1][0] == "after close":
            break
        await asyncio.sleep(0.02)
    assert seen[-1] == ("after close", False)


async def test_no_frame_is_written_by_hand_once_compression_is_agreed(served):
    """Frames made by hand are never compressed: with permessage-deflate on, send() does it."""
    start, _ = served
    server = start(ws_per_message_deflate=True)
    async with websockets.connect(f"{server.ws_url}/ws", compression="deflate") as ws:
        await ws.recv()
        assert ws.protocol.extensions  # compression was agreed
        await ws.send("frame")
        assert await ws.recv() == "took: False"
