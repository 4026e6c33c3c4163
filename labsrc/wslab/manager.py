"""A ConnectionManager with the lecture's API that one bad peer cannot break.

The lecture's manager (``wslab.lecture``) sends to each client in turn, inside the handler of
whoever spoke. One client that stops reading then stalls everyone, and one that vanished makes
the *sender's* handler fail. This one keeps the same names (``active_connections``,
``connection_count``, ``connect``, ``disconnect``, ``broadcast``) and changes how sending works:

- every connection has its own bounded outbox (a deque) and, while the outbox is not empty, its
  own writer task. ``broadcast`` only appends to outboxes, so it never waits for any client;
- a writer whose send fails drops its own connection (closing it with 1011, in case the
  socket is still open), and nobody else notices;
- a client whose outbox is full is not reading: it alone is dropped, with close code 4408 and a
  log line;
- either way ``on_drop`` tells the chat, so it can announce the departure;
- ``disconnect`` may be called any number of times, and ``connection_count`` is derived from
  the registry, so it always equals the number of live connections.

Writer tasks exist only while there is something to send, so an idle connection costs no task.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Awaitable, Callable, Optional

from starlette.websockets import WebSocket

from wslab.envelope import CLOSE_INTERNAL_ERROR, CLOSE_TOO_SLOW
from wslab.settings import DEFAULT_OUTBOUND_QUEUE

logger = logging.getLogger("wslab.manager")

#: Called with a connection the manager dropped on its own, and why, in words for the others.
DropCallback = Callable[[WebSocket, str], Awaitable[None]]


class _Outbox:
    """Messages waiting for one connection, and the task that writes them out in order."""

    __slots__ = ("websocket", "pending", "writer", "manager")

    def __init__(self, websocket: WebSocket, manager: ConnectionManager) -> None:
        self.websocket = websocket
        # Made when a message waits and dropped when the writer has sent it: an empty deque
        # still holds a block of 64 slots, and most connections are idle most of the time.
        self.pending: collections.deque[str] | None = None
        self.writer: Optional[asyncio.Task[None]] = None
        self.manager = manager

    def put(self, message: str, limit: int) -> bool:
        """Queue ``message``; False when ``limit`` messages are already waiting."""
        if self.pending is None:
            self.pending = collections.deque()
        elif len(self.pending) >= limit:
            return False
        self.pending.append(message)
        if self.writer is None:
            self.writer = asyncio.get_running_loop().create_task(self._write())
        return True

    async def _write(self) -> None:
        try:
            while self.pending:
                await self.websocket.send_text(self.pending.popleft())
            self.pending = None
        except Exception as exc:  # the peer is gone, or this message cannot be sent at all
            self.writer = None
            logger.info("%s: send failed (%s: %s); dropping the connection",
                        self.websocket.url.path, type(exc).__name__, exc)
            await self.manager.drop(self.websocket, CLOSE_INTERNAL_ERROR,
                                    "the server could not send to you", "connection lost")
        else:
            self.writer = None

    def discard(self) -> None:
        """Forget what is waiting and stop the writer: the connection is leaving."""
        self.pending = None
        if self.writer is not None and self.writer is not asyncio.current_task():
            self.writer.cancel()
        self.writer = None


class ConnectionManager:
    """Tracks open WebSockets and delivers messages to them without letting one hold up another.

    ``outbound_queue`` is how many messages may wait for one client before it counts as not
    reading. The messages themselves are shared between outboxes (a broadcast queues the same
    string object everywhere), so the bound costs a pointer per waiting message, not a copy.
    """

    def __init__(self, *, outbound_queue: int = DEFAULT_OUTBOUND_QUEUE,
                 on_drop: DropCallback | None = None) -> None:
        self.outbound_queue = outbound_queue
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

    async def send_personal_message(self, message: str, websocket: WebSocket) -> None:
        """Queue ``message`` for one connection, behind whatever it is already waiting for."""
        outbox = self._outboxes.get(websocket)
        if outbox is not None and not outbox.put(message, self.outbound_queue):
            await self._evict(websocket)

    async def broadcast(self, message: str) -> None:
        """Queue ``message`` for every connection. Returns without waiting for any of them."""
        logger.debug("Broadcasting message: %s", message)
        limit = self.outbound_queue
        full = [outbox.websocket for outbox in list(self._outboxes.values())
                if not outbox.put(message, limit)]
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
        logger.warning("%s stopped reading: %d messages waiting; disconnecting it (%d)",
                       websocket.url.path, self.outbound_queue, CLOSE_TOO_SLOW)
        await self.drop(websocket, CLOSE_TOO_SLOW, "too slow: stopped reading messages",
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
