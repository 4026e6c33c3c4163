"""``python -m wslab.bench.stream_path``: how numbered events should travel between workers.

The room's log (``wslab.redis_history``) numbers every event in one Lua script and keeps it in
a Redis Stream. Two ways for the workers to hear the events, measured in one run on one real
``redis-server``:

- (a) the script also PUBLISHes the numbered event, and every worker listens on pub/sub, as the
  broker does today;
- (b) the script only keeps it, and every worker reads the stream with ``XREAD BLOCK``.

Each reader is a process of its own (as a worker is), on one connection, and does what a worker
would: it checks each event's signature and reads its JSON. One publisher (this process)
appends through the same script both ways. For 2 and 4 readers it measures:

- one-way latency, from just before the append to the reader having the event, at a steady
  ``--rate`` for ``--seconds`` (p50, p99, max over every delivery);
- throughput: ``--burst`` events appended as fast as ``--in-flight`` concurrent appends go,
  and how many events per second the slowest reader got (from the first append to its last
  delivery); events a reader never got are counted as lost, and numbers it saw skipped (an
  entry trimmed from the stream before a slow reader read it) as skipped;

then the memory of the history itself (``MEMORY USAGE`` of the stream, ``SAMPLES 0``: exact)
at N=200 and N=10,000 entries of the same events. The clock is the system-wide monotonic
clock, the same in every process of the machine. Redis is ``REDIS_URL`` or a ``redis-server``
from the PATH, started on a free port and stopped at the end; without either, it says how to
install Redis and exits 0 (a measurement, not a test). No process outlives it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import sys
import tempfile
import time
from typing import Any

from wslab import envelope
from wslab.bench import procs
from wslab.bench.latency import summarise
from wslab.events import decode_event, encode_event, make_event
from wslab.redis_history import RedisRoomLog, read_published
from wslab.signing import SECRET_ENV, EventSigner, new_secret

#: The two paths, by the name the table shows.
PATHS = {"pubsub": "(a) script + PUBLISH, pub/sub", "stream": "(b) script, XREAD BLOCK"}
#: What the history keeps while the paths are measured (the room's default).
HISTORY = 200
MEMORY_SIZES = (200, 10_000)
START_TIMEOUT = 20.0
DRAIN = 2.0
#: A bench event's text: a chat line of a typical length, its phase and stamp in front.
FILLER = "a line of chat, of about the length students type in a workshop "


def bench_event(seq: int, phase: str) -> dict[str, Any]:
    """An event as a worker publishes it, its text a chat line stamped with the monotonic clock."""
    text = envelope.chat_message("student-042", f"{phase} {time.monotonic_ns()} {FILLER}")
    return make_event("bench-publisher", seq, "chat", text=text)


def render(result: dict[str, Any]) -> str:
    o = result["options"]
    lines = [f"Events between workers through Redis {result['redis_version']} on loopback: "
             f"one publisher, latency at {o['rate']:g} events/s for {o['seconds']:g} s, "
             f"throughput for {o['burst']:,} events, {o['in_flight']} appends in flight",
             f"{'path':<32}{'readers':>8}{'p50':>10}{'p99':>10}{'max':>10}"
             f"{'appends/s':>11}{'events/s/reader':>17}{'lost':>7}{'skipped':>9}"
             f"{'Redis CPU/event':>17}"
             f"{'reader CPU/event':>18}"]
    for row in result["rows"]:
        latency = row["latency"]
        lines.append(f"{PATHS[row['path']]:<32}{row['readers']:>8}"
                     + "".join("     never" if latency[key] is None else f"{latency[key]:>8.2f}ms"
                               for key in ("p50_ms", "p99_ms", "max_ms"))
                     + f"{row['publisher_per_s']:>11,.0f}{row['slowest_per_s']:>17,.0f}"
                     + f"{row['lost']:>7,}{row['skipped']:>9,}{row['redis_cpu_us']:>15.1f}µs"
                     + f"{row['reader_cpu_us']:>16.1f}µs")
    for readers in sorted({row["readers"] for row in result["rows"]}):
        by_path = {row["path"]: row for row in result["rows"] if row["readers"] == readers}
        if set(by_path) == set(PATHS):
            a, b = by_path["pubsub"], by_path["stream"]
            lines.append(f"{readers} readers, (b) against (a): p99 "
                         f"{_ratio(b['latency']['p99_ms'], a['latency']['p99_ms'])}, "
                         f"events/s {_ratio(b['slowest_per_s'], a['slowest_per_s'])}, Redis CPU "
                         f"per event {_ratio(b['redis_cpu_us'], a['redis_cpu_us'])}")
    for size in result["memory"]:
        lines.append(f"history N={size['history']:,}: {size['entries']:,} entries kept "
                     f"(MAXLEN ~), {size['bytes']:,} bytes in Redis, "
                     f"{size['bytes'] / max(size['entries'], 1):.0f} bytes per entry "
                     f"(an event is {size['event_bytes']} bytes signed)")
    lines.append(f"machine: {os.cpu_count()} CPUs, load average {result['load_before']:.1f} "
                 "before the run (other programs' work shows up in these times)")
    return "\n".join(lines)


def _ratio(value: float | None, baseline: float | None) -> str:
    return "unknown" if not value or not baseline else f"{value / baseline:.2f}x"


# -- the coordinator ----------------------------------------------------------------------------


#: The command's options: flag, type, default, what it sets.
OPTIONS = [
    ("--readers", str, "2,4", "reader counts, comma-separated"),
    ("--rate", float, 500.0, "events per second while latency is measured"),
    ("--seconds", float, 3.0, "seconds of latency measurement per row"),
    ("--burst", int, 5000, "events appended as fast as they go, per row"),
    ("--in-flight", int, 16, "concurrent appends during the burst"),
    ("--memory-sizes", str, ",".join(map(str, MEMORY_SIZES)),
     "history sizes N whose memory is measured, comma-separated"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wslab.bench.stream_path",
                                     description=__doc__.split("\n")[0].split(": ", 1)[1])
    for flag, kind, default, what in OPTIONS:
        parser.add_argument(flag, type=kind, default=default, help=f"{what} (default: {default})")
    parser.add_argument("--json", metavar="PATH", help="also write the results here as JSON")
    return parser


def run(options: argparse.Namespace, url: str) -> dict[str, Any]:
    """Every row, the two paths taking turns for each reader count; then the memory."""
    os.environ.setdefault(SECRET_ENV, new_secret())
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = []
    with tempfile.NamedTemporaryFile(prefix="wslab-stream-path-", suffix=".log") as log:
        for number, readers in enumerate(int(n) for n in options.readers.split(",") if n.strip()):
            for path in PATHS:
                rows.append(_row(options, url, path, readers, f"bench:{number}:{path}", log))
    histories = [int(n) for n in options.memory_sizes.split(",") if n.strip()]
    return {"options": vars(options), "rows": rows, "memory": asyncio.run(_memory(url, histories)),
            "redis_version": asyncio.run(_redis_version(url)), "load_before": load_before}


def _row(options: argparse.Namespace, url: str, path: str, readers: int, channel: str,
         log: Any) -> dict[str, Any]:
    children = [procs.Child(f"reader {index}", [
        "-m", "wslab.bench.stream_path", "_reader", "--url", url, "--path", path,
        "--channel", channel], log=log, stdout_pipe=True) for index in range(readers)]
    try:
        said = [procs.Lines(child) for child in children]
        for lines in said:
            if lines.next(START_TIMEOUT) != "ready":
                raise RuntimeError(f"a reader failed:\n{lines.child.tail()}")
        redis_cpu = asyncio.run(_redis_cpu(url))
        sent = asyncio.run(_publish(options, url, path, channel))
        time.sleep(DRAIN)
        redis_cpu = asyncio.run(_redis_cpu(url)) - redis_cpu
        for child in children:
            child.tell("stop")
        reports = [json.loads(lines.next(30)) for lines in said]
    finally:
        for child in children:
            child.stop()
    return {"path": path, "readers": readers, **_figures(sent, reports, redis_cpu)}


def _figures(sent: dict[str, Any], reports: list[dict[str, Any]],
             redis_cpu: float) -> dict[str, Any]:
    """One row's figures, from what the publisher sent and what each reader reported."""
    latencies = [value for report in reports for value in report["latency_us"]]
    events = sent["latency"] + sent["burst"]
    received = [report["latency_received"] + report["burst_received"] for report in reports]
    return {
        "latency": summarise(latencies, sent["latency"] * len(reports) - len(latencies)),
        "publisher_per_s": sent["burst"] / sent["burst_seconds"],
        # the slowest reader: its burst events over the time from the first append to its last
        "slowest_per_s": min(report["burst_received"] * 1e9
                             / max(report["burst_last_ns"] - sent["burst_start_ns"], 1)
                             for report in reports),
        "lost": events * len(reports) - sum(received),
        "skipped": sum(report["skipped"] for report in reports),
        "redis_cpu_us": redis_cpu / events * 1e6,
        "reader_cpu_us": sum(report["cpu_seconds"] for report in reports)
        / max(sum(received), 1) * 1e6,
    }


async def _publish(options: argparse.Namespace, url: str, path: str,
                   channel: str) -> dict[str, Any]:
    """Append at the steady rate, then the burst; return what was sent and when."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    log = RedisRoomLog(client, url, EventSigner(os.environ[SECRET_ENV], channel), channel,
                       history=HISTORY, publish=path == "pubsub")
    try:
        count = int(options.rate * options.seconds)
        start = time.monotonic()
        for n in range(count):
            delay = start + n / options.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await log.append(bench_event(n + 1, "latency"))
        queue = iter(range(count + 1, count + options.burst + 1))
        burst_start_ns = time.monotonic_ns()

        async def appender() -> None:
            for seq in queue:
                await log.append(bench_event(seq, "burst"))

        await asyncio.gather(*(appender() for _ in range(options.in_flight)))
        return {"latency": count, "burst": options.burst, "burst_start_ns": burst_start_ns,
                "burst_seconds": (time.monotonic_ns() - burst_start_ns) / 1e9}
    finally:
        await client.aclose()


async def _memory(url: str, histories: list[int]) -> list[dict[str, Any]]:
    """The stream's memory at each N, filled by the script with the same events."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    secret = os.environ[SECRET_ENV]
    sizes = []
    try:
        for history in histories:
            channel = f"bench:memory:{history}"
            log = RedisRoomLog(client, url, EventSigner(secret, channel), channel,
                               history=history, publish=False)
            event = bench_event(1, "memory")
            for seq in range(1, 2 * history + 1):  # twice over: trimming has started
                await log.append({**event, "seq": seq})
            sizes.append({"history": history, "entries": await client.xlen(log.stream_key),
                          "bytes": await client.memory_usage(log.stream_key, samples=0),
                          "event_bytes": len(log.signer.sign(encode_event(event)))})
            await client.delete(log.stream_key, log.numbers_key)
    finally:
        await client.aclose()
    return sizes


async def _redis_info(url: str, section: str) -> dict[str, Any]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        return await client.info(section)
    finally:
        await client.aclose()


async def _redis_version(url: str) -> str:
    return str((await _redis_info(url, "server"))["redis_version"])


async def _redis_cpu(url: str) -> float:
    """CPU seconds redis-server has used so far (its main thread and the kernel's work for it)."""
    cpu = await _redis_info(url, "cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_reader"]:
        return _reader_main(argv[1:])
    options = build_parser().parse_args(argv)
    from wslab.redis_server import INSTALL_REDIS, RedisServer

    try:
        redis_server, problem = RedisServer.find(), INSTALL_REDIS
    except ConnectionError as exc:
        redis_server, problem = None, str(exc)
    if redis_server is None:
        print(f"stream path benchmark skipped: {problem}")
        return 0
    try:
        with redis_server:
            result = run(options, redis_server.url)
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    print(render(result))
    if options.json:
        pathlib.Path(options.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


# -- a reader (a worker's part of it) -----------------------------------------------------------


def _reader_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--path", choices=PATHS, required=True)
    parser.add_argument("--channel", required=True)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(_read(args))), flush=True)
    return 0


async def _read(args: argparse.Namespace) -> dict[str, Any]:
    """Read the events by the path asked for until told to stop; report what arrived when."""
    import redis.asyncio as aioredis

    signer = EventSigner(os.environ[SECRET_ENV], args.channel)
    report: dict[str, Any] = {"latency_us": [], "latency_received": 0, "burst_received": 0,
                              "burst_last_ns": 0, "skipped": 0, "last_seq": None}

    def take(seq: int, data: bytes) -> None:
        now = time.monotonic_ns()
        if report["last_seq"] is not None:  # a number skipped: never to arrive
            report["skipped"] += max(seq - report["last_seq"] - 1, 0)
        report["last_seq"] = seq
        text, _ = signer.open(data)
        event = decode_event(text) if text is not None else None
        if event is None:
            return
        phase, stamp = json.loads(event["text"])["message"].split(" ", 2)[:2]
        if phase == "latency":
            report["latency_us"].append((now - int(stamp)) // 1000)
            report["latency_received"] += 1
        elif phase == "burst":
            report["burst_received"] += 1
            report["burst_last_ns"] = now

    client = aioredis.Redis.from_url(args.url)
    log = RedisRoomLog(client, args.url, signer, args.channel, HISTORY)
    if args.path == "pubsub":
        pubsub = client.pubsub()
        await pubsub.subscribe(args.channel)
        while (await pubsub.get_message(timeout=1.0) or {}).get("type") != "subscribe":
            pass  # listening for sure before the publisher starts

        async def follow() -> None:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    published = read_published(message["data"])
                    take(published.seq or 0, published.data)
    else:
        newest = await client.xrevrange(log.stream_key, count=1)

        async def follow() -> None:
            last = newest[0][0] if newest else "0-0"
            while True:
                for _, entries in await client.xread({log.stream_key: last}, count=1000,
                                                     block=0):
                    for entry_id, fields in entries:
                        take(int(fields[b"seq"]), fields[b"data"])
                        last = entry_id
    task = asyncio.get_running_loop().create_task(follow())
    cpu_before = time.process_time()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "stop" or EOF
    report["cpu_seconds"] = time.process_time() - cpu_before
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await client.aclose()
    return report


if __name__ == "__main__":
    sys.exit(main())
