"""When a chat client connects again, and how long it waits first: the kit's one policy.

``ChatClient`` follows it (and ``ChatWidget`` through its ``ChatClient``); the ``/chat`` page gets
the same numbers and close-code table as data (:meth:`ReconnectPolicy.for_page`, filled in by
``wslab.chat_page``) and follows the same rules in JavaScript. Like ``wslab.protocol``, this module does no I/O: a client tells
:class:`Reconnects` what happened to its connection, and it answers with the next :class:`Step`,
so every rule is tested without a socket or a clock.

The rules:

- after a close whose code is final (``wslab.close_codes``), or an error reply that announced
  one, the client stops for good: retrying would repeat the refusal or fight the newer
  connection that took the name;
- after a handshake refused with HTTP 4xx (but 408 and 429, which say "later"), it stops too;
- otherwise it waits by the kit's backoff (``wslab.backoff``) and tries again;
- a connection that stayed open ``stable`` seconds was a good one: the next outage starts the
  delays afresh. (A server that accepts and at once closes, again and again, would otherwise be
  retried at the shortest delay forever.)
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any, Callable

from wslab.backoff import Backoff
from wslab.close_codes import CLOSES, settled_close_code, table_for_page

__all__ = ["CHAT_POLICY", "ReconnectPolicy", "Reconnects", "Step", "handshake_is_final"]

#: HTTP statuses of a refused handshake that say "not now" rather than "never".
_RETRYABLE_4XX = frozenset({408, 429})


def handshake_is_final(status: int) -> bool:
    """True when a handshake refused with this HTTP status would be refused again."""
    return 400 <= status < 500 and status not in _RETRYABLE_4XX


@dataclasses.dataclass(frozen=True)
class ReconnectPolicy:
    """The numbers of the policy, in seconds."""

    #: The wait before the first reconnect, and the longest wait (see ``wslab.backoff``).
    first: float = 1.0
    cap: float = 30.0
    #: A connection open this long was a good one: the next outage starts the delays afresh.
    stable: float = 10.0
    #: How long a handshake may take before it counts as failed.
    open_timeout: float = 5.0

    def backoff(self, rand: Callable[[], float] = random.random) -> Backoff:
        return Backoff(self.first, self.cap, rand)

    def for_page(self) -> dict[str, Any]:
        """The policy as JSON-ready data for the ``/chat`` page, close codes included."""
        return {"first": self.first, "cap": self.cap, "stable": self.stable,
                "open_timeout": self.open_timeout, "closes": table_for_page()}


#: The policy every chat client of the kit follows unless a test or a lesson gives another.
CHAT_POLICY = ReconnectPolicy()


@dataclasses.dataclass(frozen=True)
class Step:
    """What a client does after a connection ended or failed.

    ``stop``: give up for good (``code`` says which final close, None for a refused
    handshake). Otherwise wait ``delay`` seconds before reconnect number ``attempt`` (1 is the
    first reconnect).
    """

    stop: bool
    code: int | None = None
    delay: float = 0.0
    attempt: int = 0


class Reconnects:
    """One client's reconnects: it counts attempts and applies a :class:`ReconnectPolicy`.

    Call :meth:`opened` when a connection opens, then one of :meth:`after_close`,
    :meth:`after_refusal` or :meth:`after_failure` when it ends or cannot be made; each returns
    the next :class:`Step`. ``now`` is any monotonic clock in seconds (the event loop's).
    """

    def __init__(self, policy: ReconnectPolicy = CHAT_POLICY,
                 rand: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self._backoff = policy.backoff(rand)
        #: Reconnects tried since the last stable connection.
        self.attempt = 0
        self._opened_at: float | None = None

    def opened(self, now: float) -> None:
        self._opened_at = now

    def after_close(self, now: float, code: int | None, error: str | None = None) -> Step:
        """The step after an open connection closed with ``code``.

        ``error`` is the code of the last error reply the server sent on it (``bad_token``,
        ``replaced``...), which stands for a final close when a proxy dropped the close code.
        """
        code = settled_close_code(code, error)
        opened_at, self._opened_at = self._opened_at, None
        close = CLOSES.get(code) if code is not None else None
        if close is not None and close.final:
            return Step(stop=True, code=code)
        if opened_at is not None and now - opened_at >= self.policy.stable:
            self.attempt = 0
        return self._retry()

    def after_refusal(self, status: int) -> Step:
        """The step after the server answered the handshake with HTTP ``status``."""
        if handshake_is_final(status):
            return Step(stop=True)
        return self._retry()

    def after_failure(self) -> Step:
        """The step after a connection could not be made (refused, timed out, unreachable)."""
        return self._retry()

    def _retry(self) -> Step:
        delay = self._backoff.delay(self.attempt)
        self.attempt += 1
        return Step(stop=False, delay=delay, attempt=self.attempt)
