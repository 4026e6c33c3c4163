"""The room's numbered log in Redis: one authority numbers the room's events, and keeps the last.

With several workers, nobody but Redis sees every event of the room, so Redis numbers them.
One Lua script (:data:`APPEND_SCRIPT`), atomic as every Redis script is, does it all at once:

1. reads the room's *epoch*, a random word, and makes a new one if there is none: a Redis that
   lost its data (restarted without a dump file) has none, so the numbers start again at 1 in
   a new epoch, and everyone can tell "seq 5" of before from "seq 5" of after;
2. adds 1 to the room's counter: the event's ``seq``;
3. appends the event to a Redis Stream (``XADD ... MAXLEN ~ N``), and, with an age limit, trims
   what is older (``XTRIM ... MINID ~``, the stream's IDs being Redis's own clock);
4. publishes it on the room's channel, with its number in front (:func:`read_published`).

No two events get one number, no number is skipped, and every worker hears them in the order of
their numbers, because nothing else can run between steps 2 and 4. ``python -m
wslab.bench.stream_path`` measured the other way (the same script without PUBLISH, every worker
reading the stream with ``XREAD BLOCK``) and why pub/sub stays the path between workers.

The stream is the history: :meth:`RedisRoomLog.after` reads what came after a client's or a
worker's ``(epoch, seq)``, or says the history was reset or the gap is too old;
:meth:`RedisRoomLog.latest` the last lines, for a latecomer. :class:`LogFollower` is one
worker's place in the log: what pub/sub delivers goes through it, so the room gets every
numbered event once and in order, and after an outage it reads from the stream what the worker
missed.

**Signed content, unsigned numbers.** An event is signed by the worker that made it
(``wslab.signing``), as on the channel; its number and epoch are Redis's, given after the
signature was made, so they are outside it. That is safe enough, because whoever can write to
Redis can do worse than renumber: delete the stream and the counter, flush everything, or stop
Redis. The signature never protected order or completeness, and still guards what it did: no
one without the secret can put words in a student's mouth, make a join or a leave up, or alter
one. An old signed event appended again under a new number is still the same event of the same
worker with the same worker sequence number inside the signature, which the room drops as a
repeat (``wslab.presence.SequenceTracker``). What an intruder in Redis *can* do is lose,
reorder or renumber lines; the log reads defensively (entries sorted and checked by number,
unsigned ones refused and reported), so that costs missed lines, never a crash.

**Redis restarting.** With its data (a dump written at shutdown, or an append-only file), the
epoch and the counter come back together and the numbers go on. Without, there is no epoch: the
next append makes a new one. From a dump older than its last appends (a crash between two
snapshots), the counter comes back lower in the *same* epoch, and would hand out numbers again;
the first worker to catch up after that sees the log behind what it saw and retires the epoch
(:meth:`RedisRoomLog.retire_epoch`), so the next numbers are new ones in a new epoch.

Keys (a hash tag in braces keeps all of a room's keys on one Redis Cluster node):
``{CHANNEL}:numbers``, a hash with the ``epoch`` and the last ``seq``; ``{CHANNEL}:history``, the
stream, each entry ``seq`` and ``data`` (the signed event text). The counter and the epoch live
in one hash, so one cannot be lost without the other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import re
import secrets
from typing import TYPE_CHECKING, Any, Callable

from redis.exceptions import AuthenticationError

from wslab.events import MALFORMED, Event, decode_event, encode_event
from wslab.redis_server import credentials_problem
from wslab.signing import EventSigner

if TYPE_CHECKING:
    import redis.asyncio as aioredis

logger = logging.getLogger(__name__)

#: What an epoch looks like: 8 hex digits (:func:`new_epoch`); checked on what comes from Redis.
EPOCH_PATTERN = re.compile(r"[0-9a-f]{8}")

#: The start of the scripts that number: the room's epoch, made (``ARGV[1]``, a fresh one) if
#: Redis has none, with the counter at 0 and no history: a new Redis, or one that lost its data.
_ENSURE_EPOCH = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
end
"""

#: Number, keep, publish: ``KEYS`` = numbers hash, stream; ``ARGV`` = a fresh epoch (used only
#: when Redis has none), N (0: keep nothing), the age limit in ms (0: none), the channel (empty:
#: publish nothing), the signed event. Returns ``{epoch, seq}``.
APPEND_SCRIPT = _ENSURE_EPOCH + """
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local keep = tonumber(ARGV[2])
if keep > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', keep, '*', 'seq', seq, 'data', ARGV[5])
  local max_age_ms = tonumber(ARGV[3])
  if max_age_ms > 0 then
    local now = redis.call('TIME')
    local cutoff = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - max_age_ms
    redis.call('XTRIM', KEYS[2], 'MINID', '~', string.format('%d', cutoff))
  end
end
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[4], string.format('%d', seq) .. ' ' .. epoch .. ' ' .. ARGV[5])
end
return {epoch, seq}
"""

#: Make the room's epoch if Redis has none: ``KEYS`` = numbers hash, stream; ``ARGV`` = a fresh
#: epoch. Returns ``{epoch, seq}``, the log's position.
BEGIN_SCRIPT = _ENSURE_EPOCH + """
return {epoch, tonumber(redis.call('HGET', KEYS[1], 'seq'))}
"""

#: Read the newest entries: ``KEYS`` = numbers hash, stream; ``ARGV`` = how many at most, and
#: optionally a number and its epoch: then only the entries after that number, and none if the
#: log is in another epoch. Returns ``{epoch or '', last seq, Redis's clock in ms, entries newest
#: first}``, all of one moment: nothing is appended between reading the counter and the stream.
READ_SCRIPT = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  return {'', 0, 0, {}}
end
local last = tonumber(redis.call('HGET', KEYS[1], 'seq'))
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local count = tonumber(ARGV[1])
if ARGV[2] then
  if epoch ~= ARGV[3] then
    count = 0
  else
    count = math.min(count, math.max(last - tonumber(ARGV[2]), 0))
  end
end
local entries = {}
if count > 0 then
  entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', count)
end
return {epoch, last, now_ms, entries}
"""

#: Start a new epoch if the log went back: ``KEYS`` = numbers hash; ``ARGV`` = a fresh epoch, an
#: epoch and a number someone saw in it. Returns the epoch after the check.
RETIRE_SCRIPT = """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  return ''
end
if epoch == ARGV[2] and tonumber(redis.call('HGET', KEYS[1], 'seq')) < tonumber(ARGV[3]) then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
return epoch
"""


def new_epoch() -> str:
    """A fresh epoch: 32 random bits as 8 hex digits, different from any earlier one."""
    return secrets.token_hex(4)


class LogLoginError(ConnectionError):
    """Redis refused the log's user name or password; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Numbered:
    """One numbered event of the room: its place in the log and the event itself.

    ``time`` is when Redis appended it (Unix seconds, from the stream entry's ID); None for an
    event heard on the channel, which does not carry it.
    """

    epoch: str
    #: The room's number, from Redis (the event's own ``seq`` is its worker's count).
    seq: int
    event: Event
    time: float | None = None


class Status(enum.Enum):
    """What :meth:`RedisRoomLog.after` found; each value is the word the wire protocol uses."""

    #: Everything after the given number is still in the history: ``entries`` is all of it.
    RESUMED = "resumed"
    #: The log has another epoch: Redis lost the history the given number belongs to.
    HISTORY_RESET = "history_reset"
    #: Some numbers after the given one are gone (``missed`` of them); ``entries`` is the rest.
    GAP_TOO_OLD = "gap_too_old"
    #: The given number is beyond the room's last one: nobody saw that.
    BAD_RESUME = "bad_resume"


@dataclasses.dataclass(frozen=True)
class Catchup:
    """The answer to "what came after (epoch, seq)?": ``epoch`` and ``seq`` are the log's own
    (its epoch, its last number) at the moment it was read."""

    status: Status
    epoch: str
    seq: int
    entries: list[Numbered]
    missed: int = 0


@dataclasses.dataclass(frozen=True)
class Published:
    """A message as it came off the room's channel: numbered (``seq`` and ``epoch`` set) or not
    (an event only the workers need: a heartbeat, a goodbye), and the signed event text."""

    data: bytes
    seq: int | None = None
    epoch: str | None = None


def read_published(message: bytes) -> Published:
    """Split what :data:`APPEND_SCRIPT` published (``<seq> <epoch> <signed event>``) into its
    parts; a message in any other form is a plain signed event, for ``EventSigner.open``."""
    parts = message.split(b" ", 2)
    if len(parts) == 3 and parts[0].isdigit() and len(parts[0]) < 19:
        epoch = parts[1].decode("ascii", "replace")
        if EPOCH_PATTERN.fullmatch(epoch):
            return Published(parts[2], int(parts[0]), epoch)
    return Published(message)


@dataclasses.dataclass(eq=False)
class RedisRoomLog:
    """The room's numbered log in Redis, through redis-py's asyncio ``client``.

    The last ``history`` entries are kept (the room's ``--history``; 0: none, events are still
    numbered), and with ``history_minutes`` only those younger than that. A read never returns
    more than that,
    although ``MAXLEN ~`` and ``MINID ~`` let the stream hold up to one stream node more (at
    most 100 entries or 4 KiB: about 13 chat events) until Redis drops a whole node at once,
    which is what makes trimming cheap.

    ``channel`` is where the script publishes, and names the keys; ``publish=False`` numbers
    and keeps without publishing (the other path the benchmark measures). ``url`` is what
    ``client`` connects to, for the error a wrong password gets (the broker's words,
    ``wslab.brokers``). Entries that fail their signature are dropped, and ``on_refused`` is
    told why.
    """

    client: "aioredis.Redis"
    url: str
    signer: EventSigner
    channel: str
    history: int
    history_minutes: float | None = None
    publish: bool = True
    on_refused: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        if self.history < 0:
            raise ValueError(f"history must be 0 or more, not {self.history}")
        if self.history_minutes is not None and self.history_minutes <= 0:
            raise ValueError(f"history_minutes must be positive, not {self.history_minutes}")
        self.numbers_key = f"{{{self.channel}}}:numbers"
        self.stream_key = f"{{{self.channel}}}:history"
        self._append = self.client.register_script(APPEND_SCRIPT)
        self._begin = self.client.register_script(BEGIN_SCRIPT)
        self._read = self.client.register_script(READ_SCRIPT)
        self._retire = self.client.register_script(RETIRE_SCRIPT)

    async def append(self, event: Event) -> tuple[str, int]:
        """Sign ``event``, number it, keep it and (unless ``publish`` is off) publish it, at
        once; return its ``(epoch, seq)``."""
        max_age_ms = round(self.history_minutes * 60_000) if self.history_minutes else 0
        data = self.signer.sign(encode_event(event))
        epoch, seq = await self._call(
            self._append,
            [new_epoch(), self.history, max_age_ms, self.channel if self.publish else "", data])
        return _text(epoch), int(seq)

    async def begin(self) -> tuple[str, int]:
        """The log's epoch and last number, making the epoch first if Redis has none.

        A worker begins so when it starts, and when Redis comes back without its data: its
        clients are told where the numbers stand (the welcome, ``history_reset``) before the
        first event of the new epoch, rather than learning of a new epoch from that event.
        """
        epoch, seq = await self._call(self._begin, [new_epoch()])
        return _text(epoch), int(seq)

    async def position(self) -> tuple[str, int]:
        """The log's epoch and last number now; ``("", 0)`` while nothing has been numbered
        (the first append makes the epoch)."""
        epoch, last, _ = await self._read_newest([0])
        return epoch, last

    async def latest(self, count: int) -> Catchup:
        """The last ``count`` events still in the history, oldest first (for a latecomer)."""
        epoch, last, entries = await self._read_newest([min(count, self.history)])
        return Catchup(Status.RESUMED, epoch, last, entries)

    async def after(self, epoch: str, seq: int) -> Catchup:
        """Everything after number ``seq`` of ``epoch``, oldest first, and what became of it.

        The answer's status: ``RESUMED`` when all of it is still here; ``GAP_TOO_OLD`` when the
        history has lost the first ``missed`` numbers after ``seq`` (entries: the rest);
        ``HISTORY_RESET`` when the log is in another epoch (no entries: the ones it has belong
        to another numbering); ``BAD_RESUME`` when ``seq`` is beyond the log's last number.
        """
        if seq < 0:
            raise ValueError(f"seq must be 0 or more, not {seq}")
        log_epoch, last, entries = await self._read_newest([self.history, seq, epoch])
        if log_epoch != epoch:
            return Catchup(Status.HISTORY_RESET, log_epoch, last, [])
        if seq > last:
            return Catchup(Status.BAD_RESUME, log_epoch, last, [])
        entries = [entry for entry in entries if entry.seq > seq]
        missed = (entries[0].seq if entries else last + 1) - seq - 1
        return Catchup(Status.GAP_TOO_OLD if missed else Status.RESUMED, log_epoch, last,
                       entries, missed)

    async def retire_epoch(self, epoch: str, seq: int) -> str:
        """Start a new epoch if the log is in ``epoch`` but its last number is below ``seq``,
        which someone saw: return the log's epoch after the check.

        Only a Redis restarted from a dump older than its last append goes back so. Its next
        numbers would repeat ones already handed out in the same epoch, and every client would
        drop those lines as repeats; in a new epoch they are new lines, and clients are told the
        history was reset. The entries kept stay, under the new epoch.
        """
        return _text(await self._call(self._retire, [new_epoch(), epoch, seq]))

    async def _read_newest(self, args: list[Any]) -> tuple[str, int, list[Numbered]]:
        """Run :data:`READ_SCRIPT`: the log's epoch, its last number and the entries it read
        that are still kept (by the age limit too, by Redis's clock), oldest first."""
        epoch, last, now_ms, raw = await self._call(self._read, args)
        epoch, last = _text(epoch), int(last)
        oldest = (int(now_ms) / 1000 - self.history_minutes * 60) if self.history_minutes \
            else None
        entries: list[Numbered] = []
        for entry_id, fields in raw:
            numbered = self._open(epoch, entry_id, fields)
            if numbered is None or numbered.seq > last:
                continue
            if oldest is not None and numbered.time is not None and numbered.time < oldest:
                break  # newest first: every one after this is older still
            entries.append(numbered)
        entries.sort(key=lambda entry: entry.seq)
        # Only what the script appended is numbered from 1 up without a repeat: whoever else
        # can write to the stream may add entries with any number.
        return epoch, last, [entry for index, entry in enumerate(entries)
                             if index == 0 or entry.seq != entries[index - 1].seq]

    def _open(self, epoch: str, entry_id: bytes, fields: Any) -> Numbered | None:
        """One stream entry as a :class:`Numbered`, or None (reported) if it is not one of ours."""
        values = dict(zip(fields[::2], fields[1::2]))
        seq, data = values.get(b"seq", b""), values.get(b"data")
        text, why = (None, MALFORMED) if data is None or not seq.isdigit() \
            else self.signer.open(data)
        event = decode_event(text) if text is not None else None
        if event is None:
            self._refused(why or MALFORMED)
            return None
        return Numbered(epoch, int(seq), event, int(entry_id.split(b"-")[0]) / 1000)

    def open_published(self, published: Published) -> Numbered | None:
        """A numbered message heard on the channel, checked: None (reported) if it is not one
        the script published with a good signature."""
        text, why = self.signer.open(published.data)
        event = decode_event(text) if text is not None else None
        if event is None or published.seq is None or published.epoch is None:
            self._refused(why or MALFORMED)
            return None
        return Numbered(published.epoch, published.seq, event)

    def _refused(self, why: str) -> None:
        logger.warning("Ignored an entry of the room's log: %s", why)
        if self.on_refused is not None:
            self.on_refused(why)

    async def _call(self, script: Any, args: list[Any]) -> Any:
        """Run one of the log's scripts on its two keys. A refused login becomes a
        :class:`LogLoginError` with the broker's words for it (``wslab.brokers``)."""
        try:
            return await script(keys=[self.numbers_key, self.stream_key], args=args)
        except AuthenticationError:
            problem = await asyncio.to_thread(credentials_problem, self.url)
            raise LogLoginError(problem or "Redis refused the log's login") from None


def _text(value: bytes | str) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value


@dataclasses.dataclass(frozen=True)
class Delivery:
    """What a :class:`LogFollower` hands the room: the events to deliver now, in order, none
    delivered before; how many numbers were lost for good; and whether the log's epoch changed
    (Redis lost its data), which clients are told of."""

    entries: list[Numbered]
    lost: int = 0
    reset: bool = False


class LogFollower:
    """One worker's place in the room's log: every numbered event once, in number order.

    Pub/sub delivers each message at most once, and nothing while a worker is cut off from
    Redis. The follower keeps the last ``(epoch, seq)`` it handed on. A message with the next
    number is handed on; one it has handed on already is dropped; one further ahead means the
    worker missed some, and the follower reads them from the stream first. After an outage,
    once the worker is subscribed again, :meth:`catch_up` reads everything since the last
    number it saw; whatever came in on the channel meanwhile is then a repeat.

    A worker calls :meth:`start` on its first subscription, :meth:`catch_up` on every later
    one, and :meth:`receive` for every numbered message in between.
    """

    def __init__(self, log: RedisRoomLog) -> None:
        self.log = log
        self.epoch = ""
        self.seq = 0
        #: Numbers lost for good (the history no longer had them when the follower looked).
        self.lost = 0

    async def start(self) -> list[Numbered]:
        """Take the log's position as it is, and return what its history holds, oldest first,
        read at the same moment: what the worker's own copy of the history starts with. None
        of it is delivered to anyone (a worker that starts has nobody to replay it to)."""
        await self.log.begin()
        catchup = await self.log.latest(self.log.history)
        self.epoch, self.seq = catchup.epoch, catchup.seq
        return catchup.entries

    async def receive(self, numbered: Numbered) -> Delivery:
        """Take one numbered message heard on the channel; return what to deliver."""
        if numbered.epoch == self.epoch and numbered.seq <= self.seq:
            return Delivery([])
        if numbered.epoch == self.epoch and numbered.seq == self.seq + 1:
            self.seq = numbered.seq
            return Delivery([numbered])
        return await self.catch_up()

    async def catch_up(self) -> Delivery:
        """Read from the stream everything after the last number handed on, and hand it on.

        In a new epoch (Redis lost its data, or went back), that is everything of the new epoch
        still kept; the numbers of the old epoch the worker never saw are unknown, and not
        counted as lost. Events handed on already come again in that case, under new numbers:
        the room drops them by the worker sequence number inside their signature
        (``wslab.presence.SequenceTracker``).
        """
        catchup = await self.log.after(self.epoch, self.seq)
        if catchup.status is Status.BAD_RESUME:  # the log went back (``retire_epoch``)
            await self.log.retire_epoch(self.epoch, self.seq)
            catchup = await self.log.after(self.epoch, self.seq)
        reset = catchup.status is Status.HISTORY_RESET
        if reset:
            epoch, _ = await self.log.begin()
            catchup = await self.log.after(epoch, 0)
            reset = bool(self.epoch)
        self.epoch = catchup.epoch
        self.seq = max([catchup.seq, *(entry.seq for entry in catchup.entries)])
        self.lost += catchup.missed
        return Delivery(catchup.entries, catchup.missed, reset)
