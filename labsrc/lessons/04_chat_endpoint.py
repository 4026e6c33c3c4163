# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · The chat endpoint: from the lecture's loop to one that bad input cannot break
#
# **Time:** 60 minutes (25 teaching, 35 exercises) · **Builds on:**
# [03 · The connection manager](03_connection_manager.ipynb).
#
# The lecture's chat server is two pieces: a `ConnectionManager` (lesson 03) and one endpoint,
# `/ws/{client_id}`, that reads what a client sends and tells everyone. This lesson takes that
# endpoint apart one line at a time, runs it, and then lets a client called eve send it things
# a friendly browser page never would. Each one breaks the chat in its own way. You then write
# the endpoint again so that nothing a client sends can break it, and test it the way FastAPI's
# documentation shows.
#
# ## Learning objectives
#
# - Explain what each line of the lecture's `/ws/{client_id}` endpoint does, and what each
#   client then receives.
# - Name four kinds of bad input that break it, and say why each one does.
# - Write a function that checks one frame from a client and says why it refuses it.
# - Write an endpoint loop that answers bad input with an error to the sender alone, keeps
#   everyone else chatting, and always cleans up.
# - Test a WebSocket endpoint with FastAPI's `TestClient`, and know what such a test cannot see.

# %% [markdown]
# ## 1. The lecture's endpoint, line by line
#
# The package `wslab` keeps the lecture's code exactly as the slides show it, in
# `wslab.lecture`. (One change: the endpoint sits inside a function, `create_lecture_app()`, so
# that every server we start gets a fresh manager.) Here is the endpoint, read from there:

# %%
import inspect
import textwrap

from wslab import lecture

source = inspect.getsource(lecture.create_lecture_app)
endpoint = source[source.index("    @app.websocket"):source.index("    return app")]
print(textwrap.dedent(endpoint))

# %% [markdown]
# What happens, in order:
#
# 1. `manager.connect(websocket)` accepts the handshake and adds the connection to the list.
#    `client_id` comes from the URL: a client that opens `/ws/alice` is called `alice`.
# 2. `while True:` one turn of the loop per message. `await websocket.receive_text()` waits
#    until this client sends something, and returns it as a `str`.
# 3. `json.loads(data)` turns the text into Python: `'{"message": "hi"}'` becomes the dict
#    `{"message": "hi"}`.
# 4. `message_data.update({...})` adds two fields to that dict: **who** sent it (`client_id`)
#    and **when** (`timestamp`, the server's clock as `HH:MM:SS`). The server adds them, so a
#    client does not have to, and, the idea goes, cannot lie about them.
# 5. `manager.broadcast(json.dumps(message_data))` sends the result to every connection,
#    the sender's included: that is how your own line appears on your own screen.
# 6. If the text is not JSON at all, `json.loads` raises `json.JSONDecodeError`, and the
#    server relays it as plain text instead: `Client alice: hello`.
# 7. When the client goes away, `receive_text()` raises `WebSocketDisconnect`: the connection
#    leaves the list and everyone else gets a *leave message*, marked `"type": "disconnect"`.
#
# Steps 3 and 4 are plain Python, so you can try them without any server (the timestamp is
# fixed here, to be the one from the lecture's slide):

# %% tags=["nbval-check-output"]
import json

data = '{"message": "Hi Dr. Mohammed, How are you ?"}'
message_data = json.loads(data)
message_data.update({"client_id": "7w8cwb", "timestamp": "22:27:39"})
print(json.dumps(message_data))

try:
    json.loads("hello in plain text")
except json.JSONDecodeError as exc:
    print(f"not JSON ({exc}), so it goes out as: Client 7w8cwb: hello in plain text")

# %% [markdown]
# ## 2. Run it, and chat with two clients
#
# `BackgroundServer` (lesson 00) runs the app in a thread of its own, so this notebook can talk
# to it. Two clients, alice and bob, connect with the `websockets` library. `hear(ws)` waits a
# moment for the next message and says what came: a message, nothing, or the end of the
# connection. Every wait in this lesson has a time limit, so no cell can hang. A message
# normally arrives within milliseconds; "nothing" takes the whole wait.

# %%
import asyncio

import websockets
from websockets.asyncio.client import connect

from wslab.lecture import create_lecture_app
from wslab.runner import BackgroundServer


async def hear(ws, wait=2.0):
    """What `ws` receives next: the message, or what happened instead, within `wait` seconds."""
    try:
        message = await asyncio.wait_for(ws.recv(), wait)
    except asyncio.TimeoutError:
        return "(nothing)"
    except websockets.ConnectionClosed as closed:
        if closed.rcvd is None:
            return "(the connection ended without a close frame)"
        return f"(closed by the server with code {closed.rcvd.code}: {closed.rcvd.reason})"
    if len(message) > 220:
        return f"({len(message):,} characters: {message[:30]}...)"
    return message


lecture_server = BackgroundServer(create_lecture_app(), name="lesson04-lecture").start()
lecture_server

# %% tags=["nbval-check-output"]
url = f"{lecture_server.ws_url}/ws"
async with connect(f"{url}/alice") as alice, connect(f"{url}/bob") as bob:
    await alice.send(json.dumps({"message": "Hi everyone"}))
    print("alice hears:", await hear(alice))
    print("bob hears:  ", await hear(bob))

    await bob.send("hello in plain text")
    print("alice hears:", await hear(alice))
    print("bob hears:  ", await hear(bob))

    await bob.close()
    print("alice hears:", await hear(alice))

# %% [markdown]
# Three kinds of message came out: a chat line (JSON with `message`, `client_id`,
# `timestamp`), a plain-text relay (not JSON at all), and a leave message. The lecture's page
# shows a line as a *system* line exactly when it has `"type": "disconnect"`, or when it is not
# JSON. Remember that rule: eve will use it.
#
# The lecture's `print()` calls went to the server's log, not into this notebook:

# %%
lecture_server.print_logs(last=6)

# %% [markdown]
# ## 3. Break it
#
# The lecture's page only ever sends `{"message": "..."}`. But anything that can open a
# WebSocket can connect: a script, a browser console, a buggy client. Meet eve. The helper
# below starts a fresh server, connects eve, alice and bob, lets eve send one frame, and then
# lets alice ask whether anyone is there. It prints what each of the three hears after each
# step, and the errors the server logged. (Each attack gets a fresh server because, as you
# will see, one attack leaves the lecture's server broken.)

# %%
import re


def shown_frame(frame):
    if isinstance(frame, bytes):
        return f"a binary frame {frame!r}"
    return frame if len(frame) <= 100 else f"a text frame of {len(frame):,} characters"


async def attack(server, *frames):
    """eve sends each frame, then alice asks if anyone is there; print what everyone hears."""
    logged_before = len(server.logs(None))
    heard = {"eve": [], "alice": [], "bob": []}
    url = f"{server.ws_url}/ws"
    async with connect(f"{url}/eve") as eve, connect(f"{url}/alice") as alice, \
            connect(f"{url}/bob") as bob:
        people = {"eve": eve, "alice": alice, "bob": bob}
        question = json.dumps({"message": "anyone there?"})
        for frame in frames:
            for who, sent in (("eve", frame), ("alice", question)):
                print(f"{who} sends {shown_frame(sent)}")
                try:
                    await people[who].send(sent)
                except websockets.ConnectionClosed:
                    print(f"    but {who}'s connection is closed")
                    continue
                answers = await asyncio.gather(*(hear(ws, wait=0.3) for ws in people.values()))
                for name, answer in zip(people, answers):
                    print(f"    {name:5} hears: {answer}")
                    heard[name].append(answer)
    crashes = [line for line in server.logs(None)[logged_before:]
               if re.match(r"[\w.]+(Error|Disconnected)\b", line)]
    for line in crashes:
        print("server log:", line)
    return heard


async def attack_lecture(frame, **uvicorn_options):
    """One attack on a fresh copy of the lecture's server."""
    with BackgroundServer(create_lecture_app(), name="lesson04-attack",
                          **uvicorn_options) as server:
        return await attack(server, frame)


# %% [markdown]
# ### Attack 1: JSON that is not an object
#
# `[1, 2, 3]` is perfectly valid JSON. It just is not a dict.

# %%
heard = await attack_lecture("[1, 2, 3]")

# %% [markdown]
# `json.loads` returned a list, and a list has no `.update()`: `AttributeError`. The endpoint
# catches `json.JSONDecodeError` and `WebSocketDisconnect`, nothing else, so the exception ends
# eve's handler. uvicorn logs it and drops eve's connection without a close frame. And the
# `except WebSocketDisconnect:` block, the only place that removes a connection, never ran:
# eve's dead connection is still in the manager's list, a *ghost*.
#
# Then alice speaks, and `broadcast` tries the ghost first. Sending to a closed connection
# raises inside **alice's** handler, which takes it for alice's own disconnect: alice is
# removed and cut off, although she did nothing wrong. That is lesson 03's flaw, and it turns
# one bad frame from eve into a broken room. The server's log shows it all: eve's
# `AttributeError`, then alice's handler failing on the ghost, then bob's, as he leaves when
# the cell ends. `42`, `"hi"`, `null` and `true` do the same as the list, and so does
# `{"text": "hi"}`: an object without `"message"` raises `KeyError` in the `print`.
#
# ### Attack 2: a binary frame
#
# A WebSocket message is either text or binary (lesson 01). A browser sends binary with
# `ws.send(new Uint8Array([0, 1]))`; in Python, `send(b"...")`.

# %%
heard = await attack_lecture(b"\x00\x01")

# %% [markdown]
# `receive_text()` reads the `"text"` key of the message Starlette received; a binary frame
# has `"bytes"` instead, so it raises `KeyError: 'text'`. Same ending as attack 1.
#
# ### Attack 3: a forged system message
#
# The server adds `client_id` and `timestamp` to whatever dict the client sent. So every other
# field the client sends goes out to everyone unchanged, `"type"` included.

# %%
forged = json.dumps({"message": "Client #alice left the chat", "type": "disconnect",
                     "client_id": "system"})
heard = await attack_lecture(forged)

# %% [markdown]
# The server did overwrite `client_id` with `eve`. But `"type": "disconnect"` went through, and
# that is the one field the lecture's page looks at to draw a system line. Here is what bob's
# page shows for that message, following the page's `onmessage` handler:

# %% tags=["nbval-check-output"]
def as_the_lecture_page_shows(raw, me):
    """One received message, as the lecture's page renders it (its ws.onmessage handler)."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return f"[system line] {raw}"
    if data.get("type") == "disconnect":
        return f"[system line] {data['message']}"
    sender = "You" if data["client_id"] == me else f"Client {data['client_id']}"
    return f"{sender}: {data['message']}"


print(as_the_lecture_page_shows(heard["bob"][0], me="bob"))
print(as_the_lecture_page_shows(heard["bob"][1], me="bob"))

# %% [markdown]
# Bob reads that alice left, and in the next line alice talks. A client could just as well
# send `"timestamp": "tomorrow"` or a field no one planned for. The fix is not to overwrite
# more fields: it is to stop relaying the client's dict at all, and to build every outgoing
# message from scratch, from the few things the server has checked.
#
# ### Attack 4: a very large message
#
# The endpoint has no size limit of its own. The only limit is one layer down: uvicorn refuses
# a WebSocket message larger than its setting `ws_max_size`, 16 MiB unless you say otherwise.
# (The kit's `BackgroundServer` says otherwise: 64 KiB. For this attack, the lecture's server
# gets uvicorn's own default back, as under `uvicorn main:app` in the lecture.)

# %%
heard = await attack_lecture(json.dumps({"message": "x" * 1_000_000}),
                             ws_max_size=16 * 1024 * 1024)

# %% [markdown]
# eve sent one megabyte, and the server sent it on three times. Every message is copied to
# every client, so one large message costs its size times the number of people in the room:
# in a class of 30, 30 MB of traffic, and as much memory, for one message. A chat line needs a
# few hundred bytes: the endpoint should refuse anything longer than a chat line, with an error
# the client can show. (Over uvicorn's limit, the connection is closed with code **1009**,
# message too big: section 10 shows it.)
#
# ### What the four attacks have in common
#
# | eve sends | the lecture's endpoint | what the endpoint should do |
# |---|---|---|
# | JSON that is not an object, or has no `"message"` | `AttributeError` or `KeyError`: eve's handler dies, her ghost breaks alice | refuse it: an error to eve only |
# | a binary frame | `KeyError: 'text'`, same ending | read with `receive()`, which returns binary frames too, and refuse them |
# | a field only the server may set | relayed: a forged system line on every page | refuse it, and build every outgoing message from scratch |
# | a huge message | relayed to everyone | count its bytes, refuse it over a limit |
# | anything that raises | no cleanup, a ghost in the list | clean up in `finally:`, which runs however the handler ends |
#
# The next three sections build that endpoint: first the function that looks at one frame,
# then the loop around it.

# %% [markdown]
# ## 4. Exercise: read one frame
#
# Write `read_message(text, max_bytes)`. It gets the text of one frame and returns one of three
# small classes from `wslab.envelope`:
#
# - `Chat(text)`: a chat line, sent as `{"message": "..."}`;
# - `PlainText(text)`: text that is not JSON at all (the lecture's plain-text fallback);
# - `Rejected(code, reason)`: refused. `code` is a fixed word a program can test; `reason` is
#   a sentence, in your own words, that a person can read.
#
# The rules, in the order to check them:
#
# | # | the frame | result |
# |---|---|---|
# | 1 | not JSON at all | `PlainText(text)`, after rules 7 to 9 |
# | 2 | JSON that Python reads but JSON does not allow: `NaN`, `Infinity`; or that cannot be read safely: nesting thousands deep, a number with thousands of digits | `Rejected("invalid_json", ...)` |
# | 3 | JSON that is not an object: a list, a number, a string, `true`, `null` | `Rejected("not_an_object", ...)` |
# | 4 | an object with `"client_id"`, `"timestamp"` or `"type"` | `Rejected("reserved_field", ...)` |
# | 5 | an object without `"message"` | `Rejected("missing_message", ...)` |
# | 6 | `"message"` that is not a string | `Rejected("message_not_text", ...)` |
# | 7 | a message (or plain text) that is empty or only spaces | `Rejected("empty_message", ...)` |
# | 8 | a message (or plain text) with half of a character: the JSON escape `"\ud800"` (a *lone surrogate*) cannot be written in UTF-8 | `Rejected("invalid_text", ...)` |
# | 9 | a message (or plain text) longer than `max_bytes` bytes in UTF-8 | `Rejected("message_too_long", ...)` |
# | 10 | anything else | `Chat(message)`; other fields are dropped |
#
# Bytes, not characters: `"é"` is one character but two bytes in UTF-8, and the limit is
# about what travels over the network and sits in memory. The self-check compares your
# function with the kit's own `wslab.envelope.read_client_text` on 27 frames, one kind of
# trouble at a time.

# %%
import json

from wslab.envelope import Chat, PlainText, Rejected


### BEGIN SOLUTION
### SOURCE wslab.answers.chat:read_message


### SOURCE wslab.answers.chat:refuse_constant


### SOURCE wslab.answers.chat:checked_line
### END SOLUTION
### BEGIN STUB
def read_message(text: str, max_bytes: int):
    """Classify one text frame from a client: Chat, PlainText, or Rejected(code, reason)."""
    # TODO: follow the rules in the table above, in that order. Hints:
    # - json.loads(text, parse_constant=refuse) calls refuse("NaN") for NaN; a `refuse` that
    #   raises ValueError makes NaN and Infinity fail. Catch json.JSONDecodeError first (not
    #   JSON: plain text), then (ValueError, RecursionError) for rule 2.
    # - isinstance(data, dict); "client_id" in data; text.strip(); len(text.encode("utf-8")),
    #   which raises UnicodeEncodeError for half of a character (rule 8).
    raise NotImplementedError("exercise: read_message")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.chat import check_read_message

checked_read_message = check_read_message(read_message)

# %% [markdown]
# As in every lesson, the check gives back what the rest of the notebook uses, here
# `checked_read_message`: your function once it passes, the kit's until then. Try it on eve's
# frames, and on a few of your own:

# %%
for frame in ['{"message": "hi"}', "hello in plain text", "[1, 2, 3]", forged,
              '{"message": NaN}', '{"message": "' + "é" * 600 + '"}']:
    print(f"{shown_frame(frame)[:60]:60} -> {checked_read_message(frame, 1000)}")

# %% [markdown]
# ## 5. The hardened loop
#
# Two tools make the loop safe.
#
# **`await websocket.receive()`** instead of `receive_text()`. It returns the ASGI message
# itself, a dict, and never raises because of what the client sent:
#
# | the client | `event` |
# |---|---|
# | sends text | `{"type": "websocket.receive", "text": "..."}` |
# | sends binary | `{"type": "websocket.receive", "bytes": b"..."}` |
# | goes away | `{"type": "websocket.disconnect", "code": 1000, ...}` |
#
# So the loop ends with a `break` on a disconnect, and no longer needs `except
# WebSocketDisconnect` to find out. (Call `receive()` again after the disconnect and Starlette
# raises an error, `WebSocketDisconnected`: hence the `break`.)
#
# **Messages built from scratch.** `wslab.envelope` has one small function per message the
# server sends; each returns the JSON text, with only the fields the server chose:

# %% tags=["nbval-check-output"]
from datetime import datetime

from wslab.envelope import chat_message, error_message, leave_message, plain_text_message

noon = datetime(2026, 1, 1, 12, 0, 0)  # a fixed clock, for printing; leave it out in the app
print(chat_message("alice", "hi", noon))
print(plain_text_message("alice", "hello in plain text"))
print(error_message("reserved_field", "only the server sets 'type'", noon))
print(leave_message("eve", 2, noon))

# %% [markdown]
# An error has `"client_id": "system"` and `"type": "error"`: the lecture's page shows it as an
# ordinary line from "Client system", and a page that knows the type can style it. The leave
# message is the lecture's, plus `user` and `participants`.
#
# Here is where each frame goes in the loop you will write:

# %%
# %matplotlib inline
from wslab.figures.hardened_loop import hardened_loop

hardened_loop()

# %% [markdown]
# ## 6. Exercise: the hardened endpoint
#
# Complete `create_hardened_app()`. It is the lecture's app with lesson 03's safe
# `ConnectionManager` (whose `broadcast` never waits for a slow client, and whose `disconnect`
# may be called twice), and an endpoint that:
#
# 1. reads each frame with `await websocket.receive()` and leaves the loop on
#    `"websocket.disconnect"`;
# 2. answers a binary frame with the error code `binary_not_supported`;
# 3. gives each text frame to `read_message(text, max_message_bytes)`;
# 4. sends a `Rejected` back **to the sender only**:
#    `await manager.send_personal_message(error_message(frame.code, frame.reason), websocket)`;
# 5. broadcasts a `Chat` as `chat_message(client_id, frame.text)` and a `PlainText` as
#    `plain_text_message(client_id, frame.text)`;
# 6. in a `finally:` block, removes the connection and broadcasts
#    `leave_message(client_id, manager.connection_count)`.
#
# The self-check starts your app on a real server, connects eve, alice and bob, and has eve
# send all the bad input from section 3. It gives your app the kit's `read_message`, so that
# only your endpoint is judged here, and plants a bug in it to see that your cleanup runs even
# when your own code raises. Any exception your endpoint leaves in the server's log fails the
# check, even when every client heard the right thing.

# %%
from fastapi import FastAPI, WebSocket

from wslab.manager import ConnectionManager

MAX_MESSAGE_BYTES = 1000  # this lesson's limit for one chat line, in UTF-8 bytes


### BEGIN SOLUTION
### SOURCE wslab.answers.chat:create_hardened_app
### END SOLUTION
### BEGIN STUB
def create_hardened_app(read_message=read_message,
                        max_message_bytes=MAX_MESSAGE_BYTES) -> FastAPI:
    """The lecture's chat, hardened: every frame is checked, and errors go to the sender only."""
    app = FastAPI()
    manager = ConnectionManager()
    app.state.manager = manager

    @app.websocket("/ws/{client_id}")
    async def websocket_endpoint(websocket: WebSocket, client_id: str):
        await manager.connect(websocket)
        # TODO: the loop and its cleanup, following steps 1-6 above:
        #   try:
        #       while True:
        #           event = await websocket.receive()
        #           ...
        #   finally:
        #       ...
        # Hint: event.get("text") is None for a binary frame; test what read_message returned
        # with isinstance(frame, Rejected), isinstance(frame, Chat), ...
        raise NotImplementedError("exercise: hardened endpoint")

    return app
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.chat import check_hardened_endpoint

checked_create_hardened_app = await check_hardened_endpoint(create_hardened_app)

# %% [markdown]
# ## 7. The attacks again
#
# Now eve tries all four on the hardened endpoint, one after the other, on the same server and
# the same connections. The large message is 60 kB this time: under the kit's 64 KiB frame
# limit, so that it reaches the endpoint and the endpoint itself must refuse it.

# %%
hardened_server = BackgroundServer(checked_create_hardened_app(checked_read_message),
                                   name="lesson04-hardened").start()
heard = await attack(hardened_server, "[1, 2, 3]", b"\x00\x01", forged,
                     json.dumps({"message": "x" * 60_000}))

# %% [markdown]
# Each time, eve alone got an error that says what was wrong, alice and bob heard nothing of
# it, and everyone, eve included, still heard alice. The server logged no exception.
#
# ## 8. Test it with the `TestClient`
#
# An attack run by hand proves the endpoint right once. The next change to the endpoint can
# break it again, and nobody would notice; a test notices, every time it runs. FastAPI's
# documentation page *Testing WebSockets* shows the pattern: a `TestClient` for the app,
# `client.websocket_connect(path)` as a `with` block, then `send_json`/`send_text`/
# `send_bytes` and `receive_json`/`receive_text` on the connection.
#
# The tests here take the app as a parameter, so that one test can run against two apps
# (section 9 shows how pytest passes it in). Here is a first one:

# %%
from fastapi.testclient import TestClient


def test_chat_line_reaches_everyone(app):
    """alice's line reaches alice and bob, with the fields the server sets."""
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice, \
                client.websocket_connect("/ws/bob") as bob:
            alice.send_json({"message": "hello"})
            for ws in (alice, bob):
                line = ws.receive_json()
                assert set(line) == {"message", "client_id", "timestamp"}, line
                assert line["message"] == "hello" and line["client_id"] == "alice", line


test_chat_line_reaches_everyone(checked_create_hardened_app(checked_read_message))
print("passed")

# %% [markdown]
# Two habits make such tests reliable:
#
# - `with TestClient(app) as client:`, as the FastAPI page does. Inside the `with` block, all
#   connections share one event loop, so a broadcast from one reaches the others.
# - Receive only what the endpoint must send. `receive_json()` has **no timeout**: a test that
#   waits for a message that never comes waits forever. (The self-check below gives each test
#   3 seconds, then ends it.)
#
# ## 9. Exercise: tests that catch the lecture's flaws
#
# Write two tests:
#
# - `test_forged_field_is_refused(app)`: alice sends `{"message": "hi", "type": "disconnect"}`;
#   the next thing she receives is an error: `"type"` is `"error"`, `"code"` is
#   `"reserved_field"`.
# - `test_binary_frame_is_refused(app)`: alice sends `b"\x00\x01"` with `send_bytes`; she
#   receives an error with the code `"binary_not_supported"`; then she sends a chat line and
#   receives it back: her connection survived.
#
# The self-check runs each test twice. Against the hardened endpoint it must **pass**; against
# the lecture's endpoint it must **fail**, because a test that passes on the flawed endpoint
# does not test the fix.

# %%
### BEGIN SOLUTION
### SOURCE wslab.answers.chat:test_forged_field_is_refused


### SOURCE wslab.answers.chat:test_binary_frame_is_refused
### END SOLUTION
### BEGIN STUB
def test_forged_field_is_refused(app):
    """A client that sets a field only the server may set gets an error, and is not relayed."""
    # TODO: start from test_chat_line_reaches_everyone above; one connection is enough.
    raise NotImplementedError("exercise: endpoint tests")


def test_binary_frame_is_refused(app):
    """A binary frame gets an error reply, and the connection still works afterwards."""
    # TODO: alice.send_bytes(b"\x00\x01"), then receive_json() and look at "type" and "code".
    raise NotImplementedError("exercise: endpoint tests")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.chat import check_endpoint_tests

checked_endpoint_tests = check_endpoint_tests(test_forged_field_is_refused,
                                              test_binary_frame_is_refused)

# %% [markdown]
# In a project, these functions go into a file such as `tests/test_chat.py`, and `app` becomes
# a pytest fixture, which pytest passes to every test that names it:
#
# ```python
# import pytest
#
# @pytest.fixture
# def app():
#     return create_hardened_app()
# ```
#
# Then one `pytest` command runs them all, after every change you make.
#
# ## 10. What the `TestClient` does not see
#
# The `TestClient` does not start a server. It calls the app directly, in this process, and
# passes it the same ASGI messages uvicorn would. That makes tests fast and simple, and it
# means everything uvicorn does is left out: the socket, the frame-size limit (close code
# 1009), the keepalive pings that notice a vanished laptop (1011), the close frames a crash
# produces. Send the same 100 kB message both ways:

# %% tags=["nbval-check-output"]
big = json.dumps({"message": "x" * 100_000})

with TestClient(checked_create_hardened_app(checked_read_message)) as client:
    with client.websocket_connect("/ws/alice") as alice:
        alice.send_text(big)
        print("TestClient: ", alice.receive_json()["code"])

async with connect(f"{hardened_server.ws_url}/ws/alice") as alice:
    await alice.send(big)
    print("real server:", await hear(alice))

# %% [markdown]
# In the `TestClient`, the app itself read 100 kB and refused it (`message_too_long`). On a
# real server, uvicorn cut the connection before the app saw a byte. Both are right, and only
# the second is what a student's browser meets. This is why the kit tests its chat twice:
# with the `TestClient` for what the app decides, and with a real uvicorn server and real
# `websockets` clients for everything between the app and the network
# (`tests/test_chat_bad_input.py` has the attacks of this lesson, on a real server).
#
# ## 11. The kit's chat server is this endpoint, and a little more
#
# `wslab.chat.create_app()`, the server the workshop's chat page talks to, has the loop you
# just wrote. Its endpoint hands each event to a `ChatRoom` (in `wslab.room`), whose `receive`
# method makes the same decisions as your loop body:

# %%
from wslab import chat, room

source = inspect.getsource(chat.create_app)
print(textwrap.dedent(source[source.index("    @app.websocket"):source.index("    return app")]))
print(inspect.getsource(room.ChatRoom.receive))

# %% [markdown]
# What it adds to your endpoint:
#
# | | your endpoint | `wslab.chat.create_app()` |
# |---|---|---|
# | checking a frame | `read_message` | `envelope.read_client_text`: the same rules, plus `{"type": "ping"}`, a heartbeat a browser can send |
# | size | 1000 bytes, by the app | `ChatSettings.max_message_bytes` (4096) by the app, and `max_frame_bytes` (64 KiB) by uvicorn: 1009 |
# | rate | none | at most 10 messages a second per client, then `rate_limited` errors |
# | arriving | nothing | a `welcome` to the newcomer, a `join` to the others, both with the participant count |
# | leaving | the leave message | the same, from `room.leave()` in a `finally:` |
# | who may connect | anyone | client ids checked; a join token and an Origin check when it serves a network |
#
# Two clients on the kit's server: alice is greeted, hears bob join, and only bob hears about
# his forged field.

# %% tags=["nbval-check-output"]
from wslab.chat import create_app

kit_server = BackgroundServer(create_app(), name="lesson04-kit").start()
url = f"{kit_server.ws_url}/ws"
async with connect(f"{url}/alice") as alice:
    print("alice hears:", await hear(alice))
    async with connect(f"{url}/bob") as bob:
        print("bob hears:  ", await hear(bob))
        print("alice hears:", await hear(alice))
        await bob.send(forged)
        print("bob hears:  ", await hear(bob))
        print("alice hears:", await hear(alice, wait=0.3))

# %% [markdown]
# ### The wire protocol
#
# Everything a client may send and everything the server sends is in one module,
# `wslab.envelope`. Its docstring is the protocol's summary:

# %% tags=["nbval-check-output"]
from IPython.display import Markdown

from wslab import envelope

Markdown(re.sub(r":\w+:`", "`", envelope.__doc__))

# %% [markdown]
# And the messages from `"client_id": "system"`, each made by its function in
# `wslab.envelope`, with the close codes the kit uses:

# %% tags=["nbval-check-output"]
system_messages = {
    "welcome": envelope.welcome_message("bob", ["alice", "bob"], noon),
    "join": envelope.join_message("bob", 2, noon),
    "disconnect": envelope.leave_message("bob", 1, noon),
    "error": envelope.error_message("reserved_field", "only the server sets 'type'", noon),
    "pong": envelope.pong_message(noon),
}
close_codes = {
    "CLOSE_GOING_AWAY": "the server is going away",
    "CLOSE_POLICY_VIOLATION": "refused: a bad client id or token, or a foreign page",
    "CLOSE_MESSAGE_TOO_BIG": "a frame over the frame limit (sent by uvicorn)",
    "CLOSE_TOO_SLOW": "the client stopped reading (lesson 03's eviction)",
    "CLOSE_REPLACED": "the same client id connected again",
}
rows = ["| `type` | an example |", "|---|---|"]
rows += [f"| `{kind}` | `{text}` |" for kind, text in system_messages.items()]
rows += ["", "| close code | name in `wslab.envelope` | when |", "|---|---|---|"]
rows += [f"| {getattr(envelope, name)} | `{name}` | {when} |" for name, when in close_codes.items()]
Markdown("\n".join(rows))

# %% [markdown]
# uvicorn sends two more codes by itself: **1011** when a client has not answered a keepalive
# ping in time (its laptop went to sleep, say), and **1012** when the server shuts down:
# `server.stop()` closes every connection still open that way.
#
# ## Clean up
#
# Stop the servers this lesson started.

# %%
for server in (lecture_server, hardened_server, kit_server):
    server.stop()

# %% [markdown]
# ## Key points
#
# - The lecture's endpoint trusts its client: it assumes text, assumes a JSON object with a
#   `"message"`, and relays whatever fields the client sent. Each assumption is one way to
#   break it.
# - One crashed handler is not one lost client: without cleanup it leaves a ghost in the
#   manager, and the lecture's manager then cuts off whoever speaks next.
# - Read with `websocket.receive()` and branch on the event: text, binary, or disconnect.
# - Check every frame (object, fields, type, size in bytes, JSON that JSON allows) and build
#   every outgoing message from scratch; the server alone sets `client_id`, `timestamp` and
#   `type`.
# - Bad input gets an error to the sender only; everyone else never notices.
# - Clean up in `finally:`, so it runs however the handler ends.
# - The `TestClient` tests the app's decisions quickly, but not uvicorn's limits and
#   keepalive: test those on a real server.
#
# **Next:** [05 · Clients](05_clients.ipynb): the browser page and Python clients for this
# server.
#
# The last cell sums up your exercises, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.chat import EXERCISES
from wslab.checks.progress import show_progress

progress = await show_progress(EXERCISES, globals())
