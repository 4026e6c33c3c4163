"""Clients that misbehave, set loose on the lecture's chat: the demos of lesson 02.

Lesson 02 watches the lecture's ``ConnectionManager`` fail on a real server, then watches a safe
manager survive the same clients. A student runs each demo in one line; the machinery lives
here because reading it is not the point of the lesson (raw sockets, TCP buffer sizes, a flood
of messages counted on two clients), and a cell holding it would be about 200 lines to scroll
past before the first demo.

The clients, in the order the lesson meets them:

- **a handler that dies** (:func:`ghost_demo`). Ann sends a binary frame. The lecture's endpoint
  reads with ``receive_text()``, which raises ``KeyError: 'text'`` for a binary message; that is
  not a ``WebSocketDisconnect``, so ``disconnect`` never runs and Ann stays registered, a
  *ghost*. Then Bob speaks, and his broadcast meets the ghost first.
- **a client that never reads** (:func:`stalled_client`, used by :func:`stall_demo`). Once its
  buffers are full, a send to it waits (flow control), and the lecture's ``broadcast`` waits
  with it, inside the sender's handler.
- **a connection cut without a close frame** (:func:`pull_the_plug`, used by
  :func:`laptop_lid_demo`): a closed laptop lid. The lecture's endpoint handles this one well,
  which is why the lesson needs a handler that *dies* to show a ghost; the demo is kept for the
  instructor who is asked "what if the network just drops?".

Every demo starts a fresh server running the lecture's app (``wslab.lecture``) with the
manager it is given, under one server name (:data:`SERVER_NAME`), so each demo replaces the
previous one and starts from a clean slate. Each returns a :class:`Demo`: the server (to stop
it), what the demo saw (for the lesson's "predict, then run" questions), and the server's log
from the demo's start (:meth:`Demo.show_log`). Every wait has a time limit, so no demo hangs a
cell, whatever manager it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket
import struct
import time
from typing import Any, Callable

import websockets
from websockets.asyncio.client import ClientConnection, connect

from wslab.lecture import create_lecture_app
from wslab.runner import BackgroundServer

__all__ = ["Demo", "ghost_demo", "stall_demo", "laptop_lid_demo", "stalled_client",
           "pull_the_plug", "flood", "inbox", "who"]

#: The name every demo's server runs under: starting one replaces the one before.
SERVER_NAME = "misbehaving-clients"
#: The segment size of Ethernet and Wi-Fi. On loopback a connection's segments are 64 KiB, and
#: the kernel sizes its buffers from that: megabytes, which a demo would take minutes to fill.
#: Announcing a real network's segment size keeps the buffers to what a phone on Wi-Fi gets.
ETHERNET_MSS = 1460
#: The receive buffer the stalled client asks for (the kernel keeps a minimum of a few KiB).
RECEIVE_BUFFER = 4096
#: How long :func:`inbox` waits for a next message before it says the client heard nothing.
QUIET = 0.5


@dataclasses.dataclass
class Demo:
    """One demo's outcome: its server, what it saw, and where in the server's log it started."""

    server: BackgroundServer
    manager: Any
    seen: dict[str, Any]
    log_start: int

    def show_log(self, width: int = 110) -> None:
        """The server's log since the demo began, without traceback frames, long lines cut."""
        for line in self.server.logs(None)[self.log_start:]:
            if line.strip() and not line.startswith((" ", "Traceback")):
                print(line if len(line) <= width else line[:width] + " …")


def start_server(manager: Any) -> tuple[BackgroundServer, Any, int]:
    """The lecture's app with ``manager``, on a fresh server; (server, manager, log start)."""
    app = create_lecture_app(manager)
    server = BackgroundServer(app, name=SERVER_NAME).start()  # replaces the previous demo's
    return server, app.state.manager, len(server.logs(None))


async def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Wait until ``condition()`` holds (the server runs in another thread), at most
    ``timeout`` seconds; return whether it does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.02)
    return condition()


def who(manager: Any) -> list[str]:
    """The client ids of the connections ``manager`` has registered, in its order."""
    return [ws.path_params.get("client_id", "?") for ws in list(manager.active_connections)]


def count(manager: Any) -> Any:
    """The manager's ``connection_count``, or a question mark if it has none."""
    return getattr(manager, "connection_count", "?")


def short(raw: str | bytes) -> str:
    """A received message in a few words: who said what."""
    try:
        data = json.loads(raw)
        return f"{data['client_id']}: {str(data['message'])[:40]}"
    except (ValueError, KeyError, TypeError):
        return str(raw)[:60]


async def inbox(ws: ClientConnection, quiet: float = QUIET) -> list[str]:
    """What arrives at ``ws`` until ``quiet`` seconds pass without a message, in a few words
    each, and how the connection ended if it did; ``["nothing"]`` if nothing came."""
    heard = []
    try:
        while True:
            heard.append(short(await asyncio.wait_for(ws.recv(), quiet)))
    except asyncio.TimeoutError:
        pass
    except websockets.ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else "no close frame"
        heard.append(f"(connection closed: {code})")
    return heard or ["nothing"]


def _registered(manager: Any) -> str:
    return f"registered: {who(manager)}   connection_count: {count(manager)}"


# -- a handler that dies ---------------------------------------------------------------------


async def ghost_demo(manager: Any) -> Demo:
    """Ann, Bob and Cat connect; Ann's handler dies of a binary frame; then Bob speaks.

    ``seen`` holds what Bob and Cat heard, and who is still registered afterwards.
    """
    server, manager, start = start_server(manager)
    url = f"{server.ws_url}/ws"
    async with connect(f"{url}/ann") as ann, connect(f"{url}/bob") as bob, \
            connect(f"{url}/cat") as cat:
        await wait_until(lambda: count(manager) == 3)
        await ann.send(b"\x00\x01")  # a binary frame: receive_text() has no text to return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(ann.wait_closed(), 3)
        print("ann sent a binary frame, and the server hung up on her.")
        print("  " + _registered(manager))
        await bob.send(json.dumps({"message": "anyone there?"}))
        print('bob says "anyone there?"')
        seen: dict[str, Any] = {"bob": await inbox(bob), "cat": await inbox(cat)}
        seen["registered"] = who(manager)
        print("  bob hears: ", seen["bob"])
        print("  cat hears: ", seen["cat"])
        print("  " + _registered(manager))
    return Demo(server, manager, seen, start)


# -- a client that never reads -----------------------------------------------------------------


def stalled_client(port: int, client_id: str, host: str = "127.0.0.1") -> socket.socket:
    """A client that completes the WebSocket handshake on ``/ws/<client_id>``, then never reads.

    It is a raw socket with a small receive buffer and a real network's segment size (see
    :data:`ETHERNET_MSS`), so the buffers between it and the server fill within a second. Close
    the socket to hang up.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    with contextlib.suppress(AttributeError, OSError):  # not every system lets a client choose
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, ETHERNET_MSS)
    sock.settimeout(3)
    sock.connect((host, port))
    sock.sendall((f"GET /ws/{client_id} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    status = sock.recv(12)  # the start of the answer; the rest stays unread, like all else
    if status != b"HTTP/1.1 101":
        sock.close()
        raise ConnectionError(f"the server refused the handshake: {status!r}")
    return sock


@dataclasses.dataclass
class Flood:
    """What :func:`flood` saw: how many lines were sent, and what reached each reader."""

    messages: int
    seconds: float
    sent: int = 0
    heard: dict[str, int] = dataclasses.field(default_factory=dict)
    last: dict[str, float] = dataclasses.field(default_factory=dict)
    closed: dict[str, Any] = dataclasses.field(default_factory=dict)

    def report(self, name: str) -> str:
        got, messages = self.heard[name], self.messages
        if got == messages:
            return f"received all {messages}, within {self.last[name]:.2f} s"
        if name in self.closed:
            return f"received {got}; then the server closed the connection ({self.closed[name]})"
        return (f"received {got} of {messages}; the last after {self.last[name]:.2f} s, "
                f"then nothing for {self.seconds - self.last[name]:.2f} s")


async def flood(sender: ClientConnection, readers: dict[str, ClientConnection], *,
                messages: int = 400, size: int = 20_000, seconds: float = 2.0,
                pause: float = 0.002) -> Flood:
    """``sender`` says ``messages`` chat lines of ``size`` characters, ``pause`` seconds apart,
    while every reader counts the lines that reach it, for at most ``seconds``.

    Big lines, so that the buffers fill within a second rather than an hour of chat. The pause
    makes the sender a fast talker rather than one burst: a burst larger than an outbox fills
    the outboxes of clients that read, too, before their writers get a turn, and a bounded
    outbox then drops them as well (the price of the bound, not the stall this demo shows).
    """
    began = time.monotonic()
    padding = "x" * size
    seen = Flood(messages, seconds, heard={name: 0 for name in readers},
                 last={name: 0.0 for name in readers})

    async def say_all() -> None:
        for n in range(messages):
            await sender.send(json.dumps({"message": f"{n} {padding}"}))
            seen.sent += 1
            await asyncio.sleep(pause)

    async def count_lines(name: str, ws: ClientConnection) -> None:
        try:
            while seen.heard[name] < messages:
                if (await ws.recv()).startswith('{"message"'):
                    seen.heard[name] += 1
                    seen.last[name] = time.monotonic() - began
        except websockets.ConnectionClosed as exc:
            seen.closed[name] = exc.rcvd.code if exc.rcvd else "no close frame"

    tasks = [asyncio.create_task(say_all())]
    tasks += [asyncio.create_task(count_lines(name, ws)) for name, ws in readers.items()]
    await asyncio.wait(tasks[1:], timeout=seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return seen


async def stall_demo(manager: Any, *, messages: int = 400, seconds: float = 2.0) -> Demo:
    """Ann, Bob and Lazy (who never reads) connect; Ann says ``messages`` long lines while Ann
    and Bob count what reaches them; then Lazy hangs up.

    ``seen`` holds the :class:`Flood` (``"flood"``), who was registered when the flood ended
    (``"registered"``) and after Lazy hung up (``"after"``).
    """
    server, manager, start = start_server(manager)
    url = f"{server.ws_url}/ws"
    async with connect(f"{url}/ann", close_timeout=1) as ann, \
            connect(f"{url}/bob", close_timeout=1) as bob:
        lazy = stalled_client(server.port, "lazy")
        try:
            await wait_until(lambda: count(manager) == 3)
            print("registered:", who(manager), "  (lazy never reads)")
            print(f"ann says {messages} lines of 20 kB:")
            seen_flood = await flood(ann, {"ann": ann, "bob": bob}, messages=messages,
                                     seconds=seconds)
            print(f"  ann's client sent {seen_flood.sent} of them")
            for name in ("ann", "bob"):
                print(f"  {name} {seen_flood.report(name)}")
            registered = who(manager)
            print("  " + _registered(manager)
                  + ("" if "lazy" in registered else "   (the server dropped lazy)"))
        finally:
            lazy.close()
        await wait_until(lambda: "lazy" not in who(manager))
        await asyncio.sleep(0.3)
        print("lazy hangs up.")
        print("  " + _registered(manager))
        seen = {"flood": seen_flood, "registered": registered, "after": who(manager)}
    return Demo(server, manager, seen, start)


# -- a connection cut without a close frame ----------------------------------------------------


def pull_the_plug(ws: ClientConnection) -> None:
    """Cut ``ws``'s TCP connection at once, with no close frame: a laptop lid, a lost network.

    ``SO_LINGER`` with a zero timeout makes the close a reset, as when a machine vanishes.
    """
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def laptop_lid_demo(manager: Any) -> Demo:
    """Ann and Bob connect, then Ann's connection is cut without a close frame.

    The lecture's endpoint handles this well: uvicorn turns the lost connection into a
    ``websocket.disconnect`` message, so ``receive_text()`` raises ``WebSocketDisconnect`` and
    the endpoint's ``except`` clause removes Ann. ``seen`` holds what Bob heard and who is
    registered afterwards.
    """
    server, manager, start = start_server(manager)
    url = f"{server.ws_url}/ws"
    async with connect(f"{url}/ann") as ann, connect(f"{url}/bob") as bob:
        await wait_until(lambda: count(manager) == 2)
        print(_registered(manager))
        pull_the_plug(ann)
        print("ann's connection is cut.")
        seen: dict[str, Any] = {"bob": await inbox(bob)}
        await wait_until(lambda: "ann" not in who(manager))
        seen["registered"] = who(manager)
        print("  bob hears: ", seen["bob"])
        print("  " + _registered(manager))
    return Demo(server, manager, seen, start)
