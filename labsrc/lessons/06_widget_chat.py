# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Chatting through widgets
#
# **Time:** 55 minutes (25 teaching, 30 exercises) · **Builds on:**
# [05 · Clients](05_clients.ipynb): Python clients and the browser page.
#
# Lesson 05 joined the chat from Python code and from the browser page. This lesson adds a
# third kind of client: a chat window built from Jupyter widgets, living right in the notebook.
# Alice and Bob each get one, side by side, and the browser page joins the same room. To build
# such a window you need to know one thing about the Jupyter kernel above all: it runs your
# cells, the widgets' buttons and the network on **one** event loop, which they take turns on.
# Get that right and the window stays responsive while you go on working; get it wrong and a
# cell hangs, or a click does nothing.
#
# ## Learning objectives
#
# - Explain what a widget is: a Python object in the kernel and a view in the browser, kept in
#   step by messages.
# - Say how cells, widget callbacks and asyncio tasks share the kernel's event loop, and why a
#   cell must never block waiting for a click.
# - Update a widget from a background task by assigning its values, and say why printing (or
#   `with output:`) is the wrong tool there.
# - Chat between two `ChatWidget`s and the browser page in one room, and drive the widgets from
#   code along the same path as the buttons.
# - Extend `ChatWidget` through its hooks: `handle()` to show who is online, `render_entry()`
#   to highlight mentions.

# %% [markdown]
# ## 1. A widget is two objects
#
# Run the cell, then type into the box: the line under it follows every keystroke.

# %%
import html

import ipywidgets as widgets

box = widgets.Text(placeholder="Type here")
echo = widgets.HTML("<i>nothing typed yet</i>")


def repeat(change):
    text = change["new"]
    echo.value = f"You typed <b>{html.escape(text)}</b> ({len(text)} characters)"


box.observe(repeat, names="value")
widgets.VBox([box, echo])

# %% [markdown]
# `box` is a Python object in the kernel. What you see is its **view**, drawn by JupyterLab in
# your browser. The two are kept in step through the widget's *traits*, its named values such
# as `value`, `placeholder` or `disabled`: when a trait changes on one side, a message carries
# the new value to the other side. You type, the browser sends `{"value": "..."}` to the
# kernel, the kernel sets `box.value`, traitlets calls `repeat`, `repeat` assigns
# `echo.value`, and that assignment travels back to the browser, which redraws the line.
#
# It works the other way round as well. Set a trait in Python, and the view follows (look at
# the box above), and so does the observer:

# %% tags=["nbval-check-output"]
box.value = "set from Python"
print(echo.value)

# %% [markdown]
# These messages are *comm messages*, and they travel over a WebSocket: JupyterLab's page
# talks to JupyterLab's server through one at `/api/kernels/<id>/channels`, and the server
# passes them on to the kernel. You have been using a WebSocket since lesson 00 without
# noticing.

# %%
# %matplotlib inline
from wslab.figures.widgets import widget_sync

widget_sync()

# %% [markdown]
# Without a browser, as in the kit's tests, there is no view, but the Python side works just
# the same: set `value`, call `click()`, read `value` back. That is what makes widget code
# testable, and this lesson relies on it.
#
# ## 2. One loop, taking turns
#
# Lesson 02 found that the kernel's main thread already runs an event loop (which is why
# `uvicorn.run()` fails in a cell), and lesson 05 ran its client as tasks on it. With widgets,
# the same loop carries the clicks too. Everything in this lesson runs on that one loop:
#
# - **your cells**;
# - **widget callbacks** such as `on_click` and `observe`, run when a message from the browser
#   (a click, a keystroke, Enter) is handled;
# - **asyncio tasks**, such as the receive loops of the chat widgets you will meet in step 4.
#
# One loop does one thing at a time. Each piece runs until it returns or reaches an `await`;
# then the loop picks the next piece that is ready. A cell at an `await` therefore lets
# everything else take its turn. A cell that *blocks*, with `time.sleep()` or a loop that never
# awaits, keeps the loop to itself: no click, no network message, nothing, until it ends.

# %%
from wslab.figures.widgets import one_loop

one_loop()

# %% [markdown]
# See it for yourself with a button that counts its clicks:

# %%
import asyncio
import time

clicks = 0
button = widgets.Button(description="Click me", button_style="info")
counter = widgets.HTML("0 clicks")


def count(_button):
    global clicks
    clicks += 1
    counter.value = f"{clicks} clicks"


button.on_click(count)
widgets.HBox([button, counter])

# %% [markdown]
# Run the next cell and, while it runs, click the button a few times. It waits the wrong way,
# by blocking: `time.sleep()` holds the thread, so the loop cannot handle your clicks.

# %% tags=["nbval-check-output"]
before = clicks
deadline = time.monotonic() + 3
while time.monotonic() < deadline:  # "wait for a click", the wrong way
    time.sleep(0.1)
print("clicks handled while the cell blocked:", clicks - before)

# %% [markdown]
# Your clicks were not lost: the browser sent them, and they waited in line. They were handled
# the moment the cell ended, as the count shows:

# %%
print("clicks so far:", clicks)

# %% [markdown]
# Now the same wait with `await`. Click again while it runs:

# %% tags=["nbval-check-output"]
before = clicks
await asyncio.sleep(3)
print("clicks handled while the cell awaited:", clicks - before)

# %% [markdown]
# This time each click was handled at once (the count says how many, if you clicked): while
# the cell sleeps, the loop is free. One caution: the kit's kernel (ipykernel 7.4, on Python
# 3.11 and later) handles widget messages while a cell awaits, but older kernels, such as 7.3 on
# Python 3.10, keep every message from the browser waiting until the running cell has ended,
# `await` or not (ipykernel issue #646). A cell that awaits a click hangs forever there, and
# under *Run All*, or in a test, nobody clicks anyway.
# So, with any kernel:
#
# - **Never let a cell wait for a person.** Put the reaction to a click into the callback,
#   and let the cell end.
# - **Callbacks and tasks must be quick and must never block.** They run on the same loop as
#   everything else: a slow one freezes every widget and every receive loop.
# - **Background work is a task.** `asyncio.create_task(coroutine)` starts it; the cell ends,
#   and the task runs on, between cells and while cells await.
#
# ### A task that updates a widget
#
# The cell below starts a task and ends at once; the bar fills while you read on:

# %%
progress = widgets.IntProgress(min=0, max=10, description="a task:")


async def fill():
    for step in range(1, 11):
        await asyncio.sleep(0.1)
        progress.value = step  # a trait assignment: the view follows at once


task = asyncio.create_task(fill())
progress

# %% tags=["nbval-check-output"]
await task
print("the task is done; progress.value =", progress.value)

# %% [markdown]
# The task never prints, and for a reason (lesson 05's `ChatClient` did not print either).
# Where printed text appears is decided by the browser, by the request the printing code
# answers: a cell's output goes under that cell, and `with out:` (an `Output` widget) asks the
# browser to draw one request's output inside the widget instead. Code started by a click
# answers the click, not any cell, and a task answers whatever started it. We tried it in the
# kit's JupyterLab, with ipykernel 7.4: a task started by a cell prints under that cell (even
# after the cell has ended), and `with out:` works in it; but a task started by a *click*,
# which is how a Send button sends, shows neither its prints nor its `with out:` lines
# anywhere in the notebook. Older kernels lost the output of tasks in more cases (ipywidgets
# issues #2567 and #3993).
#
# A trait assignment has none of these problems: `progress.value = step` reaches the browser
# from wherever it runs, and a test without a browser can read it back. So a widget that works
# in the background shows everything through its traits.
#
# ## 3. A chat server for this lesson
#
# The kit's chat server from lesson 04, in the background as usual:

# %% tags=["nbval-check-output"]
from wslab.chat import create_app
from wslab.runner import BackgroundServer
from wslab.widgets import ChatWidget

server = BackgroundServer(create_app(), name="lesson06").start()
server

# %% [markdown]
# ## 4. Alice and Bob, side by side
#
# `wslab.widgets.ChatWidget(url, name)` is a chat window made of widgets: a header (the name, a
# connection status and how many are online), the message log, a text box where Enter sends,
# and a Send button. `widgets.HBox` puts two of them in a row:

# %%
alice = ChatWidget(server.ws_url, "alice")
bob = ChatWidget(server.ws_url, "bob")
widgets.HBox([alice, bob])

# %% [markdown]
# Try it: type a line into Alice's box and press Enter, then answer from Bob's with the Send
# button. Your own lines are on the right, as "You"; everyone else's on the left, under their
# name; the server's messages (welcome, joins, leaves) in grey in the middle; errors in red.
# Each line has the server's timestamp.
#
# What happens when you press Enter in Alice's box:
#
# 1. the browser sends the kernel a message, `{"event": "submit"}`;
# 2. when the loop gets to it, the widget's handler starts a small task, which waits a moment
#    for your last keystrokes to arrive, takes the text, clears the box, and sends
#    `{"message": "..."}` over Alice's WebSocket;
# 3. the server relays the line to everyone (lesson 04);
# 4. each widget's **receive loop**, an asyncio task started when the widget was made, gets the
#    frame, calls `handle(message)`, and assigns the log's new HTML to `log_html.value`.
#
# No cell runs during any of it: it all happens between cells, or while a cell awaits.
#
# ## 5. The browser page joins the room
#
# Lesson 05's page, in a frame, as carol:

# %%
from wslab.display import chat_frame

chat_frame(server, name="carol")

# %% [markdown]
# Three clients in one room: two widgets, whose code runs in this kernel, and a page, whose
# code runs in your browser. All three speak the same wire protocol to the same server, so
# each sees the others' lines. Write something as carol and watch it arrive in Alice's and
# Bob's logs.
#
# The page exists only while a browser shows it. When this notebook runs without one (the kit
# runs its notebooks in tests that way), carol never connects and the room has two people;
# here, with the page on your screen, the headers say 3 online.
#
# ## 6. Drive the widgets from code, like the buttons do
#
# In a test nobody types or clicks. The widgets let code take the same path as a person:
# set the box's text, then `submit()` (what Enter does) or `send_button.click()` (what a click
# does). `wait_for(condition)` and `wait_for_text(text)` wait until the widget shows something,
# with a time limit, instead of sleeping for a fixed time that is either too short or too long.

# %% tags=["nbval-check-output"]
# Both in the room? Each widget's count is set by the server's welcome.
await alice.wait_for(lambda chat: chat.participants is not None)
await bob.wait_for(lambda chat: chat.participants is not None)

alice.text_box.value = "Hi Bob! Alice here, typing from code."
await alice.submit()                                  # what Enter does
for chat in (alice, bob):
    await chat.wait_for_text("typing from code", sender="alice")

bob.text_box.value = "Hi Alice! Bob here, clicking Send from code."
bob.send_button.click()                               # what a click on Send does
for chat in (alice, bob):
    await chat.wait_for_text("clicking Send", sender="bob")

for chat in (alice, bob):
    print(f"{chat.name}'s log:")
    for sender, text in chat.chat_lines:
        print(f"    {sender}: {text}")

# %% [markdown]
# `chat.chat_lines` lists the chat lines of the log as `(sender, text)` pairs;
# `chat.entries` has every entry, as the dicts the server sent. Scroll up: the lines are in
# both windows.
#
# `send(text)` sends without the text box: it is what the box's handler calls. (It replaces
# ipywidgets' own `Widget.send`, which sends a message to the browser; a chat widget's `send`
# sends a chat line.) A line over the server's limit of 4096 bytes gets an error back, to the
# sender only:

# %% tags=["nbval-check-output"]
await alice.send("x" * 5000)
error = await alice.wait_for_text("the limit is")
print(f"alice's log: {error['type']} {error['code']!r}: {error['message']}")
print("errors in bob's log:", sum(entry.get("type") == "error" for entry in bob.entries))

# %% [markdown]
# ## 7. Inside `ChatWidget`
#
# The receive loops are asyncio tasks on this kernel's loop, as asyncio itself can tell you:

# %% tags=["nbval-check-output"]
sorted(task.get_name() for task in asyncio.all_tasks() if task.get_name().startswith("ChatWidget"))

# %% [markdown]
# Each loop connects, then waits for frames with `async for frame in socket`, and reconnects
# by itself (with the growing, jittered delays of lesson 05) if the server goes away. For
# every frame it calls one method, `handle(message)`, with the frame decoded from JSON. Here
# it is:

# %%
import inspect
import textwrap

print(textwrap.dedent(inspect.getsource(ChatWidget.handle)))

# %% [markdown]
# `add_entry` appends to `self.entries` and asks for a redraw. The redraw, `render()`, builds
# the log's HTML from all entries, one `render_entry(entry)` per entry, and assigns it to
# `log_html.value` (at most 20 times a second, so that a burst of messages costs one redraw).
# Everything is a trait assignment; nothing prints.
#
# These are the hooks for your own features:
#
# | hook | what it is for |
# |---|---|
# | `handle(self, message)` | called with every message from the server; override it, and call `super().handle(message)` to keep the log and the count |
# | `render_entry(self, entry)` | the HTML of one entry of the log; override it to change how lines look (text from the network is escaped here) |
# | `note(text, error=False)` | write a line of the widget's own into the log |
# | `self.children` | the widget's parts: `(header_html, log_html, the row with text_box and send_button)`; assign a new tuple to add your own |
# | `entries`, `chat_lines`, `participants`, `status` | what the widget shows, for code and tests |
# | `wait_for(condition)`, `wait_for_text(text)` | wait until the widget shows something, with a time limit |
#
# An exception in your `handle` does not end the receive loop: the widget catches it and
# writes it into the log, in red, and the chat goes on.
#
# ## 8. Exercise: who is online
#
# The header says how many are online, not who. The server tells each client enough to know:
#
# | message (`"type"`) | who gets it, and when | where the names are |
# |---|---|---|
# | `welcome` | you, when you connect, and again after every reconnect | `"online"`: everyone connected now, you included |
# | `join` | everyone else, when someone connects | `"user"` |
# | `disconnect` | everyone else, when someone leaves | `"user"` |
#
# Complete `OnlineChat`, a `ChatWidget` that keeps the names in a set, `self.online`, and shows
# them in a line under its header: `Online: alice, bob, carol`, sorted, separated by `, `. The
# `__init__` is written for you: it makes the set and the line, and puts the line under the
# header. You write `handle` and `show_online`.
#
# Three things to get right, which the check tries:
#
# - A `welcome` **replaces** what you knew: after a reconnect, whoever left in the meantime is
#   no longer in its list.
# - A `disconnect` for a name you do not have must not raise (`set.remove` does, `set.discard`
#   does not).
# - When someone connects a second time with the same name (a second browser tab), the server
#   closes the older connection (code 4409) and announces nothing, since the person never
#   left. The name stays online.
#
# The check runs your class against a server of its own: bob is online when your widget,
# alice, connects; carol joins; bob leaves; carol connects a second time. Then it hands your
# `handle` a welcome as after a reconnect, and the leave of a stranger.

# %%
import html

import ipywidgets as widgets

from wslab.widgets import ChatWidget


### BEGIN SOLUTION
### SOURCE wslab.answers.widgets:OnlineChat
### END SOLUTION
### BEGIN STUB
class OnlineChat(ChatWidget):
    """A ChatWidget with one more line, under its header: who is online."""

    def __init__(self, url, name, **kwargs):
        super().__init__(url, name, **kwargs)
        self.online = set()                  # the names online, as the server has told us
        self.online_html = widgets.HTML()
        # The chat's parts are (header, log, input row): the new line goes under the header.
        self.children = (self.header_html, self.online_html, *self.children[1:])
        self.show_online()

    def handle(self, message):
        super().handle(message)              # keep the log and the count working
        # TODO: on a "welcome", "join" or "disconnect" message, change self.online (see the
        # table above), then call self.show_online().
        # Hint: message.get("type") says which kind it is; message["online"] is a list of
        # names, message["user"] one name.
        raise NotImplementedError("exercise: who is online")

    def show_online(self):
        # TODO: set self.online_html.value to "Online: " and the names, sorted, joined by ", ".
        # Hint: sorted(self.online); put each name through html.escape() before it goes into
        # HTML.
        raise NotImplementedError("exercise: who is online")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.widgets import check_online_chat

checked_OnlineChat = await check_online_chat(OnlineChat)

# %% [markdown]
# The check gives back the class the notebook carries on with, under a name of its own,
# `checked_OnlineChat`: your class once it passes, the kit's until then. Your `OnlineChat`
# stays yours. Dave joins with it:

# %%
dave = checked_OnlineChat(server.ws_url, "dave")
dave

# %% [markdown]
# A visitor, frank, comes and goes, with a plain `websockets` client as in lesson 05. Watch
# dave's line while the cell runs:

# %% tags=["nbval-check-output"]
import websockets

await dave.wait_for(lambda chat: "dave" in chat.online)
async with websockets.connect(server.ws_url + "/ws/frank"):
    await dave.wait_for(lambda chat: "frank" in chat.online)
    print("while frank is here:", sorted(dave.online))
    await asyncio.sleep(1)  # time to look
await dave.wait_for(lambda chat: "frank" not in chat.online)
print("after frank left:   ", sorted(dave.online))

# %% [markdown]
# (With the browser page on your screen, carol is in both lists too.)
#
# The browser page keeps the same set, in JavaScript. Hover over its "online" count to see
# the names. Here is its code:

# %%
from importlib import resources

from wslab.display import excerpt

page = resources.files("wslab").joinpath("static", "chat.html").read_text(encoding="utf-8")
excerpt(page, "const online = new Set()", "participants.title")

# %% [markdown]
# ## 9. Exercise: mentions
#
# In a busy room you want to notice the lines written to you. Complete `MentionChat`, a
# `ChatWidget` that marks every `@` + its own name in the log: in kim's widget, each `@kim`
# becomes `<mark>@kim</mark>`, which browsers draw with a yellow background.
#
# Override `render_entry(entry)`, which returns the HTML of one entry of the log:
#
# - **Start from `super().render_entry(entry)`**, which draws the line and escapes its text,
#   and add the marks to the HTML it returns. Lesson 05's rule: text from the network goes
#   through `html.escape` once, right where it enters HTML. Mark the text *before* that, and
#   your `<mark>` is escaped too and shows as text; build the line yourself without escaping,
#   and anyone can send markup into your log.
# - `@kimberly` and `@kim_2` are other people: a name is letters, digits, `_` and `-`, so a
#   mention must not be followed by one of those.
# - Leave `entry` unchanged: it stays in `self.entries`, and is drawn again at every redraw.
#
# The check draws lines with your method, for a widget named kim, and then has someone
# mention kim through a real server.

# %%
import re


### BEGIN SOLUTION
### SOURCE wslab.answers.widgets:MentionChat
### END SOLUTION
### BEGIN STUB
class MentionChat(ChatWidget):
    """A ChatWidget that marks every ``@name`` of its own participant in the log."""

    def render_entry(self, entry):
        # TODO: take the line super().render_entry(entry) returns, and wrap every "@" + self.name
        # in it in <mark>...</mark>; return the result.
        # Hint: re.sub(pattern, replacement, line) replaces every match. The pattern
        # "@" + re.escape(self.name) + r"(?![\w-])" finds a mention: (?!...) means "not
        # followed by". The replacement r"<mark>\g<0></mark>" puts the match itself inside.
        raise NotImplementedError("exercise: mentions")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.widgets import check_mentions

checked_MentionChat = await check_mentions(MentionChat)

# %% [markdown]
# Erin joins with `checked_MentionChat` (yours once it passes), and Alice greets her:

# %%
erin = checked_MentionChat(server.ws_url, "erin")
erin

# %% tags=["nbval-check-output"]
await erin.wait_for(lambda chat: chat.participants is not None)
await alice.send("Welcome, @erin! (@erinyes is someone else.)")
await erin.wait_for_text("Welcome, @erin", sender="alice")
print("marked in erin's log:  ", "<mark>@erin</mark>!" in erin.log_html.value)
print("@erinyes left alone:   ", "@erinyes" in erin.log_html.value)
print("marked in alice's log: ", "<mark>" in alice.log_html.value)

# %% [markdown]
# Try it: a widget with both features is one line, `class ClassChat(MentionChat, OnlineChat):
# pass`. Each class overrides a different hook and calls `super()`, so both run.
#
# Try it too: stop the server and start it again on the same port, and watch every window
# reconnect by itself (the widgets and the page alike):
#
# ```python
# port = server.port
# server.stop()              # every header: "reconnecting in 1 s", and so on
# server = BackgroundServer(create_app(), port=port, name="lesson06").start()
# ```
#
# ## Clean up
#
# Close the widgets' connections (the windows stay on the page, showing "closed"), then stop
# the server. The browser page notices and tries to reconnect, in vain.

# %%
for chat in (alice, bob, dave, erin):
    await chat.close()
server.stop()
print(alice.status, bob.status, dave.status, erin.status)

# %% [markdown]
# ## Key points
#
# - A widget is a Python object in the kernel plus a view in the browser; their traits are
#   kept in step by comm messages, which travel over JupyterLab's own WebSocket.
# - The kernel runs cells, widget callbacks and asyncio tasks on one event loop, in turns. A
#   cell that awaits lets the others run; a cell that blocks stops them all.
# - Never make a cell wait for a click: react in the callback. Keep callbacks and tasks quick.
# - Long-running work, such as a receive loop, is an asyncio task; it updates widgets by
#   assigning traits (`log_html.value = ...`), never by printing or `with output:`.
# - Code can drive a widget along the buttons' path (`text_box.value`, `submit()`,
#   `send_button.click()`) and wait for what it shows with `wait_for`: that is how widgets are
#   tested without a browser.
# - `ChatWidget` is extended through hooks: `handle()` sees every message, `render_entry()`
#   draws every line. Text from the network is escaped once, where it enters HTML.
#
# **Next:** [07 · Scaling out](07_scaling_out.ipynb): several server processes, one room.
#
# The last cell sums up your exercises, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.progress import show_progress
from wslab.checks.widgets import EXERCISES

progress = await show_progress(EXERCISES, globals())
