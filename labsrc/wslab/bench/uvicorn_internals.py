"""What uvicorn's private parts buy the kit: fan-out speed and memory, with and without them.

``wslab.uvicorn_protocol.WebSocketProtocol`` reaches into uvicorn's WebSocket protocol
(``close_sent``, ``initial_response``, ``conn``, and its own stand-ins for uvicorn's queue and
event) for two things: writing a broadcast's one encoded frame straight to every transport, and
keeping less per idle connection. This command measures both against the same server on public
APIs only: uvicorn's own ``websockets-sansio`` protocol, where the kit's ``ConnectionManager``
sends with Starlette's ``websocket.send_text`` per client (its outbox and writer path; nothing
else changes). Each run starts the server in a process of its own, connects ``clients``
raw-socket clients (``wslab.bench.wire``: they cost next to nothing per message), reads the
server's memory, then has one of the clients send ``lines`` chat lines (``window`` at a time:
the next once every client has the earlier ones) and times how long until every client has
every line, and how much CPU the server spent on it (the steadier figure on a machine that is
busy with other work). The two servers take turns, ``runs`` times each, and the medians are
printed side by side::

    python -m wslab.bench.uvicorn_internals [--clients 200] [--lines 200] [--window 1] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from typing import Any

from wslab.bench import procs, wire
from wslab.ports import free_port

HOST = "127.0.0.1"
#: The two servers: the kit's protocol class, and uvicorn's own, named as uvicorn names it.
VARIANTS = {"private": "the private fast path (wslab.uvicorn_protocol.WebSocketProtocol)",
            "public": "public APIs only (uvicorn's websockets-sansio, send_text per client)"}
#: Marks the benchmark's chat lines among the join announcements every client also gets.
MARK = b"fanout-line-"


@dataclasses.dataclass
class RunResult:
    variant: str
    deliveries_per_s: float
    cpu_us_per_delivery: float
    memory_per_client_kib: float
    server_rss_kib: int


class _Progress:
    """How many lines every client has: what the sender waits for before sending more."""

    def __init__(self, clients: int, lines: int) -> None:
        self.clients = clients
        #: ``reached[k]``: how many clients have their ``k``-th line (each gets them in order).
        self.reached = [0] * (lines + 1)
        self.complete = 0
        self.lost = False
        self.changed = asyncio.Event()

    def got(self, count: int) -> None:
        self.reached[count] += 1
        if self.reached[count] == self.clients:
            self.complete = max(self.complete, count)
            self.changed.set()

    def lose(self) -> None:
        self.lost = True
        self.changed.set()


class _Client(asyncio.Protocol):
    """One raw WebSocket connection that counts the benchmark's lines it is sent."""

    def __init__(self, request: bytes, key: str, progress: _Progress) -> None:
        self.request, self.key, self.progress = request, key, progress
        self.head = b""
        self.reader: wire.FrameReader | None = None
        self.got = 0
        #: Bytes the server has sent so far, handshake included.
        self.received = 0
        self.open = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        if self.reader is None:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            head, _, data = self.head.partition(b"\r\n\r\n")
            try:
                wire.parse_handshake_response(head + b"\r\n\r\n", self.key)
            except wire.HandshakeError as exc:
                self.open.set_exception(exc)
                return
            self.reader = wire.FrameReader(deflate=False)
            self.open.set_result(None)
        for opcode, payload in self.reader.feed(data):
            if opcode == wire.OP_TEXT and MARK in payload:
                self.got += 1
                self.progress.got(self.got)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.open.done():
            self.open.set_exception(ConnectionError("closed during the handshake"))
        self.progress.lose()


async def _connect(port: int, index: int, progress: _Progress) -> _Client:
    request, key = wire.handshake_request(HOST, port, f"/ws/c{index}", deflate=False)
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: _Client(request, key, progress), HOST, port)
    await asyncio.wait_for(client.open, 30)
    return client


async def _quiet(clients: list[_Client], settle: float = 0.3, timeout: float = 30.0) -> None:
    """Wait until no client has been sent anything for ``settle`` s (the joins are announced)."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        received = sum(client.received for client in clients)
        if received == last:
            return
        last = received
        await asyncio.sleep(settle)


async def _send(sender: _Client, progress: _Progress, lines: int, window: int) -> None:
    """Send ``lines`` lines, at most ``window`` of them not yet with every client (0: all at
    once); return when every client has every line."""
    assert sender.transport is not None
    frames = [wire.client_frame(wire.OP_TEXT, json.dumps(
        {"message": f"{MARK.decode()}{n}"}).encode()) for n in range(lines)]
    window = window or lines
    sent = 0
    while progress.complete < lines:
        if progress.lost:
            raise RuntimeError(f"a client was dropped; every client had {progress.complete} "
                               f"of {lines} lines")
        upto = min(lines, progress.complete + window)
        if upto > sent:
            sender.transport.write(b"".join(frames[sent:upto]))
            sent = upto
        progress.changed.clear()
        await asyncio.wait_for(progress.changed.wait(), 60)


async def _one_run(variant: str, clients: int, lines: int, window: int, log: Any) -> RunResult:
    port = free_port(HOST)
    command = ["-m", "wslab.bench.uvicorn_internals", "_serve", variant, "--port", str(port)]
    with procs.Child(variant, command, log=log) as server:
        await asyncio.to_thread(procs.wait_for_port, HOST, port, 20.0, server)
        connected: list[_Client] = []
        progress = _Progress(clients, lines)
        try:  # listening means started: the app's lifespan has run
            idle_kib = procs.rss_kib(server.pid)
            for index in range(clients):
                connected.append(await _connect(port, index, progress))
            await _quiet(connected)
            rss = procs.rss_kib(server.pid)
            per_client = (rss - idle_kib) / clients
            cpu = procs.cpu_seconds(server.pid)
            start = time.perf_counter()
            await _send(connected[0], progress, lines, window)
            elapsed = time.perf_counter() - start
            cpu = procs.cpu_seconds(server.pid) - cpu
        finally:
            for client in connected:
                if client.transport is not None:
                    client.transport.abort()
            server.stop(grace=0)
    deliveries = clients * lines
    return RunResult(variant, deliveries / elapsed, cpu * 1e6 / deliveries, per_client, rss)


async def measure(clients: int, lines: int, window: int,
                  runs: int) -> dict[str, list[RunResult]]:
    """``runs`` runs of each variant, taking turns (private, public, public, private, ...)
    so that a machine that gets busier during the benchmark does not favour one of them."""
    results: dict[str, list[RunResult]] = {name: [] for name in VARIANTS}
    with tempfile.NamedTemporaryFile(prefix="wslab-bench-", suffix=".log") as log:
        for run in range(runs):
            order = list(VARIANTS) if run % 2 == 0 else list(VARIANTS)[::-1]
            for variant in order:
                results[variant].append(await _one_run(variant, clients, lines, window, log))
    return results


def render(results: dict[str, list[RunResult]], clients: int, lines: int, window: int) -> str:
    """The medians side by side, and the private path's figure as a ratio of the public one."""
    def median(variant: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in results[variant])

    runs = len(results["private"])
    sent = f"{window} at a time" if window else "all at once"
    rows = [f"uvicorn's private parts: {clients} clients x {lines} lines ({sent}), median of "
            f"{runs} runs each",
            f"{'':28}{'private path':>16}{'public APIs':>16}{'private/public':>16}"]
    for label, field, unit in (("fan-out, deliveries/s", "deliveries_per_s", "{:,.0f}"),
                               ("server CPU per delivery", "cpu_us_per_delivery", "{:,.1f} us"),
                               ("server memory per client", "memory_per_client_kib",
                                "{:,.1f} KiB"),
                               ("server RSS with clients", "server_rss_kib", "{:,.0f} KiB")):
        private, public = median("private", field), median("public", field)
        ratio = f"{private / public:.2f}x" if public else "-"
        rows.append(f"{label:28}{unit.format(private):>16}{unit.format(public):>16}{ratio:>16}")
    spread = ", ".join(f"{name}: " + " / ".join(f"{r.deliveries_per_s:,.0f}" for r in rs)
                       for name, rs in results.items())
    rows.append(f"each run's deliveries/s: {spread}")
    rows += [f"  {name}: {how}" for name, how in VARIANTS.items()]
    return "\n".join(rows)


def _serve(variant: str, port: int) -> None:
    """Run the kit's chat server (rate limit off: one client plays a whole room)."""
    import uvicorn

    from wslab.chat import create_app
    from wslab.serving import uvicorn_config
    from wslab.settings import ChatSettings

    procs.raise_fd_limit()
    procs.exit_when_parent_goes()
    overrides = {"ws": "websockets-sansio"} if variant == "public" else {}
    config = uvicorn_config(create_app(ChatSettings(rate_limit=0)), host=HOST, port=port,
                            log_level="warning", **overrides)
    uvicorn.Server(config).run()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_serve"]:
        serve = argparse.ArgumentParser()
        serve.add_argument("variant", choices=sorted(VARIANTS))
        serve.add_argument("--port", type=int, required=True)
        args = serve.parse_args(argv[1:])
        _serve(args.variant, args.port)
        return 0
    parser = argparse.ArgumentParser(prog="python -m wslab.bench.uvicorn_internals",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--window", type=int, default=1,
                        help="lines sent before every client has the earlier ones (0: all at "
                             "once); 1, the default, is a classroom's pace: each line meets "
                             "empty outboxes")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    procs.raise_fd_limit()
    with contextlib.suppress(KeyboardInterrupt):
        results = asyncio.run(measure(args.clients, args.lines, args.window, args.runs))
        print(render(results, args.clients, args.lines, args.window))
        return 0
    return 130


if __name__ == "__main__":
    sys.exit(main())
