"""Who is in a room that several workers share, and which of their events got lost.

Each worker knows its own members; what it knows of the others comes from their events
(``wslab.events``), which Redis pub/sub delivers *at most once*: a message published while a
worker is not subscribed (Redis restarting, the network down) is gone for that worker, and
nobody is told. Two pieces of bookkeeping make up for that:

- :class:`SequenceTracker` reads the sequence numbers of each worker's events, so a loss is
  seen (:func:`sequence_check`) and a repeat is not delivered twice;
- :class:`Roster` keeps the participant list right anyway, because every worker re-announces
  its whole list of client ids on every heartbeat (every :data:`DEFAULT_HEARTBEAT` seconds),
  and a worker silent for :data:`HEARTBEATS_MISSED` heartbeats is taken for gone.

Redis Streams would keep the messages instead (``XADD`` to a stream, each worker
``XREAD BLOCK`` from the last id it saw), at the price of storing and trimming them.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

logger = logging.getLogger(__name__)

#: Seconds between two presence heartbeats of a worker; one silent for
#: ``HEARTBEATS_MISSED`` heartbeats is taken for gone (killed, or cut off from Redis).
DEFAULT_HEARTBEAT = 2.0
HEARTBEATS_MISSED = 3


def sequence_check(last: int | None, seq: int) -> tuple[bool, int]:
    """Compare an event's sequence number with the last one seen from the same worker.

    Returns ``(deliver, lost)``: whether the event is new (a repeat or an older event is not
    delivered again), and how many events of that worker were skipped on the way, which is
    what pub/sub lost without saying so. The first event seen from a worker (``last`` None)
    counts no loss: there is no telling what came before we started listening.
    """
    if last is None:
        return True, 0
    if seq <= last:
        return False, 0
    return True, seq - last - 1


class SequenceTracker:
    """The last sequence number seen from each worker: drops repeats, counts what was lost."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        #: Events the broker lost, over all workers, since this tracker started.
        self.lost = 0

    def accept(self, worker: str, seq: int) -> bool:
        deliver, lost = sequence_check(self.last.get(worker), seq)
        if deliver:
            self.last[worker] = seq
        if lost:
            self.lost += lost
            logger.warning("%d event(s) from worker %s never arrived (at-most-once delivery)",
                           lost, worker)
        return deliver

    def forget(self, worker: str) -> None:
        self.last.pop(worker, None)


class Roster:
    """What one worker knows about the clients of the *other* workers, and when it last heard.

    Presence travels as events, which pub/sub may lose, so the roster does not trust a single
    event: every worker sends its whole list of client ids as a heartbeat (``presence``), and
    :meth:`replace` makes the roster match it. A worker not heard from for ``timeout`` seconds
    (killed with SIGKILL, say, so it never said goodbye) is forgotten by :meth:`expire`, and its
    clients with it: no ghosts. ``clock`` is replaceable, for tests.
    """

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        self._client_ids: dict[str, set[str]] = {}
        self._seen: dict[str, float] = {}

    @property
    def workers(self) -> list[str]:
        return sorted(self._client_ids)

    def client_ids(self) -> set[str]:
        """Every client id connected to some other worker."""
        return set().union(*self._client_ids.values()) if self._client_ids else set()

    def where(self, client_id: str) -> str | None:
        """The worker ``client_id`` is connected to, if it is on another worker."""
        for worker, client_ids in self._client_ids.items():
            if client_id in client_ids:
                return worker
        return None

    def seen(self, worker: str) -> None:
        """Note a sign of life from ``worker`` (any event counts)."""
        self._seen[worker] = self.clock()
        self._client_ids.setdefault(worker, set())

    def add(self, worker: str, client_id: str) -> None:
        self.seen(worker)
        self._client_ids[worker].add(client_id)

    def remove(self, worker: str, client_id: str) -> None:
        self.seen(worker)
        self._client_ids[worker].discard(client_id)

    def replace(self, worker: str, client_ids: list[str]) -> None:
        self.seen(worker)
        self._client_ids[worker] = set(client_ids)

    def forget(self, worker: str) -> set[str]:
        """Drop ``worker`` (it said goodbye, or it expired); return the client ids it had."""
        self._seen.pop(worker, None)
        return self._client_ids.pop(worker, set())

    def expire(self) -> list[str]:
        """Forget every worker silent for longer than ``timeout``; return their ids."""
        now = self.clock()
        gone = [worker for worker, seen in self._seen.items() if now - seen > self.timeout]
        for worker in gone:
            self.forget(worker)
        return gone

    def refresh(self) -> None:
        """Count every worker as just heard from: after our own outage we cannot tell who died
        meanwhile, so everyone gets a full ``timeout`` to speak up again."""
        now = self.clock()
        for worker in self._seen:
            self._seen[worker] = now
