"""Lesson 02's checks: each wrong manager gets a hint, first, that names its mistake; right ones
in another style than the solution pass; the kit's own classes and the stubs never do."""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import re
from pathlib import Path

import nbformat
import pytest
import websockets
from starlette.websockets import WebSocketDisconnect

from exercises import fresh, judged, never_passed, none_passed, untouched, wrong_in_the_notebook
from mutants import mutant, mutant_of
from verdicts import failure
from wslab import lecture
from wslab.answers import manager as answers
from wslab.checks import manager as checks
from wslab.checks.manager import GHOST, FakeSocket, check_lecture_manager, check_safe_manager
from wslab.checks.progress import show_progress
from wslab.manager import ConnectionManager as WslabManager
from wslab.runner import BackgroundServer

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "labsrc" / "lessons" / "02_chat_room.py"
STUDENT_NOTEBOOK = ROOT / "notebooks" / "02_chat_room.ipynb"


# -- the lecture's manager -----------------------------------------------------------------------


class LectureStub:
    def __init__(self):
        raise NotImplementedError("exercise: ConnectionManager.__init__")


def lecture_mutant(name, *edits, **names):
    """The lecture's ConnectionManager with ``edits`` made: a wrong answer named ``name``."""
    return mutant_of(answers.ConnectionManager, name, *edits, **names)


def safe_mutant(name, *edits, **names):
    """The lesson's SafeConnectionManager with ``edits`` made: a wrong answer named ``name``."""
    return mutant_of(answers.SafeConnectionManager, name, *edits, **names)


#: __init__ and connect written, disconnect and broadcast still the stubs.
HalfDone = lecture_mutant("HalfDone",
                          ("self.active_connections.remove(websocket)",
                           'raise NotImplementedError("exercise: ConnectionManager.disconnect")'),
                          ("for connection in self.active_connections:\n"
                           "            await connection.send_text(message)",
                           'raise NotImplementedError("exercise: ConnectionManager.broadcast")'))


class Lecture:
    """Another style than the lecture's: a rebuilt list, a count taken from it, and a
    broadcast that sends to everyone at once."""

    def __init__(self):
        self.active_connections = list()
        self.connection_count = 0

    async def connect(self, websocket):
        await websocket.accept()
        self.active_connections += [websocket]
        self.connection_count = len(self.active_connections)

    def disconnect(self, websocket):
        self.active_connections = [ws for ws in self.active_connections if ws is not websocket]
        self.connection_count = len(self.active_connections)

    async def broadcast(self, message):
        await asyncio.gather(*(ws.send_text(message) for ws in self.active_connections))


# The lecture's answer, each with one mistake.
ACCEPT = "await websocket.accept()"
APPEND = "self.active_connections.append(websocket)"
REMOVE = "self.active_connections.remove(websocket)"
SEND = "await connection.send_text(message)"

NoAccept = lecture_mutant("NoAccept", (ACCEPT, "pass"))
AcceptNotAwaited = lecture_mutant("AcceptNotAwaited",
                                  (ACCEPT, "websocket.accept()"))
NoCount = lecture_mutant("NoCount", ("self.connection_count += 1", "pass"))
NotKept = lecture_mutant("NotKept", (APPEND, "pass"))
SharedList = lecture_mutant("SharedList",
                            ("    def __init__(self):\n        self.active_connections = []",
                             "    active_connections = []  # in the class body: one for every"
                             " manager\n\n    def __init__(self):"))
ReturnsEarly = lecture_mutant("ReturnsEarly",
                              (SEND, f"{SEND}\n            return"))
SendNotAwaited = lecture_mutant("SendNotAwaited",
                                (SEND, "connection.send_text(message)"))
PlainDefBroadcast = lecture_mutant("PlainDefBroadcast",
                                   ("async def broadcast", "def broadcast"),
                                   (SEND, "connection.send_text(message)"))
AsyncDisconnect = lecture_mutant("AsyncDisconnect",
                                 ("def disconnect", "async def disconnect"))
ForgetsToRemove = lecture_mutant("ForgetsToRemove", (REMOVE, "pass"))
NoCountDown = lecture_mutant("NoCountDown",
                             ("self.connection_count -= 1", "pass"))
PopsTheLast = lecture_mutant("PopsTheLast",
                             (REMOVE, "self.active_connections.pop()"))
DisconnectDoesNothing = lecture_mutant("DisconnectDoesNothing",
                                       (REMOVE, "pass"), ("self.connection_count -= 1", "pass"))
SendsJson = lecture_mutant("SendsJson",
                           (SEND, "await connection.send_json(message)"))


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited")
@pytest.mark.parametrize("wrong, words", [
    (NoAccept, "connect() never accepts the handshake"),
    (AcceptNotAwaited, "`websocket.accept()` is a call to an async function without await"),
    (NoCount, "connect() did not count the new connection"),
    (NotKept, "connect() did not add the websocket to self.active_connections"),
    (SharedList, "The list is shared by every manager"),
    (ReturnsEarly, "broadcast stopped after ann: a return (or break) inside the loop"),
    (SendNotAwaited, "`connection.send_text(message)` is a call to an async function without "
                     "await"),
    (PlainDefBroadcast, "broadcast must be an async def"),
    (AsyncDisconnect, "disconnect is a plain def, not an async def"),
    (ForgetsToRemove, "disconnect() does not remove the connection: bob is still in "
                      "self.active_connections"),
    (NoCountDown, "disconnect() removed bob but did not count down"),
    (PopsTheLast, "disconnect() removed cat instead of bob"),
    (DisconnectDoesNothing, "disconnect() changed nothing"),
    (SendsJson, "sent with send_json: it is already JSON text"),
], ids=lambda value: getattr(value, "__name__", None))
async def test_each_wrong_lecture_manager_gets_the_hint_that_names_its_mistake(wrong, words,
                                                                               capsys):
    assert await check_lecture_manager(wrong) is lecture.ConnectionManager
    failure(capsys.readouterr().out, "ConnectionManager", hint=words)


@pytest.mark.parametrize("stub", [LectureStub, HalfDone])
async def test_lecture_stub_is_not_done_yet(stub, capsys):
    untouched(await check_lecture_manager(stub),
              lecture.ConnectionManager, "ConnectionManager", capsys)


@pytest.mark.parametrize("kits", [lecture.ConnectionManager, answers.ConnectionManager])
async def test_the_kits_own_lecture_manager_is_never_passed(kits, capsys):
    never_passed(await check_lecture_manager(kits),
                 lecture.ConnectionManager, "ConnectionManager", capsys)


@pytest.mark.parametrize("right", [Lecture, type("Copied", (lecture.ConnectionManager,), {}),
                                   type("Answer", (answers.ConnectionManager,), {})])
async def test_right_lecture_managers_pass(right, capsys):
    assert await check_lecture_manager(right) is right
    assert capsys.readouterr().out == ("✅ ConnectionManager: connect accepts and counts, "
                                       "broadcast reaches everyone, disconnect removes.\n")


# -- the prediction ----------------------------------------------------------------------------


@pytest.mark.parametrize("seen, happened", [
    ({"bob": ["(connection closed: no close frame)"], "cat": ["nothing"],
      "registered": ["ann", "cat"]}, "c"),
    ({"bob": ["bob: anyone there?"], "cat": ["bob: anyone there?"],
      "registered": ["bob", "cat"]}, "a"),
    ({"bob": ["bob: anyone there?"], "cat": ["bob: anyone there?"],
      "registered": ["ann", "bob", "cat"]}, "b"),
])
def test_the_prediction_is_judged_on_what_the_demo_saw(seen, happened, capsys):
    right, out = judged(GHOST, "a", seen, capsys)
    assert right is (happened == "a")
    assert f"what happened was ({happened})" in out or "you predicted it: (a)" in out
    assert "why: Ann's handler died of a KeyError" in out


# -- the safe manager: the student completes broadcast ------------------------------------------


class Given(answers.SafeConnectionManager):
    """The class as the student's notebook gives it: everything but broadcast written."""

    async def broadcast(self, message):
        raise NotImplementedError("exercise: SafeConnectionManager.broadcast")


class PutsByKey(Given):
    """A right broadcast in another style than the solution: by key, and asking whether an
    outbox is full instead of catching QueueFull."""

    async def broadcast(self, message):
        for websocket in list(self.outboxes):
            outbox = self.outboxes.get(websocket)
            if outbox is None:
                continue
            if outbox.full():
                self.drop(websocket)
            else:
                outbox.put_nowait(message)


# The lesson's answer, each with one mistake in broadcast.
PUT = "outbox.put_nowait(message)"
DROP = "self.drop(websocket)"
TRY_PUT = f"try:\n                {PUT}\n            except asyncio.QueueFull:"

AwaitsPut = safe_mutant("AwaitsPut",
                        (PUT, "await outbox.put(message)"))
#: Sends in broadcast, as the lecture does, past the outboxes.
SendsItself = safe_mutant("SendsItself",
                          (PUT, "await websocket.send_text(message)"))
#: Catches another exception than the one put_nowait() raises.
QueueFullNotCaught = safe_mutant("QueueFullNotCaught",
                                 ("except asyncio.QueueFull:", "except asyncio.QueueEmpty:"))
SwallowsQueueFull = safe_mutant("SwallowsQueueFull", (DROP, "pass"))
DropsTheOutbox = safe_mutant("DropsTheOutbox",
                             (DROP, "self.drop(outbox)"))
DisconnectsInsteadOfDropping = mutant_of(answers.SafeConnectionManager,
                                         "DisconnectsInsteadOfDropping",
                                         (DROP, "self.disconnect(websocket)"))
AwaitsDrop = safe_mutant("AwaitsDrop", (DROP, f"await {DROP}"))
IteratesTheLiveDict = safe_mutant("IteratesTheLiveDict",
                                  ("in list(self.outboxes.items()):", "in self.outboxes.items():"))
ReturnsEarlyFromBroadcast = safe_mutant("ReturnsEarly",
                                        (DROP, f"{DROP}\n            return"))
DropsWhenBehind = safe_mutant("DropsWhenBehind",
                              (TRY_PUT, "if not outbox.empty():"),
                              (DROP, f"{DROP}\n            else:\n                {PUT}"))
ClosesAndWaits = safe_mutant("ClosesAndWaits",
                             (DROP, "self.disconnect(websocket)\n"
                                    "                await websocket.close(code=4408)"))
WrongCloseCode = safe_mutant("WrongCloseCode",
                             (DROP, "self.disconnect(websocket)\n                self.closing.add("
                                    "asyncio.create_task(websocket.close(code=1000)))"))


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited")
@pytest.mark.parametrize("wrong, words", [
    (AwaitsPut, "broadcast awaits outbox.put(...)"),
    (SendsItself, "A failed or slow client must never reach the sender"),
    (QueueFullNotCaught, "put_nowait() raised asyncio.QueueFull out of broadcast"),
    (SwallowsQueueFull, "lazy's outbox is full, yet lazy is still connected"),
    (DropsTheOutbox, "self.drop(...) with the websocket whose outbox is full"),
    (DisconnectsInsteadOfDropping, "dropped without a word: disconnect() only forgets it"),
    (AwaitsDrop, "drop() and disconnect() are plain defs"),
    (IteratesTheLiveDict, "broadcast removed a client from self.outboxes while looping over it"),
    (ReturnsEarlyFromBroadcast, "Only ann got the messages: broadcast stops early"),
    (DropsWhenBehind, "drop it only when put_nowait() raises asyncio.QueueFull"),
    (ClosesAndWaits, "broadcast awaits the slow client's close()"),
    (WrongCloseCode, "The slow client was closed with 1000: close it with code 4408"),
], ids=lambda value: getattr(value, "__name__", None))
async def test_each_wrong_broadcast_gets_the_hint_that_names_its_mistake(wrong, words, capsys):
    assert await check_safe_manager(wrong) is answers.SafeConnectionManager
    failure(capsys.readouterr().out, "SafeConnectionManager", hint=words)


# -- the safe manager: a student who changes the given methods is told what that broke -----------


class Safe:
    """The whole class in another style than the lesson's: a writer that sends what it takes in
    one line, a disconnect that asks before it deletes, a close that catches instead of
    suppressing, a broadcast that asks whether an outbox is full."""

    def __init__(self, outbound_queue: int = 16):
        self.outbound_queue = outbound_queue
        self.outboxes = {}
        self.writers = {}
        self.closing = set()

    @property
    def active_connections(self):
        return list(self.outboxes)

    @property
    def connection_count(self):
        return len(self.outboxes)

    async def connect(self, websocket):
        await websocket.accept()
        self.outboxes[websocket] = asyncio.Queue(self.outbound_queue)
        writer = self._write(websocket, self.outboxes[websocket])
        self.writers[websocket] = asyncio.get_running_loop().create_task(writer)

    def disconnect(self, websocket):
        if websocket in self.outboxes:
            del self.outboxes[websocket]
        writer = self.writers.pop(websocket, None)
        if writer and writer is not asyncio.current_task():
            writer.cancel()

    def drop(self, websocket):
        self.disconnect(websocket)

        async def close():
            try:
                await asyncio.wait_for(websocket.close(code=4408, reason="too slow"), 5)
            except Exception:
                pass

        task = asyncio.ensure_future(close())
        self.closing.add(task)
        task.add_done_callback(self.closing.discard)

    async def broadcast(self, message):
        for websocket in list(self.outboxes):
            outbox = self.outboxes[websocket]
            if outbox.full():
                self.drop(websocket)
            else:
                outbox.put_nowait(message)

    async def _write(self, websocket, outbox):
        while True:
            try:
                await websocket.send_text(await outbox.get())
            except Exception:
                self.disconnect(websocket)
                return


class LectureWithQueue(lecture.ConnectionManager):
    """The lecture's manager, given the parameter."""

    def __init__(self, outbound_queue=16):
        super().__init__()


# The lesson's answer, each with one mistake in a method the lesson gives.
CREATE_WRITER = "asyncio.create_task(self._write(websocket, outbox))"
WRITER_GONE = "only its own writer notices\n            self.disconnect(websocket)"

NoQueueParameter = safe_mutant("NoQueueParameter",
                               ("def __init__(self, outbound_queue: int = 16):",
                                "def __init__(self):"),
                               ("self.outbound_queue = outbound_queue", "self.outbound_queue = 16"))
CatchesOnlyDisconnect = safe_mutant("CatchesOnlyDisconnect",
                                    ("except Exception:", "except WebSocketDisconnect:"),
                                    WebSocketDisconnect=WebSocketDisconnect)
QuitsWithoutDisconnecting = safe_mutant("QuitsWithoutDisconnecting",
                                        (WRITER_GONE, "only its own writer notices\n"
                                                      "            return"))
WriterNeverStarted = safe_mutant("WriterNeverStarted",
                                 (f"self.writers[websocket] = {CREATE_WRITER}", "pass"))
WriterNotATask = safe_mutant("WriterNotATask",
                             (CREATE_WRITER, "self._write(websocket, outbox)"))
WriterCalledNotStarted = safe_mutant("WriterCalledNotStarted",
                                     (f"self.writers[websocket] = {CREATE_WRITER}",
                                      "self._write(websocket, outbox)"))
GetNotAwaited = safe_mutant("GetNotAwaited",
                            ("message = await outbox.get()", "message = outbox.get()"))
SendNotAwaitedInWriter = safe_mutant("SendNotAwaitedInWriter",
                                     ("message = await outbox.get()\n"
                                      "                await websocket.send_text(message)",
                                      "websocket.send_text(await outbox.get())"))
GetNowait = safe_mutant("GetNowait",
                        ("await outbox.get()", "outbox.get_nowait()"))
RemoveRaisesTwice = safe_mutant("RemoveRaisesTwice",
                                ("self.outboxes.pop(websocket, None)",
                                 "del self.outboxes[websocket]"))
DisconnectKeepsOutbox = safe_mutant("DisconnectKeepsOutbox",
                                    ("self.outboxes.pop(websocket, None)", "pass"))
Unbounded = safe_mutant("Unbounded",
                        ("asyncio.Queue(maxsize=self.outbound_queue)", "asyncio.Queue()"))
LeaksWriters = safe_mutant("LeaksWriters",
                           ("writer.cancel()", "pass"))


class SwallowsAndCarriesOn(Safe):
    async def _write(self, websocket, outbox):
        while True:
            message = await outbox.get()
            try:
                await websocket.send_text(message)
            except Exception:
                continue


class CountsSeparately(Safe):
    def __init__(self, outbound_queue=16):
        super().__init__(outbound_queue)
        self.count = 0

    @property
    def connection_count(self):
        return self.count

    async def connect(self, websocket):
        await super().connect(websocket)
        self.count += 1

    def disconnect(self, websocket):
        super().disconnect(websocket)
        self.count -= 1


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited")
@pytest.mark.parametrize("wrong, words", [
    (NoQueueParameter, "Keep the parameter `outbound_queue`"),
    (LectureWithQueue, "Make disconnect() safe to call twice"),
    (CatchesOnlyDisconnect, "closed's writer died of the RuntimeError its send raised"),
    (SwallowsAndCarriesOn, "gone's writer caught the WebSocketDisconnect and carried on"),
    (QuitsWithoutDisconnecting, "gone's writer stopped when its send raised "
                                "WebSocketDisconnect, but did not disconnect"),
    (WriterNeverStarted, "No message reached the clients: the messages wait in the outboxes"),
    (WriterNotATask, "self.writers holds a coroutine, not a running task"),
    (WriterCalledNotStarted, "`self._write(websocket, outbox)` is a call to an async function "
                             "without await"),
    (GetNotAwaited, "What was sent is a coroutine object, not the message"),
    (SendNotAwaitedInWriter, "`websocket.send_text(await outbox.get())` is a call to an async "
                             "function without await"),
    (GetNowait, "ann, bob, cat were dropped though no send failed"),
    (RemoveRaisesTwice, "Make disconnect() safe to call twice"),
    (DisconnectKeepsOutbox, "disconnect() does not remove the connection"),
    (Unbounded, "An outbox without a bound never fills up"),
    (LeaksWriters, "disconnect() forgets the writer but leaves it running"),
    (CountsSeparately, "Count the connections instead of keeping a separate counter"),
], ids=lambda value: getattr(value, "__name__", None))
async def test_each_broken_given_method_gets_the_hint_that_names_its_mistake(wrong, words,
                                                                             capsys):
    assert await check_safe_manager(wrong) is answers.SafeConnectionManager
    failure(capsys.readouterr().out, "SafeConnectionManager", hint=words)


# -- the safe manager: stubs, the kit's own, right answers ------------------------------------


async def test_safe_stub_is_not_done_yet(capsys):
    untouched(await check_safe_manager(Given),
              answers.SafeConnectionManager, "SafeConnectionManager", capsys)


@pytest.mark.parametrize("kits", [answers.SafeConnectionManager, WslabManager])
async def test_the_kits_own_safe_managers_are_never_passed(kits, capsys):
    never_passed(await check_safe_manager(kits),
                 answers.SafeConnectionManager, "SafeConnectionManager", capsys)


@pytest.mark.parametrize("right", [PutsByKey, Safe])
async def test_a_right_safe_manager_in_another_style_passes(right, capsys):
    assert await check_safe_manager(right) is right
    out = capsys.readouterr().out
    assert out.startswith("✅ SafeConnectionManager: survives clients that vanish"), out
    assert re.search(r"dropped after [56] messages, closed with 4408", out), out


async def test_the_lessons_answer_and_the_kits_manager_would_pass(capsys):
    """The fallback meets the check, and so does the kit's hardened relative: only their being
    the kit's own keeps them from a ✅."""
    for kits in (answers.SafeConnectionManager, WslabManager):
        mine = type("Mine", (kits,), {})
        assert await check_safe_manager(mine) is mine
    assert capsys.readouterr().out.count("✅") == 2


async def test_no_task_outlives_the_check(capsys):
    """Whatever the student wrote, the check ends every task the manager started."""
    for cls in (PutsByKey, Safe, LeaksWriters, SendsItself, ClosesAndWaits, AwaitsPut,
                CatchesOnlyDisconnect, SwallowsAndCarriesOn, SwallowsQueueFull):
        before = {task for task in asyncio.all_tasks() if not task.done()}
        await check_safe_manager(cls)
        await asyncio.sleep(0)
        after = {task for task in asyncio.all_tasks() if not task.done()}
        assert after <= before, (cls.__name__, after - before)
    gc.collect()
    capsys.readouterr()


async def test_the_task_factory_is_given_back():
    loop = asyncio.get_running_loop()
    before = loop.get_task_factory()
    await check_safe_manager(PutsByKey)
    await check_safe_manager(Given)
    assert loop.get_task_factory() is before


async def test_fake_socket_stalls_until_released():
    lazy = FakeSocket("lazy", stall=True)
    send = asyncio.create_task(lazy.send_text("x"))
    await asyncio.sleep(0.05)  # a stall is progress that never comes: the wait is the behaviour
    assert not send.done()
    lazy.release()
    with pytest.raises(ConnectionResetError):
        await send


async def test_the_summary_judges_the_classes_the_notebook_holds_now(capsys):
    fresh(GHOST)
    statuses = await show_progress(checks.EXERCISES, {"ConnectionManager": LectureStub,
                                                      "SafeConnectionManager": PutsByKey})
    assert statuses == {"ConnectionManager": "not_done",
                        "predict: a handler that dies": "no_prediction",
                        "SafeConnectionManager": "passed"}
    assert "1 of 3 done" in capsys.readouterr().out


# -- the lesson shows the answer's class, broadcast left out -------------------------------------


def _given_cell() -> str:
    """The student's form of the lesson cell that holds SafeConnectionManager."""
    notebook = nbformat.read(STUDENT_NOTEBOOK, as_version=4)
    cell = next((cell.source for cell in notebook.cells if cell.cell_type == "code"
                 and "class SafeConnectionManager:" in cell.source), None)
    assert cell, "no SafeConnectionManager cell in the student notebook"
    return cell[cell.index("class SafeConnectionManager:"):]


def test_the_lesson_gives_the_answers_class_but_broadcast():
    """The given methods are the reference's, word for word: the two cannot drift apart."""
    given = _given_cell()
    reference = inspect.getsource(answers.SafeConnectionManager)
    cut = "    async def broadcast(self, message: str):\n"
    assert given[:given.index(cut)] == reference[:reference.index(cut)]
    assert "exercise: SafeConnectionManager.broadcast" in given[given.index(cut):]
    assert "### SOURCE wslab.answers.manager:SafeConnectionManager.connect" in \
        LESSON.read_text(encoding="utf-8")


# -- in the notebook -----------------------------------------------------------------------------

#: The lecture's answer as the student's cell, with a disconnect that forgets to remove.
LECTURE_WRONG = "from fastapi import WebSocket\n\n\n" + mutant(
    inspect.getsource(answers.ConnectionManager), REMOVE, "pass")


def _safe_wrong() -> str:
    """The notebook's cell with a broadcast that awaits put: it waits for a full outbox."""
    given = _given_cell()
    cut = given.index("    async def broadcast(self, message: str):\n")
    return ("import contextlib\n\n\n" + given[:cut]
            + "    async def broadcast(self, message: str):\n"
              "        for outbox in self.outboxes.values():\n"
              "            await outbox.put(message)\n")


@pytest.mark.slow
def test_in_the_notebook_wrong_managers_never_pass_however_often_their_checks_run():
    outputs = wrong_in_the_notebook("02_chat_room", {
        "ConnectionManager.__init__": LECTURE_WRONG,
        "SafeConnectionManager.broadcast": _safe_wrong()}, 4)
    none_passed(outputs, "ConnectionManager", "SafeConnectionManager")
    assert "does not remove the connection" in outputs[0]
    assert "does not remove the connection" in outputs[1]
    assert "broadcast awaits outbox.put(...)" in outputs[2]
    assert "broadcast awaits outbox.put(...)" in outputs[3]


# -- the lecture's app with another manager -----------------------------------------------------


@pytest.mark.slow
async def test_lecture_app_serves_the_given_manager():
    manager = answers.SafeConnectionManager(outbound_queue=8)
    app = lecture.create_lecture_app(manager)
    assert app.state.manager is manager
    assert isinstance(lecture.create_lecture_app().state.manager, lecture.ConnectionManager)
    server = BackgroundServer(app, name="test-lesson02-lecture-app").start()
    try:
        async with websockets.connect(f"{server.ws_url}/ws/ann") as ann, \
                websockets.connect(f"{server.ws_url}/ws/bob") as bob:
            await ann.send(json.dumps({"message": "hi"}))
            heard = json.loads(await asyncio.wait_for(bob.recv(), 3))
            assert heard["client_id"] == "ann" and heard["message"] == "hi"
            assert manager.connection_count == 2
    finally:
        server.stop()


# -- the lesson's figure ------------------------------------------------------------------------


@pytest.mark.slow
def test_fanout_figure_draws_both_timelines(tmp_path):
    from wslab.figures.fanout import fanout_timelines

    fig = fanout_timelines()
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles[0].startswith("The lecture's broadcast") and titles[1].startswith("One outbox")
    fig.savefig(tmp_path / "fanout.png")
    assert (tmp_path / "fanout.png").stat().st_size > 10_000
