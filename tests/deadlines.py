"""How long a test waits, in one place: every limit scales with one environment variable, and a
wait polls for the state it waits for instead of sleeping a fixed time.

``WSLAB_TEST_TIMEOUT_SCALE=3`` on a slow or loaded machine triples every limit: pytest-timeout's
per test and the notebook cells' (the root ``conftest.py`` applies both), the polls' deadlines
below, and the fixtures' waits (``peers.TIMEOUT``, the server processes' start-up). It only
lengthens limits: a test that passes in time is not slowed down by a larger scale.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")

SCALE_VARIABLE = "WSLAB_TEST_TIMEOUT_SCALE"

#: How often a poll looks again: short against any limit, long enough not to busy the machine.
POLL_INTERVAL = 0.02


def _read_scale() -> float:
    raw = os.environ.get(SCALE_VARIABLE, "").strip()
    if not raw:
        return 1.0
    try:
        scale = float(raw)
    except ValueError:
        raise ValueError(f"{SCALE_VARIABLE} must be a number such as 3, not {raw!r}") from None
    if not scale >= 1:
        raise ValueError(f"{SCALE_VARIABLE} only lengthens limits: give 1 or more, not {raw!r}")
    return scale


TIMEOUT_SCALE = _read_scale()


def scaled(seconds: float) -> float:
    """``seconds`` as a limit on this machine: times ``WSLAB_TEST_TIMEOUT_SCALE``."""
    return seconds * TIMEOUT_SCALE


#: What a wait waits for, in words: a string, or a function that says it at the time of failure
#: (for a process's output so far).
What = str | Callable[[], str]


def _gave_up(what: What, timeout: float, last: object) -> AssertionError:
    said = what if isinstance(what, str) else what()
    return AssertionError(f"waited {timeout:g} s for {said} (last seen: {last!r}); "
                          f"on a slow machine, set {SCALE_VARIABLE}")


def wait_until(condition: Callable[[], T], what: What, timeout: float = 3.0,
               interval: float = POLL_INTERVAL) -> T:
    """Poll ``condition()`` every ``interval`` seconds until it returns something true; return it.

    ``timeout`` is scaled; past it the test fails, saying ``what`` it waited for. A condition
    that can tell the wait is hopeless (a process exited) raises instead of returning False.
    """
    limit = scaled(timeout)
    deadline = time.monotonic() + limit
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise _gave_up(what, limit, value)
        time.sleep(interval)
    return value


async def eventually(condition: Callable[[], T | Awaitable[T]], what: What,
                     timeout: float = 3.0) -> T:
    """``wait_until`` for a test on the event loop: the loop keeps running while it polls.

    ``condition`` may be a plain function or a coroutine function.
    """
    limit = scaled(timeout)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise _gave_up(what, limit, value)
        await asyncio.sleep(POLL_INTERVAL)


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``port``: what a started server waits for."""
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


def at_once(coroutine: Awaitable[T]) -> T:
    """The result of ``coroutine``, which must finish without waiting for anything.

    "At once" as a fact rather than a time: the coroutine never suspends (no I/O, no sleep, no
    lock held by another), so it cannot be waiting for a server, however loaded the machine.
    """
    try:
        coroutine.send(None)  # type: ignore[attr-defined]
    except StopIteration as finished:
        return finished.value
    coroutine.close()  # type: ignore[attr-defined]
    raise AssertionError(f"{coroutine!r} waited for something instead of finishing at once")
