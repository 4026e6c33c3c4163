# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Chat through widgets
#
# **Time:** 40 minutes (18 teaching, 22 exercises) · **Builds on:**
# [02 · The chat room](02_chat_room.ipynb) (the server, tasks) and
# [03 · The browser page](03_browser_page.ipynb) (the page).
#
# A chat window made of Jupyter widgets, right in the notebook. Alice and Bob get one each,
# the page joins them, and at the end you chat with the whole class.
#
# ## Questions
#
# - How can a chat window live inside a notebook?
# - How do widgets, the page and a whole class end up in one chat?
# - How do I add a feature to a chat window?
#
# ## Learning objectives
#
# - Explain what a widget is: a Python object in the kernel and a view in the browser, kept in
#   step by messages.
# - Chat between two `ChatWidget`s and the browser page in one room.
# - Extend `ChatWidget` through its `handle()` method to show who is online.
# - Join the class chat with the line your instructor gives you, and fix what stops you.

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
    echo.value = f"You typed <b>{html.escape(change['new'])}</b>"


box.observe(repeat, names="value")
widgets.VBox([box, echo])

# %% [markdown]
# `box` is a Python object in the kernel. What you see is its **view**, drawn by JupyterLab in
# your browser. The two are kept in step through the widget's *traits*, named values such as
# `value`: when one side changes a trait, a message carries the new value to the other side.
# Those messages travel over a WebSocket, JupyterLab's own, between your browser and the
# kernel. It works from Python too: watch the box.

# %% tags=["nbval-check-output"]
box.value = "set from Python"
print(echo.value)

# %%
# %matplotlib inline
from wslab.figures.widgets import widget_sync

widget_sync()

# %% [markdown]
# ## 2. Alice and Bob, side by side
#
# The kit's chat server in the background, as in lesson 03, and two chat windows:

# %%
from wslab.chat import create_app
from wslab.runner import BackgroundServer
from wslab.widgets import ChatWidget

server = BackgroundServer(create_app(), name="lesson04").start()
alice = ChatWidget(server.ws_url, "alice")
bob = ChatWidget(server.ws_url, "bob")
widgets.HBox([alice, bob])

# %% [markdown]
# A `ChatWidget(url, client_id)` has a header (who, status, how many are online), the log, a
# text box where Enter sends, and a Send button. Your lines are on the right, as "You"; others' on
# the left; the server's in grey.
#
# When you press Enter in Alice's box:
#
# 1. the browser tells the kernel, with a widget message;
# 2. the widget's client, a `ChatClient`, sends `{"message": "..."}` over Alice's WebSocket;
# 3. the server relays it to everyone in the room;
# 4. each client's **receive loop**, an asyncio task (lesson 02), gets the frame and parses it;
#    its widget assigns the log's new HTML to a trait, and your browser redraws the log.
#
# No cell runs during any of it: the tasks run between cells.
#
# ## 3. Exercise: say it through the widget
#
# Type this line into **Alice's** box, exactly, and press Enter:
#
# > Hi Bob, Alice here!
#
# Then run the check: it looks for the line in Bob's log.

# %% tags=["solution-only"]
alice.text_box.value = "Hi Bob, Alice here!"  # what typing does
await alice.submit()  # what Enter does

# %% tags=["nbval-check-output"]
from wslab.checks.widgets import check_said

said = await check_said(alice, bob)

# %% [markdown]
# ## 4. The browser page joins the room
#
# Lesson 03's page, in a frame, as carol:

# %%
from wslab.display import chat_frame

chat_frame(server, name="carol")

# %% [markdown]
# Write something as carol and watch it arrive in Alice's and Bob's logs. Three clients, two
# languages (Python in the kernel, JavaScript in your browser), one wire protocol.
#
# ## 5. Exercise: who is online
#
# `ChatWidget` calls one method for every message from the server: `handle(message)`, with the
# message as a dict. A subclass overrides it to add a feature, and calls
# `super().handle(message)` to keep the log and the count.
#
# The header says how many are online, not who. The server says enough to know:
#
# | message (`"type"`) | who gets it, and when | where the names are |
# |---|---|---|
# | `welcome` | you, when you connect, and again after every reconnect | `"online"`: everyone connected now, you included |
# | `join` | everyone else, when someone connects | `"user"` |
# | `disconnect` | everyone else, when someone leaves | `"user"` |
#
# Complete `OnlineChat`: it keeps the names in a set, `self.online`, and shows them under its
# header as `Online: alice, bob, carol` (sorted, separated by `, `). The `__init__` is written
# for you. The check tries three things:
#
# - a `welcome` **replaces** what you knew: after a reconnect, whoever left meanwhile is gone;
# - a `disconnect` for a name you do not have must not raise;
# - when someone connects a second time with the same name, the server announces nothing
#   (step 6 shows why): the name stays online.

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

    ### SOURCE wslab.answers.widgets:OnlineChat.__init__

    def handle(self, message):
        super().handle(message)              # keep the log and the count working
        # TODO: on a "welcome", "join" or "disconnect", change self.online (see the table),
        # then call self.show_online().
        raise NotImplementedError("exercise: who is online")

    def show_online(self):
        # TODO: set self.online_html.value to "Online: " and the sorted names. Names come
        # from the network: html.escape() each one before it goes into HTML.
        raise NotImplementedError("exercise: who is online")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.widgets import check_online_chat

checked_OnlineChat = await check_online_chat(OnlineChat)

# %% [markdown]
# `checked_OnlineChat` is your class once it passes, the kit's until then. Dave joins with it:

# %%
dave = checked_OnlineChat(server.ws_url, "dave")
dave

# %% [markdown]
# ## 6. One name, one person
#
# A widget named zoe connects, then a second one named zoe, in this same notebook (as when you
# run its cell again). What happens?
#
# - (a) both stay connected, and the chat has two zoes
# - (b) the server refuses the second one
# - (c) the server closes the first one's connection, and its window says why

# %%
from wslab.checks.widgets import SAME_NAME

### BEGIN SOLUTION
my_prediction = "c"
### END SOLUTION
### BEGIN STUB
my_prediction = ""  # "a", "b" or "c"
### END STUB
SAME_NAME.predict(my_prediction)

# %%
import asyncio

zoe = ChatWidget(server.ws_url, "zoe")
await zoe.wait_for(lambda chat: chat.participants is not None)  # welcomed, with zoe's key
zoe_again = ChatWidget(server.ws_url, "zoe")  # the same name, a second time
await zoe_again.wait_for(lambda chat: chat.status != "connecting")
await asyncio.sleep(0.5)  # time for the server to act
SAME_NAME.check((zoe.status, zoe_again.status))
widgets.HBox([zoe, zoe_again])

# %% [markdown]
# The welcome gave zoe a secret *resume key*, which this notebook's windows send: someone
# else, without it, is refused (`name_taken`). So choose a name nobody else in the class will:
# `ada_lovelace` rather than `ada`.
#
# ## 7. Join the class
#
# Your instructor runs one chat server for the whole class, and gives you a line like this:
#
# ```python
# ChatWidget("ws://192.168.1.20:8000", client_id="your_name", token="k3m9p-x7qtr")
# ```
#
# Below, replace `None` with that line, and `your_name` with your own name (letters, digits,
# `_` or `-`; no spaces). Run the cell, then its check: it says what to fix if you are not in,
# and gives you the same chat as a page to open in a new tab. No line from an instructor? Then
# the check says "not joined yet", and that is fine.

# %%
from wslab.widgets import ChatWidget

me = None  # ← replace None with your instructor's line, your own name in it
me

# %% tags=["nbval-check-output"]
from wslab.checks.widgets import check_in_class

joined = await check_in_class(me)

# %% [markdown]
# Say hello to the class!
#
# ## Clean up
#
# When you leave: close every chat window's connection, the class chat's too, then stop the
# server.

# %%
from wslab.widgets import close_all

await close_all()
server.stop()

# %% [markdown]
# ## Key points
#
# - A widget is a Python object in the kernel plus a view in the browser, kept in step by
#   messages over JupyterLab's own WebSocket.
# - `ChatWidget` is a view of a chat client (`wslab.client.ChatClient`, whose receive loop is
#   an asyncio task): it shows what the client reports by assigning traits.
# - Widgets, the page and Python clients can share one room: they speak the same protocol.
# - A subclass adds a feature by overriding `handle()`, calling `super().handle(message)`.
# - One name is one connection; only its owner (with its resume key) can move it.
#
# **Next:** the electives, such as [E4 · Widgets in depth](E4_widgets_in_depth.ipynb).
#
# The last cell sums up your work.

# %% tags=["nbval-check-output"]
from wslab.checks.progress import show_progress
from wslab.checks.widgets import EXERCISES

progress = await show_progress(EXERCISES, globals())
