"""BackgroundServer: a real uvicorn on loopback, driven the way a notebook drives it.

The WebSocket clients run in the test's event loop while ``start()`` and ``stop()`` block it,
exactly as in a notebook cell: the server must get by without the client's help.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from typing import Any, AsyncIterator, Callable, Iterator

import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from deadlines import scaled
from wslab import log_capture, runner
from wslab.answers.endpoint import echo
from wslab.ports import free_port
from wslab.runner import BackgroundServer, ServerStartError

StartServer = Callable[..., BackgroundServer]

pytestmark = pytest.mark.timeout(30)

app_log = logging.getLogger("wslab.testapp")
_names = itertools.count()


def make_app(*, startup_error: str | None = None, startup_hangs: bool = False) -> FastAPI:
    """``GET /``, ``GET /sync`` (a plain def: it runs in a worker thread), ``GET /log?n=``
    and an echo WebSocket at ``/echo``; its startup can fail or never end."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if startup_error:
            raise RuntimeError(startup_error)
        if startup_hangs:
            await asyncio.sleep(3600)
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    async def hello() -> dict[str, str]:
        app_log.warning("GET / answered")
        return {"hello": "world"}

    @app.get("/sync")
    def hello_from_a_worker_thread() -> dict[str, str]:
        app_log.warning("GET /sync answered")
        return {"hello": "thread"}

    @app.get("/print")
    async def print_lines() -> dict[str, str]:
        print("Broadcasting message: hello", end="")
        print(" (from the server)\nsecond line")
        return {"printed": "yes"}

    @app.get("/log")
    async def log_lines(n: int) -> dict[str, int]:
        for i in range(n):
            app_log.info("line %d", i)
        return {"logged": n}

    app.add_api_websocket_route("/echo", echo)  # lesson 01's echo endpoint
    return app


_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str) -> bytes:
    with _no_proxy.open(url, timeout=3) as response:
        return response.read()


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def open_fds() -> int | None:
    """How many file descriptors this process has open (None where /proc/self/fd is missing)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except FileNotFoundError:
        return None


@pytest.fixture
def start() -> Iterator[StartServer]:
    """Start servers (a fresh name each unless given); every one is stopped after the test."""
    made: list[BackgroundServer] = []

    def start(app: Any = None, **options: Any) -> BackgroundServer:
        options.setdefault("name", f"test-runner-{next(_names)}")
        server = BackgroundServer(app if app is not None else make_app(), **options)
        made.append(server)
        return server.start()

    yield start
    for server in made:
        server.stop()


@pytest.mark.slow
def test_start_returns_a_server_that_answers_at_its_url(start: StartServer) -> None:
    server = start()
    assert server.running
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert server.ws_url == f"ws://127.0.0.1:{server.port}"
    assert get(server.url + "/") == b'{"hello":"world"}'
    assert repr(server) == f"<BackgroundServer {server.name!r} running at {server.url}>"


def test_a_server_not_started_says_so() -> None:
    server = BackgroundServer(make_app(), name="test-runner-idle")
    assert not server.running
    assert repr(server) == "<BackgroundServer 'test-runner-idle' not started>"
    with pytest.raises(RuntimeError, match="call start"):
        server.url
    server.stop()  # nothing to stop: no error either
    with pytest.raises(ValueError, match="port must be"):
        BackgroundServer(make_app(), port=70000)
    with pytest.raises(ValueError, match="log_level must be"):
        BackgroundServer(make_app(), log_level="loud")


@pytest.mark.slow
async def test_websocket_echo(start: StartServer) -> None:
    server = start()
    async with connect(server.ws_url + "/echo", proxy=None, open_timeout=3) as ws:
        await ws.send("hello")
        assert await asyncio.wait_for(ws.recv(), 3) == "hello"


@pytest.mark.slow
async def test_stop_is_quick_and_closes_websockets_with_1012(start: StartServer) -> None:
    server = start()
    async with connect(server.ws_url + "/echo", proxy=None, open_timeout=3) as ws:
        await ws.send("ping")
        assert await asyncio.wait_for(ws.recv(), 3) == "ping"
        began = time.monotonic()
        server.stop()  # blocks this loop, so the client cannot answer the closing handshake
        assert time.monotonic() - began < scaled(1.0)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    assert not server.running
    assert not accepts_connections(server.port)
    assert repr(server) == f"<BackgroundServer {server.name!r} stopped (was {server.url})>"
    server.stop()  # again: nothing happens


@pytest.mark.slow
def test_with_block_stops_the_server() -> None:
    with BackgroundServer(make_app(), name="test-runner-with") as server:
        assert get(server.url + "/") == b'{"hello":"world"}'
    assert not server.running
    assert not accepts_connections(server.port)


@pytest.mark.slow
def test_a_stopped_server_can_start_again(start: StartServer) -> None:
    server = start()
    server.stop()
    server.start()
    assert server.running
    assert get(server.url + "/") == b'{"hello":"world"}'


@pytest.mark.slow
async def test_starting_a_name_again_stops_the_earlier_server(start: StartServer) -> None:
    earlier = start(name="test-runner-lesson")
    async with connect(earlier.ws_url + "/echo", proxy=None, open_timeout=3) as ws:
        later = start(name="test-runner-lesson")  # the cell, run again
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 3)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    assert not earlier.running
    assert later.running
    assert get(later.url + "/") == b'{"hello":"world"}'
    if later.port != earlier.port:  # the system may, rarely, hand out the same free port again
        assert not accepts_connections(earlier.port)


@pytest.mark.slow
def test_rerunning_a_cell_with_a_fixed_port_does_not_fail(start: StartServer) -> None:
    port = free_port()
    earlier = start(port=port, name="test-runner-cell")
    get(earlier.url + "/")  # leaves a closed connection behind, as a real session does
    later = start(port=port, name="test-runner-cell")
    assert not earlier.running
    assert later.running and later.port == port
    assert get(later.url + "/") == b'{"hello":"world"}'


@pytest.mark.slow
def test_a_fixed_port_held_by_another_name_is_freed(start: StartServer) -> None:
    port = free_port()
    holder = start(port=port, name="test-runner-holder")
    newcomer = start(port=port, name="test-runner-newcomer")
    assert not holder.running
    assert newcomer.running
    assert get(newcomer.url + "/") == b'{"hello":"world"}'


@pytest.mark.slow
def test_two_names_run_side_by_side(start: StartServer) -> None:
    first = start(name="test-runner-first")
    second = start(name="test-runner-second")
    assert first.running and second.running
    assert first.port != second.port
    assert get(first.url + "/") == get(second.url + "/") == b'{"hello":"world"}'
    second.stop()
    assert first.running
    assert get(first.url + "/") == b'{"hello":"world"}'


@pytest.mark.slow
def test_a_port_used_by_another_program_fails_at_once(start: StartServer) -> None:
    threads = threading.active_count()
    with socket.socket() as other_program:
        other_program.bind(("127.0.0.1", 0))
        other_program.listen()
        port = other_program.getsockname()[1]
        began = time.monotonic()
        with pytest.raises(ServerStartError) as error:
            start(port=port)
        assert time.monotonic() - began < scaled(1.0)
    assert str(error.value) == (f"port {port} is already in use by another program: stop it, "
                                f"or use port=0 to pick a free port")
    assert threading.active_count() == threads


def test_an_unknown_host_fails_with_advice(start: StartServer) -> None:
    with pytest.raises(ServerStartError, match="not an address of this computer"):
        start(host="192.0.2.1")  # TEST-NET-1: never an address of this machine


def test_a_failing_startup_raises_with_its_cause(start: StartServer) -> None:
    threads = threading.active_count()
    began = time.monotonic()
    with pytest.raises(ServerStartError) as error:
        start(make_app(startup_error="the database is down"), name="test-runner-broken")
    assert time.monotonic() - began < scaled(3.0)
    message = str(error.value)
    assert message.startswith("server 'test-runner-broken' could not start: the app's startup "
                              "code (its lifespan) failed with RuntimeError: the database is down.")
    assert "Application startup failed" in message  # the quoted log lines
    assert threading.active_count() == threads
    assert "test-runner-broken" not in runner._registry


def test_a_startup_that_never_ends_times_out(start: StartServer) -> None:
    threads = threading.active_count()
    began = time.monotonic()
    with pytest.raises(ServerStartError, match=r"did not start within 0\.5 s"):
        start(make_app(startup_hangs=True), start_timeout=0.5)
    assert time.monotonic() - began < scaled(2.0)
    assert threading.active_count() == threads


@pytest.mark.slow
def test_twenty_starts_and_stops_leak_no_thread_and_no_file() -> None:
    def cycle() -> None:
        with BackgroundServer(make_app(), name="test-runner-cycle") as server:
            get(server.url + "/")

    cycle()  # the first run imports what uvicorn loads lazily
    gc.collect()
    threads, fds = threading.active_count(), open_fds()
    for _ in range(20):
        cycle()
    gc.collect()
    assert threading.active_count() == threads
    if fds is not None:  # Linux: /proc/self/fd lists them
        assert open_fds() == fds


@pytest.mark.slow
def test_logs_go_to_the_server_not_to_the_running_cell(
        start: StartServer, capfd: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # As in a Jupyter kernel: the root logger has no handler, so logging's last resort writes
    # warnings to stderr, and stderr is the cell that happens to be running.
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_before = (list(uvicorn_logger.handlers), uvicorn_logger.propagate)
    server = start()
    get(server.url + "/")
    get(server.url + "/sync")
    app_log.warning("a warning from the notebook itself")  # not the server's: reaches stderr
    server.stop()

    out, err = capfd.readouterr()
    assert out == ""
    assert err == "a warning from the notebook itself\n"
    log = "\n".join(server.logs(None))
    assert "uvicorn.error: Application startup complete." in log
    assert "wslab.testapp: GET / answered" in log
    assert "wslab.testapp: GET /sync answered" in log
    assert "a warning from the notebook itself" not in log
    uvicorn_after = (list(uvicorn_logger.handlers), uvicorn_logger.propagate)
    assert uvicorn_after == uvicorn_before  # logging is given back once no server runs


@pytest.mark.slow
def test_prints_from_the_server_go_to_its_log(
        start: StartServer, capsys: pytest.CaptureFixture[str]) -> None:
    stdout = sys.stdout
    server = start()
    get(server.url + "/print")
    print("the notebook's own print")
    server.stop()
    assert capsys.readouterr().out == "the notebook's own print\n"
    log = "\n".join(server.logs(None))
    assert "print: Broadcasting message: hello (from the server)" in log
    assert "print: second line" in log
    assert sys.stdout is stdout  # unwrapped once no server runs


@pytest.mark.slow
def test_logs_are_bounded_and_printed_on_demand(
        start: StartServer, capsys: pytest.CaptureFixture[str]) -> None:
    server = start()
    get(server.url + f"/log?n={log_capture.LOG_LINES + 100}")
    everything = server.logs(None)
    assert len(everything) == log_capture.LOG_LINES
    assert everything[-1].endswith(f"wslab.testapp: line {log_capture.LOG_LINES + 99}")
    assert server.logs(last=3) == everything[-3:]
    capsys.readouterr()
    server.print_logs(last=2)
    assert capsys.readouterr().out == "\n".join(everything[-2:]) + "\n"


@pytest.mark.slow
def test_the_interrupt_button_stays_with_the_notebook(start: StartServer) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    server = start()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    server.stop()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.mark.slow
def test_servers_still_running_are_stopped_at_exit() -> None:
    # atexit runs its functions last registered first: this check, registered before
    # wslab.runner is imported, runs after the runner's stop_all().
    script = textwrap.dedent("""
        import atexit, socket

        def check():
            for server in servers:
                try:
                    socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                    state = "accepting"
                except OSError:
                    state = "closed"
                print(server.name, server.running, state)

        atexit.register(check)

        from wslab.runner import BackgroundServer

        async def app(scope, receive, send):
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})

        servers = [BackgroundServer(app, name=name).start() for name in ("one", "two")]
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["one False closed", "two False closed"]
    assert done.stderr == ""


@pytest.mark.slow
def test_keep_alive_requests_are_not_delayed_by_nagle(start: StartServer) -> None:
    """Each response on one keep-alive connection comes at once, not after a 40 ms delayed ACK.

    Checked as the cause rather than as a time (which a loaded machine blurs): the server's end
    of the connection has Nagle's algorithm off (TCP_NODELAY).
    """
    server = start()
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
        for _ in range(2):  # the second response is the one Nagle's algorithm would hold back
            sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            response = b""
            while not response.endswith(b"}"):
                response += sock.recv(4096)
        client_end = sock.getsockname()
        server_ends = [connection.transport.get_extra_info("socket")
                       for connection in server._server.server_state.connections]
        [server_end] = [end for end in server_ends if end.getpeername() == client_end]
        assert server_end.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
