"""A Redis stand-in: fakeredis' TCP server, run in this process, for machines without Redis.

Elective E5 joins chat workers through Redis. Windows laptops, and machines where a student may
not install software, have no ``redis-server``; ``fakeredis`` is a Redis written in Python (a
PyPI package, no admin rights needed), and its TCP server speaks the Redis protocol on a real
port. So the lesson's workers, and any other process on this machine, connect to it with
redis-py exactly as they would to Redis: pub/sub, PING, and the commands redis-py sends when it
connects. It serves from threads of the process that started it (the notebook's kernel), so it
lives as long as that process: :meth:`RedisStandIn.stop` and :meth:`RedisStandIn.start` stop it
and start it again on the same port, as an outage would, and whatever is still running when the
interpreter exits is stopped then.

fakeredis' own connection loop looks for pub/sub messages to push every 10 ms, and only where
``fcntl`` exists: on Windows a subscriber would get its messages only when it next sent a
command; everywhere a message waited up to 10 ms, and a stop just after a PUBLISH lost a
message that PUBLISH had counted as delivered. So each connection here runs a loop of its own
(:class:`_Connection`) that writes a message out the moment it is queued, and writes out what
is left when it ends. It builds on fakeredis' request handler, which fakeredis does not export:
the kit pins fakeredis' version, and the tests cover what this module relies on.

What still differs from ``redis-server`` where the lesson looks (``tests/test_redis_stand_in.py``
runs the same steps against both and pins it): a subscriber that reads too slowly is cut off
as soon as its socket's buffer is full (a few MB), not by Redis' ``client-output-buffer-limit``
(32 MB; ``CONFIG`` is an unknown command here).

Tests, the benchmark and CI use a real ``redis-server``; the lesson falls back to this only when
there is none (:meth:`wslab.redis_server.RedisServer.find`). ``python -m wslab.redis_stand_in``
serves one until Ctrl-C, for the lesson's "running it yourself" section.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import socket
import sys
import threading
import time
from typing import Any

import fakeredis
import redis
from fakeredis._clients._tcp_server import TCPFakeRequestHandler

from wslab.redis_server import RedisServer, running_servers, safe_url

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
VERSION = fakeredis.__version__
#: How often the stand-in's listening thread checks whether it should stop.
_ACCEPT_POLL = 0.05


class _Doorbell(threading.Event):
    """The event fakeredis sets when it queues a reply or a message for a client, made to wake
    that client's thread too (which waits in ``select``, on sockets only)."""

    def __init__(self, ring: Any) -> None:
        super().__init__()
        self._ring = ring

    def set(self) -> None:
        super().set()
        self._ring()


class _Connection(TCPFakeRequestHandler):
    """One client's connection, served by a thread of its own that sleeps until either the
    client sends something or something is queued for the client.

    Its socket never blocks: a subscriber that stops reading is dropped once the socket's
    buffer is full, instead of holding this thread (and :meth:`RedisStandIn.stop`) for ever.
    """

    server: _TcpServer

    def setup(self) -> None:
        self.request.setblocking(False)
        super().setup()
        self._bell, self._ringer = socket.socketpair()
        self._ringer.setblocking(False)
        self.current_client.get_socket().response_ready = _Doorbell(self.ring)
        self.server.connections.add(self)

    def ring(self) -> None:
        """Wake this connection's thread (a full socket pair means a wake-up is pending)."""
        with contextlib.suppress(OSError):
            self._ringer.send(b"\0")

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # the client has gone: nothing to do
            while not self.server.stopping.is_set():
                self._write_queued()
                readable, _, _ = select.select([self.request, self._bell], [], [])
                if self._bell in readable:
                    self._bell.recv(4096)
                if self.request in readable:
                    try:
                        data = self.request.recv(65536)
                    except BlockingIOError:  # woken for nothing
                        continue
                    if not data:  # the client closed the connection
                        return
                    self.current_client.get_socket().sendall(data)

    def _write_queued(self) -> None:
        """Write out every reply and message queued for the client, in order."""
        while self.current_client.can_read():
            try:
                reply = self.current_client.read_response()
            except (redis.ResponseError, redis.AuthenticationError) as error:
                reply = error  # an error reply, sent as one
            self.writer.dump(reply)

    def finish(self) -> None:
        # What was queued before the end still goes out, as from a Redis shutting down: a
        # message that PUBLISH counted this subscriber for reaches it.
        with contextlib.suppress(OSError):  # unless the client has gone, or stopped reading
            self._write_queued()
        self.server.connections.discard(self)
        self._bell.close()
        self._ringer.close()
        super().finish()


class _TcpServer(fakeredis.TcpFakeServer):
    """fakeredis' TCP server with the connections above, and threads that leave no trace.

    The connections' threads are daemon threads, so that a stand-in left running cannot hold
    the interpreter open before the exit hook stops it; ``socketserver`` waits only for
    non-daemon threads, so this server keeps its own list of them for
    :meth:`RedisStandIn.stop`. A connection that fails (a subscriber that stopped reading fills
    its socket's buffer) is logged in one line, not as a traceback in the notebook.
    """

    def __init__(self, address: tuple[str, int]) -> None:
        self.stopping = threading.Event()
        self.connections: set[_Connection] = set()
        self.connection_threads: list[threading.Thread] = []
        super().__init__(address)
        self.RequestHandlerClass = _Connection

    def server_bind(self) -> None:
        # Reusing the address lets a restart bind the port again while the old connections
        # linger in TIME_WAIT; on Windows it would let two servers share one port (asyncio
        # leaves it off there, too).
        self.allow_reuse_address = os.name != "nt"
        super().server_bind()

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self.process_request_thread,
                                  args=(request, client_address), daemon=True,
                                  name=f"wslab redis stand-in client {client_address[1]}")
        self.connection_threads = [t for t in self.connection_threads if t.is_alive()]
        self.connection_threads.append(thread)
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        logger.warning("The Redis stand-in dropped its client at port %s: %s",
                       client_address[1], f"{type(error).__name__}: {error}")

    def shutdown(self) -> None:
        """Stop accepting, and wake every connection's thread to end."""
        self.stopping.set()
        for connection in list(self.connections):
            connection.ring()
        super().shutdown()


class RedisStandIn:
    """fakeredis' TCP server on loopback, with the interface of :class:`RedisServer`.

    ``url``, ``port``, ``start``/``stop`` (same port again), ``close``, ``ping``, ``running``,
    and use as a context manager. ``owned`` is always True: this object started the server and
    may stop it. After :meth:`stop` returns, no thread of the stand-in is left.
    """

    owned = True

    def __init__(self, port: int = 0) -> None:
        #: 0 until the first :meth:`start` picks a free port; then kept, for a restart.
        self.port = port
        self._server: _TcpServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def spawn(cls, port: int = 0, timeout: float = 5.0) -> RedisStandIn:
        """Start a stand-in on 127.0.0.1 (a free port when ``port`` is 0)."""
        server = cls(port)
        server.start(timeout=timeout)
        return server

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self, timeout: float = 5.0) -> None:
        """Start serving (again) on the port; return once it answers PING.

        Every start begins empty, as a ``redis-server`` that stores nothing on disk does.
        """
        if self.running:
            return
        server = _TcpServer((HOST, self.port))
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(_ACCEPT_POLL,),
                                        name=f"wslab redis stand-in :{self.port}", daemon=True)
        self._thread.start()
        running_servers.add(self)
        deadline = time.monotonic() + timeout
        while not self.ping():
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Redis stand-in did not answer on port {self.port}")
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close every connection, as a Redis shutting down does. Safe twice."""
        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        running_servers.discard(self)
        if server is None:
            return
        server.shutdown()
        server.server_close()
        for waited in [thread, *server.connection_threads]:
            if waited is not None:
                waited.join(timeout)

    def close(self) -> None:
        """Stop serving (a stand-in has no folder to remove: it keeps everything in memory)."""
        self.stop()

    def ping(self) -> bool:
        """Whether the stand-in answers PING on its port, as any Redis client would ask."""
        return RedisServer(self.url).ping()

    def __enter__(self) -> RedisStandIn:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (f"<RedisStandIn {safe_url(self.url)} {state}: fakeredis {VERSION} in this "
                "process, a stand-in for redis-server>")


def main(argv: list[str] | None = None) -> int:
    """Serve a stand-in on loopback until Ctrl-C: a Redis for workers started by hand."""
    parser = argparse.ArgumentParser(
        prog="python -m wslab.redis_stand_in",
        description="A Redis stand-in (fakeredis) on 127.0.0.1, for machines without "
                    "redis-server. It keeps nothing once stopped.")
    parser.add_argument("--port", type=int, default=6379, help="port to listen on (6379)")
    args = parser.parse_args(argv)
    try:
        server = RedisStandIn.spawn(args.port)
    except OSError as exc:
        print(f"Cannot listen on port {args.port} ({exc.strerror}): is a Redis already running "
              "there? Use it, or choose another port with --port.", file=sys.stderr)
        return 1
    with server:
        print(f"Redis stand-in (fakeredis {VERSION}) at {server.url}. Press Ctrl-C to stop.",
              flush=True)
        try:
            while True:
                time.sleep(3600)  # a sleep, unlike a lock's wait, ends at Ctrl-C on Windows too
        except KeyboardInterrupt:
            print("Stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
