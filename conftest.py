"""What holds for the whole test run (tests/, notebooks/, solutions/): the fixture modules, the
fast tier, and limits scaled for slow machines.

- Fixtures: ``tests/conftest.py`` (chat servers in this process) and the modules listed in
  ``pytest_plugins`` (Chromium, ``python -m wslab serve``, Redis, the widget guard) declare
  them; a test names a fixture as a parameter and imports none.
- The fast tier (``make test-fast``, ``python kit.py test --fast``) is every test not marked
  ``slow``: unit tests, and the room driven in memory (``peers.Room``). A test is slow when it
  starts a server (anything listening on a port: uvicorn on loopback, in a thread or a process,
  ``redis-server`` or its stand-in), a process (a kernel or a notebook, JupyterLab, a browser).
  The obvious cases are marked here (notebooks, the ``browser`` and ``redis`` markers, the
  fixtures in ``SLOW_FIXTURES``); a test that starts one by itself carries
  ``@pytest.mark.slow``, and one that forgets it fails, saying what it started.
- Limits: pytest-timeout's and the notebook cells' grow with ``WSLAB_TEST_TIMEOUT_SCALE``
  (``tests/deadlines.py``, which the tests' own waits use too).
"""

from __future__ import annotations

import socket
import subprocess
from typing import Any, Iterator, NoReturn

import pytest
import pytest_timeout

from deadlines import TIMEOUT_SCALE, scaled

pytest_plugins = ["browser", "cli_process", "redis_server", "widget_checks", "worker_processes"]

#: Markers that make a test slow: what they name runs outside this process.
SLOW_MARKERS = ("browser", "redis")

#: Fixtures that start a server, a process or a browser.
SLOW_FIXTURES = {"start_chat", "chat_server", "browser", "new_page", "watched", "serve",
                 "redis_server", "stand_in", "redis_or_stand_in", "workers"}


def pytest_configure(config: pytest.Config) -> None:
    # nbval's limits are plain options: scale them once, before any notebook runs.
    for option in ("nbval_cell_timeout", "nbval_kernel_startup_timeout"):
        value = getattr(config.option, option, None)
        if value is not None:
            setattr(config.option, option, scaled(float(value)))


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """pytest-timeout's limit for ``item`` (ini, marker or option), scaled."""
    if TIMEOUT_SCALE == 1:
        return None  # pytest-timeout sets its timer as it always does
    return pytest_timeout.pytest_timeout_set_timer(
        item=item, settings=settings._replace(timeout=scaled(settings.timeout)))


def is_slow(item: pytest.Item) -> bool:
    if item.path.suffix == ".ipynb":
        return True
    if any(item.get_closest_marker(name) for name in SLOW_MARKERS):
        return True
    return not SLOW_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if is_slow(item):
            item.add_marker(pytest.mark.slow)


class SlowInFastTier(AssertionError):
    """A test of the fast tier started a process or a server: it must be marked slow."""


#: What a fast-tier test started that belongs in the slow tier, from its setup to its teardown.
STARTED = pytest.StashKey[list]()
REAL_POPEN_INIT = subprocess.Popen.__init__
REAL_LISTEN = socket.socket.listen


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """In a fast-tier test (its fixtures included), starting a process or listening on a port
    fails at once, and is remembered in case the code under test swallowed the failure."""
    if item.get_closest_marker("slow"):
        return
    started = item.stash[STARTED] = []

    def refuse(what: str) -> NoReturn:
        started.append(what)
        raise SlowInFastTier(f"this test started {what}: mark it @pytest.mark.slow, which "
                             "keeps it out of the fast tier")

    def popen_init(self: subprocess.Popen, args: Any, *rest: Any, **options: Any) -> None:
        refuse(f"a process ({args if isinstance(args, str) else ' '.join(map(str, args))})")

    def listen(self: socket.socket, *args: Any) -> None:
        refuse(f"a server (listening on {self.getsockname()})")

    subprocess.Popen.__init__ = popen_init  # type: ignore[method-assign]
    socket.socket.listen = listen  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    try:
        return (yield)
    finally:
        if STARTED in item.stash:
            subprocess.Popen.__init__ = REAL_POPEN_INIT  # type: ignore[method-assign]
            socket.socket.listen = REAL_LISTEN  # type: ignore[method-assign]
            if started := item.stash[STARTED]:
                raise SlowInFastTier(f"this test started {started[0]}: mark it "
                                     "@pytest.mark.slow, which keeps it out of the fast tier")
