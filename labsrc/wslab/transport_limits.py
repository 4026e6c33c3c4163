"""What one connection may cost the server, below the app: the transport's limits, in one place.

The chat app limits what a person may *say* (line size, messages per second, unread messages).
These limits hold below it, in the protocol classes uvicorn runs (``wslab.uvicorn_protocol``
for WebSocket connections, ``wslab.http_protocol`` for request heads), so they hold in every
mode the kit runs in, and for connections the app has refused or never saw. Each one bounds a
cost a hostile student could otherwise make grow without end: memory, file descriptors, or
the delay everyone else's lines see.
"""

from __future__ import annotations

import dataclasses

from wslab.settings import ChatSettings

try:
    import resource
except ImportError:  # Windows: no file-descriptor limit of this kind
    resource = None  # type: ignore[assignment]

#: Seconds a connection has, once the server has sent its close frame, before its transport is
#: aborted, whatever the peer sends or fails to read. A client that is still there answers a
#: close within a round trip; without this, one that keeps sending pings and never reads would
#: be held (with everything the server tried to write to it) until it left by itself.
CLOSE_CUTOFF = 2.0

#: Frames one message may arrive in. Browsers and the kit's clients send each message in one
#: frame; a client that fragments has no need for more than a few. Bounding the count matters
#: even though the total size is already bounded (``ws_max_size``): empty continuation frames
#: add nothing to the size but one entry each to the list the message is gathered in.
MAX_FRAGMENTS = 64

#: Frames per second a connection may send on average (every kind of frame counts: text,
#: continuation, ping, pong, close) when the app has a rate limit. Ten times the default rate
#: limit of chat lines: a student testing the rate limit with a script gets "rate_limited"
#: replies, not a cut connection, and only a flood goes beyond this.
MIN_FRAME_RATE = 100.0
#: How many times the app's rate limit the frame rate is, when that limit is set higher.
FRAME_RATE_PER_MESSAGE_RATE = 10.0
#: Seconds of frames at that rate a connection may send at once before it is closed (1008):
#: a burst of two hundred frames costs the others little; tens of thousands of
#: one-byte frames would cost them seconds.
FRAME_BURST_SECONDS = 2.0

#: Seconds a client has to send the whole head of its request (the handshake of a WebSocket)
#: after connecting. A browser sends it in its first packet; a connection that has not after
#: this long is holding a file descriptor for nothing, and is closed without an answer.
HEAD_TIMEOUT = 5.0
#: The longest request line (method, address, version) answered with anything but 414: the
#: same as ``websockets``' own limit on one line of a handshake. A join address with a token
#: and a name is under 200 bytes.
MAX_REQUEST_LINE = 8192
#: The longest request head answered with anything but 431: h11's own default, which leaves
#: room for the cookies a browser sends to ``localhost`` from other local apps (JupyterLab's).
MAX_HEAD_BYTES = 16384

#: File descriptors kept out of the connection table for everything else the server opens:
#: its listening sockets, the event loop's own, log files, the Redis broker's connections.
RESERVED_DESCRIPTORS = 32
#: Connections whose request head is not yet complete, per client address. A class behind one
#: NAT address joins all at once, so this must exceed a class of 200 opening at the same
#: moment: every one of them is "incomplete" for the millisecond before its head arrives.
MAX_INCOMPLETE_PER_ADDRESS = 256
#: Connections per client address (WebSocket and plain HTTP alike, once their head is read):
#: a class of 200 behind one NAT address, each with the page and a notebook widget open, is
#: 400, and elective E7 measures 500 clients of a loopback server; beyond 1,024 it is one
#: machine hoarding the server's descriptors.
MAX_OPEN_PER_ADDRESS = 1024
#: The connection table's size where the system sets no file limit (Windows, or unlimited).
UNLIMITED_CONNECTIONS = 16384


@dataclasses.dataclass(frozen=True)
class FrameLimit:
    """How many frames a connection may send: ``rate`` a second, ``burst`` at once."""

    rate: float
    burst: float


def frame_limit_for(settings: ChatSettings) -> FrameLimit | None:
    """The frame limit for an app with ``settings``: none when its rate limit is off.

    A server run with ``rate_limit=0`` (the benchmarks, a lesson measuring throughput) trusts
    its clients to send as fast as they can, so it bounds no frames either.
    """
    if settings.rate_limit == 0:
        return None
    rate = max(MIN_FRAME_RATE, FRAME_RATE_PER_MESSAGE_RATE * settings.rate_limit)
    return FrameLimit(rate=rate, burst=rate * FRAME_BURST_SECONDS)


def max_connections() -> int:
    """How many connections this process can hold at once: its file limit, less a reserve.

    Read from the soft ``RLIMIT_NOFILE`` when the server starts (256 on a macOS laptop by
    default, 1024 or more on Linux). Past it, ``accept()`` fails and nobody can join, so the
    connection table makes room before it is reached (see ``wslab.connection_table``).
    """
    if resource is None:
        return UNLIMITED_CONNECTIONS
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return UNLIMITED_CONNECTIONS
    return max(RESERVED_DESCRIPTORS, soft - RESERVED_DESCRIPTORS)
