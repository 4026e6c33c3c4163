# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · The chat room
#
# **Time:** 45 minutes (22 teaching, 23 exercises) · **Builds on:**
# [01 · A first endpoint](01_first_endpoint.ipynb): an endpoint, `BackgroundServer`, and a
# `websockets` client in a cell.
#
# In a chat room, what one client says reaches all the others, through the lecture's
# `ConnectionManager`. You write it, watch two ordinary clients break it, and finish one that
# survives them.
#
# ## Questions
#
# - How does one client's message reach every other client?
# - What can one client that vanishes, or stops reading, do to everyone else?
# - How do a queue and a task per client keep one client's trouble its own?
#
# ## Learning objectives
#
# - Write the lecture's `ConnectionManager`, and serve the lecture's `/ws/{client_id}` endpoint
#   with it.
# - Predict, then watch, two failures on a live server: a *ghost*, and a client that stops
#   reading.
# - Use asyncio tasks, a bounded `asyncio.Queue` and `cancel`.
# - Complete a manager that gives each client an outbox and a writer task.

# %% [markdown]
# ## 1. Exercise: the lecture's manager
#
# | member | what it does |
# |---|---|
# | `active_connections` | a list of the open `WebSocket` objects |
# | `connection_count` | how many there are, kept as a number of its own |
# | `connect(websocket)` | accept the handshake, add the websocket to the list, count up |
# | `disconnect(websocket)` | remove it from the list, count down (a plain `def`) |
# | `broadcast(message)` | send the message to each connection in the list, in turn |
#
# Write the class.

# %%
from fastapi import WebSocket


### BEGIN SOLUTION
### SOURCE wslab.answers.manager:ConnectionManager
### END SOLUTION
### BEGIN STUB
class ConnectionManager:
    def __init__(self):
        # TODO: no connections yet
        raise NotImplementedError("exercise: ConnectionManager.__init__")

    async def connect(self, websocket: WebSocket):
        # TODO: accept, keep, count
        raise NotImplementedError("exercise: ConnectionManager.connect")

    def disconnect(self, websocket: WebSocket):
        # TODO: forget, count down
        raise NotImplementedError("exercise: ConnectionManager.disconnect")

    async def broadcast(self, message: str):
        # TODO: send to every connection
        raise NotImplementedError("exercise: ConnectionManager.broadcast")
### END STUB


# %% [markdown]
# The check uses stand-in sockets that record what they are sent. The notebook carries on with
# `checked_ConnectionManager`: yours once it passes, the lecture's until then.

# %% tags=["nbval-check-output"]
from wslab.checks.manager import check_lecture_manager

checked_ConnectionManager = await check_lecture_manager(ConnectionManager)

# %% [markdown]
# ## 2. The lecture's endpoint, with two real clients
#
# The lecture's endpoint, shortened; one `manager` serves every connection:
#
# ```python
# @app.websocket("/ws/{client_id}")
# async def websocket_endpoint(websocket: WebSocket, client_id: str):
#     await manager.connect(websocket)
#     try:
#         while True:
#             data = await websocket.receive_text()
#             message_data = json.loads(data)           # {"message": "hi"}
#             message_data.update({"client_id": client_id, "timestamp": ...})
#             await manager.broadcast(json.dumps(message_data))
#     except WebSocketDisconnect:
#         manager.disconnect(websocket)
#         await manager.broadcast(...)                  # "Client #ann left the chat"
# ```
#
# `client_id` comes from the URL: `/ws/ann` is Ann. `create_lecture_app(manager)` builds the
# lecture's app around the manager you give it. Serve it, and let Ann and Bob chat:

# %% tags=["nbval-check-output"]
import json

import websockets

from wslab.lecture import create_lecture_app
from wslab.runner import BackgroundServer

server = BackgroundServer(create_lecture_app(checked_ConnectionManager()), name="chat-room").start()
async with websockets.connect(server.ws_url + "/ws/ann") as ann, \
        websockets.connect(server.ws_url + "/ws/bob") as bob:
    await ann.send(json.dumps({"message": "Hi Bob!"}))
    print("bob hears:", await bob.recv())
    print("ann hears:", await ann.recv())

# %% [markdown]
# Keep one fact in mind: when Ann speaks, **Ann's handler** runs `broadcast`, and reads Ann's
# next message only once every send is done.
#
# ## 3. Failure 1: a handler that dies
#
# When a client's network drops, `receive_text()` raises `WebSocketDisconnect` and the
# `except` clause cleans up. But a handler can die of other exceptions. A binary frame (in
# Python, `send(b"...")`) has no text, so `receive_text()` raises `KeyError`.
#
# Predict first. Ann, Bob and Cat are connected. Ann sends a binary frame; her handler dies,
# and the server hangs up on her. Then Bob says "anyone there?". What will Cat hear?
#
# - (a) Cat hears Bob, and the manager has forgotten Ann
# - (b) Cat hears Bob; Ann is still registered, but that does no harm
# - (c) Cat hears nothing, and Bob is thrown out too

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
from wslab.misbehaving import ghost_demo

demo = await ghost_demo(checked_ConnectionManager())
GHOST.check(demo.seen);

# %% [markdown]
# Bob did nothing wrong, and he is gone:
#
# 1. Ann's handler died of `KeyError`, so **nobody called `disconnect`**: Ann's closed
#    connection stays in the list, a *ghost*.
# 2. Bob's handler ran `broadcast`, whose first send went to the ghost and raised, inside
#    Bob's handler. Bob's `except` clause took that for Bob leaving, removed him, and announced
#    it: that hit the ghost again and killed Bob's handler.
#
# The ghost stays, and takes down every next speaker.
#
# ## 4. Failure 2: a client that stops reading
#
# A send goes into buffers, and TCP moves it on as fast as the client reads. Only when the buffers are full does `send` wait for room. That is *flow
# control*. For a client that stopped reading (a frozen tab, a sleeping laptop), it waits for
# ever.
#
# In the next demo Lazy connects and never reads. Ann says 400 long lines while Ann and Bob
# count what reaches them, for 2 seconds; then Lazy hangs up.

# %%
from wslab.misbehaving import stall_demo

demo = await stall_demo(checked_ConnectionManager())

# %% [markdown]
# The room froze: Ann's handler is stuck in a send to Lazy, and reads nothing more from Ann. No
# error, no log line. When Lazy hung up, that send failed in *Ann's* handler, which removed Ann.
#
# One cause: `broadcast` runs in the **sender's** handler and sends to each client **in
# turn**. A send that fails, fails the sender; a send that waits, makes everyone wait. The fix:
# give each connection its own **outbox** (a queue) and **writer** (a task) that sends from it;
# `broadcast` only puts the message in each outbox. Top, the lecture's broadcast; below, the
# fix:

# %%
# %matplotlib inline
from wslab.figures.fanout import fanout_timelines

fanout_timelines()

# %% [markdown]
# ## 5. Three asyncio tools
#
# **A queue** holds items until someone takes them. `maxsize` bounds it: `put_nowait(item)`
# adds an item without waiting, or raises `asyncio.QueueFull`. (`await queue.put(item)` would
# wait for room.) `await queue.get()` takes the oldest item, waiting while there is none.

# %%
import asyncio

outbox = asyncio.Queue(maxsize=2)
outbox.put_nowait("one")
outbox.put_nowait("two")
try:
    outbox.put_nowait("three")
except asyncio.QueueFull:
    print("full:", outbox.qsize(), "items wait")

# %% [markdown]
# **A task** runs a coroutine alongside your code: `asyncio.create_task(...)` starts it and
# returns at once. **`task.cancel()`** stops it where it waits. Here a writer task sends what
# comes into the outbox:

# %%
async def writer(outbox):
    while True:
        print("sending", await outbox.get())  # waits while the outbox is empty


task = asyncio.create_task(writer(outbox))  # starts; this cell goes on
print("the writer runs alongside")
await asyncio.sleep(0.1)  # a turn for the writer: it sends both, then waits
task.cancel();  # stop it where it waits

# %% [markdown]
# ## 6. Exercise: a manager no client can break
#
# The lecture's manager, rebuilt with those tools. Read it first:
#
# - `connect` gives each connection a bounded outbox and starts its writer, `_write`.
# - When a send fails, the client is gone: its writer disconnects *its own* connection, and
#   nobody else notices.
# - `disconnect` is safe to call twice, and cancels the writer.
# - `drop` disconnects a client that does not read, and closes it with code 4408 ("too slow")
#   in a task, without waiting: that close waits behind the full buffers too.
#
# Your part is `broadcast`. It must never wait for a client: it puts the message in every
# outbox. A full outbox means that client is not reading: drop it, and only it.

# %%
import contextlib


class SafeConnectionManager:
    ### SOURCE wslab.answers.manager:SafeConnectionManager.__init__

    ### SOURCE wslab.answers.manager:SafeConnectionManager.active_connections

    ### SOURCE wslab.answers.manager:SafeConnectionManager.connection_count

    ### SOURCE wslab.answers.manager:SafeConnectionManager.connect

    ### SOURCE wslab.answers.manager:SafeConnectionManager.disconnect

    ### SOURCE wslab.answers.manager:SafeConnectionManager._write

    ### SOURCE wslab.answers.manager:SafeConnectionManager.drop

    ### SOURCE wslab.answers.manager:SafeConnectionManager._close

    ### BEGIN SOLUTION
    ### SOURCE wslab.answers.manager:SafeConnectionManager.broadcast
    ### END SOLUTION
    ### BEGIN STUB
    async def broadcast(self, message: str):
        # TODO: queue the message for every client without waiting; drop a client whose
        # outbox is full.
        raise NotImplementedError("exercise: SafeConnectionManager.broadcast")
    ### END STUB


# %% [markdown]
# The check uses stand-in sockets: healthy ones, two that vanished, and one that never reads.

# %% tags=["nbval-check-output"]
from wslab.checks.manager import check_safe_manager

checked_SafeConnectionManager = await check_safe_manager(SafeConnectionManager)

# %% [markdown]
# ## 7. Watch it survive
#
# The same two demos with the safe manager (yours once it passes), 64 messages per outbox:

# %%
demo = await ghost_demo(checked_SafeConnectionManager(outbound_queue=64))

# %% [markdown]
# Ann's handler still dies (the endpoint's bug: elective E2 fixes it), but her ghost lasts
# only until her writer's next send fails. Bob and Cat chat on.

# %%
demo = await stall_demo(checked_SafeConnectionManager(outbound_queue=64))

# %% [markdown]
# Bob got every line; Lazy alone was dropped. The price:
#
# - **Memory**: each client may have `outbound_queue` messages waiting.
# - **The bound must be above your bursts**, or a burst drops healthy clients too.
# - **A dropped client loses what it missed**; code 4408 tells its page why.
#
# The kit's own chat server uses a hardened relative of this class, `wslab.manager`.
#
# ## Clean up

# %%
server.stop()
demo.server.stop()

# %% [markdown]
# ## Key points
#
# - The lecture's `broadcast` sends to each client in turn, **inside the sender's handler**.
# - A handler that dies of anything but `WebSocketDisconnect` leaves a ghost, which kills the
#   next sender's handler.
# - One client that stops reading silently freezes every broadcast.
# - `create_task` runs a coroutine alongside; `put_nowait` on a full queue raises `QueueFull`;
#   `cancel` stops a task.
# - One bounded outbox and one writer per connection keep each client's trouble its own.
#
# **Next:** [03 · The browser page](03_browser_page.ipynb): the lecture's page for this chat.

# %% tags=["nbval-check-output"]
from wslab.checks.manager import EXERCISES
from wslab.checks.progress import show_progress

progress = await show_progress(EXERCISES, globals())
