"""The WebSocket protocol (RFC 6455) as pure functions on bytes: what elective E1 builds by hand.

Nothing here opens a socket or waits for anything. Each function takes bytes (or text) and
returns bytes (or text), the way the ``websockets`` library's sans-I/O core works, so every
piece can be tried in a notebook cell and tested without a network. The caller does the I/O:
it writes what :func:`handshake_request` and :func:`encode_frame` return, and hands what it
reads to :func:`split_http_head` and :func:`decode_frame`.

A WebSocket connection has two phases:

1. **The opening handshake**, in HTTP/1.1. The client sends a ``GET`` with ``Upgrade:
   websocket`` and a random ``Sec-WebSocket-Key``; the server answers ``101 Switching
   Protocols`` with ``Sec-WebSocket-Accept``, computed from the key by :func:`accept_key`.
2. **Frames**, in both directions, on the same TCP connection, until a close handshake. A frame
   is a 2-byte header, an extended length (0, 2 or 8 bytes), a masking key (4 bytes, in frames
   from the client only) and the payload. See :func:`encode_frame` and :func:`decode_frame`.

Not covered: extensions such as permessage-deflate (they use the RSV bits, which this module
reads but never sets), and reassembling a message sent in several fragments.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import hashlib
import os
import struct

__all__ = [
    "GUID", "MAX_CONTROL_PAYLOAD", "Opcode", "CloseCode", "ProtocolError", "Frame",
    "HandshakeResponse", "new_key", "accept_key", "handshake_request", "split_http_head",
    "parse_handshake_response", "handshake_problem", "apply_mask", "encode_frame",
    "decode_frame", "close_payload", "parse_close", "describe_frame",
]

#: RFC 6455, section 1.3: the fixed string a server appends to the client's key before hashing.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Control frames (close, ping, pong) carry at most this many payload bytes, and are never
#: fragmented: they must fit a 2-byte header, and may arrive in the middle of a long message.
MAX_CONTROL_PAYLOAD = 125


class Opcode(enum.IntEnum):
    """What a frame carries: the low 4 bits of its first byte."""

    CONTINUATION = 0x0  #: the next piece of a message whose first frame had FIN = 0
    TEXT = 0x1  #: a message (or its first piece) in UTF-8 text
    BINARY = 0x2  #: a message (or its first piece) of arbitrary bytes
    CLOSE = 0x8  #: "I am closing": payload = 2-byte close code + UTF-8 reason, or nothing
    PING = 0x9  #: "are you there?": the peer answers with a PONG carrying the same payload
    PONG = 0xA  #: the answer to a PING (or an unsolicited heartbeat)

    @property
    def is_control(self) -> bool:
        """Close, ping and pong are control frames: opcodes 0x8 and above."""
        return self >= 0x8


class CloseCode(enum.IntEnum):
    """The close codes RFC 6455 (section 7.4.1) and the IANA registry define.

    Applications may use 4000-4999 for their own (the kit uses 4408 and 4409, see
    ``wslab.close_codes``); 3000-3999 are for libraries and frameworks that register them.
    """

    NORMAL_CLOSURE = 1000  #: done, goodbye
    GOING_AWAY = 1001  #: a server shutting down, a browser leaving the page
    PROTOCOL_ERROR = 1002  #: the peer broke the protocol (an unmasked client frame, say)
    UNSUPPORTED_DATA = 1003  #: a kind of data this endpoint cannot take (binary, say)
    NO_STATUS_RECEIVED = 1005  #: reported when a close frame had no code; never sent
    ABNORMAL_CLOSURE = 1006  #: reported when TCP dropped without a close frame; never sent
    INVALID_PAYLOAD = 1007  #: a text message that is not valid UTF-8
    POLICY_VIOLATION = 1008  #: refused by a rule of the application (a bad token, say)
    MESSAGE_TOO_BIG = 1009  #: a message larger than the endpoint accepts
    MANDATORY_EXTENSION = 1010  #: the client needed an extension the server did not agree to
    INTERNAL_ERROR = 1011  #: the server hit an unexpected condition
    SERVICE_RESTART = 1012  #: the server is restarting (uvicorn sends it when it stops)
    TRY_AGAIN_LATER = 1013  #: the server is overloaded
    BAD_GATEWAY = 1014  #: a gateway got a bad answer from the server behind it
    TLS_HANDSHAKE = 1015  #: reported when TLS failed; never sent


#: Codes that only describe what happened locally and must never appear in a close frame.
_NEVER_SENT = {CloseCode.NO_STATUS_RECEIVED, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE}


class ProtocolError(ValueError):
    """Bytes (or arguments) that break a rule of RFC 6455. The message names the rule."""


@dataclasses.dataclass(frozen=True)
class Frame:
    """One WebSocket frame, as the application sees it: unmasked, without its length fields.

    ``fin`` is False on every piece of a fragmented message but the last. ``rsv1`` to ``rsv3``
    are reserved for extensions and are False unless one was agreed in the handshake. The MASK
    bit, the lengths and the masking key exist only on the wire: :func:`encode_frame` writes
    them and :func:`decode_frame` reads them.
    """

    opcode: Opcode
    payload: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False

    def __post_init__(self) -> None:
        try:
            opcode = Opcode(self.opcode)
        except ValueError:
            raise ProtocolError(f"opcode {self.opcode!r} is not defined by RFC 6455 "
                                f"(valid: 0x0-0x2 and 0x8-0xA)") from None
        object.__setattr__(self, "opcode", opcode)
        object.__setattr__(self, "payload", bytes(self.payload))

    def text(self) -> str:
        """The payload decoded as UTF-8 (what a TEXT frame carries)."""
        return self.payload.decode("utf-8")

    def __repr__(self) -> str:
        payload = self.payload
        shown = repr(payload) if len(payload) <= 40 else (
            f"{payload[:24]!r}...{payload[-6:]!r} ({len(payload)} bytes)")
        flags = [f"{name}=True" for name in ("rsv1", "rsv2", "rsv3") if getattr(self, name)]
        if not self.fin:
            flags.insert(0, "fin=False")
        return f"Frame(Opcode.{self.opcode.name}, {', '.join([shown, *flags])})"


# -- the opening handshake ----------------------------------------------------------------------


def new_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 random bytes, base64-encoded (24 characters).

    The one function here that is not pure: the key must be new for every connection.
    """
    return base64.b64encode(os.urandom(16)).decode("ascii")


def accept_key(client_key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value a server answers to ``client_key`` (RFC 6455, 4.2.2).

    The key is used exactly as the client sent it (its base64 text, not decoded): append
    :data:`GUID`, take the SHA-1 of those bytes, and base64-encode the 20-byte raw digest.
    A client checks the server's answer with this same function: a plain HTTP server, or a
    cache that replays an old response, cannot produce it.
    """
    digest = hashlib.sha1((client_key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def handshake_request(host: str, path: str, key: str, *,
                      headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """The bytes of a client's opening handshake: an HTTP/1.1 ``GET`` asking to switch protocols.

    ``host`` is the ``Host`` header (``"127.0.0.1:8000"``), ``path`` the resource with its
    query (``"/ws/alice?token=..."``), ``key`` a fresh :func:`new_key`. ``headers`` adds lines
    such as ``("Origin", "http://127.0.0.1:8000")``, which a browser always sends.
    """
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


@dataclasses.dataclass(frozen=True)
class HandshakeResponse:
    """A server's answer to the handshake: status line and headers (names in lower case)."""

    status: int
    reason: str
    headers: dict[str, str]


def split_http_head(data: bytes) -> tuple[bytes, bytes] | None:
    """Split what a client has read into (the HTTP head, the bytes after it).

    The head ends with the first empty line (``\\r\\n\\r\\n``), which the head keeps. What
    follows already belongs to the WebSocket: a server may send its first frame right behind
    its ``101`` response, and both can arrive in one read. Returns None while the empty line
    has not arrived yet: read more and try again.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    return data[: end + 4], data[end + 4:]


def parse_handshake_response(head: bytes) -> HandshakeResponse:
    """Read a server's HTTP response head (as :func:`split_http_head` returns it)."""
    try:
        text = head.decode("iso-8859-1")
        status_line, *header_lines = text.split("\r\n")
        version, status, *reason = status_line.split(" ", 2)
        if not version.startswith("HTTP/"):
            raise ValueError(version)
        code = int(status)
    except ValueError:
        raise ProtocolError(f"not an HTTP response: {head[:60]!r}") from None
    headers: dict[str, str] = {}
    for line in header_lines:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ProtocolError(f"malformed header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    return HandshakeResponse(code, reason[0] if reason else "", headers)


def handshake_problem(response: HandshakeResponse, client_key: str) -> str | None:
    """Say why ``response`` does not open a WebSocket for ``client_key``; None when it does."""
    if response.status != 101:
        return f"the server answered {response.status} {response.reason}, not 101"
    if response.headers.get("upgrade", "").lower() != "websocket":
        return "the response has no 'Upgrade: websocket' header"
    if "upgrade" not in response.headers.get("connection", "").lower():
        return "the response has no 'Connection: Upgrade' header"
    expected = accept_key(client_key)
    got = response.headers.get("sec-websocket-accept")
    if got != expected:
        return f"Sec-WebSocket-Accept is {got!r}, expected {expected!r}"
    return None


# -- frames -------------------------------------------------------------------------------------


def apply_mask(data: bytes, mask: bytes) -> bytes:
    """XOR each byte of ``data`` with the byte of the 4-byte ``mask`` at the same position mod 4.

    Masking and unmasking are the same operation: applying the mask twice gives ``data`` back.
    """
    if len(mask) != 4:
        raise ProtocolError(f"a masking key is 4 bytes, not {len(mask)}")
    return bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))


def encode_frame(opcode: int, payload: bytes, *, mask: bytes | None = None,
                 fin: bool = True) -> bytes:
    """The bytes of one frame carrying ``payload`` (RFC 6455, section 5.2).

    A client passes a fresh random 4-byte ``mask`` (``os.urandom(4)``) for every frame: a
    server must close the connection on an unmasked client frame. A server passes no mask: a
    client must close the connection on a masked server frame. ``fin=False`` marks a piece of
    a fragmented message that more pieces will follow.

    The layout: byte 0 is FIN (bit 7), RSV1-3 (bits 6-4, always 0 here) and the opcode (bits
    3-0). Byte 1 is MASK (bit 7) and a 7-bit length: the length itself up to 125, else 126
    followed by a 16-bit length, or 127 followed by a 64-bit length, both big-endian. Then the
    masking key, if any, then the payload, XORed with the key if there is one.

    Raises ``ValueError`` for an opcode RFC 6455 does not define, and :class:`ProtocolError`
    for a control frame that is fragmented or too long, or a mask that is not 4 bytes.
    """
    opcode = Opcode(opcode)
    length = len(payload)
    if opcode.is_control and (length > MAX_CONTROL_PAYLOAD or not fin):
        raise ProtocolError(f"a {opcode.name} frame must be unfragmented and carry at most "
                            f"{MAX_CONTROL_PAYLOAD} bytes")
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if mask is not None else 0
    if length <= 125:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask is None:
        return header + bytes(payload)
    return header + bytes(mask) + apply_mask(payload, mask)


def decode_frame(data: bytes) -> tuple[Frame, int] | None:
    """Read the frame at the start of ``data``: return ``(frame, bytes used)``, or None.

    None means ``data`` does not hold a whole frame yet: TCP delivers a stream of bytes, not
    frames, so one read can end in the middle of a frame (or hold several). Keep the bytes,
    read more, and call again. The bytes after ``bytes used`` belong to the next frame.

    A masked frame (one a client sent) is unmasked. Raises :class:`ProtocolError` for what no
    peer may send: an undefined opcode, a 64-bit length with its top bit set, or a control
    frame that is fragmented or longer than 125 bytes. The size of the payload is not limited
    here: a real endpoint refuses a declared length above its own limit (uvicorn closes with
    1009) before it reads that far.
    """
    if len(data) < 2:
        return None
    first, second = data[0], data[1]
    fin, rsv1, rsv2, rsv3 = (bool(first & bit) for bit in (0x80, 0x40, 0x20, 0x10))
    try:
        opcode = Opcode(first & 0x0F)
    except ValueError:
        raise ProtocolError(f"opcode 0x{first & 0x0F:X} is not defined by RFC 6455") from None
    masked = bool(second & 0x80)
    length = second & 0x7F
    offset = 2
    if length == 126:
        if len(data) < offset + 2:
            return None
        (length,) = struct.unpack_from("!H", data, offset)
        offset += 2
    elif length == 127:
        if len(data) < offset + 8:
            return None
        (length,) = struct.unpack_from("!Q", data, offset)
        if length >> 63:
            raise ProtocolError("the most significant bit of a 64-bit length must be 0")
        offset += 8
    if opcode.is_control and (length > MAX_CONTROL_PAYLOAD or not fin):
        raise ProtocolError(f"a {opcode.name} frame must be unfragmented and carry at most "
                            f"{MAX_CONTROL_PAYLOAD} bytes")
    mask = None
    if masked:
        if len(data) < offset + 4:
            return None
        mask = bytes(data[offset: offset + 4])
        offset += 4
    end = offset + length
    if len(data) < end:
        return None
    payload = bytes(data[offset:end])
    if mask is not None:
        payload = apply_mask(payload, mask)
    return Frame(opcode, payload, fin, rsv1, rsv2, rsv3), end


# -- closing ------------------------------------------------------------------------------------


def close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame: the code as 2 bytes, big-endian, then the reason in UTF-8.

    The whole payload must fit a control frame, so the reason gets at most 123 bytes. Codes
    1005, 1006 and 1015 only describe what happened locally and are refused here.
    """
    if not 1000 <= code <= 4999 or code in _NEVER_SENT:
        raise ProtocolError(f"close code {code} cannot be sent in a close frame")
    encoded = reason.encode("utf-8")
    if len(encoded) > MAX_CONTROL_PAYLOAD - 2:
        raise ProtocolError(f"a close reason is at most {MAX_CONTROL_PAYLOAD - 2} bytes of "
                            f"UTF-8, not {len(encoded)}")
    return struct.pack("!H", code) + encoded


def parse_close(payload: bytes) -> tuple[int, str]:
    """Read a close frame's payload: ``(code, reason)``.

    An empty payload is allowed and means "no code": it is reported as 1005 (no status
    received), as every WebSocket library does. One byte alone, or a reason that is not
    UTF-8, is a :class:`ProtocolError`.
    """
    if not payload:
        return CloseCode.NO_STATUS_RECEIVED, ""
    if len(payload) == 1:
        raise ProtocolError("a close payload is empty or at least 2 bytes long, not 1")
    (code,) = struct.unpack_from("!H", payload)
    try:
        reason = bytes(payload[2:]).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("a close reason must be valid UTF-8") from None
    return code, reason


# -- showing a frame ----------------------------------------------------------------------------


def _hex(data: bytes, limit: int = 16) -> str:
    shown = " ".join(f"{byte:02x}" for byte in data[:limit])
    return shown + (f" ... ({len(data)} bytes)" if len(data) > limit else "")


def describe_frame(data: bytes) -> str:
    """Explain the frame at the start of ``data`` field by field, as a few lines of text."""
    result = decode_frame(data)
    if result is None:
        return f"not a whole frame yet: {_hex(data)}"
    frame, used = result
    first, second = data[0], data[1]
    rsv = "".join("1" if flag else "0" for flag in (frame.rsv1, frame.rsv2, frame.rsv3))
    lines = [
        f"{'byte 0':<12}{first:08b}  FIN={int(frame.fin)} RSV={rsv} "
        f"opcode=0x{frame.opcode:X} ({frame.opcode.name})",
    ]
    seven = second & 0x7F
    masked = bool(second & 0x80)
    if seven <= 125:
        lines.append(f"{'byte 1':<12}{second:08b}  MASK={int(masked)} length={seven}")
        offset = 2
    else:
        size = 2 if seven == 126 else 8
        lines.append(f"{'byte 1':<12}{second:08b}  MASK={int(masked)} length={seven}: the "
                     f"real length is in the next {size} bytes")
        lines.append(f"{f'bytes 2-{1 + size}':<12}{_hex(data[2:2 + size])}  "
                     f"length={len(frame.payload)}")
        offset = 2 + size
    if masked:
        lines.append(f"{f'bytes {offset}-{offset + 3}':<12}{_hex(data[offset:offset + 4])}  "
                     f"masking key")
        offset += 4
    payload = frame.payload
    if frame.opcode == Opcode.CLOSE and len(payload) >= 2:
        code, reason = parse_close(payload)
        what = f"close code {code}, reason {reason!r}"
    elif frame.opcode == Opcode.BINARY:
        what = _hex(payload)
    else:
        try:
            text = payload.decode("utf-8")
            what = repr(text) if len(text) <= 70 else repr(text[:60]) + f" ... ({len(text)} chars)"
        except UnicodeDecodeError:
            what = _hex(payload)
    unmasked = ", once unmasked" if masked else ""
    lines.append(f"{'payload':<12}{len(payload)} bytes{unmasked}: {what}")
    if used < len(data):
        lines.append(f"({len(data) - used} more bytes follow: the next frame)")
    return "\n".join(lines)
