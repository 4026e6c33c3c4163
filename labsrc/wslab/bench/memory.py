"""Server memory per idle connection: RSS growth over 1000 connections, divided by 1000.

The clients offer permessage-deflate exactly as browsers do, because that offer is what makes
the difference: a server that accepts it keeps a compressor and a decompressor per connection
(zlib's state, tens of KiB each) for as long as the connection lives, whether anyone talks or
not. The kit's server declines it (``wslab.serving``); uvicorn's and ``websockets``' defaults
accept it.

Method: start the server, open a few connections first (so the first connection's one-off
costs, such as imports and caches, are not charged to the rest), let it settle, read its RSS
(``VmRSS`` in ``/proc/<pid>/status``), open ``connections`` more, wait until nothing moves,
read RSS again. Python rarely gives memory back to the system, so the figure includes what the
server allocated and freed while accepting them (wslab's join announcements, for instance):
that is memory the process holds, and it is what a machine running it must have.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import tempfile
import time
from typing import Any

from wslab.bench import procs
from wslab.bench.servers import server_args
from wslab.errors import describe_exception
from wslab.ports import free_port

HOST = "127.0.0.1"
WARM = 20


@dataclasses.dataclass
class MemoryResult:
    server: str
    connections: int
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    kib_per_connection: float = 0.0
    deflate: str = ""
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _Clients:
    """A receiver process used as a crowd of idle clients; a context manager that stops it."""

    def __init__(self, port: int, count: int, name: str, log: Any, deflate: bool) -> None:
        args = ["-m", "wslab.bench.receivers", "--port", str(port), "--count", str(count),
                "--name", name, "--max-seconds", "180"]
        if deflate:
            args.append("--deflate")
        self.child = procs.Child(f"clients {name}", args, log=log, stdout_pipe=True)
        assert self.child.proc.stdout is not None
        self.fd = self.child.proc.stdout.fileno()
        self.buffer = b""

    def __enter__(self) -> "_Clients":
        return self

    def __exit__(self, *exc: object) -> None:
        self.child.stop()

    def _readline(self, deadline: float) -> bytes:
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
                raise TimeoutError(f"{self.child.label}: no answer")
            data = os.read(self.fd, 1 << 20)
            if not data:
                raise RuntimeError(f"{self.child.label} exited:\n{self.child.tail()}")
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def ask(self, command: str | None, event: str, timeout: float) -> dict[str, Any]:
        """Send ``command`` (if any) and wait for the line carrying ``event``; bounded."""
        proc = self.child.proc
        assert proc.stdin is not None
        if command:
            proc.stdin.write(command.encode() + b"\n")
            proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            line = self._readline(deadline)
            if line.startswith(b"{"):
                got = json.loads(line)
                if got["event"] == event:
                    return got


def _settle(clients: list[_Clients], timeout: float) -> None:
    """Wait until the clients stop receiving anything (bounded)."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        frames = sum(c.ask("stats", "stats", 10)["frames"] for c in clients)
        if frames == last:
            return
        last = frames
        time.sleep(0.3)


def measure_memory(server: str, connections: int = 1000, *, deflate: bool = True,
                   connect_timeout: float = 60.0, settle: float = 0.5) -> MemoryResult:
    """RSS growth of ``server`` per idle connection; never raises for a misbehaving server."""
    result = MemoryResult(server=server, connections=connections)
    try:
        _measure(result, deflate, connect_timeout, settle)
    except Exception as exc:
        result.error = describe_exception(exc)[:400]
    return result


def _measure(result: MemoryResult, deflate: bool, connect_timeout: float, settle: float) -> None:
    port = free_port(HOST)
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(tempfile.NamedTemporaryFile(prefix="wslab-bench-", suffix=".log"))
        srv = stack.enter_context(procs.Child(result.server, server_args(result.server, port, 4096),
                                              log=log, devnull_stdout=True))
        procs.wait_for_port(HOST, port, 20.0, srv)
        warm_clients = stack.enter_context(_Clients(port, WARM, "warm", log, deflate))
        ready = warm_clients.ask(None, "ready", connect_timeout)
        if ready["open"] < WARM:
            raise RuntimeError(f"warm-up clients failed: {ready['errors']}")
        _settle([warm_clients], 10)
        time.sleep(settle)
        result.rss_before_kib = procs.rss_kib(srv.pid)
        crowd = stack.enter_context(_Clients(port, result.connections, "idle", log, deflate))
        ready = crowd.ask(None, "ready", connect_timeout)
        if ready["open"] < result.connections:
            raise RuntimeError(f"only {ready['open']} of {result.connections} connected: "
                               f"{ready['errors']}")
        accepted = ready["deflate"]
        result.deflate = ("on" if accepted == result.connections else "off" if accepted == 0
                          else f"{accepted}/{result.connections}")
        _settle([warm_clients, crowd], 30)
        time.sleep(settle)
        result.rss_after_kib = procs.rss_kib(srv.pid)
        result.kib_per_connection = round(
            (result.rss_after_kib - result.rss_before_kib) / result.connections, 1)
        srv.stop(grace=0)  # before the clients leave, and at once: no departures to announce
