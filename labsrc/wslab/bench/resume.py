"""``python -m wslab.bench.resume``: a whole class drops and comes back; what the replay costs.

The server is the real command, ``python -m wslab serve`` on loopback, started and stopped here
(:func:`serve`, which takes the serve arguments: a later mode with two workers through Redis
starts its servers there too). The clients are real ``websockets`` clients in this process, each
from a loopback address of its own (127.0.1.1, 127.0.1.2, ...): a class on many addresses, so
the join pace, which is per address, lets their reconnects in at once as it would a class's.
The server runs with its defaults (20 lines to a newcomer, the join pace), except
``--rate-limit 0``, so that one speaker can say the benchmark's lines at once. Its history is
its default too: 200 chat lines, and the joins and leaves among them up to 800 messages in all
(``wslab.history.MESSAGES_PER_LINE``), which a whole class dropping and coming back needs: 200
leaves, the lines said meanwhile and up to 199 joins of those back first.

1. ``--clients`` clients join (``client-000``, ...); each keeps its resume key from its welcome,
   and counts the room's numbered messages with ``wslab.catch_up.CatchUp``, as the kit's own
   clients do (a repeat of an ``(epoch, seq)`` it has shown is dropped). One more client, the
   speaker, says ``--lines`` lines at once, live: the time until every client has all of them
   is the live fan-out, the baseline.
2. Every client drops at once. ``--drop abrupt`` (the default) closes its TCP connection
   without a close handshake, as a dying network stack or a killed browser does; the server sees
   the connection end, frees the name and keeps the key of its last holder (``room.departed``),
   and announces a leave, numbered like every leave. (A Wi-Fi drop the server has not noticed
   yet goes the other way, a takeover with the key: ``tests/test_resume_history.py``.) ``--drop
   clean`` closes with a close frame instead: the server's side is the same.
3. While they are away, the speaker says ``--lines`` lines.
4. All of them reconnect at once with ``?resume=KEY&epoch=E&after=N`` (what their ``CatchUp``
   says) and read until ``resumed``. The time from that burst until every client has every
   line said while it was away (per client, p50 and max) gives the replay throughput, against
   the live fan-out's; lines never shown and lines shown twice are counted (both must be 0: the
   command exits 1 otherwise).

The history's own memory is measured apart, in this process, with tracemalloc: a
``wslab.history.History`` of N = 200 and N = 10,000 filled twice over with chat lines as the
server keeps them (numbered JSON, about the benchmark's lines' length): the bytes Python
allocated for it and still holds, the entries and their text; not what the server's allocator
does with them. The server's resident memory (RSS, from ``/proc``) is read too: after the
joins, while they are away, and after they are back; it moves with everything the server does
(connections, buffers), so it bounds the history's cost rather than measuring it.

Linux only (``/proc``, the 127.0.1.x addresses). No process outlives it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import time
import tracemalloc
import urllib.parse
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

from wslab import envelope
from wslab.bench import procs
from wslab.bench.latency import shown_ms, summarise
from wslab.catch_up import CatchUp
from wslab.history import MESSAGES_PER_LINE, History, new_epoch
from wslab.ports import free_port
from wslab.resume import RESUME_PARAM
from wslab.settings import DEFAULT_HISTORY

HOST = "127.0.0.1"
SPEAKER = "speaker"
#: A line's text after its phase and number: about as long as a line students type.
LINE = "a chat line of about the length that people type in a workshop"
#: The two groups of lines: said while everyone is there, and while they are away.
LIVE, AWAY = "live", "away"
MEMORY_SIZES = (200, 10_000)
START_TIMEOUT = 30.0
#: The longest any step may take before the run gives up on it.
STEP_TIMEOUT = 120.0
#: After the reconnect burst: when nothing at all has arrived for this long, nothing will.
QUIET = 2.0
#: Steps shorter than this have their CPU shares left out: CPU time is counted in 10 ms ticks.
MIN_METERED = 0.2
#: The command's options: flag, type, default, what it sets.
OPTIONS = [
    ("--clients", int, 200, "clients that drop and come back"),
    ("--lines", int, 100, "lines the speaker says live, and again while they are away"),
    ("--history", int, DEFAULT_HISTORY, "the server's --history: the chat lines it keeps"),
    ("--drop", str, "abrupt", "how the clients drop: without a close handshake, or with one"),
    ("--memory-sizes", str, ",".join(map(str, MEMORY_SIZES)),
     "history sizes N whose memory is measured, comma-separated"),
]
DROPS = ("abrupt", "clean")
QUICK = {"clients": 10, "lines": 20, "memory_sizes": "200"}


# -- the server --------------------------------------------------------------------------------


@dataclasses.dataclass
class Server:
    """A running ``python -m wslab serve``: where to connect, and its process."""

    ws_url: str
    child: procs.Child

    def rss_kib(self) -> int:
        return procs.rss_kib(self.child.pid)


@contextlib.contextmanager
def serve(serve_args: Sequence[str], log: IO[bytes]) -> Iterator[Server]:
    """``python -m wslab serve`` on a free loopback port with ``serve_args``, until the block
    ends; its output goes to ``log``. The one place the benchmark starts servers."""
    port = free_port(HOST)
    child = procs.Child("the chat server", [
        "-m", "wslab", "serve", "--host", HOST, "--port", str(port), *serve_args], log=log)
    try:
        procs.wait_for_port(HOST, port, START_TIMEOUT, child)
        yield Server(f"ws://{HOST}:{port}", child)
    finally:
        child.stop()


def serve_args(options: argparse.Namespace) -> list[str]:
    """What the server is run with: its defaults, but no rate limit and ``--history``."""
    return ["--rate-limit", "0", "--history", str(options.history), "--log-level", "warning"]


# -- the clients -------------------------------------------------------------------------------


def line(phase: str, n: int) -> str:
    return f"{phase} {n} {LINE}"


class Reader:
    """One client: its connection, what its ``CatchUp`` counts, and when each line showed."""

    def __init__(self, name: str, address: str) -> None:
        self.name = name
        self.address = address
        self.catch = CatchUp()
        self.key = ""
        self.ws: Any = None
        self.task: asyncio.Task[None] | None = None
        #: Each line shown, by its text: when it was shown.
        self.shown: dict[str, float] = {}
        #: Per phase, when the last of its lines was shown.
        self.complete: dict[str, float] = {}
        #: Per phase, set then; and ``resumed``, set when it came.
        self.done: collections.defaultdict[str, asyncio.Event] = collections.defaultdict(
            asyncio.Event)
        self.expected: dict[str, int] = {}
        #: Lines shown a second time although their number was new: a line doubled.
        self.doubled = 0
        #: The speaker's lines, and the other numbered messages, that came marked ``replay``.
        self.replayed = 0
        self.replayed_other = 0
        #: The server's own messages, by type (welcome, resumed, gap_too_old, errors by code).
        self.notices: collections.Counter[str] = collections.Counter()
        self.heard_at = 0.0

    async def connect(self, url: str, **query: str) -> float:
        """Connect and start reading; returns when the handshake was done."""
        import websockets

        target = f"{url}/ws/{self.name}"
        if query:
            target += "?" + urllib.parse.urlencode(query)
        # No bound on the queue: the client reads as fast as it can, nobody pauses the socket.
        self.ws = await websockets.connect(target, open_timeout=START_TIMEOUT, max_queue=None,
                                           ping_interval=None, compression=None,
                                           local_addr=(self.address, 0))
        self.task = asyncio.get_running_loop().create_task(self._read(self.ws))
        return time.monotonic()

    async def _read(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                self.take(json.loads(raw), time.monotonic())

    def take(self, message: dict[str, Any], now: float) -> None:
        self.heard_at = now
        shown = self.catch.take(message).show
        if message.get("client_id") == envelope.SYSTEM:
            kind = message.get("type")
            self.notices[message.get("code", kind) if kind == "error" else kind] += 1
            if kind == "welcome":
                self.key = message["resume"]
            elif kind == "resumed":
                self.done[kind].set()
            if message.get(envelope.REPLAY):
                self.replayed_other += 1
            return
        if message.get("client_id") != SPEAKER:
            return
        text = message["message"]
        if message.get(envelope.REPLAY):
            self.replayed += 1
        if not shown:
            return  # a repeat, by its number: CatchUp counts it
        if text in self.shown:
            self.doubled += 1
            return
        self.shown[text] = now
        phase = text.split(" ", 1)[0]
        self.expected[phase] -= 1
        if not self.expected[phase]:
            self.complete[phase] = now
            self.done[phase].set()

    def expect(self, phase: str, lines: int) -> None:
        self.expected[phase] = lines

    def has_all(self, phase: str) -> bool:
        return phase in self.complete

    def lost(self, phase: str) -> int:
        return self.expected.get(phase, 0)

    async def drop(self, how: str) -> None:
        """Stop reading and hang up: abruptly (no close frame) or with a close handshake."""
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        if how == DROPS[0]:
            self.ws.transport.abort()
        else:
            await self.ws.close()

    async def reconnect(self, url: str) -> float:
        """Connect again asking for what was missed; returns when the handshake was done."""
        return await self.connect(url, **{RESUME_PARAM: self.key},
                                  **self.catch.resume_params())

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def address(index: int) -> str:
    """A loopback address of its own for client ``index``: 127.0.1.1, 127.0.1.2, ..."""
    return f"127.0.{1 + index // 250}.{1 + index % 250}"


async def until(test: Any, what: str, timeout: float = STEP_TIMEOUT) -> None:
    """Wait until ``test()`` holds, checking every few milliseconds; bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.005)


async def all_done(readers: list[Reader], *events: str, quiet: float | None = None) -> bool:
    """Wait until each of ``readers`` has had each of ``events``; True if they all did.

    With ``quiet``, stop waiting (False) once no reader has heard anything for that long:
    nothing more is coming. Without, a TimeoutError after ``STEP_TIMEOUT``.
    """
    every = asyncio.ensure_future(asyncio.gather(
        *(reader.done[event].wait() for reader in readers for event in events)))
    deadline = time.monotonic() + STEP_TIMEOUT
    try:
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(every), 0.25)
                return True
            except asyncio.TimeoutError:
                now = time.monotonic()
                if quiet is not None and now - max(r.heard_at for r in readers) > quiet:
                    return False
                if now > deadline:
                    if quiet is not None:
                        return False
                    raise TimeoutError(f"{', '.join(events)}: not within {STEP_TIMEOUT:g} s")
    finally:
        every.cancel()
        await asyncio.gather(every, return_exceptions=True)


async def say(speaker: Reader, phase: str, lines: int) -> float:
    """The speaker's ``lines`` lines of ``phase``, at once; returns when it started."""
    start = time.monotonic()
    for n in range(lines):
        await speaker.ws.send(json.dumps({"message": line(phase, n)}))
    return start


# -- the run -----------------------------------------------------------------------------------


class Meter:
    """CPU seconds used by the server and by this process (every client) over one step."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.started = (time.monotonic(), procs.cpu_seconds(server.child.pid),
                        time.process_time())

    def read(self) -> dict[str, float | None]:
        """Each one's share of a core since the meter started (None for a step too short for
        the clock ticks CPU time is counted in)."""
        wall, server, clients = self.started
        seconds = time.monotonic() - wall
        if seconds < MIN_METERED:
            return {"server_cpu": None, "client_cpu": None}
        return {"server_cpu": (procs.cpu_seconds(self.server.child.pid) - server) / seconds,
                "client_cpu": (time.process_time() - clients) / seconds}


async def drop_and_resume(server: Server, options: argparse.Namespace) -> dict[str, Any]:
    """Steps 1 to 4 of the module's docstring against ``server``; the figures."""
    clients, lines = options.clients, options.lines
    speaker = Reader(SPEAKER, HOST)
    readers = [Reader(f"client-{n:03d}", address(n)) for n in range(clients)]
    everyone = [speaker, *readers]
    rss = {"start": server.rss_kib()}
    try:
        await speaker.connect(server.ws_url)
        await until(lambda: speaker.key, "the speaker's welcome")
        last = speaker.catch.position + clients  # every join numbered
        started = time.monotonic()
        joined = await asyncio.gather(*(reader.connect(server.ws_url) for reader in readers))
        await until(lambda: all(r.catch.position == last for r in everyone), "the joins")
        rss["joined"] = server.rss_kib()

        for reader in everyone:
            reader.expect(LIVE, lines)
        meter = Meter(server)
        live_start = await say(speaker, LIVE, lines)
        await all_done(everyone, LIVE)
        live = _step([r.complete[LIVE] - live_start for r in readers], clients, clients * lines,
                     clients * lines, meter)

        left = speaker.notices["disconnect"]
        await asyncio.gather(*(reader.drop(options.drop) for reader in readers))
        await until(lambda: speaker.notices["disconnect"] - left == clients,
                    "the server noticing the drops")
        for reader in everyone:
            reader.expect(AWAY, lines)
        await say(speaker, AWAY, lines)
        await until(lambda: speaker.has_all(AWAY), "the speaker's lines while they are away")
        rss["away"] = server.rss_kib()

        meter = Meter(server)
        burst = time.monotonic()
        connected = await asyncio.gather(*(reader.reconnect(server.ws_url)
                                           for reader in readers))
        await all_done(readers, AWAY, "resumed", quiet=QUIET)  # what is missing then is lost
        back = [r for r in readers if r.has_all(AWAY)]
        replayed = sum(r.replayed for r in readers)
        replay = _step([r.complete[AWAY] - burst for r in back], clients, replayed,
                       replayed + sum(r.replayed_other for r in readers), meter)
        await asyncio.sleep(0.3)  # a doubled line arriving late is counted too
        rss["back"] = server.rss_kib()
    finally:
        await asyncio.gather(*(reader.close() for reader in everyone), return_exceptions=True)
    notices = sum((r.notices for r in readers), collections.Counter())
    live["handshake_ms"] = summarise([int((at - started) * 1e6) for at in joined])
    replay.update(
        handshake_ms=summarise([int((at - burst) * 1e6) for at in connected]),
        after_handshake_ms=_spread([r.complete[AWAY] - at for r, at in zip(readers, connected)
                                    if r.has_all(AWAY)], clients - len(back)),
        **{kind: notices[kind] for kind in ("resumed", "gap_too_old", "history_reset")},
        errors={kind: count for kind, count in notices.items() if kind not in (
            "welcome", "resumed", "gap_too_old", "history_reset", "join", "disconnect")})
    return {"live": live, "replay": replay, "rss_kib": rss,
            "lost": sum(r.lost(AWAY) for r in readers),
            "doubled": sum(r.doubled for r in readers),
            "repeats_dropped": sum(r.catch.repeats for r in readers)}


def _step(seconds: list[float], clients: int, lines: int, messages: int,
          meter: Meter) -> dict[str, Any]:
    """One step's figures: per client, the time until it had every line (p50 / max; a client
    that never did counts as never); for all, the time until everyone had everything (None if
    some never did), the lines and messages per second, and the CPU used meanwhile."""
    total = max(seconds) if len(seconds) == clients and seconds else None
    return {**_spread(seconds, clients - len(seconds)), "seconds": total,
            "lines": lines, "messages": messages,
            "lines_per_s": lines / total if total else None,
            "messages_per_s": messages / total if total else None, **meter.read()}


def _spread(seconds: list[float], missing: int) -> dict[str, Any]:
    """p50 and max of per client times, in ms; with ``missing`` clients that never got
    there, the max is never too (``wslab.bench.latency``'s rule for the p50)."""
    spread = summarise([int(s * 1e6) for s in seconds], missing)
    return {**spread, "max_ms": None if missing else spread["max_ms"]}


def history_memory(limit: int) -> dict[str, Any]:
    """Bytes a ``History(limit)`` holds once full of chat lines as the server keeps them."""
    epoch = new_epoch()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        history = History(limit, epoch=epoch)
        for seq in range(1, 2 * limit + 1):  # twice over: the oldest have been let go
            text = envelope.chat_message(f"client-{seq % 200:03d}", line(AWAY, seq))
            history.add(epoch, seq, envelope.numbered(text, epoch, seq), time.monotonic())
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    return {"history": limit, "entries": len(history), "bytes": held,
            "text_bytes": sum(len(entry.text) for entry in history)}


def run(options: argparse.Namespace) -> dict[str, Any]:
    """The memory of the history, then the run against a server of its own."""
    procs.raise_fd_limit()
    memory = [history_memory(int(n)) for n in options.memory_sizes.split(",") if n.strip()]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as scratch, \
            open(Path(scratch, "server.log"), "wb") as log, \
            serve(serve_args(options), log) as server:
        try:
            result = asyncio.run(drop_and_resume(server, options))
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}; the server's log:\n{server.child.tail()}") from None
    return {"options": vars(options), **result, "memory": memory, "cpus": os.cpu_count(),
            "load_before": load_before}


# -- the report --------------------------------------------------------------------------------


def render(result: dict[str, Any]) -> str:
    """The figures, as the command prints them."""
    o = result["options"]
    live, replay = result["live"], result["replay"]
    rss = {key: value / 1024 for key, value in result["rss_kib"].items()}
    rows = [
        f"Resume after a drop: {o['clients']} clients drop ({o['drop']}) and come back after "
        f"{o['lines']} lines were said, python -m wslab serve --history {o['history']} on "
        f"loopback ({result['cpus']} CPUs, load average {result['load_before']:.1f} before)",
        f"{'':<34}{'lines':>7}{'messages':>9}{'all have all':>13}{'lines/s':>9}{'msgs/s':>8}"
        f"{'per client p50':>15}{'max':>9}{'server CPU':>11}{'µs/msg':>7}{'clients CPU':>12}",
    ]
    for label, row in (("live fan-out", live), ("replay, from the reconnect burst", replay)):
        rows.append(f"{label:<34}{row['lines']:>7,}{row['messages']:>9,}"
                    f"{_ms(row['seconds'] and row['seconds'] * 1000):>13}"
                    f"{_rate(row['lines_per_s']):>9}{_rate(row['messages_per_s']):>8}"
                    f"{_ms(row['p50_ms']):>15}{_ms(row['max_ms']):>9}"
                    f"{_share(row['server_cpu']):>11}{_cost(row):>7}"
                    f"{_share(row['client_cpu']):>12}")
    rows += [
        f"replay / live: lines per second {_ratio(replay['lines_per_s'], live['lines_per_s'])}"
        f", messages per second {_ratio(replay['messages_per_s'], live['messages_per_s'])} (a "
        "replay also carries the leaves and joins the clients missed)",
        f"reconnect handshakes done: p50 {_ms(replay['handshake_ms']['p50_ms'])}, last "
        f"{_ms(replay['handshake_ms']['max_ms'])} after the burst (the first joins, all at "
        f"once too: p50 {_ms(live['handshake_ms']['p50_ms'])}, last "
        f"{_ms(live['handshake_ms']['max_ms'])}); from its own handshake, a client had every "
        f"line in p50 {_ms(replay['after_handshake_ms']['p50_ms'])}, max "
        f"{_ms(replay['after_handshake_ms']['max_ms'])}",
        f"replayed: {replay['lines']:,} of the speaker's lines (expected "
        f"{o['clients'] * o['lines']:,}) and {replay['messages'] - replay['lines']:,} leaves and "
        f"joins; resumed {replay['resumed']}, gap_too_old {replay['gap_too_old']}, "
        f"history_reset {replay['history_reset']}, errors {replay['errors'] or 0}",
        f"lines lost: {result['lost']:,}, lines doubled: {result['doubled']:,} "
        f"(repeats dropped by the clients' dedupe: {result['repeats_dropped']:,})",
    ]
    if replay["gap_too_old"]:
        rows.append(f"  the history was too short for this episode: {o['clients']} leaves, "
                    f"{o['lines']} lines and up to {o['clients'] - 1} joins of those back "
                    f"earlier are {2 * o['clients'] + o['lines'] - 1} numbered messages; "
                    f"--history {o['history']} keeps the last {o['history']} chat lines and at "
                    f"most {o['history'] * MESSAGES_PER_LINE} messages in all")
    rows.append(f"server RSS: {rss['start']:.1f} MiB started, {rss['joined']:.1f} MiB with "
                f"everyone joined, {rss['away']:.1f} MiB while they are away, "
                f"{rss['back']:.1f} MiB once back")
    for size in result["memory"]:
        entries = size["entries"]
        rows.append(f"history N={size['history']:,} (tracemalloc, {entries:,} chat lines kept): "
                    f"{size['bytes'] / 1024:,.0f} KiB, {size['bytes'] / entries:.0f} bytes per "
                    f"line, of which its text {size['text_bytes'] / entries:.0f}")
    return "\n".join(rows)


def _ms(value: float | None) -> str:
    return shown_ms(value, 0).replace(" ms", "") + (" ms" if value is not None else "")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _ratio(value: float | None, baseline: float | None) -> str:
    return "unknown" if not value or not baseline else f"{value / baseline:.2f}x"


def _cost(row: dict[str, Any]) -> str:
    """Server CPU microseconds per message delivered in the step."""
    if not row["seconds"] or not row["messages"] or row["server_cpu"] is None:
        return "-"
    return f"{row['server_cpu'] * row['seconds'] * 1e6 / row['messages']:.0f}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wslab.bench.resume",
                                     description=__doc__.split("\n")[0].split(": ", 1)[1])
    for flag, kind, default, what in OPTIONS:
        shown = "" if default is None else f" (default: {default})"
        parser.add_argument(flag, type=kind, default=default, help=f"{what}{shown}",
                            choices=DROPS if flag == "--drop" else None)
    parser.add_argument("--quick", action="store_true",
                        help="small: " + ", ".join(f"--{k.replace('_', '-')} {v}"
                                                   for k, v in QUICK.items()))
    parser.add_argument("--json", metavar="PATH", help="also write the results here as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    if options.quick:
        vars(options).update(QUICK)
    if not sys.platform.startswith("linux"):
        print("this benchmark reads the server's memory from /proc: Linux only")
        return 1
    try:
        result = run(options)
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    print(render(result), flush=True)
    if options.json:
        Path(options.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 1 if result["lost"] or result["doubled"] else 0


if __name__ == "__main__":
    sys.exit(main())
