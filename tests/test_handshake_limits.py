"""Request heads and connections: timed, sized and counted (``wslab.http_protocol``,
``wslab.connection_table``).

First the connection table's rules, on their own; then a real server on loopback, with raw
sockets sending half a handshake, heads too long, and connections past the caps; last the
command-line server in a process limited to 256 open files, as on a macOS laptop.
"""

from __future__ import annotations

import inspect
import socket
import subprocess
import sys
import time

import pytest
import websockets
from uvicorn.protocols.http.h11_impl import H11Protocol, RequestResponseCycle

from deadlines import listening, scaled, wait_until
from peers import join
from wslab.chat import create_app
from wslab.child_process import ChildProcess
from wslab.connection_table import ConnectionTable, _tables
from wslab.http_protocol import RELIED_ON
from wslab.ports import free_port
from wslab.runner import BackgroundServer
from wslab.settings import ChatSettings
from wslab.transport_limits import HEAD_TIMEOUT, MAX_HEAD_BYTES, MAX_REQUEST_LINE

# -- the table's rules ---------------------------------------------------------------------------


class Connection:
    """A stand-in for a transport: what the table drops, it marks dropped."""

    def __init__(self) -> None:
        self.dropped = False

    def drop(self) -> None:
        self.dropped = True


def arrive(table: ConnectionTable, address: str) -> Connection:
    connection = Connection()
    table.arrived(connection, address, connection.drop)  # type: ignore[arg-type]
    return connection


def test_a_full_table_drops_the_oldest_half_open_connection_for_a_newcomer():
    table = ConnectionTable(capacity=3)
    old, middle, newest = (arrive(table, "10.0.0.1") for _ in range(3))
    student = arrive(table, "10.0.0.1")  # the same address as the attacker: still let in
    assert old.dropped and not middle.dropped and not newest.dropped
    assert len(table) == 3 and table.head_read(student) is None  # type: ignore[arg-type]


def test_half_open_connections_per_address_are_capped_and_others_are_untouched():
    table = ConnectionTable(capacity=100, incomplete_per_address=2)
    other = arrive(table, "10.0.0.2")
    first, second, third = (arrive(table, "10.0.0.1") for _ in range(3))
    assert first.dropped and not second.dropped and not third.dropped and not other.dropped
    assert table.incomplete("10.0.0.1") == 2 and table.incomplete() == 3


def test_open_connections_past_the_caps_are_refused_with_a_reason():
    table = ConnectionTable(capacity=3, open_per_address=2)
    for _ in range(2):
        assert table.head_read(arrive(table, "10.0.0.1")) is None  # type: ignore[arg-type]
    status, reason = table.head_read(arrive(table, "10.0.0.1"))  # type: ignore[arg-type, misc]
    assert status == 429 and "too many connections from your address" in reason
    assert table.head_read(arrive(table, "10.0.0.2")) is None  # type: ignore[arg-type]
    status, reason = table.head_read(arrive(table, "10.0.0.3"))  # type: ignore[arg-type, misc]
    assert status == 503 and "full" in reason
    assert table.open() == 3


def test_a_connection_that_leaves_no_longer_counts():
    table = ConnectionTable(capacity=2, open_per_address=1)
    first = arrive(table, "10.0.0.1")
    assert table.head_read(first) is None  # type: ignore[arg-type]
    table.left(first)  # type: ignore[arg-type]
    table.left(Connection())  # type: ignore[arg-type]  # one it never knew: ignored
    assert len(table) == 0
    assert table.head_read(arrive(table, "10.0.0.1")) is None  # type: ignore[arg-type]


# -- what the protocol relies on in uvicorn -------------------------------------------------------


@pytest.mark.parametrize("name", RELIED_ON["methods"])
def test_each_method_relied_on_is_in_uvicorns_h11_protocol(name):
    assert callable(getattr(H11Protocol, name, None)), f"uvicorn's H11Protocol has no {name}"


def test_each_attribute_relied_on_is_set_by_uvicorns_h11_protocol():
    source = inspect.getsource(H11Protocol)
    for name in RELIED_ON["attributes"]:
        assert f"self.{name} =" in source or f"self.{name}:" in source, name
    assert "response_complete" in inspect.getsource(RequestResponseCycle)


# -- a real server -------------------------------------------------------------------------------


@pytest.fixture
def server():
    started = BackgroundServer(create_app(ChatSettings(token="secret")),
                               name="test-handshake-limits").start()
    yield started
    started.stop()


@pytest.fixture
def sockets():
    opened: list[socket.socket] = []

    def connect(port: int) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=scaled(HEAD_TIMEOUT + 5))
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        sock.close()


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it ends the connection."""
    received = b""
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not data:
            return received
        received += data


def upgrade_head(path: str, extra: str = "") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


@pytest.mark.slow
def test_a_handshake_not_finished_in_time_is_closed_without_an_answer(server, sockets):
    sock = sockets(server.port)
    sock.sendall(b"GET /ws/slow?token=secret HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    start = time.monotonic()
    assert answer(sock) == b""
    assert HEAD_TIMEOUT - 0.5 <= time.monotonic() - start <= scaled(HEAD_TIMEOUT + 3)


@pytest.mark.slow
def test_a_later_request_head_on_a_kept_alive_connection_is_timed_too(server, sockets):
    sock = sockets(server.port)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    first = b""
    while b"\r\n\r\n" not in first:
        first += sock.recv(65536)
    head, _, body = first.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    assert head.startswith(b"HTTP/1.1 200 ")
    sock.sendall(b"GET /ws/slow?token=secret HTTP/1.1\r\n")  # and never the rest
    start = time.monotonic()
    assert answer(sock) == b""
    assert time.monotonic() - start <= scaled(HEAD_TIMEOUT + 3)


@pytest.mark.slow
def test_a_request_line_too_long_gets_414(server, sockets):
    sock = sockets(server.port)
    sock.sendall(upgrade_head("/ws/" + "a" * MAX_REQUEST_LINE))
    reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 414 ") and b"request line is longer" in reply


@pytest.mark.slow
def test_a_request_head_too_long_gets_431(server, sockets):
    sock = sockets(server.port)
    cookies = "".join(f"X-Filler-{n}: {'b' * 1000}\r\n" for n in range(MAX_HEAD_BYTES // 1000))
    sock.sendall(upgrade_head("/ws/big?token=secret", cookies))
    reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 431 ") and b"request head is longer" in reply


@pytest.mark.slow
async def test_connections_past_the_cap_of_an_address_are_refused_with_429(server):
    table = ConnectionTable(capacity=100, open_per_address=2)
    _tables[server._server.server_state] = table  # this server's table, with a small cap
    peers = [await join(server.ws_url, name + "?token=secret") for name in ("ann", "bob")]
    try:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(f"{server.ws_url}/ws/cy?token=secret")
        response = refused.value.response
        assert response.status_code == 429
        assert b"too many connections from your address" in response.body
    finally:
        for peer in peers:
            await peer.ws.close()


# -- under a 256-file limit ----------------------------------------------------------------------

#: Starts the command-line server with at most 256 open files, a macOS laptop's default.
LIMITED_SERVE = ("import resource, runpy, sys; "
                 "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)); "
                 "sys.argv = ['wslab', *sys.argv[1:]]; "
                 "runpy.run_module('wslab', run_name='__main__')")


@pytest.fixture
def limited_server():
    port = free_port()
    child = ChildProcess("python -m wslab serve (256 files)",
                         ["-c", LIMITED_SERVE, "serve", "--port", str(port), "--token",
                          "class-token", "--log-level", "warning"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: listening(port), "the limited server to start", 15)
        yield port
    finally:
        child.stop(grace=0)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="no file-descriptor limit on Windows")
async def test_300_half_open_handshakes_leave_room_for_a_student(limited_server, sockets):
    port = limited_server
    for _ in range(300):
        sock = sockets(port)
        sock.sendall(b"GET /ws/x HTTP/1.1\r\n")  # and never the rest
    start = time.monotonic()
    student = await join(f"ws://127.0.0.1:{port}", "student?token=class-token")
    try:
        await student.say("made it")
        assert (await student.next_of(None))["message"] == "made it"
    finally:
        await student.ws.close()
    assert time.monotonic() - start < scaled(HEAD_TIMEOUT)
