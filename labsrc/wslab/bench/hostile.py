"""``python -m wslab.bench.hostile``: what one hostile client costs the others, before and after.

Two servers, measured in the same run, one after the other, each the real chat app with a join
token in a process of its own on loopback:

- ``uvicorn``: uvicorn's own HTTP and WebSocket protocols (h11, websockets-sansio): no limits
  below the app, as the kit had before ``wslab.transport_limits``;
- ``wslab``: the kit's protocols (``wslab.http_protocol``, ``wslab.uvicorn_protocol``).

Against each, three attacks:

1. **ping flood after a refusal**: a client with a wrong token is sent 1008, then sends pings
   for ``--seconds`` without reading a byte. Printed: the server's memory growth, and whether
   (and when) the server cut the connection.
2. **tiny frames**: while two students chat (one line every 120 ms, inside the rate limit), a
   third client sends 30,000 one-byte frames at once. Printed: the worst and median delay of
   the students' lines during the flood, lines lost, whether the flooder was closed, and how
   many log lines the server wrote.
3. **half-open handshakes**: 200 connections send one line of a request and nothing more.
   Printed: how many the server still holds after the handshake timeout and a second.

It asserts nothing: it prints figures (``tests/test_hostile_transport.py`` and
``tests/test_handshake_limits.py`` assert the behaviours).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import websockets
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from wslab.child_process import ChildProcess
from wslab.ports import free_port
from wslab.transport_limits import HEAD_TIMEOUT

HOST = "127.0.0.1"
TOKEN = "bench-token"
VARIANTS = {"uvicorn": "uvicorn's own protocols (h11, websockets-sansio): no transport limits",
            "wslab": "the kit's protocols (wslab.http_protocol, wslab.uvicorn_protocol)"}
TINY_FRAMES = 30_000
HALF_OPEN = 200
#: Seconds between two lines of a chatting student: inside the default rate limit.
LINE_GAP = 0.12
#: Lines the chatting student says during the flood.
LINES = 25


def serve(variant: str, port: int) -> None:
    """The server process: the chat app with a join token, with ``variant``'s protocols."""
    import logging

    import uvicorn

    from wslab.chat import create_app
    from wslab.quiet_log import quieten
    from wslab.serving import uvicorn_config
    from wslab.settings import ChatSettings

    logging.basicConfig(level="WARNING", format="%(levelname)s %(name)s: %(message)s")
    if variant == "wslab":
        quieten(logging.getLogger().handlers)
    overrides: dict[str, Any] = ({"ws": "websockets-sansio", "http": "h11"}
                                 if variant == "uvicorn" else {})
    config = uvicorn_config(create_app(ChatSettings(token=TOKEN)), host=HOST, port=port,
                            log_level="warning", **overrides)
    uvicorn.Server(config).run()


class Server:
    """One variant's server process, its output counted line by line."""

    def __init__(self, variant: str) -> None:
        self.port = free_port()
        self.child = ChildProcess(f"bench server ({variant})",
                                  ["-m", "wslab.bench.hostile", "--serve", variant,
                                   str(self.port)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = 0
        threading.Thread(target=self._count, daemon=True).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the benchmark's server did not start")

    def _count(self) -> None:
        for _ in self.child.proc.stdout:
            self.lines += 1

    def rss_kib(self) -> int:
        with open(f"/proc/{self.child.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self) -> None:
        self.child.stop(grace=0)


def raw_connect(port: int, path: str, small_window: bool = True,
                ) -> tuple[socket.socket, ClientProtocol]:
    """A WebSocket connection over a raw socket (with a small receive window: a client that
    does not read), handshake done."""
    uri = parse_uri(f"ws://{HOST}:{port}{path}")
    sock = socket.socket()
    if small_window:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((HOST, port))
    proto = ClientProtocol(uri, max_size=None)
    proto.send_request(proto.connect())
    sock.sendall(b"".join(proto.data_to_send()))
    while not proto.events_received():
        proto.receive_data(sock.recv(4096))
    return sock, proto


def send_frames(sock: socket.socket, proto: ClientProtocol, frames: list[Frame]) -> None:
    for frame in frames:
        proto.send_frame(frame)
    sock.sendall(b"".join(proto.data_to_send()))


def ping_flood(server: Server, seconds: float) -> dict[str, Any]:
    sock, proto = raw_connect(server.port, "/ws/mallory?token=wrong")
    time.sleep(0.3)  # the refusal (1008) is sent; this client never reads it
    before = server.rss_kib()
    sock.settimeout(0.2)
    start = time.monotonic()
    cut_after = None
    pings = [Frame(Opcode.PING, b"p" * 125)] * 100
    while time.monotonic() - start < seconds:
        try:
            send_frames(sock, proto, pings)
        except (BrokenPipeError, ConnectionResetError):
            cut_after = time.monotonic() - start
            break
        except TimeoutError:
            pass
    grown = server.rss_kib() - before
    sock.close()
    return {"memory_growth_mb": round(grown / 1024, 1),
            "cut_after_s": None if cut_after is None else round(cut_after, 1)}


async def tiny_frames(server: Server) -> dict[str, Any]:
    url = f"ws://{HOST}:{server.port}/ws"
    async with websockets.connect(f"{url}/ann?token={TOKEN}") as ann, \
            websockets.connect(f"{url}/bob?token={TOKEN}") as bob:
        await ann.recv()
        await bob.recv()
        sent: dict[str, float] = {}
        delays: list[float] = []
        lines_before = server.lines

        async def listen() -> None:
            while len(delays) < LINES:
                try:
                    message = json.loads(await bob.recv())
                except ValueError:  # what the flooder's frames became, relayed as text
                    continue
                text = message.get("message")
                if message.get("type") is None and text in sent:
                    delays.append(time.monotonic() - sent[text])

        listener = asyncio.create_task(listen())
        sock, proto = raw_connect(server.port, f"/ws/flood?token={TOKEN}", small_window=False)
        for _ in range(TINY_FRAMES):
            proto.send_frame(Frame(Opcode.TEXT, b"x"))
        frames = b"".join(proto.data_to_send())
        closed: list[int | None] = []
        reader = threading.Thread(target=lambda: closed.append(_closed_with(sock, proto)))
        reader.start()  # the flooder reads what it is sent: it is not dropped as too slow
        flood = asyncio.create_task(asyncio.to_thread(_flood_quietly, sock, frames))
        for n in range(LINES):
            text = f"line {n}"
            sent[text] = time.monotonic()
            await ann.send(json.dumps({"message": text}))
            await asyncio.sleep(LINE_GAP)
        try:
            await asyncio.wait_for(listener, 30)
        except asyncio.TimeoutError:
            listener.cancel()
        await flood
        await asyncio.to_thread(reader.join)
        sock.close()
    return {"worst_delay_ms": round(max(delays) * 1000) if delays else None,
            "median_delay_ms": round(statistics.median(delays) * 1000) if delays else None,
            "lines_lost": len(sent) - len(delays), "flooder_closed_with": closed[0],
            "log_lines": server.lines - lines_before}


def _flood_quietly(sock: socket.socket, frames: bytes) -> None:
    try:
        sock.sendall(frames)
    except OSError:  # cut off halfway: what the benchmark is about
        pass


def _closed_with(sock: socket.socket, proto: ClientProtocol) -> int | None:
    """Read all the server sends; the close code it sent, if it sent one within 10 s of
    anything else."""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            proto.receive_data(data)
            proto.events_received()
            if proto.close_rcvd is not None:
                return proto.close_rcvd.code
    except OSError:
        pass
    return None


def half_open(server: Server) -> dict[str, Any]:
    socks = []
    for _ in range(HALF_OPEN):
        sock = socket.create_connection((HOST, server.port), timeout=5)
        sock.sendall(b"GET /ws/x HTTP/1.1\r\n")
        socks.append(sock)
    time.sleep(HEAD_TIMEOUT + 1)  # a benchmark measures what is there after this long
    held = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            held += sock.recv(1) != b""
        except BlockingIOError:
            held += 1
        except OSError:
            pass
        sock.close()
    return {"still_held": held, "of": HALF_OPEN}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wslab.bench.hostile",
                                     description=__doc__.split("\n")[0].split(": ", 1)[1])
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="seconds of the ping flood (default: 5)")
    parser.add_argument("--serve", nargs=2, metavar=("VARIANT", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    if not sys.platform.startswith("linux"):
        print("this benchmark reads the server's memory from /proc: Linux only")
        return 1
    for variant, what in VARIANTS.items():
        server = Server(variant)
        try:
            print(f"{variant}: {what}", flush=True)
            print(f"  ping flood after 1008 ({args.seconds:g} s): {ping_flood(server, args.seconds)}",
                  flush=True)
            print(f"  {TINY_FRAMES:,} one-byte frames: {asyncio.run(tiny_frames(server))}",
                  flush=True)
            print(f"  {HALF_OPEN} half-open handshakes: {half_open(server)}", flush=True)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
