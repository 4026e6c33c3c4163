"""Receivers: many idle-looking chat clients in one process, as cheap per message as Python allows.

A fan-out benchmark measures the server only while the clients keep up, so the receivers skip
everything a real client library does and asyncio does per event. One process holds its share
of the N connections as plain non-blocking sockets in one ``epoll`` set, and per readable
socket it makes one ``recv`` and cuts the bytes into frames (``wslab.bench.wire``). For every
benchmark message (text ``BENCH:<seq>:<send time ns>:...``) it records the latency, now minus
the send time (one machine, one clock), and it tells the coordinator on stdout as soon as all of
its open connections have a message (``c <seq>``), which is what the sender's window waits for.

It also answers pings (uvicorn pings every 20 s) and inflates compressed messages when the
server accepted the permessage-deflate offer, as a browser would.

Run by the coordinator as ``python -m wslab.bench.receivers``; it talks in lines. It prints
``{"event": "ready", ...}`` once every connection is open (or failed), then obeys ``stats``,
``collect <first seq> <last seq>`` and ``quit`` on stdin. It exits on ``quit``, when stdin closes
(the coordinator is gone) or after ``--max-seconds``, whatever happens first.
"""

from __future__ import annotations

import argparse
import array
import errno
import json
import os
import resource
import select
import socket
import sys
import time

from wslab.bench import procs, wire

CONNECTING, HANDSHAKE, OPEN, CLOSED = range(4)
MARK = b"BENCH:"
#: Every server here announces a departure as "Client #<id> left the chat".
STALLED_LEFT = b"#stalled left"


class Conn:
    """One client connection and where it is in its life."""

    __slots__ = ("sock", "fd", "state", "path", "request", "key", "head", "reader")

    def __init__(self, sock: socket.socket, path: str) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.state = CONNECTING
        self.path = path
        self.request = b""
        self.key = ""
        self.head = b""
        self.reader: wire.FrameReader | None = None


class Receivers:
    """This process's connections, the one epoll loop that serves them all, and what they saw."""

    def __init__(self, host: str, port: int, count: int, name: str, deflate: bool,
                 concurrency: int, coalesce: float = 0.0) -> None:
        self.host, self.port, self.count, self.name = host, port, count, name
        self.deflate = deflate
        self.concurrency = concurrency
        self.coalesce = coalesce
        # When the first frame announcing that the stalled client left arrived (time_ns).
        self.stalled_left_ns = 0
        self.epoll = select.epoll()
        self.conns: dict[int, Conn] = {}
        self.started = 0
        self.in_handshake = 0
        self.open = 0
        self.failed = 0
        self.closed = 0
        self.deflate_accepted = 0
        self.errors: list[str] = []
        self.frames = 0
        # Per benchmark message: how many of our open connections have it.
        self.pending: dict[int, int] = {}
        self.seqs = array.array("q")
        self.lats = array.array("q")
        self.stdin_buf = b""
        self.buffer = bytearray(262144)
        self.view = memoryview(self.buffer)
        self.running = True
        self.ready_sent = False

    # -- connecting ---------------------------------------------------------------------
    def start_more(self) -> None:
        while self.started < self.count and self.in_handshake < self.concurrency:
            index = self.started
            self.started += 1
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Conn(sock, f"/ws/{self.name}-{index}")
            err = sock.connect_ex((self.host, self.port))
            if err not in (0, errno.EINPROGRESS):
                self.fail(conn, f"connect: {os.strerror(err)}", registered=False)
                continue
            self.in_handshake += 1
            self.conns[conn.fd] = conn
            self.epoll.register(conn.fd, select.EPOLLOUT)

    def fail(self, conn: Conn, why: str, registered: bool = True) -> None:
        if len(self.errors) < 5:
            self.errors.append(why)
        if registered:
            self.in_handshake -= 1
            self.drop(conn)
        else:
            conn.sock.close()
        self.failed += 1

    def drop(self, conn: Conn) -> None:
        conn.state = CLOSED
        self.conns.pop(conn.fd, None)
        try:
            self.epoll.unregister(conn.fd)
        except (OSError, ValueError):
            pass
        conn.sock.close()

    def on_writable(self, conn: Conn) -> None:
        err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.fail(conn, f"connect: {os.strerror(err)}")
            return
        conn.request, conn.key = wire.handshake_request(self.host, self.port, conn.path,
                                                           deflate=self.deflate)
        conn.sock.send(conn.request)  # a few hundred bytes always fit an empty socket buffer
        conn.state = HANDSHAKE
        self.epoll.modify(conn.fd, select.EPOLLIN)

    def on_handshake_data(self, conn: Conn, data: bytes) -> None:
        conn.head += data
        end = conn.head.find(b"\r\n\r\n")
        if end < 0:
            if len(conn.head) > 16384:
                self.fail(conn, "handshake response too long")
            return
        try:
            deflate = wire.parse_handshake_response(conn.head[:end], conn.key)
        except wire.HandshakeError as exc:
            self.fail(conn, f"handshake: {exc}")
            return
        rest = conn.head[end + 4:]
        conn.head = b""
        conn.reader = wire.FrameReader(deflate)
        conn.state = OPEN
        self.in_handshake -= 1
        self.open += 1
        self.deflate_accepted += deflate
        if rest:
            self.on_data(conn, rest)

    # -- receiving ----------------------------------------------------------------------
    def on_data(self, conn: Conn, data: bytes) -> None:
        now = 0
        for opcode, payload in conn.reader.feed(data):
            if opcode == wire.OP_TEXT:
                self.frames += 1
                i = payload.find(MARK)
                if i < 0:
                    if not self.stalled_left_ns and STALLED_LEFT in payload:
                        self.stalled_left_ns = time.time_ns()
                    continue
                i += 6
                j = payload.index(b":", i)
                k = payload.index(b":", j + 1)
                seq = int(payload[i:j])
                if not now:
                    now = time.time_ns()
                self.seqs.append(seq)
                self.lats.append(now - int(payload[j + 1:k]))
                have = self.pending.get(seq, 0) + 1
                if have >= self.open:
                    self.pending.pop(seq, None)
                    os.write(1, b"c %d\n" % seq)
                else:
                    self.pending[seq] = have
            elif opcode == wire.OP_PING:
                self.send(conn, wire.client_frame(wire.OP_PONG, payload))
            elif opcode == wire.OP_CLOSE:
                self.send(conn, wire.client_frame(wire.OP_CLOSE, payload[:2]))
                self.lost(conn)
                return

    def send(self, conn: Conn, frame: bytes) -> None:
        try:
            conn.sock.send(frame)
        except OSError:
            pass  # a pong or close reply that does not fit is not worth waiting for

    def lost(self, conn: Conn) -> None:
        """The server closed this connection: count it, and stop waiting for it."""
        if conn.state != OPEN:
            return
        self.drop(conn)
        self.open -= 1
        self.closed += 1
        for seq, have in list(self.pending.items()):
            if have >= self.open:
                del self.pending[seq]
                os.write(1, b"c %d\n" % seq)

    def on_readable(self, conn: Conn) -> None:
        # recv_into one reused buffer, then copy out only what arrived: ``recv(262144)`` would
        # have malloc map and unmap 256 KiB per call, which cost more than everything else.
        try:
            size = conn.sock.recv_into(self.buffer)
        except BlockingIOError:
            return
        except OSError as exc:
            size = 0
            if conn.state != OPEN:
                self.fail(conn, f"recv: {exc}")
                return
        data = self.view[:size].tobytes()
        if not data:
            if conn.state == OPEN:
                self.lost(conn)
            else:
                self.fail(conn, "closed during the handshake")
            return
        if conn.state == OPEN:
            self.on_data(conn, data)
        else:
            self.on_handshake_data(conn, data)

    # -- talking to the coordinator -----------------------------------------------------
    def say(self, event: dict) -> None:
        line = json.dumps(event).encode() + b"\n"
        view = memoryview(line)
        while view:
            written = os.write(1, view)
            view = view[written:]

    def on_command(self, line: str) -> None:
        words = line.split()
        if not words:
            return
        if words[0] == "stats":
            self.say({"event": "stats", "frames": self.frames, "open": self.open,
                      "closed": self.closed})
        elif words[0] == "collect":
            first, last = int(words[1]), int(words[2])
            lats = [lat // 1000 for seq, lat in zip(self.seqs, self.lats) if first <= seq <= last]
            usage = resource.getrusage(resource.RUSAGE_SELF)
            self.say({"event": "results", "latencies_us": lats, "open": self.open,
                      "closed": self.closed, "cpu_s": usage.ru_utime + usage.ru_stime,
                      "stalled_left_ns": self.stalled_left_ns})
        elif words[0] == "quit":
            self.running = False

    def on_stdin(self) -> None:
        data = os.read(0, 65536)
        if not data:
            self.running = False
            return
        self.stdin_buf += data
        *lines, self.stdin_buf = self.stdin_buf.split(b"\n")
        for line in lines:
            self.on_command(line.decode())

    # -- the loop -----------------------------------------------------------------------
    def run(self, max_seconds: float) -> None:
        deadline = time.monotonic() + max_seconds
        self.epoll.register(0, select.EPOLLIN)
        self.start_more()
        conns = self.conns
        while self.running:
            now = time.monotonic()
            if now >= deadline:
                break
            if not self.ready_sent and self.in_handshake == 0 and self.started == self.count:
                self.ready_sent = True
                self.say({"event": "ready", "open": self.open, "failed": self.failed,
                          "deflate": self.deflate_accepted, "errors": self.errors})
            ready = self.epoll.poll(min(0.5, deadline - now))
            for fd, events in ready:
                if fd == 0:
                    self.on_stdin()
                    continue
                conn = conns.get(fd)
                if conn is None:
                    continue
                if conn.state == CONNECTING:
                    if events & (select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP):
                        self.on_writable(conn)
                else:
                    self.on_readable(conn)
            if self.started < self.count:
                self.start_more()
            elif ready and self.coalesce:
                # Let more messages pile up before the next wake-up: one wake-up then serves
                # many sockets and many messages per socket, which is what keeps the
                # receivers cheaper than the server. Costs at most this much latency.
                time.sleep(self.coalesce)
        for conn in list(conns.values()):
            conn.sock.close()
        self.epoll.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True, help="connections to open")
    parser.add_argument("--name", default="r", help="client ids are <name>-<index>")
    parser.add_argument("--deflate", action="store_true",
                        help="offer permessage-deflate in the handshake, like a browser")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="handshakes in flight at once")
    parser.add_argument("--coalesce-ms", type=float, default=0.0,
                        help="after handling a batch of events, sleep this long (batching)")
    parser.add_argument("--nice", type=int, default=0,
                        help="lower this process's CPU priority by this much")
    parser.add_argument("--max-seconds", type=float, default=120.0,
                        help="exit after this long whatever happens")
    args = parser.parse_args(argv)
    procs.raise_fd_limit()
    if args.nice:
        os.nice(args.nice)
    Receivers(args.host, args.port, args.count, args.name, args.deflate,
              args.concurrency, args.coalesce_ms / 1000).run(args.max_seconds)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
