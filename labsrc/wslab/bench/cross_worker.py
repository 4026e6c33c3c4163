"""``python -m wslab.bench.cross_worker``: delivery latency within a worker and across workers.

Two chat server processes (workers) share one Redis. Each has its own 100 clients, held by a
client process of its own; together the clients send 100 chat lines per second, each line
stamped with the time it was sent, and every client times every line it receives. A line from
a client of the same worker is a *same-worker* delivery, one from the other worker's client a
*cross-worker* delivery. The table gives p50, p99 and the maximum of each.

Both kinds take the same path (every line goes through Redis, the sender's own worker
included: see ``wslab.room``), so the two should be within a fraction of a millisecond of each
other on loopback; the issue's target is "within a few milliseconds". The clock is the
system-wide monotonic clock, the same in every process of the machine, so a time stamped by
one process can be compared with one read by another.

It runs for about 10 s: starting (1-2 s), one second of warm-up, ``--seconds`` measured (8 by
default), half a second for the last lines to arrive. ``--baseline`` adds a second run, the
same clients all on one worker without Redis, to show what Redis itself adds. Redis is ``REDIS_URL`` or a
``redis-server`` from the PATH, started on a free port and stopped at the end; without either,
it says how to install Redis and exits 0 (a measurement, not a test). No process outlives it:
every child reads a pipe from this process and exits when it closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
from typing import Any

from wslab.bench import procs
from wslab.bench.latency import summarise
from wslab.ports import free_port
from wslab.signing import SECRET_ENV, new_secret

WARMUP = 1.0
DRAIN = 0.5
START_TIMEOUT = 20.0


def render(result: dict[str, Any]) -> str:
    """The results as the small table ``make bench`` prints."""
    o = result["options"]
    lines = [f"Cross-worker delivery: {o['workers']} workers x {o['clients']} clients, "
             f"{o['rate']:g} lines/s for {o['seconds']:g} s, Redis pub/sub on loopback",
             f"{'pair':<14}{'deliveries':>12}{'p50':>10}{'p99':>10}{'max':>10}"]
    rows = [("same worker", result["same_worker"]), ("cross worker", result["cross_worker"])]
    if "baseline" in result:
        rows.append(("one worker", result["baseline"]))
    for name, row in rows:
        lines.append(f"{name:<14}{row['deliveries']:>12,}"
                     + "".join("     never" if row[key] is None else f"{row[key]:>8.2f}ms"
                               for key in ("p50_ms", "p99_ms", "max_ms")))
    cross, same = result["cross_worker"]["p99_ms"], result["same_worker"]["p99_ms"]
    gap = "unknown" if cross is None or same is None else f"{cross - same:+.2f} ms"
    lines.append(f"cross-worker p99 - same-worker p99: {gap} "
                 f"(target: within a few ms); lines missing: {result['missing']}")
    if "baseline" in result:
        lines.append(f"one worker: the same {o['workers'] * o['clients']} clients all on one "
                     "worker, without Redis (what one process does alone)")
    machine = result.get("machine", {})
    if "load_before" in machine:
        lines.append(f"machine: {machine['cpus']} CPUs, load average {machine['load_before']:.1f} "
                     "before the run (other programs' work shows up in these times)")
    return "\n".join(lines)


# -- the coordinator ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wslab.bench.cross_worker",
                                     description=__doc__.split("\n")[0].split(": ", 1)[1])
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default: 2)")
    parser.add_argument("--clients", type=int, default=100,
                        help="clients per worker (default: 100)")
    parser.add_argument("--rate", type=float, default=100.0,
                        help="chat lines per second, all clients together (default: 100)")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="measured seconds, after one of warm-up (default: 8)")
    parser.add_argument("--baseline", action="store_true",
                        help="also run the same clients on one worker without Redis, to show "
                             "what Redis adds (about twice as long)")
    parser.add_argument("--json", metavar="PATH", help="also write the results here as JSON")
    return parser


def run(options: argparse.Namespace, redis_url: str | None) -> dict[str, Any]:
    """Start the workers and client processes, measure, and return the merged results.

    Without ``redis_url``: the baseline, one worker with the default in-process broker, every
    client process connected to it.
    """
    children: list[procs.Child] = []
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with tempfile.NamedTemporaryFile(prefix="wslab-cross-worker-", suffix=".log") as log:
        try:
            ports = [free_port() for _ in range(options.workers if redis_url else 1)]
            broker = ["--broker", redis_url] if redis_url else []
            os.environ.setdefault(SECRET_ENV, new_secret())  # the workers' shared secret
            for port in ports:
                children.append(procs.Child(f"the worker on port {port}", [
                    "-m", "wslab.bench.cross_worker", "_worker", "--port", str(port), *broker],
                    log=log, devnull_stdout=True))
            for port, child in zip(ports, children):
                procs.wait_for_port("127.0.0.1", port, START_TIMEOUT, child)
            clients = [procs.Child(f"client process {index}", [
                "-m", "wslab.bench.cross_worker", "_clients",
                "--url", f"ws://127.0.0.1:{ports[index % len(ports)]}", "--index", str(index),
                "--clients", str(options.clients), "--rate", str(options.rate / options.workers),
                "--seconds", str(options.seconds)], log=log, stdout_pipe=True)
                for index in range(options.workers)]
            children.extend(clients)
            said = [procs.Lines(child) for child in clients]
            for lines in said:  # every client of every worker connected before anyone speaks
                if lines.next(START_TIMEOUT) != "ready":
                    raise RuntimeError(f"a client process failed:\n{lines.child.tail()}")
            time.sleep(0.5)  # the last joins reach the other worker
            # One start for every client process: the system-wide monotonic clock, in ns.
            start_ns = time.monotonic_ns() + 100_000_000
            for child in clients:
                child.tell(f"go {start_ns}")
            reports = [json.loads(lines.next(WARMUP + options.seconds + DRAIN + 10))
                       for lines in said]
        finally:
            for child in reversed(children):
                child.stop()
    same = [value for report in reports for value in report["same"]]
    cross = [value for report in reports for value in report["cross"]]
    sent = sum(report["sent"] for report in reports)
    expected = sent * options.clients * options.workers
    missing = expected - len(same) - len(cross)
    return {"options": vars(options), "same_worker": summarise(same),
            "cross_worker": summarise(cross), "all": summarise(same + cross, missing),
            "sent": sent, "missing": missing,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform(), "load_before": load_before}}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_worker":
        return _worker_main(argv[1:])
    if argv and argv[0] == "_clients":
        return _clients_main(argv[1:])
    options = build_parser().parse_args(argv)
    from wslab.redis_server import INSTALL_REDIS, RedisServer

    try:
        redis = RedisServer.find()
    except ConnectionError as exc:
        print(f"cross-worker benchmark skipped: {exc}")
        return 0
    if redis is None:
        print(f"cross-worker benchmark skipped: {INSTALL_REDIS}")
        return 0
    with redis:
        started = time.monotonic()
        try:
            result = run(options, redis.url)
            if options.baseline:
                alone = run(options, None)
                result["baseline"] = {**alone["all"], "missing": alone["missing"]}
        except KeyboardInterrupt:
            print("interrupted")
            return 130
        result["wall_seconds"] = round(time.monotonic() - started, 1)
    print(render(result))
    if options.json:
        with open(options.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2)
    return 0


# -- the children -------------------------------------------------------------------------------


def _worker_main(argv: list[str]) -> int:
    """A worker: the kit's own ``python -m wslab serve``, quiet, without a rate limit."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", required=True)
    parser.add_argument("--broker")
    args = parser.parse_args(argv)
    procs.exit_when_parent_goes()
    from wslab.__main__ import main as serve

    sys.stdout = open(os.devnull, "w")  # the banner: nobody reads it
    broker = ["--broker", args.broker] if args.broker else []
    return serve(["serve", "--port", args.port, *broker, "--rate-limit", "0",
                  "--log-level", "warning"])


def _clients_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    report = asyncio.run(_clients(args))
    print(json.dumps(report), flush=True)
    return 0


async def _clients(args: argparse.Namespace) -> dict[str, Any]:
    """Connect the clients, wait for "go", send at the rate, time every line received."""
    import websockets

    same: list[int] = []
    cross: list[int] = []
    measuring = {"from": 0}

    prefix = '{"message": "bench '

    async def read(ws: Any) -> None:
        async for raw in ws:
            now = time.monotonic_ns()
            if not raw.startswith(prefix):
                continue  # joins, welcome: not timed
            # '{"message": "bench <index> <sent_ns>", ...}': read by hand, cheaper than JSON
            index, sent_ns = raw[len(prefix):raw.index('"', len(prefix))].split()
            if int(sent_ns) >= measuring["from"]:
                (same if int(index) == args.index else cross).append((now - int(sent_ns)) // 1000)

    sockets = []
    for n in range(args.clients):
        sockets.append(await websockets.connect(f"{args.url}/ws/w{args.index}c{n}",
                                                open_timeout=10, max_queue=None,
                                                compression=None))
    readers = [asyncio.create_task(read(ws)) for ws in sockets]
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    command = (await loop.run_in_executor(None, sys.stdin.readline)).split()
    if len(command) != 2 or command[0] != "go":
        raise SystemExit(1)
    procs.exit_when_parent_goes()
    start_ns = int(command[1])
    measuring["from"] = start_ns + int(WARMUP * 1e9)
    await asyncio.sleep(max(0.0, (start_ns - time.monotonic_ns()) / 1e9))
    start = start_ns / 1e9
    interval = 1.0 / args.rate
    sent = 0
    count = int((WARMUP + args.seconds) * args.rate)
    for n in range(count):
        delay = start + n * interval - time.monotonic_ns() / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        stamp = time.monotonic_ns()
        await random.choice(sockets).send(json.dumps({"message": f"bench {args.index} {stamp}"}))
        if stamp >= measuring["from"]:
            sent += 1
    await asyncio.sleep(DRAIN)
    for task in readers:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {"same": same, "cross": cross, "sent": sent}


if __name__ == "__main__":
    sys.exit(main())
