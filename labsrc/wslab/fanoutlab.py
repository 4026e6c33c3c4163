"""The fan-out laboratory of elective E7: how long one chat line takes to reach N clients.

One run: a real server on loopback whose endpoint hands every text it receives to the
manager under test (:func:`fanout_app`), one sender, ``clients`` receivers, and optionally
one client that never reads. The endpoint does nothing else (no JSON, no log line per message,
no announcements), so what is measured is the manager's ``broadcast``. The sender says
``lines`` short lines, a few milliseconds apart, each stamped with the time it was sent; each
receiver notes when each line arrives. A line's *delivery latency* at one receiver is arrival
time minus send time. A line that has not arrived ``timeout`` seconds after the last one was
sent never will, as far as a chat is concerned: it counts as *missing*, and a percentile that
falls among the missing lines is reported as ``None`` ("never"), not as a small number
(the kit's one rank rule, :func:`wslab.bench.latency.percentile`).

Why the stalled client joins first and is *filled* before the others join: a client that
stops reading harms nobody until its buffers are full (a few hundred KiB: its own receive
buffer, the server's kernel send buffer, then uvicorn's write buffer). Filling them with chat
lines would take thousands of lines and minutes; instead the sender first says a few big
lines while only it and the stalled client are in the room, which fills the stalled client's
buffers at the cost of only those two copies. From then on the stalled client is exactly a
laptop whose lid closed mid-lecture, and the receivers who join after it are the rest of the
class. The big lines stay well under the safe manager's outbox limit, so it still holds the
stalled client when the measurement starts: the safe manager is measured *with* a stalled
client, not after having dropped it.

Everything runs in the notebook's process: the server in its background thread, the clients
on the kernel's event loop. Both share one CPU, so the absolute numbers are modest and vary
between machines; the comparison between managers, in the same run, is what the lab is for.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import Any, Callable, Sequence

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from wslab.bench.latency import percentile, shown_ms
from wslab.bench.stalled import StalledClient
from wslab.runner import BackgroundServer

#: Big lines said while only the sender and the stalled client are in: enough to fill the
#: stalled client's buffers (about 200 KiB) with room to spare.
FILL_LINES = 12
FILL_BYTES = 32 * 1024
#: Receivers opened at once; more at once only makes handshakes wait longer for each other.
CONNECT_BATCH = 50


@dataclasses.dataclass
class FanoutRun:
    """What one run measured: delivery latencies in milliseconds and lines that never came."""

    manager: str
    clients: int
    stalled: bool
    lines: int
    latencies_ms: list[float]
    missing: int

    @property
    def expected(self) -> int:
        return self.clients * self.lines

    def percentile(self, fraction: float) -> float | None:
        """The latency below which ``fraction`` of all deliveries arrived; None: never arrived.

        Missing deliveries count as infinitely late, so a manager that stops delivering shows
        up as ``None`` instead of as the few fast lines that got through before it stopped.
        """
        return percentile(self.latencies_ms, self.missing, fraction)

    @property
    def p50(self) -> float | None:
        return self.percentile(0.50)

    @property
    def p99(self) -> float | None:
        return self.percentile(0.99)

    def summary(self) -> str:
        got = self.expected - self.missing
        return (f"{self.manager:<8} {self.clients:>4} clients"
                f"{' + 1 stalled' if self.stalled else '':<12}  delivered {got:>5}/{self.expected:<5}"
                f"  p50 {shown_ms(self.p50):>9}  p99 {shown_ms(self.p99):>9}")


def fanout_app(manager: Any) -> FastAPI:
    """The smallest broadcast server: each text a client sends goes to everyone, via ``manager``.

    ``manager`` has the lecture's API (``connect``, ``disconnect``, ``broadcast``).
    """
    app = FastAPI()

    @app.websocket("/ws/{client_id}")
    async def relay(websocket: WebSocket, client_id: str) -> None:
        await manager.connect(websocket)
        try:
            while True:
                await manager.broadcast(await websocket.receive_text())
        except WebSocketDisconnect:
            manager.disconnect(websocket)

    return app


class _Receiver:
    """One client of the crowd: reads every frame and notes when each stamped line arrived."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.arrivals: dict[int, float] = {}
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in self.ws:
                now = time.perf_counter()
                line = _stamped_line(frame)
                if line is not None:
                    self.arrivals[line] = now


def _stamped_line(frame: str | bytes) -> int | None:
    """The number of a measured line (``"line 7"``), or None for anything else."""
    if isinstance(frame, str) and frame.startswith("line "):
        return int(frame[5:])
    return None


async def fanout_sweep(manager_factory: Callable[[], Any], sizes: Sequence[int], *,
                       stalled: bool = False, lines: int = 20, spacing: float = 0.005,
                       timeout: float = 0.3, name: str = "") -> list[FanoutRun]:
    """Measure one manager at each number of clients in ``sizes``, on one server.

    ``manager_factory`` makes the manager under test, e.g. ``LectureManager`` or
    ``lambda: SafeManager(outbound_queue=64)``; ``name`` labels the results (default: the
    manager's class name). The crowd grows from one size to the next (nobody reconnects), and
    each size gets ``lines`` fresh lines, so every run measures the room as it is then.
    """
    manager = manager_factory()
    label = name or type(manager).__name__
    server = BackgroundServer(fanout_app(manager), name="fanout-lab").start()
    lazy: StalledClient | None = None
    crowd: list[_Receiver] = []
    runs: list[FanoutRun] = []
    try:
        sender = await connect(f"{server.ws_url}/ws/sender", max_size=None, close_timeout=0.2)
        try:
            if stalled:
                lazy = StalledClient("127.0.0.1", server.port, "lazy", deflate=False)
                await _fill(sender)
            for size in sorted(sizes):
                crowd += await _open_crowd(server.ws_url, range(len(crowd), size))
                first = len(runs) * lines
                sent = await _say_lines(sender, range(first, first + lines), spacing)
                await _wait_for(crowd, sent, timeout)
                runs.append(_run(label, stalled, crowd, sent))
        finally:
            await _close_all([r.ws for r in crowd] + [sender])
    finally:
        if lazy is not None:
            lazy.close()
        server.stop()
    return runs


def _run(label: str, stalled: bool, crowd: list[_Receiver], sent: dict[int, float]) -> FanoutRun:
    latencies, missing = [], 0
    for receiver in crowd:
        for line, sent_at in sent.items():
            arrived = receiver.arrivals.get(line)
            if arrived is None:
                missing += 1
            else:
                latencies.append((arrived - sent_at) * 1000)
    return FanoutRun(label, len(crowd), stalled, len(sent), latencies, missing)


async def _fill(sender: ClientConnection) -> None:
    """Say big lines until the stalled client's buffers are full (see the module docstring)."""
    padding = "x" * FILL_BYTES
    for n in range(FILL_LINES):
        await sender.send(f"fill {n} {padding}")
    # The server has them all once the sender hears back the ones it could broadcast; with the
    # lecture's manager, that is only those before the stalled client's buffers filled up.
    heard = 0
    with contextlib.suppress(asyncio.TimeoutError):
        while heard < FILL_LINES:
            if (await asyncio.wait_for(sender.recv(), 0.2)).startswith("fill"):
                heard += 1


async def _open_crowd(ws_url: str, numbers: range) -> list[_Receiver]:
    crowd: list[_Receiver] = []
    for first in range(numbers.start, numbers.stop, CONNECT_BATCH):
        batch = range(first, min(numbers.stop, first + CONNECT_BATCH))
        sockets = await asyncio.gather(*(connect(f"{ws_url}/ws/r{n}", close_timeout=0.2)
                                         for n in batch))
        crowd += [_Receiver(ws) for ws in sockets]
    return crowd


async def _say_lines(sender: ClientConnection, numbers: range, spacing: float) -> dict[int, float]:
    sent: dict[int, float] = {}
    for line in numbers:
        sent[line] = time.perf_counter()
        await sender.send(f"line {line}")
        await asyncio.sleep(spacing)
    return sent


async def _wait_for(crowd: list[_Receiver], sent: dict[int, float], timeout: float) -> None:
    """Wait until every receiver has every line sent, or ``timeout`` s pass with no progress."""
    loop = asyncio.get_running_loop()
    last_count, last_change = -1, loop.time()
    while True:
        count = sum(line in r.arrivals for r in crowd for line in sent)
        if count == len(sent) * len(crowd):
            return
        if count != last_count:
            last_count, last_change = count, loop.time()
        elif loop.time() - last_change > timeout:
            return
        await asyncio.sleep(0.01)


async def _close_all(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
