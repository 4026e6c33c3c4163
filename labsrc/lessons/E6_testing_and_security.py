# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # E6 · Testing and security: tests that do not flake, a server that says no
#
# **Time:** 115 minutes (60 teaching, 55 exercises) · **Builds on:**
# [01 · A first endpoint](01_first_endpoint.ipynb) (the shouting endpoint, `BackgroundServer`)
# and [02 · The chat room](02_chat_room.ipynb) (a room of clients, and the client that never
# reads). An elective: take it any time after the core track.
#
# The chat works. This lesson is about trusting it: tests that say so reliably, and a server
# that refuses what it should refuse: pages from other origins, strangers, floods, giant
# messages, dead connections.
#
# ## Questions
#
# - How do I test a WebSocket endpoint, and what does a test without a real server miss?
# - How do I write a test with two clients that neither flakes nor hangs?
# - How can a page from somewhere else talk to my server in my user's name, and how do I stop it?
# - How should a client prove who it is, and what do the close codes tell it to do next?
# - What could one student do to everyone else in a room, and what stops it?
#
# ## Learning objectives
#
# - Test an endpoint with FastAPI's `TestClient`, and say what it shows differently from a real
#   server: a refusal before `accept()`, message-size limits, keepalive.
# - Write a test with two real clients that waits for sync points, with a deadline on every wait.
# - Show a cross-site WebSocket hijacking, and stop it with an Origin check.
# - Choose where a client's token goes (cookie, URL, subprotocol header, first message), and say
#   what each costs.
# - Say what the size limit, the rate limit and keepalive protect against, and which close codes
#   a client should retry.
# - Name what one hostile client could make a room's server spend, and the bound that stops it.

# %% [markdown]
# ## 1. Testing without a server: `TestClient`
#
# A unit test does not need a port or uvicorn. FastAPI's `TestClient` calls the app directly,
# in this process. `client.websocket_connect(path)` opens a test connection with the same calls
# as an endpoint, in plain (not `async`) form: `send_text`, `receive_text`, `send_json`,
# `receive_json`, `close`.
#
# Here is an app with lesson 01's echo endpoint and its shouting endpoint (the kit's version of
# your exercise), and a test of the echo, written the way pytest would run it, with the client
# as an argument:

# %% tags=["nbval-check-output"]
import asyncio
import json

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.testclient import TestClient

from wslab.answers.endpoint import GREETING, shout  # lesson 01's exercise, as the kit wrote it

app = FastAPI()


@app.websocket("/ws/echo")
async def echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


app.add_api_websocket_route("/ws/shout", shout)


def test_echo(client):
    with client.websocket_connect("/ws/echo") as websocket:
        websocket.send_text("hello")
        assert websocket.receive_text() == "hello"


with TestClient(app) as client:
    test_echo(client)
print("test_echo passed")

# %% [markdown]
# Two things about `with TestClient(app) as client:`:
#
# - It runs the app's startup and shutdown around the block, and serves **every connection of
#   the block from one event loop** in a helper thread. Connections opened on a `TestClient`
#   that was never entered get a loop each, and two clients of one chat room then talk across
#   loops: such a test fails some of the time.
# - Your test stays plain Python, and **has no deadline**: `receive_text()` waits for ever. A
#   test that expects one message too many hangs, and so does your test run.
#
# One thing it does better than a real server: an endpoint's exception reaches the test. Bytes
# sent to the echo endpoint make its `receive_text()` fail, and that failure is raised right here:

# %% tags=["nbval-check-output"]
with TestClient(app) as client:
    try:
        with client.websocket_connect("/ws/echo") as websocket:
            websocket.send_bytes(b"\x00\x01\x02")
            websocket.receive_text()
    except KeyError as exc:
        print("the endpoint's exception reached the test:", repr(exc))

# %% [markdown]
# ## 2. Exercise: test the shouting endpoint
#
# Write `test_shout(client)`, a test of the endpoint at `/ws/shout`: it greets a new client with
# `GREETING`, then sends back every text in upper case. The test passes when the endpoint does
# that, and fails (a failing `assert`, or an error) when it does not.
#
# The check runs your test against a correct endpoint, where it must pass, and against five
# broken ones, where it must fail. Its endpoints close a connection after 1 s of silence, so a
# test that waits for a message that never comes fails instead of hanging.

# %%
### BEGIN SOLUTION
### SOURCE wslab.answers.hardening:test_shout
### END SOLUTION
### BEGIN STUB
def test_shout(client):
    # TODO: a test in the shape of test_echo: what should a correct endpoint send, and when?
    raise NotImplementedError("exercise: test_shout")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.hardening import check_shout_test

checked_test_shout = check_shout_test(test_shout)

# %% [markdown]
# A check of a test is how you test a test: a test is only worth its place in a suite if it
# fails when the code is wrong. Now run it (yours once it passes) against the app above:

# %% tags=["nbval-check-output"]
with TestClient(app) as client:
    checked_test_shout(client)
print("test_shout passed against the shouting endpoint")

# %% [markdown]
# ## 3. What the `TestClient` shows differently
#
# The `TestClient` skips uvicorn and the network, and several things happen there. Two of them,
# side by side, on the kit's chat server.
#
# **A refusal before `accept()`.** The kit's server refuses a page from a foreign web site before
# it accepts the handshake (section 6 shows why), even the server a notebook starts on
# 127.0.0.1. On a real server, a close before `accept()`
# becomes an HTTP **403** answer to the handshake: the WebSocket never opens, and a browser's
# `onclose` sees code 1006 with no reason. The `TestClient` reports the same refusal as a
# `WebSocketDisconnect` with code **1008**, which no browser would ever see in this case.

# %% tags=["nbval-check-output"]
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wslab.chat import create_app
from wslab.runner import BackgroundServer
from wslab.settings import ChatSettings

guarded = create_app()
foreign = "http://evil.example"

with TestClient(guarded) as client:
    try:
        with client.websocket_connect("/ws/alice", headers={"origin": foreign}):
            pass
    except WebSocketDisconnect as refused:
        print("TestClient:  WebSocketDisconnect, code", refused.code)

guarded_server = BackgroundServer(guarded, name="E6-guarded").start()
try:
    async with connect(f"{guarded_server.ws_url}/ws/alice", origin=foreign):
        pass
except InvalidStatus as refused:
    print("real server: the handshake got HTTP", refused.response.status_code)

# %% [markdown]
# So a test that expects 1008 passes, while the page in the browser has no code to show. (The
# red line is the kit's own log of the refusal: with no `BackgroundServer` to keep the log, the
# `TestClient`'s app writes it into the cell.) That is why the
# kit refuses *after* `accept()` whenever it has something to explain, such as a wrong token:
# it accepts, sends an error message, and closes with 1008 and a reason, which a page can show.
# Only the foreign page is refused before `accept()`: it should learn nothing.
#
# **A message that is too big.** uvicorn reads at most `ws_max_size` bytes per message (the kit
# sets 64 KiB) and closes the connection with **1009** when a message is bigger, before the app
# sees a byte of it. The `TestClient` has no such limit: the app receives all 200 kB, and only
# the app's own limit for a chat line refuses it (the red line is the app's log of that).

# %% tags=["nbval-check-output"]
server = BackgroundServer(create_app(), name="E6").start()
huge = "x" * 200_000

async with connect(f"{server.ws_url}/ws/alice", max_size=None) as alice:
    await alice.recv()  # the welcome
    await alice.send(huge)
    try:
        await alice.recv()
    except ConnectionClosed as closed:
        print("real server: closed with", closed.rcvd.code, closed.rcvd.reason)

with TestClient(create_app()) as client:
    with client.websocket_connect("/ws/alice") as alice:
        alice.receive_json()  # the welcome
        alice.send_text(huge)
        print("TestClient:  the app got it, and replied:", alice.receive_json()["message"])

# %% [markdown]
# Keepalive pings (section 10), full buffers (lesson 02's client that never reads) and clients
# that vanish without a word do not exist in the `TestClient` at all. Use it for quick tests of
# what an endpoint answers; test what happens on the wire against a real server, as every check
# in these lessons does.
#
# ## 4. A two-client test that does not flake
#
# Here is a test of the chat against the real server: Alice speaks, Bob hears her. It is
# written the way most first tests are.

# %%
async def naive_test(ws_url):
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        await alice.send(json.dumps({"message": "hello bob"}))
        line = json.loads(await bob.recv())
        assert line["message"] == "hello bob", line


try:
    await naive_test(server.ws_url)
    print("passed")
except AssertionError as failure:
    print("failed:", failure)

# %% [markdown]
# It fails, and not because the server is wrong: the first thing Bob receives is his welcome,
# not Alice's line. Suppose you "fix" that by skipping one message. Then the test depends on
# timing: whether Bob is *in the room* when Alice speaks. `connect()` returns once the handshake
# is done, but the server puts the client in the room a moment later, and a line said in
# between does not reach Bob: `await bob.recv()` then waits for ever. On your laptop the moment
# is short and the test passes; on a busy CI machine it sometimes fails, or hangs.
#
# Three rules make a test with several clients reliable:
#
# 1. **Wait for a sync point, not for time.** A client is in the room once the server has
#    welcomed it: wait for each welcome before anyone speaks. (`asyncio.sleep(0.1)` is a guess:
#    too short on a busy machine, a waste everywhere else.)
# 2. **Wait for the message you mean.** Skip what does not match (welcomes, joins, counts),
#    instead of asserting on "the next message".
# 3. **Give every wait a deadline.** A test that waits for ever cannot fail.
#
# `receive_until` from `wslab.testing` does rules 2 and 3:

# %%
from typing import Any, Callable


### SOURCE wslab.testing:receive_until

# %% [markdown]
# ## 5. Exercise: test the broadcast
#
# Write `test_broadcast(ws_url)`: Alice and Bob connect to `f"{ws_url}/ws/alice"` and
# `f"{ws_url}/ws/bob"`; once both are in the room, Alice sends `{"message": "hello bob"}`; the
# test passes when Bob receives that line, word for word, from `alice`, and fails otherwise.
#
# The check runs your test against the kit's server and against a correct but slow one (it puts
# a client in the room 0.3 s after the handshake, and relays each line 0.2 s late), where it must
# pass; then against four broken servers, where it must fail within a few seconds.

# %%
### BEGIN SOLUTION
### SOURCE wslab.answers.hardening:test_broadcast
### END SOLUTION
### BEGIN STUB
async def test_broadcast(ws_url):
    # TODO: the three rules above, with receive_until(ws, lambda message: ..., timeout=2) for
    # every wait. A chat line is {"message": ..., "client_id": ..., "timestamp": ...}.
    raise NotImplementedError("exercise: test_broadcast")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.hardening import check_broadcast_test

checked_test_broadcast = await check_broadcast_test(test_broadcast)

# %% [markdown]
# ## 6. Cross-site WebSocket hijacking
#
# Suppose the course runs a small server that keeps each student's notes, and logs students in
# with a **cookie**, as many web apps do. Its WebSocket endpoint looks at the cookie, and if it
# belongs to a student, sends that student's notes.

# %%
SESSIONS = {"c00kie-of-ada": "ada"}  # the cookie the server gave Ada when she logged in


def notes_app(check_origin=False):
    """A server that knows its users by a cookie. With check_origin, it also checks Origin."""
    from wslab.access import origin_allowed

    app = FastAPI()

    @app.websocket("/notes")
    async def notes(websocket: WebSocket):
        user = SESSIONS.get(websocket.cookies.get("session"))
        origin = websocket.headers.get("origin")
        if user is None or (check_origin and
                            not origin_allowed(origin, websocket.headers.get("host"))):
            await websocket.close(code=1008)  # before accept(): an HTTP 403
            return
        await websocket.accept()
        await websocket.send_json({"user": user, "notes": "exam answers: 42, 7, B"})

    return app


notes_server = BackgroundServer(notes_app(), name="E6-notes").start()

# %% [markdown]
# Now Ada, still logged in, opens another page in another tab: a page from *another server on
# the same site*, say a classmate's project on port 9999 of the same machine (or of the same
# university domain). Its script runs `new WebSocket("ws://<the notes server>/notes")`. What
# does that page get? Predict first:
#
# - (a) it reads Ada's notes
# - (b) it is refused (HTTP 403): the server does not know it
# - (c) it cannot connect at all: a page cannot open a WebSocket to another port
#
# Put your letter between the quotes and run the cell. The cell under it sends what Ada's
# browser sends: her cookie, and the page's origin in the `Origin` header, which the browser
# always sets and no script can change.

# %%
from wslab.checks.hardening import HIJACK

### BEGIN SOLUTION
my_prediction = "a"
### END SOLUTION
### BEGIN STUB
my_prediction = ""  # "a", "b" or "c"
### END STUB
HIJACK.predict(my_prediction)

# %% tags=["nbval-check-output"]
async def hostile_page(ws_url):
    """What a page from port 9999 of the same machine gets, opened in Ada's browser."""
    try:
        async with connect(f"{ws_url}/notes", origin="http://127.0.0.1:9999",
                           additional_headers={"Cookie": "session=c00kie-of-ada"}) as ws:
            notes = await ws.recv()
            print("the hostile page read:", notes)
            return notes
    except InvalidStatus as refused:
        print("the hostile page was refused: HTTP", refused.response.status_code)
        return refused


predicted_it = HIJACK.check(await hostile_page(notes_server.ws_url))

# %% [markdown]
# **The browser adds Ada's cookie to that handshake by itself**, because the request goes to the
# notes server, and the cookie belongs to the notes server. The page cannot read the cookie, and
# does not need to: the server sees Ada's cookie and sends Ada's notes, and the page's script
# reads them (and could send messages in Ada's name, too). CORS, which guards `fetch()`, does
# not apply to WebSockets.
#
# Why "the same site"? Chromium-based browsers (Chrome, Edge) treat a cookie that sets no
# `SameSite` attribute as `SameSite=Lax`, and leave it out of requests made by pages of *other
# sites* (other registrable domains, such as `evil.example`). Firefox and Safari do not default
# to Lax; they guard against other sites in other ways, which differ from browser to browser.
# But in every browser a site is only the domain: other ports and other subdomains of it are
# the same site, and each of them is a different **origin** (scheme, host and port). That gap is
# where the hijacking works everywhere, and a classroom, where everyone's servers run on a few
# machines, is full of it.
#
# The defence is to **check `Origin`** on every handshake, against the server's own origin and
# an explicit list of others, and to refuse anything else before `accept()`. A request without
# an `Origin` header did not come from a browser page (a script, a notebook): it carries no
# cookie a browser added, so it is left to the other checks (a token, section 8). FastAPI does
# not check `Origin` for you; the kit does it in `wslab.access`.
#
# **Loopback is no exception:** any web site you visit can open
# `ws://127.0.0.1:8000/ws/you` from your browser. So the kit's server checks `Origin` there
# too, and lets in this machine's pages besides its own: loopback origins (JupyterLab's) and
# **`null`**, which a page opened from a file sends, as the lecture opens its page. A sandboxed
# frame on any site sends `null` too; the kit accepts that risk on loopback only (the socket
# must come from this machine, and the room is yours alone). A network or classroom server
# lets in only its own pages and `--allow-origin`.

# %% tags=["nbval-check-output"]
notes_server.stop()
notes_server = BackgroundServer(notes_app(check_origin=True), name="E6-notes").start()
await hostile_page(notes_server.ws_url)

async with connect(f"{notes_server.ws_url}/notes",
                   additional_headers={"Cookie": "session=c00kie-of-ada"}) as ws:
    print("Ada's own script (no Origin) read:", json.loads(await ws.recv())["notes"])

# %% [markdown]
# ## 7. Exercise: the Origin check
#
# Write `origin_allowed(origin, host, allowed=())`. `origin` is the handshake's `Origin` header
# (`None` when there is none), `host` its `Host` header (such as `"127.0.0.1:8000"`, or `None`),
# and `allowed` a tuple of other origins that may connect (such as
# `("https://course.example",)`). Return `True` when the origin may connect:
#
# - there is no Origin header;
# - the origin is in `allowed`, exactly;
# - or the origin's host and port are the `Host` the handshake was sent to, compared without
#   regard to case (`urllib.parse.urlsplit(origin).netloc` gives the host and port).
#
# Everything else is refused, including the origin `"null"` (sandboxed frames and local files
# send it) and origins that only *start* like an allowed one.

# %%
from urllib.parse import urlsplit


### BEGIN SOLUTION
### SOURCE wslab.access:origin_allowed
### END SOLUTION
### BEGIN STUB
def origin_allowed(origin, host, allowed=()):
    # TODO: the three ways in, as the list above says; False for everything else.
    raise NotImplementedError("exercise: origin_allowed")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.hardening import check_origin_allowed

checked_origin_allowed = check_origin_allowed(origin_allowed)

# %% [markdown]
# ## 8. Who are you? Authentication at the handshake
#
# A page's `new WebSocket(url)` cannot add an `Authorization: Bearer ...` header to the
# handshake. So a browser client can prove who it is in four ways:
#
# | where the secret goes | good | costs |
# |---|---|---|
# | a **cookie** | automatic; the page never handles the secret | the browser sends it for *any* page: needs the Origin check of section 6 |
# | the **URL**: `?token=...` | checked at the handshake, before the connection costs anything | URLs end up in logs (below), browser history and proxies: use a short-lived token, never a password |
# | the **subprotocol header**: `new WebSocket(url, ["token", secret])` sends `Sec-WebSocket-Protocol: token, <secret>` | checked at the handshake, and not in the URL | a header meant for protocol names: the secret may use only the few characters a header token allows; the server must answer with one of the offered names (`accept(subprotocol="token")`), never the secret, or the browser drops the connection; anything that logs headers logs the secret |
# | the **first message** | never in a URL or a header | the server must accept a connection from a stranger and hold it until the token comes: without a deadline, anyone can hold thousands of connections open for free |
#
# Here is the URL's cost: uvicorn logs every handshake with its query, token and all; the kit
# blanks it out (`wslab.access.HideTokens`):

# %% tags=["nbval-check-output"]
token_server = BackgroundServer(create_app(ChatSettings(token="s3cret")),
                                name="E6-token").start()
async with connect(f"{token_server.ws_url}/ws/alice?token=s3cret") as alice:
    await alice.recv()
await asyncio.sleep(0.1)
for line in token_server.logs(None):
    if '"WebSocket' in line:
        print(line.split("uvicorn.error: ")[-1])
token_server.stop()

# %% [markdown]
# The kit's classroom server uses the URL: its join token lives for one workshop, is shared by
# the whole class and handed out by the instructor, and a page, a notebook and a script can all
# pass it the same way. A classroom refuses tokens under 10 characters, and after 10 wrong
# tokens in 5 s an address is refused for the rest of those 5 s (`too_many_attempts`, close
# 1013): about 2 guesses a second instead of 1,000, and never a longer lock-out, since a whole
# class may share the guesser's address. An app with real accounts would rather use a cookie with the Origin
# check, or a *ticket*: a one-use token fetched over HTTPS just before opening the WebSocket,
# valid for a few seconds.
#
# ## 9. Exercise: authentication in the first message
#
# Write `async def first_message_auth(websocket, token, timeout=1.0)`, for an endpoint that
# authenticates with the first message:
#
# 1. accept the connection;
# 2. wait at most `timeout` seconds for the first message, which must be the text
#    `{"token": "<token>"}`;
# 3. if it is, return `True` and leave the connection open;
# 4. otherwise (a wrong token, no `"token"`, a token that is not a string, text that is not
#    JSON, JSON that is not an object, binary data, or nothing at all within `timeout`), close
#    with code **1008** and a short reason, and return `False`.
#
# It must never raise: every one of those is a client's mistake, answered with a close code. An
# endpoint would use it as `if not await first_message_auth(websocket, TOKEN): return`.
#
# Two tools you will need: `await asyncio.wait_for(websocket.receive(), timeout)` raises
# `asyncio.TimeoutError` when the time is up, and `websocket.receive()` gives an event, a dict
# whose `"text"` holds a text message (a binary one has `"bytes"` instead). Compare tokens with
# `secrets.compare_digest(a, b)`, not `==`: it takes as long for a token wrong in its first
# character as for one wrong in its last, so an attacker cannot guess a token one character at
# a time by timing the answers.

# %%
import secrets


### BEGIN SOLUTION
### SOURCE wslab.answers.hardening:first_message_auth
### END SOLUTION
### BEGIN STUB
async def first_message_auth(websocket, token, timeout=1.0):
    # TODO: accept, wait for the first event with a deadline, read its token, decide.
    raise NotImplementedError("exercise: first_message_auth")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.hardening import check_first_message_auth

checked_first_message_auth = await check_first_message_auth(first_message_auth)

# %% [markdown]
# ## 10. Limits, and what the close codes mean
#
# Every limit stops one way a single client could hurt the others:
#
# | limit (the kit's) | protects against | what the client gets |
# |---|---|---|
# | message size (app): 4096 bytes of text | walls of text in everyone's chat | an error message; the connection stays |
# | frame size (uvicorn `ws_max_size`): 64 KiB | a client making the server read megabytes | close **1009** *message too big* |
# | rate limit: 10 messages/s per client | one client flooding everyone | an error message `rate_limited` |
# | outbox: 256 messages waiting | a client that never reads (lesson 02) | close **4408** *too slow* |
# | keepalive: a ping every 20 s, pong due within 20 s | connections whose other end is gone (Wi-Fi lost, laptop asleep) | close **1011** |
#
# And the close codes you will meet (RFC 6455 and IANA's registry; 4000 to 4999 are for each app
# to define):
#
# | code | meaning | in the kit |
# |---|---|---|
# | 1000 | normal closure | a client leaves |
# | 1001 | going away | the server is shutting down, or a page is closed |
# | **1008** | policy violation | a wrong join token, a bad name, a name someone else holds, or far too many frames: the catch-all for "not allowed" |
# | **1009** | message too big | a frame over `ws_max_size` |
# | **1011** | internal error | the server failed; uvicorn also uses it for a missed keepalive pong |
# | 1012 | service restart | uvicorn's shutdown |
# | **1013** | try again later | the server is full or busy, or this address sent too many wrong tokens |
# | 4408, 4409 | the kit's own | too slow to read; replaced by its owner's newer connection (it had the resume key) |
#
# What a client should do next depends on the code. After **1008** or **4409**, stop and tell
# the user: reconnecting would be refused again, or would throw out the newer connection that
# took the name over. After any other code, or no close frame at all, reconnect with backoff
# (elective E3), and after **1009** without sending the too-big message again: the connection
# was fine, the message was not. That is the rule of the kit's own client
# (`wslab.close_codes.CLOSES` marks the codes it stops after as final).
#
# **Keepalive, seen.** Below, a server that pings every 0.2 s, and a client that completes the
# handshake and then never reads, so it never answers a ping either: a laptop whose lid was
# closed.

# %% tags=["nbval-check-output"]
from wslab.bench.stalled import StalledClient

quick_pings = BackgroundServer(create_app(), name="E6-pings",
                               ws_ping_interval=0.2, ws_ping_timeout=0.2).start()
lazy = StalledClient("127.0.0.1", quick_pings.port, "lazy", deflate=False)
await asyncio.sleep(1.0)
print("what the server sent lazy:", lazy.fate())
lazy.close()
quick_pings.stop()

# %% [markdown]
# **1013, seen.** A room with a fixed number of seats, for a machine that can take only so many:
# the third client is accepted and then closed with 1013 and a reason, so its page can say
# "full, try again later" instead of showing a bare failure.

# %% tags=["nbval-check-output"]
from wslab.manager import ConnectionManager


def small_room(seats):
    app = FastAPI()
    manager = ConnectionManager()

    @app.websocket("/ws/{client_id}")
    async def seat(websocket: WebSocket, client_id: str):
        if manager.connection_count >= seats:
            await websocket.accept()
            await websocket.close(code=1013, reason=f"the room is full ({seats} seats); "
                                                    "try again later")
            return
        await manager.connect(websocket)
        try:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        finally:
            manager.disconnect(websocket)

    return app


room_server = BackgroundServer(small_room(seats=2), name="E6-room").start()
async with connect(f"{room_server.ws_url}/ws/ann"), connect(f"{room_server.ws_url}/ws/bob"):
    async with connect(f"{room_server.ws_url}/ws/cat") as cat:
        try:
            await cat.recv()
        except ConnectionClosed as closed:
            print("cat:", closed.rcvd.code, closed.rcvd.reason)
room_server.stop()

# %% [markdown]
# ## 11. What one student could do to a whole room, and what the kit's server does about it
#
# A classroom server meets 30 to 200 people, and some of them will try things. The rule behind
# every answer below: **anything one client can make grow needs a bound, every wait on a client
# needs a deadline, and a claim is not a proof**.
#
# | someone... | without a bound | the kit's server |
# |---|---|---|
# | refused (wrong token) keeps sending pings and never reads | each pong waits in the server's memory, for as long as they stay | cuts the socket 2 s after its close frame |
# | sends tens of thousands of one-byte frames | everyone's lines wait behind them (2 s here), and the log fills | over 100 frames a second: closed with 1008; three log lines per kind every 10 s |
# | opens connections and sends half a handshake | each holds a file; 300 of them lock a laptop's server | a head must arrive within 5 s; at most 256 unfinished per address; the oldest makes room |
# | guesses the join token in a loop | 1,000 guesses a second | after 10 wrong tokens in 5 s, the address waits (close 1013, `too_many_attempts`) |
# | joins 2,000 times | the room's lines wait for all the welcomes (minutes) | joins are paced per address (200 at once, then 20 a second; 429 beyond 10 s of wait) |
# | connects with a name from the welcome's `online` list | the holder is thrown out (4409), again and again | `name_taken`, 1008; the holder notices nothing |
# | writes to the Redis channel between workers | a fake system line, a fake join, a worker deaf to itself | every event signed with a shared secret (HMAC-SHA256); the rest is dropped and counted |
#
# **A name is not an identity.** The kit once let the newest connection with a name win: the
# usual second connection is the same student after a Wi-Fi drop, before the server has noticed
# the first is dead. But a claim anyone can make must not move anything. The welcome now gives
# each connection a secret *resume key*, sent to it alone (the server keeps only its SHA-256), and
# only a connection that presents it (`?resume=KEY`) takes the name over. See it:

# %% tags=["nbval-check-output"]
names_server = BackgroundServer(create_app(ChatSettings()), name="E6-names").start()
async with connect(f"{names_server.ws_url}/ws/ada") as ada:
    key = json.loads(await ada.recv())["resume"]  # ada's welcome: the key is hers alone
    async with connect(f"{names_server.ws_url}/ws/ada") as mallory:  # no key
        print("mallory:", json.loads(await mallory.recv())["code"])
        await asyncio.sleep(0.2)  # let mallory's close go through before ada moves
    async with connect(f"{names_server.ws_url}/ws/ada?resume={key}") as ada_again:
        print("ada again:", json.loads(await ada_again.recv())["type"])
        try:
            while True:
                await ada.recv()
        except ConnectionClosed as closed:
            print("ada's old connection:", closed.rcvd.code, closed.rcvd.reason)
names_server.stop()

# %% [markdown]
# Where the key is kept decides who can use it: the kit's page keeps it in `sessionStorage` (this
# tab, not other tabs or sites), the Python clients in the memory of their process. The price of
# the rule: a student who lost the key (a new tab) waits until the server notices the old
# connection is gone (at most 40 s, the keepalive of section 10).
#
# **The broker is a way in, too.** Workers that share a room trust what comes over Redis, so
# whoever can write to Redis could speak for a server. The kit signs every event between servers
# with a secret they share, checks the signature with `hmac.compare_digest` before reading
# anything else, and refuses events under its own id that it never sent. A Redis password keeps
# strangers off the channel; the signature makes sure that even those who get on it cannot speak
# for a server.
#
# ## Clean up
#
# Stop the servers this notebook started and still runs.

# %% tags=["nbval-check-output"]
for running in (server, guarded_server, notes_server):
    running.stop()
    print(running)

# %% [markdown]
# ## Key points
#
# - `TestClient` tests an endpoint in-process, from one event loop when entered with `with`, and
#   surfaces its exceptions; but it has no uvicorn: no 403 for a refused handshake (it says 1008),
#   no size limit, no keepalive, no full buffers, and no deadline.
# - A test with several clients waits for sync points (each client's welcome) and for the
#   message it means, with a deadline on every wait. A test is worth keeping only if it fails
#   when the code is wrong.
# - A browser sends its cookies with the WebSocket handshake of any page of the same site (other
#   ports and subdomains included): check `Origin` against an allow list, before `accept()`.
# - A token in the URL or the subprotocol header is checked at the handshake but may land in
#   logs; a token in the first message needs a deadline. Compare with `secrets.compare_digest`.
# - Limits keep one client from hurting the others: size (1009), rate, outbox (4408), keepalive
#   (1011). A client stops after 1008 and 4409, and reconnects with backoff after the others.
# - Every cost one client can make grow needs a bound, and every wait on a client a deadline:
#   frames per second, unfinished handshakes, wrong tokens and joins per address.
# - A name someone holds moves to a new connection only with that connection's resume key, from
#   its welcome; anyone else gets `name_taken` and 1008.
#
# **Next:** [E7 · The fan-out lab](E7_fanout_lab.ipynb): measure what one client that never
# reads costs everyone else.
#
# The last cell sums up your exercises, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.hardening import EXERCISES
from wslab.checks.progress import show_progress

progress = await show_progress(EXERCISES, globals())
