"""``python -m wslab.bench`` (``make bench``): the fan-out and memory benchmark, on loopback.

Runs every server at every N, then measures memory, prints the tables and the verdicts, and
optionally writes everything as JSON (``--json PATH``). It exits 0 even when a target is missed:
it is a measurement, not a test. Ctrl-C stops it cleanly; no process outlives it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import sys
import time
from typing import Any

from wslab.bench import procs
from wslab.bench.fanout import FanoutResult, Options, run_room
from wslab.bench.memory import MemoryResult, measure_memory
from wslab.bench.report import NOISY_CPU, render
from wslab.bench.servers import DEFAULT_SERVERS, SERVERS

QUICK_SIZES = [20]
#: Re-measuring disturbed rows may add at most this many seconds to a run.
RETRY_BUDGET = 120.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wslab.bench",
        description="Fan-out benchmark: the lecture's ConnectionManager, wslab and bare "
                    "websockets' broadcast(), on loopback; then memory per idle connection.")
    parser.add_argument("--sizes", default="100,500,1000",
                        help="receiver counts N, comma-separated (default: 100,500,1000)")
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="measured seconds per row without a stalled client (default: 2)")
    parser.add_argument("--stall-seconds", type=float, default=4.0,
                        help="measured seconds with the stalled client (default: 4)")
    parser.add_argument("--servers", default=",".join(DEFAULT_SERVERS),
                        help=f"which servers, from {','.join(SERVERS)} "
                             f"(default: {','.join(DEFAULT_SERVERS)})")
    parser.add_argument("--window", type=int, default=8,
                        help="lines in flight at once (default: 8)")
    parser.add_argument("--message-bytes", type=int, default=1024,
                        help="length of each chat line (default: 1024)")
    parser.add_argument("--receiver-procs", type=int, default=2,
                        help="processes the receivers are spread over (default: 2)")
    parser.add_argument("--no-deflate", action="store_true",
                        help="receivers do not offer permessage-deflate in the fan-out runs")
    parser.add_argument("--no-stall", action="store_true", help="skip the stalled-client runs")
    parser.add_argument("--memory-connections", type=int, default=1000,
                        help="idle connections for the memory measurement (0: skip; default 1000)")
    parser.add_argument("--retries", type=int, default=2,
                        help="re-measure a row disturbed by other processes up to this many "
                             "times (default: 2)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: N=20, short windows, 100 connections for memory")
    parser.add_argument("--json", metavar="PATH", help="also write the results here as JSON")
    return parser


def options_from(args: argparse.Namespace) -> tuple[list[int], Options, int, float]:
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    opts = Options(seconds=args.seconds, stall_seconds=args.stall_seconds, window=args.window,
                   message_bytes=args.message_bytes, receiver_procs=args.receiver_procs,
                   deflate=not args.no_deflate, stall=not args.no_stall)
    memory_connections = args.memory_connections
    if args.quick:
        sizes = QUICK_SIZES
        opts.seconds = min(opts.seconds, 0.5)
        opts.stall_seconds = min(opts.stall_seconds, 0.5)
        opts.warmup = 0.2
        opts.drain = 1.0
        opts.receiver_procs = 1
        memory_connections = min(memory_connections, 100)
    return sizes, opts, memory_connections, 0.2 if args.quick else 0.5


def describe(opts: Options, sizes: list[int], memory_connections: int,
             servers: list[str]) -> dict[str, Any]:
    import fastapi
    import starlette
    import uvicorn
    import websockets

    offer = ("offer permessage-deflate, as browsers do, and inflate what comes compressed"
             if opts.deflate else "do not offer permessage-deflate")
    return {
        "summary": (f"{os.cpu_count()} cores, Python {platform.python_version()}, "
                    f"uvicorn {uvicorn.__version__}, websockets {websockets.__version__}, "
                    f"FastAPI {fastapi.__version__}, Starlette {starlette.__version__}"),
        "method": [
            f"One sender keeps {opts.window} chat lines of {opts.message_bytes} bytes in flight; "
            "a line counts as delivered when",
            f"every receiver has it. Receivers: raw sockets in {opts.receiver_procs} "
            f"process{'es' if opts.receiver_procs != 1 else ''} (epoll, {opts.coalesce_ms:g} ms "
            f"batching, nice +{opts.receiver_nice});",
            f"they {offer}.",
            *(f"{SERVERS[name].label}: {SERVERS[name].how}" for name in servers),
        ],
        "seconds": opts.seconds,
        "stall_seconds": opts.stall_seconds,
        "options": {**opts.__dict__, "sizes": sizes, "memory_connections": memory_connections},
        "loadavg_before": _loadavg(),
    }


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as loadavg:
            return " ".join(loadavg.read().split()[:3])
    except OSError:
        return "?"


class RetryBudget:
    """Seconds left for re-measuring disturbed rows, shared by the whole run."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds


async def measure_room(server: str, n: int, opts: Options, retries: int,
                       budget: RetryBudget) -> list[FanoutResult]:
    """Measure one server at one N; while other processes disturbed the measurement (used more
    than a tenth of a core), wait for a quieter moment and measure again, at most ``retries``
    times and while ``budget`` lasts. Keeps the least disturbed attempt."""
    if retries:
        # Start in a quiet moment, if one comes soon: the classroom machine is often shared.
        await asyncio.to_thread(procs.wait_until_quiet, 10.0, NOISY_CPU)
    best = await run_room(server, n, opts)
    for _ in range(retries):
        if _noise(best) <= NOISY_CPU or budget.left <= 0:
            break
        started = time.monotonic()
        busy = await asyncio.to_thread(procs.wait_until_quiet, min(15.0, budget.left), NOISY_CPU)
        print(f" disturbed; again (others now use {busy:.0%} of a core) ...", end="",
              flush=True, file=sys.stderr)
        rows = await run_room(server, n, opts)
        if _noise(rows) < _noise(best):
            best = rows
        budget.left -= time.monotonic() - started
    return best


def _noise(rows: list[FanoutResult]) -> float:
    return max((row.other_cpu for row in rows if not row.error), default=0.0)


async def run(servers: list[str], sizes: list[int], opts: Options, memory_connections: int,
              settle: float, retries: int) -> tuple[list[FanoutResult], list[MemoryResult]]:
    rows: list[FanoutResult] = []
    budget = RetryBudget(RETRY_BUDGET)
    for n in sizes:
        for server in servers:
            started = time.monotonic()
            print(f"  fan-out: {SERVERS[server].label}, N={n} ...", end="", flush=True,
                  file=sys.stderr)
            rows += await measure_room(server, n, opts, retries, budget)
            print(f" {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    memory: list[MemoryResult] = []
    if memory_connections > 0:
        for server in servers:
            print(f"  memory: {SERVERS[server].label}, {memory_connections} idle connections ...",
                  end="", flush=True, file=sys.stderr)
            started = time.monotonic()
            memory.append(await asyncio.to_thread(measure_memory, server, memory_connections,
                                                  settle=settle))
            print(f" {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return rows, memory


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        sizes, opts, memory_connections, settle = options_from(args)
    except ValueError as exc:
        build_parser().error(str(exc))
    if (not sizes or min(sizes) < 1 or opts.window < 1 or opts.message_bytes < 64
            or opts.seconds <= 0 or opts.stall_seconds <= 0 or opts.receiver_procs < 1):
        build_parser().error("sizes, --window, --receiver-procs and the durations must be "
                             "positive, and --message-bytes at least 64")
    servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = [name for name in servers if name not in SERVERS]
    if unknown:
        build_parser().error(f"unknown server(s) {unknown}; choose from {list(SERVERS)}")
    procs.raise_fd_limit()
    # SIGTERM takes the same path as Ctrl-C: unwind, and stop every child on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    meta = describe(opts, sizes, memory_connections, servers)
    print(f"wslab.bench: load average before: {meta['loadavg_before']}", file=sys.stderr)
    try:
        rows, memory = asyncio.run(run(servers, sizes, opts, memory_connections, settle,
                                       0 if args.quick else max(0, args.retries)))
    except KeyboardInterrupt:
        print("\ninterrupted; every child process has been stopped", file=sys.stderr)
        return 130
    meta["loadavg_after"] = _loadavg()
    print(render(meta, rows, memory, sizes))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump({"meta": meta, "fanout": [r.as_dict() for r in rows],
                       "memory": [m.as_dict() for m in memory]}, out, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
