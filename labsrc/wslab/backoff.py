"""How long to wait before trying to connect again: the kit's one backoff rule.

Everything in the kit that reconnects waits by this rule, each with its own two numbers: the
chat clients (``ChatClient``, ``ChatWidget`` and the ``/chat`` page, through
``wslab.reconnect``) and the workers that lost Redis (``wslab.brokers``). Elective E3 teaches
it; the rule is kept apart from any clock or socket, so a test can give it every ``rand``.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Callable

__all__ = ["Backoff", "backoff_ceiling", "backoff_delay"]

def backoff_delay(attempt: int, rand: float, first: float, cap: float) -> float:
    """Seconds to wait before reconnect number ``attempt`` (0 is the first retry).

    Capped exponential backoff with "equal jitter": a ceiling that doubles from ``first`` with
    each failed attempt, up to ``cap``, and a wait of half the ceiling plus ``rand`` (in
    [0, 1)) times the other half. The doubling keeps a client from hammering a server that is
    down; the cap bounds how long it stays away once the server is back; the jitter keeps a
    whole class, which lost the server at the same moment, from all coming back at the same
    moment; the guaranteed half keeps a retry from coming right away by chance.
    """
    # 2 ** 60 is past any cap; a float power of a much larger attempt would overflow.
    ceiling = min(cap, first * 2 ** min(attempt, 60))
    return ceiling / 2 + rand * ceiling / 2


def backoff_ceiling(attempt: int, first: float, cap: float) -> float:
    """The longest wait :func:`backoff_delay` gives reconnect number ``attempt``."""
    return backoff_delay(attempt, 1.0, first, cap)  # rand 1: half the ceiling, twice


@dataclasses.dataclass(frozen=True)
class Backoff:
    """:func:`backoff_delay` with its two numbers and a source of randomness.

    ``rand`` is ``random.random`` unless a test gives its own.
    """

    first: float
    cap: float
    rand: Callable[[], float] = random.random

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect number ``attempt``."""
        return backoff_delay(attempt, self.rand(), self.first, self.cap)

    def ceiling(self, attempt: int) -> float:
        """The longest wait before reconnect number ``attempt`` (``rand`` close to 1)."""
        return backoff_ceiling(attempt, self.first, self.cap)
