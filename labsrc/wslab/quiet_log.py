"""Repeated log lines of one kind, a few at a time: one offender cannot flood the log.

Each refused frame, cut connection or half-open handshake the server meets is worth a warning,
but a student testing the rate limit in a loop, or a script opening hundreds of connections,
would otherwise write one line each, thousands a second: the instructor's screen scrolls past
everything else, and writing them costs the server time everyone else waits for. So every
place the kit's server runs puts :class:`QuietRepeats` on the handlers its log goes to:
``python -m wslab serve`` in every mode (``wslab.__main__``) and the notebook runner's
per-server log (``wslab.log_capture``). The classroom's live view still counts every offence.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterable


class QuietRepeats(logging.Filter):
    """Let through at most ``burst`` warnings of one kind every ``window`` seconds.

    A kind is a logger and a message template ("Refused a frame from client %s: ..."), so a
    student sending 50 lines a second past the rate limit costs three lines of log, not fifty
    a second; the last one let through says that more are being left out. Records below
    WARNING all pass: an offence is a warning, and at the INFO level every chat line is
    meant to be in the log.
    """

    def __init__(self, burst: int = 3, window: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self.clock()
        start, count = self._seen.get(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        count += 1
        self._seen[key] = (start, count)
        if count == self.burst:
            record.msg = (f"{record.msg} (more of these within {self.window:g} s are left out "
                          "of the log)")
        return count <= self.burst


def quieten(handlers: Iterable[logging.Handler]) -> None:
    """Put a :class:`QuietRepeats` on each of ``handlers`` that has none yet."""
    for handler in handlers:
        if not any(isinstance(f, QuietRepeats) for f in handler.filters):
            handler.addFilter(QuietRepeats())
