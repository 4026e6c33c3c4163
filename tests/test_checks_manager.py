"""Lesson 03's checks: each rejects plausible wrong managers with a precise report, accepts the
right ones (the lesson's solutions and wslab's own), and says "not done yet" to the stubs."""

from __future__ import annotations

import asyncio
import gc
import json

import pytest
import websockets
from starlette.websockets import WebSocketDisconnect

from wslab import lecture
from wslab.checks.manager import FakeSocket, check_lecture_manager, check_safe_manager
from wslab.manager import ConnectionManager as WslabManager
from wslab.runner import BackgroundServer

# -- the lecture's manager: the solution, the stub, and wrong versions ---------------------------


class LectureStub:
    def __init__(self):
        raise NotImplementedError("exercise: ConnectionManager.__init__")


class HalfDone:
    """__init__ and connect written, broadcast still the stub."""

    def __init__(self):
        self.active_connections = []
        self.connection_count = 0

    async def connect(self, websocket):
        await websocket.accept()
        self.active_connections.append(websocket)
        self.connection_count += 1

    def disconnect(self, websocket):
        raise NotImplementedError("exercise: ConnectionManager.disconnect")

    async def broadcast(self, message):
        raise NotImplementedError("exercise: ConnectionManager.broadcast")


class Right(lecture.ConnectionManager):
    pass


class NoAccept(Right):
    async def connect(self, websocket):
        self.active_connections.append(websocket)
        self.connection_count += 1


class NoCount(Right):
    async def connect(self, websocket):
        await websocket.accept()
        self.active_connections.append(websocket)


class SharedList:
    active_connections = []  # the class-body list: one for every manager

    def __init__(self):
        self.connection_count = 0

    async def connect(self, websocket):
        await websocket.accept()
        self.active_connections.append(websocket)
        self.connection_count += 1

    def disconnect(self, websocket):
        self.active_connections.remove(websocket)
        self.connection_count -= 1

    async def broadcast(self, message):
        for connection in self.active_connections:
            await connection.send_text(message)


class ReturnsEarly(Right):
    async def broadcast(self, message):
        for connection in self.active_connections:
            await connection.send_text(message)
            return


class SyncBroadcast(Right):
    def broadcast(self, message):
        for connection in self.active_connections:
            connection.sent.append(message)


class AsyncDisconnect(Right):
    async def disconnect(self, websocket):
        self.active_connections.remove(websocket)
        self.connection_count -= 1


class ForgetsToRemove(Right):
    def disconnect(self, websocket):
        self.connection_count -= 1


class SendsJson(Right):
    async def broadcast(self, message):
        for connection in self.active_connections:
            await connection.send_json({"message": message})


@pytest.mark.parametrize("wrong, words", [
    (NoAccept, "websocket.accept() was never awaited"),
    (NoCount, "connection_count == 1"),
    (SharedList, "the second has"),
    (ReturnsEarly, "bob got []"),
    (SyncBroadcast, "instead of something to await"),
    (AsyncDisconnect, "it returned a coroutine: nothing ran"),
    (ForgetsToRemove, "active_connections == [ann, cat]"),
    (SendsJson, "raised AttributeError"),
])
async def test_wrong_lecture_managers_are_explained(wrong, words, capsys):
    assert await check_lecture_manager(wrong) is lecture.ConnectionManager
    out = capsys.readouterr().out
    assert out.startswith("❌ ConnectionManager: not right yet."), out
    assert words in out and "hint:" in out, out
    assert "Traceback" not in out


@pytest.mark.parametrize("stub", [LectureStub, HalfDone])
async def test_lecture_stub_is_not_done_yet(stub, capsys):
    assert await check_lecture_manager(stub) is lecture.ConnectionManager
    assert capsys.readouterr().out.startswith("⏳ ConnectionManager: not done yet.")


async def test_lecture_solution_passes_quietly(capsys):
    assert await check_lecture_manager(Right) is Right
    assert capsys.readouterr().out == ("✅ ConnectionManager: connect accepts and counts, "
                                       "broadcast reaches everyone, disconnect removes.\n")


# -- the safe manager: the lesson's solution, wslab's, the stub, and wrong versions -------------

_closing: set = set()


def close_in_background(websocket, code, reason):
    """The lesson's given helper."""
    async def close():
        try:
            await asyncio.wait_for(websocket.close(code=code, reason=reason), timeout=5)
        except Exception:
            pass

    task = asyncio.create_task(close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


class Safe:
    """The lesson's solution, as the solution notebook has it."""

    def __init__(self, outbound_queue: int = 16):
        self.outbound_queue = outbound_queue
        self.outboxes = {}
        self.writers = {}

    @property
    def active_connections(self):
        return list(self.outboxes)

    @property
    def connection_count(self):
        return len(self.outboxes)

    async def connect(self, websocket):
        await websocket.accept()
        outbox = asyncio.Queue(maxsize=self.outbound_queue)
        self.outboxes[websocket] = outbox
        self.writers[websocket] = asyncio.create_task(self._write(websocket, outbox))

    def disconnect(self, websocket):
        self.outboxes.pop(websocket, None)
        writer = self.writers.pop(websocket, None)
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()

    async def broadcast(self, message):
        for websocket, outbox in list(self.outboxes.items()):
            try:
                outbox.put_nowait(message)
            except asyncio.QueueFull:
                self.disconnect(websocket)
                close_in_background(websocket, 4408, "too slow")

    async def _write(self, websocket, outbox):
        try:
            while True:
                message = await outbox.get()
                await websocket.send_text(message)
        except Exception:
            self.disconnect(websocket)


class SafeStub(Safe):
    async def connect(self, websocket):
        raise NotImplementedError("exercise: SafeConnectionManager.connect")


class NoQueueParameter(Safe):
    def __init__(self):
        super().__init__()


class LectureWithQueue(lecture.ConnectionManager):
    """The lecture's manager, given the parameter: fails on the vanished clients."""

    def __init__(self, outbound_queue=16):
        super().__init__()


class CatchesOnlyDisconnect(Safe):
    async def _write(self, websocket, outbox):
        try:
            while True:
                await websocket.send_text(await outbox.get())
        except WebSocketDisconnect:
            self.disconnect(websocket)


class WriterNeverStarted(Safe):
    async def connect(self, websocket):
        await websocket.accept()
        self.outboxes[websocket] = asyncio.Queue(maxsize=self.outbound_queue)


class RemoveRaisesTwice(Safe):
    def disconnect(self, websocket):
        del self.outboxes[websocket]
        self.writers.pop(websocket).cancel()


class WaitsForSends(Safe):
    """Sends in broadcast, concurrently and catching failures: a stalled client still blocks."""

    async def broadcast(self, message):
        async def one(websocket):
            try:
                await websocket.send_text(message)
            except Exception:
                self.disconnect(websocket)

        await asyncio.gather(*(one(ws) for ws in list(self.outboxes)))


class Unbounded(Safe):
    async def connect(self, websocket):
        await websocket.accept()
        outbox = asyncio.Queue()
        self.outboxes[websocket] = outbox
        self.writers[websocket] = asyncio.create_task(self._write(websocket, outbox))


class DropsWhenBehind(Safe):
    async def broadcast(self, message):
        for websocket, outbox in list(self.outboxes.items()):
            if not outbox.empty():
                self.disconnect(websocket)
                close_in_background(websocket, 4408, "too slow")
            else:
                outbox.put_nowait(message)


class NeverTellsWhy(Safe):
    async def broadcast(self, message):
        for websocket, outbox in list(self.outboxes.items()):
            try:
                outbox.put_nowait(message)
            except asyncio.QueueFull:
                self.disconnect(websocket)


class AwaitsTheClose(Safe):
    async def broadcast(self, message):
        for websocket, outbox in list(self.outboxes.items()):
            try:
                outbox.put_nowait(message)
            except asyncio.QueueFull:
                self.disconnect(websocket)
                await websocket.close(code=4408)


class LeaksWriters(Safe):
    def disconnect(self, websocket):
        self.outboxes.pop(websocket, None)
        self.writers.pop(websocket, None)


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


@pytest.mark.parametrize("wrong, words", [
    (NoQueueParameter, "Keep the parameter `outbound_queue`"),
    (LectureWithQueue, "raised WebSocketDisconnect"),
    (CatchesOnlyDisconnect, "still there: closed"),
    (WriterNeverStarted, "ann got []"),
    (RemoveRaisesTwice, "cat again"),
    (WaitsForSends, "broadcast waited 0.5 s and had not returned; meanwhile ann got 1, "
                    "bob got 1 new message(s)"),
    (Unbounded, "its outbox grows without limit"),
    (DropsWhenBehind, "lazy was dropped after only 3 message(s)"),
    (NeverTellsWhy, "close() was never called"),
    (AwaitsTheClose, "broadcast waited 0.5 s"),
    (LeaksWriters, "3 task(s) still running: Safe._write"),
    (CountsSeparately, "connection_count == 2"),
])
async def test_wrong_safe_managers_are_explained(wrong, words, capsys):
    assert await check_safe_manager(wrong) is WslabManager
    out = capsys.readouterr().out
    assert out.startswith("❌ SafeConnectionManager: not right yet."), out
    assert words in out and "hint:" in out, out
    assert "Traceback" not in out


async def test_safe_stub_is_not_done_yet(capsys):
    assert await check_safe_manager(SafeStub) is WslabManager
    assert capsys.readouterr().out.startswith("⏳ SafeConnectionManager: not done yet.")


@pytest.mark.parametrize("right", [Safe, WslabManager])
async def test_safe_solutions_pass(right, capsys):
    assert await check_safe_manager(right) is right
    out = capsys.readouterr().out
    assert out.startswith("✅ SafeConnectionManager: survives clients that vanish"), out
    assert "dropped after 6 messages, closed with 4408" in out


async def test_no_task_outlives_the_check(capsys):
    """Whatever the student wrote, the check ends every task the manager started."""
    for cls in (Safe, LeaksWriters, WaitsForSends, AwaitsTheClose, CatchesOnlyDisconnect):
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
    await check_safe_manager(Safe)
    await check_safe_manager(SafeStub)
    assert loop.get_task_factory() is before


async def test_fake_socket_stalls_until_released():
    lazy = FakeSocket("lazy", stall=True)
    send = asyncio.create_task(lazy.send_text("x"))
    await asyncio.sleep(0.05)
    assert not send.done()
    lazy.release()
    with pytest.raises(ConnectionResetError):
        await send


# -- the lecture's app with another manager -----------------------------------------------------


async def test_lecture_app_serves_the_given_manager():
    manager = WslabManager(outbound_queue=8)
    app = lecture.create_lecture_app(manager)
    assert app.state.manager is manager
    assert isinstance(lecture.create_lecture_app().state.manager, lecture.ConnectionManager)
    server = BackgroundServer(app, name="test-lesson03-lecture-app").start()
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


def test_fanout_figure_draws_both_timelines(tmp_path):
    from wslab.figures.fanout import fanout_timelines

    fig = fanout_timelines()
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert titles[0].startswith("The lecture's broadcast") and titles[1].startswith("One outbox")
    fig.savefig(tmp_path / "fanout.png")
    assert (tmp_path / "fanout.png").stat().st_size > 10_000
