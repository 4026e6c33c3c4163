"""Chat server worker processes sharing one Redis: the ``workers`` fixture, and what goes with it.

``workers(*args)`` starts ``python -m wslab serve --broker <the test's redis-server>`` on a free
port, with a short presence heartbeat (:data:`HEARTBEAT`, so that a killed worker is noticed
within about a second) and the room's secret in its environment, waits until it listens, and
returns a :class:`Worker` (``port=`` picks the port: a worker started again where one died);
every worker, with its process group, is killed after the test.
Declared for every test by the root ``conftest.py`` (``pytest_plugins``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from deadlines import listening, wait_until
from wslab.ports import free_port
from wslab.signing import SECRET_ENV, new_secret

HEARTBEAT = 0.3
#: A worker's start: up to two processes that import the server and reach Redis, which took
#: more than 15 s once on a loaded 2-core machine running three test workers. A poll: a start
#: that is quick is not slowed.
START_TIMEOUT = 30.0
#: The room's secret, which the workers of these tests share.
SECRET = new_secret()


def environment(secret: str | None) -> dict[str, str]:
    """This process's environment, with ``secret`` as the broker secret (None: without one)."""
    env = {key: value for key, value in os.environ.items() if key != SECRET_ENV}
    return env | {SECRET_ENV: secret} if secret else env


class Worker:
    """One ``python -m wslab serve`` process; its output goes to a log file."""

    def __init__(self, process: subprocess.Popen, port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def workers(redis_server, tmp_path):
    """Start worker processes sharing ``redis_server``; every one is killed after the test."""
    started: list[Worker] = []

    def start(*args: str, broker: str | None = None, secret: str | None = SECRET,
              port: int | None = None) -> Worker:
        port = port or free_port()
        log = tmp_path / f"worker-{port}.log"
        with open(log, "w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "wslab", "serve", "--port", str(port),
                 "--broker", broker or redis_server.url, "--heartbeat", str(HEARTBEAT), *args],
                stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=environment(secret), start_new_session=True)  # its own process group: see the clean-up below
        worker = Worker(process, port, log)
        started.append(worker)

        def answers() -> bool:  # the port listens once the app has started, broker subscribed
            if process.poll() is not None:
                raise AssertionError(f"the worker exited with {process.returncode}:\n"
                                     + worker.output())
            return listening(port)

        wait_until(answers, lambda: "the worker to start:\n" + worker.output(), START_TIMEOUT)
        return worker

    yield start
    for worker in started:
        # The whole group: with --workers, killing the parent alone would leave its workers
        # to notice that by themselves (test_workers_stop_when_their_supervisor_is_killed).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(5)


async def propagated() -> None:
    """Give a join time to travel through Redis to the other workers.

    A client that joins another worker at the very same moment is not listed in the welcome
    yet; it is announced to it a moment later (``test_broker`` tests that race exactly).

    A fixed time, as no state can be polled here: what the other worker knows is in another
    process, and a client joining there to ask would itself be announced to everyone.
    """
    await asyncio.sleep(0.2)
