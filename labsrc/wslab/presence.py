"""Who is in a room that several workers share, and which of their events got lost.

Each worker knows its own members; what it knows of the others comes from their events
(``wslab.events``), which Redis pub/sub delivers *at most once*: a message published while a
worker is not subscribed (Redis restarting, the network down) is gone for that worker, and
nobody is told. Two pieces of bookkeeping make up for that:

- :class:`SequenceTracker` reads the sequence numbers of each worker's events, so a loss is
  seen (:func:`sequence_check`) and a repeat is not delivered twice; it also hands this worker
  its own sequence numbers, so it can tell an event it never published from its own, and it
  refuses a jump no real worker makes (:data:`MAX_SEQUENCE_JUMP`);
- :class:`Roster` keeps the participant list right anyway, because every worker re-announces
  its whole list of client ids on every heartbeat (every :data:`DEFAULT_HEARTBEAT` seconds),
  and a worker silent for :data:`HEARTBEATS_MISSED` heartbeats is taken for gone.

Redis Streams would keep the messages instead (``XADD`` to a stream, each worker
``XREAD BLOCK`` from the last id it saw), at the price of storing and trimming them.
"""

from __future__ import annotations

import enum
import logging
import time
from typing import Callable

logger = logging.getLogger(__name__)

#: Seconds between two presence heartbeats of a worker; one silent for
#: ``HEARTBEATS_MISSED`` heartbeats is taken for gone (killed, or cut off from Redis).
DEFAULT_HEARTBEAT = 2.0
HEARTBEATS_MISSED = 3
#: The most events of another worker that may be missing between two of its events. A worker
#: numbers its events one by one, so a gap is what the broker lost: the events it published
#: while one of the two was cut off from Redis. Even a class of 200, every student at the rate
#: limit, publishes 2,000 a second, so a gap of more than 100,000 is not a loss but a forgery
#: (or a worker id used twice). Such an event is refused, and the worker's next real events are
#: still heard; a real worker that did lose more is heard again once it has been silent for
#: ``HEARTBEATS_MISSED`` heartbeats (the room then forgets its sequence numbers).
MAX_SEQUENCE_JUMP = 100_000


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


class Verdict(enum.Enum):
    """What to do with an event, by its worker and sequence number. The values of the two
    refusals are the reasons the room counts them under."""

    DELIVER = "deliver"
    #: Delivered already (locally while the broker was down, say): dropped without a word.
    REPEAT = "repeat"
    #: Under this worker's own id, with a number it has not published yet.
    NOT_PUBLISHED_HERE = "not_published_here"
    #: More than :data:`MAX_SEQUENCE_JUMP` ahead of the last event seen from that worker.
    SEQUENCE_JUMP = "sequence_jump"


class SequenceTracker:
    """The last sequence number seen from each worker: drops repeats, counts what was lost.

    It also numbers this worker's own events (:meth:`next_own`), so an event under this
    worker's id is accepted only with a number it has published: whoever else claims its id,
    with however large a number, cannot make it stop hearing itself.
    """

    def __init__(self, own: str) -> None:
        self.own = own
        self.last: dict[str, int] = {}
        self.published = 0
        #: Events the broker lost, over all workers, since this tracker started.
        self.lost = 0

    def next_own(self) -> int:
        """The sequence number of the next event this worker publishes."""
        self.published += 1
        return self.published

    def accept(self, worker: str, seq: int) -> Verdict:
        last = self.last.get(worker)
        if worker == self.own and seq > self.published:
            return Verdict.NOT_PUBLISHED_HERE
        if worker != self.own and last is not None and seq - last > MAX_SEQUENCE_JUMP:
            return Verdict.SEQUENCE_JUMP
        deliver, lost = sequence_check(last, seq)
        if not deliver:
            return Verdict.REPEAT
        self.last[worker] = seq
        if lost:
            self.lost += lost
            logger.warning("%d event(s) from worker %s never arrived (at-most-once delivery)",
                           lost, worker)
        return Verdict.DELIVER

    def forget(self, worker: str) -> None:
        """Forget another worker's numbers (it left, or went silent). Never this worker's own:
        they are what tells its events from a repeat."""
        if worker != self.own:
            self.last.pop(worker, None)


class Roster:
    """What one worker knows about the clients of the *other* workers, and when it last heard.

    Presence travels as events, which pub/sub may lose, so the roster does not trust a single
    event: every worker sends its whole list of client ids as a heartbeat (``presence``), and
    :meth:`replace` makes the roster match it. A worker not heard from for ``timeout`` seconds
    (killed with SIGKILL, say, so it never said goodbye) is forgotten by :meth:`expire`, and its
    clients with it: no ghosts. ``clock`` is replaceable, for tests.

    With each client id it keeps the digest of that connection's resume key (``wslab.resume``),
    as its worker announced it: what a newcomer here must prove to take the name over.
    """

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        #: Each worker's clients, with the digest of each one's resume key (None: not told).
        self._clients: dict[str, dict[str, str | None]] = {}
        self._seen: dict[str, float] = {}

    @property
    def workers(self) -> list[str]:
        return sorted(self._clients)

    def client_ids(self) -> set[str]:
        """Every client id connected to some other worker."""
        return set().union(*self._clients.values()) if self._clients else set()

    def where(self, client_id: str) -> str | None:
        """The worker ``client_id`` is connected to, if it is on another worker."""
        for worker, clients in self._clients.items():
            if client_id in clients:
                return worker
        return None

    def key_of(self, client_id: str) -> str | None:
        """The digest of the resume key of ``client_id``'s connection on another worker."""
        worker = self.where(client_id)
        return None if worker is None else self._clients[worker][client_id]

    def seen(self, worker: str) -> None:
        """Note a sign of life from ``worker`` (any event counts)."""
        self._seen[worker] = self.clock()
        self._clients.setdefault(worker, {})

    def add(self, worker: str, client_id: str, key_digest: str | None = None) -> None:
        self.seen(worker)
        self._clients[worker][client_id] = key_digest

    def remove(self, worker: str, client_id: str) -> None:
        self.seen(worker)
        self._clients[worker].pop(client_id, None)

    def replace(self, worker: str, client_ids: list[str],
                key_digests: dict[str, str] | None = None) -> None:
        self.seen(worker)
        key_digests = key_digests or {}
        self._clients[worker] = {client_id: key_digests.get(client_id)
                                 for client_id in client_ids}

    def forget(self, worker: str) -> dict[str, str | None]:
        """Drop ``worker`` (it said goodbye, or it expired); return the clients it had, each
        with its key's digest: whoever held a name there may still prove it, to resume."""
        self._seen.pop(worker, None)
        return self._clients.pop(worker, {})

    def expire(self) -> dict[str, dict[str, str | None]]:
        """Forget every worker silent for longer than ``timeout``; return each one's clients,
        as :meth:`forget` does."""
        now = self.clock()
        gone = [worker for worker, seen in self._seen.items() if now - seen > self.timeout]
        return {worker: self.forget(worker) for worker in gone}

    def refresh(self) -> None:
        """Count every worker as just heard from: after our own outage we cannot tell who died
        meanwhile, so everyone gets a full ``timeout`` to speak up again."""
        now = self.clock()
        for worker in self._seen:
            self._seen[worker] = now
