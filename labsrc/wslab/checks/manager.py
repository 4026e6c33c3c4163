"""Lesson 03's checks: the lecture's ConnectionManager, then one that a bad client cannot break.

Both checks drive the student's class with stand-in sockets (:class:`FakeSocket`) instead of a
server: a fake records what it was sent, and can fail the way a vanished client fails, or stall
the way a client that never reads stalls. That makes every failure exact and quick to report
("broadcast had not returned after 0.5 s ..."), where a live server would only show a hang.

"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import io
from typing import Any, Callable

from starlette.websockets import WebSocketDisconnect

from wslab import lecture
from wslab.checks.core import Failure, NotDone, describe_exception, run_async_check, shown
from wslab.envelope import CLOSE_TOO_SLOW
from wslab.manager import ConnectionManager as SafeReference

#: The bound the safe-manager check gives the student's class: small, so a stalled client
#: fills it within a few messages.
CHECK_QUEUE = 4
#: How long one broadcast may take before the check says it waited for a client.
BROADCAST_PATIENCE = 0.5

# -- stand-in sockets ---------------------------------------------------------------------------


class FakeSocket:
    """A stand-in for a Starlette ``WebSocket`` that records what the manager does with it.

    ``fail``: an exception every send raises (a client that is gone). ``stall``: sends (and the
    close) never finish, as with a client whose buffers are full because it stopped reading;
    :meth:`release` ends the stall, so no task is left waiting after a check.
    """

    def __init__(self, name: str, *, fail: BaseException | None = None,
                 stall: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.stall = stall
        self.accepted = False
        self.sent: list[str] = []
        self.closed_with: tuple[int, str] | None = None
        self.url = type("URL", (), {"path": f"/ws/{name}"})()
        self.path_params = {"client_id": name}
        self._released = asyncio.Event()

    async def accept(self, *args: Any, **kwargs: Any) -> None:
        self.accepted = True

    async def send_text(self, message: str) -> None:
        if self.fail is not None:
            raise self.fail
        if self.stall:
            await self._released.wait()
            raise ConnectionResetError("the client finally went away")
        self.sent.append(message)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with = (code, reason or "")
        if self.stall:
            await self._released.wait()

    def release(self) -> None:
        self._released.set()

    def __repr__(self) -> str:
        return f"<websocket {self.name}>"


async def settle(rounds: int = 20) -> None:
    """Let every task that is ready run (writers, closes), a few times over."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def _names(sockets: Any) -> list[str]:
    return sorted(getattr(ws, "name", repr(ws)) for ws in sockets)


def _make(cls: Any, *args: Any, call: str, hint: str, **kwargs: Any) -> Any:
    try:
        return cls(*args, **kwargs)
    except NotImplementedError:
        raise NotDone() from None
    except Exception as exc:
        raise Failure(tried=call, expected="a new manager", got=describe_exception(exc),
                      hint=hint) from None


async def _call(tried: str, expected: str, hint: str, method: Callable[..., Any],
                *args: Any, is_async: bool = True, patience: float | None = None) -> Any:
    """Call one of the student's methods; turn whatever goes wrong into a precise Failure."""
    try:
        result = method(*args)
        if is_async:
            if not inspect.isawaitable(result):
                raise Failure(tried=tried, expected=expected,
                              got=f"it returned {shown(result)} instead of something to await",
                              hint=f"Write it as `async def {method.__name__}(...)`: it awaits "
                                   "the websocket, and the endpoint awaits it.")
            if patience is None:
                result = await result
            else:
                result = await asyncio.wait_for(result, patience)
        elif inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            raise Failure(tried=tried, expected=expected,
                          got="it returned a coroutine: nothing ran",
                          hint=f"{method.__name__} is a plain `def` in the lecture: the endpoint "
                               "calls it without `await`, so an `async def` would never run.")
        return result
    except (Failure, NotImplementedError, asyncio.TimeoutError):
        raise
    except Exception as exc:
        raise Failure(tried=tried, expected=expected, got=describe_exception(exc),
                      hint=hint) from None


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


async def _lecture_body(cls: Any) -> str:
    quiet = contextlib.redirect_stdout(io.StringIO())  # the lecture's print() lines
    with quiet:
        manager = _make(cls, call="ConnectionManager()",
                        hint="__init__ takes no arguments besides self.")
        other = _make(cls, call="ConnectionManager()", hint="__init__ takes no arguments.")
        for name in ("active_connections", "connection_count"):
            if not hasattr(manager, name):
                raise Failure(tried="manager = ConnectionManager()",
                              expected=f"manager.{name}", got=f"no attribute {name!r}",
                              hint="Set both attributes in __init__: "
                                   "self.active_connections = [] and self.connection_count = 0.")
        if list(manager.active_connections) != [] or manager.connection_count != 0:
            raise Failure(tried="manager = ConnectionManager()",
                          expected="active_connections == [] and connection_count == 0",
                          got=f"{shown(manager.active_connections)} and "
                              f"{shown(manager.connection_count)}",
                          hint="A new manager knows no connections yet.")

        ann, bob, cat = FakeSocket("ann"), FakeSocket("bob"), FakeSocket("cat")
        for n, ws in enumerate((ann, bob, cat), 1):
            await _call(f"await manager.connect({ws.name})", "the connection accepted and kept",
                        "connect() accepts the handshake, then adds the websocket to the list.",
                        manager.connect, ws)
            if not ws.accepted:
                raise Failure(tried=f"await manager.connect({ws.name})",
                              expected=f"{ws.name}'s handshake accepted",
                              got="websocket.accept() was never awaited",
                              hint="Start connect() with `await websocket.accept()`: until then "
                                   "the client is still waiting for the server's answer.")
            if set(manager.active_connections) != {ann, bob, cat}.intersection(
                    (ann, bob, cat)[:n]) or manager.connection_count != n:
                raise Failure(tried=f"connecting {', '.join(w.name for w in (ann, bob, cat)[:n])}",
                              expected=f"active_connections == {[ann, bob, cat][:n]} and "
                                       f"connection_count == {n}",
                              got=f"{shown(list(manager.active_connections))} and "
                                  f"{shown(manager.connection_count)}",
                              hint="Append the websocket to self.active_connections and add 1 "
                                   "to self.connection_count.")
        if list(other.active_connections) != []:
            raise Failure(tried="two managers; connect three clients to the first",
                          expected="the second manager still has no connections",
                          got=f"the second has {shown(list(other.active_connections))}",
                          hint="Create the list in __init__ (self.active_connections = []), not "
                               "in the class body: a list in the class body is shared by every "
                               "manager.")

        await _call("await manager.broadcast('hello')", "every client gets 'hello'",
                    "broadcast() sends the message to each connection in turn.",
                    manager.broadcast, "hello")
        missing = [ws.name for ws in (ann, bob, cat) if ws.sent != ["hello"]]
        if missing:
            raise Failure(tried="await manager.broadcast('hello') to ann, bob and cat",
                          expected="each got ['hello']",
                          got=", ".join(f"{ws.name} got {ws.sent!r}" for ws in (ann, bob, cat)),
                          hint="Loop over every connection and `await connection.send_text"
                               "(message)` for each; a `return` inside the loop stops early.")

        await _call("manager.disconnect(bob)", "bob removed",
                    "disconnect() removes the websocket from the list.",
                    manager.disconnect, bob, is_async=False)
        if bob in list(manager.active_connections) or manager.connection_count != 2:
            raise Failure(tried="manager.disconnect(bob)",
                          expected="active_connections == [ann, cat] and connection_count == 2",
                          got=f"{shown(list(manager.active_connections))} and "
                              f"{shown(manager.connection_count)}",
                          hint="Remove the websocket from the list and subtract 1 from the "
                               "count.")
        await _call("await manager.broadcast('bye') after bob left", "ann and cat get 'bye'",
                    "broadcast() sends to the connections that are still in the list.",
                    manager.broadcast, "bye")
        if ann.sent[-1:] != ["bye"] or cat.sent[-1:] != ["bye"] or bob.sent != ["hello"]:
            raise Failure(tried="await manager.broadcast('bye') after bob left",
                          expected="ann and cat get 'bye', bob nothing more",
                          got=f"ann {ann.sent!r}, bob {bob.sent!r}, cat {cat.sent!r}",
                          hint="Send to the connections in self.active_connections, nothing else.")
    return "connect accepts and counts, broadcast reaches everyone, disconnect removes."


async def check_lecture_manager(cls: Any) -> Any:
    """Exercise 1: the lecture's ``ConnectionManager``. Returns the class to carry on with."""
    ok = await run_async_check("ConnectionManager", lambda: _lecture_body(cls),
                               fallback="the lecture's ConnectionManager (wslab.lecture)",
                               timeout=5.0)
    return cls if ok else lecture.ConnectionManager


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


async def _delivered(manager: Any, message: str, *, when: str,
                     watch: list[FakeSocket]) -> None:
    """broadcast ``message``; it must return at once, without waiting for any client."""
    before = {ws.name: len(ws.sent) for ws in watch}
    try:
        await _call(f"await manager.broadcast({message!r}) {when}",
                    "broadcast returns at once; the message is queued for every client",
                    "A failed or slow client must never reach the sender: put the message in "
                    "each outbox (put_nowait) and let the writers send.",
                    manager.broadcast, message, patience=BROADCAST_PATIENCE)
    except asyncio.TimeoutError:
        got = ", ".join(f"{ws.name} got {len(ws.sent) - before[ws.name]}" for ws in watch)
        raise Failure(tried=f"await manager.broadcast({message!r}) {when}",
                      expected=f"broadcast returns at once (within {BROADCAST_PATIENCE:g} s)",
                      got=f"broadcast waited {BROADCAST_PATIENCE:g} s and had not returned; "
                          f"meanwhile {got} new message(s)",
                      hint="broadcast must not await any send (nor a close): put the message "
                           "in each client's outbox with put_nowait() and return. A full "
                           "outbox means that client is not reading: drop it.") from None
    await settle()


class _Run:
    """What one run of the safe-manager check made: the manager, and every stand-in socket."""

    def __init__(self) -> None:
        self.manager: Any = None
        self.fakes: list[FakeSocket] = []

    def fake(self, name: str, **kwargs: Any) -> FakeSocket:
        ws = FakeSocket(name, **kwargs)
        self.fakes.append(ws)
        return ws


async def _connect(manager: Any, ws: FakeSocket) -> None:
    await _call(f"await manager.connect({ws.name})", "the connection accepted and kept",
                "connect() accepts, then creates the outbox and starts the writer.",
                manager.connect, ws)
    if not ws.accepted:
        raise Failure(tried=f"await manager.connect({ws.name})", expected="accept() awaited",
                      got="websocket.accept() was never awaited",
                      hint="Start connect() with `await websocket.accept()`.")
    if ws not in set(manager.active_connections):
        raise Failure(tried=f"await manager.connect({ws.name})",
                      expected=f"{ws.name} in active_connections",
                      got=f"active_connections is {shown(list(manager.active_connections))}",
                      hint="connect() must give the websocket its outbox in self.outboxes.")
    _same_count(manager, f"await manager.connect({ws.name})")


async def _safe_body(cls: Any, run: _Run) -> str:
    manager = run.manager = _make(
        cls, outbound_queue=CHECK_QUEUE, call=f"{cls.__name__}(outbound_queue={CHECK_QUEUE})",
        hint="Keep the parameter `outbound_queue`: how many messages may wait for one client.")
    ann, bob, cat = run.fake("ann"), run.fake("bob"), run.fake("cat")
    everyone = [ann, bob, cat]
    for ws in everyone:
        await _connect(manager, ws)

    for message in ("m1", "m2"):
        await _delivered(manager, message, when="to three healthy clients", watch=everyone)
    for ws in everyone:
        if ws.sent != ["m1", "m2"]:
            raise Failure(tried="broadcast 'm1', then 'm2', to ann, bob and cat",
                          expected="each client gets ['m1', 'm2'], in that order",
                          got=", ".join(f"{w.name} got {w.sent!r}" for w in everyone),
                          hint="Each writer loops: `message = await outbox.get()`, then "
                               "`await websocket.send_text(message)`. Is it started in "
                               "connect()?")

    # Two clients that vanished: their sends fail, in the two ways Starlette reports it.
    gone = run.fake("gone", fail=WebSocketDisconnect(code=1006))
    closed = run.fake("closed", fail=RuntimeError(
        'Cannot call "send" once a close message has been sent.'))
    for ws in (gone, closed):
        await _connect(manager, ws)
    await _delivered(manager, "m3", when="while two clients have vanished (their sends raise)",
                     watch=everyone)
    if any(ws.sent[-1:] != ["m3"] for ws in everyone):
        raise Failure(tried="broadcast 'm3' while gone's and closed's sends raise",
                      expected="ann, bob and cat still get 'm3'",
                      got=", ".join(f"{w.name} got {w.sent!r}" for w in everyone),
                      hint="A failed send must end only that client's writer.")
    left = [ws.name for ws in (gone, closed) if ws in set(manager.active_connections)]
    if left:
        raised = {"gone": "WebSocketDisconnect(code=1006)",
                  "closed": "RuntimeError('Cannot call \"send\" once a close message has been "
                            "sent.')"}
        raise Failure(tried="broadcast 'm3' while two clients' sends raise",
                      expected="both dropped from active_connections",
                      got=f"still there: {', '.join(left)} (its send raised {raised[left[0]]})",
                      hint="In the writer, catch every Exception around the send, not only "
                           "WebSocketDisconnect (Starlette raises RuntimeError once a "
                           "connection is closed), and call self.disconnect(websocket).")
    _same_count(manager, "two clients whose sends failed")

    # disconnect twice, for a client its writer dropped already, for one never seen.
    stranger = run.fake("stranger")
    for ws, why in ((cat, "cat leaves"),
                    (cat, "cat again: the endpoint and the writer may both call it"),
                    (gone, "gone, which its writer dropped already"),
                    (stranger, "a websocket that never connected")):
        await _call(f"manager.disconnect({ws.name}) ({why})", "no exception",
                    "Make disconnect() safe to call twice: self.outboxes.pop(websocket, None) "
                    "instead of del or list.remove.",
                    manager.disconnect, ws, is_async=False)
        _same_count(manager, f"manager.disconnect({ws.name}) ({why})")
    await _delivered(manager, "m4", when="after cat left", watch=[ann, bob])
    if cat.sent != ["m1", "m2", "m3"] or ann.sent[-1:] != ["m4"] or bob.sent[-1:] != ["m4"]:
        raise Failure(tried="broadcast 'm4' after cat left",
                      expected="ann and bob get 'm4', cat nothing more",
                      got=f"ann got {ann.sent!r}, bob got {bob.sent!r}, cat got {cat.sent!r}",
                      hint="disconnect() must remove the outbox and stop the writer.")

    # A client that never reads: its first send never finishes.
    lazy = run.fake("lazy", stall=True)
    await _connect(manager, lazy)
    healthy = [ann, bob]
    before = {ws.name: len(ws.sent) for ws in healthy}
    dropped_after = None
    for n in range(1, CHECK_QUEUE + 4):
        await _delivered(manager, f"s{n}", watch=healthy,
                         when=f"(message {n} since lazy stopped reading)")
        if lazy not in set(manager.active_connections):
            dropped_after = n
            break
    if dropped_after is None:
        raise Failure(tried=f"{CHECK_QUEUE + 3} broadcasts while lazy never finishes a send "
                            f"(outbound_queue={CHECK_QUEUE})",
                      expected=f"lazy dropped once its outbox is full (after {CHECK_QUEUE + 1} "
                               f"or {CHECK_QUEUE + 2} messages)",
                      got=f"lazy is still connected, with {CHECK_QUEUE + 3} messages for it: "
                          "its outbox grows without limit",
                      hint="Create each outbox with asyncio.Queue(maxsize=self.outbound_queue); "
                           "when put_nowait() raises asyncio.QueueFull, that client is not "
                           "reading: drop it.")
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
    if lazy.closed_with is None or lazy.closed_with[0] != CLOSE_TOO_SLOW:
        raise Failure(tried="lazy's outbox filled up and lazy was dropped",
                      expected=f"lazy told why: websocket.close(code={CLOSE_TOO_SLOW}, ...)",
                      got="close() was never called" if lazy.closed_with is None
                          else f"close(code={lazy.closed_with[0]})",
                      hint=f"When you drop a slow client, call close_in_background(websocket, "
                           f"{CLOSE_TOO_SLOW}, \"too slow\"): the code tells its page why. In "
                           "the background, because that close waits behind the full buffer.")
    return (f"survives clients that vanish and one that never reads (dropped after "
            f"{dropped_after} messages, closed with {CLOSE_TOO_SLOW}); disconnect is safe twice; "
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
                await _call(f"manager.disconnect({ws.name})", "no exception",
                            "disconnect() must work for any connected websocket.",
                            run.manager.disconnect, ws, is_async=False)
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
                      hint="disconnect() should cancel the connection's writer "
                           "(self.writers.pop(websocket, None), then .cancel()); otherwise "
                           "every client that ever connected leaves a task behind.")
    return detail


def _coroutine_name(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or type(coro).__name__


async def check_safe_manager(cls: Any) -> Any:
    """Exercise 2: a manager with the lecture's API that no single client can break.

    Returns the class to carry on with: the student's once it passes, ``wslab.manager``'s until
    then.
    """
    ok = await run_async_check("SafeConnectionManager", lambda: _safe_body_cleaning_up(cls),
                               fallback="wslab's ConnectionManager (wslab.manager)", timeout=8.0)
    return cls if ok else SafeReference
