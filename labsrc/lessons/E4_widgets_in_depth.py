# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # E4 · Widgets in depth
#
# **Time:** 55 minutes (33 teaching, 22 exercises) · **Builds on:**
# [04 · Chat through widgets](04_widget_chat.ipynb): `ChatWidget`, and its `handle()` method;
# [03 · The browser page](03_browser_page.ipynb): `innerHTML` and mallory's chat line.
# An elective: take it any time after the core track.
#
# Core lesson 04 used chat windows made of widgets. This lesson opens them up: how cells,
# clicks and the network share the kernel's one event loop, how code drives a widget along the
# same path as a person, what happens inside `ChatWidget`, and how to draw a chat line of
# your own, safely.
#
# ## Questions
#
# - Why does a cell that waits the wrong way freeze every widget?
# - How can code, or a test, use a widget without a person clicking?
# - How does `ChatWidget` work inside, and where can I change it?
# - How do I build a line of HTML from someone else's text without letting their code in?
#
# ## Learning objectives
#
# - Say how cells, widget callbacks and asyncio tasks share the kernel's event loop, and why a
#   cell must never block waiting for a click.
# - Update a widget from a background task by assigning its traits, and say why printing is
#   the wrong tool there.
# - Drive the chat widgets from code along the same path as the buttons, and wait for what
#   they show.
# - Build a chat line as HTML in Python, every value from the network escaped with
#   `html.escape`.
# - Extend `ChatWidget` through its hooks: `render_entry()` to highlight mentions.

# %% [markdown]
# ## 1. One loop, taking turns
#
# Lesson 01 found that the kernel's main thread already runs an event loop (which is why a
# notebook serves with `BackgroundServer`), and lesson 02 ran tasks on it. With widgets, the
# same loop carries the clicks too. Everything here runs on that one loop:
#
# - **your cells**;
# - **widget callbacks** such as `on_click` and `observe`, run when a message from the browser
#   (a click, a keystroke, Enter) is handled;
# - **asyncio tasks**, such as the receive loops of the chat widgets.
#
# One loop does one thing at a time. Each piece runs until it returns or reaches an `await`;
# then the loop picks the next piece that is ready. A cell at an `await` lets everything else
# take its turn. A cell that *blocks*, with `time.sleep()` or a loop that never awaits, keeps
# the loop to itself: no click, no network message, nothing, until it ends.

# %%
from wslab.figures.widgets import one_loop

one_loop()

# %% [markdown]
# See it for yourself with a button that counts its clicks:

# %%
import asyncio
import time

import ipywidgets as widgets

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
# Each click was handled at once (the count says how many, if you clicked): while the cell
# sleeps, the loop is free. Some older Jupyter kernels hold every message from the browser until
# the running cell has ended, `await` or not; and under *Run All*, or in a test, nobody clicks
# anyway. So, with any kernel:
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
# The task below fills a bar in ten steps of 0.05 s, half a second in all. The cell starts it,
# then blocks for a whole second with `time.sleep(1)`. What does the bar show after that second?
#
# - (a) 10: the task ran while the cell slept
# - (b) 0: the task has not run at all yet
# - (c) somewhere between 0 and 10

# %%
from wslab.checks.widget_depth import BLOCKED_TASK

### BEGIN SOLUTION
my_prediction = "b"
### END SOLUTION
### BEGIN STUB
my_prediction = ""  # "a", "b" or "c"
### END STUB
BLOCKED_TASK.predict(my_prediction)

# %%
progress = widgets.IntProgress(min=0, max=10, description="a task:")


async def fill():
    for step in range(1, 11):
        await asyncio.sleep(0.05)
        progress.value = step  # a trait assignment: the view follows at once


task = asyncio.create_task(fill())
time.sleep(1)  # the cell blocks, and the loop with it
print("after blocking for a second:", progress.value)
BLOCKED_TASK.check(progress.value)
progress

# %% [markdown]
# The bar fills as soon as the cell ends. A cell can also wait for the task properly:

# %% tags=["nbval-check-output"]
await task
print("the task is done; progress.value =", progress.value)

# %% [markdown]
# The task never prints, and for a reason. Where printed text appears depends on what started
# the printing code: a cell's output goes under that cell, but code started by a *click* (which
# is how a Send button sends) answers the click, not any cell, and its prints and its
# `with output:` lines may show nowhere at all. A trait assignment has none of these problems:
# `progress.value = step` reaches the browser from wherever it runs, and a test without a
# browser can read it back. So a widget that works in the background shows everything through
# its traits.
#
# ## 2. A chat server, Alice and Bob
#
# As in lesson 04: the kit's chat server in the background, and two chat windows.

# %% tags=["nbval-check-output"]
from wslab.chat import create_app
from wslab.runner import BackgroundServer
from wslab.widgets import ChatWidget

server = BackgroundServer(create_app(), name="lessonE4").start()
alice = ChatWidget(server.ws_url, "alice")
bob = ChatWidget(server.ws_url, "bob")
widgets.HBox([alice, bob])

# %% [markdown]
# ## 3. Drive the widgets from code, like the buttons do
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
    print(f"{chat.client_id}'s log:")
    for sender, text in chat.chat_lines:
        print(f"    {sender}: {text}")

# %% [markdown]
# `chat.chat_lines` lists the chat lines of the log as `(sender, text)` pairs;
# `chat.entries` has every entry, as the dicts the server sent. Scroll up: the lines are in
# both windows.
#
# `say(text)` sends a chat line without the text box: it is what the box's handler calls. (The
# widget's `wait_for`, `say` and `chat_lines` have the same names as those of the Python client
# in elective E3, `ChatClient`.) A line over the server's limit of 4096 bytes gets an error
# back, to the sender only:

# %% tags=["nbval-check-output"]
await alice.say("x" * 5000)
error = await alice.wait_for_text("the limit is")
print(f"alice's log: {error['type']} {error['code']!r}: {error['message']}")
print("errors in bob's log:", sum(entry.get("type") == "error" for entry in bob.entries))

# %% [markdown]
# ## 4. Inside `ChatWidget`
#
# Each widget's connection is its `client`, a `ChatClient` (`wslab.client`, elective E3), and
# the client's receive loop is an asyncio task on this kernel's loop, as asyncio itself can
# tell you:

# %% tags=["nbval-check-output"]
sorted(task.get_name() for task in asyncio.all_tasks() if task.get_name().startswith("ChatClient"))

# %% [markdown]
# Each loop connects, then waits for frames with `async for frame in ws`, parses each one
# once, and reconnects by itself (with growing, jittered delays) if the server goes away. It
# reports what happened to its widget, which is only a view: for every message it calls one
# method, `handle(message)`, with the frame decoded from JSON. Here it is:

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
# | `self.client` | the connection, a `ChatClient`: its `status`, `close_code`, `messages`... |
# | `wait_for(condition)`, `wait_for_text(text)` | wait until the widget shows something, with a time limit |
#
# An exception in your `handle` does not end the receive loop: the widget catches it and
# writes it into the log, in red, and the chat goes on.
#
# ### Who is online, watched from code
#
# Lesson 04's `OnlineChat` overrides `handle()` to keep a set of the names online (the kit's
# answer is used here; yours works the same). Dave joins with it, and a visitor, frank, comes
# and goes, with a plain `websockets` client. Watch dave's line while the cell runs:

# %%
from wslab.answers.widgets import OnlineChat

dave = OnlineChat(server.ws_url, "dave")
dave

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
# The browser page keeps the same set, in JavaScript (hover over its "online" count to see the
# names). Here is its code:

# %%
from wslab.chat_page import page_source
from wslab.display import excerpt

excerpt(page_source(), "const online = new Set()", "participants.title")

# %% [markdown]
# ## 5. Exercise: a chat line as safe HTML
#
# `render_entry(entry)` turns one entry into a line of HTML, and the text in it came from
# whoever sent it: mallory's `<img onerror=...>` from lesson 03 could as well arrive here.
# Before you change how `ChatWidget` draws a line, draw one yourself, in the lecture page's
# layout.
#
# In Python, `html.escape(s)` does what `textContent` does in JavaScript: it turns `<` into
# `&lt;` (and `>`, `&`, quotes likewise), and the browser shows the character. Write
# `message_line(data, me)`: one message from the server as a line of HTML, every value from
# `data` escaped (`me` is your client id). A line from bob, one of your own (its `client_id`
# is `me`), and one of the server's own (it has a `"type"`) look like this:
#
# ```html
# <div class="message other">Client bob: hi <span class="timestamp">12:00:00</span></div>
# <div class="message user">You: hi <span class="timestamp">12:00:01</span></div>
# <div class="message system">Client #bob joined the chat (2 online)</div>
# ```

# %%
import html


### BEGIN SOLUTION
### SOURCE wslab.answers.widget_depth:message_line
### END SOLUTION
### BEGIN STUB
def message_line(data, me):
    # TODO: the line, as shown above. Hint: start with `if "type" in data:`.
    raise NotImplementedError("exercise: message_line")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.widget_depth import check_message_line

checked_message_line = check_message_line(message_line)

# %% [markdown]
# `ChatWidget.render_entry` does the same, in its own layout: each value is escaped once, right
# where it enters the HTML.
#
# ## 6. Exercise: mentions
#
# In a busy room you want to notice the lines written to you. Complete `MentionChat`, a
# `ChatWidget` that marks every `@` + its own client id in the log: in kim's widget, each `@kim`
# becomes `<mark>@kim</mark>`, which browsers draw with a yellow background.
#
# Override `render_entry(entry)`, which returns the HTML of one entry of the log:
#
# - **Start from `super().render_entry(entry)`**, which draws the line and escapes its text,
#   and add the marks to the HTML it returns. Step 5's rule: text from the network goes
#   through `html.escape` once, right where it enters HTML. Mark the text *before* that, and
#   your `<mark>` is escaped too and shows as text; build the line yourself without escaping,
#   and anyone can send markup into your log.
# - `@kimberly` and `@kim_2` are other people: a name is letters, digits, `_` and `-`, so a
#   mention must not be followed by one of those.
# - Leave `entry` unchanged: it stays in `self.entries`, and is drawn again at every redraw.
#
# Two tools from Python's `re` module do it: `re.sub(pattern, replacement, text)` replaces
# every match, and in a pattern, `(?!...)` means "not followed by". In a replacement,
# `\g<0>` is the whole match. `re.escape(text)` makes any text safe to put into a pattern.
#
# The check draws lines with your method, for a widget named kim, and then has someone mention
# kim through a real server.

# %%
import re


### BEGIN SOLUTION
### SOURCE wslab.answers.widget_depth:MentionChat
### END SOLUTION
### BEGIN STUB
class MentionChat(ChatWidget):
    """A ChatWidget that marks every ``@name`` of its own participant in the log."""

    def render_entry(self, entry):
        # TODO: take the line super().render_entry(entry) returns, wrap every "@" +
        # self.client_id in it in <mark>...</mark> (but not a longer name), and return it.
        raise NotImplementedError("exercise: mentions")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.widget_depth import check_mentions

checked_MentionChat = await check_mentions(MentionChat)

# %% [markdown]
# `checked_MentionChat` is your class once it passes, the kit's until then. Erin joins with it,
# and Alice greets her:

# %%
erin = checked_MentionChat(server.ws_url, "erin")
erin

# %% tags=["nbval-check-output"]
await erin.wait_for(lambda chat: chat.participants is not None)
await alice.say("Welcome, @erin! (@erinyes is someone else.)")
await erin.wait_for_text("Welcome, @erin", sender="alice")
print("marked in erin's log:  ", "<mark>@erin</mark>!" in erin.log_html.value)
print("@erinyes left alone:   ", "@erinyes" in erin.log_html.value)
print("marked in alice's log: ", "<mark>" in alice.log_html.value)

# %% [markdown]
# Try it: a widget with both features is one line, `class ClassChat(MentionChat, OnlineChat):
# pass`. Each class overrides a different hook and calls `super()`, so both run. Join your
# class chat with it (lesson 04, step 7).
#
# Try it too: stop the server and start it again on the same port, and watch every window
# reconnect by itself:
#
# ```python
# port = server.port
# server.stop()              # every header: "reconnecting in 1 s", and so on
# server = BackgroundServer(create_app(), port=port, name="lessonE4").start()
# ```
#
# ## Clean up
#
# Close the widgets' connections (the windows stay on the page, showing "closed"), then stop
# the server.

# %%
from wslab.widgets import close_all

await close_all()
server.stop()
print(alice.status, bob.status, dave.status, erin.status)

# %% [markdown]
# ## Key points
#
# - The kernel runs cells, widget callbacks and asyncio tasks on one event loop, in turns. A
#   cell that awaits lets the others run; a cell that blocks stops them all.
# - Never make a cell wait for a click: react in the callback. Keep callbacks and tasks quick.
# - Long-running work, such as a receive loop, is an asyncio task; it updates widgets by
#   assigning traits (`log_html.value = ...`), never by printing.
# - Code can drive a widget along the buttons' path (`text_box.value`, `submit()`,
#   `send_button.click()`) and wait for what it shows with `wait_for`: that is how widgets are
#   tested without a browser.
# - Text from the network is escaped once (`html.escape`), right where it enters HTML; a
#   browser then shows it as text, markup and all.
# - `ChatWidget` is extended through hooks: `handle()` sees every message, `render_entry()`
#   draws every line. Add to what `super()` returns, so the escaping stays.
#
# The last cell sums up your exercises, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.progress import show_progress
from wslab.checks.widget_depth import EXERCISES

progress = await show_progress(EXERCISES, globals())
