"""Admission by address: failed joins are throttled, and joins are let in at a bounded pace.

Both rules count per client IP address, because an address is all a server knows about a
stranger before the join token is checked. And both are written for a classroom, where a whole
class may share one address (a school's NAT, or jupyter-server-proxy, which connects from
127.0.0.1 for everyone):

- :class:`FailedJoins`: after :data:`FAILURES_ALLOWED` wrong or missing tokens within
  :data:`FAILURE_WINDOW` seconds, an address is refused without a look at its token until the
  oldest of those failures is that old. Guessing drops from over 1,000 tries a second to
  about 2, while the lock-out never lasts longer than the window: a student behind the same
  NAT as the guesser is told when to try again, and gets in seconds later. (A lock-out that
  grew with every failure would slow a guesser more, and lock a whole class out with them.)
- :class:`JoinPace`: joins are admitted at ``rate`` per second from one address, after a burst
  of :data:`JOIN_BURST` (a whole class). A join over the pace waits its turn, and only a join
  whose turn is more than :data:`LONGEST_JOIN_WAIT` seconds away is refused: a class of 200
  joining at once all get in at once, while a script opening thousands of connections adds no
  more than ``rate`` joins a second of work for the room once the burst is spent.

Each keeps its state in an :class:`AddressBook`, capped at :data:`MAX_ADDRESSES` addresses:
someone with many addresses makes it forget the oldest, not grow without end.
"""

from __future__ import annotations

import collections
import time
from typing import Callable, Generic, TypeVar

#: Addresses one table remembers; the one not seen for longest is forgotten first.
MAX_ADDRESSES = 4096
#: Failed joins (wrong or no token) one address may make within ``FAILURE_WINDOW`` seconds.
FAILURES_ALLOWED = 10
FAILURE_WINDOW = 5.0
#: Joins admitted from one address at once, before the pace applies: a whole class behind one
#: NAT address joining at the same moment (what ``wslab.bench.classroom`` does) does not wait.
JOIN_BURST = 200
#: The longest a join waits for its turn; one that would wait longer is refused.
LONGEST_JOIN_WAIT = 10.0

V = TypeVar("V")


class AddressBook(Generic[V]):
    """A dict keyed by address that keeps the ``limit`` most recently used addresses."""

    def __init__(self, limit: int = MAX_ADDRESSES) -> None:
        self.limit = limit
        self._entries: collections.OrderedDict[str, V] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, address: str) -> V | None:
        return self._entries.get(address)

    def put(self, address: str, value: V) -> None:
        """Store ``value`` for ``address`` as the most recent; forget the oldest beyond the cap."""
        self._entries[address] = value
        self._entries.move_to_end(address)
        while len(self._entries) > self.limit:
            self._entries.popitem(last=False)


class FailedJoins:
    """The recent failed joins of each address, and how long an address must wait."""

    def __init__(self, allowed: int = FAILURES_ALLOWED, window: float = FAILURE_WINDOW,
                 limit: int = MAX_ADDRESSES, clock: Callable[[], float] = time.monotonic) -> None:
        self.allowed = allowed
        self.window = window
        self.clock = clock
        self._failures: AddressBook[collections.deque[float]] = AddressBook(limit)

    def wait(self, address: str) -> float:
        """Seconds until ``address`` may try a token again (0: now)."""
        failures = self._failures.get(address)
        if failures is None or len(failures) < self.allowed:
            return 0.0
        return max(0.0, failures[0] + self.window - self.clock())

    def failed(self, address: str) -> None:
        """Count a failed join of ``address``."""
        failures = self._failures.get(address) or collections.deque(maxlen=self.allowed)
        failures.append(self.clock())
        self._failures.put(address, failures)


class JoinPace:
    """Joins let in at ``rate`` per second per address, after a burst; the rest wait in line.

    Each join takes the next free turn of its address (the "virtual scheduling" form of a token
    bucket): no waiter is woken for nothing, and the line is first come, first served. Its
    state is one number per address, the time of the next free turn. ``rate == 0`` lets every
    join in at once.
    """

    def __init__(self, rate: float, burst: int = JOIN_BURST,
                 longest_wait: float = LONGEST_JOIN_WAIT, limit: int = MAX_ADDRESSES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.longest_wait = longest_wait
        self.clock = clock
        self._next_turn: AddressBook[float] = AddressBook(limit)

    def turn(self, address: str) -> float | None:
        """Take the next turn of ``address``: seconds to wait for it, or None when it is more
        than ``longest_wait`` away (the join is refused, and takes no turn)."""
        if self.rate == 0:
            return 0.0
        spacing = 1 / self.rate
        now = self.clock()
        next_turn = max(self._next_turn.get(address) or now, now)
        wait = next_turn - (self.burst - 1) * spacing - now
        if wait > self.longest_wait:
            return None
        self._next_turn.put(address, next_turn + spacing)
        return max(0.0, wait)
