"""Fan-out runs: one server, N receivers, one sender; then the same with a client that stalls.

How the load is offered, and why. The sender keeps a fixed number of lines in flight
(``window``): it sends a new line as soon as an earlier one has reached *every* receiver, which
each receiver process reports the moment its last connection has it. So every server is kept
busy, never facing an ever-growing backlog, and

- deliveries per second is what the server sustains (it has to deliver, not just accept);
- latency (arrival time minus the send time stamped in the line) is what a line waits behind at
  most ``window - 1`` others plus its own fan-out: comparable between servers.

One server start serves two measurements. After the receivers (and the sender) are in and the
join announcements have died down: ``warmup`` seconds unmeasured, ``seconds`` measured (the
baseline), a drain. Then a client that never reads joins (``wslab.bench.stalled``) and the
same load is measured from the moment it joined, for ``stall_seconds`` or longer: long enough
for its buffers to fill at the server's baseline rate (:func:`stall_phase_seconds`). Lines sent
in a measured window that never reach a receiver count as infinitely late, so a server that stalls
shows it in its p99 instead of hiding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import resource
import tempfile
import time
from typing import Any

from wslab.bench import procs
from wslab.bench.latency import summarise
from wslab.bench.sender import Sender
from wslab.bench.servers import server_args
from wslab.bench.stalled import StalledClient
from wslab.errors import describe_exception
from wslab.ports import free_port

HOST = "127.0.0.1"

@dataclasses.dataclass
class Options:
    """How a fan-out run is made. The defaults are the ones the kit's table is measured with.

    - ``message_bytes`` 1024: a long chat line. Shorter lines measure the same per-message
      costs, but then a stalled client's ~190 KiB of buffers take minutes to fill at 1000
      receivers, and the run would end before a server had to cope with a full one.
    - ``window`` 8: lines in flight (see the module's docstring). Hashrocket's shootout keeps
      4 broadcasts in flight; here 4 left the fastest server idle a fifth of the time, waiting
      for the next line, and 8 keeps every server busy (90-100% of a core on a quiet machine).
      More lines in flight also means more lines queued per connection: servers that write
      per connection (wslab) then send several per wake-up, which costs less per delivery.
    - ``receiver_procs`` 2, ``coalesce_ms`` 0.5, ``receiver_nice`` 5: the receivers share the
      second core; they sleep half a millisecond after each batch so that one wake-up serves
      many sockets, and yield the CPU to the server when both want it, so that the server,
      not the load generator, is what runs out of CPU first.
    - ``deflate``: receivers offer permessage-deflate, as browsers do (and inflate what comes
      compressed); a server that accepts pays for compressing every copy of every line.
    - ``stalled_deflate`` off: the stalled client is a script that connects and never reads;
      uncompressed lines fill its buffers several times sooner than compressed ones would.
    """

    seconds: float = 2.0
    stall_seconds: float = 4.0
    warmup: float = 0.5
    drain: float = 2.0
    window: int = 8
    message_bytes: int = 1024
    receiver_procs: int = 2
    coalesce_ms: float = 0.5
    receiver_nice: int = 5
    deflate: bool = True
    stalled_deflate: bool = False
    connect_timeout: float = 60.0
    stall: bool = True


#: What a stalled client's buffers hold before a server must notice it, measured with ``ss``:
#: the asyncio transport's 64 KiB high-water mark, about 120 KiB of kernel send buffer (at an
#: Ethernet segment size) and a few KiB in the client's own receive buffer.
STALL_BUFFER_BYTES = 192 * 1024


def stall_phase_seconds(opts: Options, baseline_lines_per_s: float) -> float:
    """How long to measure with the stalled client: at least ``opts.stall_seconds``, and long
    enough for every server to have filled the stalled client's buffers (at the baseline
    rate, plus a quarter), so that each is measured while it has to cope with a full one.
    At most three times ``opts.stall_seconds``."""
    lines = STALL_BUFFER_BYTES / (opts.message_bytes + 64)
    needed = 1.25 * lines / baseline_lines_per_s if baseline_lines_per_s > 0 else 0.0
    return min(max(opts.stall_seconds, needed), 3 * opts.stall_seconds)


@dataclasses.dataclass
class FanoutResult:
    """One row: one server, one N, with or without the stalled client."""

    server: str
    n: int
    stalled: bool
    seconds: float = 0.0
    messages: int = 0
    expected: int = 0
    delivered: int = 0
    deliveries_per_s: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    server_cpu: float = 0.0
    loadgen_cpu: float = 0.0
    other_cpu: float = 0.0
    receivers_dropped: int = 0
    deflate: str = ""
    stalled_evicted_after_s: float | None = None
    delivery_stopped_after_s: float | None = None
    stalled_fate: str = ""
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ReceiverGroup:
    """One receiver process, and the lines it prints."""

    def __init__(self, index: int, port: int, count: int, opts: Options, log: Any,
                 max_seconds: float) -> None:
        args = ["-m", "wslab.bench.receivers", "--port", str(port), "--count", str(count),
                "--name", f"r{index}", "--max-seconds", f"{max_seconds:.0f}",
                "--coalesce-ms", str(opts.coalesce_ms), "--nice", str(opts.receiver_nice)]
        if opts.deflate:
            args.append("--deflate")
        self.child = procs.Child(f"receivers {index}", args, log=log, stdout_pipe=True)
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.transport: asyncio.BaseTransport | None = None

    async def start(self, on_complete: Any) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 30)
        self.transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), self.child.proc.stdout)
        self.task = loop.create_task(self._read(reader, on_complete))

    async def _read(self, reader: asyncio.StreamReader, on_complete: Any) -> None:
        while True:
            line = await reader.readline()
            if not line:
                await self.events.put({"event": "exit"})
                return
            if line.startswith(b"c "):
                on_complete(int(line[2:]))
            else:
                await self.events.put(json.loads(line))

    def command(self, text: str) -> None:
        assert self.child.proc.stdin is not None
        self.child.proc.stdin.write(text.encode() + b"\n")
        self.child.proc.stdin.flush()

    async def expect(self, event: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            got = await asyncio.wait_for(self.events.get(), max(0.01, deadline - time.monotonic()))
            if got["event"] == event:
                return got
            if got["event"] == "exit":
                raise RuntimeError(f"{self.child.label} exited unexpectedly:\n{self.child.tail()}")

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.command("quit")
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        if self.transport is not None:
            # Before the pipe's file is closed: the event loop must forget its descriptor first.
            self.transport.close()
        self.child.stop(grace=2.0)


class Window:
    """Counts lines that reached every receiver process; wakes the sender when one has."""

    def __init__(self, groups: int) -> None:
        self.groups = groups
        self.reports: dict[int, int] = {}
        self.completed = 0
        self.last_complete = -1
        self.progress = asyncio.Event()

    def on_complete(self, seq: int) -> None:
        have = self.reports.get(seq, 0) + 1
        if have >= self.groups:
            self.reports.pop(seq, None)
            self.completed += 1
            self.last_complete = max(self.last_complete, seq)
            self.progress.set()
        else:
            self.reports[seq] = have

    async def wait(self, until: float) -> None:
        self.progress.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.progress.wait(), max(0.0, until - time.monotonic()))


class Room:
    """A running server with its receivers and sender, and the sent lines' timestamps."""

    def __init__(self, server: str, n: int, opts: Options, log: Any) -> None:
        self.server, self.n, self.opts, self.log = server, n, opts, log
        self.port = free_port(HOST)
        self.srv: procs.Child | None = None
        self.groups: list[ReceiverGroup] = []
        self.sender = Sender(opts.message_bytes)
        self.window: Window | None = None
        self.seq = 0
        self.sent_ns: list[int] = []
        self.deflate = ""

    async def open(self, stack: contextlib.AsyncExitStack) -> None:
        opts = self.opts
        max_message = max(4096, opts.message_bytes + 64)
        self.srv = stack.enter_context(procs.Child(
            self.server, server_args(self.server, self.port, max_message), log=self.log,
            devnull_stdout=True))
        await asyncio.to_thread(procs.wait_for_port, HOST, self.port, 20.0, self.srv)
        nprocs = max(1, min(opts.receiver_procs, self.n))
        shares = [self.n // nprocs + (1 if i < self.n % nprocs else 0) for i in range(nprocs)]
        budget = (opts.connect_timeout + opts.warmup + opts.seconds + opts.stall_seconds
                  + 2 * opts.drain + 120)
        self.window = Window(nprocs)
        stack.push_async_callback(self._close)
        for index, share in enumerate(shares):
            group = ReceiverGroup(index, self.port, share, opts, self.log, budget)
            self.groups.append(group)
            await group.start(self.window.on_complete)
        ready = [await group.expect("ready", opts.connect_timeout) for group in self.groups]
        opened = sum(r["open"] for r in ready)
        if opened < self.n:
            errors = sorted({e for r in ready for e in r["errors"]})
            raise RuntimeError(f"only {opened} of {self.n} receivers connected: {errors}")
        accepted = sum(r["deflate"] for r in ready)
        self.deflate = ("on" if accepted == self.n else "off" if accepted == 0
                        else f"{accepted}/{self.n}")
        await self.sender.connect(HOST, self.port, "sender", deflate=opts.deflate)
        await self.quiet(30.0)

    async def _close(self) -> None:
        await self.sender.close()
        if self.srv is not None:
            # First, and without ceremony: a graceful shutdown would have each server announce
            # every departure to everyone still there, a million messages nobody measures.
            self.srv.stop(grace=0)
        for group in self.groups:
            await group.stop()

    async def quiet(self, timeout: float) -> None:
        """Wait until no receiver gets anything for a moment (wslab announces every join)."""
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            for group in self.groups:
                group.command("stats")
            frames = 0
            for group in self.groups:
                frames += (await group.expect("stats", 10))["frames"]
            if frames == last:
                return
            last = frames
            await asyncio.sleep(0.3)

    async def pump(self, until: float) -> None:
        """Send while fewer than ``window`` lines are in flight, until ``until``."""
        assert self.window is not None
        window, sender, limit = self.window, self.sender, self.opts.window
        while time.monotonic() < until and not sender.closed:
            if self.seq - window.completed < limit:
                self.sent_ns.append(time.time_ns())
                sender.send(self.seq)
                self.seq += 1
            else:
                await window.wait(until)

    async def drain(self) -> None:
        assert self.window is not None
        until = time.monotonic() + self.opts.drain
        while self.window.completed < self.seq and time.monotonic() < until:
            await self.window.wait(until)

    def cpu(self) -> tuple[float, float, float]:
        """CPU seconds so far: the server's, the load generator's (receivers and this
        process) and the whole machine's busy time."""
        assert self.srv is not None
        usage = resource.getrusage(resource.RUSAGE_SELF)
        loadgen = usage.ru_utime + usage.ru_stime
        for group in self.groups:
            with contextlib.suppress(OSError):
                loadgen += procs.cpu_seconds(group.child.pid)
        return procs.cpu_seconds(self.srv.pid), loadgen, procs.machine_busy_seconds()

    async def measure(self, result: FanoutResult, seconds: float, start_ns: int = 0) -> None:
        """Send for ``seconds``, drain, and fill ``result`` with what the receivers saw."""
        first = self.seq
        cpu0 = self.cpu()
        t0 = time.monotonic()
        await self.pump(t0 + seconds)
        t1 = time.monotonic()
        cpu1 = self.cpu()
        last = self.seq - 1
        await self.drain()
        latencies: list[int] = []
        dropped = 0
        left_ns = 0
        for group in self.groups:
            group.command(f"collect {first} {last}")
        for group in self.groups:
            got = await group.expect("results", 60)
            latencies.extend(got["latencies_us"])
            dropped += got["closed"]
            if got["stalled_left_ns"]:
                left_ns = min(left_ns or got["stalled_left_ns"], got["stalled_left_ns"])
        elapsed = t1 - t0
        result.seconds = round(elapsed, 3)
        result.messages = last - first + 1
        result.expected = result.messages * self.n
        result.delivered = len(latencies)
        result.deliveries_per_s = result.delivered / elapsed
        missing = max(0, result.expected - result.delivered)
        summary = summarise(latencies, missing)
        result.p50_ms, result.p99_ms = summary["p50_ms"], summary["p99_ms"]
        result.server_cpu = (cpu1[0] - cpu0[0]) / elapsed
        result.loadgen_cpu = (cpu1[1] - cpu0[1]) / elapsed
        result.other_cpu = max(0.0, (cpu1[2] - cpu0[2]) - (cpu1[0] - cpu0[0])
                               - (cpu1[1] - cpu0[1])) / elapsed
        result.receivers_dropped = dropped
        result.deflate = self.deflate
        if start_ns:
            if left_ns:
                result.stalled_evicted_after_s = round((left_ns - start_ns) / 1e9, 3)
            assert self.window is not None
            if missing and self.window.last_complete >= 0:
                stopped = self.sent_ns[self.window.last_complete] - start_ns
                result.delivery_stopped_after_s = round(max(0, stopped) / 1e9, 3)


async def run_room(server: str, n: int, opts: Options) -> list[FanoutResult]:
    """Baseline and (if ``opts.stall``) stalled rows for one server and one N.

    Never raises for a server that misbehaves: a failed run is a row with ``error`` set.
    """
    baseline = FanoutResult(server=server, n=n, stalled=False)
    stalled = FanoutResult(server=server, n=n, stalled=True)
    rows = [baseline, stalled] if opts.stall else [baseline]
    current = baseline
    try:
        with tempfile.NamedTemporaryFile(prefix="wslab-bench-", suffix=".log") as log:
            async with contextlib.AsyncExitStack() as stack:
                room = Room(server, n, opts, log)
                await room.open(stack)
                await room.pump(time.monotonic() + opts.warmup)
                await room.drain()
                await room.measure(baseline, opts.seconds)
                if opts.stall:
                    current = stalled
                    stall = await asyncio.to_thread(StalledClient, HOST, room.port, "stalled",
                                                    deflate=opts.stalled_deflate)
                    stack.callback(stall.close)
                    joined = time.time_ns()
                    seconds = stall_phase_seconds(opts, baseline.messages / baseline.seconds)
                    await room.measure(stalled, seconds, start_ns=joined)
                    stalled.stalled_fate = await asyncio.to_thread(stall.fate, 1.0)
    except Exception as exc:  # a broken run is a row with an error, not a crashed benchmark
        current.error = describe_exception(exc)[:400]
        if current is baseline and opts.stall:
            stalled.error = "not run: the baseline failed"
    return rows
