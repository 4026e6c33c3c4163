"""The chat room: who is in it, what they say, and what everyone hears about it.

``wslab.chat`` hands every frame a client sends to :meth:`ChatRoom.receive`; the room reads it
with ``wslab.envelope``, applies the client's rate limit, and either relays it to everyone
through the ``ConnectionManager`` or answers the sender alone with an error. Joins, leaves and
the participant count are announced here too, so the count always matches the members. They go
out through ``ConnectionManager.announce``, which bounds them apart from chat lines, so that a
whole class joining at once does not get a slow reader dropped (see there why).

A name is held by one connection, and only its owner can move it to another. The welcome gives
each connection a secret resume key (``wslab.resume``), sent to it alone. A second connection
with a name in use is let in only with that key (``?resume=KEY``): that is a reconnect after the
Wi-Fi dropped, while the server has not yet noticed that the old connection is dead, so the old
one is closed with 4409 and the room announces neither a leave nor a join, since the person
never left. Without the key the newcomer is refused (``name_taken``, then 1008) and the holder
is left alone: a student cannot take the names the welcome lists. A holder that is really gone
frees its name when it leaves, or when uvicorn's keepalive notices its connection is dead (at
most ``PING_INTERVAL + PING_TIMEOUT`` seconds after the drop; ``wslab.serving``).

Nothing is lost on a Wi-Fi drop (``wslab.history``): the broker numbers every chat line, join
and leave the room announces (``seq``, under an ``epoch``), and the room keeps the last ones.
The welcome says where the numbering stands. A connection that asks to resume (``?resume=KEY&
epoch=E&after=N``) with a key that proves the name, the key of the connection holding it or of
its last holder if it left recently, gets what it missed before any live message, then
``resumed``; or ``history_reset`` / ``gap_too_old``. Anyone else is a newcomer and gets the
room's last lines, marked ``history`` (:meth:`ChatRoom._catch_up`).

Several workers (processes) make one room through a broker (``wslab.brokers``). The path of a
line is then: this worker's client -> :meth:`ChatRoom.receive` -> :meth:`ChatRoom.relay`
publishes it -> the broker hands it to *every* worker, this one included -> each worker's
:meth:`ChatRoom._on_event` queues it for its own clients (``ConnectionManager.broadcast``).

A worker delivers its own clients' lines the same way, from the broker, and never also directly:
that is what keeps a line from arriving twice, and it gives every client, on every worker, the
same order of lines (the order the broker saw them in). The cost is one trip through the broker
for the sender's own worker too. Only when the broker is down does a worker deliver directly,
to its own clients; a line that is delivered that way and also comes back from the broker later
is dropped, by its sequence number.

The participant count and the ``online`` list are for the whole room: this worker's members plus
the clients every other worker reports (:class:`wslab.presence.Roster`). Names hold across
workers too. A join event carries the digest of the new connection's key (never the key), the
roster keeps it, and another worker checks a presented key against it; a join that proved the
key says so (``resumed``), and the worker holding the old connection closes it with 4409. Two
keyless claims of a free name on two workers at the same moment are settled by the broker's
order, the same for every worker: the claim whose join the broker carried first keeps the name,
and the other is refused with ``name_taken`` when its worker sees that earlier join.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import itertools
import logging
import time
from typing import Any, Callable, Sequence

from starlette.websockets import WebSocket

from wslab import envelope, resume
from wslab.brokers import Broker, InProcessBroker, stop_task
from wslab.close_codes import KitCloseCode
from wslab.events import Event, make_event
from wslab.history import (EVENT_EPOCH, EVENT_PAST, EVENT_SEQ, MESSAGES_PER_LINE, NUMBERED,
                           BadResume, Entry, GapTooOld, History, Position, Reset, new_epoch)
from wslab.manager import ANNOUNCEMENTS_PER_LINE, ConnectionManager
from wslab.presence import HEARTBEATS_MISSED, Roster, SequenceTracker, Verdict
from wslab.protocol import CloseCode
from wslab.ratelimit import TokenBucket
from wslab.serving import PING_INTERVAL, PING_TIMEOUT
from wslab.settings import ChatSettings

logger = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False, slots=True)
class Member:
    """One connected participant, as the room knows it: what :meth:`ChatRoom.join` returns, and
    what the endpoint hands back with every frame, so the room never looks it up again."""

    client_id: str
    websocket: WebSocket
    bucket: TokenBucket
    #: The digest of the resume key this connection was welcomed with (``wslab.resume``).
    key_digest: str = ""
    #: Whether this worker's announcement of the join has come back from the broker.
    announced: bool = False
    #: Chat lines this connection has had relayed (for the classroom's live view).
    said: int = 0
    #: When it joined this worker, as a count of joins: who joined after whom.
    arrival: int = 0
    #: False once it has left, or a newer connection with its client id has taken over.
    present: bool = True


@dataclasses.dataclass(frozen=True)
class RoomSnapshot:
    """What a room has counted, copied at one moment (:meth:`ChatRoom.snapshot`).

    ``online`` is the whole room (every worker); the rest is this worker's: ``said`` maps each
    of its members to the chat lines they have sent since they connected; ``relayed`` counts
    the chat lines its clients sent; the refusals and drops are counted by their code or reason
    (``refused_events``: what came from the broker and was not acted on, see
    :meth:`ChatRoom._on_event`).
    """

    online: tuple[str, ...]
    said: dict[str, int]
    relayed: int
    refused_handshakes: dict[str, int]
    refused_frames: dict[str, int]
    dropped: dict[str, int]
    refused_events: dict[str, int] = dataclasses.field(default_factory=dict)


class ChatRoom:
    """Everyone connected to one chat server, and the rules for talking to them.

    ``broker`` joins this worker to the others of the same room (default: an
    :class:`~wslab.brokers.InProcessBroker`, for a room that is one worker).
    """

    def __init__(self, settings: ChatSettings, broker: Broker | None = None) -> None:
        self.settings = settings
        # A connection that resumes is sent up to the whole history at once, on top of the
        # announcements a storm of joins may queue: room for both.
        self.manager = ConnectionManager(
            outbound_queue=settings.outbound_queue, on_drop=self._dropped,
            announcement_queue=ANNOUNCEMENTS_PER_LINE * settings.outbound_queue
            + settings.history * MESSAGES_PER_LINE + 2)
        self.broker: Broker = broker or InProcessBroker()
        self.worker_id = self.broker.worker_id
        #: The clients of the other workers, from their announcements and heartbeats.
        self.roster = Roster(HEARTBEATS_MISSED * self.broker.heartbeat)
        #: The last event seen from each worker, and this one's own numbers: repeats are
        #: dropped, losses counted, forgeries refused.
        self.sequence = SequenceTracker(self.worker_id)
        #: True while the broker is down: this worker's clients hear only each other.
        self.degraded = False
        self._members: dict[str, Member] = {}
        #: The same members by socket: for the manager's drops, which know only the socket.
        self._by_socket: dict[WebSocket, Member] = {}
        self._arrivals = itertools.count(1)
        #: The room's numbered messages, for those who reconnect and those who come late. A
        #: broker that numbers events has an ``epoch`` (``InProcessBroker``); with one that
        #: does not, nothing is numbered, and the epoch is only this room's own.
        self.history = History(settings.history,
                               None if settings.history_minutes is None
                               else 60 * settings.history_minutes,
                               epoch=getattr(self.broker, "epoch", None) or new_epoch())
        #: Whose key still proves a name that is free now: they may resume what they missed.
        self.departed = resume.DepartedHolders(
            resume.DEPARTED_LIMIT, self.history.max_age or resume.DEPARTED_MAX_AGE)
        self._heartbeat: asyncio.Task[None] | None = None
        self._stopping = False
        self.messages_relayed = 0
        #: Handshakes refused (``chat._admitted`` counts them), frames refused, and clients the
        #: manager dropped, by code or reason: what the classroom's live view shows.
        self.refused_handshakes: collections.Counter[str] = collections.Counter()
        self.refused_frames: collections.Counter[str] = collections.Counter()
        self.dropped: collections.Counter[str] = collections.Counter()
        #: Events from the broker that were dropped unread or refused, by reason.
        self.refused_events: collections.Counter[str] = collections.Counter()
        self.broker.subscribe(self._on_event, self._on_status, self._refused_event,
                              self._on_position)

    @property
    def participants(self) -> int:
        """How many are in the room (the length of :attr:`online`, without sorting it)."""
        others = self.roster.client_ids()
        return len(self._members.keys() | others) if others else len(self._members)

    @property
    def online(self) -> list[str]:
        """Everyone in the room: this worker's members and the other workers' clients."""
        return sorted(self._members.keys() | self.roster.client_ids())

    def snapshot(self) -> RoomSnapshot:
        """Who is here and what the room has counted so far, as a copy that stays still."""
        return RoomSnapshot(tuple(self.online),
                            {member.client_id: member.said for member in self._members.values()},
                            self.messages_relayed, dict(self.refused_handshakes),
                            dict(self.refused_frames), dict(self.dropped),
                            dict(self.refused_events))

    async def start(self) -> None:
        """Connect to the broker; with one shared by other workers, start the heartbeat."""
        self._stopping = False
        await self.broker.start()
        if self.broker.shared and self._heartbeat is None:
            self._heartbeat = asyncio.get_running_loop().create_task(self._keep_in_touch())

    async def stop(self) -> None:
        """Stop the heartbeat, tell the other workers this one is leaving, close the broker."""
        self._stopping = True
        task, self._heartbeat = self._heartbeat, None
        if task is not None:
            await stop_task(task)
        if self.broker.shared and self.broker.up:
            await self._publish("bye")
        await self.broker.close()

    async def join(self, websocket: WebSocket, client_id: str,
                   request: resume.Request = resume.Request()) -> Member | None:
        """Add an accepted connection; greet it and tell everyone else. Returns its member,
        which the endpoint passes to :meth:`receive` and :meth:`leave`.

        When another connection holds ``client_id`` (here, or on another worker), the newcomer
        takes it over only if ``request.key`` is that connection's key; otherwise it is refused
        (``name_taken``, then closed) and None is returned.

        After the welcome, the connection gets what it is owed from the history
        (:meth:`_catch_up`): what it missed, if it asks to resume with a key that proves the
        name, or else the room's last lines. Nothing runs between taking them from the history
        and queueing them behind the welcome, and the connection hears live messages only from
        then on: so none is missing or comes twice, however many arrive meanwhile.
        """
        previous = self._members.get(client_id)
        elsewhere = previous is None and self.roster.where(client_id) is not None
        held_with = previous.key_digest if previous is not None else self.roster.key_of(client_id)
        if (previous is not None or elsewhere) and not resume.proves(request.key, held_with):
            await self._refuse_name(websocket, client_id)
            return None
        departed_with = self.departed.digest_of(client_id, time.monotonic())
        proven = previous is not None or elsewhere or resume.proves(request.key, departed_with)
        self.departed.forget(client_id)
        key = resume.new_key()
        member = Member(client_id, websocket, TokenBucket(self.settings.rate_limit),
                        key_digest=resume.digest(key),
                        announced=previous is not None and previous.announced,
                        arrival=next(self._arrivals))
        self._members[client_id] = member
        self._by_socket[websocket] = member
        if previous is not None:
            previous.present = False
            del self._by_socket[previous.websocket]
            logger.info("Client %s connected again, with its key; closing its older connection",
                        client_id)
            await self._close_replaced(previous.websocket)
        logger.info("Client %s connected", client_id)
        # A reconnect (here or elsewhere) is not announced, but the other workers still learn
        # the new key's digest from it.
        resumed = previous is not None or elsewhere
        join = dict(client=client_id, announce=not resumed, key=member.key_digest,
                    resumed=resumed, participants=self.participants, **{NUMBERED: not resumed})
        # Its own join is announced to the others; to this connection its welcome says as much
        # (and counts it), so what it is owed from the history stops short of that join.
        before_join = self.history.last_seq
        if self.broker.shared:
            # The join comes back from a shared broker only later, and lines keep coming
            # meanwhile: this connection must be here to hear them, so it is greeted first.
            await self._greet(member, key, self._catch_up(request, proven, before_join))
            await self._publish("join", **join)
        else:
            # The in-process broker numbers the join at once: the welcome can count it.
            await self._publish("join", **join)
            await self._greet(member, key, self._catch_up(request, proven, before_join))
        return member

    async def _greet(self, member: Member, key: str, owed: list[str]) -> None:
        """Start delivering to ``member``: its welcome, then what it is owed, then live.

        Nothing runs between the caller's taking ``owed`` from the history and this queueing
        it, so no message numbered meanwhile is missed or sent twice.
        """
        websocket = member.websocket
        self.manager.add(websocket)
        await self.manager.send_personal_message(
            envelope.welcome_message(member.client_id, self.online, resume_key=key,
                                     epoch=self.history.epoch, seq=self.history.last_seq),
            websocket)
        for message in owed:
            await self.manager.send_personal_message(message, websocket, announcement=True)
        if self.degraded:
            await self.manager.send_personal_message(self._degraded_message(), websocket)

    def _catch_up(self, request: resume.Request, proven: bool, until: int) -> list[str]:
        """What a connection gets right after its welcome, in order (``wslab.history``).

        A resume in the room's epoch whose key proves the name gets what it missed, marked
        ``replay``, then ``resumed``; or, when part of it is gone, ``gap_too_old``, what is
        left, then ``resumed``. A resume from another epoch gets ``history_reset`` (the server
        lost its history: a restart, which also forgot every key, so none is asked for; it shows
        nothing a newcomer would not see). Anyone else is a newcomer, and gets the room's last
        ``history_on_join`` lines, marked ``history``: after an ``error`` reply when it asked
        to resume and may not (``resume_refused``) or asked nonsense (``bad_resume``).
        Messages numbered after ``until`` are left out: the connection's own join.
        """
        now = time.monotonic()
        earlier = _copies(self.history.recent(self.settings.history_on_join, now, until),
                          envelope.HISTORY)
        if request.problem is not None:
            return [self._resume_error("bad_resume", request.problem), *earlier]
        if not request.resuming:
            return earlier
        assert request.epoch is not None and request.after is not None
        owed = self.history.since(request.epoch, request.after, now, until)
        if isinstance(owed, Reset):
            return [envelope.history_reset_message(self.history.epoch, self.history.last_seq),
                    *earlier]
        if not proven:
            return [self._resume_error(
                "resume_refused", "only the connection that held this name may resume it: "
                "no resume key proved it, so here are the room's last lines instead"),
                *earlier]
        if isinstance(owed, BadResume):
            return [self._resume_error("bad_resume", owed.reason), *earlier]
        replayed = _copies(owed.entries, envelope.REPLAY)
        told = [envelope.gap_too_old_message(owed.missed)] if isinstance(owed, GapTooOld) else []
        # ``resumed`` ends every replay, a partial one too: the client knows live lines follow.
        return [*told, *replayed, envelope.resumed_message(len(replayed), self.history.epoch,
                                                           self.history.last_seq)]

    @staticmethod
    def _resume_error(code: str, reason: str) -> str:
        """An error reply to a resume the room does not grant; the connection stays."""
        logger.warning("Refused a resume: %s (%s)", code, reason)
        return envelope.error_message(code, reason)

    async def _refuse_name(self, websocket: WebSocket, client_id: str) -> None:
        """Refuse a newcomer whose name another connection holds, without its key."""
        logger.warning("Refused client %s: the name is in use and no valid resume key came "
                       "with it", client_id)
        self.refused_handshakes["name_taken"] += 1
        await websocket.send_text(envelope.error_message("name_taken", _name_taken(client_id)))
        await websocket.close(code=CloseCode.POLICY_VIOLATION, reason=_in_use(client_id))

    async def leave(self, member: Member, why: str = "") -> None:
        """Remove a member whose connection has ended. Safe to call for one that already left,
        or whose client id a newer connection has taken over since."""
        self.manager.disconnect(member.websocket)
        if not member.present:
            return
        member.present = False
        del self._members[member.client_id]
        del self._by_socket[member.websocket]
        logger.info("Client #%s left the chat%s", member.client_id, f" ({why})" if why else "")
        self.departed.remember(member.client_id, member.key_digest, time.monotonic())
        await self._publish("leave", client=member.client_id, announce=True, why=why,
                            participants=self.participants, key=member.key_digest,
                            **{NUMBERED: True})

    async def receive(self, member: Member, event: dict[str, Any]) -> None:
        """Act on one ``websocket.receive`` event from ``member`` (one that left is ignored)."""
        if not member.present:
            return
        text = event.get("text")
        if text is None:
            await self._refuse(member, "binary_not_supported",
                               "this chat takes text frames only, not binary data")
            return
        frame = envelope.read_client_text(text, self.settings.max_message_bytes)
        if isinstance(frame, envelope.Rejected):
            await self._refuse(member, frame.code, frame.reason)
        elif isinstance(frame, envelope.Ping):
            await self.manager.send_personal_message(envelope.pong_message(), member.websocket)
        elif not member.bucket.allow():
            await self._refuse(member, "rate_limited",
                               f"slow down: at most {self.settings.rate_limit:g} messages per "
                               f"second; try again in {member.bucket.retry_after():.1f} s")
        elif isinstance(frame, envelope.Chat):
            logger.info("Received from client %s: %s", member.client_id, _preview(frame.text))
            member.said += 1
            await self.relay(envelope.chat_message(member.client_id, frame.text))
        else:
            logger.info("Received plain text from client %s: %s",
                        member.client_id, _preview(frame.text))
            member.said += 1
            await self.relay(envelope.plain_text_message(member.client_id, frame.text),
                             numbered=False)

    async def relay(self, message: str, numbered: bool = True) -> None:
        """Deliver a chat message to everyone in the room: through the broker, on every worker.

        ``numbered`` (a JSON chat line): the room numbers it and keeps it in its history. The
        lecture's plain-text relay is not JSON, so it can carry no number, and is live only.
        """
        self.messages_relayed += 1
        await self._publish("chat", text=message, **{NUMBERED: numbered})

    # -- the broker: this worker's events out, everyone's events in

    async def _publish(self, kind: str, **fields: Any) -> None:
        """Publish an event tagged with this worker and its next sequence number.

        When the broker cannot take it (it is down), the other workers will not hear it, but
        this worker's own clients still do: the event is delivered here directly.
        """
        event = make_event(self.worker_id, self.sequence.next_own(), kind, **fields)
        if not await self.broker.publish(event):
            await self._on_event(event)

    async def _on_event(self, event: Event) -> None:
        """Act on one event from the broker, published by any worker (this one included).

        A join or leave is announced by every worker to its own clients, with the count as that
        worker sees it once the event is applied: all workers apply the events in the broker's
        order, so two people joining on two workers at the same moment are counted right.

        The broker has checked the event's signature; its sequence number is checked here. An
        event under this worker's own id that it did not publish, or one that jumps absurdly
        far ahead of its worker's last (:class:`~wslab.presence.Verdict`), is refused and
        counted, and nobody hears of it.
        """
        worker, kind = event["worker"], event["kind"]
        if event.get(EVENT_PAST):
            self._keep_past(event)
            return
        verdict = self.sequence.accept(worker, event["seq"])
        if verdict is Verdict.REPEAT:
            return  # delivered already
        if verdict is not Verdict.DELIVER:
            self._refused_event(verdict.value)
            return
        if worker != self.worker_id:
            await self._from_other_worker(worker, kind, event)
        elif kind == "chat":
            await self.manager.broadcast(self._kept(event, event["text"]))
        elif kind == "join":
            member = self._members.get(event["client"])
            if member is not None:
                member.announced = True
            if event["announce"]:
                await self._announce(event, _told(event, self.participants),
                                     known_to=self._welcomed_with(member))
        elif kind == "leave" and event["announce"]:
            await self._announce(event, _told(event, self.participants))

    async def _announce(self, event: Event, message: str, known_to: Sequence[WebSocket] = (),
                        known_here: bool = False) -> None:
        """Announce ``message``, what ``event`` (a join or a leave) tells the clients, to every
        client here but those it tells nothing new (``known_to``; all of them: ``known_here``).

        If the broker numbered the event, those get it too, marked ``known``: counted and not
        shown, so that no client's count of the room's numbers has a hole where it was
        (``wslab.catch_up``). With one worker that is never needed (the in-process broker numbers
        a join before the welcome, which counts it); with several, a connection is welcomed
        before its own join is numbered, and the join of a name that moved between workers is
        not news where it is known.
        """
        message = self._kept(event, message)
        if known_here:
            if event.get(EVENT_SEQ) is not None:
                await self.manager.announce(envelope.marked(message, envelope.KNOWN))
            return
        await self.manager.announce(message, skip=known_to)
        if known_to and event.get(EVENT_SEQ) is not None:
            known = envelope.marked(message, envelope.KNOWN)
            for websocket in known_to:
                await self.manager.send_personal_message(known, websocket, announcement=True)

    def _kept(self, event: Event, message: str) -> str:
        """``message``, what ``event`` tells the clients, with the number the broker gave the
        event, if it gave one; then kept in the history, exactly as it is sent."""
        seq = event.get(EVENT_SEQ)
        if seq is None:
            return message
        message = envelope.numbered(message, event[EVENT_EPOCH], seq)
        self.history.add(event[EVENT_EPOCH], seq, message, time.monotonic(),
                         line=event["kind"] == "chat")
        return message

    def _keep_past(self, event: Event) -> None:
        """Keep an event from before this worker started, as it was told then: for clients that
        resume here, having missed it on a worker that has gone since.

        The key digest of a join or a leave proves the name to whoever comes back with its key:
        the holder's worker has left the name free (it left, or its worker died). A holder
        still connected to a live worker is in the roster once that worker's heartbeat comes,
        and the roster's key is the one that counts then (:meth:`join`)."""
        at = float(event[EVENT_PAST])
        kind = event["kind"]
        if kind == "chat":
            message = event["text"]
        else:
            message = _told(event, event.get("participants", 0),
                            datetime.datetime.fromtimestamp(at))
            self._remember_departed({event["client"]: event.get("key")})
        self.history.add(event[EVENT_EPOCH], event[EVENT_SEQ],
                         envelope.numbered(message, event[EVENT_EPOCH], event[EVENT_SEQ]),
                         time.monotonic() - max(0.0, time.time() - at), line=kind == "chat")

    async def _on_position(self, position: Position) -> None:
        """The broker joined the history the workers share (``wslab.history.Position``): count
        from where it stands, and tell the clients here what they lost, if anything."""
        self.history.restart(position.epoch, position.seq)
        if position.reset:
            logger.warning("The room's history was lost (Redis lost its data): numbering starts "
                           "again, in epoch %s", position.epoch)
            await self.manager.announce(envelope.history_reset_message(position.epoch,
                                                                       position.seq))
        elif position.lost:
            logger.warning("%d numbered messages were gone from the history before this worker "
                           "could read them", position.lost)
            await self.manager.announce(envelope.gap_too_old_message(position.lost))

    def _refused_event(self, why: str) -> None:
        """Count an event from the broker that was not acted on, by why (``wslab.signing``,
        ``wslab.brokers``, ``wslab.presence``).

        Every one is a warning; ``wslab.quiet_log`` lets three of each reason through every 10 s,
        so whoever floods the channel with forgeries cannot flood the log too.
        """
        self.refused_events[why] += 1
        # The reason is part of the template: each reason is a kind of its own for quiet_log.
        logger.warning(f"Refused an event from the broker: {why} (%d so far)",
                       self.refused_events[why])

    def _welcomed_with(self, member: Member | None) -> list[WebSocket]:
        """``member`` and everyone here who joined after it: their welcome listed it already.

        A join comes back from a shared broker a moment after it happened; someone who joined
        this worker in that moment must not hear of it a second time.
        """
        if member is None:
            return []
        return [other.websocket for other in self._members.values()
                if other.arrival >= member.arrival]

    async def _from_other_worker(self, worker: str, kind: str, event: Event) -> None:
        client_id = event.get("client")
        if kind == "chat":
            self.roster.seen(worker)
            await self.manager.broadcast(self._kept(event, event["text"]))
        elif kind == "join":
            known = client_id in self._members or self.roster.where(client_id) is not None
            self.roster.add(worker, client_id, event.get("key"))
            here = self._members.get(client_id)
            if here is not None and event.get("resumed"):  # its owner moved there, with its key
                await self._replaced_elsewhere(here)
            elif here is not None and not here.announced:  # the other claim came first
                await self._lost_the_name(here)
            if event["announce"]:
                await self._announce(event, _told(event, self.participants), known_here=known)
        elif kind == "leave":
            self._remember_departed({client_id: event.get("key") or self.roster.key_of(client_id)})
            self.roster.remove(worker, client_id)
            if event["announce"]:
                await self._announce(event, _told(event, self.participants),
                                     known_here=client_id in self._members)
        elif kind == "presence":
            await self._sync(lambda: self.roster.replace(worker, event["clients"],
                                                         event.get("keys")))
            if event["ask"]:
                await self._publish_presence()
        elif kind == "bye":
            self.sequence.forget(worker)
            await self._sync(lambda: self._remember_departed(self.roster.forget(worker)),
                             "their server shut down")

    async def _replaced_elsewhere(self, member: Member) -> None:
        """Its owner connected to another worker, with its key: close the connection here."""
        logger.info("Client %s connected again, to worker %s; closing its connection here",
                    member.client_id, self.roster.where(member.client_id))
        await self._give_up(member)
        await self._close_replaced(member.websocket)

    async def _lost_the_name(self, member: Member) -> None:
        """Another worker's keyless claim of the same free name reached the broker first: that
        one keeps the name, and this connection is refused as it would have been a moment later.
        """
        logger.warning("Refused client %s: the same name joined on worker %s a moment earlier",
                       member.client_id, self.roster.where(member.client_id))
        self.refused_handshakes["name_taken"] += 1
        await self._give_up(member)
        await self.manager.close(
            member.websocket, CloseCode.POLICY_VIOLATION, _in_use(member.client_id),
            notice=envelope.error_message("name_taken", _name_taken(member.client_id)))

    async def _give_up(self, member: Member) -> None:
        """Forget a member whose name is now another worker's connection's, silently."""
        member.present = False
        del self._members[member.client_id]
        del self._by_socket[member.websocket]
        await self._publish("leave", client=member.client_id, announce=False, why="")

    async def _sync(self, change: Callable[[], Any], why: str = "") -> None:
        """Apply a change to the roster, and announce whoever it shows arriving or gone.

        Presence events can be lost, so each heartbeat carries a worker's whole list of
        clients; the difference it makes is announced to this worker's clients here.
        """
        before = set(self.online)
        change()
        after = set(self.online)
        for client_id in sorted(after - before):
            await self.manager.announce(envelope.join_message(client_id, len(after)))
        for client_id in sorted(before - after):
            await self.manager.announce(envelope.leave_message(client_id, len(after), why=why))

    async def _publish_presence(self, ask: bool = False) -> None:
        await self._publish("presence", clients=sorted(self._members), ask=ask,
                            keys={client_id: member.key_digest
                                  for client_id, member in self._members.items()})

    async def _keep_in_touch(self) -> None:
        """The heartbeat: tell the others who is here; forget workers that went silent."""
        while not self._stopping:
            await asyncio.sleep(self.broker.heartbeat)
            if self.broker.up:  # while the broker is down, silence proves nothing
                await self._publish_presence()
                await self._sync(self._expire, "their server stopped answering")

    def _expire(self) -> None:
        for worker, holders in self.roster.expire().items():
            logger.warning("Worker %s has gone silent; its clients count as gone", worker)
            self.sequence.forget(worker)
            self._remember_departed(holders)

    def _remember_departed(self, holders: dict[str, str | None]) -> None:
        """Keep the key digests of names freed on another worker: whoever held one there may
        come back here, its worker gone or its connection dropped, and resume."""
        now = time.monotonic()
        for client_id, key_digest in holders.items():
            if key_digest:
                self.departed.remember(client_id, key_digest, now)

    async def _on_status(self, up: bool, problem: str) -> None:
        """The broker's link to the other workers failed, or works (again)."""
        if not up:
            if not self.degraded:
                self.degraded = True
                logger.warning("The broker is down (%s): this worker's clients hear only each "
                               "other", problem)
                await self.manager.announce(self._degraded_message())
            return
        self.roster.refresh()
        if self.degraded:
            self.degraded = False
            logger.warning("The broker is back: the room is whole again")
            await self.manager.announce(envelope.system_message(
                "recovered", "The chat servers are back in touch: everyone hears everyone "
                "again. Lines sent while they were apart did not reach the other servers."))
        await self._publish_presence(ask=True)

    @staticmethod
    def _degraded_message() -> str:
        return envelope.system_message(
            "degraded", "The chat servers have lost touch with each other: for now your lines "
            "reach only the people connected to this server. Reconnecting...")

    async def _refuse(self, member: Member, code: str, reason: str) -> None:
        logger.warning("Refused a frame from client %s: %s (%s)", member.client_id, code, reason)
        self.refused_frames[code] += 1
        await self.manager.send_personal_message(envelope.error_message(code, reason),
                                                 member.websocket)

    async def _close_replaced(self, websocket: WebSocket) -> None:
        """Close a connection whose client id a newer connection took over (4409), saying so."""
        reason = "replaced by a newer connection with the same client id"
        await self.manager.close(websocket, KitCloseCode.REPLACED, reason,
                                 notice=envelope.error_message("replaced", reason))

    async def _dropped(self, websocket: WebSocket, why: str) -> None:
        self.dropped[why] += 1
        member = self._by_socket.get(websocket)
        if member is not None:
            await self.leave(member, why=why)


def _in_use(client_id: str) -> str:
    """The close reason of a newcomer refused its name: short, as a close reason must be."""
    return f"the name {client_id} is in use"


def _name_taken(client_id: str) -> str:
    """Why a newcomer cannot have ``client_id``, and what to do, in words (the error reply)."""
    return (f"{_in_use(client_id)} by someone connected now: pick another name. If it is "
            f"yours, from a connection that just dropped, the server frees it within "
            f"{PING_INTERVAL + PING_TIMEOUT:g} s.")


def _told(event: Event, participants: int, when: datetime.datetime | None = None) -> str:
    """What a join or leave event tells the clients: the lecture's words, with the count
    ``participants`` (and, for one from the history, the time it was told)."""
    if event["kind"] == "join":
        return envelope.join_message(event["client"], participants, when)
    return envelope.leave_message(event["client"], participants, when, why=event["why"])


def _copies(entries: tuple[Entry, ...] | list[Entry], mark: str) -> list[str]:
    """Copies of numbered messages from the history, each marked as what it is now."""
    return [envelope.marked(entry.text, mark) for entry in entries]


def _preview(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
