"""Elective E1's checks: the handshake's accept key, and encoding and decoding frames by hand.

Each check compares the student's function with ``wslab.protocol`` on inputs chosen to hit the
places where hand-written WebSocket code usually goes wrong (the RFC's own examples, the
length boundaries 125/126/65535/65536, masked and unmasked frames, a frame cut short), and
when an answer differs it looks at *how* it differs, to name the likely mistake: a hex digest
instead of the raw one, a forgotten MASK bit, a masked header, a little-endian length.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any, Callable

from wslab import protocol
from wslab.checks.core import Failure, call, carry_on, common_mistake, run_check, shown
from wslab.checks.progress import Exercise
from wslab.protocol import Frame, Opcode, close_payload


def _hex(data: Any, limit: int = 16) -> str:
    """Bytes as spaced hex, cut after ``limit`` bytes: how frames are shown to the student."""
    if not isinstance(data, (bytes, bytearray)):
        return shown(data)
    text = " ".join(f"{byte:02x}" for byte in data[:limit])
    return text + (f" ... ({len(data)} bytes in all)" if len(data) > limit else "")


def _pattern(size: int) -> bytes:
    """A payload whose bytes differ from their neighbours, so shifted or reversed data shows."""
    return bytes((i * 37 + 11) % 256 for i in range(size))


# -- exercise 1: the accept key -----------------------------------------------------------------

ACCEPT_KEYS = [
    ("dGhlIHNhbXBsZSBub25jZQ==", "the example key of RFC 6455, section 1.3"),
    ("x3JJHMbDL1EzLkh9GBhXDw==", "another client's key"),
    ("AQIDBAUGBwgJCgsMDQ4PEA==", "a key made of the bytes 1 to 16"),
]

ACCEPT_STEPS = ("The steps, in order: the key's text exactly as it came, followed by the GUID; "
                "that text encoded to bytes; its SHA-1 digest (the 20 raw bytes); those bytes "
                "in base64; the result returned as a str.")


def _accept_mistake(key: str, got: Any) -> str:
    """Name the usual mistake that turns ``key`` into ``got``, or list the steps."""
    right = protocol.accept_key(key)
    sha1 = hashlib.sha1((key + protocol.GUID).encode())
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    if got == right.encode():
        return "Your value is right but it is bytes: return a str (add .decode())."
    if isinstance(got, str) and got.strip() == right:
        return ("Right value, but with whitespace around it (base64.encodebytes adds a "
                "newline): use base64.b64encode, or strip it.")
    mistakes = {
        sha1.hexdigest(): "That is the SHA-1 as hex text. The server base64-encodes the raw "
                          "20-byte digest: use .digest(), not .hexdigest(), then base64.",
        b64(sha1.hexdigest().encode()): "You base64-encoded the hex digest (40 characters). "
                                        "Encode the raw digest instead: .digest(), not "
                                        ".hexdigest().",
        b64(hashlib.sha1(key.encode()).digest()): "The GUID is missing: hash client_key + GUID, "
                                                  "not the key alone.",
        b64(hashlib.sha1((protocol.GUID + key).encode()).digest()): "Key and GUID are the "
                                                                    "wrong way round: the key "
                                                                    "comes first.",
        b64(hashlib.sha1(base64.b64decode(key) + protocol.GUID.encode()).digest()):
            "Do not base64-decode the client's key: use its text exactly as it was sent.",
        b64(hashlib.sha256((key + protocol.GUID).encode()).digest()): "The handshake uses "
                                                                      "SHA-1, not SHA-256.",
        b64(hashlib.sha1((key + protocol.GUID.lower()).encode()).digest()):
            "The GUID is in lower case: check it letter by letter against the RFC's (or use "
            "wslab.protocol.GUID): one wrong letter gives a different hash.",
        b64(sha1.digest()).rstrip("="): "Keep the base64 padding ('=' at the end).",
    }
    if isinstance(got, str) and got in mistakes:
        return mistakes[got]
    if isinstance(got, str) and len(got) == 40 and all(c in "0123456789abcdef" for c in got):
        return ("That looks like a SHA-1 as hex text. The server base64-encodes the raw 20-byte "
                "digest: use .digest(), not .hexdigest(), then base64.")
    if isinstance(got, (bytes, bytearray)):
        decoded = _accept_mistake(key, bytes(got).decode("latin-1"))
        return f"{common_mistake(got, right)} Decoded, it is still not right. {decoded}"
    return ACCEPT_STEPS


def _accept_exception_hint(exc: BaseException) -> str:
    if isinstance(exc, TypeError):
        return ("Strings and bytes do not mix: build the text client_key + GUID first, then "
                ".encode() it for hashlib, and .decode() base64's bytes at the end.")
    if isinstance(exc, NameError):
        return ("A name is not defined: import hashlib and base64, and get GUID from "
                "wslab.protocol (the exercise cell imports them).")
    return ACCEPT_STEPS


def check_accept_key(accept_key: Callable[[str], str]) -> Callable[[str], str]:
    """Exercise 1: ``accept_key(client_key)`` returns the ``Sec-WebSocket-Accept`` value."""

    def body() -> str:
        for key, what in ACCEPT_KEYS:
            tried = f"accept_key({key!r})  ({what})"
            expected = protocol.accept_key(key)
            got = call(accept_key, (key,), tried=tried, expected=repr(expected),
                       hint=_accept_exception_hint)
            if got != expected:
                raise Failure(tried=tried, expected=repr(expected), got=shown(got),
                              hint=_accept_mistake(key, got))
        return f"all {len(ACCEPT_KEYS)} keys give the accept value a server sends."

    passed = run_check("accept_key", body, fallback="wslab.protocol.accept_key",
                       student=accept_key)
    return carry_on(passed, accept_key, protocol.accept_key)


# -- exercise 2: encoding a frame ---------------------------------------------------------------

MASK_A = bytes.fromhex("37fa213d")  # the RFC's example mask
MASK_B = bytes.fromhex("0a0b0c0d")
MASK_C = bytes.fromhex("a1b2c3d4")

#: (opcode, payload, mask, fin, what it is): simple first, then the length boundaries.
ENCODE_CASES: list[tuple[Opcode, bytes, bytes | None, bool, str]] = [
    (Opcode.TEXT, b"Hello", None, True, "an unmasked text frame, as a server sends it"),
    (Opcode.TEXT, b"Hello", MASK_A, True, "the masked example of RFC 6455, section 5.7"),
    (Opcode.TEXT, b'{"message": "hi"}', MASK_B, True, "a chat line, as a client sends it"),
    (Opcode.TEXT, b"Hel", MASK_C, False, "the first piece of a fragmented message"),
    (Opcode.PING, b"", MASK_B, True, "an empty ping"),
    (Opcode.BINARY, _pattern(125), MASK_C, True, "125 bytes: the longest 7-bit length"),
    (Opcode.BINARY, _pattern(126), MASK_B, True, "126 bytes: the shortest 16-bit length"),
    (Opcode.BINARY, _pattern(65535), MASK_C, True, "65535 bytes: the longest 16-bit length"),
    (Opcode.BINARY, _pattern(65536), MASK_A, True, "65536 bytes: a 64-bit length"),
    (Opcode.CLOSE, close_payload(1000, "bye"), MASK_A, True, "a close frame, code 1000"),
]


def _encode_call(opcode: Opcode, payload: bytes, mask: bytes | None, fin: bool) -> str:
    data = repr(payload) if len(payload) <= 24 else f"<{len(payload)} bytes>"
    args = [f"Opcode.{opcode.name}", data]
    if mask is not None:
        args.append(f'mask=bytes.fromhex("{mask.hex()}")')
    if not fin:
        args.append("fin=False")
    return f"encode_frame({', '.join(args)})"


def _encode_mistake(opcode: Opcode, payload: bytes, mask: bytes | None, fin: bool,
                    got: Any) -> str:
    """Compare ``got`` with the right frame field by field; name the first field that differs."""
    right = protocol.encode_frame(opcode, payload, mask=mask, fin=fin)
    if isinstance(got, str) and got.replace(" ", "").lower() == right.hex():
        return ("That is the frame as hex text, for people to read: the socket sends bytes, so "
                "return the bytes themselves.")
    if isinstance(got, list) and all(isinstance(item, int) for item in got):
        return ("Your frame is a list of numbers: a socket sends bytes, so turn the list into "
                "bytes before you return it.")
    if not isinstance(got, (bytes, bytearray)):
        return common_mistake(got, right) or (
            "Return the frame as bytes: build it with bytes([...]), struct.pack(...) and +, or "
            "collect it in a bytearray.")
    length = len(payload)
    extended = 0 if length <= 125 else 2 if length <= 0xFFFF else 8
    head = 2 + extended
    if len(got) < 2:
        return "A frame has at least 2 bytes of header."
    if got[0] != right[0]:
        if got[0] == right[0] ^ 0x80:
            return ("Byte 0: FIN is bit 7 (0x80): set it on a final frame, leave it 0 when "
                    "fin=False.")
        if mask is not None and got[0] == right[0] ^ mask[0]:
            return "Mask only the payload: the header bytes are sent as they are."
        return (f"Byte 0 should be {right[0]:08b}: FIN in bit 7 (0x80), RSV1-3 zero, the opcode "
                f"in the low 4 bits: (0x80 if fin else 0) | opcode.")
    mask_bit = 0x80 if mask is not None else 0
    if got[1] & 0x80 != mask_bit:
        if mask is not None and got[1] == right[1] ^ mask[1]:
            return "Mask only the payload: the header bytes are sent as they are."
        return ("Byte 1: a client's frame is masked, so set the MASK bit (0x80) in the second "
                "byte." if mask is not None else
                "Byte 1: no mask was given, so the MASK bit (0x80) must be 0 and no key follows.")
    if got[1] & 0x7F != right[1] & 0x7F:
        return ("Byte 1, the 7-bit length: "
                + ("a length up to 125 goes straight into these 7 bits." if length <= 125 else
                   "a length from 126 to 65535 is written as 126 here, then 2 bytes of length."
                   if length <= 0xFFFF else
                   "a length of 65536 or more is written as 127 here, then 8 bytes of length."))
    if got[2:head] != right[2:head]:
        if len(got) == len(right) - extended:
            return ("The extended length is missing: 126 in the 7 bits means \"the length is in "
                    "the next 2 bytes\" (127: the next 8 bytes), so write them. Only lengths up "
                    "to 125 fit the 7 bits alone.")
        if got[2:head] == right[2:head][::-1]:
            return ("The extended length must be big-endian (network byte order, most "
                    "significant byte first): struct.pack('!H', n) or n.to_bytes(2, 'big'); "
                    "for 8 bytes '!Q' or n.to_bytes(8, 'big').")
        return (f"The {extended} bytes after byte 1 hold the length, big-endian: "
                f"{_hex(right[2:head])} for {length}.")
    if mask is not None:
        if got[head:head + 4] != mask:
            if len(got) == len(right) - 4:
                return ("The masking key is missing: write the 4 mask bytes right after the "
                        "length, before the payload.")
            return "Right after the length come the 4 bytes of the masking key, as given."
        body = bytes(got[head + 4:])
        if body == payload and payload:
            return "The payload is not masked: XOR each payload byte i with mask[i % 4]."
        if body != right[head + 4:] and len(body) == length:
            return ("Each payload byte i is XORed with mask[i % 4]: the key repeats every 4 "
                    "bytes, starting from the first payload byte.")
    if len(got) != len(right):
        return (f"The frame should be {len(right)} bytes long: header ({head} bytes)"
                + (", masking key (4)" if mask is not None else "")
                + f" and payload ({length}), nothing else.")
    return "Compare your bytes with the expected ones, field by field, against the figure."


def _encode_exception_hint(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, struct.error):
        return ("struct could not pack the length: 'H' holds up to 65535, so 65536 bytes and "
                "more need 127 and an 8-byte length ('!Q').")
    if isinstance(exc, OverflowError):  # (65536).to_bytes(2, "big")
        return ("A length did not fit the bytes you packed it into (OverflowError): 126 to "
                "65535 take 2 bytes, 65536 and more take 8, after 127 in byte 1.")
    if isinstance(exc, IndexError):
        return "The mask has 4 bytes: use mask[i % 4] for payload byte i."
    if isinstance(exc, ValueError) and "bytes must be in range" in text:
        return ("bytes([...]) takes numbers from 0 to 255: a length above 125 does not fit "
                "byte 1, it goes in the extended length.")
    if isinstance(exc, TypeError):
        return ("Work with bytes and ints: bytes([b0, b1]) for the header, + to join bytes, "
                "and XOR (^) on ints (iterating over bytes gives ints).")
    return "Build the header first (byte 0, byte 1, the extended length), then key and payload."


def check_encode_frame(encode_frame: Callable[..., bytes]) -> Callable[..., bytes]:
    """Exercise 2: ``encode_frame(opcode, payload, mask=..., fin=...)`` returns a frame's bytes."""

    def body() -> str:
        for opcode, payload, mask, fin, what in ENCODE_CASES:
            tried = f"{_encode_call(opcode, payload, mask, fin)}  ({what})"
            right = protocol.encode_frame(opcode, payload, mask=mask, fin=fin)
            got = call(encode_frame, (opcode, payload), {"mask": mask, "fin": fin}, tried=tried,
                       expected=_hex(right), hint=_encode_exception_hint)
            if got != right:
                raise Failure(tried=tried, expected=_hex(right),
                              got=_hex(got, 16 if len(right) > 16 else len(right) + 8),
                              hint=_encode_mistake(opcode, payload, mask, fin, got))
        return (f"all {len(ENCODE_CASES)} frames are byte for byte right, masked and unmasked, "
                f"at every length boundary.")

    passed = run_check("encode_frame", body, fallback="wslab.protocol.encode_frame",
                       student=encode_frame)
    return carry_on(passed, encode_frame, protocol.encode_frame)


# -- exercise 3: decoding a frame ---------------------------------------------------------------

_BIG = _pattern(65536)
_MEDIUM = _pattern(200)

#: (data, what it is): whole frames first, then frames cut short (the kit's decoder, which
#: every answer is compared with, gives None for those: not a whole frame yet).
DECODE_CASES: list[tuple[bytes, str]] = [
    (bytes.fromhex("81 05 48 65 6c 6c 6f"), "a short text frame from the server"),
    (bytes.fromhex("88 02 03 e8"), "a close frame with code 1000"),
    (bytes.fromhex("01 03 48 65 6c"), "the first piece of a fragmented message"),
    (bytes.fromhex("82 7e 00 c8") + _MEDIUM, "200 bytes: a 16-bit length"),
    (bytes.fromhex("82 7f 00 00 00 00 00 01 00 00") + _BIG, "65536 bytes: a 64-bit length"),
    (bytes.fromhex("81 85 37 fa 21 3d 7f 9f 4d 51 58"),
     "a masked frame (RFC 6455, section 5.7), as a client sends it"),
    (bytes.fromhex("81 02 68 69 89 00"), "a text frame followed by a ping"),
    (bytes.fromhex("81"), "one byte: not even a header"),
    (bytes.fromhex("81 05 48 65 6c"), "a frame cut in its payload"),
    (bytes.fromhex("82 7e 00"), "a frame cut in its 16-bit length"),
    (bytes.fromhex("81 85 37 fa"), "a masked frame cut in its key"),
    (bytes.fromhex("82 7f 00 00 00 00 00 01 00 00") + _BIG[:-1],
     "a 64-bit frame missing its last byte"),
]


def _decode_call(data: bytes) -> str:
    if len(data) <= 12:
        return f'decode_frame(bytes.fromhex("{data.hex(" ")}"))'
    return f"decode_frame(<{len(data)} bytes: {_hex(data, 6)}>)"


def _decode_mistake(data: bytes, expected: tuple[Frame, int] | None, got: Any) -> str:
    """Name the first thing in ``got`` that differs from ``expected``."""
    if expected is None:
        return ("The data ends before the frame does: return None, so the caller reads more "
                "bytes and calls again. Check len(data) before you read each part (header, "
                "extended length, masking key, payload).")
    if isinstance(got, Frame):
        return "Return a pair: (the Frame, the number of bytes it used), not the Frame alone."
    common = common_mistake(got, expected)
    if common:
        return common
    if got is None:
        if data[1] & 0x7F in (126, 127):
            return ("The whole frame is there, but your length says otherwise: read the "
                    "extended length big-endian (struct.unpack('!H', data[2:4]) or "
                    "int.from_bytes(data[2:4], 'big'); for 127, 8 bytes and '!Q').")
        return ("The whole frame is there: return (frame, bytes used). Did you count the "
                "masking key twice?")
    if not (isinstance(got, tuple) and len(got) == 2):
        return "Return a pair: (Frame(opcode, payload, fin=...), the number of bytes used)."
    frame, used = got
    right, right_used = expected
    if not isinstance(frame, Frame):
        return ("The first item must be a wslab.protocol.Frame: Frame(opcode, payload, "
                "fin=...).")
    if frame.opcode != right.opcode:
        return "The opcode is the low 4 bits of byte 0: data[0] & 0x0F."
    if frame.fin != right.fin:
        return "FIN is bit 7 of byte 0: bool(data[0] & 0x80)."
    if (frame.rsv1, frame.rsv2, frame.rsv3) != (right.rsv1, right.rsv2, right.rsv3):
        return "RSV1, RSV2 and RSV3 are bits 6, 5 and 4 of byte 0 (0x40, 0x20, 0x10)."
    masked = bool(data[1] & 0x80)
    seven = data[1] & 0x7F
    if frame.payload != right.payload:
        if len(frame.payload) != len(right.payload):
            if seven == 126:
                return ("When the 7-bit length is 126, the real length is the next 2 bytes, "
                        "big-endian: struct.unpack('!H', data[2:4])[0], and the payload starts "
                        "at byte 4.")
            if seven == 127:
                return ("When the 7-bit length is 127, the real length is the next 8 bytes, "
                        "big-endian: struct.unpack('!Q', data[2:10])[0], and the payload "
                        "starts at byte 10.")
            return ("The payload length is the low 7 bits of byte 1 (data[1] & 0x7F): take "
                    "exactly that many bytes after the header"
                    + (" and the masking key." if masked else "."))
        if masked:
            if frame.payload == data[6:6 + seven]:
                return ("The MASK bit is set: the 4 bytes after the length are the key; XOR "
                        "payload byte i with key[i % 4] to unmask it.")
            return ("The payload starts after the 4-byte key: unmask it with payload[i] ^ "
                    "key[i % 4].")
        return "The payload starts right after the header (2, 4 or 10 bytes long)."
    if used != right_used:
        if used == len(right.payload):
            return "Count the header too: bytes used = header + masking key + payload length."
        if used == len(data):
            return ("Count only this frame's bytes: what follows belongs to the next frame, and "
                    "the caller keeps it.")
        header = right_used - len(right.payload)
        return (f"This frame uses {right_used} bytes: the header ({header} bytes here, masking "
                f"key included) plus the payload.")
    return "Compare your result with the expected one, field by field."


def _decode_exception_hint(data: bytes, expected: tuple[Frame, int] | None
                           ) -> Callable[[BaseException], str]:
    def hint(exc: BaseException) -> str:
        if expected is None:
            return ("The data ends before the frame does: return None instead of reading past "
                    "the end. Check len(data) before you read each part.")
        if isinstance(exc, protocol.ProtocolError) and "opcode" in str(exc):
            return ("The opcode is only the low 4 bits of byte 0: FIN and RSV1-3 above them "
                    "are not part of it, so mask them off.")
        if isinstance(exc, struct.error):
            return ("struct.unpack needs exactly the bytes its format says: '!H' takes 2 "
                    "(data[2:4]), '!Q' takes 8 (data[2:10]).")
        if isinstance(exc, IndexError):
            return ("An index went past the end of the data: work out where each part starts "
                    "(2, 4 or 10 bytes of header, then 4 bytes of key if masked).")
        if isinstance(exc, TypeError):
            return ("Build the result with Frame(opcode, payload, fin=...) (imported from "
                    "wslab.protocol), with the payload as bytes.")
        return "Read the parts in order: byte 0, byte 1, extended length, masking key, payload."
    return hint


def check_decode_frame(decode_frame: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """Exercise 3: ``decode_frame(data)`` returns ``(Frame, bytes used)``, or None if incomplete."""

    def body() -> str:
        complete = 0
        for data, what in DECODE_CASES:
            tried = f"{_decode_call(data)}  ({what})"
            expected = protocol.decode_frame(data)
            got = call(decode_frame, (data,), tried=tried, expected=shown(expected),
                       hint=_decode_exception_hint(data, expected),
                       none_expected=expected is None)
            if got != expected:
                raise Failure(tried=tried, expected=shown(expected), got=shown(got),
                              hint=_decode_mistake(data, expected, got))
            complete += expected is not None
        return (f"all {complete} frames decoded (masked, unmasked, 7-, 16- and 64-bit lengths), "
                f"and all {len(DECODE_CASES) - complete} incomplete ones wait for more bytes.")

    passed = run_check("decode_frame", body, fallback="wslab.protocol.decode_frame",
                       student=decode_frame)
    return carry_on(passed, decode_frame, protocol.decode_frame)


EXERCISES = (
    Exercise("accept_key", check_accept_key, reads=("accept_key",)),
    Exercise("encode_frame", check_encode_frame, reads=("encode_frame",)),
    Exercise("decode_frame", check_decode_frame, reads=("decode_frame",)),
)
