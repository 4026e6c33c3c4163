# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · The connection manager
#
# **Time:** 53 minutes (20 teaching, 33 exercises) · **Builds on:**
# [02 · Your first WebSocket endpoint](02_first_endpoint.ipynb): an endpoint, `BackgroundServer`,
# and a `websockets` client in a cell.
#
# One endpoint talks to one client. A chat needs more: whatever one client says must reach all
# the others, so every handler needs a way to reach every other client's socket. The lecture's
# answer is a small class, `ConnectionManager`. In this lesson you write it, then run it on a
# real server and watch it fail in two ways that happen in any real classroom, then build a
# manager that survives both.
#
# ## Learning objectives
#
# - Write the lecture's `ConnectionManager` and say what each method does and who calls it.
# - Predict, then reproduce, two failures on a live server: a client whose handler dies leaves
#   a *ghost* that takes the next speaker down with it, and a client that stops reading freezes
#   the chat for everyone.
# - Explain both with one cause: `broadcast` runs inside the sender's handler and waits for each
#   send in turn, so one client's failure or slowness becomes the sender's problem.
# - Build a manager with one bounded outbox and one writer task per connection, and say what it
#   costs.

# %% [markdown]
# ## 1. The lecture's manager
#
# This is the lecture's design, method by method:
#
# | member | what it does | who uses it |
# |---|---|---|
# | `active_connections` | a list of the open `WebSocket` objects | `broadcast` |
# | `connection_count` | how many there are, kept as a separate counter | the `print` lines |
# | `connect(websocket)` | `await websocket.accept()`, append, count up, print | the endpoint, first thing |
# | `disconnect(websocket)` | remove, count down, print (a plain `def`: no `await`) | the endpoint's `except WebSocketDisconnect:` |
# | `broadcast(message)` | print, then `await connection.send_text(message)` for each connection, one after the other | the endpoint, for every message it receives |
#
# The endpoint that uses it (from the lecture, shortened; the full text is in `wslab.lecture`):
#
# ```python
# @app.websocket("/ws/{client_id}")
# async def websocket_endpoint(websocket: WebSocket, client_id: str):
#     await manager.connect(websocket)
#     try:
#         while True:
#             data = await websocket.receive_text()
#             ...                                   # add client_id and a timestamp
#             await manager.broadcast(json.dumps(message_data))
#     except WebSocketDisconnect:
#         manager.disconnect(websocket)
#         await manager.broadcast(json.dumps({..., "type": "disconnect"}))
# ```
#
# Keep one fact in mind for the rest of the lesson: there is no separate "sending" part of the
# server. When Bob says something, **Bob's handler** runs `broadcast`, and Bob's handler waits
# until every send has finished before it reads Bob's next message.
#
# ## 2. Exercise: write the lecture's manager
#
# Complete the class below so it behaves like the lecture's: each method's `# TODO` says what it
# does. Add the lecture's `print` lines if you like (on a server they go to its log, not into
# your cells).

# %%
from typing import List

from fastapi import WebSocket


### BEGIN SOLUTION
### SOURCE wslab.lecture:ConnectionManager
### END SOLUTION
### BEGIN STUB
class ConnectionManager:
    def __init__(self):
        # TODO: start with no connections: an empty list `self.active_connections`,
        # and `self.connection_count = 0`.
        raise NotImplementedError("exercise: ConnectionManager.__init__")

    async def connect(self, websocket: WebSocket):
        # TODO: accept the handshake (await websocket.accept()), then append the websocket to
        # the list and add 1 to the count.
        raise NotImplementedError("exercise: ConnectionManager.connect")

    def disconnect(self, websocket: WebSocket):
        # TODO: remove the websocket from the list and subtract 1 from the count.
        raise NotImplementedError("exercise: ConnectionManager.disconnect")

    async def broadcast(self, message: str):
        # TODO: for each connection in the list: await connection.send_text(message).
        raise NotImplementedError("exercise: ConnectionManager.broadcast")
### END STUB


# %% [markdown]
# The check connects three stand-in sockets (objects that record what they are sent) to a
# manager of your class, broadcasts, disconnects one and broadcasts again.

# %% tags=["nbval-check-output"]
from wslab.checks.manager import check_lecture_manager

LectureManager = await check_lecture_manager(ConnectionManager)

# %% [markdown]
# The check gives back the class the rest of the lesson uses, under a name of its own:
# `LectureManager` is your `ConnectionManager` once it passes, and the lecture's own until then.
# Your class stays yours, so running the check again always checks your code.
#
# ## 3. A test bench
#
# To watch the manager at work we need a real server and a few clients. The next cell defines
# small helpers; read their docstrings, the code is not the point of this lesson.
#
# - `start_server(manager)` serves the lecture's app, unchanged, but with the manager you give
#   it (`create_lecture_app(manager)`). Every call replaces the previous server, so a
#   demo always starts from a clean slate.
# - `connect(...)` is `websockets.connect` from lesson 02.
# - `inbox(ws)` collects what arrives at one client within half a second.
# - `who(manager)` lists the client ids the manager has registered, and `show_log` prints the
#   server's log without the long traceback frames.

# %%
import asyncio
import contextlib
import json
import socket

import websockets
from websockets import connect

from wslab.lecture import create_lecture_app
from wslab.runner import BackgroundServer


def start_server(manager=None):
    """A fresh server running the lecture's app with `manager`; returns (server, manager)."""
    app = create_lecture_app(manager)
    server = BackgroundServer(app, name="lesson03").start()  # replaces the previous one
    return server, app.state.manager


async def wait_until(condition, timeout=3.0):
    """Wait until `condition()` is true (the server runs in another thread), at most `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.02)


def short(raw):
    """A received message in a few words: who said what."""
    try:
        data = json.loads(raw)
        return f"{data['client_id']}: {data['message'][:40]}"
    except (ValueError, KeyError, TypeError):
        return raw[:60]


async def inbox(ws, seconds=0.5):
    """What arrives at `ws` within `seconds` of silence, and whether the connection ended."""
    heard = []
    try:
        while True:
            heard.append(short(await asyncio.wait_for(ws.recv(), seconds)))
    except asyncio.TimeoutError:
        pass
    except websockets.ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd else "no close frame"
        heard.append(f"(connection closed: {code})")
    return heard or ["nothing"]


def who(manager):
    """The client ids of the connections `manager` has registered."""
    return [ws.path_params["client_id"] for ws in list(manager.active_connections)]


def show_log(server, start=0, width=120):
    """The server's log from line `start` on, without traceback frames, long lines cut."""
    for line in server.logs(None)[start:]:
        if line.strip() and not line.startswith((" ", "Traceback")):
            print(line if len(line) <= width else line[:width] + " …")


# %% [markdown]
# ## 4. Failure 1: a client that vanishes
#
# First the easy case. Ann closes her laptop: her TCP connection is cut without a WebSocket
# close frame. `pull_the_plug` does exactly that to a client (it resets the connection).

# %%
import struct


def pull_the_plug(ws):
    """Cut `ws`'s TCP connection at once, with no close frame: a laptop lid, a lost network."""
    sock = ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def laptop_lid_demo(manager):
    server, manager = start_server(manager)
    async with connect(f"{server.ws_url}/ws/ann") as ann, \
               connect(f"{server.ws_url}/ws/bob") as bob:
        await wait_until(lambda: manager.connection_count == 2)
        print("registered:", who(manager), "  connection_count:", manager.connection_count)
        pull_the_plug(ann)
        print("ann's connection is cut.")
        print("  bob hears: ", await inbox(bob))
        print("  registered:", who(manager), "  connection_count:", manager.connection_count)
    return server


server = await laptop_lid_demo(LectureManager())

# %% [markdown]
# Handled well. Ann's handler was waiting in `receive_text()`; uvicorn noticed the lost
# connection and handed the handler a `websocket.disconnect` message, `receive_text()` raised
# `WebSocketDisconnect`, and the `except` clause did its job.
#
# Now a client that is still connected but whose *handler* dies. Any exception other than
# `WebSocketDisconnect` will do; the easiest to cause is a **binary** frame (a browser page that
# sends a `Blob`, a buggy client). `receive_text()` reads `message["text"]`, and a binary
# message has no `"text"`: `KeyError`.
#
# Predict first. Ann, Bob and Cat are connected. Ann sends a binary frame, and her handler dies
# of that `KeyError`; the server hangs up on her. Then Bob says "anyone there?". Look at the
# endpoint in section 1 again: what happens?
#
# - (a) Cat hears Bob, and the manager has forgotten Ann
# - (b) Cat hears Bob; Ann is still registered, but that does no harm
# - (c) Cat hears nothing, and Bob is thrown out too
#
# Put your letter between the quotes and run the cell, then the demo under it.

# %%
from wslab.checks.manager import GHOST

### BEGIN SOLUTION
my_prediction = "c"
### END SOLUTION
### BEGIN STUB
my_prediction = ""  # "a", "b" or "c"
### END STUB
GHOST.predict(my_prediction)


# %%
async def ghost_demo(manager):
    """Ann's handler dies of a binary frame, then Bob speaks; returns the server, where its log
    starts, and what the demo saw: what Bob and Cat heard, and who is still registered."""
    server, manager = start_server(manager)
    start = len(server.logs(None))
    async with connect(f"{server.ws_url}/ws/ann") as ann, \
               connect(f"{server.ws_url}/ws/bob") as bob, \
               connect(f"{server.ws_url}/ws/cat") as cat:
        await wait_until(lambda: manager.connection_count == 3)
        await ann.send(b"\x00\x01")  # a binary frame
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(ann.wait_closed(), 3)
        print("ann sent a binary frame, and the server hung up on her.")
        print("  registered:", who(manager), "  connection_count:", manager.connection_count)
        await bob.send(json.dumps({"message": "anyone there?"}))
        print('bob says "anyone there?"')
        seen = {"bob": await inbox(bob), "cat": await inbox(cat)}
        print("  bob hears: ", seen["bob"])
        print("  cat hears: ", seen["cat"])
        seen["registered"] = who(manager)
        print("  registered:", seen["registered"], "  connection_count:", manager.connection_count)
    return server, start, seen


server, log_start, seen = await ghost_demo(LectureManager())
GHOST.check(seen);

# %% [markdown]
# Bob did nothing wrong, and he is gone. Cat never heard him. And the manager still counts Ann,
# whose connection has been closed for a while: a **ghost**. The server's log tells the story
# (the `print:` lines are the lecture's `print()` calls):

# %%
show_log(server, log_start)

# %% [markdown]
# Step by step:
#
# 1. Ann's handler raised `KeyError: 'text'`. That is not a `WebSocketDisconnect`, so the
#    `except` clause did not run and **`disconnect` was never called**. uvicorn logged
#    "Exception in ASGI application" and dropped Ann's TCP connection, without a close frame.
#    Ann stays in `active_connections`.
# 2. Bob spoke. *Bob's* handler ran `broadcast`, whose first send went to Ann's dead connection
#    and raised `WebSocketDisconnect`, inside Bob's handler. Bob's `except` clause took that to
#    mean **Bob** had left: it removed Bob and broadcast "Client #bob left the chat".
# 3. That broadcast hit Ann's ghost again, and raised once more (`WebSocketDisconnected`: the
#    send came after the close); this time nothing caught it. Bob's handler died, and uvicorn
#    dropped Bob's connection too.
#
# Cat heard nothing, because Ann came first in the list and every broadcast stopped at her. The
# ghost stays for the life of the server, and it will take down every next speaker the same way.
#
# ## 5. Failure 2: a client that never reads
#
# A send does not go straight to the client. The message is copied into buffers, and TCP moves
# it on only as fast as the client takes it:
#
# 1. the client's kernel receive buffer, until the client's program reads it;
# 2. the server's kernel send buffer, when the client's buffer is full and TCP must wait;
# 3. uvicorn's transport buffer in the server's process, when the kernel's is full.
#
# When that last buffer holds more than its *high-water mark* (64 KiB by asyncio's default),
# uvicorn makes the next `send` **wait** until it has drained to a quarter of that. That is flow
# control, and for one stream it is exactly right: a server should not pile up megabytes for a
# client that cannot keep up. It does not raise an error; it just waits, for as long as it
# takes. For a client that has stopped reading (a frozen tab, a laptop asleep with its
# connection still open), that is for ever.
#
# `stalled_client` is such a client: it opens the WebSocket with raw sockets and then never
# reads another byte. Its receive buffer is tiny, and it asks for the segment size of a real
# network (1460 bytes): on loopback the kernel would otherwise give the connection megabytes
# of buffer, and the demo would need minutes instead of seconds. `flood` has Ann send 400 big
# messages (big, so the buffers fill in a second rather than in an hour of chat) while Ann and
# Bob both read and count what reaches them, for at most 2 seconds.

# %%
import time


def stalled_client(port, client_id):
    """A client that completes the WebSocket handshake, then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    with contextlib.suppress(AttributeError, OSError):  # not every system lets us choose
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1460)
    sock.settimeout(3)
    sock.connect(("127.0.0.1", port))
    sock.sendall((f"GET /ws/{client_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    assert sock.recv(12) == b"HTTP/1.1 101", "the server refused the handshake"
    return sock


async def flood(sender, readers, *, messages=400, size=20_000, seconds=2.0):
    """`sender` says `messages` lines of `size` characters; each reader counts what reaches it.

    Returns how many were sent and, per reader, a line saying what reached it.
    """
    began = time.monotonic()
    padding = "x" * size
    sent = 0
    heard = {name: 0 for name in readers}
    last = {name: 0.0 for name in readers}
    closed = {}

    async def say_all():
        nonlocal sent
        for n in range(messages):
            await sender.send(json.dumps({"message": f"{n} {padding}"}))
            sent += 1

    async def count(name, ws):
        try:
            while heard[name] < messages:
                if (await ws.recv()).startswith('{"message"'):
                    heard[name] += 1
                    last[name] = time.monotonic() - began
        except websockets.ConnectionClosed as exc:
            closed[name] = exc.rcvd.code if exc.rcvd else "no close frame"

    tasks = [asyncio.create_task(say_all())]
    tasks += [asyncio.create_task(count(name, ws)) for name, ws in readers.items()]
    await asyncio.wait(tasks[1:], timeout=seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    report = {}
    for name, got in heard.items():
        if got == messages:
            report[name] = f"received all {messages}, within {last[name]:.2f} s"
        elif name in closed:
            report[name] = f"received {got}; then the server closed the connection ({closed[name]})"
        else:
            report[name] = (f"received {got} of {messages}; the last after {last[name]:.2f} s, "
                            f"then nothing for {seconds - last[name]:.2f} s")
    return sent, report


async def stall_demo(manager, *, messages=400, seconds=2.0):
    server, manager = start_server(manager)
    start = len(server.logs(None))
    async with connect(f"{server.ws_url}/ws/ann", close_timeout=1) as ann, \
               connect(f"{server.ws_url}/ws/bob", close_timeout=1) as bob:
        lazy = stalled_client(server.port, "lazy")
        try:
            await wait_until(lambda: manager.connection_count == 3)
            print("registered:", who(manager), "  (lazy never reads)")
            print(f"ann says {messages} lines of 20 kB:")
            sent, report = await flood(ann, {"ann": ann, "bob": bob}, messages=messages,
                                       seconds=seconds)
            print(f"  ann's client sent {sent} of them")
            for name, line in report.items():
                print(f"  {name} {line}")
            print("  registered:", who(manager), "  connection_count:", manager.connection_count)
        finally:
            lazy.close()
        await wait_until(lambda: "lazy" not in who(manager))
        await asyncio.sleep(0.3)
        print("lazy hangs up.")
        print("  registered:", who(manager), "  connection_count:", manager.connection_count)
    return server, start


server, log_start = await stall_demo(LectureManager())

# %% [markdown]
# Bob, who reads everything at once, got only the first few lines; then the chat froze for
# everyone, Ann included. Ann's handler is stuck inside `broadcast`, in a send to Lazy that waits
# for a buffer that never drains. Meanwhile it reads nothing more from Ann: uvicorn stops reading
# a connection while its handler has not taken the last message, so everything Ann said after
# that sits unread in her connection's buffers, and once those are full her own client has to
# wait too.
#
# And when Lazy finally hung up, the stuck send failed, inside *Ann's* handler, which took it
# for Ann leaving: the healthy sender was removed. Left alone instead, nothing ends the freeze,
# and about 40 s in, uvicorn's keepalive gives up on **Ann** (it pings every 20 s and waits 20 s
# for the answer, but her pongs are not read either) and closes her connection with 1011.
#
# Look at the times in the log: a few lines received and broadcast, then nothing until Lazy
# hung up. No error and no warning while it froze: the server is not broken, just waiting.

# %%
show_log(server, log_start)

# %% [markdown]
# ## 6. Why, in one picture
#
# Both failures have one cause. `broadcast` runs in the **sender's** handler and sends to each
# client **in turn**: a send that fails, fails in the sender's handler; a send that waits, makes
# the sender and everyone after that client wait. The fix is to take the sending out of
# `broadcast`: give every connection its own **outbox** (a queue) and its own **writer** task
# that sends from it. `broadcast` only drops the message in each outbox and returns. A writer
# whose send fails removes its own connection; a writer whose send waits, waits alone; and an
# outbox that fills up tells us its client is not reading, so we drop that client.

# %%
# %matplotlib inline
from wslab.figures.fanout import fanout_timelines

fanout_timelines()

# %% [markdown]
# ## 7. Exercise: a manager no client can break
#
# Write `SafeConnectionManager`, with the lecture's names so the lecture's endpoint works with
# it unchanged. The rules:
#
# - **One outbox per connection**: an `asyncio.Queue(maxsize=self.outbound_queue)` in
#   `self.outboxes[websocket]`, and **one writer task** in `self.writers[websocket]`, started in
#   `connect` with `asyncio.create_task(self._write(websocket, outbox))`.
# - **`_write`** loops: take the next message (`await outbox.get()`), send it. If a send raises
#   *any* `Exception` (Starlette raises `WebSocketDisconnect` or `RuntimeError`, depending on
#   how the connection ended), the writer disconnects its own connection and ends. Nobody else
#   notices.
# - **`broadcast` never awaits a send.** For each outbox (loop over a copy:
#   `list(self.outboxes.items())`, since the dict can change meanwhile), `put_nowait(message)`.
#   If that raises `asyncio.QueueFull`, the client has `outbound_queue` messages waiting and is
#   not reading: `self.disconnect(websocket)`, then tell it why with
#   `close_in_background(websocket, 4408, "too slow")` (given below).
# - **`disconnect` is safe to call twice**, or for a websocket it never saw:
#   `self.outboxes.pop(websocket, None)`, and cancel the writer if there is one (but not when the
#   writer itself is the caller: `writer is not asyncio.current_task()`).
# - **`connection_count` is derived** (`len(self.outboxes)`), so it can never drift. That part,
#   and `__init__`, are written for you.
#
# Why close "in the background"? A close frame is one more thing to send, and it waits behind
# the full buffers like everything else: awaiting it in `broadcast` would bring the freeze
# back.

# %%
_closing = set()  # keeps the close tasks alive until they finish


def close_in_background(websocket, code, reason):
    """Close `websocket` with `code` in a task of its own; never wait for it, never fail."""
    async def close():
        try:
            await asyncio.wait_for(websocket.close(code=code, reason=reason), timeout=5)
        except Exception:
            pass  # gone already, or still stuck: uvicorn's keepalive will end it

    task = asyncio.create_task(close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


# %%
class SafeConnectionManager:
    """The lecture's API; every connection gets its own outbox and its own writer task."""

    def __init__(self, outbound_queue: int = 16):
        self.outbound_queue = outbound_queue  # messages that may wait for one client
        self.outboxes: dict[WebSocket, asyncio.Queue] = {}  # websocket -> its waiting messages
        self.writers: dict[WebSocket, asyncio.Task] = {}  # websocket -> the task sending them

    @property
    def active_connections(self) -> list[WebSocket]:
        return list(self.outboxes)

    @property
    def connection_count(self) -> int:
        return len(self.outboxes)

    async def connect(self, websocket: WebSocket) -> None:
        ### BEGIN SOLUTION
        await websocket.accept()
        outbox = asyncio.Queue(maxsize=self.outbound_queue)
        self.outboxes[websocket] = outbox
        self.writers[websocket] = asyncio.create_task(self._write(websocket, outbox))
        ### END SOLUTION
        ### BEGIN STUB
        # TODO: accept; create the outbox (asyncio.Queue(maxsize=self.outbound_queue)) in
        # self.outboxes; start the writer (asyncio.create_task(...)) and keep it in self.writers.
        raise NotImplementedError("exercise: SafeConnectionManager.connect")
        ### END STUB

    def disconnect(self, websocket: WebSocket) -> None:
        ### BEGIN SOLUTION
        self.outboxes.pop(websocket, None)
        writer = self.writers.pop(websocket, None)
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
        ### END SOLUTION
        ### BEGIN STUB
        # TODO: forget the outbox and the writer with .pop(websocket, None); cancel the writer,
        # unless it is the task running this (asyncio.current_task()).
        raise NotImplementedError("exercise: SafeConnectionManager.disconnect")
        ### END STUB

    async def broadcast(self, message: str) -> None:
        ### BEGIN SOLUTION
        for websocket, outbox in list(self.outboxes.items()):
            try:
                outbox.put_nowait(message)
            except asyncio.QueueFull:  # this client is not reading: drop it, and only it
                self.disconnect(websocket)
                close_in_background(websocket, 4408, "too slow")
        ### END SOLUTION
        ### BEGIN STUB
        # TODO: for each (websocket, outbox) in a copy of self.outboxes.items(): put_nowait the
        # message; on asyncio.QueueFull, disconnect that websocket and close_in_background(...).
        raise NotImplementedError("exercise: SafeConnectionManager.broadcast")
        ### END STUB

    async def _write(self, websocket: WebSocket, outbox: asyncio.Queue) -> None:
        ### BEGIN SOLUTION
        try:
            while True:
                message = await outbox.get()
                await websocket.send_text(message)
        except Exception:  # the client is gone, however Starlette says so
            self.disconnect(websocket)
        ### END SOLUTION
        ### BEGIN STUB
        # TODO: loop for ever: message = await outbox.get(), then send it with send_text.
        # If anything raises an Exception, disconnect this websocket (and the loop ends).
        raise NotImplementedError("exercise: SafeConnectionManager._write")
        ### END STUB


# %% [markdown]
# The check uses stand-in sockets again, with `outbound_queue=4`: healthy ones, two whose sends
# raise (a vanished client, in both ways Starlette reports it), and one whose send never
# finishes (a client that never reads). It also calls `disconnect` twice, and checks that no
# writer task is left running once every client has left.

# %% tags=["nbval-check-output"]
from wslab.checks.manager import check_safe_manager

SafeManager = await check_safe_manager(SafeConnectionManager)

# %% [markdown]
# ## 8. Watch it survive
#
# The same two demos, with the same lecture endpoint, now with the manager the check returned:
# yours once it passes, the kit's (`wslab.manager`) until then. It gets room for 64 messages per
# client; section 9 says why not fewer.

# %%
server, log_start, seen = await ghost_demo(SafeManager(outbound_queue=64))

# %% [markdown]
# Ann's handler still dies: that is the endpoint's bug (it catches only `WebSocketDisconnect`),
# and lesson 04 fixes the endpoint. But the manager no longer cares: Ann's ghost lasted only
# until the next broadcast, when her writer's send failed and removed her. Bob and Cat chat on.

# %%
server, log_start = await stall_demo(SafeManager(outbound_queue=64))

# %% [markdown]
# Bob got every line while Lazy's outbox filled; at 64 waiting messages Lazy was dropped and
# told why (4408, if its buffers ever let the close frame through), and nobody else noticed.
#
# Try it: run the last cell again with your own class, `outbound_queue=2`. Now the *healthy*
# clients get dropped too. uvicorn reads many of Ann's frames in one go, and her handler
# broadcasts them one after another without pausing, so the writers get no turn in between:
# a burst fills a small outbox even for a client that reads everything. (The kit's manager,
# below, survives it: it writes at once to a connection that has room.)
#
# ## 9. The trade-offs, honestly
#
# - **Memory is bounded, not free.** A client may have up to `outbound_queue` messages
#   waiting. A broadcast puts the *same* string object in every outbox, so that costs a pointer
#   per waiting message, but each message stays in memory until the slowest outbox has sent it:
#   worst case, `outbound_queue` × the largest message, plus the buffers from section 5 (the
#   kernel's, and uvicorn's up to its 64 KiB high-water mark) for each client.
# - **The bound must beat your bursts.** Too small, and healthy clients are dropped in a burst
#   (you saw it with 2). The kit's server allows 256 waiting messages and limits each sender to
#   10 messages per second (lesson 04), so a chat's bursts stay far below the bound.
# - **A dropped client loses messages.** Eviction is a policy: the slow client is told (close
#   code 4408: the range 4000 to 4999 is free for applications, and the kit picked 4408 for
#   "too slow") and must reconnect; what it missed is gone unless the server keeps a history.
#   The close frame itself waits behind the full buffers, so Lazy may only learn of it from
#   its own timeouts; the server forgets Lazy at once either way.
# - **Flow control is not the villain.** A send that waits while the buffer is above the
#   high-water mark is right for one stream. What went wrong is a `broadcast` that lets one
#   stream's waiting become everyone's.
# - **Order is kept per client** (one writer per connection sends its outbox in order), as
#   before. Each connection costs a task that mostly waits on `outbox.get()`.
# - **Other fixes exist.** `asyncio.wait_for(send, timeout)` and dropping the client on timeout
#   is shorter, but every broadcast still waits up to the timeout for each slow client. The
#   `websockets` library's own `broadcast()` writes to every buffer without waiting at all and
#   relies on the ping timeout to end slow clients; memory grows until then.
#
# The kit's manager, `wslab.manager.ConnectionManager`, is this design plus a few refinements:
# a message is encoded into a frame once, and written at once to every connection that has
# nothing waiting and room in its buffer, so only a client that is behind uses its outbox and a
# writer task (an idle connection costs no task); announcements of joins and leaves have a
# bound of their own, so a crowd joining at once cannot get a slow-but-reading client dropped;
# `send_personal_message` uses the same outbox, an `on_drop` callback lets the chat announce who
# was dropped, and a log line says why. Read it next to your class: `wslab/manager.py`.
#
# ## Clean up
#
# Every demo replaced the previous server; stop the last one.

# %%
server.stop()
server

# %% [markdown]
# ## Key points
#
# - The lecture's `ConnectionManager` keeps a list of sockets; its `broadcast` sends to each one
#   in turn, **inside the handler of whoever spoke**.
# - A handler that dies of anything but `WebSocketDisconnect` never calls `disconnect`: its
#   socket stays as a ghost, and the next broadcast's failure lands in, and kills, an innocent
#   sender's handler.
# - A send waits while the client's buffers are full (flow control). One client that stops
#   reading therefore freezes every broadcast, and the log shows nothing.
# - One bounded outbox and one writer task per connection make `broadcast` return at once:
#   failures stay with their own connection, a full outbox drops only the slow client (4408),
#   `disconnect` is safe twice, and a count derived from the registry cannot drift.
# - The price: a bound per client to choose (above your bursts), and slow clients lose messages.
#
# **Next:** [04 · The chat endpoint](04_chat_endpoint.ipynb): the endpoint that catches every
# failure, validates what clients send, and uses the kit's manager.
#
# The last cell sums up your exercises and your prediction, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.manager import EXERCISES
from wslab.checks.progress import show_progress

progress = await show_progress(EXERCISES, globals())
