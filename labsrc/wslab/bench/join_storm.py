"""``python -m wslab.bench.join_storm``: how a storm of joins from one address delays the others.

The server is the real command, ``python -m wslab serve`` on loopback, run twice in one go:
first with the join pace off (``--join-rate 0``, as every server was before it had one), then
with its default pace (``wslab.admission``). Each time:

1. two people join from another address (127.0.0.2): alice says a line every ``--every``
   seconds, stamped with the time she sent it; bob notes when each arrives;
2. after a quiet second (the baseline), a process of its own (so that its work delays nobody's
   clients but the server's) opens ``--joins`` connections at once from one address
   (127.0.0.1), each a join that stays in the room and reads what it is sent (raw sockets that
   cost next to nothing, ``wslab.bench.wire``). Beyond ``MAX_INCOMPLETE_PER_ADDRESS``
   unfinished handshakes of one address (``wslab.transport_limits``) the server cuts the
   oldest before the app sees them: those count as "cut unanswered";
3. once every storm join has been welcomed or refused, and alice's lines have all reached bob
   (or ``DRAIN`` seconds have passed), it stops.

It prints, for each run, the delay of alice's lines at bob before and during the storm (p50 and
max), how many storm joins got in and how many were told to try again later (HTTP 429), and how long
the storm took to settle. The figures are the run's own: compare the two rows, not the numbers
of another machine. No test asserts them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from wslab.bench import procs, wire
from wslab.ports import free_port
from wslab.settings import DEFAULT_JOIN_RATE

START_TIMEOUT = 30.0
#: How long bob may take to receive the lines sent during the storm, once it has settled.
DRAIN = 60.0
#: How long the storm may take to settle: without a pace, 2,000 joins take minutes.
STORM_LIMIT = 600.0
#: Where the people already in the room connect from: this machine, but another address.
OTHERS = "127.0.0.2"
STORM_FROM = "127.0.0.1"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wslab.bench.join_storm",
                                     description=__doc__.split("\n")[0].split(": ", 1)[1])
    parser.add_argument("--json", metavar="PATH", help="also write the results here as JSON")
    parser.add_argument("--joins", type=int, default=2000, metavar="N",
                        help="joins in the storm, all from one address (default: 2000)")
    parser.add_argument("--every", type=float, default=0.2, metavar="S",
                        help="seconds between alice's lines (default: 0.2)")
    return parser


def run(joins: int = 2000, every: float = 0.2, workdir: str | None = None) -> list[dict[str, Any]]:
    """One storm against a server without a join pace, one against the default pace."""
    procs.raise_fd_limit()
    return [storm_against(rate, joins, every, workdir) for rate in (0.0, DEFAULT_JOIN_RATE)]


def storm_against(join_rate: float, joins: int, every: float,
                  workdir: str | None) -> dict[str, Any]:
    """Start ``serve --join-rate join_rate``, storm it, stop it; return the figures."""
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        log = open(Path(scratch, "server.log"), "wb")
        port = free_port()
        server = procs.Child("the chat server", [
            "-m", "wslab", "serve", "--host", "127.0.0.1", "--port", str(port),
            "--join-rate", str(join_rate), "--log-level", "error"], log=log)
        storm = procs.Child("the storm", ["-m", "wslab.bench.join_storm", "_storm", "--port",
                                          str(port), "--joins", str(joins)],
                            log=log, stdout_pipe=True)
        try:
            procs.wait_for_port("127.0.0.1", port, START_TIMEOUT, server)
            result = asyncio.run(_storm(port, every, storm))
            server.proc.send_signal(signal.SIGINT)
            server.proc.wait(10)
        finally:
            storm.stop()
            server.stop()
            log.close()
    result["join_rate"] = join_rate
    return result


async def _storm(port: int, every: float, storm: procs.Child) -> dict[str, Any]:
    """alice and bob in the room, and the storm process told to go after a quiet second."""
    import websockets

    url = f"ws://127.0.0.1:{port}"
    sent: list[float] = []  # when alice sent each line
    delays: dict[int, float] = {}  # line number: seconds until bob had it
    cut: dict[str, str] = {}  # who the server cut off, and how
    # No keepalive of their own: without a pace, the storm can keep the server from answering
    # a ping for longer than its timeout, and that delay is what is measured, not a failure.
    # alice never reads what she is sent: no bound on her client's queue, so that it keeps
    # reading the socket and the server never drops her as too slow (4408).
    async with websockets.connect(f"{url}/ws/alice", local_addr=(OTHERS, 0),
                                  ping_interval=None, max_queue=None) as alice, \
            websockets.connect(f"{url}/ws/bob", local_addr=(OTHERS, 0), ping_interval=None,
                               max_queue=None) as bob:
        await bob.recv()  # the welcome: bob is in the room before alice says anything
        listening = asyncio.get_running_loop().create_task(_listen(bob, sent, delays, cut))
        talking = asyncio.get_running_loop().create_task(_talk(alice, every, sent, cut))
        lines = procs.Lines(storm)
        await asyncio.to_thread(lines.next, START_TIMEOUT)  # "ready"
        await asyncio.sleep(1.0)
        storm_start = time.monotonic()
        storm.tell("go")
        outcomes = json.loads(await asyncio.to_thread(lines.next, STORM_LIMIT))
        storm_end = time.monotonic()
        await asyncio.sleep(1.0)
        talking.cancel()
        deadline = time.monotonic() + DRAIN
        while len(delays) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        storm.tell("stop")
        listening.cancel()
        await asyncio.gather(talking, listening, return_exceptions=True)
    # A line bob never had counts as delayed until the end.
    waited = [delays.get(n, time.monotonic() - at) for n, at in enumerate(sent)]
    before = [delay for at, delay in zip(sent, waited) if at < storm_start]
    during = [delay for at, delay in zip(sent, waited) if storm_start <= at <= storm_end + 1.0]
    joins = sum(outcomes.values())
    return {"joins": joins, "joined": outcomes.get("welcome", 0),
            "refused": outcomes.get("429", 0),
            "failed": joins - outcomes.get("welcome", 0) - outcomes.get("429", 0),
            "storm_seconds": round(storm_end - storm_start, 2),
            "lost": len(sent) - len(delays), "cut": cut,
            "before_ms": _summary(before), "during_ms": _summary(during)}


# -- the storm process ---------------------------------------------------------------------------


def _storm_main(argv: list[str]) -> int:
    """``_storm --port P --joins N``: say "ready", wait for "go", storm, print the outcomes as
    JSON (how many joins ended how), and keep the joins in the room until "stop"."""
    parser = argparse.ArgumentParser(prog="python -m wslab.bench.join_storm _storm")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--joins", type=int, required=True)
    args = parser.parse_args(argv)
    procs.raise_fd_limit()
    asyncio.run(_storm_process(args.port, args.joins))
    return 0


async def _storm_process(port: int, joins: int) -> None:
    """The storm's steps; the end of stdin (the coordinator gone) ends it at any step."""
    print("ready", flush=True)
    if not await asyncio.to_thread(sys.stdin.readline):  # "go"
        return
    stop = asyncio.Event()
    results = await asyncio.gather(*(_storm_join(port, n, stop) for n in range(joins)))
    print(json.dumps({outcome: results.count(outcome) for outcome in set(results)}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # "stop"
    stop.set()
    await asyncio.sleep(0.5)  # the joins hang up


async def _storm_join(port: int, n: int, stop: asyncio.Event) -> str:
    """One join of the storm: ``welcome``, an error code, or the HTTP status of a refused
    handshake; a welcomed one then stays and reads everything until ``stop``."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                       local_addr=(STORM_FROM, 0))
    except OSError:
        return "no connection"
    request, key = wire.handshake_request("127.0.0.1", port, f"/ws/storm{n}", deflate=False)
    writer.write(request)
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        status = head.split(b" ", 2)[1].decode()
        if status != "101":
            writer.close()
            return status
        wire.parse_handshake_response(head, key)
        frames = wire.FrameReader(deflate=False)
        first = None
        while first is None:
            data = await asyncio.wait_for(reader.read(65536), 60)
            if not data:
                return "closed"
            first = next((payload for opcode, payload in frames.feed(data)
                          if opcode == wire.OP_TEXT), None)
        message = json.loads(first)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, wire.HandshakeError):
        writer.close()
        return "failed"
    asyncio.get_running_loop().create_task(_drain(reader, writer, stop))
    return message.get("type") if message.get("type") == "welcome" else message.get("code", "?")


async def _drain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 stop: asyncio.Event) -> None:
    """Read and drop what the server sends until ``stop``; then hang up."""
    waiting = asyncio.get_running_loop().create_task(stop.wait())
    try:
        while not stop.is_set():
            reading = asyncio.get_running_loop().create_task(reader.read(262144))
            done, _ = await asyncio.wait({reading, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if reading not in done:
                reading.cancel()
                break
            if not reading.result():
                break
    except OSError:
        pass
    finally:
        waiting.cancel()
        writer.close()


async def _talk(alice: Any, every: float, sent: list[float], cut: dict[str, str]) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        while True:
            sent.append(time.monotonic())
            await alice.send(json.dumps({"message": f"line {len(sent) - 1}"}))
            await asyncio.sleep(every)
    except ConnectionClosed as closed:
        sent.pop()  # never sent
        cut["alice"] = _how(closed)


async def _listen(bob: Any, sent: list[float], delays: dict[int, float],
                  cut: dict[str, str]) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for raw in bob:
            message = json.loads(raw)
            if message.get("client_id") == "alice":
                n = int(message["message"].split()[1])
                delays[n] = time.monotonic() - sent[n]
    except ConnectionClosed as closed:
        cut["bob"] = _how(closed)


def _how(closed: Exception) -> str:
    """How the server closed a connection: its close code and reason, or that it just went."""
    frame = getattr(closed, "rcvd", None) or getattr(closed, "sent", None)
    return "cut without a close frame" if frame is None else f"{frame.code} {frame.reason}".strip()


def _summary(delays: list[float]) -> dict[str, Any]:
    if not delays:
        return {"lines": 0, "p50": None, "max": None}
    return {"lines": len(delays), "p50": round(statistics.median(delays) * 1000, 1),
            "max": round(max(delays) * 1000, 1)}


def render(results: list[dict[str, Any]]) -> str:
    """The figures, as the command prints them."""
    joins = results[0]["joins"]
    rows = [f"Join storm: {joins:,} joins at once from one address, against python -m wslab "
            f"serve on loopback ({os.cpu_count()} CPUs); alice's lines to bob, from another "
            "address:"]
    for result in results:
        pace = ("join pace off" if not result["join_rate"]
                else f"join pace {result['join_rate']:g}/s")
        before, during = result["before_ms"], result["during_ms"]
        rows += [f"  {pace}:",
                 f"    delay before the storm: p50 {before['p50']} ms, max {before['max']} ms "
                 f"({before['lines']} lines)",
                 f"    delay during the storm: p50 {during['p50']} ms, max {during['max']} ms "
                 f"({during['lines']} lines)",
                 f"    storm: {result['joined']:,} joined, {result['refused']:,} told to try "
                 f"again later, {result['failed']:,} cut unanswered; settled in "
                 f"{result['storm_seconds']:.1f} s; alice's lines never received: "
                 f"{result['lost']}"]
        rows += [f"    {who} was cut off: {how}" for who, how in sorted(result["cut"].items())]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = run(args.joins, args.every)
    print(render(results), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    # The storm's own process is this module too, started with "_storm" first.
    raise SystemExit(_storm_main(sys.argv[2:]) if sys.argv[1:2] == ["_storm"] else main())
