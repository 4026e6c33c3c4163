"""The kit's WebSocket protocol for uvicorn: the one module that relies on uvicorn's private parts.

:class:`WebSocketProtocol` subclasses uvicorn's ``WebSocketsSansIOProtocol`` and reads or
replaces attributes that uvicorn does not document (:data:`RELIED_ON` lists them all). They buy
what ``python -m wslab.bench.uvicorn_internals`` measures: a broadcast encoded once and written
straight to every transport (the :data:`WRITE_FRAME` scope extension), and less memory per
idle connection. uvicorn may change them in any release, so ``tests/test_uvicorn_protocol.py``
checks each one against the installed uvicorn and fails naming the one that changed; the
fallback is uvicorn's own protocol (``uvicorn_config(app, ws="websockets-sansio")``), with
which the kit works unchanged, only slower and bigger.

``wslab.serving`` configures uvicorn with this class; ``wslab.manager`` uses the extension
when a connection offers it. Neither of them imports the other.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

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
    "methods": ("handle_connect", "start_keepalive", "keepalive_timeout"),
    #: Set by ``handle_connect``: the parsed request and the 101 response, let go of here.
    "handshake": ("request", "response", "scope"),
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
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Writable()  # type: ignore[assignment]

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
