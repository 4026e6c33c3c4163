"""``python -m wslab.bench.classroom``: a whole class chatting at once against classroom mode.

The server is the real command, ``python -m wslab serve --classroom --host 127.0.0.1``, with
its real limits on (10 messages per second per client, 256 messages waiting per client) and
its join token, read from the token file it keeps. The students are real WebSocket clients
(the ``websockets`` library), a few processes of them, paced as a class chats:

1. everyone joins at once (every connection opened at the same moment);
2. once everyone is in, everyone says hello at the same moment;
3. then everyone says ``--lines`` minus one more lines, one about every ``--gap`` seconds (with
   random jitter), well inside the rate limit.

Every line carries its sender's sequence number and the time it was sent (the system-wide
monotonic clock, the same in every process of the machine). Every student checks that it
receives every line of every student, its own included, in order per sender, and no error
reply; every close the server starts is counted (4408: too slow). Afterwards a newcomer joins
and chats, to show the server still answers; then the server is stopped with Ctrl-C (SIGINT),
and its own count of relayed lines and its last live view are read from its output.

It prints students, lines sent, deliveries expected and received, lost, out of order, p50 and
p99 delivery latency, and the wall time. ``tests/test_classroom.py`` runs the same code and
asserts that nothing was lost and nobody stalled; it asserts no timings.

No process outlives it: the server and the student processes are stopped on the way out, and
each student process exits when the pipe from this one closes, or after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import os
import random
import re
import resource
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from wslab.bench import procs
from wslab.bench.latency import shown_ms, summarise
from wslab.ports import free_port

START_TIMEOUT = 30.0
#: How long after their last line the students wait for the last deliveries.
DRAIN = 10.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wslab.bench.classroom",
                                     description=__doc__.split("\n")[0].split(": ", 1)[1])
    parser.add_argument("--students", type=int, default=200, help="students (default: 200)")
    parser.add_argument("--lines", type=int, default=5,
                        help="lines each student says, hello included (default: 5)")
    parser.add_argument("--gap", type=float, default=1.0,
                        help="seconds between one student's lines, on average (default: 1)")
    parser.add_argument("--procs", type=int, default=2,
                        help="processes the students are spread over (default: 2)")
    parser.add_argument("--json", metavar="PATH", help="also write the results here as JSON")
    return parser


# -- the coordinator ----------------------------------------------------------------------------


def run(students: int = 200, lines: int = 5, gap: float = 1.0, processes: int = 2,
        workdir: str | None = None) -> dict[str, Any]:
    """Run a class against a classroom-mode server; return what every student saw, merged."""
    started = time.monotonic()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        log = open(Path(scratch, "server.log"), "wb")
        student_log = open(Path(scratch, "students.log"), "wb")
        port = free_port()
        token_file = Path(scratch, "token")
        children: list[procs.Child] = []
        try:
            server = procs.Child("the classroom server", [
                "-m", "wslab", "serve", "--classroom", "--host", "127.0.0.1", "--port", str(port),
                "--token-file", str(token_file), "--status-every", "1"], log=log)
            children.append(server)
            procs.wait_for_port("127.0.0.1", port, START_TIMEOUT, server)
            token = token_file.read_text().strip()
            shares = [students // processes + (index < students % processes)
                      for index in range(processes)]
            firsts = [sum(shares[:index]) for index in range(processes)]
            groups = []
            for index, (first, count) in enumerate(zip(firsts, shares)):
                child = procs.Child(f"student process {index}", [
                    "-m", "wslab.bench.classroom", "_students", "--url",
                    f"ws://127.0.0.1:{port}", "--token", token, "--first", str(first),
                    "--count", str(count), "--students", str(students), "--lines", str(lines),
                    "--gap", str(gap)], log=student_log, stdout_pipe=True)
                children.append(child)
                groups.append(procs.Lines(child))
            joined = [json.loads(group.next(START_TIMEOUT)) for group in groups]
            join_seconds = time.monotonic() - started
            start_ns = time.monotonic_ns() + 200_000_000
            for child in children[1:]:
                child.tell(f"go {start_ns}")
            chat_seconds = lines * gap + DRAIN + START_TIMEOUT
            reports = [json.loads(group.next(chat_seconds)) for group in groups]
            answers = asyncio.run(_newcomer_answers(f"ws://127.0.0.1:{port}", token))
            server_cpu = procs.cpu_seconds(server.pid)
            server.proc.send_signal(signal.SIGINT)
            server.proc.wait(10)
        finally:
            for child in reversed(children):
                child.stop()
            log.close()
            student_log.close()
        output = Path(scratch, "server.log").read_text(encoding="utf-8", errors="replace")
    result = merge(students, lines, gap, processes, joined, reports, answers, output,
                   join_seconds, time.monotonic() - started)
    result["cpu_seconds"] = {"server": round(server_cpu, 2), "students": round(
        sum(report["cpu_seconds"] for report in reports), 2)}
    result["machine"] = {"cpus": os.cpu_count(), "load_before": load_before}
    return result


async def _newcomer_answers(url: str, token: str) -> bool:
    """Whether a student who joins after the chat is welcomed, and hears their own line."""
    import websockets

    text = "anyone still here?"

    async def hears_itself() -> bool:
        async with websockets.connect(f"{url}/ws/latecomer?token={token}", open_timeout=5) as ws:
            await ws.send(json.dumps({"message": text}))
            async for raw in ws:
                message = json.loads(raw)
                if message.get("client_id") == "latecomer" and message.get("message") == text:
                    return True
        return False

    try:
        return await asyncio.wait_for(hears_itself(), 10)
    except (asyncio.TimeoutError, OSError, websockets.WebSocketException):
        return False


def merge(students: int, lines: int, gap: float, processes: int, joined: list[dict],
          reports: list[dict], answers: bool, server_output: str, join_seconds: float,
          wall_seconds: float) -> dict[str, Any]:
    """The student processes' reports and the server's output, as one result."""
    latencies = {kind: [value for report in reports for value in report["latencies_us"][kind]]
                 for kind in ("hello", "later")}
    received = sum(report["received"] for report in reports)
    expected = students * lines * students
    closes: dict[str, int] = {}
    for report in reports:
        for code, count in report["closes"].items():
            closes[code] = closes.get(code, 0) + count
    relayed = re.findall(r"Stopped\. ([\d,]+) chat lines? relayed", server_output)
    views = re.findall(r"^== .*?(?=^== |^Stopped|\Z)", server_output, re.M | re.S)
    return {
        "options": {"students": students, "lines": lines, "gap": gap, "procs": processes},
        "joined": sum(report["joined"] for report in joined),
        "join_seconds": round(join_seconds, 2),
        "sent": sum(report["sent"] for report in reports),
        "expected": expected, "received": received, "lost": expected - received,
        "out_of_order": sum(report["out_of_order"] for report in reports),
        "errors": [code for report in reports for code in report["errors"]],
        "closes": closes,
        "latency": summarise(latencies["hello"] + latencies["later"], max(0, expected - received)),
        "latency_hello": summarise(latencies["hello"]),
        "latency_later": summarise(latencies["later"]),
        "answers_after": answers,
        "server_relayed": int(relayed[-1].replace(",", "")) if relayed else None,
        "server_last_view": views[-1].strip() if views else "",
        "wall_seconds": round(wall_seconds, 1),
    }


def render(result: dict[str, Any]) -> str:
    """The figures, as ``python -m wslab.bench.classroom`` prints them."""
    o = result["options"]
    latency = result["latency"]
    closes = ", ".join(f"{count} with {code}" for code, count in sorted(result["closes"].items()))
    rows = [
        f"Classroom: {o['students']} students in {o['procs']} processes against "
        "python -m wslab serve --classroom (its limits on), on loopback",
        f"  joined:       {result['joined']} of {o['students']}, all at once "
        f"(everyone in after {result['join_seconds']:.1f} s, processes started included)",
        f"  lines sent:   {result['sent']:,} ({o['lines']} each: hello all at once, then one "
        f"about every {o['gap']:g} s)",
        f"  deliveries:   {result['expected']:,} expected, {result['received']:,} received, "
        f"{result['lost']:,} lost, {result['out_of_order']:,} out of order",
        f"  latency:      p50 {shown_ms(latency['p50_ms'])}, p99 {shown_ms(latency['p99_ms'])}, "
        f"max {shown_ms(latency['max_ms'])} (sent to received, lost lines counted as never)",
        *(f"    {label:<26}p50 {shown_ms(row['p50_ms'])}, p99 {shown_ms(row['p99_ms'])}"
          for label, row in (("the hello, all at once:", result["latency_hello"]),
                             ("the later lines:", result["latency_later"]))),
        f"  refused:      {len(result['errors'])} error replies; closed by the server: "
        f"{closes or 'nobody'}",
        f"  afterwards:   the server {'answers' if result['answers_after'] else 'DOES NOT answer'}"
        f" a newcomer; it counted {result['server_relayed']} lines relayed",
        f"  wall time:    {result['wall_seconds']:.1f} s",
    ]
    if "cpu_seconds" in result:  # not measured when merge() is used alone
        rows.append(f"  CPU time:     server {result['cpu_seconds']['server']:.1f} s, students "
                    f"{result['cpu_seconds']['students']:.1f} s (all their processes)")
    if result["server_last_view"]:
        rows.append("The server's last live view:")
        rows += [f"  {line}" for line in result["server_last_view"].splitlines()]
    machine = result.get("machine", {})
    if machine.get("load_before") is not None:
        rows.append(f"machine: {machine['cpus']} CPUs, load average {machine['load_before']:.1f} "
                    "before the run (other programs' work shows up in these times)")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_students":
        return _students_main(argv[1:])
    options = build_parser().parse_args(argv)
    if min(options.students, options.lines, options.procs) < 1 or options.gap <= 0:
        build_parser().error("--students, --lines and --procs must be at least 1, --gap positive")
    try:
        result = run(options.students, options.lines, options.gap, options.procs)
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    print(render(result))
    if options.json:
        with open(options.json, "w", encoding="utf-8") as out:
            json.dump(result, out, indent=2)
    return 0


# -- the students -------------------------------------------------------------------------------


class Student:
    """One student's connection, and what it has seen of everyone's lines."""

    __slots__ = ("name", "ws", "next_seq", "received", "out_of_order", "errors", "close_code",
                 "welcomed", "done")

    def __init__(self, name: str) -> None:
        self.name = name
        self.ws: Any = None
        self.next_seq: dict[str, int] = {}
        self.received = 0
        self.out_of_order = 0
        self.errors: list[str] = []
        self.close_code: int | None = None
        self.welcomed = asyncio.Event()
        self.done = asyncio.Event()


def _students_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    for name in ("--first", "--count", "--students", "--lines"):
        parser.add_argument(name, type=int, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--gap", type=float, required=True)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    procs.raise_fd_limit()
    deadline = threading.Timer(args.max_seconds, os._exit, (3,))
    deadline.daemon = True
    deadline.start()
    asyncio.run(_students(args, sys.stdout))
    return 0


async def _students(args: argparse.Namespace, out: IO[str]) -> None:
    """Join, wait for "go", chat, and report what every student received."""
    import websockets

    loop = asyncio.get_running_loop()
    everyone = [f"s{index:03d}" for index in range(args.students)]
    class_ = [Student(everyone[index]) for index in range(args.first, args.first + args.count)]
    expected = args.students * args.lines
    latencies = {"hello": array.array("q"), "later": array.array("q")}
    closing = False

    async def listen(student: Student) -> None:
        try:
            async for raw in student.ws:
                now = time.monotonic_ns()
                message = json.loads(raw)
                kind = message.get("type")
                if kind is None:
                    seq, sent_ns, _ = message["message"].split(" ", 2)
                    sender = message["client_id"]
                    if int(seq) != student.next_seq.get(sender, 0):
                        student.out_of_order += 1
                    student.next_seq[sender] = int(seq) + 1
                    student.received += 1
                    latencies["later" if int(seq) else "hello"].append((now - int(sent_ns)) // 1000)
                    if student.received == expected:
                        student.done.set()
                elif kind == "welcome":
                    student.welcomed.set()
                elif kind == "error":
                    student.errors.append(str(message.get("code")))
        except websockets.ConnectionClosed:
            pass
        if not closing:
            student.close_code = student.ws.close_code
            student.welcomed.set()
            student.done.set()

    async def join(student: Student) -> None:
        try:
            student.ws = await websockets.connect(
                f"{args.url}/ws/{student.name}?token={args.token}", open_timeout=START_TIMEOUT,
                compression=None)
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as exc:
            student.errors.append(f"could not join: {exc}")
            student.done.set()
            return
        readers.append(loop.create_task(listen(student)))
        await student.welcomed.wait()

    async def speak(student: Student, start: float) -> int:
        said = 0
        if student.ws is None:
            return said
        for seq in range(args.lines):
            at = start + seq * args.gap + (random.uniform(-0.5, 0.5) * args.gap if seq else 0)
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            text = f"{seq} {time.monotonic_ns()} " + ("hello, everyone!" if seq == 0 else
                                                     f"line {seq} from {student.name}")
            try:
                await student.ws.send(json.dumps({"message": text}))
            except websockets.ConnectionClosed:
                break
            said += 1
        return said

    readers: list[asyncio.Task[None]] = []
    await asyncio.gather(*(join(student) for student in class_))
    joined = sum(student.ws is not None and student.close_code is None for student in class_)
    out.write(json.dumps({"joined": joined}) + "\n")
    out.flush()
    command = (await loop.run_in_executor(None, sys.stdin.readline)).split()
    if len(command) != 2 or command[0] != "go":
        raise SystemExit(1)
    procs.exit_when_parent_goes()
    start = int(command[1]) / 1e9
    sent = sum(await asyncio.gather(*(speak(student, start) for student in class_)))
    try:
        await asyncio.wait_for(asyncio.gather(*(student.done.wait() for student in class_)),
                               DRAIN)
    except asyncio.TimeoutError:
        pass
    closing = True
    closes: dict[str, int] = {}
    for student in class_:
        if student.close_code is not None:
            code = str(int(student.close_code))  # "1006", whether an int or a CloseCode
            closes[code] = closes.get(code, 0) + 1
    out.write(json.dumps({
        "sent": sent, "received": sum(student.received for student in class_),
        "out_of_order": sum(student.out_of_order for student in class_),
        "errors": [code for student in class_ for code in student.errors],
        "closes": closes, "cpu_seconds": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
        "latencies_us": {kind: values.tolist() for kind, values in latencies.items()}}) + "\n")
    out.flush()
    await asyncio.gather(*(student.ws.close() for student in class_ if student.ws),
                         return_exceptions=True)
    for task in readers:
        task.cancel()


if __name__ == "__main__":
    sys.exit(main())
