"""The Redis stand-in that elective E5 starts where there is no ``redis-server``: fakeredis' TCP
server, in the notebook's own process (``wslab.redis_stand_in``).

- The stand-in itself: a server on loopback that stops and starts again on its port, and
  leaves no thread behind, neither when closed nor when the interpreter exits; how the lesson
  finds it, and that the benchmark never does; ``python -m wslab.redis_stand_in``.
- The kit's workers through it as separate processes, through an outage. (Two servers in one
  process chatting, and healing after an outage, are ``test_broker.py``'s: each of those tests
  runs against a real ``redis-server`` and then against the stand-in.)
- Where it could differ from ``redis-server`` for the lesson: the same steps against both, and
  the difference, or the sameness, asserted.
- The lesson, top to bottom in a real kernel, with ``redis-server`` hidden from the PATH.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import fakeredis
import fakeredis._clients._tcp_server
import nbformat
import pytest
import redis
import redis.asyncio as aioredis
from nbclient import NotebookClient

from peers import join, still_chatting
from redis_server import require_redis
from deadlines import listening, wait_until
from wslab.checks.scaling import lesson_redis, redis_for_lesson
from wslab.ports import free_port
from wslab.redis_server import STAND_IN_ENV, RedisServer
from wslab.redis_stand_in import RedisStandIn
from wslab.signing import new_secret

ROOT = Path(__file__).resolve().parent.parent


def no_redis_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """This test's environment as on a laptop without Redis: no redis-server, no REDIS_URL."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv(STAND_IN_ENV, raising=False)


# -- the stand-in itself ------------------------------------------------------------------------


@pytest.mark.slow
def test_it_serves_on_loopback_says_what_it_is_and_stops_without_a_trace():
    before = set(threading.enumerate())
    with RedisStandIn.spawn() as server:
        assert server.running and server.owned and server.ping()
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert "stand-in" in repr(server) and f"fakeredis {fakeredis.__version__}" in repr(server)
        subscriber = redis.Redis.from_url(server.url).pubsub()
        subscriber.subscribe("still-connected")  # a client connected when the server stops
        assert len(set(threading.enumerate()) - before) >= 2  # its thread, and a client's
    assert not server.running and not server.ping() and "stopped" in repr(server)
    assert set(threading.enumerate()) == before
    subscriber.close()


@pytest.mark.slow
def test_a_subscriber_gets_its_messages_without_fcntl_as_on_windows(monkeypatch):
    """fakeredis makes a connection non-blocking with ``fcntl`` only (Windows has none); its
    own loop then waits for the subscriber's next command before pushing anything."""
    monkeypatch.setattr(fakeredis._clients._tcp_server, "HAS_FCNTL", False)
    with RedisStandIn.spawn() as server:
        publisher = redis.Redis.from_url(server.url)
        subscriber = publisher.pubsub(ignore_subscribe_messages=True)
        try:
            subscriber.subscribe("windows")
            subscriber.get_message(timeout=2)
            assert publisher.publish("windows", "hello") == 1
            assert subscriber.get_message(timeout=5)["data"] == b"hello"
        finally:
            subscriber.close()
            publisher.close()


@pytest.mark.slow
def test_a_running_stand_in_is_stopped_when_the_interpreter_exits():
    script = textwrap.dedent("""
        import atexit, threading
        # Registered before wslab is imported, so it runs after wslab's own exit hook.
        atexit.register(lambda: print("left:", sorted(t.name for t in threading.enumerate())))
        import redis
        from wslab.redis_stand_in import RedisStandIn
        server = RedisStandIn.spawn()
        redis.Redis.from_url(server.url).pubsub().subscribe("still-connected")
        print("serving", server.port)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    assert "serving" in result.stdout and "left: ['MainThread']" in result.stdout, result.stdout


@pytest.mark.slow
def test_without_redis_server_the_lesson_gets_the_stand_in_and_says_why(monkeypatch, tmp_path,
                                                                        capsys):
    no_redis_server(monkeypatch, tmp_path)
    server = redis_for_lesson()
    try:
        assert isinstance(server, RedisStandIn) and server.ping()
        said = capsys.readouterr().out
        assert "Started a stand-in for Redis, since there is no redis-server" in said
        assert f"fakeredis {fakeredis.__version__}" in said and f"port {server.port}" in said
    finally:
        server.close()


def test_the_benchmark_and_the_tests_never_get_the_stand_in(monkeypatch, tmp_path):
    no_redis_server(monkeypatch, tmp_path)
    monkeypatch.setenv(STAND_IN_ENV, "1")
    assert RedisServer.find() is None


@pytest.mark.redis
def test_the_environment_variable_picks_the_stand_in_beside_redis_server(monkeypatch, capsys):
    require_redis()
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv(STAND_IN_ENV, "1")
    server = redis_for_lesson()
    try:
        assert isinstance(server, RedisStandIn)
        assert f"since {STAND_IN_ENV}=1 asks for it" in capsys.readouterr().out
    finally:
        server.close()


def test_redis_url_still_comes_first(monkeypatch, tmp_path, stand_in):
    no_redis_server(monkeypatch, tmp_path)
    monkeypatch.setenv("REDIS_URL", stand_in.url)
    found = lesson_redis()
    assert type(found) is RedisServer and found.url == stand_in.url and not found.owned


# -- worker processes, as in the lesson's "running it yourself" ---------------------------------


class Process:
    """A ``python -m ...`` process of the kit, its output in a file."""

    def __init__(self, log: Path, *args: str) -> None:
        self.log = log
        with open(log, "w") as output:
            self.process = subprocess.Popen([sys.executable, "-m", *args], stdout=output,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        assert self.process.poll() is None, f"it exited:\n{self.output()}"
        return True

    def listening(self, port: int, timeout: float = 15.0) -> None:
        wait_until(lambda: self.running() and listening(port),
                   lambda: f"something to listen on {port}:\n{self.output()}", timeout)

    def printed(self, text: str, timeout: float = 15.0) -> None:
        wait_until(lambda: self.running() and text in self.output(),
                   lambda: f"{text!r} to be printed:\n{self.output()}", timeout)

    def interrupted(self) -> int:
        """Ctrl-C, and the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(10)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)


@pytest.fixture
def processes(tmp_path):
    """Start ``python -m ARGS`` processes; every one still running is killed after the test."""
    started: list[Process] = []

    def start(*args: str) -> Process:
        started.append(Process(tmp_path / f"process-{len(started)}.log", *args))
        return started[-1]

    yield start
    for process in started:
        process.kill()


@pytest.mark.skipif(os.name == "nt", reason="Ctrl-C is sent as SIGINT")
@pytest.mark.slow
async def test_worker_processes_chat_through_the_command_line_stand_in_and_survive_a_restart(
        processes):
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"

    def stand_in_process() -> Process:
        server = processes("wslab.redis_stand_in", "--port", str(port))
        server.printed(f"Redis stand-in (fakeredis {fakeredis.__version__}) at {url}. "
                       "Press Ctrl-C to stop.")
        return server

    server = stand_in_process()
    secret = new_secret()
    workers = []
    for _ in range(2):
        worker_port = free_port()
        worker = processes("wslab", "serve", "--port", str(worker_port), "--broker", url,
                           "--broker-secret", secret, "--heartbeat", "0.3")
        worker.listening(worker_port)
        workers.append(f"ws://127.0.0.1:{worker_port}")
    alice = await join(workers[0], "alice")
    await alice.silence()  # her join has reached the other worker
    bob = await join(workers[1], "bob")
    assert bob.welcome["online"] == ["alice", "bob"]
    await still_chatting(alice, bob)
    await still_chatting(bob, alice)

    assert await asyncio.to_thread(server.interrupted) == 0
    assert "Stopped." in server.output() and "Traceback" not in server.output()
    for peer in (alice, bob):
        assert (await peer.next_of("degraded"))["client_id"] == "system"
    server = stand_in_process()
    for peer in (alice, bob):
        assert (await peer.next_of("recovered", timeout=10))["client_id"] == "system"
    await still_chatting(bob, alice)
    await still_chatting(alice, bob)


@pytest.mark.slow
def test_the_command_line_says_when_its_port_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "wslab.redis_stand_in", "--port",
                                 str(port)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"Cannot listen on port {port}" in result.stderr and "--port" in result.stderr


# -- where it could differ from redis-server, for the lesson -----------------------------------


def cut_off_after(server: RedisServer | RedisStandIn) -> int:
    """Publish 64 KiB messages to a subscriber that never reads, until the server drops it
    (PUBLISH reaches nobody any more); return how many bytes were published until then."""
    subscriber = socket.socket()
    subscriber.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    subscriber.connect(("127.0.0.1", server.port))
    publisher = redis.Redis.from_url(server.url)
    try:
        subscriber.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nslow\r\n")
        reply = b""
        while not reply.endswith(b":1\r\n"):
            reply += subscriber.recv(100)
        published, message = 0, b"x" * 65536
        while publisher.publish("slow", message) == 1:
            published += len(message)
            assert published < 1 << 30, "the subscriber was never cut off"
        return published
    finally:
        publisher.close()
        subscriber.close()


@pytest.mark.redis
def test_a_subscriber_that_stops_reading_is_cut_off_sooner_by_the_stand_in(redis_server,
                                                                           stand_in, caplog):
    """The lesson says Redis cuts off a subscriber that falls too far behind, at its
    ``client-output-buffer-limit``; the stand-in has no such setting, and cuts it off as soon
    as its socket's buffer is full."""
    client = redis.Redis.from_url(redis_server.url)
    limit = client.config_get("client-output-buffer-limit")["client-output-buffer-limit"]
    client.close()
    hard_limit = int(re.search(r"pubsub (\d+)", limit)[1])
    assert cut_off_after(redis_server) > hard_limit
    assert cut_off_after(stand_in) < hard_limit
    assert "dropped its client" in caplog.text
    client = redis.Redis.from_url(stand_in.url)
    with pytest.raises(redis.ResponseError, match="unknown command"):
        client.config_get("client-output-buffer-limit")
    client.close()


def test_a_subscriber_gets_what_was_published_before_the_server_stopped(redis_or_stand_in):
    server = redis_or_stand_in
    publisher = redis.Redis.from_url(server.url)
    subscriber = redis.Redis.from_url(server.url).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe("last words")
    subscriber.get_message(timeout=2)
    assert [publisher.publish("last words", word) for word in ("one", "two")] == [1, 1]
    server.stop()
    try:
        assert [subscriber.get_message(timeout=2)["data"] for _ in range(2)] == [b"one", b"two"]
        with pytest.raises(redis.ConnectionError):  # then the connection is closed
            subscriber.get_message(timeout=2)
    finally:
        subscriber.close()
        publisher.close()


async def transcript(url: str, protocol: int) -> list:
    """What the kit's broker asks of Redis, and what it gets: the replies, in order."""
    publisher = aioredis.Redis.from_url(url, protocol=protocol)
    subscriber = aioredis.Redis.from_url(url, protocol=protocol)
    pubsub = subscriber.pubsub()
    replies: list = []
    try:
        await pubsub.subscribe("room")
        replies.append(await pubsub.get_message(timeout=2))
        replies.append(await publisher.publish("room", '{"v": 1}'))
        replies.append(await pubsub.get_message(timeout=2))
        await pubsub.ping()
        replies.append(await pubsub.get_message(timeout=2))
        replies.append(await publisher.execute_command("PUBSUB", "NUMSUB", "room"))
        replies.append(await publisher.ping())
        await pubsub.unsubscribe("room")
        replies.append(await pubsub.get_message(timeout=2))
        replies.append(await publisher.publish("room", "nobody hears this"))
    finally:
        await pubsub.aclose()
        await subscriber.aclose()
        await publisher.aclose()
    return replies


@pytest.mark.redis
@pytest.mark.parametrize("protocol", [2, 3])
async def test_the_brokers_commands_get_the_same_replies(redis_server, stand_in, protocol):
    expected = await transcript(redis_server.url, protocol)
    assert expected[1] == 1 and expected[2]["data"] == b'{"v": 1}'
    assert await transcript(stand_in.url, protocol) == expected


def test_a_restart_starts_empty(redis_or_stand_in):
    """Neither keeps anything across a restart: the kit's redis-server stores nothing on disk."""
    client = redis.Redis.from_url(redis_or_stand_in.url)
    client.set("kept?", "no")
    client.close()
    port = redis_or_stand_in.port
    redis_or_stand_in.stop()
    redis_or_stand_in.start()
    client = redis.Redis.from_url(redis_or_stand_in.url)
    try:
        assert redis_or_stand_in.port == port and client.get("kept?") is None
    finally:
        client.close()


# -- the lesson, without redis-server -----------------------------------------------------------


def path_without(program: str, folder: Path) -> str:
    """A PATH that finds every program the current one finds, except ``program``: a folder
    of links to them (the first of each name, as a PATH lookup picks)."""
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = folder / entry.name
            if entry.name != program and not os.path.lexists(link):
                link.symlink_to(entry.path)
    return str(folder)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
@pytest.mark.slow
def test_the_lesson_runs_top_to_bottom_without_redis_server(folder, tmp_path):
    path = path_without("redis-server", tmp_path)
    assert shutil.which("redis-server", path=path) is None
    assert os.path.realpath(shutil.which("sh", path=path)) == os.path.realpath(
        shutil.which("sh"))  # and everything else is still there
    env = {key: value for key, value in os.environ.items()
           if key not in ("REDIS_URL", STAND_IN_ENV)} | {"PATH": path}
    notebook = nbformat.read(ROOT / folder / "E5_scaling_out.ipynb", as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / folder)}}).execute(env=env)

    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs]
    errors = [f"{output.ename}: {output.evalue}" for output in outputs
              if output.output_type == "error"]
    assert errors == []
    printed = "".join(output.get("text", "") for output in outputs
                      if output.output_type == "stream")
    assert "Started a stand-in for Redis, since there is no redis-server" in printed
    assert "Skipped" not in printed
    # Section 6: the two workers are one room.
    assert "bob hears:   alice: hi bob, can you hear me?" in printed
    assert "alice hears: bob: loud and clear!" in printed
    # Section 7: the measurement ran.
    assert re.search(r"other worker \(bob\) : p50 [\d.]+ ms", printed)
    # Section 10: the outage splits the room, and its end heals it.
    for line in ("bob   hears: [degraded]", "dan   hears: alice: is anyone there?",
                 "bob   hears: (nothing)", "bob   hears: [recovered]",
                 "alice hears: bob: sorry, I was away. Back now!", "worker 2 counted"):
        assert line in printed
    assert printed.count("Worker worker-1 subscribed to") == 2  # the outage's log
