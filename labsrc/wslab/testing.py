"""Reading from a WebSocket in a test: wait for the message you mean, for a bounded time.

Two habits make WebSocket tests flaky or make them hang, and :func:`receive_until` replaces
both. Asserting on "the next message" breaks as soon as the server sends something else first
(a welcome, someone's join, a participant count), which depends on timing. And a bare
``await ws.recv()`` waits for ever when the message never comes, so a broken server turns a
failing test into a stuck test run. Elective E6 teaches this; the kit's checks use it too.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

from websockets.exceptions import ConnectionClosed


async def receive_until(ws: Any, want: Callable[[Any], bool], timeout: float = 2.0) -> Any:
    """Read from ``ws`` until a message for which ``want(message)`` is true, and return it.

    Each message is decoded from JSON when it is JSON (a dict, usually), and left as text
    otherwise. Messages that do not match are skipped. When no message matches within
    ``timeout`` seconds, or the connection closes first, this raises ``AssertionError`` saying
    what did arrive, so the test fails with a reason instead of hanging.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    skipped: list[Any] = []
    while True:
        try:
            raw = await asyncio.wait_for(ws.recv(), max(deadline - loop.time(), 0))
        except asyncio.TimeoutError:
            problem = f"nothing matching arrived within {timeout:g} s"
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else "no close frame"
            problem = f"the connection closed ({code}) before anything matching arrived"
        else:
            try:
                message = json.loads(raw)
            except (TypeError, ValueError):
                message = raw
            if want(message):
                return message
            skipped.append(message)
            continue
        raise AssertionError(f"{problem}; skipped {len(skipped)} other messages, the last "
                             f"ones: {repr(skipped[-3:])[:300]}")
