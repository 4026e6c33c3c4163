# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # E2 · Hardening the endpoint: a chat that bad input cannot break
#
# **Time:** 155 minutes (53 teaching, 102 exercises) · **Builds on:**
# [01 · A first endpoint](01_first_endpoint.ipynb) and [02 · The chat room](02_chat_room.ipynb):
# the five calls, `BackgroundServer`, the lecture's `ConnectionManager` and its `/ws/{client_id}`
# endpoint. An elective: take it any time after the core track.
#
# The lecture's page only ever sends `{"message": "..."}`. But anything that can open a
# WebSocket can connect to the chat: a script, a browser console, a buggy client. In this
# elective a client called eve sends the lecture's endpoint what a friendly page never would,
# and each frame breaks the chat in its own way. You then write the endpoint again so that
# nothing a client sends can break it, and test it the way FastAPI's documentation shows.
#
# ## Questions
#
# - What can a client send that breaks the lecture's chat endpoint, and why does it break?
# - How does an endpoint check every frame, answer bad input to the sender alone, and always
#   clean up?
# - How do you test a WebSocket endpoint, and what can such a test not see?
#
# ## Learning objectives
#
# - Name four kinds of bad input that break the lecture's endpoint, and say why each one does.
# - Write an endpoint that answers bad JSON with an error and carries on.
# - Write a function that checks one frame from a client and says why it refuses it.
# - Write a chat endpoint whose loop answers bad input to the sender alone, keeps everyone else
#   chatting, and always cleans up.
# - Write `TestClient` tests that fail on a flawed endpoint, and say what such tests cannot see.

# %% [markdown]
# ## 1. The lecture's endpoint, running
#
# In core lesson 02 you ran the lecture's chat. Each turn of its endpoint's loop reads a text
# with `receive_text()`, turns it into a dict with `json.loads`, adds `client_id` and
# `timestamp`, and broadcasts the result to everyone. Text that is not JSON goes out as
# `Client alice: ...`. When `receive_text()` raises `WebSocketDisconnect`, the connection leaves
# the manager's list and everyone else gets a leave message. Here it is again, from
# `wslab.lecture`, on a server of its own. `hear(ws)` waits a moment for what `ws` receives
# next, and says what came: a message, nothing, or the end of the connection.

# %%
import asyncio
import inspect
import json
import textwrap

import websockets
from websockets.asyncio.client import connect

from wslab import lecture
from wslab.runner import BackgroundServer

source = inspect.getsource(lecture.create_lecture_app)
print(textwrap.dedent(source[source.index("    @app.websocket"):source.index("    return app")]))


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


lecture_server = BackgroundServer(lecture.create_lecture_app(), name="e2-lecture").start()
async with connect(f"{lecture_server.ws_url}/ws/alice") as alice:
    await alice.send(json.dumps({"message": "Hi everyone"}))
    print("alice hears:", await hear(alice))

# %% [markdown]
# ## 2. Break it
#
# Meet eve. `attack(server, frame)` connects eve, alice and bob, lets eve send one frame, then
# lets alice ask whether anyone is there. It prints what each of the three hears after each
# step, and the errors the server logged. `attack_lecture(frame)` does that on a fresh copy of
# the lecture's server, because, as you will see, one attack leaves the server broken.

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
    for line in server.logs(None)[logged_before:]:
        error = re.match(r"(?:\w+\.)*(\w+(?:Error|Disconnected)\b.*)", line)
        if error:  # an exception's last line, without its module's name
            print("server log:", error[1])
    return heard


async def attack_lecture(frame, **uvicorn_options):
    """One attack on a fresh copy of the lecture's server."""
    with BackgroundServer(lecture.create_lecture_app(), name="e2-attack",
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
# eve's handler, and uvicorn drops her connection without a close frame. The
# `except WebSocketDisconnect:` block, the only place that removes a connection, never ran: eve's
# dead connection is still in the manager's list, a *ghost*. When alice speaks, `broadcast`
# tries the ghost first, fails inside **alice's** handler, and cuts alice off: core lesson 02's
# flaw, set off by one bad frame. The server's log shows the chain: eve's `AttributeError`, the
# send to her ghost failing in alice's handler (`ClientDisconnected`), then handlers that try to
# announce a leave on connections already closed. `42`, `null` and `{"text": "hi"}` do the same
# (an object without `"message"` raises `KeyError` in the `print`).
#
# ### Attack 2: a binary frame
#
# A WebSocket message is either text or binary. A browser sends binary with
# `ws.send(new Uint8Array([0, 1]))`; in Python, `send(b"...")`.

# %%
heard = await attack_lecture(b"\x00\x01")

# %% [markdown]
# `receive_text()` reads the `"text"` key of the message Starlette received; a binary frame
# has `"bytes"` instead, so it raises `KeyError: 'text'`. Same ending as attack 1.
#
# ### Attack 3: a forged system message
#
# The server adds `client_id` and `timestamp` to whatever dict the client sent, so every other
# field goes out to everyone unchanged. The lecture's page draws a *system line* (not a chat
# line from someone) for a message with `"type": "disconnect"`. eve sends:
#
# ```json
# {"message": "Client #alice left the chat", "type": "disconnect", "client_id": "system"}
# ```
#
# What does bob's page show for it?
#
# - (a) an ordinary chat line from eve: "Client eve: Client #alice left the chat"
# - (b) a system line: "Client #alice left the chat", as if alice had left
# - (c) nothing: the server does not relay it

# %%
from wslab.checks.chat import FORGED_LINE

### BEGIN SOLUTION
my_prediction = "b"
### END SOLUTION
### BEGIN STUB
my_prediction = ""  # "a", "b" or "c"
### END STUB
FORGED_LINE.predict(my_prediction)

# %%
forged = json.dumps({"message": "Client #alice left the chat", "type": "disconnect",
                     "client_id": "system"})
heard = await attack_lecture(forged)

# %% [markdown]
# The function below renders one message as the lecture's page does (its `onmessage` handler,
# in Python). Here are the first two lines bob heard, as his page shows them:

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
predicted_it = FORGED_LINE.check(as_the_lecture_page_shows(heard["bob"][0], me="bob"))

# %% [markdown]
# A client could just as well send `"timestamp": "tomorrow"`. The fix is not to overwrite more
# fields: it is to stop relaying the client's dict at all, and to build every outgoing message
# from scratch, from the few things the server has checked.
#
# ### Attack 4: a very large message
#
# The endpoint has no size limit of its own. The only one is a layer down: uvicorn refuses a
# message larger than its setting `ws_max_size`, 16 MiB unless you say otherwise. (The kit's
# `BackgroundServer` says 64 KiB; here the lecture's server gets uvicorn's default back.)

# %%
heard = await attack_lecture(json.dumps({"message": "x" * 1_000_000}),
                             ws_max_size=16 * 1024 * 1024)

# %% [markdown]
# eve sent one megabyte, and the server sent it on three times: in a class of 30, one message
# costs 30 MB of traffic, and as much memory. A chat line needs a few hundred bytes, so the
# endpoint should refuse anything longer, with an error the client can show.
#
# ### What the four attacks have in common
#
# | eve sends | the lecture's endpoint | what the endpoint should do |
# |---|---|---|
# | JSON that is not an object, or has no `"message"` | `AttributeError` or `KeyError`: eve's handler dies, her ghost cuts off alice | refuse it: an error to eve only |
# | a binary frame | `KeyError: 'text'`, same ending | read with `receive()`, which returns binary frames too, and refuse them |
# | a field only the server may set | relayed: a forged system line on every page | refuse it, and build every outgoing message from scratch |
# | a huge message | relayed to everyone | count its bytes, refuse it over a limit |
# | anything that raises | no cleanup, a ghost in the list | clean up in `finally:`, which runs however the handler ends |

# %% [markdown]
# ## 3. Exercise: the pattern in small
#
# Before the chat, the smallest endpoint with the same problem: one client, JSON in, JSON out.
# Write the endpoint `reply`. It answers every message with exactly one JSON object:
#
# | the client sends | `reply` answers |
# |---|---|
# | `{"message": "hello"}` | `{"reply": "hello", "length": 5}` (`length` counts characters) |
# | text that is not JSON, such as `hello` | `{"error": "..."}`, any explanation you like |
# | JSON without a text `"message"`, such as `["hello"]`, `{"text": "hi"}` or `{"message": 42}` | `{"error": "..."}` |
#
# After an error it carries on: the next good message gets its reply. The check serves your
# endpoint at `/ws/reply` and sends all of the above on one connection.

# %%
from fastapi import WebSocket, WebSocketDisconnect

### BEGIN SOLUTION
### SOURCE wslab.answers.chat:reply
### END SOLUTION
### BEGIN STUB
async def reply(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            # TODO: answer one message. receive_json() raises json.JSONDecodeError for text
            # that is not JSON; and valid JSON can still be a list, or an object without a
            # text "message".
            raise NotImplementedError("exercise: reply")
    except WebSocketDisconnect:
        pass
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.chat import check_reply

checked_reply = await check_reply(reply)

# %% [markdown]
# ## 4. Exercise: read one frame
#
# The chat needs the same idea, with more rules. Write `read_message(text, max_bytes)`. It gets
# the text of one frame and returns one of three small classes from `wslab.envelope`:
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
# | 1 | not JSON at all | `PlainText(text)`, after rules 6 and 7 |
# | 2 | JSON that is not an object: a list, a number, a string, `true`, `null` | `Rejected("not_an_object", ...)` |
# | 3 | an object with `"client_id"`, `"timestamp"` or `"type"` | `Rejected("reserved_field", ...)` |
# | 4 | an object without `"message"` | `Rejected("missing_message", ...)` |
# | 5 | `"message"` that is not a string | `Rejected("message_not_text", ...)` |
# | 6 | a message (or plain text) that is empty or only spaces | `Rejected("empty_message", ...)` |
# | 7 | a message (or plain text) longer than `max_bytes` bytes in UTF-8 | `Rejected("message_too_long", ...)` |
# | 8 | anything else | `Chat(message)`; other fields are dropped |
#
# Bytes, not characters: `"é"` is one character but two bytes in UTF-8, and the limit is
# about what travels over the network and sits in memory. The self-check compares your
# function with the kit's own `wslab.envelope.read_client_text` on 23 frames, one kind of
# trouble at a time.

# %%
from wslab.envelope import RESERVED_FIELDS, Chat, PlainText, Rejected, json_kind

### BEGIN SOLUTION
### SOURCE wslab.envelope:read_message


### SOURCE wslab.envelope:checked_line
### END SOLUTION
### BEGIN STUB
def read_message(text: str, max_bytes: int):
    """Classify one text frame from a client: Chat, PlainText, or Rejected(code, reason)."""
    # TODO: follow the rules in the table above, in that order.
    # Useful: isinstance(data, dict); "client_id" in data; text.strip();
    # len(text.encode("utf-8")) is the size of text in bytes.
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
              '{"message": "' + "é" * 600 + '"}']:
    print(shown_frame(frame))
    print("    ->", checked_read_message(frame, 1000))

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
# raises an error: hence the `break`.)
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
# Complete `create_hardened_app()`. It is the lecture's app with the kit's safe
# `ConnectionManager` (`wslab.manager`, a hardened relative of core lesson 02's safe manager:
# its `broadcast` never waits for a slow client, its `disconnect` may be called twice, and it
# has `send_personal_message`), and an endpoint that:
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
# send all the bad input of section 2. It gives your app the kit's `read_message`, so that
# only your endpoint is judged here, and plants a bug in it to see that your cleanup runs even
# when your own code raises. Any exception your endpoint leaves in the server's log fails the
# check, even when every client heard the right thing.

# %%
from fastapi import FastAPI

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
        # event.get("text") is None for a binary frame; isinstance(frame, Rejected) tells
        # what read_message returned.
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
                                   name="e2-hardened").start()
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
# The tests here take the app as a parameter, so that one test can run against several apps.
# Here is a first one:

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
# ## 9. Exercise: tests that catch the flaws
#
# Write two tests:
#
# - `test_forged_field_is_refused(app)`: alice sends `{"message": "hi", "type": "disconnect"}`;
#   the next thing she receives is an error: `"type"` is `"error"`, `"code"` is
#   `"reserved_field"`. Then she sends a chat line, and the next thing she receives is that
#   line: her forged one was not relayed.
# - `test_binary_frame_is_refused(app)`: alice sends `b"\x00\x01"` with `send_bytes`; she
#   receives an error with the code `"binary_not_supported"`; then she sends a chat line and
#   receives it back: her connection survived.
#
# The self-check runs each test on the hardened endpoint, where it must **pass**. Then it runs
# it on the lecture's endpoint, and on flawed endpoints, each with one mistake that a weaker
# test lets through, where it must **fail**: a test that passes on a flawed endpoint does not
# test the fix.

# %%
### BEGIN SOLUTION
### SOURCE wslab.answers.chat:test_forged_field_is_refused


### SOURCE wslab.answers.chat:test_binary_frame_is_refused
### END SOLUTION
### BEGIN STUB
def test_forged_field_is_refused(app):
    """A field only the server may set gets an error, and the frame is not relayed."""
    # TODO: start from test_chat_line_reaches_everyone above; one connection is enough.
    raise NotImplementedError("exercise: endpoint tests")


def test_binary_frame_is_refused(app):
    """A binary frame gets an error reply, and the connection still works afterwards."""
    # TODO: alice.send_bytes(b"\x00\x01"), then receive_json(), then...
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
# leaves out everything uvicorn does: the socket, the frame-size limit, the keepalive pings
# that notice a vanished laptop (close code 1011). Send the same 100 kB line both ways: once
# through the `TestClient` to the hardened app (its limit: 1000 bytes), once to the hardened
# server of section 7 (the kit's frame limit: 64 KiB). What comes back?
#
# - (a) both times, the error `message_too_long` from the app
# - (b) the `TestClient` gets `message_too_long`; the real server closes the connection (1009)
#   before the app sees the line
# - (c) both times, the connection is closed with 1009

# %%
from wslab.checks.chat import TEST_CLIENT_LIMITS

### BEGIN SOLUTION
my_prediction = "b"
### END SOLUTION
### BEGIN STUB
my_prediction = ""  # "a", "b" or "c"
### END STUB
TEST_CLIENT_LIMITS.predict(my_prediction)

# %% tags=["nbval-check-output"]
big = json.dumps({"message": "x" * 100_000})

with TestClient(checked_create_hardened_app(checked_read_message)) as client:
    with client.websocket_connect("/ws/alice") as alice:
        alice.send_text(big)
        from_test_client = alice.receive_json()["code"]
print("TestClient: ", from_test_client)

async with connect(f"{hardened_server.ws_url}/ws/alice") as alice:
    await alice.send(big)
    from_server = await hear(alice)
print("real server:", from_server)
predicted_it = TEST_CLIENT_LIMITS.check((from_test_client, from_server))

# %% [markdown]
# Both are right, and only the second is what a student's browser meets. So test a chat twice:
# with the `TestClient` for what the app decides, and with a real uvicorn server and real
# `websockets` clients for everything between the app and the network, as this lesson's
# attacks and self-checks do.
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
# | checking a frame | `read_message` | `envelope.read_client_text`: the answers to sections 4 and 12, and `{"type": "ping"}`, a heartbeat a browser can send |
# | size | 1000 bytes, by the app | `ChatSettings.max_message_bytes` (4096) by the app, and `max_frame_bytes` (64 KiB) by uvicorn: 1009 |
# | rate | none | at most 10 messages a second per client, then `rate_limited` errors |
# | arriving | nothing | a `welcome` to the newcomer, a `join` to the others, both with the participant count |
# | leaving | the leave message | the same, from `room.leave()` in a `finally:` |
# | who may connect | anyone | client ids checked; a join token and an Origin check when it serves a network |
#
# Two clients on the kit's server: alice is greeted, hears bob join, and only bob hears about
# his forged field.

# %% tags=["nbval-check-output"]
kit_server = BackgroundServer(chat.create_app(), name="e2-kit").start()
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
# Everything a client may send and everything the server sends is in one module,
# `wslab.envelope`. Its docstring sums up the wire protocol:

# %% tags=["nbval-check-output"]
from IPython.display import Markdown

from wslab import envelope

Markdown(re.sub(r":\w+:`", "`", envelope.__doc__))

# %% [markdown]
# ## 12. If you have time: JSON that is not quite JSON
#
# Your `read_message` trusts `json.loads` to say what is JSON. It is not quite so:
#
# - `NaN`, `Infinity` and `-Infinity` are not JSON (a browser's `JSON.parse` refuses them),
#   but Python reads them as floats. `json.loads(text, parse_constant=f)` calls `f("NaN")`
#   for each one instead: note them (`found.append`), and refuse them once the whole text has
#   turned out to be JSON (`Infinity war` is plain text).
# - `[` nested 100,000 deep makes `json.loads` raise `RecursionError`, and a number with
#   thousands of digits raises `ValueError` (Python refuses to convert such a number, because
#   it takes long). Neither is a `JSONDecodeError`, so your `read_message` lets them escape,
#   and the handler ends: eve is cut off without an error reply.
# - The JSON escape `"\ud800"` is half of a character (a *lone surrogate*). `json.loads` turns
#   it into a `str` that has no UTF-8 form, so `len(text.encode("utf-8"))` raises
#   `UnicodeEncodeError`.
#
# Write `read_strict(text, max_bytes, read_message)`, a guard around your `read_message`:
#
# | # | the frame | result |
# |---|---|---|
# | 1 | `json.loads(text, parse_constant=found.append)` raises `JSONDecodeError` | not JSON at all: whatever `read_message` says |
# | 2 | it raises another `ValueError`, or `RecursionError` | `Rejected("invalid_json", ...)` |
# | 3 | it read the text, and `found` is not empty | `Rejected("invalid_json", ...)` |
# | 4 | `read_message` raises `UnicodeEncodeError` | `Rejected("invalid_text", ...)` |
# | 5 | anything else | whatever `read_message` says |
#
# `json.JSONDecodeError` is a kind of `ValueError`: catch it first. The check hands your
# function the lesson's own `read_message`, so only your guard is judged.

# %%
found = []
json.loads('{"message": "hi", "n": NaN}', parse_constant=found.append), found  # Python reads it

# %%
### BEGIN SOLUTION
### SOURCE wslab.envelope:read_strict
### END SOLUTION
### BEGIN STUB
def read_strict(text: str, max_bytes: int, read_message=read_message):
    """read_message, guarded against JSON that JSON does not allow and half characters."""
    found = []  # NaN and Infinity: Python reads them, JSON (and browsers) do not
    # TODO: the rules in the table above: first json.loads(text, parse_constant=found.append)
    # inside a try, then read_message(text, max_bytes) inside another.
    raise NotImplementedError("exercise: read_strict")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.chat import check_read_strict

checked_read_strict = check_read_strict(read_strict)

# %% [markdown]
# The three edge cases, through the guard:

# %%
deep = '{"message": "hi", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
for frame in ['{"message": NaN}', deep, '{"message": "\\ud800"}']:
    print(shown_frame(frame))
    print("    ->", checked_read_strict(frame, 1000, checked_read_message))

# %% [markdown]
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
# - Check every frame (object, fields, type, size in bytes) and build every outgoing message
#   from scratch; the server alone sets `client_id`, `timestamp` and `type`.
# - Bad input gets an error to the sender only; everyone else never notices.
# - Clean up in `finally:`, so it runs however the handler ends.
# - A test must fail on the flawed endpoint: assert the error's code, and that the connection
#   still works afterwards.
# - The `TestClient` tests the app's decisions quickly, but not uvicorn's limits and
#   keepalive: test those on a real server.
#
# **Next:** another elective, or back to the core track (the README lists them all).
#
# The last cell sums up your exercises, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.chat import EXERCISES
from wslab.checks.progress import show_progress

progress = await show_progress(EXERCISES, globals())
