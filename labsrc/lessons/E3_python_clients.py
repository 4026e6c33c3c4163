# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # E3 · Python clients: two tasks on one connection, and reconnecting
#
# **Time:** 90 minutes (42 teaching, 48 exercises) · **Builds on:**
# [01 · A first endpoint](01_first_endpoint.ipynb) (a `websockets` client, `BackgroundServer`)
# and [02 · The chat room](02_chat_room.ipynb) (tasks and their cancellation, the chat server).
#
# A chat needs clients, and a client has problems of its own: it must listen and talk at the
# same time, and it must come back by itself when the server restarts, without the whole class
# knocking on the door in the same millisecond. This elective builds a Python client that does
# both.
#
# ## Questions
#
# - How does one client receive and send at the same time?
# - What does a client see when the server restarts, and when should it come back?
# - Why should thirty clients not reconnect at the same moments?
#
# ## Learning objectives
#
# - Write a Python client with `websockets` that sends and receives at the same time, as two
#   asyncio tasks, and stops both cleanly when one ends.
# - Reconnect after the server restarts, with exponential backoff and jitter, and say which
#   close codes must *not* be retried.

# %% [markdown]
# ## 1. A chat server for this lesson
#
# The kit's chat server, started in the background as in the core lessons. Every client in
# this notebook talks to it.

# %% tags=["nbval-check-output"]
import asyncio
import json

import websockets

from wslab.chat import create_app
from wslab.runner import BackgroundServer
from wslab.settings import ChatSettings

# history_on_join=0: a newcomer gets no earlier lines of the room after its welcome, so each
# demo below shows only what happens in it.
server = BackgroundServer(create_app(ChatSettings(history_on_join=0)), name="e3-chat").start()
server

# %% [markdown]
# ## 2. A client that takes turns
#
# The simplest client does one thing after the other: connect, read the welcome, send a line,
# read it back (the server sends every chat line to everyone, the sender included).

# %% tags=["nbval-check-output"]
async with websockets.connect(f"{server.ws_url}/ws/alice") as alice:
    print("1:", await alice.recv())                     # the server's welcome
    await alice.send(json.dumps({"message": "hello"}))
    print("2:", await alice.recv())                     # our own line, back from the server

# %% [markdown]
# That works because we knew what would come next. A real chat does not: while you type, other
# people talk, and their messages can come at any moment. `await alice.recv()` waits for the
# next message and does nothing else meanwhile; a line you want to send waits just as long.
# And the usual way to read what someone types, `input()`, is worse: it blocks the whole
# kernel, so nothing at all happens until Enter.
#
# A client that takes turns, "send what I typed, then read one message", shows other people's
# messages late, and only when you happen to finish typing:

# %%
# %matplotlib inline
from wslab.figures.clients import taking_turns

taking_turns()

# %% [markdown]
# ## 3. Two tasks, one connection
#
# The fix is to do the two jobs in two *tasks*. A task is a coroutine that the event loop runs
# alongside others: whenever one of them `await`s something that is not there yet (the next
# message, the next line typed), the loop runs another. So one task can wait in `recv()` while
# another waits for you and then sends, on the same connection. (`websockets` allows that:
# one task receiving while others send. Two tasks receiving at once is an error.)
#
# Here are the two jobs. The sender pretends to type: it sends its lines with a pause between
# them. And to have someone to talk to, bob is a third coroutine that answers every line he
# hears from someone else, in capitals.

# %%
def show(raw):
    """One message from the server, in one short line."""
    if not raw.startswith("{"):
        return raw                                   # the plain-text relay: "Client x: ..."
    data = json.loads(raw)
    if "type" in data:
        return f"[{data['type']}] {data['message']}"  # the server's own: welcome, join, ...
    return f"{data['client_id']}: {data['message']}"


async def receiver(ws, who):
    """Print every message, until the connection closes."""
    async for raw in ws:
        print(f"{who} hears  {show(raw)}")


async def sender(ws, lines, pause=0.3):
    """Send the lines one by one, as if someone typed them; then wait a moment for replies."""
    for line in lines:
        await asyncio.sleep(pause)
        await ws.send(json.dumps({"message": line}))
    await asyncio.sleep(pause)


async def shouting_bob(url):
    """bob answers every chat line from someone else, in capitals."""
    async with websockets.connect(f"{url}/ws/bob") as bob:
        async for raw in bob:
            data = json.loads(raw)  # this server sends bob only JSON: alice never sends plain text
            if "type" not in data and data["client_id"] != "bob":
                await bob.send(json.dumps({"message": data["message"].upper() + "!"}))


# %% [markdown]
# How do we run them together? `asyncio.gather(a, b, c)` runs coroutines as tasks and waits
# until **all** of them have ended. The next cell gathers alice's sender (one line, then a
# pause: about 0.6 s in all), her receiver and bob, with a time limit of 1.5 s. Before you run
# it, predict what happens:
#
# - (a) gather returns once the sender has sent its line, after about 0.6 s
# - (b) gather is still waiting when the 1.5 s time limit runs out
# - (c) gather raises an error at once: a receiver cannot run beside a sender
#
# Put your letter between the quotes and run the cell, then the demo under it.

# %%
from wslab.checks.clients import GATHER

### BEGIN SOLUTION
my_prediction = "b"
### END SOLUTION
### BEGIN STUB
my_prediction = ""  # "a", "b" or "c"
### END STUB
GATHER.predict(my_prediction)

# %%
async with websockets.connect(f"{server.ws_url}/ws/alice") as alice:
    try:
        await asyncio.wait_for(asyncio.gather(
            sender(alice, ["hi bob"]), receiver(alice, "alice"), shouting_bob(server.ws_url)),
            timeout=1.5)
        ended = "returned"
    except asyncio.TimeoutError:
        ended = "timed out"
        print("... still waiting after 1.5 s: the sender was done, but the receiver never ends")
GATHER.check(ended);

# %% [markdown]
# The sender was done after 0.6 s, but a receiver ends only when the connection closes,
# and the connection closes only when the `async with` block ends, which waits for `gather`:
# without the time limit, the cell would wait forever. Worse, if one task *fails*, `gather`
# passes its exception on at once and leaves the other tasks running, unattended.
#
# What a chat client needs is: when the **first** of the tasks ends (you quit, or the server
# closed the connection), stop the others. `asyncio.wait(..., return_when=FIRST_COMPLETED)`
# says when the first one has ended; the rest is ours to do:

# %%
### SOURCE wslab.client:run_until_first_done


# %% [markdown]
# Three details matter here:
#
# - `task.cancel()` only *asks* a task to stop: it raises `CancelledError` inside the task at
#   its current `await`, and the task's `finally:` and `async with` blocks still run. The
#   `gather(..., return_exceptions=True)` after it waits until they have, so nothing is left
#   running that could still use the connection after the `async with` block has closed it,
#   or print into some later cell.
# - The result, or the exception, of the task that ended first is passed on, so a crash in the
#   receiver is not swallowed.
# - `asyncio.TaskGroup` (Python 3.11 and later) cancels the other tasks when one **fails**.
#   When one simply returns, a `TaskGroup` still waits for all the others, like `gather`.
#
# The same three coroutines again, run until the first one ends:

# %%
async with websockets.connect(f"{server.ws_url}/ws/alice") as alice:
    await run_until_first_done(
        sender(alice, ["hi bob", "why are you shouting?"]),
        receiver(alice, "alice"),
        shouting_bob(server.ws_url))
print("done: the sender ended, so the receiver and bob were cancelled")

# %% [markdown]
# bob's answers arrive while alice's sender is pausing: the receiver shows each one as it comes.
#
# ## 4. Exercise: a receiver that collects chat lines
#
# A program (a test, a bot, the widget of lesson 04) wants the chat lines themselves, not
# everything the server says. Write `receive_chat(ws, count)`: it receives messages from `ws`
# until it has `count` chat lines, and returns them as a list of `(sender, text)` tuples:
#
# | the server sends | `receive_chat` |
# |---|---|
# | a chat line `{"message": "hi", "client_id": "bob", "timestamp": "..."}` | keeps `("bob", "hi")` |
# | the plain-text relay `Client bob: plain words` (text that is not JSON) | keeps `("bob", "plain words")` |
# | a message of the server's own, with a `"type"` (`welcome`, `join`, `disconnect`, `error`, `pong`) | skips it |
#
# It returns as soon as it has `count` lines: a real server may not say anything more for a long
# time. The check runs it on scripted connections that stop talking after the last line.

# %%
### BEGIN SOLUTION
from typing import Any

from wslab import envelope


### SOURCE wslab.client:parse_frame


### SOURCE wslab.client:line_of


### SOURCE wslab.client:chat_line


### SOURCE wslab.client:receive_chat
### END SOLUTION
### BEGIN STUB
async def receive_chat(ws, count):
    # TODO: receive with `await ws.recv()` until you have `count` chat lines; return them as
    # a list of (sender, text) tuples.
    # Hint: json.loads() raises json.JSONDecodeError for the plain-text relay; split that one
    # at the first ": " (text.split(": ", 1)). A JSON object with a "type" is not chat.
    raise NotImplementedError("exercise: receive_chat")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.clients import check_receive_chat

checked_receive_chat = await check_receive_chat(receive_chat)

# %% [markdown]
# The check gives back what the rest of the lesson uses, under a name of its own:
# `checked_receive_chat` is your `receive_chat` once it passes, and the kit's until then (lesson
# 00 explains why). The same goes for `checked_backoff` below.
#
# Now on the real server. alice arrives first, so she also gets her welcome and bob's join,
# which `checked_receive_chat` skips:

# %% tags=["nbval-check-output"]
url = f"{server.ws_url}/ws"
async with websockets.connect(f"{url}/alice") as alice, websockets.connect(f"{url}/bob") as bob:
    await bob.send(json.dumps({"message": "hi alice"}))
    await bob.send("plain words, not JSON")
    print(await asyncio.wait_for(checked_receive_chat(alice, 2), timeout=3))

# %% [markdown]
# ## 5. When the server goes away
#
# Servers restart: a new version is deployed, the laptop running it goes to sleep, the
# instructor presses Ctrl-C. What does a client see? Stop the server while alice is connected:

# %% tags=["nbval-check-output"]
async with websockets.connect(f"{server.ws_url}/ws/alice") as alice:
    await alice.recv()                             # the welcome
    port = server.port
    server.stop()                                  # shut the server down, as for a restart
    try:
        await alice.recv()
    except websockets.ConnectionClosed as closed:
        print(f"{type(closed).__name__}, the server's close frame: {closed.rcvd}")

try:
    async with websockets.connect(f"{server.ws_url}/ws/alice", open_timeout=2):
        pass
except OSError as exc:
    print("connecting again:", type(exc).__name__)

# %% [markdown]
# uvicorn closed alice's connection with code **1012**, "service restart", and a second try finds
# nothing listening at all. A new server on the **same port** is what a restarted server looks
# like to its clients. It is a new process with a fresh room: nobody is in it until the clients
# come back by themselves.

# %%
server = BackgroundServer(create_app(), port=port, name="e3-chat").start()
server

# %% [markdown]
# When a connection ends, the close code says whether coming back makes sense. The kit's rule
# (the codes marked final in `wslab.close_codes.CLOSES`): **stop after 1008 and 4409; reconnect,
# after a delay, after every other code**.
#
# | close code | means | a chat client should |
# |---|---|---|
# | 1012 service restart, 1001 going away | the server is restarting or shutting down | reconnect, after a delay |
# | 1006 (no close frame), 1011 internal error | the network dropped, or the server crashed | reconnect, after a delay |
# | 1000 normal closure, from the server or a proxy | closed on purpose, for instance an idle timeout | reconnect, after a delay |
# | 4408 too slow | this client stopped reading (lesson 02) | reconnect, after a delay |
# | 1009 message too big | one message was over the server's limit | reconnect, after a delay, **without** sending that message again |
# | 1008 policy violation | a wrong join token or a bad name | **stop**, and tell the person why |
# | 4409 replaced | the same name connected again elsewhere (another tab) | **stop**: reconnecting would push the other tab out, which pushes this one out, forever |
# | (you closed it yourself) | you left | stop |
#
# The kit's page and widget follow this table, and so does the client below. (It keeps no
# queue of unsent messages, so it never sends the too-big one again.)
#
# ## 6. The library's reconnect loop, and its trap
#
# `websockets` can reconnect for you: used in `async for`, `websockets.connect(url)` hands you
# one connection after the other.
#
# ```python
# async for ws in websockets.connect(url):
#     try:
#         async for message in ws:
#             ...
#     except websockets.ConnectionClosed:
#         continue
# ```
#
# Read its documentation with care, because it decides less than it seems to:
#
# - It retries when **connecting** fails: nothing listening, a timeout, an HTTP 500, 502, 503 or
#   504 answer, waiting longer between tries each time. Any other failure, such as HTTP 403 or
#   404, is raised: retrying would not help.
# - Once a connection is open, how it ends is **your** business: the body of the loop decides,
#   with `continue` (connect again at once) or `break`. And each successful connection resets
#   its delays to the start.
#
# So what happens with the loop above when the server accepts the handshake and then refuses
# you, with 1008 for a missing join token? A server with a join token, and one second:

# %%
from wslab.settings import ChatSettings

strict = BackgroundServer(create_app(ChatSettings(token="s3cret")), name="e3-strict").start()
connections = 0


async def stay_connected(url):
    global connections
    async for ws in websockets.connect(url):
        connections += 1
        try:
            async for message in ws:
                pass
        except websockets.ConnectionClosed:
            continue                                # reconnect, as the documentation shows


try:
    await asyncio.wait_for(stay_connected(f"{strict.ws_url}/ws/py"), timeout=1)  # no token
except asyncio.TimeoutError:
    pass
print(f"{connections} connections in one second, every one of them refused")

# %% [markdown]
# Hundreds of connections a second, each one accepted, refused, and immediately tried again,
# from a single client: every handshake succeeded, so the library never waited. One student
# with a typo in the token would keep the server busy all by themselves. (The kit's server
# defends itself: after 10 wrong tokens in 5 s from one address it stops checking them and
# answers 1013, "try again later", for the rest of those 5 s; elective E6 shows why. So the next
# cell starts a fresh server.) The cure is to look at the close code before going round again:

# %% tags=["nbval-check-output"]
async def stay_connected(url):
    async for ws in websockets.connect(url):
        try:
            async for message in ws:
                pass
        except websockets.ConnectionClosed:
            pass
        if ws.close_code in (1008, 4409):          # retrying cannot fix these: tell the person
            print(f"refused with {ws.close_code}: {ws.close_reason}. Not retrying.")
            return


strict.stop()
strict = BackgroundServer(create_app(ChatSettings(token="s3cret")), name="e3-strict").start()
await asyncio.wait_for(stay_connected(f"{strict.ws_url}/ws/py"), timeout=1)
strict.stop()

# %% [markdown]
# That still reconnects *at once* after a server restart, when the server is most likely not
# back yet, and the whole class arrives in the same instant. The kit's client, `ChatClient` in
# `wslab.client`, keeps websockets' loop and adds what it leaves out, by the same policy as the
# kit's page (`wslab.reconnect`): a delay before **every** reconnect, growing while the server
# stays away; the table above for the close codes; and it starts the delays afresh only after a
# connection that lasted (10 s), so a server that accepts and closes again and again cannot make
# it spin. Here is its loop:

# %%
import inspect
import textwrap

from IPython.display import Code

from wslab.client import ChatClient

Code(textwrap.dedent(inspect.getsource(ChatClient._run)), language="python")

# %% [markdown]
# After each close, `_after_close` asks the policy for the next step, and after each failed
# try, `_after_failure` does (websockets calls it through `process_exception`). The policy's
# delays come from one function, `wslab.backoff.backoff_delay`: the next exercise.
#
# ## 7. Exercise: the backoff delay
#
# After a restart, every student's client lost the server at the same moment. If they all wait
# exactly 0.5 s, then 1 s, then 2 s, they all knock at exactly the same moments: a burst of
# connections each time, and the biggest one just when the server is back and busiest. *Jitter*,
# a random part of each delay, spreads them out. The simulation below shows 40 clients and a
# server that is gone for 6 seconds (the dots are connection tries):

# %%
from wslab.figures.clients import reconnect_storm

reconnect_storm()

# %% [markdown]
# With jitter, the busiest tenth of a second has far fewer tries, and the clients come back
# one by one instead of all at once. The price is that some of them come back a few seconds
# later than they might have: a fair trade for a server that stays up.
#
# Write `backoff(attempt, rand, first, cap)`, the delay in seconds before reconnect number
# `attempt` (0 for the first reconnect, 1 for the second, ...):
#
# - the **ceiling** starts at `first` and doubles with each attempt, but never exceeds `cap`:
#   `min(cap, first * 2 ** attempt)`; with the kit's numbers, `first=1` and `cap=30`, that is
#   1, 2, 4, 8, 16, 30, 30, ...;
# - the **delay** is half the ceiling plus `rand` times the other half, where `rand` is a random
#   number in [0, 1) that the caller draws (`random.random()`): so it falls between half the
#   ceiling and the ceiling.
#
# Taking `rand` as an argument keeps the function free of chance: the same arguments always give
# the same delay, so it can be checked exactly. This is the rule every part of the kit that
# reconnects follows, `ChatClient`, `ChatWidget` and the `/chat` page included. The check calls
# your function with `rand` at 0, 0.5 and 0.999, for every attempt up to 12, other numbers, and
# a client that has been retrying for hours.

# %%
import random


### BEGIN SOLUTION
### SOURCE wslab.backoff:backoff_delay


backoff = backoff_delay
### END SOLUTION
### BEGIN STUB
def backoff(attempt, rand, first, cap):
    # TODO: the ceiling is first * 2 ** attempt, at most cap; return half the ceiling plus
    # rand times the other half.
    # Hint: a client may retry for hours: keep 2 ** attempt from growing without end, or
    # first * 2 ** attempt overflows a float (OverflowError) once attempt passes about 1000
    # (2 ** min(attempt, 60) is plenty).
    raise NotImplementedError("exercise: backoff")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.clients import check_backoff

checked_backoff = check_backoff(backoff)

# %% [markdown]
# A few delays, one per attempt, each with a fresh `random.random()` (run the cell again: they
# change every time), with the kit's numbers:

# %%
print([round(checked_backoff(attempt, random.random(), 1.0, 30.0), 2) for attempt in range(8)])

# %% [markdown]
# ## 8. Live: restart the server under a client
#
# `ChatClient(url, client_id, policy=...)` connects at once and then runs in the background, on
# this kernel's event loop, so the next cells can go on. It never prints by itself (what a
# background task prints may land in any cell, or none): it keeps a log, and
# `await client.watch(...)` prints that log, as it grows, in the cell that waits for it. (Each
# line starts with the seconds since the client started.) Its policy's numbers are the kit's,
# `CHAT_POLICY`, unless you give others: here a first delay of half a second, so that the next
# cells need not wait long.

# %%
from wslab.reconnect import CHAT_POLICY, ReconnectPolicy

print(CHAT_POLICY)
py = ChatClient(server.ws_url, "py", policy=ReconnectPolicy(first=0.5, cap=10.0))
await py.say("hello from py")
await py.watch(until=lambda client: ("py", "hello from py") in client.chat_lines)

# %% [markdown]
# Now stop the server and watch what `py` does for a second and a half:

# %%
port = server.port
server.stop()                      # every client gets 1012: the server is restarting
await py.watch(timeout=1.5)

# %% [markdown]
# Each try finds nothing listening, and each wait is longer than the one before. Start a new
# server on the same port, and `py` finds it at its next try:

# %%
server = BackgroundServer(create_app(), port=port, name="e3-chat").start()
await py.watch(until=lambda client: client.connected, timeout=10)
await py.say("back again")
await py.watch(until=lambda client: ("py", "back again") in client.chat_lines)

# %% tags=["nbval-check-output"]
print(f"py is {py.status}, after {py.connections} connections; its last line:",
      py.chat_lines[-1])

# %% [markdown]
# Run the last three cells again, the stop, the restart and this one, and compare: the delays
# differ every time. That is the jitter.
#
# ## Clean up
#
# Close the client and stop the server.

# %% tags=["nbval-check-output"]
await py.close()
server.stop()
print(py)
print(server)

# %% [markdown]
# ## Key points
#
# - A chat client does two jobs at once: one task receives, another sends. Run them with
#   `asyncio.wait(..., return_when=FIRST_COMPLETED)`, then cancel **and await** the rest;
#   `gather` waits for all of them, and a `TaskGroup` cancels the rest only on an error.
# - When the server goes away, uvicorn closes with 1012; reconnect after a delay that doubles up
#   to a cap, with random jitter, so that a class does not come back in one burst.
# - `async for ws in websockets.connect(url)` retries failed *connections* only; after a close,
#   your code decides. Stop after 1008 (refused) and 4409 (replaced); come back after the
#   others, 1009 included, without the message that was too big.
#
# The last cell sums up your exercises and your prediction, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.clients import EXERCISES
from wslab.checks.progress import show_progress

progress = await show_progress(EXERCISES, globals())
