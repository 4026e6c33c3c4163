# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Your first WebSocket endpoint
#
# **Time:** 65 minutes (30 teaching, 35 exercises) · **Builds on:**
# [01 · Protocol basics](01_protocol_basics.ipynb): the handshake and the frames.
#
# Lesson 01 took a WebSocket apart byte by byte. From now on FastAPI handles the bytes: you write
# an *endpoint*, a function that gets one connection and talks over it with the five calls the
# lecture lists. You run the server inside this notebook, talk to it with a real client, and at
# the end you test an endpoint without any server at all.
#
# ## Learning objectives
#
# - Write a FastAPI app with the lecture's health check `GET /` and an echo endpoint that
#   notices when the client leaves.
# - Use the lecture's five calls, `accept`, `receive_text`, `send_text`, `receive_json` and
#   `send_json`, and say what each does when a message is not what it expects.
# - Explain why `uvicorn.run()` fails inside Jupyter, what `nest_asyncio` does about it, and why
#   the kit needs neither.
# - Serve an app from a notebook with `BackgroundServer` and talk to it with the `websockets`
#   client, using `await` directly in a cell.
# - Test an endpoint in-process with `TestClient.websocket_connect`, and say what such a test
#   cannot see.

# %% [markdown]
# ## 1. An app with a health check
#
# Every app in this workshop starts like the lecture's: a `FastAPI()` object and an ordinary HTTP
# route at `/` that answers `{"message": "WebSocket Server is running"}`. Such a *health check*
# costs nothing and answers one question, "is the server up?", for a person, a test or a load
# balancer, before anyone tries a WebSocket.

# %%
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.get("/")
async def health():
    return {"message": "WebSocket Server is running"}


# %% [markdown]
# ## 2. The echo endpoint
#
# An echo endpoint sends every text straight back. It is the smallest endpoint that uses a
# connection both ways:

# %%
@app.websocket("/ws/echo")
async def echo(websocket: WebSocket):
    await websocket.accept()                       # answer the handshake: HTTP 101
    try:
        while True:                                # one connection, many messages
            text = await websocket.receive_text()  # wait for the next text message
            await websocket.send_text(text)        # and send it back
    except WebSocketDisconnect:
        pass                                       # the client left: the endpoint ends


# %% [markdown]
# Line by line:
#
# - `@app.websocket(path)` instead of `@app.get(path)`. An HTTP route runs once per request and
#   returns the response. A WebSocket endpoint runs once per *connection*, and it runs for as
#   long as the connection lives, minutes or hours.
# - `websocket: WebSocket`: the annotation is how FastAPI knows to hand you the connection.
#   Without it, FastAPI would look for a query parameter called `websocket` in the URL.
# - `await websocket.accept()` sends the handshake's answer, `101 Switching Protocols`, from
#   lesson 01. Until then the client is still waiting to hear whether it may connect.
# - `await websocket.receive_text()` waits for the next message. `await` means other
#   connections carry on while this one waits: one server, many clients, none blocking the rest.
# - When the client leaves, `receive_text()` raises `WebSocketDisconnect`. That is the normal end
#   of every connection, not an error, and the `try` turns it into a quiet return. Without the
#   `try`, the server would log it as a crash, "Exception in ASGI application".
#
# The picture shows one connection from start to end, which call sends or waits for what:

# %%
# %matplotlib inline
from wslab.figures.endpoint import connection_life

connection_life()

# %% [markdown]
# ## 3. Why not `uvicorn.run(app)`?
#
# Outside a notebook you serve an app with uvicorn: `uvicorn main:app` in a terminal, or
# `uvicorn.run(app)` at the bottom of `main.py`. Try the second one here. (The cell catches the
# error, so you see only its message. `log_config=None` keeps uvicorn from changing this
# kernel's logging.)

# %%
import warnings

import uvicorn

with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # "coroutine 'Server.serve' was never awaited"
    try:
        uvicorn.run(app, port=8000, log_config=None)
    except RuntimeError as exc:
        print("uvicorn.run() failed:", exc)

# %% [markdown]
# `uvicorn.run()` hands the server to `asyncio.run()` (on Python 3.11, to its twin
# `asyncio.Runner`), which makes a new *event loop*, the scheduler that runs `async` code, and
# runs the server on it until the server stops. But this thread already
# runs a loop: the Jupyter kernel's, the one that runs your cells and lets a cell `await`
# directly. One thread runs one loop at a time, so asyncio refuses. The wording depends on the
# Python version: 3.12 and later say `asyncio.run() cannot be called from a running event loop`,
# 3.11 says `Cannot run the event loop while another loop is running`. The cause is the same.
# (The warning the cell hides says that the server's coroutine was prepared and never run.)
#
# And even if it were allowed, `uvicorn.run()` returns only when the server stops: the cell would
# never finish, and you could not run the next cell, the one with the client.
#
# ### `nest_asyncio`: the fix you will find online
#
# Search for that error and you will find this:
#
# ```python
# import nest_asyncio
# nest_asyncio.apply()     # do not run this in the workshop's kernel
# uvicorn.run(app)
# ```
#
# `nest_asyncio.apply()` patches asyncio, in the whole process, so that a loop that is already
# running can be run again, *nested*: `asyncio.run()` then reuses the kernel's loop instead of
# refusing. It is a trap:
#
# - **The cell still never finishes.** `uvicorn.run()` now serves from inside your cell until the
#   server stops. The only way to get the notebook back is the Interrupt button, and uvicorn,
#   running in the main thread, has taken Ctrl-C over: Interrupt stops the server.
# - **It changes asyncio for the whole kernel, until you restart it.** It replaces
#   `asyncio.run` and swaps asyncio's fast `Task` for a pure-Python one. Libraries that look into
#   asyncio's internals, such as anyio (which Starlette's `TestClient` uses), have broken under
#   it more than once.
# - **Its `asyncio.run` does not take `loop_factory`**, which uvicorn passes on Python 3.12 and
#   later: patch first, import uvicorn afterwards, and `uvicorn.run()` fails with `TypeError`.
# - **Nobody fixes it any more**: the project is archived.
#
# The kit does without: its `BackgroundServer` (next step) runs uvicorn in a *thread of its own*,
# with a loop of its own. The kernel's loop stays free for your cells, nothing is patched, and
# the client in a cell and the server in the thread talk over a real TCP connection, as a browser
# and a server would:

# %%
from wslab.figures.endpoint import two_loops

two_loops()

# %% [markdown]
# ## 4. Start the server in the background
#
# `BackgroundServer(app).start()` starts uvicorn in its thread and returns as soon as the server
# accepts connections. It listens on a free port that the system picks; `server.url` and
# `server.ws_url` say where. Re-running the cell replaces the server of the same `name` instead
# of failing with "address already in use".

# %% tags=["nbval-check-output"]
from wslab.runner import BackgroundServer

server = BackgroundServer(app, name="02-first-endpoint").start()
server

# %% [markdown]
# Is it up? Ask the health check, over real HTTP (`httpx2` is an HTTP client for Python):

# %% tags=["nbval-check-output"]
import httpx2

response = httpx2.get(server.url + "/")
print(response.status_code, response.json())

# %% [markdown]
# A server runs for a long time and writes a log: every connection it accepts, and the
# traceback of any endpoint that crashes. In a notebook, a line printed by the server's thread
# would land in whichever cell happens to be running. So `BackgroundServer` keeps the log, and
# whatever your endpoints `print()`, in a buffer of its own, and shows it when you ask:

# %%
server.print_logs()

# %% [markdown]
# ## 5. Talk to it with a real client
#
# The `websockets` package is a WebSocket client (and server) for Python. `websockets.connect()`
# does the handshake; `async with` closes the connection at the end of the block. Note the
# `await` at the top level of the cell: that is allowed in Jupyter, because the kernel's loop is
# already running (the very reason `uvicorn.run()` failed).

# %% tags=["nbval-check-output"]
import websockets

async with websockets.connect(server.ws_url + "/ws/echo") as ws:
    await ws.send("hello")
    print("sent 'hello', got back:", repr(await ws.recv()))
    await ws.send("Grüße aus dem Notebook")
    print("and then:", repr(await ws.recv()))

# %% [markdown]
# The client's calls have other names than the server's: `ws.send(text)` sends a text message
# (give it `bytes` and it sends a binary one), `await ws.recv()` waits for the next message.
# When the `async with` block ends, the client sends a close frame, `receive_text()` in the
# endpoint raises `WebSocketDisconnect`, and the endpoint returns, exactly as in the picture of
# step 2.
#
# ## 6. JSON: `receive_json` and `send_json`
#
# The lecture's chat sends JSON, such as `{"message": "hi"}`. JSON over a WebSocket is text in a
# text message: `receive_json()` is `receive_text()` followed by `json.loads()`, and
# `send_json(obj)` is `json.dumps(obj)` followed by `send_text()`. A tiny calculator:

# %%
@app.websocket("/ws/add")
async def add(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            numbers = await websocket.receive_json()                   # text -> a dict
            await websocket.send_json({"sum": numbers["a"] + numbers["b"]})  # a dict -> text
    except WebSocketDisconnect:
        pass


# %% [markdown]
# The server is already running, and the new route works at once: a server looks the route up
# when a connection arrives. (The flip side: running a decorated cell again adds a *second* route
# with the same path, and the first one still wins. After you change an endpoint, run the cells
# again from `app = FastAPI()` down to the one that starts the server.)
#
# The `websockets` client has no `send_json`: it sends text, so the cell encodes the JSON itself,
# as the lecture's page does with `JSON.stringify`:

# %% tags=["nbval-check-output"]
import json

async with websockets.connect(server.ws_url + "/ws/add") as ws:
    await ws.send(json.dumps({"a": 2, "b": 3}))
    raw = await ws.recv()
    print("on the wire:", raw)
    print("decoded:    ", json.loads(raw))

# %% [markdown]
# `send_json` writes compact JSON, without spaces, and keeps non-ASCII letters as they are.
#
# ## 7. The five calls, and what goes wrong
#
# First, a prediction. The echo endpoint of step 2 reads each message with `receive_text()`.
# What happens when a client sends it bytes, a *binary* message, instead of text?
#
# - (a) the bytes come back, as a binary message
# - (b) they come back as text, decoded
# - (c) the connection breaks, and nothing comes back
#
# Put your letter between the quotes and run the cell, before you read on.

# %%
from wslab.checks.endpoint import BINARY_TO_ECHO

### BEGIN SOLUTION
my_prediction = "c"
### END SOLUTION
### BEGIN STUB
my_prediction = ""  # "a", "b" or "c"
### END STUB
BINARY_TO_ECHO.predict(my_prediction)

# %% [markdown]
# | call | what it does | what can go wrong |
# |---|---|---|
# | `await websocket.accept()` | answers the handshake (HTTP 101); comes first | any other call before it raises `RuntimeError`; an endpoint that ends without accepting refuses the client (HTTP 403 or 500) |
# | `await websocket.receive_text()` | waits for the next message, returns it as `str` | a **binary** message raises `KeyError: 'text'`; a client that left raises `WebSocketDisconnect` |
# | `await websocket.send_text(text)` | sends `text` as one text message | a client that left raises `WebSocketDisconnect` |
# | `await websocket.receive_json()` | `receive_text()`, then `json.loads()` | text that is **not JSON** raises `json.JSONDecodeError`; valid JSON may still be a list, a number or a string, not the dict you expect |
# | `await websocket.send_json(obj)` | `json.dumps(obj)`, then sends it as text | an object JSON cannot hold (a `set`, a `datetime`) raises `TypeError`, and nothing is sent |
#
# Two of these, seen from the client. First the binary message to the echo endpoint that you
# made a prediction about:

# %% tags=["nbval-check-output"]
async with websockets.connect(server.ws_url + "/ws/echo") as ws:
    await ws.send(b"\x00\x01\x02")  # bytes: a binary message
    try:
        came_back = await ws.recv()
        print("came back:", repr(came_back))
    except websockets.ConnectionClosedError:
        came_back = None
        print(f"the connection broke, close code {ws.close_code}")

BINARY_TO_ECHO.check(came_back)
server.print_logs(last=1)

# %% [markdown]
# `receive_text()` raised `KeyError: 'text'`, and nothing in the endpoint caught it. uvicorn
# logged the traceback (the last line is shown above) and dropped the connection without a close
# frame, which the client reports as code 1006, "closed abnormally". Only this connection is
# gone: the server and every other connection carry on. Text that is not JSON, sent to the
# calculator, ends the same way:

# %% tags=["nbval-check-output"]
async with websockets.connect(server.ws_url + "/ws/add") as ws:
    await ws.send("two plus three")
    try:
        await ws.recv()
    except websockets.ConnectionClosedError:
        print(f"the connection broke, close code {ws.close_code}")

server.print_logs(last=1)

# %% [markdown]
# One bad message from one client is enough to end its connection. Exercise 2 answers bad input
# with an error message instead; lesson 04 makes the chat's endpoint shrug off all of the above.
#
# ## 8. Exercise: a shouting endpoint
#
# Write the endpoint `shout`. When a client connects, it accepts, sends the greeting `GREETING`
# (exactly that text), and then sends every text it receives back in upper case: `"hello"` comes
# back as `"HELLO"`. When the client leaves, it ends quietly.
#
# Write it as a plain `async def`, without a decorator: the check mounts it at `/ws/shout` on an
# app of its own, serves it with a real uvicorn and talks to it with a `websockets` client.

# %%
GREETING = "Welcome! I shout back."


### BEGIN SOLUTION
### SOURCE wslab.answers.endpoint:shout
### END SOLUTION
### BEGIN STUB
async def shout(websocket: WebSocket) -> None:
    # TODO: accept, send GREETING, then loop: receive a text, send it back upper-cased.
    # Hint: start from the echo endpoint of step 2; text.upper() upper-cases a string.
    raise NotImplementedError("exercise: shout")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.endpoint import check_shout

checked_shout = await check_shout(shout)

# %% [markdown]
# As in lesson 00, the check gives back what the rest of the notebook uses, here as
# `checked_shout`: your endpoint once it passes, the kit's until then. (The same goes for
# `checked_reply` and `checked_test_shout` below.)
#
# Try it: delete the `try`/`except WebSocketDisconnect` from your endpoint, run both cells again,
# and read what the check says. Then put it back. And once more: delete one `await` in front of
# a `send_text`.
#
# ## 9. Exercise: a JSON endpoint that survives bad input
#
# Write the endpoint `reply`. It answers every message with exactly one JSON object:
#
# | the client sends | `reply` answers |
# |---|---|
# | `{"message": "hello"}` | `{"reply": "hello", "length": 5}` (`length` counts characters) |
# | text that is not JSON, such as `hello` | `{"error": "..."}`, any explanation you like |
# | JSON without a text `"message"`, such as `["hello"]`, `{"text": "hi"}` or `{"message": 42}` | `{"error": "..."}` |
#
# After an error it carries on: the next good message gets its reply. The check sends all of the
# above on one connection, at `/ws/reply`.

# %%
### BEGIN SOLUTION
### SOURCE wslab.answers.endpoint:reply
### END SOLUTION
### BEGIN STUB
async def reply(websocket: WebSocket) -> None:
    # TODO: accept, then loop: data = await websocket.receive_json(), and answer with send_json.
    # Hint: receive_json() raises json.JSONDecodeError for text that is not JSON: catch it,
    # send {"error": ...} and `continue` the loop. Then check isinstance(data, dict) and
    # isinstance(data.get("message"), str) before you read data["message"].
    raise NotImplementedError("exercise: reply")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.endpoint import check_reply

checked_reply = await check_reply(reply)

# %% [markdown]
# ## 10. Your endpoints on a server of their own
#
# Serve both on an app of their own. `app.add_api_websocket_route(path, function)` does what the
# decorator `@app.websocket(path)` does, for a function defined elsewhere:

# %% tags=["nbval-check-output"]
exercises = FastAPI()
exercises.add_api_websocket_route("/ws/shout", checked_shout)
exercises.add_api_websocket_route("/ws/reply", checked_reply)
exercise_server = BackgroundServer(exercises, name="02-exercises").start()

async with websockets.connect(exercise_server.ws_url + "/ws/shout") as ws:
    print(await ws.recv())
    await ws.send("is anybody there?")
    print(await ws.recv())

async with websockets.connect(exercise_server.ws_url + "/ws/reply") as ws:
    for text in ['{"message": "hi"}', "hi", '{"message": "bye"}']:
        await ws.send(text)
        print(f"{text:18} -> {await ws.recv()}")

# %% [markdown]
# ## 11. Testing without a server: `TestClient`
#
# The checks in this notebook start a real server and connect to it. For a unit test there is a
# lighter way, FastAPI's `TestClient`: it calls the app directly, in this process, with no port
# and no uvicorn. `client.websocket_connect(path)` opens a test connection with the same calls
# as the endpoint, in plain (not `async`) form: `send_text`, `receive_text`, `send_json`,
# `receive_json`, `close`. Here is a test of the echo endpoint, written the way pytest would run
# it, with the client as an argument:

# %% tags=["nbval-check-output"]
from fastapi.testclient import TestClient


def test_echo(client):
    with client.websocket_connect("/ws/echo") as websocket:
        websocket.send_text("hello")
        assert websocket.receive_text() == "hello"


with TestClient(app) as client:
    assert client.get("/").json() == {"message": "WebSocket Server is running"}
    test_echo(client)
print("test_echo passed")

# %% [markdown]
# `with TestClient(app) as client:` runs the app's startup and shutdown code around the block,
# and serves every connection of the block from one event loop, in a helper thread. Your test
# stays plain Python: no `await`.
#
# One thing it does better than a real server: an endpoint's exception reaches the test. The
# binary message that broke a connection in step 7 raises right here, in the test:

# %% tags=["nbval-check-output"]
with TestClient(app) as client:
    try:
        with client.websocket_connect("/ws/echo") as websocket:
            websocket.send_bytes(b"\x00\x01\x02")
            websocket.receive_text()
    except KeyError as exc:
        print("the endpoint's exception reached the test:", repr(exc))

# %% [markdown]
# What a `TestClient` test cannot see, because there is no uvicorn and no network:
#
# - **uvicorn's behaviour**: its message-size limit (close code 1009), its keepalive pings, and
#   the dropped connection (1006) that a crash causes. In the test, the crash is an exception.
# - **the handshake as a browser sees it**: an endpoint that closes before `accept()` gives a
#   browser an HTTP 403; the test sees a `WebSocketDisconnect` with the close code instead.
# - **real sockets**: timing, slow readers, full buffers, a client on another machine.
# - **a deadline**: `receive_text()` in a test waits forever. A test that expects one message
#   too many hangs instead of failing.
#
# So: `TestClient` for quick tests of what an endpoint answers; a real server (as the checks
# here, and lesson 04's tests, do) for everything that happens on the wire.
#
# ## 12. Exercise: test the shouting endpoint
#
# Write `test_shout(client)`, a test of exercise 1's endpoint at `/ws/shout`. It passes when the
# endpoint behaves as specified, and fails (with a failing `assert`, or an error) when it does not.
#
# The check runs your test against a correct endpoint, where it must pass, and then against five
# broken ones, where it must fail: one that never greets, one that greets with other words, one
# that does not upper-case, one that answers only once, and one that crashes when the client
# leaves. Its endpoints close a connection after 1 s of silence, so a test that waits for a
# message that never comes fails instead of hanging.

# %%
### BEGIN SOLUTION
### SOURCE wslab.answers.endpoint:test_shout
### END SOLUTION
### BEGIN STUB
def test_shout(client):
    # TODO: connect to "/ws/shout", check the greeting, then send two texts with lower-case
    # letters and check each answer. Hint: test_echo in step 11 has the shape.
    raise NotImplementedError("exercise: test_shout")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.endpoint import check_shout_test

checked_test_shout = check_shout_test(test_shout)

# %% [markdown]
# Now run your test against your own endpoint, the one served in step 10:

# %% tags=["nbval-check-output"]
with TestClient(exercises) as client:
    checked_test_shout(client)
print("test_shout passed against the shout endpoint of step 10")

# %% [markdown]
# ## Clean up
#
# Stop both servers. (Closing the notebook's kernel would stop them too, but a server you no
# longer use should not hold a port.)

# %% tags=["nbval-check-output"]
server.stop()
exercise_server.stop()
print(server)
print(exercise_server)

# %% [markdown]
# ## Key points
#
# - A WebSocket endpoint is an `async def` taking `websocket: WebSocket`, declared with
#   `@app.websocket(path)`. It runs once per connection: `accept()`, then a `while True` loop of
#   receive and send, inside `try`/`except WebSocketDisconnect`.
# - `receive_json`/`send_json` are `receive_text`/`send_text` plus `json.loads`/`json.dumps`.
#   A binary message (`KeyError`), text that is not JSON (`JSONDecodeError`) or an uncaught
#   exception ends that one connection, with code 1006 and a traceback in the server's log.
# - In Jupyter, the kernel's loop is already running: `uvicorn.run()` cannot start another in
#   the same thread. `nest_asyncio` forces it and patches the whole kernel; `BackgroundServer`
#   gives uvicorn a thread and a loop of its own, and keeps its log for `print_logs()`.
# - A cell can `await` directly: `async with websockets.connect(url) as ws:` is a real client.
# - `TestClient.websocket_connect` tests an endpoint in-process and surfaces its exceptions, but
#   sees no uvicorn, no network and no timeouts.
#
# **Next:** [03 · The connection manager](03_connection_manager.ipynb): many clients at once, and
# a message for all of them.
#
# The last cell sums up your exercises, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.endpoint import EXERCISES
from wslab.checks.progress import show_progress

progress = await show_progress(EXERCISES, globals())
