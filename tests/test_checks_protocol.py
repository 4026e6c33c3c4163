"""Lesson 01's checks: each names the usual mistakes, accepts the solution, and waits for a stub."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest

from wslab import protocol
from wslab.checks.protocol import check_accept_key, check_decode_frame, check_encode_frame
from wslab.protocol import GUID, Frame, Opcode, apply_mask


def verdict(capsys) -> str:
    return capsys.readouterr().out


# -- accept_key ---------------------------------------------------------------------------------


def accept_stub(client_key):
    raise NotImplementedError("exercise: accept_key")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("wrong, words", [
    (lambda key: hashlib.sha1((key + GUID).encode()).hexdigest(), ".digest(), not .hexdigest()"),
    (lambda key: b64(hashlib.sha1((key + GUID).encode()).hexdigest().encode()),
     "base64-encoded the hex digest"),
    (lambda key: b64(hashlib.sha1(key.encode()).digest()), "The GUID is missing"),
    (lambda key: b64(hashlib.sha1((GUID + key).encode()).digest()), "wrong way round"),
    (lambda key: b64(hashlib.sha1(base64.b64decode(key) + GUID.encode()).digest()),
     "Do not base64-decode"),
    (lambda key: base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()),
     "it is bytes: return a str"),
    (lambda key: base64.encodebytes(hashlib.sha1((key + GUID).encode()).digest()).decode(),
     "whitespace"),
    (lambda key: b64(hashlib.sha256((key + GUID).encode()).digest()), "SHA-1, not SHA-256"),
    (lambda key: b64(hashlib.sha1((key + GUID.lower()).encode()).digest()),
     "Check the GUID letter by letter"),
    (lambda key: b64(hashlib.sha1(key + GUID).digest()), "Strings and bytes do not mix"),
    (lambda key: b64(hashlib.sha1((key + GUID).encode()).digest()).rstrip("="),
     "Keep the base64 padding"),
])
def test_wrong_accept_keys_are_explained(wrong, words, capsys):
    assert check_accept_key(wrong) is protocol.accept_key
    out = verdict(capsys)
    assert out.startswith("❌ accept_key: not right yet.")
    assert words in out and "dGhlIHNhbXBsZSBub25jZQ==" in out
    assert "carries on with wslab.protocol.accept_key" in out


def test_accept_key_stub_is_not_done_yet(capsys):
    assert check_accept_key(accept_stub) is protocol.accept_key
    assert verdict(capsys).startswith("⏳ accept_key: not done yet.")


def test_accept_key_solution_passes(capsys):
    def accept_key(client_key):
        return base64.b64encode(hashlib.sha1((client_key + GUID).encode()).digest()).decode()

    assert check_accept_key(accept_key) is accept_key
    assert verdict(capsys) == ("✅ accept_key: all 3 keys give the accept value a server "
                               "sends.\n")


# -- encode_frame -------------------------------------------------------------------------------


def encode_stub(opcode, payload, *, mask=None, fin=True):
    raise NotImplementedError("exercise: encode_frame")


def length_field(n: int, mask_bit: int, order: str = "!") -> bytes:
    if n <= 125:
        return bytes([mask_bit | n])
    if n <= 0xFFFF:
        return bytes([mask_bit | 126]) + struct.pack(order + "H", n)
    return bytes([mask_bit | 127]) + struct.pack(order + "Q", n)


def make_encoder(*, fin_bit=True, mask_bit=True, order="!", write_key=True, mask_payload=True,
                 mask_header=False, seven_bit_upto=125, sixteen_upto=0xFFFF, as_bytearray=False,
                 key_index=lambda i: i % 4):
    """A hand-written encoder with one usual mistake switched on."""

    def encode(opcode, payload, *, mask=None, fin=True):
        first = (0x80 if fin and fin_bit else 0) | opcode
        bit = 0x80 if (mask is not None and mask_bit) else 0
        n = len(payload)
        if n <= seven_bit_upto:
            header = bytes([first, bit | n])
        elif n <= sixteen_upto:
            header = bytes([first, bit | 126]) + struct.pack(order + "H", n)
        else:
            header = bytes([first, bit | 127]) + struct.pack(order + "Q", n)
        if mask is None:
            frame = header + payload
        else:
            body = bytes(b ^ mask[key_index(i)] for i, b in enumerate(payload)) if mask_payload \
                else payload
            if mask_header:
                header = bytes(b ^ mask[i % 4] for i, b in enumerate(header))
            frame = header + (mask if write_key else b"") + body
        return bytearray(frame) if as_bytearray else frame

    return encode


@pytest.mark.parametrize("wrong, words", [
    (make_encoder(fin_bit=False), "FIN is bit 7"),
    (lambda opcode, payload, *, mask=None, fin=True:
        bytes([0x80 | opcode]) + protocol.encode_frame(opcode, payload, mask=mask, fin=fin)[1:],
     "FIN is bit 7"),
    (make_encoder(mask_bit=False), "set the MASK bit (0x80)"),
    (make_encoder(order="<"), "big-endian"),
    (make_encoder(write_key=False), "The masking key is missing"),
    (make_encoder(mask_payload=False), "The payload is not masked"),
    (make_encoder(mask_header=True), "Mask only the payload"),
    (make_encoder(seven_bit_upto=126), "The extended length is missing"),
    (make_encoder(sixteen_upto=0xFFFFFFFF), "'H' holds up to 65535"),
    (make_encoder(key_index=lambda i: i), "mask[i % 4]"),
    (make_encoder(key_index=lambda i: (i + 1) % 4), "the key repeats every 4"),
    (lambda opcode, payload, *, mask=None, fin=True:
        (bytes([0x80 | opcode, 0x80 | len(payload)]) + (mask or b"")
         + (apply_mask(payload, mask) if mask else payload)),
     "the MASK bit (0x80) must be 0"),
    (lambda opcode, payload, *, mask=None, fin=True:
        bytes([(0x80 if fin else 0) | opcode, (0x80 if mask else 0) | len(payload)])
        + (mask or b"") + (apply_mask(payload, mask) if mask else payload),
     "The extended length is missing"),
    (make_encoder(sixteen_upto=125), "then 2 bytes of length"),
    (lambda opcode, payload, *, mask=None, fin=True:
        protocol.encode_frame(opcode, payload, mask=mask, fin=fin).hex(),
     "Return the frame as bytes"),
    (lambda opcode, payload, *, mask=None, fin=True:
        protocol.encode_frame(opcode, payload, mask=mask, fin=fin) + b"\x00",
     "nothing else"),
    (lambda opcode, payload, *, mask=None, fin=True:
        bytes([0x80 | opcode]) + b"".join([length_field(len(payload), 0x80 if mask else 0)])
        + (mask or b"") + payload.decode("latin-1"), "Work with bytes and ints"),
])
def test_wrong_encoders_are_explained(wrong, words, capsys):
    assert check_encode_frame(wrong) is protocol.encode_frame
    out = verdict(capsys)
    assert out.startswith("❌ encode_frame: not right yet."), out
    assert words in " ".join(out.split()), out
    assert "expected:" in out and "carries on with wslab.protocol.encode_frame" in out


def test_a_wrong_big_frame_is_shown_by_its_header(capsys):
    check_encode_frame(make_encoder(order="<"))
    out = verdict(capsys)
    assert "<126 bytes>" in out and "82 fe 00 7e 0a 0b 0c 0d" in out and "(134 bytes in all)" in out


def test_encode_stub_is_not_done_yet(capsys):
    assert check_encode_frame(encode_stub) is protocol.encode_frame
    assert verdict(capsys).startswith("⏳ encode_frame: not done yet.")


def test_half_done_encoder_is_not_done_yet(capsys):
    def encode(opcode, payload, *, mask=None, fin=True):
        if len(payload) > 125:
            raise NotImplementedError("longer frames later")
        return protocol.encode_frame(opcode, payload, mask=mask, fin=fin)

    assert check_encode_frame(encode) is protocol.encode_frame
    assert verdict(capsys).startswith("⏳ encode_frame: not done yet.")


@pytest.mark.parametrize("solution", [
    protocol.encode_frame,
    make_encoder(),
    make_encoder(as_bytearray=True),
])
def test_right_encoders_pass(solution, capsys):
    assert check_encode_frame(solution) is solution
    assert verdict(capsys).startswith("✅ encode_frame: all 10 frames are byte for byte right")


# -- decode_frame -------------------------------------------------------------------------------


def decode_stub(data):
    raise NotImplementedError("exercise: decode_frame")


def make_decoder(*, check_lengths=True, unmask=True, count_header=True, use_ext=True,
                 order="!", fin_from=0x80, opcode_mask=0x0F, pair=True, consume_all=False):
    """A hand-written decoder with one usual mistake switched on."""

    def decode(data):
        if check_lengths and len(data) < 2:
            return None
        fin = bool(data[0] & fin_from)
        opcode = data[0] & opcode_mask
        masked = bool(data[1] & 0x80)
        n = data[1] & 0x7F
        offset = 2
        if use_ext and n == 126:
            if check_lengths and len(data) < 4:
                return None
            (n,) = struct.unpack(order + "H", data[2:4])
            offset = 4
        elif use_ext and n == 127:
            if check_lengths and len(data) < 10:
                return None
            (n,) = struct.unpack(order + "Q", data[2:10])
            offset = 10
        key = None
        if masked:
            if check_lengths and len(data) < offset + 4:
                return None
            key = data[offset:offset + 4]
            offset += 4
        if check_lengths and len(data) < offset + n:
            return None
        payload = data[offset:offset + n]
        if key is not None and unmask:
            payload = apply_mask(payload, key)
        used = offset + n if count_header else n
        if consume_all:
            used = len(data)
        frame = Frame(opcode, payload, fin=fin)
        return (frame, used) if pair else frame

    return decode


@pytest.mark.parametrize("wrong, words", [
    (make_decoder(pair=False), "not the Frame alone"),
    (make_decoder(opcode_mask=0xFF), "raised ProtocolError"),
    (make_decoder(fin_from=0x40), "FIN is bit 7"),
    (make_decoder(use_ext=False), "When the 7-bit length is 126"),
    (make_decoder(order="<"), "read the extended length big-endian"),
    (make_decoder(unmask=False), "to unmask it"),
    (make_decoder(count_header=False), "Count the header too"),
    (make_decoder(consume_all=True), "Count only this frame's bytes"),
    (make_decoder(check_lengths=False), "return None"),
    (lambda data: (Frame(data[0] & 0x0F, data[2:2 + (data[1] & 0x7F)]), 2 + (data[1] & 0x7F)),
     "FIN is bit 7"),
    (lambda data: [protocol.decode_frame(data)[0], protocol.decode_frame(data)[1]],
     "Return a pair"),
    (lambda data: (protocol.decode_frame(data) or (None, 0))[0].payload, "Return a pair"),
    (lambda data: protocol.decode_frame(data) or (Frame(Opcode.TEXT, b""), 0),
     "The data ends before the frame does: return None"),
])
def test_wrong_decoders_are_explained(wrong, words, capsys):
    assert check_decode_frame(wrong) is protocol.decode_frame
    out = verdict(capsys)
    assert out.startswith("❌ decode_frame: not right yet."), out
    assert words in " ".join(out.split()), out
    assert "carries on with wslab.protocol.decode_frame" in out


def test_a_little_endian_length_is_shown_as_none(capsys):
    # A 16-bit little-endian length reads 200 as 51200: too few bytes, so None comes back.
    check_decode_frame(make_decoder(order="<"))
    out = verdict(capsys)
    assert "200 bytes: a 16-bit length" in out and "got:      None" in out


def test_decode_stub_is_not_done_yet(capsys):
    assert check_decode_frame(decode_stub) is protocol.decode_frame
    assert verdict(capsys).startswith("⏳ decode_frame: not done yet.")


@pytest.mark.parametrize("solution", [protocol.decode_frame, make_decoder()])
def test_right_decoders_pass(solution, capsys):
    assert check_decode_frame(solution) is solution
    assert verdict(capsys) == (
        "✅ decode_frame: all 7 frames decoded (masked, unmasked, 7-, 16- and 64-bit lengths), "
        "and all 5 incomplete ones wait for more bytes.\n")
