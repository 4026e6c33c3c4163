"""A real ``redis-server`` for the scale-out tests, started on a free port for each test; and
the in-process stand-in elective E5 falls back to without one.

Its fixtures are declared for every test by the root ``conftest.py`` (``pytest_plugins``); a
test that never asks for one never starts a Redis.

Redis is Debian's ``redis-server`` from the PATH (``.ci/run`` installs it). Without it the tests
that need it are skipped, with the command that fixes it; in CI (``CI`` set) they are required,
so the same problem is a failure. ``redis_or_stand_in`` runs a test twice: against a real
``redis-server`` (marked ``redis``), then against the stand-in, which needs nothing installed.

:class:`Stranger` is someone else who can reach the same Redis, with nothing but redis-py: it
reads the room's channel and publishes forged events on it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any, Iterator

import pytest
import redis

from deadlines import scaled
from wslab.brokers import DEFAULT_CHANNEL
from wslab.events import encode_event
from wslab.redis_server import INSTALL_REDIS, RedisServer
from wslab.redis_stand_in import RedisStandIn
from wslab.signing import SEPARATOR, EventSigner


def require_redis() -> None:
    """Skip the calling test when ``redis-server`` is missing; fail when ``CI`` is set."""
    if shutil.which("redis-server") is not None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"needs redis-server (required when CI is set). {INSTALL_REDIS}",
                    pytrace=False)
    pytest.skip(f"needs redis-server. {INSTALL_REDIS}")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A fresh ``redis-server`` on 127.0.0.1, storing nothing on disk; stopped after the test.

    ``redis_server.stop()`` and ``redis_server.start()`` stop it and start it again on the same
    port, for the outage tests.
    """
    require_redis()
    server = RedisServer.spawn()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def stand_in() -> Iterator[RedisStandIn]:
    """The Redis stand-in (fakeredis, in this process) on 127.0.0.1; stopped after the test."""
    with RedisStandIn.spawn() as server:
        yield server


@pytest.fixture(params=[pytest.param("redis-server", marks=pytest.mark.redis), "stand-in"])
def redis_or_stand_in(request: pytest.FixtureRequest) -> Iterator[RedisServer | RedisStandIn]:
    """A real ``redis-server``, and in the test's second run the stand-in; stopped after the
    test. Both can be stopped and started again on the same port."""
    if request.param == "redis-server":
        require_redis()
        server: RedisServer | RedisStandIn = RedisServer.spawn()
    else:
        server = RedisStandIn.spawn()
    with server:
        yield server


class Stranger:
    """Someone who can reach the room's Redis (the URL, its password included) but does not
    know the workers' secret: it reads the channel and publishes what it likes there."""

    def __init__(self, url: str, channel: str = DEFAULT_CHANNEL) -> None:
        self.channel = channel
        self.client = redis.Redis.from_url(url)
        self.listening = self.client.pubsub(ignore_subscribe_messages=True)
        self.listening.subscribe(channel)

    def overheard(self, workers: int, timeout: float = 10.0) -> dict[str, bytes]:
        """The ids of ``workers`` workers, each with one message of theirs as it was sent, read
        from the channel: their heartbeats name them, signed or not (a signature hides
        nothing)."""
        seen: dict[str, bytes] = {}
        deadline = time.monotonic() + scaled(timeout)
        while len(seen) < workers:
            if time.monotonic() > deadline:
                raise AssertionError(f"heard only {sorted(seen)} on {self.channel}")
            message = self.listening.get_message(timeout=0.1)
            if message is not None:
                event = json.loads(message["data"].split(SEPARATOR.encode(), 1)[1])
                seen.setdefault(event["worker"], message["data"])
        return seen

    def publish(self, data: bytes | str) -> None:
        self.client.publish(self.channel, data)

    def forge(self, secret: str | None = None, **event: Any) -> None:
        """Publish ``event``: unsigned, or signed with ``secret`` (a wrong one, or the real
        one, as a worker with a bug, or one who has stolen it, would)."""
        data = encode_event({"v": 1, **event})
        self.publish(EventSigner(secret, self.channel).sign(data) if secret else data)

    def close(self) -> None:
        self.listening.close()
        self.client.close()
