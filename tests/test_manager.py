"""The safe ConnectionManager, unit by unit, with stand-in sockets that fail on purpose."""

from __future__ import annotations

import asyncio

import pytest

from wslab.manager import ConnectionManager


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
