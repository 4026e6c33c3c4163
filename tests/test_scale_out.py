"""Scaling out, for real: ``python -m wslab serve --broker redis://...`` worker processes on
their own ports (and ``--workers 2`` on one port), a real ``redis-server``, real clients.

Every worker is a separate process, as in production, so nothing is shared but Redis (and the
secret they sign their events with, given in the environment). Each test starts a fresh Redis
on a free port (``redis_server.py``) and its own workers, with a short presence heartbeat
(0.3 s) so that a killed worker is noticed within about a second.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio
import websockets

from peers import connect, join, still_chatting
from deadlines import eventually, scaled
from redis_server import Stranger
from wslab import envelope
from wslab.brokers import DEFAULT_CHANNEL
from wslab.close_codes import KitCloseCode
from wslab.ports import free_port
from wslab.protocol import CloseCode
from wslab.redis_server import RedisServer
from wslab.resume import digest
from wslab.signing import SECRET_ENV, new_secret
from worker_processes import HEARTBEAT, SECRET, Worker, environment, propagated

pytestmark = pytest.mark.redis

async def stopped_cleanly(worker: Worker) -> None:
    """Ctrl-C the worker: it must exit 0 within a few seconds, without a traceback."""
    worker.process.send_signal(signal.SIGINT)
    try:
        code = await asyncio.to_thread(worker.process.wait, 10)
    except subprocess.TimeoutExpired:
        raise AssertionError("Ctrl-C did not stop the server:\n" + worker.output()) from None
    assert code == 0 and "Traceback" not in worker.output(), worker.output()


async def test_clients_on_different_workers_chat_both_ways(workers):
    one, two = workers(), workers()
    alice, carol = await join(one.ws_url, "alice"), await join(one.ws_url, "carol")
    bob = await join(two.ws_url, "bob")
    await still_chatting(alice, bob, carol, text="hello from worker one")
    await still_chatting(bob, alice, carol, text="hello from worker two")
    for peer in (alice, bob, carol):  # nothing twice, nothing extra
        assert [m for m in await peer.silence() if "type" not in m] == []
    for ws in (alice.ws, bob.ws, carol.ws):
        await ws.close()
    await stopped_cleanly(one)
    await stopped_cleanly(two)


async def test_joins_leaves_and_counts_propagate(workers):
    one, two = workers(), workers()
    alice = await join(one.ws_url, "alice")
    assert alice.welcome["participants"] == 1
    await propagated()
    bob = await join(two.ws_url, "bob")
    assert bob.welcome["online"] == ["alice", "bob"] and bob.welcome["participants"] == 2
    joined = await alice.next_of("join")
    assert joined["user"] == "bob" and joined["participants"] == 2
    carol = await join(one.ws_url, "carol")
    assert carol.welcome["online"] == ["alice", "bob", "carol"]
    joined = await bob.next_of("join")
    assert joined["user"] == "carol" and joined["participants"] == 3
    await bob.ws.close()
    for peer in (alice, carol):
        left = await peer.next_of("disconnect")
        assert left["user"] == "bob" and left["participants"] == 2, left
    await propagated()
    dave = await join(two.ws_url, "dave")
    assert dave.welcome["online"] == ["alice", "carol", "dave"]
    await still_chatting(dave, alice, carol)


async def test_a_redis_restart_mid_chat_is_survived(workers, redis_server):
    one, two = workers(), workers()
    alice, bob = await join(one.ws_url, "alice"), await join(two.ws_url, "bob")
    await still_chatting(alice, bob)
    redis_server.stop()
    for peer in (alice, bob):
        assert (await peer.next_of("degraded", timeout=5))["client_id"] == "system"
    await alice.say("is anyone there?")  # her own worker still serves her...
    assert (await alice.chat_line())["message"] == "is anyone there?"
    assert [m for m in await bob.silence() if "type" not in m] == []  # ...bob cannot hear it
    restarted = time.monotonic()
    redis_server.start()
    for peer in (alice, bob):
        assert (await peer.next_of("recovered", timeout=10))["client_id"] == "system"
    await still_chatting(bob, alice, text="back again")
    await still_chatting(alice, bob)
    assert time.monotonic() - restarted < scaled(5), "chat resumed, but slowly"


async def test_a_worker_killed_with_sigkill_leaves_the_others_serving(workers):
    one, two = workers(), workers()
    alice, carol = await join(one.ws_url, "alice"), await join(one.ws_url, "carol")
    await propagated()
    bob = await join(two.ws_url, "bob")
    await alice.next_of("join")
    await still_chatting(alice, bob, carol)
    two.process.send_signal(signal.SIGKILL)
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(bob.ws.recv(), 5)
    # Nobody told the others: they notice the silence (three heartbeats) and forget bob.
    for peer in (alice, carol):
        left = await peer.next_of("disconnect", timeout=3 * HEARTBEAT + 3)
        assert left["user"] == "bob" and left["participants"] == 2, left
        assert "stopped answering" in left["message"]
    await still_chatting(alice, carol)
    bob = await join(one.ws_url, "bob")  # bob comes back, to the worker still running
    assert bob.welcome["online"] == ["alice", "bob", "carol"]
    await still_chatting(bob, alice, carol)


async def test_two_workers_on_one_port_are_one_room(workers):
    server = workers("--workers", "2", secret=None)  # they share one made up for the run
    peers = [await join(server.ws_url, f"c{n}") for n in range(8)]
    for n, peer in enumerate(peers):  # the joins have settled across the two workers
        for _later in peers[n + 1:]:
            await peer.next_of("join")
    for n, peer in enumerate(peers):
        await peer.say(f"line {n}")
    for peer in peers:
        lines = []
        deadline = time.monotonic() + 5
        while len(lines) < 8 and time.monotonic() < deadline:
            lines.append((await peer.chat_line())["message"])
        assert sorted(lines) == sorted(f"line {n}" for n in range(8)), (peer.client_id, lines)
        assert [m for m in await peer.silence(0.2) if "type" not in m] == []  # once only
    log = server.output()
    assert "events signed with a secret made up for this run" in log, log
    assert log.count("Started server process") == 2, log
    assert log.count("subscribed to wslab:chat") == 2, log
    for peer in peers:
        await peer.ws.close()
    await stopped_cleanly(server)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")  # a zombie (exited, not yet reaped) counts as gone
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
async def test_workers_stop_when_their_supervisor_is_killed(workers):
    server = workers("--workers", "2")
    def two_workers() -> list[int]:
        pids = [pid for pid in _children(server.process.pid)
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        return pids if len(pids) >= 2 else []

    worker_pids = await eventually(two_workers, "the two workers to start", timeout=10)
    peer = await join(server.ws_url, "left_behind")
    server.process.kill()  # SIGKILL: the supervisor gets no chance to stop its workers
    # A worker notices within 0.5 s (also one still starting up when its supervisor died), then
    # shuts down as on SIGTERM; the margin is wide for a loaded machine: a hang still fails.
    await eventually(lambda: not any(_alive(pid) for pid in worker_pids),
                     "the workers to stop with their supervisor", timeout=15)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=0.5).close()
    assert "this worker stops too" in server.output(), server.output()
    code, _reason = await peer.closed()
    assert code in (1001, 1012), code


def test_more_than_one_worker_needs_a_broker():
    result = subprocess.run([sys.executable, "-m", "wslab", "serve", "--workers", "2"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--workers above 1 needs --broker" in result.stderr


def test_an_unknown_broker_is_refused_before_anything_starts():
    result = subprocess.run([sys.executable, "-m", "wslab", "serve", "--broker", "amqp://x"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "unknown broker" in result.stderr


# -- who may use the broker ----------------------------------------------------------------------

PASSWORD = "hunter2-but-longer"


@pytest.mark.parametrize("user", [None, "chat"], ids=["requirepass", "acl-user"])
async def test_workers_reach_a_redis_that_asks_for_a_password_and_never_show_it(workers, user):
    with RedisServer.spawn(password=PASSWORD, user=user) as guarded:
        assert guarded.url.startswith(f"redis://{user or ''}:{PASSWORD}@")
        one = workers("--log-level", "debug", broker=guarded.url)
        two = workers("--workers", "2", "--log-level", "debug", broker=guarded.url)
        alice = await join(one.ws_url, "alice")
        await propagated()
        bob = await join(two.ws_url, "bob")
        assert bob.welcome["online"] == ["alice", "bob"]
        await still_chatting(alice, bob)
        await still_chatting(bob, alice)
        for worker in (one, two):
            log = worker.output()
            assert "broker:     redis://***@127.0.0.1" in log, log
            assert PASSWORD not in log and SECRET not in log, log


def serve_once(*args: str, secret: str | None = SECRET) -> subprocess.CompletedProcess:
    """``python -m wslab serve ARGS`` that is expected to stop at once, with an error."""
    return subprocess.run([sys.executable, "-m", "wslab", "serve", "--port", str(free_port()),
                           *args], capture_output=True, text=True, timeout=30,
                          env=environment(secret))


@pytest.mark.parametrize("login, error", [
    ("", "asks for a password: give it in the broker's address, as redis://:PASSWORD@"),
    (":not-the-password@", "refused the user name or password in --broker"),
    ("chat:not-the-password@", "refused the user name or password in --broker"),
])
def test_a_missing_or_wrong_password_is_a_clear_error_at_start(login, error):
    with RedisServer.spawn(password=PASSWORD) as guarded:
        result = serve_once("--broker", f"redis://{login}127.0.0.1:{guarded.port}/0")
    assert result.returncode == 2, result.stdout + result.stderr
    assert error in result.stderr and "redis://***@" * bool(login) in result.stderr
    assert "not-the-password" not in result.stdout + result.stderr


def test_a_lone_server_with_a_broker_needs_a_secret(redis_server):
    result = serve_once("--broker", redis_server.url, secret=None)
    assert result.returncode == 2 and f"set the environment variable {SECRET_ENV}" in \
        result.stderr, result.stderr
    result = serve_once("--broker", redis_server.url, secret="too-short")
    assert result.returncode == 2 and "at least 16 characters" in result.stderr, result.stderr
    assert "too-short" not in result.stderr


# -- forged events -------------------------------------------------------------------------------


async def test_forged_events_on_redis_reach_no_client_of_two_real_workers(workers, redis_server):
    """Someone who can reach Redis reads the workers' real ids off the channel and publishes,
    unsigned and wrongly signed: a chat line that looks like the server, a join that would
    close alice (4409), and an event under a real worker's id with a huge sequence number. And,
    with the real secret, an event under that id with a huge sequence number."""
    one, two = workers(), workers()
    alice = await join(one.ws_url, "alice")
    await propagated()
    bob = await join(two.ws_url, "bob")
    assert (await bob.next()).get(envelope.HISTORY)  # alice's join, from the room's history
    await alice.next_of("join")
    stranger = Stranger(redis_server.url)
    try:
        ids = list(stranger.overheard(workers=2))
        notice = envelope.system_message("error", "Log in again at http://example.invalid")
        for secret in (None, new_secret()):
            stranger.forge(secret, worker="intruder", seq=1, kind="chat", text=notice)
            stranger.forge(secret, worker="intruder", seq=2, kind="join", client="alice",
                           announce=False)
            for worker_id in ids:
                stranger.forge(secret, worker=worker_id, seq=2**62, kind="presence",
                               clients=[], ask=False)
        for worker_id in ids:
            stranger.forge(SECRET, worker=worker_id, seq=2**62, kind="chat", text=notice)
    finally:
        stranger.close()
    refused = {"unsigned": 4, "bad_signature": 4, "not_published_here": 1, "sequence_jump": 1}
    # wslab.quiet_log lets three warnings of a kind through every 10 s: the log counts to 3.
    expected = {why: min(count, 3) for why, count in refused.items()}

    def refusals(worker: Worker) -> dict[str, int]:  # the last count logged for each reason
        found = re.findall(r"Refused an event from the broker: (\w+) \((\d+) so far\)",
                           worker.output())
        return {why: int(count) for why, count in found}

    for worker in (one, two):
        await eventually(lambda worker=worker: refusals(worker) == expected,
                         lambda worker=worker: f"the refusals to be logged: {refusals(worker)}")
    for speaker, listener in ((alice, bob), (bob, alice)):  # the very next thing each hears
        await speaker.say("real line")
        for peer in (speaker, listener):
            message = await peer.next()
            assert (message["message"], message["client_id"]) == ("real line",
                                                                  speaker.client_id), message


def test_the_cross_worker_benchmark_runs_and_prints_its_table(redis_server):
    """A smoke run of ``python -m wslab.bench.cross_worker`` (figures are for ``make bench``)."""
    result = subprocess.run(
        [sys.executable, "-m", "wslab.bench.cross_worker", "--clients", "5", "--rate", "20",
         "--seconds", "1", "--baseline"],
        capture_output=True, text=True, timeout=90,
        env={**os.environ, "REDIS_URL": redis_server.url})
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout
    for row in ("same worker", "cross worker", "one worker"):
        assert re.search(rf"^{row} +[\d,]+ +[\d.]+ms +[\d.]+ms +[\d.]+ms$", table, re.M), table
    assert "cross-worker p99 - same-worker p99" in table and "lines missing" in table


def test_without_redis_the_benchmark_says_how_to_install_it(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "wslab.bench.cross_worker"], capture_output=True, text=True,
        timeout=30, env={key: value for key, value in os.environ.items() if key != "REDIS_URL"}
        | {"PATH": str(tmp_path)})
    assert result.returncode == 0 and "skipped" in result.stdout
    assert "apt-get install redis-server" in result.stdout


class ChannelReader:
    """Everything published on the room's Redis channel while it runs, as text: what anyone
    who can read Redis learns."""

    def __init__(self, url: str) -> None:
        self.client = redis.asyncio.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.heard: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ChannelReader:
        await self.pubsub.subscribe(DEFAULT_CHANNEL)
        self._task = asyncio.get_running_loop().create_task(self._read())
        return self

    async def _read(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] == "message":
                self.heard.append(message["data"].decode())

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.pubsub.aclose()
        await self.client.aclose()


async def test_a_name_held_on_one_worker_cannot_be_taken_on_another(workers, redis_server):
    one, two = workers(), workers()
    async with ChannelReader(redis_server.url) as channel:
        alice = await join(one.ws_url, "alice")
        bob = await join(two.ws_url, "bob")
        await eventually(lambda: any('"client":"alice"' in event and digest(
            alice.welcome["resume"]) in event for event in channel.heard),
            "alice's join, with her key's digest, to reach Redis")
        await propagated()
        for resume in (None, bob.welcome["resume"], "a-guess"):
            mallory = await connect(two.ws_url, "alice", resume)
            error = await mallory.error()
            assert error["code"] == "name_taken", error
            assert (await mallory.closed())[0] == CloseCode.POLICY_VIOLATION
        assert [m for m in await alice.silence() if m.get("type") in ("error", "disconnect")] == []
        await still_chatting(alice, bob)
        # Her real reconnect, through the other worker, with her key: accepted at once.
        again = await join(two.ws_url, "alice", resume=alice.welcome["resume"])
        assert (await alice.error())["code"] == "replaced"
        assert (await alice.closed())[0] == KitCloseCode.REPLACED
        assert [m for m in await bob.silence() if m.get("type") in ("join", "disconnect")] == []
        await still_chatting(again, bob)
        # Back to the first worker with the newest key: the key moves with her, as a digest.
        third = await join(one.ws_url, "alice", resume=again.welcome["resume"])
        assert (await again.closed())[0] == KitCloseCode.REPLACED
        await still_chatting(third, bob)
    keys = [peer.welcome["resume"] for peer in (alice, bob, again, third)]
    assert channel.heard and not [key for key in keys
                                  if any(key in event for event in channel.heard)]
