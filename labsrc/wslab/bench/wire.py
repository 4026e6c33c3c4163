"""The client side of RFC 6455 for a load generator that costs next to nothing.

A benchmark of a server is only as good as its clients are cheap: if the receivers spend more
CPU per message than the server does, the numbers describe the receivers. ``websockets`` or
``aiohttp`` clients do a lot per frame that a receiver here does not need (UTF-8 checks, queues,
futures, a task per connection). So the benchmark speaks the protocol by hand, with the kit's
own pure functions (``wslab.protocol``, elective E1) for the handshake and the frame layout.

Two things ``wslab.protocol`` does the readable way are done the fast way here, because they
run once per message: masking a client frame's payload (one big-integer XOR instead of a loop
over bytes) and cutting a stream of server frames into messages (:class:`FrameReader`, which
also inflates what the server compressed: ``wslab.protocol`` leaves extensions out).
"""

from __future__ import annotations

import os
import zlib
from typing import Iterator

from wslab import protocol

#: What a browser offers: permessage-deflate, and it accepts any window the server picks.
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"

#: A compressed message is a raw DEFLATE stream cut after a sync flush, minus this tail
#: (RFC 7692, section 7.2.2): the receiver puts it back before inflating.
_DEFLATE_TAIL = b"\x00\x00\xff\xff"

#: The opcodes as plain integers: what :class:`FrameReader` yields and the receivers compare.
OP_CONTINUATION, OP_TEXT, OP_BINARY = (int(protocol.Opcode.CONTINUATION),
                                       int(protocol.Opcode.TEXT), int(protocol.Opcode.BINARY))
OP_CLOSE, OP_PING, OP_PONG = (int(protocol.Opcode.CLOSE), int(protocol.Opcode.PING),
                              int(protocol.Opcode.PONG))


class HandshakeError(Exception):
    """The server did not switch protocols (or switched them wrongly)."""


def handshake_request(host: str, port: int, path: str, *, deflate: bool) -> tuple[bytes, str]:
    """The opening handshake a browser would send, and its key (to check the answer with)."""
    key = protocol.new_key()
    headers = [("Origin", f"http://{host}:{port}")]
    if deflate:
        headers.append(("Sec-WebSocket-Extensions", DEFLATE_OFFER))
    return protocol.handshake_request(f"{host}:{port}", path, key, headers=tuple(headers)), key


def parse_handshake_response(head: bytes, key: str) -> bool:
    """Check the server's answer to the handshake with ``key``; return whether it accepted
    permessage-deflate. Raises :class:`HandshakeError` when it did not open a WebSocket."""
    try:
        response = protocol.parse_handshake_response(head)
    except protocol.ProtocolError as exc:
        raise HandshakeError(str(exc)) from None
    problem = protocol.handshake_problem(response, key)
    if problem is not None:
        raise HandshakeError(problem)
    return "permessage-deflate" in response.headers.get("sec-websocket-extensions", "")


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One client-to-server frame: FIN set, masked with a fresh key as RFC 6455 requires.

    ``protocol.encode_frame`` lays the frame out; the payload is masked here, in one XOR of
    two big integers (C speed), since ``protocol.apply_mask`` goes byte by byte, which is
    clear in elective E1 and twenty times slower for a 1 KiB line.
    """
    mask = os.urandom(4)
    length = len(payload)
    key = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")
    # A server's frame of the masked payload: header, then payload. A client's frame is the
    # same with the MASK bit set in byte 1 and the key between header and payload.
    layout = protocol.encode_frame(opcode, masked)
    head = len(layout) - length
    return bytes((layout[0], layout[1] | 0x80)) + layout[2:head] + mask + masked


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
