"""A ConnectionManager with the lecture's API that one bad peer cannot break.

The lecture's manager (``wslab.lecture``) sends to each client in turn, inside the handler of
whoever spoke. One client that stops reading then stalls everyone, and one that vanished makes
the *sender's* handler fail. This one keeps the same names (``active_connections``,
``connection_count``, ``connect``, ``disconnect``, ``broadcast``) and changes how sending works:

- every connection has its own bounded outbox and, while the outbox is not empty, its own
  writer task. ``broadcast`` only appends to outboxes (or writes where that needs no waiting,
  see below), so it never waits for any client;
- a writer whose send fails drops its own connection (closing it with 1011, in case the
  socket is still open), and nobody else notices;
- a client whose outbox is full is not reading: it alone is dropped, with close code 4408 and a
  log line;
- either way ``on_drop`` tells the chat, so it can announce the departure;
- ``disconnect`` may be called any number of times, and ``connection_count`` is derived from
  the registry, so it always equals the number of live connections;
- what the server itself announces (someone joined or left) goes through :meth:`announce`,
  which queues it in the same order as everything else but does not count it toward the
  client's limit (see :meth:`ConnectionManager.announce` for why).

Writer tasks exist only while there is something to send, so an idle connection costs no task.
And when the server can write a ready-made frame at once (``wslab.uvicorn_protocol`` offers
that), a message for a connection with nothing waiting is not queued at all: ``broadcast``
encodes it into a WebSocket frame once and hands that same frame to every such connection's
transport, which sends it or buffers it. A connection whose buffer is full
(above its high-water mark) says no, and gets the message through its outbox and writer, as
above. So a broadcast costs one encoding plus one write per client, and a thousand people
joining at once do not make a million short-lived tasks.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Collection, Optional

from starlette.websockets import WebSocket

from wslab.close_codes import KitCloseCode
from wslab.protocol import CloseCode, Opcode, encode_frame
from wslab.settings import DEFAULT_OUTBOUND_QUEUE
from wslab.uvicorn_protocol import WRITE_FRAME

logger = logging.getLogger(__name__)

#: Called with a connection the manager dropped on its own, and why, in words for the others.
DropCallback = Callable[[WebSocket, str], Awaitable[None]]

#: Announcements that may wait for one client, per chat line that may (``outbound_queue``).
ANNOUNCEMENTS_PER_LINE = 16


class _Announcement(str):
    """A message the server announces (a join, a leave): sent like any other text, counted apart.

    One is made per announcement, not per recipient: every outbox holds the same object.
    """

    __slots__ = ()


class _Outbox:
    """Messages waiting for one connection, and the task that writes them out in order.

    ``lines`` counts the waiting messages that count toward the client's limit (everything but
    announcements), ``announcements`` the others. A message stops waiting when the writer
    hands it to ``send_text``, as one taken from a queue would.
    """

    __slots__ = ("websocket", "pending", "writer", "manager", "lines", "announcements",
                 "write_frame")

    def __init__(self, websocket: WebSocket, manager: ConnectionManager) -> None:
        self.websocket = websocket
        # A list made when a message waits, and handed whole to the writer, which then sends
        # it in order while new messages start a new list. An idle connection holds no list,
        # and one waiting message costs a one-element list (a deque would allocate a block of
        # 64 slots for it).
        self.pending: list[str] | None = None
        self.writer: Optional[asyncio.Task[None]] = None
        self.manager = manager
        self.lines = 0
        self.announcements = 0
        extensions = (getattr(websocket, "scope", None) or {}).get("extensions") or {}
        self.write_frame: Callable[[bytes], bool] | None = extensions.get(WRITE_FRAME)

    def deliver(self, message: str, frame: bytes | None) -> bool:
        """Write ``frame`` (``message``, encoded) now if nothing waits before it and the server
        takes it; otherwise queue ``message``. False when the outbox is full."""
        if frame is not None and self.writer is None and self.write_frame is not None:
            try:
                if self.write_frame(frame):
                    return True
            except Exception as exc:
                # The writer's send will meet the same problem, and report it.
                logger.debug("Writing a frame failed (%s); queueing the message", exc)
        return self.put(message)

    def put(self, message: str) -> bool:
        """Queue ``message``; False when too many are already waiting (nothing is queued then)."""
        if type(message) is _Announcement:
            if self.announcements >= self.manager.announcement_queue:
                return False
            self.announcements += 1
        else:
            if self.lines >= self.manager.outbound_queue:
                return False
            self.lines += 1
        if self.pending is None:
            self.pending = [message]
        else:
            self.pending.append(message)
        if self.writer is None:
            self.writer = asyncio.get_running_loop().create_task(self._write())
        return True

    async def _write(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, None
                for message in batch:
                    if type(message) is _Announcement:
                        self.announcements -= 1
                    else:
                        self.lines -= 1
                    await self.websocket.send_text(message)
        except Exception as exc:  # the peer is gone, or this message cannot be sent at all
            self.writer = None
            logger.info("%s: send failed (%s: %s); dropping the connection",
                        self.websocket.url.path, type(exc).__name__, exc)
            await self.manager.drop(self.websocket, CloseCode.INTERNAL_ERROR,
                                    "the server could not send to you", "connection lost")
        else:
            self.writer = None

    def discard(self) -> None:
        """Forget what is waiting and stop the writer: the connection is leaving."""
        self.pending = None
        self.lines = self.announcements = 0
        if self.writer is not None and self.writer is not asyncio.current_task():
            self.writer.cancel()
        self.writer = None


class ConnectionManager:
    """Tracks open WebSockets and delivers messages to them without letting one hold up another.

    ``outbound_queue`` is how many messages may wait for one client before it counts as not
    reading. The messages themselves are shared between outboxes (a broadcast queues the same
    string object everywhere), so the bound costs a pointer per waiting message, not a copy.
    Announcements (:meth:`announce`) have a bound of their own, ``announcement_queue``, by
    default :data:`ANNOUNCEMENTS_PER_LINE` times ``outbound_queue``.
    """

    def __init__(self, *, outbound_queue: int = DEFAULT_OUTBOUND_QUEUE,
                 on_drop: DropCallback | None = None,
                 announcement_queue: int | None = None) -> None:
        self.outbound_queue = outbound_queue
        self.announcement_queue = (announcement_queue if announcement_queue is not None
                                   else ANNOUNCEMENTS_PER_LINE * outbound_queue)
        self.on_drop = on_drop
        self._outboxes: dict[WebSocket, _Outbox] = {}
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def active_connections(self) -> list[WebSocket]:
        """The connections messages are delivered to (a copy: safe to iterate while others leave)."""
        return list(self._outboxes)

    @property
    def connection_count(self) -> int:
        return len(self._outboxes)

    def __contains__(self, websocket: object) -> bool:
        return websocket in self._outboxes

    def waiting(self, websocket: WebSocket) -> int:
        """How many messages (announcements included) wait in ``websocket``'s outbox, not
        counting the one its writer is sending."""
        outbox = self._outboxes.get(websocket)
        return 0 if outbox is None else outbox.lines + outbox.announcements

    async def connect(self, websocket: WebSocket) -> None:
        """Accept the WebSocket handshake and start delivering messages to it."""
        await websocket.accept()
        self.add(websocket)

    def add(self, websocket: WebSocket) -> None:
        """Start delivering to a WebSocket that is already accepted."""
        if websocket not in self._outboxes:
            self._outboxes[websocket] = _Outbox(websocket, self)
            logger.info("New connection established. Total connections: %d", self.connection_count)

    def disconnect(self, websocket: WebSocket) -> bool:
        """Stop delivering to ``websocket``. Safe to call twice; returns whether it was here."""
        outbox = self._outboxes.pop(websocket, None)
        if outbox is None:
            return False
        outbox.discard()
        logger.info("Connection closed. Total connections: %d", self.connection_count)
        return True

    async def send_personal_message(self, message: str, websocket: WebSocket, *,
                                    announcement: bool = False) -> None:
        """Queue ``message`` for one connection, behind whatever it is already waiting for.

        ``announcement``: the server's own, counted apart as :meth:`announce`'s are (the room's
        history, replayed to one client at once, is bounded by the history, not by the pace of
        chat lines).
        """
        if announcement:
            message = _Announcement(message)
        outbox = self._outboxes.get(websocket)
        if outbox is not None and not outbox.deliver(message, _text_frame(message)):
            await self._evict(websocket)

    async def broadcast(self, message: str) -> None:
        """Queue ``message`` for every connection. Returns without waiting for any of them."""
        logger.debug("Broadcasting message: %s", message)
        await self._queue_for_all(message, ())

    async def announce(self, message: str, *, skip: Collection[WebSocket] = ()) -> None:
        """Queue a message from the server itself (someone joined or left) for every connection
        but those in ``skip``, behind what each is already waiting for, without counting it toward the
        client's ``outbound_queue``.

        Why apart: announcements come in storms that no one chose. When a whole class joins at
        once, every client is sent one announcement per newcomer, and a client that reads
        slowly at that moment (a busy laptop, a slow network, a server that is itself behind)
        would pass any bound meant for chat lines and be dropped, although it is healthy and
        catching up. Chat lines are bounded by the senders' rate limit; announcements are
        bounded by how many people come and go, so they get a bound of their own,
        ``announcement_queue`` (with the defaults, 16 times the chat bound: a storm of 4096
        joins). A client that never reads is still dropped, as soon as chat lines pile up.

        Why not coalesce them (keep only the latest count while a client is behind): every
        announcement names a person, and the kit's page, ChatWidget and core lesson 04's exercise
        keep the list of who is online from them, so a dropped one would leave a name missing
        or a ghost. Each waiting announcement costs a pointer, as chat lines do: the message is
        one object, shared by every outbox.
        """
        logger.debug("Announcing: %s", message)
        await self._queue_for_all(_Announcement(message), skip)

    async def _queue_for_all(self, message: str, skip: Collection[WebSocket]) -> None:
        frame = _text_frame(message)  # encoded once, for everyone
        skipped = {id(ws) for ws in skip}  # by identity: a WebSocket is a Mapping
        full = [outbox.websocket for outbox in list(self._outboxes.values())
                if id(outbox.websocket) not in skipped
                and not outbox.deliver(message, frame)]
        for websocket in full:
            await self._evict(websocket)

    async def close(self, websocket: WebSocket, code: int, reason: str,
                    notice: str | None = None) -> None:
        """Stop delivering to ``websocket`` and close it with ``code`` (in the background).

        ``notice``, if given, is sent just before the close frame: a message that says the same
        as the close code, for clients behind a proxy that passes the close on without its code.

        The close frame waits behind whatever the transport still holds, so for a client that
        is not reading it may never leave; uvicorn's keepalive then ends the TCP connection
        (ping timeout). Either way this returns at once and nothing else waits for it.
        """
        self.disconnect(websocket)
        task = asyncio.get_running_loop().create_task(
            self._send_close(websocket, code, reason, notice))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def drop(self, websocket: WebSocket, code: int, reason: str, why: str) -> None:
        """Close a connection the manager gives up on, and tell ``on_drop`` why."""
        if websocket not in self._outboxes:
            return
        await self.close(websocket, code, reason)
        if self.on_drop is not None:
            await self.on_drop(websocket, why)

    async def _evict(self, websocket: WebSocket) -> None:
        outbox = self._outboxes.get(websocket)
        if outbox is None:
            return
        logger.warning("%s stopped reading: %d messages and %d announcements waiting; "
                       "disconnecting it (%d)", websocket.url.path, outbox.lines,
                       outbox.announcements, KitCloseCode.TOO_SLOW)
        await self.drop(websocket, KitCloseCode.TOO_SLOW, "too slow: stopped reading messages",
                        "too slow to keep up")

    @staticmethod
    async def _send_close(websocket: WebSocket, code: int, reason: str,
                          notice: str | None) -> None:
        try:
            if notice is not None:
                await websocket.send_text(notice)
            await websocket.close(code=code, reason=reason)
        except Exception as exc:  # already closed or gone: nothing left to tell it
            logger.debug("Close not sent (%s)", type(exc).__name__)


def _text_frame(message: str) -> bytes | None:
    """``message`` as one unmasked, unfragmented text frame: what a server sends."""
    try:
        return encode_frame(Opcode.TEXT, message.encode("utf-8"))
    except UnicodeEncodeError:  # half a surrogate pair: no text frame can carry it
        return None
