"""The kit's WebSocket protocol for uvicorn: the one module that relies on uvicorn's private parts.

:class:`WebSocketProtocol` subclasses uvicorn's ``WebSocketsSansIOProtocol`` and reads or
replaces attributes that uvicorn does not document (:data:`RELIED_ON` lists them all). They buy
what ``python -m wslab.bench.uvicorn_internals`` measures: a broadcast encoded once and written
straight to every transport (the :data:`WRITE_FRAME` scope extension), and less memory per
idle connection. uvicorn may change them in any release, so ``tests/test_uvicorn_protocol.py``
checks each one against the installed uvicorn and fails naming the one that changed; the
fallback is uvicorn's own protocol (``uvicorn_config(app, ws="websockets-sansio")``), with
which the kit works unchanged, only slower and bigger.

It also bounds what one connection may cost below the app (the limits are
``wslab.transport_limits``): a connection is cut off soon after the server's close frame,
pongs a client does not read are not piled up, and fragments and frames per second are
bounded.

``wslab.serving`` configures uvicorn with this class; ``wslab.manager`` uses the extension
when a connection offers it. Neither of them imports the other.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.protocol import State

from wslab.connection_table import peer_name, table_for
from wslab.protocol import CloseCode
from wslab.ratelimit import TokenBucket
from wslab.transport_limits import CLOSE_CUTOFF, MAX_FRAGMENTS, FrameLimit

logger = logging.getLogger(__name__)

#: The first byte of a pong the server sends: FIN and opcode 0xA (server frames are unmasked,
#: so the byte is the same for every pong).
_PONG_START = bytes((0x80 | Opcode.PONG.value,))

#: The ASGI scope extension through which the server offers to write a ready-made frame:
#: ``scope["extensions"][WRITE_FRAME](frame: bytes) -> bool``, True if it took the frame (the
#: connection is open and its buffer has room), False if it did not and the message must be
#: sent the usual way. :class:`WebSocketProtocol` offers it; ``wslab.manager`` uses it.
WRITE_FRAME = "wslab.write_frame"

#: What :class:`WebSocketProtocol` relies on in uvicorn's ``WebSocketsSansIOProtocol``, by
#: kind: attributes an instance has once constructed (with their types), methods it overrides
#: and calls, and the only calls uvicorn makes on the queue and the event it replaces.
RELIED_ON: dict[str, Any] = {
    "attributes": {"close_sent": bool, "disconnected": bool, "handshake_complete": bool,
                   "initial_response": type(None), "queue": asyncio.Queue,
                   "writable": asyncio.Event},
    "methods": ("handle_connect", "start_keepalive", "keepalive_timeout", "handle_events",
                "handle_ping", "handle_cont", "handle_text", "handle_bytes", "handle_pong",
                "handle_close", "data_received", "connection_lost", "resume_writing", "send",
                "run_asgi"),
    #: Set by ``handle_connect``: the parsed request and the 101 response, let go of here.
    "handshake": ("request", "response", "scope"),
    #: Per-connection state read or set here: the fragments of the message being received,
    #: the peer's address, the timer that closes after the server's close, whether reading
    #: is paused.
    "state": ("frames", "client", "close_timer", "read_paused"),
    "queue_calls": frozenset({"put_nowait", "get", "empty"}),
    "writable_calls": frozenset({"is_set", "set", "clear", "wait"}),
}


def _new_waiter(waiters: list[asyncio.Future[None]] | None,
                ) -> tuple[list[asyncio.Future[None]], asyncio.Future[None]]:
    """A new future, appended to ``waiters`` (a list made now if there was none yet)."""
    waiter = asyncio.get_running_loop().create_future()
    if waiters is None:
        return [waiter], waiter
    waiters.append(waiter)
    return waiters, waiter


class _Inbox:
    """The events waiting for the app's ``receive()``: what uvicorn keeps in an ``asyncio.Queue``.

    An ``asyncio.Queue`` holds three deques (its items, the getters and the putters waiting),
    and an empty deque already takes a block of 64 slots: about 3 KiB per connection, for a
    queue that holds at most a few events (uvicorn stops reading a connection while an event
    waits). This keeps the same behaviour for the only calls uvicorn makes (``put_nowait``,
    ``get``, ``empty``) and allocates its lists only while something is in them.
    """

    __slots__ = ("_items", "_getters")

    def __init__(self) -> None:
        self._items: list[Any] | None = None
        self._getters: list[asyncio.Future[None]] | None = None

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = [item]
        else:
            self._items.append(item)
        self._wake_one()

    async def get(self) -> Any:
        while not self._items:
            self._getters, getter = _new_waiter(self._getters)
            try:
                await getter
            except BaseException:  # cancelled: let the next getter have what arrived meanwhile
                getter.cancel()
                if self._getters and getter in self._getters:
                    self._getters.remove(getter)
                if self._items and not getter.cancelled():
                    self._wake_one()
                raise
        items = self._items
        item = items.pop(0)
        if not items:
            self._items = None
        return item

    def _wake_one(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                break
        if not getters:
            self._getters = None


class _Writable:
    """Whether the transport takes more data: uvicorn's ``asyncio.Event``, minus its deque.

    Sends wait on it only while the client is not reading fast enough (the transport's buffer
    is above its high-water mark), so the list of waiters exists only then.
    """

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        self._value = True
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        self._waiters, waiter = _new_waiter(self._waiters)
        try:
            await waiter
            return True
        finally:
            self._waiters.remove(waiter)
            if not self._waiters:
                self._waiters = None


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket implementation, dropping a peer that misses its pong at once, and
    keeping less per idle connection.

    When a keepalive ping goes unanswered, uvicorn sends a close frame and calls
    ``transport.close()``, which first waits for the peer to read everything still buffered.
    A peer that has stopped reading (the very case keepalive exists to catch) never does, so
    the connection, its buffers and its handler would stay until the server stops. Aborting the
    transport ends it now; the app then sees the disconnect as usual.

    Memory: a chat connection is idle nearly all of its life, so what it holds while idle is
    what a classroom costs. uvicorn keeps, for the connection's whole life, the parsed
    handshake request and the 101 response (both with their headers: about 5 KiB, although the
    app reads the headers from its ``scope``), an ``asyncio.Queue`` for ``receive()`` and an
    ``asyncio.Event`` for flow control (about 4 KiB of mostly empty deques). This class lets go
    of the handshake once the response is written and uses :class:`_Inbox` and
    :class:`_Writable` instead: the same behaviour, about 8 KiB less per connection.

    Sending: it offers the app :meth:`write_frame` (the ASGI scope extension
    :data:`WRITE_FRAME`), so that ``wslab.manager`` can encode a broadcast once and
    hand the same frame to every connection, instead of going through Starlette's and
    uvicorn's ``send()`` once per client.

    Bounded cost (the numbers are ``wslab.transport_limits``'): once the server has sent its
    close frame, the connection is aborted :data:`~wslab.transport_limits.CLOSE_CUTOFF`
    seconds later if it is still there, and pings after it go unanswered; pongs a client does
    not read are not piled up (:meth:`handle_ping`); a message in more than
    :data:`~wslab.transport_limits.MAX_FRAGMENTS` fragments is closed with 1009; every frame
    counts against ``frame_limit`` (given by ``wslab.serving``), past which the connection is
    closed with 1008. The app sees each of these closes as the client leaving.
    """

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None,
                 frame_limit: FrameLimit | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Writable()  # type: ignore[assignment]
        self._table = table_for(server_state)
        self._frames_allowed = (TokenBucket(frame_limit.rate, frame_limit.burst)
                                if frame_limit is not None else None)
        self._owed_pong: bytes | None = None
        self._cutoff: asyncio.TimerHandle | None = None
        self._cut_by_protocol = False

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # The scope now holds copies of everything the app may read about the request (path,
        # query, headers). websockets' parser keeps the request object itself for the life of
        # the connection (a local variable of its suspended generator), so empty its headers.
        self.request = None
        event.headers.clear()
        scope = getattr(self, "scope", None)  # none when the handshake was refused
        if scope is not None:
            scope["extensions"][WRITE_FRAME] = self.write_frame

    def write_frame(self, frame: bytes) -> bool:
        """Write one complete, already-encoded server frame now, if the connection can take it.

        True when it was handed to the transport: the handshake is done, no close frame has
        been sent or received, the peer is still there, no extension (compression) was agreed,
        and the transport's buffer is below its high-water mark. Otherwise False, and nothing
        was written: the caller sends the message with ``send()``, which waits while the
        buffer is full and raises if the connection is gone. uvicorn writes each of its own
        frames to the transport in one piece, so a frame written here never lands inside one.
        """
        if (self.close_sent or self.disconnected or not self.handshake_complete
                or self.initial_response is not None or not self.writable.is_set()
                or self.conn.state is not State.OPEN or self.conn.extensions
                or self.transport.is_closing()):
            return False
        self.transport.write(frame)
        return True

    def start_keepalive(self) -> None:
        # uvicorn calls this once, right after it has written the 101 response.
        self.response = None
        super().start_keepalive()

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self.transport.abort()

    # -- bounded cost per connection ------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._cut_off_if_closing()

    async def send(self, message: Any) -> None:
        if self._cut_by_protocol:
            # The protocol closed this connection under the app (a flood, say): the close is
            # already sent, and for the app the client is gone, as if the network dropped it.
            if message["type"] == "websocket.close":
                return
            raise ClientDisconnected()
        await super().send(message)
        self._cut_off_if_closing()

    async def run_asgi(self) -> None:
        await super().run_asgi()
        self._cut_off_if_closing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._cutoff is not None:
            self._cutoff.cancel()
            self._cutoff = None
        self._owed_pong = None
        self._table.left(self.transport)
        super().connection_lost(exc)

    def _cut_off_if_closing(self) -> None:
        """Once the server has sent its close (or is closing the transport), abort the
        transport :data:`~wslab.transport_limits.CLOSE_CUTOFF` seconds later if it is still
        there: ``transport.close()`` waits for a peer to read what is buffered, and a peer
        that never reads (or keeps sending pings) would otherwise be held for good."""
        if self._cutoff is None and not self.disconnected and (
                self.close_sent or self.transport.is_closing()):
            self._cutoff = self.loop.call_later(CLOSE_CUTOFF, self._abort_after_close)

    def _abort_after_close(self) -> None:
        self._cutoff = None
        logger.warning("Cut off %s: still connected %g s after the server closed it",
                       peer_name(self.client), CLOSE_CUTOFF)
        self.transport.abort()

    def handle_events(self) -> None:
        """uvicorn's dispatch of what the client sent, counting every frame (pings, pongs and
        empty frames included) against the connection's frame limit: past it, the connection
        is closed (1008) and the rest of what arrived is dropped. After the server's close,
        only the peer's close is heard."""
        for event in self.conn.events_received():
            if isinstance(event, Request):
                self.handle_connect(event)
            elif not self.close_sent and self._over_frame_limit():
                return
            elif event.opcode is Opcode.PING:
                self.handle_ping()
            elif not self.close_sent:
                self._dispatch(event)
            elif event.opcode is Opcode.CLOSE:
                self.handle_close(event)

    def _over_frame_limit(self) -> bool:
        """Take one frame from the connection's allowance; past it, close the connection."""
        limit = self._frames_allowed
        if limit is None or limit.allow():
            return False
        self.conn.data_to_send()  # the pongs websockets queued for this batch: never sent
        self._refuse(CloseCode.POLICY_VIOLATION,
                     f"more than {limit.rate:g} frames a second ({limit.burst:g} at once)")
        logger.warning("Closed %s: more than %g frames a second", peer_name(self.client),
                       limit.rate)
        return True

    def _dispatch(self, event: Any) -> None:
        opcode = event.opcode
        if opcode is Opcode.CONT:
            self.handle_cont(event)
        elif opcode is Opcode.TEXT:
            self.handle_text(event)
        elif opcode is Opcode.BINARY:
            self.handle_bytes(event)
        elif opcode is Opcode.PONG:
            self.handle_pong(event)
        else:
            self.handle_close(event)

    def handle_ping(self) -> None:
        """Answer only the latest of the pings read at once, and none the client cannot take.

        RFC 6455 (5.5.3) lets an endpoint answer only the most recent ping. While the
        transport's buffer is above its high-water mark (the client is not reading), the pong
        waits, one at most, and is sent when the buffer drains: a client flooding pings without
        reading the pongs costs nothing more. After the server's close, no pong is sent.
        """
        output = self.conn.data_to_send()
        pongs = [chunk for chunk in output if chunk[:1] == _PONG_START]
        rest = [chunk for chunk in output if chunk[:1] != _PONG_START]
        if pongs and not self.close_sent:
            if self.writable.is_set():
                rest.insert(0, pongs[-1])
            else:
                self._owed_pong = pongs[-1]
        if rest:
            self.transport.write(b"".join(rest))

    def resume_writing(self) -> None:
        super().resume_writing()
        pong, self._owed_pong = self._owed_pong, None
        if pong is not None and not self.close_sent and self.conn.state is State.OPEN:
            self.transport.write(pong)

    def handle_cont(self, event: Any) -> None:
        if len(self.frames) >= MAX_FRAGMENTS:
            self._refuse(CloseCode.MESSAGE_TOO_BIG,
                         f"a message in more than {MAX_FRAGMENTS} fragments")
            logger.warning("Closed %s: a message in more than %d fragments",
                           peer_name(self.client), MAX_FRAGMENTS)
            return
        super().handle_cont(event)

    def _refuse(self, code: int, reason: str) -> None:
        """Close the connection from here, below the app: a close frame with ``code`` and
        ``reason``, and the app told the client is gone.

        The server then ends its side of the TCP connection, but goes on reading (and
        throwing away) what the client still sends until it goes or is cut off
        (:data:`~wslab.transport_limits.CLOSE_CUTOFF`): closing a socket with unread data in
        it resets the connection, and the reset could overtake the close frame.
        """
        self.conn.fail(code, reason)  # from here on, websockets discards what arrives
        self.transport.write(b"".join(self.conn.data_to_send()))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.close_sent = True
        self._cut_by_protocol = True
        self.frames = []
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self._cut_off_if_closing()
        # uvicorn closes the transport when the app returns, unless a close timer runs: the
        # cut-off is this connection's (the peer's close, or its leaving, ends it sooner).
        self.close_timer = self._cutoff
