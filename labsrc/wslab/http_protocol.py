"""The kit's HTTP protocol for uvicorn: request heads are timed, sized and counted.

Every connection starts here, WebSocket ones included: uvicorn reads the request head with
this protocol and hands the connection to ``wslab.uvicorn_protocol`` once it asks for an
upgrade. So this is where a connection that never finishes its head is caught, before anything
else has been spent on it. :class:`HttpProtocol` subclasses uvicorn's h11 protocol (the one
uvicorn picks when httptools is not installed; ``wslab.serving`` names it, so the limits hold
whichever is installed) and, until the first head is complete, keeps what arrives to itself:

- a head not complete within :data:`~wslab.transport_limits.HEAD_TIMEOUT` seconds is closed,
  without an answer (the client has not asked anything yet), and so is a later request's head
  on a kept-alive connection, timed from its first byte (an idle kept-alive connection is
  uvicorn's ``timeout_keep_alive``'s business);
- a request line longer than :data:`~wslab.transport_limits.MAX_REQUEST_LINE` is answered 414,
  a head longer than :data:`~wslab.transport_limits.MAX_HEAD_BYTES` 431, whatever pieces it
  arrives in (h11 alone checks only what it still has to buffer: a 20 KB upgrade head that
  arrived at once was upgraded);
- every connection is entered in the server's ``wslab.connection_table``, which may drop the
  oldest half-open ones to make room, and refuses a complete head past its caps with 429 or
  503 and a reason.

Besides the methods it overrides, it relies on uvicorn's ``server_state``, ``client`` and
``cycle.response_complete`` (:data:`RELIED_ON`; ``tests/test_handshake_limits.py`` checks them
against the installed uvicorn).
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from wslab.connection_table import peer_name, table_for
from wslab.transport_limits import CLOSE_CUTOFF, HEAD_TIMEOUT, MAX_HEAD_BYTES, MAX_REQUEST_LINE

logger = logging.getLogger(__name__)

#: What :class:`HttpProtocol` relies on in uvicorn's ``H11Protocol``: methods it overrides or
#: calls, and attributes it reads.
RELIED_ON = {"methods": ("connection_made", "connection_lost", "data_received", "eof_received",
                         "handle_websocket_upgrade"),
             "attributes": ("server_state", "client", "cycle", "transport", "loop")}

#: Where a request head ends: an empty line (h11 accepts a bare LF as a line end too).
_HEAD_END = re.compile(rb"\n\r?\n")


def plain_response(status: int, text: str) -> bytes:
    """A complete HTTP/1.1 response that closes the connection, with ``text`` as its body."""
    body = (text + "\n").encode()
    phrase = http.HTTPStatus(status).phrase
    return (f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


class HttpProtocol(H11Protocol):
    """uvicorn's h11 protocol, with the limits on request heads described in the module."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._table = table_for(self.server_state)
        #: The first head as it arrives, until it is complete (then None: h11 has it).
        self._head: bytearray | None = bytearray()
        self._head_timer: asyncio.TimerHandle | None = None
        #: Refused: what the client still sends is read and thrown away until it goes.
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else ""
        self._table.arrived(transport, address, self._drop)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        self._table.left(self.transport)
        super().connection_lost(exc)

    def eof_received(self) -> None:
        if self._refused:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._head is None:
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                self._stop_head_timer()  # a request is being served: its head is in
            elif self._head_timer is None and not self.transport.is_closing():
                self._start_head_timer()  # part of a later request's head: timed too
            return
        self._head += data
        end = _HEAD_END.search(self._head)
        line_end = self._head.find(b"\n")
        head_size = end.end() if end else len(self._head)
        if (line_end if line_end >= 0 else len(self._head)) > MAX_REQUEST_LINE:
            self._answer_and_close(414, f"the request line is longer than {MAX_REQUEST_LINE} "
                                        "bytes")
        elif head_size > MAX_HEAD_BYTES:
            self._answer_and_close(431, f"the request head is longer than {MAX_HEAD_BYTES} "
                                        "bytes")
        elif end is not None:
            self._stop_head_timer()
            refusal = self._table.head_read(self.transport)
            if refusal is not None:
                self._answer_and_close(*refusal)
                return
            head, self._head = bytes(self._head), None
            super().data_received(head)

    def handle_websocket_upgrade(self, event: Any) -> None:
        self._stop_head_timer()
        super().handle_websocket_upgrade(event)

    def _start_head_timer(self) -> None:
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_too_slow)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        logger.warning("Closed %s: no complete request head within %g s", peer_name(self.client),
                       HEAD_TIMEOUT)
        self._table.left(self.transport)
        self.transport.abort()

    def _drop(self) -> None:
        """Made room for a newer connection: this one had not sent its head."""
        self._stop_head_timer()
        logger.warning("Closed %s, a connection without a complete request head, to make room",
                       peer_name(self.client))
        self.transport.abort()

    def _answer_and_close(self, status: int, reason: str) -> None:
        """Answer ``status`` and end the connection, the answer first.

        Closing a socket with unread data in it resets the connection, and the reset can
        overtake the answer; so the server ends only its own side, reads and throws away
        whatever the client still sends, and closes when the client does, or aborts after
        :data:`~wslab.transport_limits.CLOSE_CUTOFF` seconds, whichever comes first.
        """
        self._stop_head_timer()
        self._table.left(self.transport)
        self._head = None
        self._refused = True
        logger.warning("Refused %s with %d: %s", peer_name(self.client), status, reason)
        self.transport.write(plain_response(status, reason))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.transport.close()
        self.loop.call_later(CLOSE_CUTOFF, self.transport.abort)
