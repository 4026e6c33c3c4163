"""A token bucket: how many messages one client may send, on average and in a burst."""

from __future__ import annotations

import time
from typing import Callable


class TokenBucket:
    """Allow ``rate`` events per second on average, and bursts of up to ``burst``.

    The bucket refills continuously; each allowed event takes one token. A person typing fast
    stays inside the burst, a script in a loop does not. ``rate == 0`` means no limit.
    """

    __slots__ = ("rate", "burst", "_clock", "_tokens", "_last")  # one per client: keep it small

    def __init__(self, rate: float, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, 2 * rate)
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()

    def allow(self) -> bool:
        """Take a token if there is one; say whether the event may go ahead."""
        if self.rate == 0:
            return True
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def retry_after(self) -> float:
        """Seconds until the next event would be allowed."""
        if self.rate == 0 or self._tokens >= 1:
            return 0.0
        return (1 - self._tokens) / self.rate
