# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Clients: a Python client that stays connected, and the browser page
#
# **Time:** 77 minutes (35 teaching, 42 exercises) · **Builds on:**
# [04 · The chat endpoint](04_chat_endpoint.ipynb): the server these clients talk to.
#
# Lesson 04 finished the server. A chat needs clients too, and a client has its own problems:
# it must listen and talk at the same time, it must come back by itself when the server
# restarts (without the whole class knocking on the door in the same millisecond), and, in a
# browser, it must never let one person's message turn into code in everyone else's page. This
# lesson builds a Python client that does the first two, then reads the lecture's browser page
# line by line, shows it inside this notebook, and breaks it with a single chat message.
#
# ## Learning objectives
#
# - Write a Python client with `websockets` that sends and receives at the same time, as two
#   asyncio tasks, and stops both cleanly when one ends.
# - Reconnect after the server restarts, with exponential backoff and jitter, and say which
#   close codes must *not* be retried.
# - Read the lecture's page: just enough HTML, CSS and JavaScript, and the four WebSocket events
#   `onopen`, `onmessage`, `onclose` and `onerror`.
# - Show the chat page inside a notebook, in the same room as a Python client, also where
#   JupyterLab runs far away (JupyterHub, Binder).
# - Explain how `innerHTML` with someone else's text runs their script in your page, and fix it
#   with `textContent` in JavaScript or `html.escape` in Python.

# %% [markdown]
# ## 1. A chat server for this lesson
#
# The kit's chat server from lesson 04, started in the background as before. Every client in
# this lesson talks to it.

# %% tags=["nbval-check-output"]
import asyncio
import json

import websockets

from wslab.chat import create_app
from wslab.runner import BackgroundServer

server = BackgroundServer(create_app(), name="lesson05-chat").start()
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
# hears from someone else, in capitals (lesson 02's shouting endpoint, as a person).

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
# - Python 3.11 added `asyncio.TaskGroup`, which cancels the other tasks when one **fails**.
#   When one simply returns, a `TaskGroup` still waits for all the others, like `gather`. And
#   the kit supports Python 3.10, which has no `TaskGroup`; `asyncio.wait` works on every
#   version.
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
# A program (a test, a bot, the widget of lesson 06) wants the chat lines themselves, not
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
# 00 explains why). The same goes for `checked_backoff` and `checked_message_line` below.
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
server = BackgroundServer(create_app(), port=port, name="lesson05-chat").start()
server

# %% [markdown]
# When a connection ends, the close code says whether coming back makes sense:
#
# | close code | means | a chat client should |
# |---|---|---|
# | 1012 service restart, 1001 going away | the server is restarting or shutting down | reconnect, after a delay |
# | 1006 (no close frame), 1011 internal error | the network dropped, or the server crashed | reconnect, after a delay |
# | 1000 normal closure, from the server or a proxy | closed on purpose, for instance an idle timeout | reconnect, after a delay |
# | 4408 too slow | this client stopped reading (lesson 03) | reconnect, after a delay |
# | 1008 policy violation | a wrong join token or a bad name | **stop**, and tell the person why |
# | 4409 replaced | the same name connected again elsewhere (another tab) | **stop**: reconnecting would push the other tab out, which pushes this one out, forever |
# | (you closed it yourself) | you left | stop |
#
# The kit's page and widget follow this table, and so does the client below.
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
#   504 answer. It waits between tries, at first a random 0 to 5 seconds, then 3.1 s, growing by
#   1.6 times up to 90 s (the `reconnect_delays` argument changes that). Any other failure, such
#   as HTTP 403 or 404, is raised: retrying would not help.
# - Once a connection is open, how it ends is **your** business: the body of the loop decides,
#   with `continue` (connect again at once) or `break`. And each successful connection resets
#   its delays to the start.
#
# So what happens with the loop above when the server accepts the handshake and then refuses
# you, with 1008 for a missing join token? A server with a join token, and one second:

# %%
from wslab.settings import ChatSettings

strict = BackgroundServer(create_app(ChatSettings(token="s3cret")), name="lesson05-strict").start()
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
# Hundreds of connections a second, each one accepted, refused with 1008, and immediately tried
# again, from a single client: every handshake succeeded, so the library never waited. One
# student with a typo in the token would keep the server busy all by themselves. The cure is
# to look at the close code before going round again:

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


await asyncio.wait_for(stay_connected(f"{strict.ws_url}/ws/py"), timeout=1)
strict.stop()

# %% [markdown]
# That still reconnects *at once* after a server restart, when the server is most likely not
# back yet, and the whole class arrives in the same instant. The kit's client, `ChatClient` in
# `wslab.client`, is a small loop of its own instead, with the same rules as the kit's page: a
# delay before **every** reconnect, growing while the server stays away; the table above for the
# close codes; and it starts the delays afresh only after a connection that lasted (10 s), so a
# server that accepts and closes again and again cannot make it spin. Here is its loop:

# %%
import inspect
import textwrap

from IPython.display import Code

from wslab.client import ChatClient

Code(textwrap.dedent(inspect.getsource(ChatClient._run)), language="python")

# %% [markdown]
# The delay comes from `self.backoff(attempt)`. That function is the next exercise.
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
# Write `backoff(attempt, first=0.5, cap=10.0)`, the delay in seconds before reconnect number
# `attempt` (0 for the first reconnect, 1 for the second, ...):
#
# - the **ceiling** starts at `first` and doubles with each attempt, but never exceeds `cap`:
#   `min(cap, first * 2 ** attempt)`, so 0.5, 1, 2, 4, 8, 10, 10, ...;
# - the **delay** is a random number between half the ceiling and the ceiling.
#
# This is the rule the kit's `/chat` page uses too. The check calls your function hundreds of
# times for each attempt and looks at where the delays fall, including for a client that has
# been retrying for hours.

# %%
import random


### BEGIN SOLUTION
### SOURCE wslab.client:backoff
### END SOLUTION
### BEGIN STUB
def backoff(attempt, first=0.5, cap=10.0):
    # TODO: the ceiling is first * 2 ** attempt, at most cap; return a random delay between
    # half the ceiling and the ceiling.
    # Hint: random.random() returns a random float between 0 and 1. A client may retry for
    # hours: keep 2 ** attempt from growing without end, or first * 2 ** attempt overflows a
    # float (OverflowError) once attempt passes about 1000 (2 ** min(attempt, 60) is plenty).
    raise NotImplementedError("exercise: backoff")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.clients import check_backoff

checked_backoff = check_backoff(backoff)

# %% [markdown]
# A few draws, one per attempt (run the cell again: they change every time):

# %%
print([round(checked_backoff(attempt), 2) for attempt in range(8)])

# %% [markdown]
# ## 8. Live: restart the server under a client
#
# `ChatClient(url, name, backoff=...)` connects at once and then runs in the background, on
# this kernel's event loop, so the next cells can go on. It never prints by itself: what a
# background task prints does not reliably land where you are looking (depending on the
# Jupyter version, under the cell that started it, long scrolled away, in whichever cell is
# running, or nowhere). Instead it keeps a log, and `await client.watch(...)` prints that log,
# as it grows, in the cell that waits for it. (Each line starts with the seconds since the
# client started.) It uses your `backoff`, once it passed its check:

# %%
py = ChatClient(server.ws_url, "py", backoff=checked_backoff)
await py.say("hello from py")
await py.watch(until=lambda client: ("py", "hello from py") in client.heard)

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
server = BackgroundServer(create_app(), port=port, name="lesson05-chat").start()
await py.watch(until=lambda client: client.connected, timeout=10)
await py.say("back again")
await py.watch(until=lambda client: ("py", "back again") in client.heard)

# %% tags=["nbval-check-output"]
print(f"py is {py.status}, after {py.connections} connections; its last line:", py.heard[-1])

# %% [markdown]
# Run the last three cells again, the stop, the restart and this one, and compare: the delays
# differ every time. That is the jitter.
#
# ## 9. Just enough HTML, CSS and JavaScript
#
# The lecture's chat page is a file of three languages: **HTML** says what is on the page,
# **CSS** says how it looks, and **JavaScript** makes it do things. Each example below is shown
# in a *frame*, a small page of its own inside the notebook. (Why a frame: CSS such as
# `body { background-color: lightblue; }` put straight into the notebook would restyle all of
# JupyterLab, and a script would run with JupyterLab's rights.) Change an example and run its
# cell again.
#
# ### HTML: elements inside elements
#
# A page is a tree of *elements*. An element is written as an opening tag, its content and a
# closing tag: `<li>Coffee</li>` is a list item. `<ul>` holds an unordered list, `<ol>` an
# ordered (numbered) one, each item an `<li>`, as in the lecture's example:

# %%
from wslab.display import html_frame

html_frame("""
<h2>An Unordered HTML List</h2>
<ul>
  <li>Coffee</li>
  <li>Tea</li>
  <li>Milk</li>
</ul>

<h2>An Ordered HTML List</h2>
<ol>
  <li>Coffee</li>
  <li>Tea</li>
  <li>Milk</li>
</ol>
""", height=330)

# %% [markdown]
# An opening tag can carry *attributes*, `name="value"` pairs. The chat page uses a few:
#
# | element | what it is | in the chat page |
# |---|---|---|
# | `<div>` | a block: a box on its own line, for grouping | the message list, each message |
# | `<span>` | a piece of text within a line | the timestamp |
# | `<input type="text">` | a one-line text box | where you type |
# | `<button>` | a button | Send |
# | `id="messages"` | an attribute: the element's unique name on the page | how the script finds an element |
# | `class="message user"` | an attribute: one or more style names, shared by many elements | how the CSS styles it |
#
# ### CSS: rules for how elements look
#
# A CSS rule is a *selector* and, in braces, `property: value;` pairs. `body` selects the page's
# body, `h1` every top-level heading, `p` every paragraph. The lecture's example:

# %%
html_frame("""
<style>
body {
  background-color: lightblue;
}

h1 {
  color: white;
  text-align: center;
}

p {
  font-family: verdana;
  font-size: 20px;
}
</style>
<h1>My First CSS Example</h1>
<p>This is a paragraph.</p>
""", height=170)

# %% [markdown]
# Selectors that the chat page uses: `#messages` selects the element with `id="messages"`;
# `.message` every element with the class `message`; `.message.user` the elements that have
# both classes. The lecture's rule for the message list gives it a fixed height and a scroll
# bar (`overflow-y: scroll`), so old messages scroll away instead of growing the page.
#
# ### JavaScript: variables, and finding an element
#
# The lecture's two examples: a script that computes `z` and writes it into the paragraph with
# `id="demo"`, and a button whose `onclick` writes the date into another one. Click the button:

# %%
html_frame("""
<p id="demo"></p>
<button type="button" onclick="document.getElementById('clock').innerHTML = Date()">
  Click me to display Date and Time.</button>
<p id="clock"></p>

<script>
x = 5;
y = 6;
z = x + y;
document.getElementById("demo").innerHTML = "The value of z is: " + z;
</script>
""", height=150)

# %% [markdown]
# `document.getElementById("demo")` finds the element whose `id` is `demo`; setting its
# `innerHTML` replaces what is inside it. Remember that word: section 12 is about it.
#
# The lecture's `x = 5` works without declaring `x`, but it quietly creates a *global*
# variable, and a typo in a name creates a new one instead of failing. Pages write
# `'use strict';` at the top of the script (the kit's page does) to make that an error, and
# declare every variable. For a Python programmer:
#
# | JavaScript | Python | note |
# |---|---|---|
# | `const n = 5;` | `n = 5` | `const`: the name cannot be assigned again |
# | `let count = 0;` `count += 1;` | `count = 0` `count += 1` | `let`: a variable that changes |
# | `` `Client ${id}: ${text}` `` | `f"Client {id}: {text}"` | a *template literal*, in backquotes |
# | `a === b`, `a !== b` | `a == b`, `a != b` | `===` compares without converting types |
# | `function send(text) { ... }` | `def send(text): ...` | |
# | `(event) => { ... }` | `lambda event: ...` | an *arrow function*, any number of lines |
# | `JSON.parse(text)`, `JSON.stringify(obj)` | `json.loads(text)`, `json.dumps(obj)` | |
# | `try { ... } catch (e) { ... }` | `try: ... except Exception as e: ...` | |
# | `document.getElementById('messages')` | | the element with that `id` |
# | `element.textContent = text` | | put **text** into an element |
# | `element.innerHTML = html` | | put **HTML** into an element: it is parsed, tags and all |
#
# ## 10. The lecture's chat page, and its four events
#
# Here is the lecture's page, as `wslab.display.LECTURE_PAGE` keeps it. Its HTML is the part the
# slides show: a status line, the message list, and a text box with a Send button.

# %%
from wslab.display import LECTURE_PAGE, excerpt

Code(LECTURE_PAGE[LECTURE_PAGE.index("<body>"):LECTURE_PAGE.index("<script>")], language="html")

# %% [markdown]
# Its script opens the WebSocket and then does nothing but wait for *events*: a WebSocket in a
# browser calls a function of yours when something happens. The page sets four of them, each a
# property of the socket, `ws.onopen = function() { ... }`:

# %%
excerpt(LECTURE_PAGE, "const params", "'Error occurred'", after=2)

# %% [markdown]
# (Two lines differ from the slides: the socket's address is worked out from the page's own
# address, where the slides have `ws://localhost:8000`, so the page works on any port and
# behind a proxy; and `?name=` in the address picks the client id.)
#
# | event | the browser calls it when | `event` carries | the lecture's page |
# |---|---|---|---|
# | `onopen` | the handshake succeeded: the connection is open | | shows "Connected" |
# | `onmessage` | a message arrived | `event.data`, the text | parses the JSON, adds a line |
# | `onerror` | something failed: no server there, or the connection broke | nothing useful: browsers hide the details on purpose | shows "Error occurred" |
# | `onclose` | the connection ended (after `onerror` too) | `event.code`, `event.reason`, `event.wasClean` | shows "Disconnected" |
#
# A failed connection fires `onerror` and then `onclose` with code 1006. The lecture's page
# never reconnects: after a server restart, every student presses reload. The kit's page, served
# at `/chat`, handles the same four events, and in `onclose` it schedules a reconnect with the
# same backoff as your exercise (or stops, after 1008 and 4409):

# %%
from importlib import resources

CHAT_PAGE = resources.files("wslab").joinpath("static", "chat.html").read_text(encoding="utf-8")
excerpt(CHAT_PAGE, "    socket.onopen = ", "connectionLost(event.code, event.reason);", after=1)

# %% [markdown]
# ## 11. The chat page inside the notebook
#
# `chat_frame(server, name=...)` shows a server's `/chat` page in a frame. It is a real browser
# page, in the same room as `py`: type a line into it and press Enter.

# %%
from wslab.display import chat_frame

chat_frame(server, name="you")

# %% [markdown]
# Where does the frame point? The page is loaded by your **browser**, and the browser is not
# always on the computer that runs this kernel:
#
# - JupyterLab on your own computer: the frame loads `http://127.0.0.1:<port>/chat` directly.
# - JupyterHub or Binder: the kernel runs on a server far away, and `127.0.0.1` in your browser
#   is your own laptop, where no chat server runs. There JupyterLab's own server can pass the
#   page on, with **jupyter-server-proxy** (the kit installs it): the frame loads
#   `/user/<you>/proxy/<port>/chat`, and the proxy forwards HTTP and WebSocket traffic to that
#   port on the server, for your logged-in browser only. `chat_frame` picks the proxy when the
#   `JUPYTERHUB_SERVICE_PREFIX` variable (set by JupyterHub) is there and the proxy is
#   installed; `chat_frame(server, proxy=True)` forces it.
#
# Either way the page finds its socket *relative to its own address* (`/proxy/<port>/chat`
# talks to `/proxy/<port>/ws/you`), which is why the kit's page never writes `localhost` into
# its code. The link under the frame opens the same page in a tab of its own.
#
# One limit of the proxy (jupyter-server-proxy 4.6): when the chat server closes a socket, the
# proxy closes the browser's side *without* passing the close code on, so the page sees 1005,
# "no status", where the server sent 1012 or 1008. After a restart the page still reconnects,
# as it should. After a refusal it tries again too, since it cannot know; but the server's
# error message, sent just before the close, does get through, and the page shows it. (And
# the proxy needs no JupyterLab token in the page's address: your browser is logged in
# already. The chat page would take a `?token=` for the chat's own join token.)
#
# `py` greets the page:

# %%
await py.say("Hello, page! Type something back.")

# %% [markdown]
# After you have typed a line into the page, run this cell to see what `py` heard from it:

# %%
from_others = [line for line in py.heard if line[0] != "py"]
print(from_others or "nothing from the page yet: type a line into it, press Enter, run this again")

# %% [markdown]
# ## 12. `innerHTML`: one message, and it runs in everyone's browser
#
# Look again at the lecture's `onmessage`: it builds each line with
# `messageDiv.innerHTML = ... ${data.message} ...`. `innerHTML` does not insert *text*: it hands
# the string to the browser's HTML parser, which builds elements from any tags in it. The
# message is whatever another student typed. So another student can write HTML into your page,
# and HTML can carry script.
#
# To see it safely, serve the lecture's page from our own server, at `/lecture`, next to the
# kit's page. (A route added to a running app works at once, as in lesson 02.) Only this
# notebook's clients are in the room, and the script we will send is harmless:

# %%
from fastapi.responses import HTMLResponse

from wslab.display import side_by_side


@server.app.get("/lecture", response_class=HTMLResponse)
async def lecture_page():
    return LECTURE_PAGE


side_by_side(chat_frame(server, path="/lecture", name="victim", height=480),
             chat_frame(server, name="bystander", height=480))

# %% [markdown]
# On the left the lecture's page, as victim; on the right the kit's page. Now mallory, a Python
# client, sends one chat line with an image in it. The image's address, `x`, does not exist, so
# the browser fails to load it and runs its `onerror` attribute, which is JavaScript:

# %%
PINK = "<img src=x onerror=\"document.body.style.background='pink'\">"

async with websockets.connect(f"{server.ws_url}/ws/mallory") as mallory:
    await mallory.send(json.dumps({"message": f"Look at this picture: {PINK}"}))
    await asyncio.sleep(0.3)

print("victim's page connected:", "victim" in server.app.state.room.online)

# %% [markdown]
# The lecture's page turned pink: mallory's code ran in the victim's page. (A `<script>` element
# inserted with `innerHTML` does not run; an `onerror` attribute does, which is why attacks use
# it.) The kit's page shows mallory's line as plain text.
#
# Pink is harmless. The same attribute can hold any script, and it runs *as the victim*, inside
# the victim's page, with everything that page can do:
#
# - read the page's address, with its `?token=` join token, and send it anywhere;
# - send chat messages in the victim's name, over the victim's own connection;
# - rewrite the page: a fake "session expired, enter your password" form;
# - send itself on as a chat message, so that every page that shows it sends it again: a
#   *worm* that reaches the whole class in seconds.
#
# The second one, harmlessly: the page's socket is the global variable `ws`, so mallory's
# script can use it.

# %%
PUPPET = "<img src=x onerror=\"ws.send(JSON.stringify({message: 'I did not write this'}))\">"

if "victim" in server.app.state.room.online:
    async with websockets.connect(f"{server.ws_url}/ws/mallory") as mallory:
        await mallory.send(json.dumps({"message": f"Nice page! {PUPPET}"}))
        await py.wait_until(lambda client: ("victim", "I did not write this") in client.heard, 3)
    print("py heard from the victim:", [text for who, text in py.heard if who == "victim"])
else:
    print("The lecture's page above is not connected (is the frame showing?): nothing to see.")

# %% [markdown]
# The fix is one word. `textContent` puts a string into an element as **text**, whatever
# characters it contains, and the browser never parses it. The kit's page builds every line
# from elements and text nodes, and never assigns `innerHTML` at all:

# %%
excerpt(CHAT_PAGE, "function span(", "addLine(messageDiv, mine);", after=1)

# %% [markdown]
# The same holds in Python. A notebook that shows chat lines with `IPython.display.HTML(...)` is
# a page too, and in JupyterLab an output you have just produced is trusted: an `onerror` in it
# runs with your JupyterLab's rights, which include running code in your kernel. Whatever came
# over the network goes through `html.escape()` before it goes into HTML. `html.escape` turns
# `&` into `&amp;`, `<` into `&lt;`, `>` into `&gt;`, and quotes into `&quot;` and `&#x27;`, so
# the browser shows those characters instead of reading them as markup.
#
# ## 13. Exercise: a chat line as safe HTML
#
# Write `message_line(data, me)`: it gets one message from the server as a dict, and your own
# client id `me`, and returns the HTML for one line, in the layout of the lecture's page:
#
# | the message | the line |
# |---|---|
# | from someone else: `{"message": "hi", "client_id": "bob", "timestamp": "12:00:00"}` | `<div class="message other">Client bob: hi <span class="timestamp">12:00:00</span></div>` |
# | your own (`client_id` is `me`) | `<div class="message user">You: hi <span class="timestamp">12:00:00</span></div>` |
# | the server's own (it has a `"type"`) | `<div class="message system">` + the message + `</div>` |
#
# Every value that came in the message goes through `html.escape()`. The check compares what a
# browser would build from your line with what it builds from the safe one, for ordinary lines,
# for mallory's payloads, and for a message whose author typed `&amp;` themselves.

# %%
import html


### BEGIN SOLUTION
### SOURCE wslab.answers.clients:message_line
### END SOLUTION
### BEGIN STUB
def message_line(data, me):
    # TODO: return the line of HTML for the message `data`, as in the table above, with
    # html.escape() around every value taken from `data` (the message, the sender, the time).
    # Hint: start with `if "type" in data:` for the server's own messages.
    raise NotImplementedError("exercise: message_line")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.clients import check_message_line

checked_message_line = check_message_line(message_line)

# %% [markdown]
# Here is what `py` heard in this lesson, drawn with `checked_message_line` (yours, once it
# passed) and the lecture's CSS, in a frame (scroll up for the start). mallory's lines are at the
# end, shown as the text they are. The only script in that frame is the one line that scrolls it
# down, and it is ours:

# %%
style = LECTURE_PAGE[LECTURE_PAGE.index("<style>"):LECTURE_PAGE.index("</style>") + len("</style>")]
lines = [checked_message_line(json.loads(raw), me="py")
         for raw in py.messages if raw.startswith("{")]  # plain-text relays are not dicts
scroll_down = ("<script>const m = document.getElementById('messages');"
               " m.scrollTop = m.scrollHeight;</script>")
html_frame(style + '<div id="messages">' + "\n".join(lines) + "</div>" + scroll_down,
           height=330, title="what py heard")

# %% [markdown]
# ## Clean up
#
# Close the client and stop the server. (The frames above then say "Disconnected", and the kit's
# page keeps trying to reconnect until you close the notebook.)

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
#   `gather` waits for all of them, and a `TaskGroup` (3.11+) cancels the rest only on an error.
# - When the server goes away, uvicorn closes with 1012; reconnect after a delay that doubles up
#   to a cap, with random jitter, so that a class does not come back in one burst.
# - `async for ws in websockets.connect(url)` retries failed *connections* only; after a close,
#   your code decides. Never retry 1008 (refused) or 4409 (replaced) by yourself.
# - A browser page is HTML (what is there), CSS (how it looks) and JavaScript (what it does); a
#   WebSocket page lives on four events: `onopen`, `onmessage`, `onerror`, `onclose`.
# - A page inside a notebook must load from where the *browser* is: `127.0.0.1` on your own
#   computer, jupyter-server-proxy's `/proxy/<port>/` on JupyterHub or Binder.
# - Text from the network is never HTML: `textContent` in JavaScript, `html.escape` in Python.
#   `innerHTML` with someone else's text runs their script in your page.
#
# **Next:** [06 · Chatting through widgets](06_widget_chat.ipynb): a chat window made of Jupyter
# widgets, driven from Python.
#
# The last cell sums up your exercises and your prediction, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.clients import EXERCISES
from wslab.checks.progress import show_progress

progress = await show_progress(EXERCISES, globals())
