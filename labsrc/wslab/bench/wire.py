"""Just enough of RFC 6455, client side, for a load generator that costs next to nothing.

A benchmark of a server is only as good as its clients are cheap: if the receivers spend more
CPU per message than the server does, the numbers describe the receivers. ``websockets`` or
``aiohttp`` clients do a lot per frame that a receiver here does not need (UTF-8 checks, queues,
futures, a task per connection). So the benchmark speaks the protocol by hand, the way lesson 01
does: the opening handshake is a few header lines, a server frame is a two-byte header (plus an
extended length) and the payload, and a client frame is the same with a 4-byte mask.

Everything here is a pure function on bytes, except :class:`FrameReader`, which keeps the bytes
of a frame that arrived in two pieces and, when the server agreed to permessage-deflate, the
inflater of its connection.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from typing import Iterator

#: RFC 6455, section 1.3: the server proves it read the key by hashing it with this GUID.
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: What a browser offers: permessage-deflate, and it accepts any window the server picks.
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"

#: A compressed message is a raw DEFLATE stream cut after a sync flush, minus this tail
#: (RFC 7692, section 7.2.2): the receiver puts it back before inflating.
_DEFLATE_TAIL = b"\x00\x00\xff\xff"

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


class HandshakeError(Exception):
    """The server did not switch protocols (or switched them wrongly)."""


def handshake_request(host: str, port: int, path: str, *, deflate: bool) -> tuple[bytes, bytes]:
    """The opening handshake a browser would send, and the accept value the server must return."""
    key = base64.b64encode(os.urandom(16))
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode()}",
        "Sec-WebSocket-Version: 13",
        f"Origin: http://{host}:{port}",
    ]
    if deflate:
        lines.append(f"Sec-WebSocket-Extensions: {DEFLATE_OFFER}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    return request, accept


def parse_handshake_response(head: bytes, accept: bytes) -> bool:
    """Check the server's ``101`` response; return whether it accepted permessage-deflate."""
    lines = head.split(b"\r\n")
    status = lines[0].split(b" ", 2)
    if len(status) < 2 or status[1] != b"101":
        raise HandshakeError(lines[0].decode("latin-1", "replace"))
    deflate = False
    accepted = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"sec-websocket-accept":
            accepted = value.strip()
        elif name == b"sec-websocket-extensions" and b"permessage-deflate" in value:
            deflate = True
    if accepted != accept:
        raise HandshakeError("wrong Sec-WebSocket-Accept")
    return deflate


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One client-to-server frame: FIN set, masked as RFC 6455 requires of clients."""
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    mask = os.urandom(4)
    if not payload:
        return header + mask
    # XOR the whole payload with the repeated key in one big-integer operation (C speed).
    key = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")
    return header + mask + masked


class FrameReader:
    """Cuts a server's byte stream into messages.

    Server frames are never masked. Control frames (close, ping, pong) are returned as they
    come, with their opcode; data frames are joined into messages and, when the message was
    compressed (RSV1 on its first frame), inflated with this connection's inflater, which must
    see every compressed message in order because the server keeps its compression context.
    """

    __slots__ = ("buffer", "inflater", "fragments", "fragment_compressed")

    def __init__(self, deflate: bool) -> None:
        self.buffer = b""
        # Negative wbits: a raw DEFLATE stream (no zlib header); 15 fits every window a server
        # may choose (8 to 15 bits).
        self.inflater = zlib.decompressobj(-15) if deflate else None
        self.fragments: list[bytes] = []
        self.fragment_compressed = False

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """Yield ``(opcode, payload)`` for every complete message or control frame in ``data``."""
        buf = self.buffer + data if self.buffer else data
        end = len(buf)
        pos = 0
        while end - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2:pos + 10], "big")
                start = pos + 10
            stop = start + length
            if stop > end:
                break
            payload = buf[start:stop]
            pos = stop
            opcode = b0 & 0x0F
            if opcode >= OP_CLOSE:
                yield opcode, payload
                continue
            if opcode != OP_CONTINUATION:
                self.fragment_compressed = bool(b0 & 0x40)
            if not b0 & 0x80:  # more fragments follow
                self.fragments.append(payload)
                continue
            if self.fragments:
                self.fragments.append(payload)
                payload = b"".join(self.fragments)
                self.fragments = []
            if self.fragment_compressed and self.inflater is not None:
                payload = self.inflater.decompress(payload + _DEFLATE_TAIL)
            yield OP_TEXT, payload
        self.buffer = buf[pos:] if pos < end else b""
