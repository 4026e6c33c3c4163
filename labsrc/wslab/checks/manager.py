"""Lesson 02's checks: the lecture's ConnectionManager, then one that no client can break.

Both checks drive the student's class with stand-in sockets (:class:`FakeSocket`) instead of a
server: a fake records what it was sent, and how, and can fail the way a vanished client fails,
or stall the way a client that never reads stalls. That makes every finding exact and quick to
report ("broadcast had not returned after 0.5 s ..."), where a live server would only show a
hang.

In the lesson the student writes the whole lecture manager, but of the safe manager only
``broadcast``: the rest of the class is given (``wslab.answers.manager.SafeConnectionManager``
is the whole of it). The safe check still judges the whole class, so a student who changes a
given method is told what that broke; the hints most students meet are about ``broadcast``.

A finding is named from what the class did and, where behaviour alone cannot tell two mistakes
apart, from its code: a call to an async method left without ``await`` (it only made a
coroutine, so nothing was sent or accepted), or an ``await`` inside ``broadcast`` that makes
the sender wait for one client. The lesson's "predict, then run" question (:data:`GHOST`) is
here too, judged on what :func:`wslab.misbehaving.ghost_demo` saw.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import contextvars
import inspect
import io
import json
from typing import Any

from starlette.websockets import WebSocketDisconnect

from wslab import lecture
from wslab.answers import manager as answers
from wslab.checks.core import (Failure, NotDone, call_method, common_exception,
                               describe_exception, missing_await_hint, run_async_check, shown,
                               source_of, unawaited_calls)
from wslab.checks.predictions import Question
from wslab.checks.progress import Exercise
from wslab.close_codes import KitCloseCode

#: The bound the safe-manager check gives the student's class: small, so a stalled client
#: fills it within a few messages.
CHECK_QUEUE = 4
#: How long one broadcast may take before the check says it waited for a client.
BROADCAST_PATIENCE = 0.5
#: More messages than any check sends to one client: a writer that sends this many is looping.
RUNAWAY = 1000
#: Async methods a manager calls. One of them called without ``await`` only makes a coroutine:
#: nothing is accepted, sent, queued or started.
ASYNC_METHODS = ("accept", "send_text", "send_json", "send_bytes", "close", "put", "_write",
                 "sleep")

# -- stand-in sockets ---------------------------------------------------------------------------


class FakeSocket:
    """A stand-in for a Starlette ``WebSocket`` that records what the manager does with it.

    ``sent`` is what reached the client, ``how`` the method each message was sent with.
    ``fail``: an exception every send raises (a client that is gone). ``stall``: sends (and the
    close) never finish, as with a client whose buffers are full because it stopped reading;
    :meth:`release` ends the stall, so no task is left waiting after a check.

    A send fails, as a real one would, when it is given something that is not text (say, a
    coroutine) or once :data:`RUNAWAY` messages have come: such sends do not wait, so a writer
    that loops on them would otherwise never give control back, and fill the memory.
    """

    def __init__(self, name: str, *, fail: BaseException | None = None,
                 stall: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.stall = stall
        self.accepted = False
        self.sent: list[Any] = []
        self.how: list[str] = []
        self.closed_with: tuple[int, str] | None = None
        self.url = type("URL", (), {"path": f"/ws/{name}"})()
        self.path_params = {"client_id": name}
        self._released = asyncio.Event()

    async def accept(self, *args: Any, **kwargs: Any) -> None:
        self.accepted = True

    async def _send(self, message: Any, how: str) -> None:
        if self.fail is not None:
            raise self.fail
        if self.stall:
            await self._released.wait()
            raise ConnectionResetError("the client finally went away")
        if len(self.sent) >= RUNAWAY:
            raise RuntimeError(f"{RUNAWAY} messages sent to one client: a loop without end")
        self.sent.append(message)
        self.how.append(how)

    async def send_text(self, message: str) -> None:
        await self._send(message, "send_text")
        if not isinstance(message, str):
            raise TypeError(f"send_text needs a str, not {type(message).__name__}")

    async def send_json(self, data: Any, mode: str = "text") -> None:
        await self._send(json.dumps(data), "send_json")

    async def send_bytes(self, data: bytes) -> None:
        await self._send(data, "send_bytes")

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with = (code, reason or "")
        if self.stall:
            await self._released.wait()

    def release(self) -> None:
        """End a stall, and close any coroutine the student's code sent instead of a message
        (the check has named it already; Python need not warn about it later)."""
        self._released.set()
        for message in self.sent:
            if inspect.iscoroutine(message):
                message.close()

    def __repr__(self) -> str:
        return f"<websocket {self.name}>"


async def settle(rounds: int = 20) -> None:
    """Let every task that is ready run (writers, closes), a few times over."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def _names(sockets: Any) -> list[str]:
    return sorted(getattr(ws, "name", repr(ws)) for ws in sockets)


def _unless_unawaited(cls: Any, hint: str) -> str:
    """``hint``, unless the class calls an async method without ``await``: that is the mistake
    then (whatever should have happened never ran)."""
    calls = unawaited_calls(cls, ASYNC_METHODS)
    return missing_await_hint(calls) if calls else hint


def _sent_wrongly(cls: Any, sockets: list[FakeSocket]) -> str | None:
    """The hint for a message sent in a way no client can read, or None."""
    how = {method for ws in sockets for method in ws.how}
    if any(inspect.iscoroutine(message) for ws in sockets for message in ws.sent):
        return ("What was sent is a coroutine object, not the message: an await is missing "
                "where the message is taken from the outbox (outbox.get() is an async method).")
    if any(len(ws.sent) >= RUNAWAY for ws in sockets):
        return ("A writer sent the same message over and over: it takes each message out of "
                "the outbox once, and waits for the next.")
    if "send_json" in how:
        return ("The message was sent with send_json: it is already JSON text (the endpoint "
                "built it with json.dumps), so send_json encodes it a second time, and clients "
                "get a string in quotes. Send it as it is, as text.")
    if "send_bytes" in how:
        return ("The message was sent with send_bytes, as a binary frame: the chat's messages "
                "are text, and the lecture's page reads text frames.")
    return None


# -- calling the student's methods --------------------------------------------------------------


def _make(cls: Any, *args: Any, call: str, hint: str, **kwargs: Any) -> Any:
    try:
        return cls(*args, **kwargs)
    except NotImplementedError:
        raise NotDone() from None
    except Exception as exc:
        raise Failure(tried=call, expected="a new manager", got=describe_exception(exc),
                      hint=common_exception(exc) or hint) from None


def _same_count(manager: Any, when: str) -> None:
    """connection_count must equal the number of active connections."""
    count, active = manager.connection_count, list(manager.active_connections)
    if count != len(active):
        raise Failure(tried=when, expected=f"connection_count == {len(active)} (the number of "
                      f"active connections: {', '.join(_names(active)) or 'none'})",
                      got=f"connection_count == {shown(count)}",
                      hint="Count the connections instead of keeping a separate counter: "
                           "`return len(...)` in a property can never drift.")


# -- check 1: the lecture's manager ------------------------------------------------------------


def _lecture_connected(cls: Any, manager: Any, ws: FakeSocket,
                       expected: list[FakeSocket]) -> None:
    """After ``connect(ws)``: accepted, in the list once, counted."""
    tried = f"await manager.connect({ws.name})"
    if not ws.accepted:
        raise Failure(tried=tried, expected=f"{ws.name}'s handshake accepted",
                      got="websocket.accept() never ran",
                      hint=_unless_unawaited(cls, "connect() never accepts the handshake: the "
                                                  "client waits for the server's answer until "
                                                  "accept() has run, and a send before it "
                                                  "fails."))
    active, count = list(manager.active_connections), manager.connection_count
    want = (f"active_connections == {expected} and connection_count == {len(expected)}")
    got = f"{shown(active)} and {shown(count)}"
    if ws not in active:
        hint = ("connect() did not add the websocket to self.active_connections: broadcast "
                "would never reach this client.")
    elif active.count(ws) > 1:
        hint = ("connect() added the websocket more than once: this client would get every "
                "message twice.")
    elif count == len(expected) - 1:
        hint = "connect() did not count the new connection: connection_count stayed the same."
    elif count != len(expected):
        hint = (f"connection_count is {shown(count)} after {len(expected)} connection(s): it "
                "goes up by one per connection.")
    else:
        return
    raise Failure(tried=f"connecting {', '.join(w.name for w in expected)}", expected=want,
                  got=got, hint=hint)


def _lecture_delivered(cls: Any, sockets: list[FakeSocket], want: list[str],
                       tried: str) -> None:
    """Every socket in ``sockets`` got exactly ``want``; else name how broadcast went wrong."""
    if all(ws.sent == want for ws in sockets):
        return
    got = ", ".join(f"{ws.name} got {shown(ws.sent, 60)}" for ws in sockets)
    reached = [ws.name for ws in sockets if ws.sent[-1:] == want[-1:]]
    if not reached:
        hint = ("broadcast sent nothing: it sends the message to every connection in "
                "self.active_connections.")
    elif any(len(ws.sent) > len(want) for ws in sockets):
        hint = "broadcast sent the message more than once to the same client."
    elif [ws.name for ws in sockets][:len(reached)] == reached:
        hint = (f"broadcast stopped after {reached[-1]}: a return (or break) inside the loop "
                "ends it before the other connections get the message.")
    else:
        hint = "broadcast sends the message, unchanged, to each connection in the list."
    raise Failure(tried=tried, expected=f"each got {want!r}", got=got,
                  hint=_sent_wrongly(cls, sockets) or _unless_unawaited(cls, hint))


def _lecture_disconnected(manager: Any, gone: FakeSocket, stay: list[FakeSocket]) -> None:
    """After ``disconnect(gone)``: it alone left the list, and the count went down by one."""
    active, count = list(manager.active_connections), manager.connection_count
    removed = [ws.name for ws in stay if ws not in active]
    if gone in active and removed:
        hint = (f"disconnect() removed {', '.join(removed)} instead of {gone.name}: remove the "
                "websocket it is given (list.pop() takes the last one, whoever it is).")
    elif removed:
        hint = (f"disconnect() removed {', '.join(removed)} as well: remove only the websocket "
                "it is given.")
    elif gone in active and count == len(stay) + 1:
        hint = (f"disconnect() changed nothing: {gone.name} is still in active_connections, "
                "and still counted.")
    elif gone in active:
        hint = (f"disconnect() does not remove the connection: {gone.name} is still in "
                "self.active_connections, so every broadcast keeps sending to a client that "
                "left (the demos show what that does to the sender).")
    elif count == len(stay) + 1:
        hint = (f"disconnect() removed {gone.name} but did not count down: connection_count "
                "still counts a client that left.")
    elif count != len(stay):
        hint = f"connection_count is {shown(count)} after one of three left: one less than 3."
    else:
        return
    raise Failure(tried=f"manager.disconnect({gone.name})",
                  expected=f"active_connections == {stay} and connection_count == {len(stay)}",
                  got=f"{shown(active)} and {shown(count)}", hint=hint)


async def _lecture_body(cls: Any) -> str:
    manager = _make(cls, call="ConnectionManager()",
                    hint="__init__ takes no arguments besides self.")
    other = _make(cls, call="ConnectionManager()", hint="__init__ takes no arguments.")
    for name in ("active_connections", "connection_count"):
        if not hasattr(manager, name):
            raise Failure(tried="manager = ConnectionManager()",
                          expected=f"manager.{name}", got=f"no attribute {name!r}",
                          hint="__init__ sets up both attributes, active_connections and "
                               "connection_count, with these names: the endpoint and the "
                               "lesson's demos read them.")
    if list(manager.active_connections) != [] or manager.connection_count != 0:
        raise Failure(tried="manager = ConnectionManager()",
                      expected="active_connections == [] and connection_count == 0",
                      got=f"{shown(manager.active_connections)} and "
                          f"{shown(manager.connection_count)}",
                      hint="A new manager knows no connections yet: an empty list, a count of 0.")

    ann, bob, cat = FakeSocket("ann"), FakeSocket("bob"), FakeSocket("cat")
    everyone = [ann, bob, cat]
    for n, ws in enumerate(everyone, 1):
        await call_method(manager.connect, ws, tried=f"await manager.connect({ws.name})",
                          expected="the connection accepted and kept",
                          hint="connect() accepts the handshake, then adds the websocket to the "
                               "list.")
        _lecture_connected(cls, manager, ws, everyone[:n])
    if list(other.active_connections) != []:
        raise Failure(tried="two managers; connect three clients to the first",
                      expected="the second manager still has no connections",
                      got=f"the second has {shown(list(other.active_connections))}",
                      hint="The list is shared by every manager: a list written in the class "
                           "body belongs to the class. Create it in __init__, on self.")

    await call_method(manager.broadcast, "hello", tried="await manager.broadcast('hello')",
                      expected="every client gets 'hello'",
                      hint="broadcast() sends the message to each connection in turn.")
    _lecture_delivered(cls, everyone, ["hello"],
                       "await manager.broadcast('hello') to ann, bob and cat")

    await call_method(manager.disconnect, bob, plain=True, tried="manager.disconnect(bob)",
                      expected="bob removed", hint="disconnect() removes the websocket it is "
                                                   "given from the list, and counts down.")
    _lecture_disconnected(manager, bob, [ann, cat])
    await call_method(manager.broadcast, "bye",
                      tried="await manager.broadcast('bye') after bob left",
                      expected="ann and cat get 'bye'",
                      hint="broadcast() sends to the connections that are still in the list.")
    _lecture_delivered(cls, [ann, cat], ["hello", "bye"],
                       "await manager.broadcast('bye') after bob left")
    if bob.sent != ["hello"]:
        raise Failure(tried="await manager.broadcast('bye') after bob left",
                      expected="bob gets nothing more", got=f"bob got {shown(bob.sent)}",
                      hint="Send to the connections in self.active_connections, nothing else.")
    return "connect accepts and counts, broadcast reaches everyone, disconnect removes."


async def check_lecture_manager(cls: Any) -> Any:
    """Exercise 1: the lecture's ``ConnectionManager``. Returns the class to carry on with."""
    async def body() -> str:
        with contextlib.redirect_stdout(io.StringIO()):  # the lecture's print() lines
            return await _lecture_body(cls)

    ok = await run_async_check("ConnectionManager", body, student=cls, timeout=5.0,
                               fallback="the lecture's ConnectionManager (wslab.lecture)")
    return cls if ok else lecture.ConnectionManager


# -- the lesson's prediction: a handler that dies ----------------------------------------------


def _ghost_outcome(seen: dict[str, list[str]]) -> str:
    """What the ghost demo showed: did Cat hear Bob, and is Ann still registered?"""
    if not any("anyone there?" in line for line in seen["cat"]):
        return "c"
    return "b" if "ann" in seen["registered"] else "a"


#: Ann's handler dies of a binary frame; then Bob speaks. The demo hands over what Bob and Cat
#: heard and who is still registered.
GHOST = Question(
    "predict: a handler that dies",
    options={"a": "Cat hears Bob, and the manager has forgotten Ann",
             "b": "Cat hears Bob; Ann is still registered, but that does no harm",
             "c": "Cat hears nothing, and Bob is thrown out too"},
    classify=_ghost_outcome,
    why="Ann's handler died of a KeyError, not of WebSocketDisconnect, so its except clause "
        "never ran and nobody called disconnect: Ann stayed in the list, a ghost. Bob's "
        "broadcast sent to her first, that send failed inside Bob's handler, and Bob's "
        "handler took the failure for Bob leaving.")


# -- check 2: the safe manager ------------------------------------------------------------------

# Set while the student's code runs inside the check: a task created in that context (a writer,
# a close) is the manager's, and the check can find the ones it leaves running.
_in_check: contextvars.ContextVar[bool] = contextvars.ContextVar("wslab_manager_check",
                                                                 default=False)


@contextlib.contextmanager
def _tasks_started_here():
    """Collect the tasks created by code running inside this block (and its own tasks)."""
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    started: list[asyncio.Task[Any]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        task = (previous(loop, coro, **kwargs) if previous is not None
                else asyncio.Task(coro, loop=loop, **kwargs))
        if _in_check.get():
            started.append(task)
        return task

    loop.set_task_factory(factory)
    token = _in_check.set(True)
    try:
        yield started
    finally:
        _in_check.reset(token)
        loop.set_task_factory(previous)


def _awaited_in(cls: Any, method: str) -> set[str]:
    """The names of the methods ``method``'s code awaits (``await outbox.put(...)`` -> put)."""
    function = getattr(cls, method, None)
    try:
        tree = ast.parse(source_of(function)) if function is not None else None
    except SyntaxError:
        tree = None
    names = set()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.Await) and isinstance(node.value, ast.Call):
            func = node.value.func
            names.add(func.attr if isinstance(func, ast.Attribute)
                      else getattr(func, "id", ""))
    return names


def _why_broadcast_waits(cls: Any) -> str:
    awaited = _awaited_in(cls, "broadcast")
    if "put" in awaited:
        return ("broadcast awaits outbox.put(...), which waits for room in a full outbox: for a "
                "client that never reads, that is for ever, and the sender waits with it. A "
                "full outbox is the sign to drop that client, not to wait.")
    if "close" in awaited:
        return ("broadcast awaits the slow client's close(): a close frame waits behind the same "
                "full buffers as the messages, so the sender waits too. drop() closes it in the "
                "background, without waiting.")
    if awaited & {"send_text", "send_json", "send_bytes", "gather", "wait_for"}:
        return ("broadcast awaits the sends itself, so one client that never reads makes the "
                "sender wait. Put the message in each client's outbox with put_nowait() and "
                "return: the writers send.")
    return _unless_unawaited(cls, "broadcast must not wait for any client: put the message in "
                                  "each outbox with put_nowait() and return.")


async def _delivered(cls: Any, manager: Any, message: str, *, when: str,
                     watch: list[FakeSocket]) -> None:
    """broadcast ``message``; it must return at once, without waiting for any client."""
    before = {ws.name: len(ws.sent) for ws in watch}

    def failed(exc: BaseException) -> str:
        if isinstance(exc, RuntimeError) and "changed size during iteration" in str(exc):
            return ("broadcast removed a client from self.outboxes while looping over it "
                    "(drop and disconnect do that): loop over a copy of the items instead.")
        if isinstance(exc, asyncio.QueueFull):
            return ("put_nowait() raised asyncio.QueueFull out of broadcast, into the sender's "
                    "handler. A full outbox means that client is not reading: catch QueueFull "
                    "and drop that client, and only it.")
        if isinstance(exc, TypeError) and "can't be used in 'await' expression" in str(exc):
            return ("Something broadcast awaits is not awaitable: drop() and disconnect() are "
                    "plain defs (they wait for nothing), so call them without await.")
        return ("A failed or slow client must never reach the sender: put the message in each "
                "outbox (put_nowait) and let the writers send.")

    try:
        await call_method(manager.broadcast, message,
                          tried=f"await manager.broadcast({message!r}) {when}",
                          expected="broadcast returns at once; the message is queued for every "
                                   "client", hint=failed, patience=BROADCAST_PATIENCE)
    except asyncio.TimeoutError:
        got = ", ".join(f"{ws.name} got {len(ws.sent) - before[ws.name]}" for ws in watch)
        raise Failure(tried=f"await manager.broadcast({message!r}) {when}",
                      expected=f"broadcast returns at once (within {BROADCAST_PATIENCE:g} s)",
                      got=f"broadcast waited {BROADCAST_PATIENCE:g} s and had not returned; "
                          f"meanwhile {got} new message(s)",
                      hint=_why_broadcast_waits(cls)) from None
    await settle()


def _writer(manager: Any, ws: FakeSocket) -> Any:
    """The writer the manager keeps for ``ws`` in ``self.writers``, if it keeps one there."""
    writers = getattr(manager, "writers", None)
    return writers.get(ws) if isinstance(writers, dict) else None


def _why_not_sent(cls: Any, manager: Any, sockets: list[FakeSocket]) -> str:
    """Why the healthy clients did not get what was broadcast, as far as the check can tell."""
    wrongly = _sent_wrongly(cls, sockets)
    if wrongly:
        return wrongly
    active = set(manager.active_connections)
    writers = [_writer(manager, ws) for ws in sockets]
    dropped = [ws.name for ws in sockets if ws not in active]
    if any(inspect.iscoroutine(writer) for writer in writers):
        return ("self.writers holds a coroutine, not a running task: calling an async method "
                "only makes a coroutine. Start the writer as a task (asyncio.create_task).")
    reached = [ws.name for ws in sockets if ws.sent]
    if reached and len(reached) < len(sockets) and not dropped:
        return (f"Only {', '.join(reached)} got the messages: broadcast stops early. A return "
                "(or break) inside the loop ends it before the other clients' outboxes.")
    if dropped:
        return (f"{', '.join(dropped)} {'was' if len(dropped) == 1 else 'were'} dropped though "
                "no send failed: the writer ended and disconnected its client before any "
                "message came. A writer waits for the next message (await outbox.get()) for as "
                "long as it takes.")
    return _unless_unawaited(cls, (
        "No message reached the clients: the messages wait in the outboxes until a writer sends "
        "them. Is a writer started in connect(), and does it loop: take the next message, "
        "send it?" if not any(ws.sent for ws in sockets) else
        "Each writer sends its own outbox's messages, in the order they came."))


def _why_still_there(manager: Any, ws: FakeSocket) -> str:
    """Why a client whose sends raise is still registered, from what its writer did."""
    raised = type(ws.fail).__name__
    writer = _writer(manager, ws)
    if isinstance(writer, asyncio.Task) and writer.done() and not writer.cancelled():
        error = writer.exception()
        if error is not None:
            return (f"{ws.name}'s writer died of the {type(error).__name__} its send raised, "
                    "without dropping its client. Catch every Exception around the send (not "
                    "only WebSocketDisconnect: Starlette raises RuntimeError once a connection "
                    "is closed), and disconnect that websocket.")
        return (f"{ws.name}'s writer stopped when its send raised {raised}, but did not "
                "disconnect its websocket: the client stays registered, a ghost.")
    if isinstance(writer, asyncio.Task) and not writer.done():
        return (f"{ws.name}'s writer caught the {raised} and carried on: a client whose send "
                "fails is gone. Disconnect it (and the writer ends).")
    return (f"When a send raises ({raised} here), the writer must disconnect its own "
            "websocket: catch every Exception around the send, not only WebSocketDisconnect.")


class _Run:
    """What one run of the safe-manager check made: the manager, and every stand-in socket."""

    def __init__(self) -> None:
        self.manager: Any = None
        self.fakes: list[FakeSocket] = []

    def fake(self, name: str, **kwargs: Any) -> FakeSocket:
        ws = FakeSocket(name, **kwargs)
        self.fakes.append(ws)
        return ws


async def _connect(cls: Any, manager: Any, ws: FakeSocket) -> None:
    tried = f"await manager.connect({ws.name})"
    await call_method(manager.connect, ws, tried=tried, expected="the connection accepted and kept",
                      hint="connect() accepts, then creates the outbox and starts the writer.")
    if not ws.accepted:
        raise Failure(tried=tried, expected="accept() awaited",
                      got="websocket.accept() never ran",
                      hint=_unless_unawaited(cls, "connect() never accepts the handshake: the "
                                                  "client waits for the server's answer until "
                                                  "accept() has run."))
    if ws not in set(manager.active_connections):
        raise Failure(tried=tried, expected=f"{ws.name} in active_connections",
                      got=f"active_connections is {shown(list(manager.active_connections))}",
                      hint="connect() must give the websocket its outbox in self.outboxes: "
                           "active_connections lists the websockets that have one.")
    _same_count(manager, tried)


async def _disconnect(manager: Any, ws: FakeSocket, why: str) -> None:
    await call_method(manager.disconnect, ws, plain=True,
                      tried=f"manager.disconnect({ws.name}) ({why})", expected="no exception",
                      hint="Make disconnect() safe to call twice, or for a websocket it never "
                           "saw: the endpoint and the writer may both call it. A missing key is "
                           "not an error here (dict.pop has a default).")
    _same_count(manager, f"manager.disconnect({ws.name}) ({why})")


async def _safe_body(cls: Any, run: _Run) -> str:
    manager = run.manager = _make(
        cls, outbound_queue=CHECK_QUEUE, call=f"{cls.__name__}(outbound_queue={CHECK_QUEUE})",
        hint="Keep the parameter `outbound_queue`: how many messages may wait for one client.")
    ann, bob, cat = run.fake("ann"), run.fake("bob"), run.fake("cat")
    everyone = [ann, bob, cat]
    for ws in everyone:
        await _connect(cls, manager, ws)

    for message in ("m1", "m2"):
        await _delivered(cls, manager, message, when="to three healthy clients", watch=everyone)
    if any(ws.sent != ["m1", "m2"] for ws in everyone):
        raise Failure(tried="broadcast 'm1', then 'm2', to ann, bob and cat",
                      expected="each client gets ['m1', 'm2'], in that order",
                      got=", ".join(f"{w.name} got {shown(w.sent, 60)}" for w in everyone),
                      hint=_why_not_sent(cls, manager, everyone))

    # A client leaves; the endpoint and the writer may both say so; so may a stranger.
    await _disconnect(manager, cat, "cat leaves")
    if cat in set(manager.active_connections):
        raise Failure(tried="manager.disconnect(cat)", expected="cat no longer connected",
                      got=f"active_connections is {shown(list(manager.active_connections))}",
                      hint="disconnect() does not remove the connection: cat keeps its outbox "
                           "in self.outboxes, so it is still listed and counted, and every "
                           "broadcast queues messages for a client that left.")
    stranger = run.fake("stranger")
    await _disconnect(manager, cat, "cat again: the endpoint and the writer may both call it")
    await _disconnect(manager, stranger, "a websocket that never connected")
    await _delivered(cls, manager, "m3", when="after cat left", watch=[ann, bob])
    if cat.sent != ["m1", "m2"] or ann.sent[-1:] != ["m3"] or bob.sent[-1:] != ["m3"]:
        raise Failure(tried="broadcast 'm3' after cat left",
                      expected="ann and bob get 'm3', cat nothing more",
                      got=f"ann got {ann.sent!r}, bob got {bob.sent!r}, cat got {cat.sent!r}",
                      hint="disconnect() forgets the outbox and stops the writer; the others "
                           "carry on.")

    # Two clients that vanished: their sends fail, in the two ways Starlette reports it.
    gone = run.fake("gone", fail=WebSocketDisconnect(code=1006))
    closed = run.fake("closed", fail=RuntimeError(
        'Cannot call "send" once a close message has been sent.'))
    for ws in (gone, closed):
        await _connect(cls, manager, ws)
    await _delivered(cls, manager, "m4", when="while two clients have vanished (their sends "
                     "raise)", watch=[ann, bob])
    if ann.sent[-1:] != ["m4"] or bob.sent[-1:] != ["m4"]:
        raise Failure(tried="broadcast 'm4' while gone's and closed's sends raise",
                      expected="ann and bob still get 'm4'",
                      got=f"ann got {ann.sent!r}, bob got {bob.sent!r}",
                      hint="A failed send must end only that client's writer.")
    for ws in (gone, closed):
        if ws in set(manager.active_connections):
            raise Failure(tried=f"broadcast 'm4' while {ws.name}'s send raises "
                                f"{shown(ws.fail, 80)}",
                          expected=f"{ws.name} dropped from active_connections",
                          got=f"{ws.name} is still there", hint=_why_still_there(manager, ws))
    _same_count(manager, "two clients whose sends failed")
    await _disconnect(manager, gone, "gone, which its writer dropped already")

    # A client that never reads: its first send never finishes.
    lazy = run.fake("lazy", stall=True)
    await _connect(cls, manager, lazy)
    healthy = [ann, bob]
    before = {ws.name: len(ws.sent) for ws in healthy}
    dropped_after = None
    for n in range(1, CHECK_QUEUE + 4):
        await _delivered(cls, manager, f"s{n}", watch=healthy,
                         when=f"(message {n} since lazy stopped reading)")
        if lazy not in set(manager.active_connections):
            dropped_after = n
            break
    if dropped_after is None:
        outbox = getattr(manager, "outboxes", {}).get(lazy)
        bounded = isinstance(outbox, asyncio.Queue) and outbox.maxsize > 0
        raise Failure(tried=f"{CHECK_QUEUE + 3} broadcasts while lazy never finishes a send "
                            f"(outbound_queue={CHECK_QUEUE})",
                      expected=f"lazy dropped once its outbox is full (after {CHECK_QUEUE + 1} "
                               f"or {CHECK_QUEUE + 2} messages)",
                      got=f"lazy is still connected; its outbox is full ({outbox.qsize()} "
                          "messages wait)" if bounded else
                          f"lazy is still connected, with {CHECK_QUEUE + 3} messages for it: "
                          "its outbox grows without limit",
                      hint="lazy's outbox is full, yet lazy is still connected, and misses "
                           "every message from now on. When put_nowait() raises "
                           "asyncio.QueueFull, drop that client: self.drop(...) with the "
                           "websocket whose outbox is full." if bounded else
                           "An outbox without a bound never fills up, so a client that never "
                           "reads is never dropped, and its messages pile up in memory. Give "
                           "each outbox its bound (maxsize=self.outbound_queue), and drop the "
                           "client when it is full (asyncio.QueueFull).")
    if dropped_after <= CHECK_QUEUE:
        raise Failure(tried=f"broadcasts while lazy never finishes a send "
                            f"(outbound_queue={CHECK_QUEUE})",
                      expected=f"lazy kept until its outbox is full (more than {CHECK_QUEUE} "
                               "messages waiting)",
                      got=f"lazy was dropped after only {dropped_after} message(s)",
                      hint="A client may be a few messages behind (a phone on a slow network): "
                           "drop it only when put_nowait() raises asyncio.QueueFull.")
    wanted = [f"s{n}" for n in range(1, dropped_after + 1)]
    for ws in healthy:
        got = ws.sent[before[ws.name]:]
        if got != wanted:
            raise Failure(tried=f"broadcast s1..s{dropped_after} while lazy never reads",
                          expected=f"{ws.name} gets {wanted}",
                          got=f"{ws.name} got {got!r}",
                          hint="Each client's writer sends on its own; a stalled one must not "
                               "hold up the others.")
    _same_count(manager, "lazy was dropped")
    await settle()
    if lazy.closed_with is None or lazy.closed_with[0] != KitCloseCode.TOO_SLOW:
        raise Failure(tried="lazy's outbox filled up and lazy was dropped",
                      expected=f"lazy told why: websocket.close(code={KitCloseCode.TOO_SLOW}, ...)",
                      got="close() was never called" if lazy.closed_with is None
                          else f"close(code={lazy.closed_with[0]})",
                      hint=_unless_unawaited(cls, (
                          "The slow client was dropped without a word: disconnect() only forgets "
                          f"it. drop() also closes it, with code {KitCloseCode.TOO_SLOW}, which tells "
                          "its page that it was too slow (in the background, because that close "
                          "waits behind the full buffer)." if lazy.closed_with is None else
                          f"The slow client was closed with {lazy.closed_with[0]}: close it with "
                          f"code {KitCloseCode.TOO_SLOW}, which tells its page that it was too slow, "
                          "in the background, as drop() does.")))
    return (f"survives clients that vanish and one that never reads (dropped after "
            f"{dropped_after} messages, closed with {KitCloseCode.TOO_SLOW}); disconnect is safe twice; "
            "the count always matches.")


async def _safe_body_cleaning_up(cls: Any) -> str:
    """Run the check; then let every client leave, and see that no task of the manager runs on.

    Whatever happens, every task the student's manager started is ended before returning, so a
    stuck writer cannot outlive the check (and later print a warning into some other cell).
    """
    run = _Run()
    running: list[asyncio.Task[Any]] = []
    quiet = contextlib.redirect_stdout(io.StringIO())  # print() lines in the student's class
    with quiet, _tasks_started_here() as started:
        try:
            detail = await _safe_body(cls, run)
            for ws in list(run.manager.active_connections):
                await _disconnect(run.manager, ws, "the last clients leave")
        finally:
            for fake in run.fakes:
                fake.release()
            await settle()
            running = [task for task in started if not task.done()]
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            for task in started:  # a writer that died of its own error: read it, quietly
                if task.done() and not task.cancelled():
                    task.exception()
    if running:
        names = sorted({_coroutine_name(task) for task in running})
        raise Failure(tried="every client left (disconnect was called for each, or its send "
                            "failed)",
                      expected="no task of the manager still running",
                      got=f"{len(running)} task(s) still running: {', '.join(names)}",
                      hint="disconnect() forgets the writer but leaves it running: cancel the "
                           "connection's writer task, or every client that ever connected "
                           "leaves a task behind, waiting for ever.")
    return detail


def _coroutine_name(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or type(coro).__name__


async def check_safe_manager(cls: Any) -> Any:
    """Exercise 2: a manager with the lecture's API that no single client can break.

    Returns the class to carry on with: the student's once it passes, the lesson's own
    (``wslab.answers.manager``) until then.
    """
    ok = await run_async_check("SafeConnectionManager", lambda: _safe_body_cleaning_up(cls),
                               fallback="the lesson's SafeConnectionManager", timeout=8.0,
                               student=cls)
    return cls if ok else answers.SafeConnectionManager


EXERCISES = (
    Exercise("ConnectionManager", check_lecture_manager, reads=("ConnectionManager",)),
    GHOST,
    Exercise("SafeConnectionManager", check_safe_manager, reads=("SafeConnectionManager",)),
)
