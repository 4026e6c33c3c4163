"""The safe ConnectionManager, unit by unit, with stand-in sockets that fail on purpose."""

from __future__ import annotations

import asyncio

import pytest

from wslab import protocol
from wslab.manager import ConnectionManager
from wslab.uvicorn_protocol import WRITE_FRAME


class FakeSocket:
    """Records what it was sent. ``fail`` raises on send; ``stall`` never finishes a send."""

    def __init__(self, name: str, *, fail: bool = False, stall: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.stall = stall
        self.sent: list[str] = []
        self.accepted = False
        self.closed_with: tuple[int, str] | None = None
        self.url = type("URL", (), {"path": f"/ws/{name}"})()

    async def accept(self) -> None:
        self.accepted = True

    async def send_text(self, message: str) -> None:
        if self.fail:
            raise ConnectionResetError("peer vanished")
        if self.stall:
            await asyncio.Event().wait()
        self.sent.append(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = (code, reason)

    def __repr__(self) -> str:
        return f"<FakeSocket {self.name}>"


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_connect_accepts_and_counts():
    manager = ConnectionManager()
    a, b = FakeSocket("a"), FakeSocket("b")
    await manager.connect(a)
    await manager.connect(b)
    assert a.accepted and b.accepted
    assert manager.active_connections == [a, b] and manager.connection_count == 2


async def test_disconnect_is_idempotent_and_count_follows():
    manager = ConnectionManager()
    a = FakeSocket("a")
    await manager.connect(a)
    assert manager.disconnect(a) is True
    assert manager.disconnect(a) is False  # the lecture's version raises ValueError here
    assert manager.connection_count == 0 and manager.active_connections == []


async def test_broadcast_reaches_everyone_in_order():
    manager = ConnectionManager()
    sockets = [FakeSocket(str(n)) for n in range(5)]
    for ws in sockets:
        await manager.connect(ws)
    for n in range(3):
        await manager.broadcast(f"m{n}")
    await settle()
    assert all(ws.sent == ["m0", "m1", "m2"] for ws in sockets)


async def test_a_failing_connection_is_dropped_and_harms_no_one():
    manager = ConnectionManager()
    good, broken, other = FakeSocket("good"), FakeSocket("broken", fail=True), FakeSocket("other")
    for ws in (good, broken, other):
        await manager.connect(ws)
    dropped = []

    async def on_drop(ws, why):
        dropped.append((ws, why))

    manager.on_drop = on_drop
    await manager.broadcast("hello")  # must not raise in the sender's handler
    await settle()
    assert good.sent == ["hello"] and other.sent == ["hello"]
    assert broken not in manager and manager.connection_count == 2
    assert dropped == [(broken, "connection lost")]
    assert broken.closed_with == (1011, "the server could not send to you")


async def test_a_stalled_connection_delays_no_one_and_is_evicted_when_full():
    evicted = []

    async def on_drop(ws, why):
        evicted.append(ws)
        assert why == "too slow to keep up"

    manager = ConnectionManager(outbound_queue=3, on_drop=on_drop)
    good, stalled = FakeSocket("good"), FakeSocket("stalled", stall=True)
    await manager.connect(good)
    await manager.connect(stalled)
    for n in range(5):
        await asyncio.wait_for(manager.broadcast(f"m{n}"), 0.5)  # never waits for a client
        await settle()
    assert good.sent == [f"m{n}" for n in range(5)]
    assert evicted == [stalled] and stalled not in manager
    assert manager.connection_count == 1
    await settle()
    assert stalled.closed_with == (4408, "too slow: stopped reading messages")


async def test_leaving_during_a_broadcast_is_safe():
    manager = ConnectionManager()
    sockets = [FakeSocket(str(n)) for n in range(10)]
    for ws in sockets:
        await manager.connect(ws)
    await manager.broadcast("one")
    for ws in sockets[::2]:
        manager.disconnect(ws)  # while their writers are still queued
    await settle()
    assert all(ws.sent == ["one"] for ws in sockets[1::2])
    assert all(ws.sent == [] for ws in sockets[::2])


@pytest.mark.parametrize("queue", [1, 2])
async def test_personal_message_respects_the_bound(queue):
    manager = ConnectionManager(outbound_queue=queue)
    stalled = FakeSocket("s", stall=True)
    await manager.connect(stalled)
    for n in range(queue + 2):
        await manager.send_personal_message(f"m{n}", stalled)
        await settle()
    assert stalled not in manager


class SlowSocket(FakeSocket):
    """A client that reads, but slowly: each send waits until the test lets it through."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.gate = asyncio.Event()

    async def send_text(self, message: str) -> None:
        await self.gate.wait()
        self.sent.append(message)


async def test_a_slow_reader_is_not_dropped_for_a_storm_of_announcements():
    """A whole class joining at once must not get a healthy, slow client dropped (4408)."""
    dropped = []

    async def on_drop(ws, why):
        dropped.append(ws)

    manager = ConnectionManager(outbound_queue=4, on_drop=on_drop)
    slow = SlowSocket("slow")
    await manager.connect(slow)
    joins = [f"join {n}" for n in range(50)]
    for message in joins:
        await manager.announce(message)
    await manager.broadcast("a chat line")
    await settle()
    assert dropped == [] and slow in manager
    assert manager.waiting(slow) == 50  # and the first join is being sent
    slow.gate.set()
    await settle()
    assert slow.sent == [*joins, "a chat line"]  # all of it, in order
    assert manager.waiting(slow) == 0


async def test_a_client_that_never_reads_is_dropped_when_chat_lines_pile_up_behind_announcements():
    manager = ConnectionManager(outbound_queue=4)
    lazy, good = FakeSocket("lazy", stall=True), FakeSocket("good")
    await manager.connect(lazy)
    await manager.connect(good)
    for n in range(20):
        await manager.announce(f"join {n}")
    await settle()
    assert lazy in manager
    for n in range(4):
        await manager.broadcast(f"m{n}")
        await settle()
    assert lazy in manager  # 4 lines waiting: the bound, not past it
    await manager.broadcast("m4")
    assert lazy not in manager and good in manager
    await settle()
    assert lazy.closed_with == (4408, "too slow: stopped reading messages")
    assert good.sent == [*(f"join {n}" for n in range(20)), *(f"m{n}" for n in range(5))]


async def test_announcements_have_a_bound_of_their_own():
    manager = ConnectionManager(outbound_queue=2, announcement_queue=5)
    lazy = FakeSocket("lazy", stall=True)
    await manager.connect(lazy)
    for n in range(6):  # one being sent, five waiting
        await manager.announce(f"join {n}")
        await settle()
    assert lazy in manager and manager.waiting(lazy) == 5
    await manager.announce("one too many")
    assert lazy not in manager
    assert ConnectionManager(outbound_queue=3).announcement_queue == 3 * 16


async def test_announce_skips_the_connection_it_is_about():
    manager = ConnectionManager()
    newcomer, other = FakeSocket("newcomer"), FakeSocket("other")
    await manager.connect(newcomer)
    await manager.connect(other)
    await manager.announce("newcomer joined", skip=[newcomer])
    await settle()
    assert newcomer.sent == [] and other.sent == ["newcomer joined"]


class FrameSocket(FakeSocket):
    """A connection whose server offers to write ready-made frames (as ``wslab.serving`` does).

    ``full`` makes it refuse them, as when its buffer is above the high-water mark; ``broken``
    makes the offer raise.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.frames: list[bytes] = []
        self.full = False
        self.broken = False
        self.scope = {"type": "websocket", "extensions": {WRITE_FRAME: self.write_frame}}

    async def send_text(self, message: str) -> None:
        message.encode("utf-8")  # as a server must, to frame it: fails on half a surrogate pair
        await super().send_text(message)

    def write_frame(self, frame: bytes) -> bool:
        if self.broken:
            raise RuntimeError("the server's writer is broken")
        if self.full:
            return False
        self.frames.append(frame)
        return True


def text_of(frames: list[bytes]) -> list[str]:
    out = []
    for data in frames:
        frame, used = protocol.decode_frame(data)
        assert used == len(data) and frame.opcode == protocol.Opcode.TEXT and frame.fin
        out.append(frame.text())
    return out


async def test_a_broadcast_is_encoded_once_and_written_at_once_where_there_is_room():
    manager = ConnectionManager()
    sockets = [FrameSocket(str(n)) for n in range(3)]
    for ws in sockets:
        await manager.connect(ws)
    await manager.broadcast("héllo")  # written before broadcast returns: no task involved
    assert all(text_of(ws.frames) == ["héllo"] for ws in sockets)
    assert sockets[0].frames[0] is sockets[1].frames[0] is sockets[2].frames[0]
    await manager.send_personal_message("just you", sockets[1])
    assert text_of(sockets[1].frames) == ["héllo", "just you"]
    await settle()
    assert all(ws.sent == [] for ws in sockets)


async def test_a_connection_without_room_gets_its_messages_through_its_outbox_in_order():
    manager = ConnectionManager()
    busy, free = FrameSocket("busy"), FrameSocket("free")
    await manager.connect(busy)
    await manager.connect(free)
    busy.full = True
    await manager.broadcast("m0")
    await manager.announce("m1")
    busy.full = False
    await manager.broadcast("m2")  # m0 and m1 still wait: m2 must not overtake them
    await settle()
    assert busy.sent == ["m0", "m1", "m2"] and busy.frames == []
    assert text_of(free.frames) == ["m0", "m1", "m2"] and free.sent == []
    await manager.broadcast("m3")  # nothing waits any more: straight to the transport
    assert text_of(busy.frames) == ["m3"]


async def test_a_failing_frame_writer_falls_back_to_an_ordinary_send():
    manager = ConnectionManager()
    ws = FrameSocket("ws")
    ws.broken = True
    await manager.connect(ws)
    await manager.broadcast("still delivered")
    await settle()
    assert ws.sent == ["still delivered"] and ws in manager


async def test_text_that_no_frame_can_carry_is_left_to_the_writer_to_report():
    manager = ConnectionManager()
    ws = FrameSocket("ws")
    await manager.connect(ws)
    await manager.broadcast("half a pair: \ud800")  # not valid text: the send fails, alone
    await settle()
    assert ws.frames == [] and ws not in manager
