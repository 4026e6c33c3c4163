# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # E8 · Nothing lost on flaky Wi-Fi: numbered lines, replay, and each line once
#
# **Time:** 40 minutes (25 teaching, 15 exercises) · **Builds on:**
# [02 · The chat room](02_chat_room.ipynb) (the chat server and its messages). An elective:
# take it any time after the core track. [E5 · Scaling out](E5_scaling_out.ipynb) meets the
# same problem between server workers (its section 8); you need not have taken it.
#
# A student's Wi-Fi drops for ten seconds. Her page reconnects by itself
# ([E3](E3_python_clients.ipynb) shows how), but the class went on talking meanwhile. This
# lesson makes sure she gets those lines, each of them once.
#
# ## Questions
#
# - What happens to the chat lines said while a student's Wi-Fi is down?
# - How can a client show every line exactly once, when the network may deliver a line never,
#   or twice?
#
# ## Learning objectives
#
# - Tell at-most-once from at-least-once delivery, and say why numbering every line makes
#   at-least-once delivery effectively once.
# - Sort each numbered line a client receives: new, a repeat, after a gap, or from a new epoch.
# - Find and fix a client loop that shows a line twice.
# - Bring a client back after a Wi-Fi drop, with its resume key, epoch and last number, and read
#   what the server replays.

# %% [markdown]
# ## 1. Three promises
#
# What a network (or a broker) can promise about each message:
#
# | promise | each message arrives | how | the catch |
# |---|---|---|---|
# | **at most once** | once, or never | send it, forget it | a receiver that is away misses it for good |
# | **at least once** | once, or more | keep it, send it again to whoever missed it | a receiver may get it twice |
# | **exactly once** | once | no network alone | a lost acknowledgement looks like a lost message |
#
# The chat so far is **at most once**. A WebSocket delivers each message once, in order, *while
# the connection lives*, and the broadcast goes to the connections that exist: when alice's
# Wi-Fi drops, everything said meanwhile is gone for her. E5 found the same between workers:
# Redis pub/sub forgets a line once sent, and a worker that is reconnecting misses it.
#
# The cure has two halves:
#
# - **The server numbers and keeps.** Every chat line, join and leave gets the room's next
#   number, `seq` (1, 2, 3, ... no holes), and the room keeps the last 200. A client that comes
#   back says the last number it saw and gets everything after it: **at least once**, since a
#   line in flight when the Wi-Fi dropped may have arrived after all, and comes again.
# - **The client drops what it has seen.** A line numbered at or below the last one it showed
#   is a *repeat*, dropped without a word. At least once, minus the repeats, is **effectively
#   once**.
#
# One more part: the **epoch**, a random word naming the numbering. A server that restarts has
# lost its history and counts from 1 again under a new epoch: line 7 of one epoch has nothing
# to do with line 7 of another.
#
# ## 2. What the server numbers
#
# The kit's chat server, in the background as in the core lessons. bob joins, then alice; bob
# says hello. `short` shows a message in one line, its number first.

# %% tags=["nbval-check-output"]
import asyncio
import json

from websockets.asyncio.client import connect

from wslab.chat import create_app
from wslab.runner import BackgroundServer

server = BackgroundServer(create_app(), name="e8-chat").start()


def short(message):
    """One message from the server in one line: `#seq who: text`, with its marks."""
    kind = message.get("type")
    number = f"#{message['seq']} " if kind in (None, "join", "disconnect") else ""
    who = f"[{kind}]" if kind else f"{message['client_id']}:"
    marks = "".join(f"  ({mark})" for mark in ("replay", "history") if message.get(mark))
    return f"{number}{who} {message['message']}{marks}"


async def next_message(ws, wait=1.0):
    """The next message `ws` receives, parsed from JSON; None after `wait` s of silence."""
    try:
        return json.loads(await asyncio.wait_for(ws.recv(), wait))
    except asyncio.TimeoutError:
        return None


async with connect(f"{server.ws_url}/ws/bob") as bob:
    await next_message(bob)                            # bob's welcome
    async with connect(f"{server.ws_url}/ws/alice") as alice:
        welcome = await next_message(alice)
        print("alice's welcome:", short(welcome))
        print(f"   epoch {welcome['epoch']}, seq {welcome['seq']}, and a resume key")
        await bob.send(json.dumps({"message": "hello alice"}))
        while (message := await next_message(alice, wait=0.5)) is not None:
            print("alice hears:", short(message))

# %% [markdown]
# Read it from the top:
#
# - alice's **welcome** says where the room is: its epoch, and `seq` of the last event (her own
#   join, #2). It also carries `resume`, a secret key sent to her alone.
# - bob's join (#1), from before she came, reaches her marked **history**: a newcomer gets the
#   room's last lines (up to 20). bob's hello is #3: one number more each time.
#
# To come back after a drop, a client adds three parameters to its URL:
# `/ws/alice?resume=KEY&epoch=E&after=N`. The key proves it is the same alice (nobody else can
# read her lines or take her name); the epoch and `after`, the last number it saw, say where it
# stopped. The server answers with one of:
#
# | the server sends | when |
# |---|---|
# | the missed lines, each marked `"replay": true`, then `{"type": "resumed"}`, then live ones | it has every line after `after` |
# | `{"type": "gap_too_old", "missed": n}`, then what it still has, as replay, then `resumed` | some are older than it keeps |
# | `{"type": "history_reset"}`, then the last lines, as to a newcomer | the epoch is gone: a restart |
#
# ## 3. Exercise: sort one line
#
# The client's half. Write `sort_line(last, line)`: `last` is `(epoch, seq)` of the last
# numbered line the client showed (at first, its welcome's); `line` is a numbered message that
# just arrived, a dict with `"epoch"` and `"seq"`. Return one word:
#
# | the line | answer | the client then |
# |---|---|---|
# | same epoch, the number right after `last`'s | `"new"` | shows it |
# | same epoch, `last`'s number or an older one | `"repeat"` | drops it, without a word |
# | same epoch, a number further on | `"gap"` | says lines never came, then shows it |
# | another epoch | `"reset"` | says lines never came, shows it, and counts from there |
#
# A replayed line is sorted by its number like any other.

# %%
### BEGIN SOLUTION
def sort_line(last, line):
    """Sort a numbered line that arrives after the line numbered `last` = (epoch, seq)."""
    epoch, seq = last
    if line["epoch"] != epoch:
        return "reset"
    if line["seq"] <= seq:
        return "repeat"
    return "new" if line["seq"] == seq + 1 else "gap"
### END SOLUTION
### BEGIN STUB
def sort_line(last, line):
    """Sort a numbered line that arrives after the line numbered `last` = (epoch, seq)."""
    # TODO: return "new", "repeat", "gap" or "reset", following the table above.
    # Hint: compare the epochs first; a number only means something within its epoch.
    raise NotImplementedError("exercise: sort_line")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.nothing_lost import check_sort_line

checked_sort_line = check_sort_line(sort_line)

# %% [markdown]
# As in every lesson, `checked_sort_line` is your function once it passes, the kit's until then.
#
# ## 4. Exercise: fix a line shown twice
#
# `show_once(last, messages)` is a client's loop: `messages` arrive in this order after the line
# numbered `last`; it returns what the screen shows, each line's text once, with `MISSED` before
# a line after a gap or in a new epoch. It has a bug: in one of the check's cases a line shows
# twice. Run the check, read its hint, and fix the loop (no line needs to be added).

# %%
from wslab.checks.nothing_lost import MISSED


def show_once(last, messages):
    """What the screen shows of `messages`: each line once, and MISSED where lines never came."""
    shown = []
    for line in messages:
        verdict = checked_sort_line(last, line)
        if verdict in ("gap", "reset"):
            shown.append(MISSED)
        if verdict != "repeat":
            shown.append(line["message"])
### BEGIN SOLUTION
            last = (line["epoch"], line["seq"])
### END SOLUTION
### BEGIN STUB
        last = (line["epoch"], line["seq"])
### END STUB
    return shown


# %% tags=["nbval-check-output"]
from wslab.checks.nothing_lost import check_show_once

checked_show_once = check_show_once(show_once)

# %% [markdown]
# That case is at-least-once delivery seen from the client: a replay that overlaps lines that
# had arrived after all. Repeats dropped, and `last` only moving forward: effectively once.
#
# ## 5. Predict, then run: pull the plug
#
# Now on a real server. To drop alice's Wi-Fi on one machine, a `WifiLink` (`wslab.wifi`)
# stands between alice and the server, passing bytes both ways; `wifi.drop(alice)` cuts her off
# as Wi-Fi does: no close, and the server hears nothing (it would notice only when its keepalive
# gives up, within 40 s).
#
# In a fresh room, alice joins through the link, then bob; bob's join is the last number alice
# sees. Her Wi-Fi drops; bob says three lines; alice comes back with her key, her epoch and
# `after` = that number. What does she get before any live line?
#
# - (a) not the three lines: what was said while she was away is gone
# - (b) the three lines, each once and marked replay, then resumed
# - (c) the room's last lines, marked history, as any newcomer gets them
#
# Put your letter between the quotes and run the cell; then run the demo under it.

# %%
from wslab.checks.nothing_lost import WIFI_DROP

### BEGIN SOLUTION
my_prediction = "b"
### END SOLUTION
### BEGIN STUB
my_prediction = ""  # "a", "b" or "c"
### END STUB
WIFI_DROP.predict(my_prediction)

# %% tags=["nbval-check-output"]
from wslab.wifi import WifiLink

room = BackgroundServer(create_app(), name="e8-wifi").start()
said = ["are you there?", "the demo starts now", "look at slide 4"]
async with WifiLink(room.port) as wifi, connect(f"{wifi.ws_url}/ws/alice") as alice:
    welcome = await next_message(alice)
    async with connect(f"{room.ws_url}/ws/bob") as bob:
        await next_message(bob)                                    # bob's welcome
        await next_message(bob)                                    # alice's join, as history
        join = await next_message(alice)                           # bob's join
        last = (join["epoch"], join["seq"])
        print(f"alice has seen up to #{last[1]} in epoch {last[0]}")

        wifi.drop(alice)
        print("--- alice's Wi-Fi drops")
        for text in said:
            await bob.send(json.dumps({"message": text}))
        while (message := await next_message(bob, wait=0.5)) is not None:
            print("bob hears:  ", short(message))

        key, (epoch, after) = welcome["resume"], last
        print(f"--- alice comes back: ?resume=(her key)&epoch={epoch}&after={after}")
        async with connect(f"{room.ws_url}/ws/alice?resume={key}&epoch={epoch}"
                           f"&after={after}") as back:
            await next_message(back)                               # her new welcome
            caught_up = []
            while (message := await next_message(back)) and message.get("type") != "resumed":
                caught_up.append(message)
                print("alice hears:", short(message))
            print("alice hears:", short(message))
            heard = await next_message(bob, wait=0.5)
            print("bob hears:  ", short(heard) if heard else "(nothing: nobody left or came)")
predicted_it = WIFI_DROP.check((said, caught_up))

# %% [markdown]
# To the room, alice never left. And her screen, from your loop (or the kit's, until yours
# passes):

# %% tags=["nbval-check-output"]
print(checked_show_once(last, caught_up))

# %% [markdown]
# ## 6. Where the kit stops
#
# - **A bounded history**: the last 200 chat lines, with the joins and leaves among them
#   (`--history`; `--history-minutes` adds an age limit).
#   Away longer, a client gets `gap_too_old`, then what is left, then `resumed`.
# - **A restart loses it**: the history is in the server's memory. The new epoch brings
#   `history_reset`, and the client says "You missed some messages".
# - **Several workers** (`--broker redis://...`, E5): Redis numbers the lines and keeps the
#   history in a Redis Stream, so a student whose worker dies resumes on another. A Redis that
#   loses its data brings a new epoch, and `history_reset`, as a restart does here.
# - **The kit's clients do this already**: the `/chat` page, `ChatClient` and `ChatWidget` keep
#   the epoch and last number, drop repeats, say when lines never came, and resume on every
#   reconnect (`wslab.catch_up`: your `sort_line`'s rules).
#
# ## Clean up

# %% tags=["nbval-check-output"]
for running in (server, room):
    running.stop()
    print(running)

# %% [markdown]
# ## Key points
#
# - A WebSocket, like Redis pub/sub, delivers **at most once**: what is said while a client's
#   connection is down is gone for it, unless the server keeps it.
# - The server numbers every line, join and leave (`seq`, under an `epoch`) and keeps the last
#   ones; a client that comes back sends `resume=KEY&epoch=E&after=N` and gets what it missed,
#   marked replay, then `resumed`: **at least once**.
# - The client drops every line numbered at or below the last one it showed, and moves that
#   number only forward: at least once becomes **effectively once**. A number past the next one
#   means lines never came; another epoch means the count started again. Either way, say so.
#
# **Next:** another elective, or back to the core track (the README lists them all).
#
# The last cell sums up your exercises and your prediction, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.nothing_lost import EXERCISES
from wslab.checks.progress import show_progress

progress = await show_progress(EXERCISES, globals())
