# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · A first endpoint
#
# **Time:** 35 minutes (15 teaching, 20 exercises) · **Builds on:**
# [00 · Setup](00_setup.ipynb): `await` in a cell, and the self-checks.
#
# ## Questions
#
# - What does a WebSocket endpoint look like in FastAPI?
# - How does the lecture run its server, and how does a notebook run one?
# - What happens when a client sends what the endpoint does not expect?
#
# ## Learning objectives
#
# - Write the lecture's `main.py` and serve it with `uvicorn main:app`.
# - Use the five calls `accept`, `receive_text`, `send_text`, `receive_json`/`send_json` and
#   `close`, and say how each fails.
# - Serve an app in the notebook with `BackgroundServer`, talk to it with `websockets`, and say
#   why `uvicorn.run()` cannot serve it there.

# %% [markdown]
# ## 1. The lecture's app, in a file
#
# The cell below is the lecture's `main.py`: a `FastAPI()` app, a *health check* (an HTTP route
# at `/` that answers "is the server up?") and the *echo* endpoint, which sends every text back.
#
# - `@app.websocket(path)`, not `@app.get(path)`: the function runs once per *connection*, for
#   as long as it lives.
# - `websocket: WebSocket`: the annotation is how FastAPI hands you the connection.
# - `accept()` answers the client's handshake; `receive_text()` waits for the next message,
#   while other connections carry on.
# - When the client leaves, `receive_text()` raises `WebSocketDisconnect`: the normal end of a
#   connection, caught so that the endpoint ends quietly.
#
# **Exercise.** The health check is missing. In its place, write a route that answers `GET /`
# with `{"message": "WebSocket Server is running"}`: `@app.get("/")` over an `async def` that
# returns that dict. Then run the cell: its first line, `%%writefile main.py`, writes the rest
# into the file `main.py` beside this notebook.

# %%
# %%writefile main.py
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


### BEGIN SOLUTION
@app.get("/")
async def health():
    return {"message": "WebSocket Server is running"}
### END SOLUTION
### BEGIN STUB
# TODO: the health check, GET / (see the exercise above)
def health():
    raise NotImplementedError("exercise: main.py")
### END STUB


@app.websocket("/ws/echo")
async def echo(websocket: WebSocket):
    await websocket.accept()                       # answer the handshake
    try:
        while True:                                # one connection, many messages
            text = await websocket.receive_text()  # wait for the next text
            await websocket.send_text(text)        # and send it back
    except WebSocketDisconnect:
        pass                                       # the client left: the endpoint ends


# %% [markdown]
# The check serves your file with `uvicorn main:app`, asks `GET /` and talks to `/ws/echo`.
# It gives back your file's `app` once it passes, as `checked_app` (the kit's until then).

# %% tags=["nbval-check-output"]
from wslab.checks.endpoint import check_main_py

checked_app = await check_main_py("main.py")

# %% [markdown]
# ## 2. Run it: `uvicorn main:app`
#
# `uvicorn main:app` imports `main.py`, finds the variable `app` in it and serves it until
# stopped. `AppProcess` runs that command from a cell, as a process of its own, on a free port:

# %% tags=["nbval-check-output"]
from wslab.app_process import AppProcess

main_server = AppProcess("main:app").start()
main_server

# %% [markdown]
# Ask the health check over HTTP with `httpx2` (404: `main.py` has no health check yet). Then
# talk to the echo endpoint with the `websockets` client: `connect()` does the handshake,
# `send()` sends, `await recv()` waits for a message, and leaving `async with` closes the
# connection. Last, the log, and stop the server as Ctrl+C would:

# %%
import httpx2
import websockets

response = httpx2.get(main_server.url + "/")
print(response.status_code, response.text)

async with websockets.connect(main_server.ws_url + "/ws/echo") as ws:
    await ws.send("hello")
    print("sent 'hello', got back:", repr(await ws.recv()))

main_server.print_logs()
main_server.stop()

# %% [markdown]
# In a terminal (**File → New → Terminal** opens one in this folder),
# `../.venv/bin/uvicorn main:app --reload` (Windows: `..\.venv\Scripts\uvicorn main:app
# --reload`) serves the file on port 8000, restarts it when `main.py` changes, and stops on
# Ctrl+C.
#
# ## 3. Serving inside the notebook: `BackgroundServer`
#
# In a script, `uvicorn.run(app)` serves an app: it starts an *event loop* and serves on it
# until the server stops. Not in a notebook: the kernel's thread already runs a
# loop, the one that lets a cell `await`. asyncio refuses a second loop in that thread
# (`RuntimeError`), and the cell would never finish anyway.
#
# `BackgroundServer` gives uvicorn a thread and a loop of its own: the cell returns at once,
# free to be a client. Here it serves `checked_app`, the app of your `main.py`:

# %% tags=["nbval-check-output"]
from wslab.runner import BackgroundServer

server = BackgroundServer(checked_app, name="01-first-endpoint").start()
print(httpx2.get(server.url + "/").json())

# %% [markdown]
# ## 4. The five calls, and what goes wrong
#
# First, a prediction. The echo endpoint reads with `receive_text()`. What happens when a
# client sends it bytes, a *binary* message?
#
# - (a) the bytes come back, as a binary message
# - (b) they come back as text, decoded
# - (c) the connection breaks, and nothing comes back
#
# Write your letter between the quotes, run the cell, then the demo.

# %%
from wslab.checks.endpoint import BINARY_TO_ECHO

### BEGIN SOLUTION
my_prediction = "c"
### END SOLUTION
### BEGIN STUB
my_prediction = ""  # "a", "b" or "c"
### END STUB
BINARY_TO_ECHO.predict(my_prediction)

# %% tags=["nbval-check-output"]
async with websockets.connect(server.ws_url + "/ws/echo") as ws:
    await ws.send(b"\x00\x01\x02")  # bytes: a binary message
    try:
        came_back = await ws.recv()
    except websockets.ConnectionClosedError:
        came_back = None
        print(f"the connection broke, close code {ws.close_code}")

BINARY_TO_ECHO.check(came_back)
server.print_logs(last=1)

# %% [markdown]
# An exception the endpoint does not catch ends that one connection, without a close frame
# (code 1006); uvicorn logs it, and the other connections carry on. Each of the lecture's five
# calls can fail so:
#
# | call | what it does | what goes wrong |
# |---|---|---|
# | `accept()` | answers the handshake, first | any call before it: `RuntimeError` |
# | `receive_text()` | waits for the next text | a binary message: `KeyError`; the client left: `WebSocketDisconnect` |
# | `send_text(text)` | sends a text | the client left: `WebSocketDisconnect` |
# | `receive_json()`, `send_json(obj)` | the same, with `json.loads()`, `json.dumps()`: JSON is text | not JSON: `JSONDecodeError`; a `set`: `TypeError` |
# | `close(code=1000)` | ends the connection | a send after it: `RuntimeError` |
#
# ## 5. Exercise: a shouting endpoint
#
# Write the endpoint `shout`. It accepts, sends the greeting `GREETING` (exactly that text),
# then sends every text it receives back in upper case (`text.upper()`: `"hello"` becomes
# `"HELLO"`), and ends quietly when the client leaves. Write a plain `async def`, without a
# decorator: the check mounts it at `/ws/shout`, serves it and talks to it.

# %%
from fastapi import WebSocket, WebSocketDisconnect

GREETING = "Welcome! I shout back."


### BEGIN SOLUTION
### SOURCE wslab.answers.endpoint:shout
### END SOLUTION
### BEGIN STUB
async def shout(websocket: WebSocket) -> None:
    # TODO: accept, send GREETING, then loop: receive a text, send it back upper-cased.
    raise NotImplementedError("exercise: shout")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.endpoint import check_shout

checked_shout = await check_shout(shout)

# %% [markdown]
# Try it: delete an `await` before a `send_text`, run both cells again, read the check, then put
# it back.
#
# ## Clean up
#
# Stop both servers.

# %% tags=["nbval-check-output"]
server.stop()
main_server.stop()
print(server, main_server, sep="\n")

# %% [markdown]
# ## Key points
#
# - An endpoint, `@app.websocket(path)` over an `async def` taking `websocket: WebSocket`, runs
#   once per connection: `accept()`, then a loop of receive and send inside
#   `try`/`except WebSocketDisconnect`.
# - `uvicorn main:app` imports `main.py` and serves its `app`.
# - The kernel already runs an event loop: `BackgroundServer` serves an app from a thread of its
#   own, and a cell is its client.
# - An exception the endpoint does not catch ends its connection (code 1006), with a traceback
#   in the server's log.
#
# **Next:** [02 · The chat room](02_chat_room.ipynb): many clients, one message for all.
#
# The last cell sums up your exercises, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.endpoint import EXERCISES
from wslab.checks.progress import show_progress

progress = await show_progress(EXERCISES, globals())
