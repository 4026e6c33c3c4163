# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # E5 · Scaling out: several workers, one chat, through Redis
#
# **Time:** 65 minutes (50 teaching, 15 exercises) · **Builds on:**
# [02 · The chat room](02_chat_room.ipynb): the lecture's endpoint and a manager that survives
# its clients. An elective: take it any time after the core track.
#
# Section 11 uses the kit's reconnect backoff, which [E3 · Python clients](E3_python_clients.ipynb)
# teaches; you need not have taken E3: section 11 says in two lines what it does.
#
# So far the chat has been one server process. The lecture ends with a picture of the next
# step (its Figure 8.6, "Multiple server workers with a message broker"): several processes
# serving one room, joined by a broker. This lesson shows first why the step is needed, by
# letting two clients on two processes miss each other completely; then it joins the
# processes through Redis, measures what that costs, and pulls Redis away in the middle of a
# chat to see what survives.
#
# ## Questions
#
# - How can several server processes serve one chat room?
# - What does Redis pub/sub promise, and what happens to the room when Redis goes away?
#
# ## Learning objectives
#
# - Explain why clients of two server processes cannot see each other, and what a broker
#   changes.
# - Follow one chat line from a client, through Redis pub/sub, to the clients of every worker,
#   and say why each client gets it exactly once.
# - Run two workers that share Redis, and measure how long a line takes within a worker and
#   across workers.
# - Say what Redis pub/sub does not promise, how sequence numbers make a loss visible, and what
#   Redis Streams would change.
# - Keep a room serving through a Redis outage: degraded, reconnecting with backoff and
#   jitter, recovered.

# %% [markdown]
# ## 1. One process is not enough
#
# One uvicorn process runs one Python interpreter, and so, for Python code, about one CPU core.
# A busy server, or one that must survive the loss of a process, runs several: `uvicorn
# --workers 4` starts four processes that take turns accepting connections on the same port,
# and a bigger site runs processes on several machines behind a load balancer. Each process is
# called a *worker*.
#
# Processes share no Python objects. Each worker imports the app and builds its own
# `ConnectionManager`, which holds the connections *that worker* accepted, and nothing else.
# Its `broadcast` reaches those connections only.

# %% [markdown]
# ## 2. See the problem
#
# Two `BackgroundServer`s, each running the kit's chat app (the lecture's endpoint, hardened), stand
# in for two workers. Alice connects to the first, bob to the second, and alice says hi.
# `hear(ws)` waits a moment for the next message and shows it in short: who said what, or a
# system message as `[type] text (count)`.

# %%
import asyncio
import json

from websockets.asyncio.client import connect

from wslab.chat import create_app
from wslab.runner import BackgroundServer
from wslab.settings import ChatSettings


def shown(raw):
    """One message from the server, in short (no timestamps)."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    if data.get("client_id") == "system":
        count = data.get("participants")
        said = "" if count is None or "online)" in data["message"] else f" ({count} online)"
        return f"[{data['type']}] {data['message']}{said}"
    return f"{data['client_id']}: {data['message']}"


async def hear(ws, wait=1.0):
    """The next message `ws` receives, in short, or "(nothing)" after `wait` seconds.

    A message marked `known` is skipped, as the kit's clients skip it: news the client had
    already (elective E8 says why a server sends one)."""
    deadline = asyncio.get_running_loop().time() + wait
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            raw = await asyncio.wait_for(ws.recv(), left)
        except asyncio.TimeoutError:
            break
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            data = None
        if not (isinstance(data, dict) and data.get("known") is True):
            return shown(raw)
    return "(nothing)"


async def hear_kind(ws, kind, wait=5.0):
    """The next system message of type `kind`, skipping others; "(nothing)" after `wait` s."""
    deadline = asyncio.get_running_loop().time() + wait
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            data = json.loads(await asyncio.wait_for(ws.recv(), left))
        except asyncio.TimeoutError:
            break
        if data.get("type") == kind:
            return shown(json.dumps(data))
    return "(nothing)"


async def quiet(*sockets, wait=0.3):
    """Read and forget whatever is waiting, until nothing comes for `wait` seconds."""
    for ws in sockets:
        while await hear(ws, wait) != "(nothing)":
            pass


servers = []  # every server this lesson starts, for the last cell to stop
alone_1 = BackgroundServer(create_app(), name="lesson07-alone-1").start()
alone_2 = BackgroundServer(create_app(), name="lesson07-alone-2").start()
servers += [alone_1, alone_2]

# %% tags=["nbval-check-output"]
async with connect(f"{alone_1.ws_url}/ws/alice") as alice, \
        connect(f"{alone_2.ws_url}/ws/bob") as bob:
    print("alice hears:", await hear(alice))
    print("bob hears:  ", await hear(bob))
    await alice.send(json.dumps({"message": "hi bob, can you hear me?"}))
    print("alice hears:", await hear(alice))
    print("bob hears:  ", await hear(bob, wait=0.5))

# %% [markdown]
# Each server welcomed its client as the only one online, and alice's line reached alice
# alone. Nothing is broken in either server: each is a correct chat room of one. Run with
# `uvicorn --workers 2`, this is what a class sees: half the students in one room, half in
# another, and the count on every screen is wrong.

# %%
# %matplotlib inline
from wslab.figures.workers import architecture

architecture(broker=False)

# %%
for server in (alone_1, alone_2):
    server.stop()

# %% [markdown]
# ## 3. A broker between the workers
#
# The fix is a *broker*: a separate program that every worker connects to, which passes
# messages from any worker to all of them. Redis does this with *publish/subscribe*: every
# worker subscribes to one channel, and whatever one of them publishes on the channel, Redis
# sends at once to every subscriber. Each worker still holds only its own clients; the broker
# makes sure each worker hears every line.

# %%
architecture()

# %% [markdown]
# The path of one chat line, with the function that does each step in `wslab`:
#
# 1. alice's worker receives her frame (`chat.chat_endpoint`) and checks it
#    (`ChatRoom.receive`: the rules of elective E2);
# 2. it builds the line once, with `envelope.chat_message`, so every worker sends the very same
#    text, timestamp included, and **publishes** it (`ChatRoom.relay`, `broker.publish`);
# 3. Redis sends it to every subscribed worker, **alice's own included**;
# 4. each worker hands it to its own `ConnectionManager.broadcast` (`ChatRoom._on_event`).
#
# What travels through Redis is an *event*: a small JSON object that says which worker
# published it, its sequence number at that worker, and what kind of event it is. Here is
# alice's line as an event:

# %% tags=["nbval-check-output"]
from datetime import datetime

from wslab.events import encode_event
from wslab.envelope import chat_message

line = chat_message("alice", "hi bob, can you hear me?", datetime(2026, 1, 1, 12, 0, 0))
print(encode_event({"v": 1, "worker": "worker-1", "seq": 17, "kind": "chat", "text": line}))

# %% [markdown]
# Three choices in this design are worth a sentence each:
#
# - **JSON, never pickle.** Some libraries put pickled Python objects on the channel. Unpickling
#   runs code, so anyone able to publish on that Redis channel could then run code in every
#   worker. A JSON event is only data, and a worker checks each one before it acts on it.
# - **Every event is tagged.** `kind` says what to do with it: `chat` (a line for everyone),
#   `join` and `leave`, `presence` (a worker's list of its clients, see section 8) and `bye`
#   (a worker shutting down). `worker` and `seq` say where it came from and in which order.
# - **One path for every line.** Alice's own worker could send her line to alice and dan at
#   once, and ignore it when it comes back from Redis. The kit does not: it delivers every
#   line, its own clients' too, only when Redis hands it back. Doing both would give alice's
#   worker's clients every line twice; doing only the direct delivery would let two workers
#   show two lines in different orders. Through Redis, every client on every worker sees the
#   lines in one order: the order Redis received them in. The cost is one trip to Redis and
#   back for lines between clients of the same worker, too.

# %% [markdown]
# ## 4. Exercise: a worker's two halves
#
# Complete `Worker`, a worker reduced to the two halves of this design:
#
# - `client_said(client_id, text)` is called when one of *this* worker's clients sends a line.
#   It publishes the line, and does nothing else: `await self.broker.publish(event)`, with
#   `event = {"kind": "chat", "worker": self.worker_id, "text": chat_message(client_id, text)}`.
# - `on_event(event)` is called by the broker for **every** event, published by any worker,
#   this one included. A `chat` event goes to this worker's clients:
#   `await self.manager.broadcast(event["text"])`. Other kinds are not lines for clients.
#
# The self-check builds two of your workers on one broker that holds every event until the
# check lets it go. Alice is on `worker-1`, bob and carol on `worker-2`. Each must get each
# line once, in the same order, and nobody may get a line before the broker delivers it.

# %%
from wslab.envelope import chat_message
from wslab.manager import ConnectionManager


### BEGIN SOLUTION
### SOURCE wslab.answers.scaling:Worker
### END SOLUTION
### BEGIN STUB
class Worker:
    """One server process of the chat: its own clients, and a broker shared with the others."""

    ### SOURCE wslab.answers.scaling:Worker.__init__

    async def client_said(self, client_id: str, text: str) -> None:
        """One of this worker's clients sent a line: publish it, tagged with this worker."""
        # TODO: publish {"kind": "chat", "worker": ..., "text": chat_message(...)}.
        # Hint: only publish. The broker brings the line back to this worker too.
        raise NotImplementedError("exercise: Worker.client_said")

    async def on_event(self, event: dict) -> None:
        """The broker hands over an event from any worker, this one included: deliver it to
        this worker's own clients."""
        # TODO: a "chat" event goes to self.manager.broadcast(...); ignore other kinds.
        raise NotImplementedError("exercise: Worker.on_event")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.scaling import check_worker

checked_Worker = await check_worker(Worker)

# %% [markdown]
# As in every lesson, the check gives back what the notebook carries on with under a name of its
# own: `checked_Worker` is your class once it passes, and the kit's until then. Your `Worker`
# stays yours, so running the check again always checks your code. The same goes for
# `checked_sequence_check` below.
#
# The kit's `ChatRoom` does the same with a few more kinds of event (`ChatRoom._on_event` in
# `wslab/room.py`), and so does every worker it runs.
#
# ## 5. Redis, here
#
# The next cell looks for Redis: the server named by the environment variable `REDIS_URL` if
# you set one, or else a `redis-server` program, which it starts for this notebook alone on a
# free port. The servers in this notebook use a channel of their own, so that nobody else's
# servers on the same Redis end up in your room.
#
# No `redis-server` on your machine (Windows, or no right to install software)? Then the cell
# starts a stand-in: fakeredis, a Redis written in Python that comes with the kit, listening on
# a free port from inside this notebook's kernel, for as long as the kernel runs. Your workers
# talk to it over the network exactly as they would to Redis, and for this lesson it behaves
# the same, outage included, but for one thing you will not meet here: a worker that reads too
# slowly is cut off as soon as its connection's buffer is full (a few MB), not at the limit of
# section 8.

# %%
from wslab.checks.scaling import lesson_channel, redis_for_lesson, skipped

redis = redis_for_lesson()
CHANNEL = lesson_channel()

# %% [markdown]
# ## 6. Two workers, one room
#
# The same two servers as in section 2, each now with a `RedisBroker`: the same Redis, the
# same channel, the same `secret`. `heartbeat=0.5` makes each worker tell the others who is
# connected to it every half second (section 8 says why); the rate limit is off, because
# section 7 sends 200 lines in a row.
#
# Why a secret? Anyone who can reach Redis can publish on the channel. So each worker signs
# every event it publishes with the secret (an HMAC), and drops, unread, anything whose
# signature is wrong: a stranger can neither forge a line nor speak for a worker.

# %%
from wslab.brokers import RedisBroker
from wslab.signing import new_secret

SECRET = new_secret()  # shared by this notebook's workers, and nobody else


def redis_worker(number):
    """A chat server that shares this notebook's Redis channel with the other workers."""
    broker = RedisBroker(redis.url, secret=SECRET, channel=CHANNEL,
                         worker_id=f"worker-{number}", heartbeat=0.5)
    # history_on_join=0: no earlier lines after a welcome, which E8 is about, not this lesson.
    server = BackgroundServer(create_app(ChatSettings(rate_limit=0, history_on_join=0), broker),
                              name=f"lesson07-worker-{number}").start()
    servers.append(server)
    return server


if redis:
    worker_1, worker_2 = redis_worker(1), redis_worker(2)
    print(worker_1.app.state.broker)
    print(worker_2.app.state.broker)
else:
    skipped("starting two workers that share Redis")

# %% [markdown]
# Alice joins worker 1; a moment later bob joins worker 2. (The moment is for alice's join to
# travel through Redis to worker 2. Two people joining two workers in the very same
# millisecond are each announced to the other a moment after their welcome.)

# %%
if redis:
    async with connect(f"{worker_1.ws_url}/ws/alice") as alice:
        print("alice hears:", await hear(alice))
        await asyncio.sleep(0.2)
        async with connect(f"{worker_2.ws_url}/ws/bob") as bob:
            print("bob hears:  ", await hear(bob))
            print("alice hears:", await hear(alice))
            await alice.send(json.dumps({"message": "hi bob, can you hear me?"}))
            print("alice hears:", await hear(alice))
            print("bob hears:  ", await hear(bob))
            await bob.send(json.dumps({"message": "loud and clear!"}))
            print("alice hears:", await hear(alice))
            print("bob hears:  ", await hear(bob))
        print("alice hears:", await hear(alice))
else:
    skipped("the chat across two workers")

# %% [markdown]
# One room: bob's welcome lists alice, the counts are for the whole room, alice and bob hear
# each other, and each line arrives once. The count is global because each worker keeps a
# list of the other workers' clients (a `Roster`), filled from their join and leave events.
#
# ## 7. How long does a line take?
#
# Every line now makes a trip through Redis. Alice and carol are on worker 1, bob on worker 2.
# Alice sends 200 lines, one at a time; for each, the cell notes when it reaches carol (the
# same worker) and bob (the other worker).

# %%
import time

from wslab.figures.workers import latency_chart


async def arrival(ws):
    await ws.recv()
    return time.perf_counter()


async def measure(lines=200):
    """Milliseconds from alice's send to the line's arrival, at carol and at bob."""
    same, cross = [], []
    async with connect(f"{worker_1.ws_url}/ws/alice") as alice, \
            connect(f"{worker_1.ws_url}/ws/carol") as carol, \
            connect(f"{worker_2.ws_url}/ws/bob") as bob:
        await quiet(alice, carol, bob)  # welcomes and joins
        for n in range(lines):
            sent = time.perf_counter()
            await alice.send(json.dumps({"message": f"line {n}"}))
            _, at_carol, at_bob = await asyncio.wait_for(
                asyncio.gather(arrival(alice), arrival(carol), arrival(bob)), 2)
            same.append((at_carol - sent) * 1000)
            cross.append((at_bob - sent) * 1000)
    return same, cross


def p(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


if redis:
    same, cross = await measure()
    for name, values in (("same worker (carol)", same), ("other worker (bob) ", cross)):
        print(f"{name}: p50 {p(values, 0.5):.2f} ms, p99 {p(values, 0.99):.2f} ms")
    chart = latency_chart(same, cross)
else:
    skipped("the latency measurement")
    chart = None
chart

# %% [markdown]
# The two curves lie almost on top of each other, a fraction of a millisecond from the send.
# That is the "one path" choice showing: a line to carol takes the same trip through Redis as
# a line to bob. (The times include this notebook's own client code: one Python process
# reading three connections.)
#
# The benchmark `python -m wslab.bench.cross_worker` measures the same under load: two worker
# processes with 100 clients each and 100 lines a second; the README shows its figures.
#
# ## 8. What Redis pub/sub does not promise
#
# Redis pub/sub delivers a message **at most once**: to the workers subscribed at the moment
# it is published, and to nobody else, ever. Redis keeps no copy. So a line is lost for a
# worker when:
#
# - the worker is not subscribed at that moment: it is starting, or reconnecting after Redis
#   restarted or the network failed;
# - Redis itself is restarting: everything in flight is gone, for everyone;
# - a worker reads too slowly: Redis cuts off a subscriber that falls too far behind (its
#   `client-output-buffer-limit` for pub/sub: by default 32 MB at once, or 8 MB for 60
#   seconds).
#
# Nobody is told. The kit cannot bring such a line back, but it makes the loss *visible*:
# every worker numbers its events 1, 2, 3, ..., and every worker remembers the last number it
# saw from each of the others. A jump from 4 to 8 means that 5, 6 and 7 were lost; the same
# number twice (which can happen when a publish is retried) means a repeat, which must not be
# delivered again.
#
# The participant list is kept right by a different trick: every worker sends its whole list
# of clients as a `presence` event on every heartbeat, so a lost join or leave is corrected at
# the next one, and a worker that stops sending them (killed with `kill -9`, say) is taken to
# be gone, with its clients, after three missed heartbeats.
#
# ## 9. Exercise: sequence numbers
#
# Write `sequence_check(last, seq)`. `last` is the last sequence number seen from a worker
# (`None` if none yet), `seq` the number of the event that just arrived from it. Return a
# tuple `(deliver, lost)`:
#
# | | `deliver` | `lost` |
# |---|---|---|
# | nothing seen yet from that worker | `True` | `0`: we may have started listening late |
# | `seq` is the next number after `last` | `True` | `0` |
# | `seq` is further on | `True` | how many numbers were skipped |
# | `seq` is `last` or older | `False`: a repeat | `0` |

# %%
### BEGIN SOLUTION
### SOURCE wslab.presence:sequence_check
### END SOLUTION
### BEGIN STUB
def sequence_check(last: int | None, seq: int) -> tuple[bool, int]:
    """Compare an event's sequence number with the last one seen from the same worker."""
    # TODO: return (deliver, lost), following the table above.
    # Hint: with last = 4, the next number is 5; seq = 8 skipped 5, 6 and 7.
    raise NotImplementedError("exercise: sequence_check")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.scaling import check_sequence_check

checked_sequence_check = check_sequence_check(sequence_check)

# %% [markdown]
# Here is the checked function (yours once it passes) on the numbers one worker might see from
# another after a bad minute:

# %% tags=["nbval-check-output"]
last, delivered, lost = None, [], 0
for seq in [1, 2, 3, 3, 7, 8, 5, 9]:
    deliver, missing = checked_sequence_check(last, seq)
    if deliver:
        delivered.append(seq)
        last = seq
    lost += missing
print(f"delivered {delivered}, skipped as repeats: {8 - len(delivered)}, lost: {lost}")

# %% [markdown]
# 4, 5 and 6 were lost (5 arrived later, and was then older than 8: it is not delivered out of
# order). The kit's `SequenceTracker` (in `wslab.presence`) uses the same function and logs each
# loss, so a gap shows up in the server's log and in `room.sequence.lost`.
#
# ## 10. When Redis goes away
#
# Now the real thing: this cell stops Redis in the middle of a chat, and starts it again. Alice
# and dan are on worker 1, bob on worker 2. Watch what each hears.

# %%
if redis is None:
    skipped("the outage")
elif not redis.owned:
    skipped("the outage", "this notebook did not start that Redis, so it will not stop it")
else:
    async with connect(f"{worker_1.ws_url}/ws/alice") as alice, \
            connect(f"{worker_1.ws_url}/ws/dan") as dan, \
            connect(f"{worker_2.ws_url}/ws/bob") as bob:
        people = {"alice": alice, "dan": dan, "bob": bob}
        await quiet(*people.values())
        redis.stop()
        print("--- Redis stopped")
        for name, ws in people.items():
            print(f"{name:5} hears: {await hear_kind(ws, 'degraded')}")
        await alice.send(json.dumps({"message": "is anyone there?"}))
        for name, ws in people.items():
            print(f"{name:5} hears: {await hear(ws, wait=0.5)}")
        redis.start()
        print("--- Redis started again")
        for name, ws in people.items():
            print(f"{name:5} hears: {await hear_kind(ws, 'recovered')}")
        await bob.send(json.dumps({"message": "sorry, I was away. Back now!"}))
        for name, ws in people.items():
            print(f"{name:5} hears: {await hear(ws)}")
        await asyncio.sleep(0.6)  # worker 1's next heartbeat shows worker 2 the gap
    print(f"\nworker 2 counted {worker_2.app.state.room.sequence.lost} lost event(s) from "
          "worker 1")

# %% [markdown]
# While Redis was gone the room was split, and everyone was told:
#
# - each worker kept serving its own clients: alice's line reached dan, on her worker, and
#   not bob. (A worker whose publish fails delivers the line to its own clients directly; if
#   Redis took it after all and sends it back later, the sequence number shows it is a
#   repeat.)
# - a publish failed at once instead of waiting for a dead server, so no client's handler
#   hung;
# - each worker told its clients `degraded` once, reconnected, subscribed again, and told them
#   `recovered`. The browser page and the chat widget show both as system lines.
#
# Alice's line is lost for bob, for good, and worker 2 counted it. Here is worker 1's log of
# the outage:

# %%
if redis and redis.owned:
    print("\n".join(line for line in worker_1.logs(None)
                    if "broker" in line.lower() or "redis" in line.lower()))
else:
    skipped("the outage's log")

# %% [markdown]
# ## 11. Reconnecting with backoff
#
# The log shows the broker trying again after a short wait. How long to wait matters. Retry at
# once, in a loop, and a worker hammers a Redis that is restarting; wait a fixed 10 seconds,
# and the room stays split long after Redis is back. The broker waits by the kit's one backoff
# rule, `wslab.backoff`, the same rule every chat client of the kit follows; elective E3
# teaches it, and there you write it yourself. In two lines:
#
# - the wait's *ceiling* doubles with each failed attempt, from `first` up to `cap`;
# - the wait is half the ceiling plus a random share (*jitter*) of the other half, so that the
#   workers, which all lost Redis at the same moment, do not all come back at the same moment.
#
# The broker's numbers, `wslab.brokers.REDIS_BACKOFF`, are `first = 0.1` s and `cap = 5` s.
# The schedule they make, from the shortest to the longest wait of each attempt:

# %% tags=["nbval-check-output"]
from wslab.backoff import backoff_delay
from wslab.brokers import REDIS_BACKOFF

first, cap = REDIS_BACKOFF.first, REDIS_BACKOFF.cap
print(f"first = {first} s, cap = {cap} s")
for attempt in range(8):
    print(f"attempt {attempt}: wait {backoff_delay(attempt, 0.0, first, cap):.2f} to "
          f"{backoff_delay(attempt, 0.999, first, cap):.2f} s")

# %% [markdown]
# Redis back within a second costs the room about a second; Redis down for an hour costs one
# attempt every 2.5 to 5 seconds per worker, which Redis will not even notice.
#
# One more way a link dies: without a word. A pulled cable or a frozen Redis closes nothing,
# so a worker waiting for messages would wait for ever. The kit's broker pings Redis after a
# second of silence and counts three seconds without an answer as a dead link. (The tests
# freeze a real `redis-server` with `SIGSTOP` to check this.)
#
# ## 12. What Redis Streams would change
#
# Pub/sub forgets a message once it has sent it. A Redis **Stream** keeps it: a worker adds
# each event with `XADD room * event <json>`, and Redis gives it an id that grows with time.
# Each worker reads with `XREAD BLOCK 0 STREAMS room <last id>`, and remembers the id of the
# last event it handled. After an outage it reads on from that id, and gets everything it
# missed, in order: nothing lost while Redis itself kept running. What that costs:
#
# - memory: the stream must be trimmed (`XADD room MAXLEN ~ 10000 * ...`), and a worker away
#   for longer than the stream reaches back still loses lines;
# - a Redis restart still loses the stream unless Redis saves it to disk, in an RDB snapshot
#   (the stream since the last snapshot survives) or an append-only file (AOF, every write),
#   which the kit's throwaway Redis does neither of;
# - a worker that comes back delivers a burst of old lines, which clients should see marked
#   as late;
# - consumer groups (`XREADGROUP`) are for sharing work, each event going to *one* consumer:
#   a chat needs every worker to read every event, so each worker reads the stream on its
#   own.
#
# The kit's server, run with `--broker redis://...`, does both: pub/sub stays the path between
# workers (one order for every event, and cheaper, measured in the README), and a Stream beside
# it keeps the room's last lines, each numbered by Redis as it is published. A worker that was
# cut off reads what it missed from the stream, and so does a student who reconnects, on any
# worker: elective [E8 · Nothing lost](E8_nothing_lost.ipynb) builds the client's side of that.
#
# ## 13. Running it yourself
#
# Outside the notebook, start Redis first: `redis-server` listens on its default port 6379.
# Without it, run the stand-in in a terminal of its own instead:
# `python -m wslab.redis_stand_in` serves on the same port until Ctrl-C. Then start two
# workers on two ports, each in its own terminal, with the same secret in both (any 16
# characters or more; on Windows, `set` instead of `export`):
#
# ```bash
# export WSLAB_BROKER_SECRET=correct-horse-battery-staple      # in each terminal
# python -m wslab serve --port 8001 --broker redis://127.0.0.1:6379/0
# python -m wslab serve --port 8002 --broker redis://127.0.0.1:6379/0
# ```
#
# and open `http://127.0.0.1:8001/chat` in one browser tab and `http://127.0.0.1:8002/chat`
# in another. Or run several workers on **one** port, as `uvicorn --workers` does:
#
# ```bash
# python -m wslab serve --port 8000 --workers 2 --broker redis://127.0.0.1:6379/0
# ```
#
# (Here the secret is made up for you: the two workers share it, and no other server does.)
#
# Try `kill -9` on one worker's process: its clients are cut off (their pages reconnect, to
# the workers still running), and the others see them leave once that worker has missed three
# heartbeats (the default heartbeat is 2 s, so after 6 to 8 seconds). `--workers` without
# `--broker` is refused: it would make the rooms of section 2.
#
# ## Clean up
#
# Stop the servers this lesson started, then the Redis it started (if it did).

# %%
for server in servers:
    server.stop()
if redis is not None and redis.owned:
    redis.close()

# %% [markdown]
# ## Key points
#
# - Each worker process has its own `ConnectionManager`: without a broker, clients of two
#   workers are in two different rooms, and each count is wrong.
# - With a broker, each worker publishes what its own clients send, and delivers what the
#   broker hands it to its own clients. Delivering only from the broker, own lines included,
#   means nothing arrives twice and everyone sees one order.
# - Events are JSON, tagged with their kind, their worker and a sequence number; never pickle.
# - Redis pub/sub is at most once: a message published while a worker is not subscribed is
#   gone. Sequence numbers make the loss visible; heartbeats with each worker's full list of
#   clients keep the participant count right; a Stream keeps the messages (E8).
# - When Redis goes away, each worker keeps serving its own clients, tells them the room is
#   degraded, reconnects with capped exponential backoff and jitter, and announces recovery.
#
# **Next:** another elective, or back to the core track (the README lists them all).
#
# The last cell sums up your exercises, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.progress import show_progress
from wslab.checks.scaling import EXERCISES

progress = await show_progress(EXERCISES, globals())
