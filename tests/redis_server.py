"""A real ``redis-server`` for the scale-out tests, started on a free port for each test; and
the in-process stand-in elective E5 falls back to without one.

Its fixtures are declared for every test by the root ``conftest.py`` (``pytest_plugins``); a
test that never asks for one never starts a Redis.

Redis is Debian's ``redis-server`` from the PATH (``.ci/run`` installs it). Without it the tests
that need it are skipped, with the command that fixes it; in CI (``CI`` set) they are required,
so the same problem is a failure. ``redis_or_stand_in`` runs a test twice: against a real
``redis-server`` (marked ``redis``), then against the stand-in, which needs nothing installed.
"""

from __future__ import annotations

import os
import shutil
from typing import Iterator

import pytest

from wslab.redis_server import INSTALL_REDIS, RedisServer
from wslab.redis_stand_in import RedisStandIn


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
