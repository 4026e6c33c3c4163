"""The room's history: numbered messages, kept so that a reconnecting client misses nothing.

Pub/sub and WebSockets deliver at most once: a line sent while a student's Wi-Fi was down is
gone for that student. The cure is the one Centrifugo uses: one authority numbers every room
event (``seq``: 1, 2, 3, ... with no holes) under an *epoch*, a random word made whenever the
numbers start again because the history was lost (a server started, a Redis that lost its
data). The room keeps the last numbered messages, and a client that comes back says which
epoch it knew and the last number it saw; the history answers with what it missed, or why it
cannot. A client that keeps (epoch, last seq) drops whatever it has seen already, so a message
that reaches it twice shows once: at-least-once delivery made effectively-once.

This module is the core of that, without I/O, sockets or asyncio, in the style of the
``websockets`` library's sans-I/O protocol: :class:`Numbering` hands out the numbers,
:class:`History` keeps what was numbered, bounded by count and optionally by age, and
:meth:`History.since` says what a client that saw up to ``after`` in ``epoch`` should get. Every
method that depends on the time takes it as ``now`` (seconds on any monotonic clock), so the
tests choose it.

What the room numbers, the broker numbers: an event it is asked to publish with
``NUMBERED: True`` gets :data:`EVENT_EPOCH` and :data:`EVENT_SEQ` (``wslab.brokers``). A broker
shared by several workers keeps the history itself (``wslab.redis_history``), and tells the room
where the numbers stand (:class:`Position`) whenever it joins that history.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import secrets
from typing import Iterator, Union

#: The field of a room event that asks the broker to number it.
NUMBERED = "numbered"
#: The fields the numbering authority sets on such an event: its epoch and its number in it.
EVENT_EPOCH = "epoch"
EVENT_SEQ = "room_seq"
#: Set by a broker on a numbered event from before this worker started (read from a shared
#: history), to when it was numbered (Unix time): the room keeps it, for those who resume, and
#: tells nobody.
EVENT_PAST = "past"


@dataclasses.dataclass(frozen=True)
class Position:
    """Where a broker's numbering stands just before the events it hands on next.

    Told to the room when the broker (re)joins the shared history: at its start, and when it
    comes back after an outage to find the history reset (``reset``: a Redis that lost its
    data) or some numbers gone for good (``lost`` of them, trimmed before it could read them).
    """

    epoch: str
    seq: int
    reset: bool = False
    lost: int = 0


def new_epoch() -> str:
    """A fresh epoch: 32 random bits, as 8 hex characters (no two starts of a room share one)."""
    return secrets.token_hex(4)


class Numbering:
    """The single authority of a room's numbers: an epoch, and the last number handed out.

    In one process it is the in-process broker's; with several workers, Redis plays this part
    (an atomic counter), so that every worker sees one order.
    """

    def __init__(self, epoch: str | None = None) -> None:
        self.epoch = epoch or new_epoch()
        self.last = 0

    def next(self) -> int:
        self.last += 1
        return self.last


#: A history of N chat lines keeps the joins and leaves between them too, up to this many
#: messages in all per line. A whole class whose Wi-Fi drops and comes back makes a leave and a
#: join per student: they must not push out the lines said meanwhile, which are what the
#: students come back for.
MESSAGES_PER_LINE = 4


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One numbered message, exactly as it was sent live, and when it was made (``now``);
    ``line`` is True for a chat line, False for a join or a leave."""

    seq: int
    text: str
    made: float
    line: bool = True


# What a client that asks to resume is owed (:meth:`History.since`).

@dataclasses.dataclass(frozen=True)
class Replay:
    """Everything after the client's last seq is still here: these, in order, then live."""

    entries: tuple[Entry, ...]


@dataclasses.dataclass(frozen=True)
class GapTooOld:
    """Some of what the client missed is gone: ``missed`` numbers, then ``entries`` are left."""

    missed: int
    entries: tuple[Entry, ...]


@dataclasses.dataclass(frozen=True)
class Reset:
    """The client's epoch is not the room's: the history it knew was lost (a restart)."""


@dataclasses.dataclass(frozen=True)
class BadResume:
    """The client claims a number the room has not handed out yet: ``reason`` says so."""

    reason: str


Resumption = Union[Replay, GapTooOld, Reset, BadResume]


class History:
    """The last ``limit`` chat lines of a room and the joins and leaves among them, at most
    ``limit * MESSAGES_PER_LINE`` numbered messages in all, and, with ``max_age``, only those
    made within the last ``max_age`` seconds. Memory is bounded by ``limit`` whatever happens.

    ``limit`` 0 keeps nothing, but the room still counts: :attr:`last_seq` is the last number
    seen, and a client that missed anything is told how much (:class:`GapTooOld`).

    A message of another epoch than the history's means the numbers started again (the
    authority lost its history): what is kept is dropped, and the history takes that epoch.
    """

    def __init__(self, limit: int, max_age: float | None = None, *, epoch: str) -> None:
        if limit < 0:
            raise ValueError(f"a history keeps 0 or more messages, not {limit}")
        if max_age is not None and max_age <= 0:
            raise ValueError(f"max_age must be positive (or None: no age limit), not {max_age}")
        self.limit = limit
        self.max_age = max_age
        self.epoch = epoch
        #: The last number seen in this epoch (0: none yet).
        self.last_seq = 0
        self._entries: collections.deque[Entry] = collections.deque()
        self._lines = 0  # how many of the entries are chat lines

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)

    @property
    def capacity(self) -> int:
        """The most messages it keeps at once: what one replay can send."""
        return self.limit * MESSAGES_PER_LINE

    def add(self, epoch: str, seq: int, text: str, now: float, line: bool = True) -> None:
        """Keep ``text``, the message numbered ``seq`` in ``epoch``, made at ``now``: a chat
        line, or (``line`` False) a join or a leave."""
        if epoch != self.epoch:
            self.restart(epoch, 0)
        self.last_seq = seq
        self._entries.append(Entry(seq, text, now, line))
        self._lines += line
        while self._lines > self.limit or len(self._entries) > self.capacity:
            self._drop_oldest()
        self._expire(now)

    def restart(self, epoch: str, seq: int) -> None:
        """Forget every message kept, and count from number ``seq`` of ``epoch``: the numbers
        before it can no longer all be replayed, so none is (they are reported as missed)."""
        self._entries.clear()
        self._lines = 0
        self.epoch = epoch
        self.last_seq = seq

    def recent(self, count: int, now: float, until: int | None = None) -> list[Entry]:
        """The last ``count`` messages still kept (numbered up to ``until``, if given), oldest
        first: what a latecomer is shown."""
        self._expire(now)
        if count <= 0:
            return []
        return list(itertools.islice(self._newest(until), count))[::-1]

    def since(self, epoch: str, after: int, now: float,
              until: int | None = None) -> Resumption:
        """What a client that saw every message up to ``after`` in ``epoch`` is owed (up to
        ``until``, if given: the rest it hears live)."""
        if epoch != self.epoch:
            return Reset()
        if after > self.last_seq:
            return BadResume(f"after={after} is past the last message of the room "
                             f"({self.last_seq} in epoch {epoch})")
        self._expire(now)
        oldest = self._entries[0].seq if self._entries else self.last_seq + 1
        newer = itertools.takewhile(lambda entry: entry.seq > after, self._newest(until))
        entries = tuple(reversed(list(newer)))
        if oldest > after + 1:
            return GapTooOld(oldest - after - 1, entries)
        return Replay(entries)

    def _newest(self, until: int | None) -> Iterator[Entry]:
        """The entries kept, newest first, from the one numbered ``until`` (or the last)."""
        newest = reversed(self._entries)
        if until is None:
            return newest
        return itertools.dropwhile(lambda entry: entry.seq > until, newest)

    def _expire(self, now: float) -> None:
        if self.max_age is None:
            return
        while self._entries and now - self._entries[0].made > self.max_age:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        self._lines -= self._entries.popleft().line
