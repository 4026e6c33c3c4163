"""Elective E1's checks: each names the usual mistakes, hint first, accepts a right answer in any
style, waits for a stub, and never passes the kit's own function."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest

from exercises import never_passed, none_passed, untouched, wrong_in_the_notebook
from verdicts import failure, flat, verdict
from wslab import protocol
from wslab.checks.protocol import check_accept_key, check_decode_frame, check_encode_frame
from wslab.protocol import GUID, Frame, Opcode, apply_mask


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
     "check it letter by letter"),
    (lambda key: b64(hashlib.sha1(key + GUID).digest()), "Strings and bytes do not mix"),
    (lambda key: b64(hashlib.sha1((key + GUID).encode()).digest()).rstrip("="),
     "Keep the base64 padding"),
    (lambda key: print(b64(hashlib.sha1((key + GUID).encode()).digest())),
     "printed its answer and returned None"),
    (lambda key: base64.b64encode(hashlib.sha1((key + GUID).encode()).hexdigest().encode()),
     "bytes, where a str is due: decode it (.decode()). Decoded, it is still not right. You "
     "base64-encoded the hex digest"),
    (lambda key: b64(hashlib.md5((key + GUID).encode()).digest()), "The steps, in order"),
])
def test_wrong_accept_keys_are_explained(wrong, words, capsys):
    assert check_accept_key(wrong) is protocol.accept_key
    out = failure(verdict(capsys), "accept_key")
    assert words in out and "dGhlIHNhbXBsZSBub25jZQ==" in out
    assert "carries on with wslab.protocol.accept_key" in out
    assert ".digest()).decode()" not in out  # a hint never spells out the answer


def test_an_async_accept_key_is_a_missing_await(capsys):
    async def accept_key(client_key):
        return protocol.accept_key(client_key)

    check_accept_key(accept_key)
    assert "returned a coroutine" in failure(verdict(capsys), "accept_key")


def test_accept_key_stub_is_not_done_yet(capsys):
    untouched(check_accept_key(accept_stub), protocol.accept_key, "accept_key", capsys)


def test_the_kits_own_accept_key_is_never_passed(capsys):
    never_passed(check_accept_key(protocol.accept_key), protocol.accept_key, "accept_key", capsys)


@pytest.mark.parametrize("solution", [
    lambda client_key: base64.b64encode(
        hashlib.sha1((client_key + GUID).encode()).digest()).decode(),
    lambda client_key: base64.standard_b64encode(
        hashlib.new("sha1", bytes(client_key, "ascii") + GUID.encode("ascii")).digest()
    ).decode("ascii"),
])
def test_right_accept_keys_pass(solution, capsys):
    assert check_accept_key(solution) is solution
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


def to_bytes_encoder(opcode, payload, *, mask=None, fin=True):
    """Every length above 125 written in 2 bytes, with int.to_bytes."""
    n = len(payload)
    length = bytes([(0x80 if mask else 0) | min(n, 126)])
    if n > 125:
        length += n.to_bytes(2, "big")
    return (bytes([(0x80 if fin else 0) | opcode]) + length + (mask or b"")
            + (apply_mask(payload, mask) if mask else payload))


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
        protocol.encode_frame(opcode, payload, mask=mask, fin=fin).hex(" "),
     "the frame as hex text"),
    (lambda opcode, payload, *, mask=None, fin=True:
        list(protocol.encode_frame(opcode, payload, mask=mask, fin=fin)),
     "a list of numbers"),
    (lambda opcode, payload, *, mask=None, fin=True:
        print(protocol.encode_frame(opcode, payload, mask=mask, fin=fin)),
     "printed its answer and returned None"),
    (to_bytes_encoder, "A length did not fit the bytes you packed it into (OverflowError)"),
    (lambda opcode, payload, *, mask=None, fin=True:
        protocol.encode_frame(opcode, payload, mask=mask, fin=fin) + b"\x00",
     "nothing else"),
    (lambda opcode, payload, *, mask=None, fin=True:
        bytes([0x80 | opcode]) + b"".join([length_field(len(payload), 0x80 if mask else 0)])
        + (mask or b"") + payload.decode("latin-1"), "Work with bytes and ints"),
])
def test_wrong_encoders_are_explained(wrong, words, capsys):
    assert check_encode_frame(wrong) is protocol.encode_frame
    out = failure(verdict(capsys), "encode_frame")
    assert words in out, out
    assert "carries on with wslab.protocol.encode_frame" in out
    assert "2 ** attempt" not in out  # core's overflow hint is about a backoff's 2 ** attempt


def test_a_wrong_big_frame_is_shown_by_its_header(capsys):
    check_encode_frame(make_encoder(order="<"))
    out = verdict(capsys)
    assert "<126 bytes>" in out and "82 fe 00 7e 0a 0b 0c 0d" in out and "(134 bytes in all)" in out


def test_encode_stub_is_not_done_yet(capsys):
    untouched(check_encode_frame(encode_stub), protocol.encode_frame, "encode_frame", capsys)


def test_half_done_encoder_is_not_done_yet(capsys):
    def encode(opcode, payload, *, mask=None, fin=True):
        if len(payload) > 125:
            raise NotImplementedError("longer frames later")
        return protocol.encode_frame(opcode, payload, mask=mask, fin=fin)

    untouched(check_encode_frame(encode), protocol.encode_frame, "encode_frame", capsys)


def test_the_kits_own_encoder_is_never_passed(capsys):
    never_passed(check_encode_frame(protocol.encode_frame),
                 protocol.encode_frame, "encode_frame", capsys)


@pytest.mark.parametrize("solution", [
    make_encoder(),
    make_encoder(as_bytearray=True),
])
@pytest.mark.slow
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
    (make_decoder(opcode_mask=0xFF), "The opcode is only the low 4 bits of byte 0"),
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
     "a list, where a tuple is due"),
    (lambda data: print(protocol.decode_frame(data)), "printed its answer and returned None"),
    (lambda data: (protocol.decode_frame(data) or (None, 0))[0].payload, "Return a pair"),
    (lambda data: protocol.decode_frame(data) or (Frame(Opcode.TEXT, b""), 0),
     "The data ends before the frame does: return None"),
])
def test_wrong_decoders_are_explained(wrong, words, capsys):
    assert check_decode_frame(wrong) is protocol.decode_frame
    out = failure(verdict(capsys), "decode_frame")
    assert words in out, out
    assert "carries on with wslab.protocol.decode_frame" in out


def test_a_little_endian_length_is_shown_as_none(capsys):
    # A 16-bit little-endian length reads 200 as 51200: too few bytes, so None comes back.
    check_decode_frame(make_decoder(order="<"))
    out = verdict(capsys)
    assert "got:      None\n" in out
    assert "200 bytes: a 16-bit length" in flat(out)


def test_decode_stub_is_not_done_yet(capsys):
    untouched(check_decode_frame(decode_stub), protocol.decode_frame, "decode_frame", capsys)


def test_the_kits_own_decoder_is_never_passed(capsys):
    never_passed(check_decode_frame(protocol.decode_frame),
                 protocol.decode_frame, "decode_frame", capsys)


def from_bytes_decoder(data):
    """A decoder in another style: int.from_bytes, slicing, and a bytearray for the payload."""
    if len(data) < 2:
        return None
    size, at = data[1] & 0x7F, 2
    if size > 125:
        width = 2 if size == 126 else 8
        if len(data) < at + width:
            return None
        size, at = int.from_bytes(data[at:at + width], "big"), at + width
    key = data[at:at + 4] if data[1] & 0x80 else b""
    at += len(key)
    if len(key) not in (0, 4) or len(data) < at + size:
        return None
    payload = bytearray(data[at:at + size])
    for i in range(len(payload) if key else 0):
        payload[i] ^= key[i % 4]
    return Frame(data[0] & 0x0F, bytes(payload), fin=data[0] >= 0x80), at + size


@pytest.mark.parametrize("solution", [make_decoder(), from_bytes_decoder])
def test_right_decoders_pass(solution, capsys):
    assert check_decode_frame(solution) is solution
    assert verdict(capsys) == (
        "✅ decode_frame: all 7 frames decoded (masked, unmasked, 7-, 16- and 64-bit lengths), "
        "and all 5 incomplete ones wait for more bytes.\n")


#: Whole exercise cells, their imports kept, each with a wrong answer.
WRONG_IN_THE_NOTEBOOK = {
    "accept_key": "import base64\nimport hashlib\nfrom wslab.protocol import GUID\n\n"
                  "def accept_key(client_key):\n"
                  "    return hashlib.sha1((client_key + GUID).encode()).hexdigest()",
    "encode_frame": "import struct\nfrom wslab.protocol import Opcode\n\n"
                    "def encode_frame(opcode, payload, *, mask=None, fin=True):\n"
                    "    return bytes([0x80 | opcode, len(payload)]) + payload",
    "decode_frame": "from wslab.protocol import Frame, apply_mask\n\n"
                    "def decode_frame(data):\n"
                    "    return Frame(data[0] & 0x0F, data[2:2 + data[1]]), 2 + data[1]",
}


@pytest.mark.slow
def test_in_the_notebook_wrong_answers_never_pass_however_often_their_checks_run():
    outputs = wrong_in_the_notebook("E1_protocol_by_hand", WRONG_IN_THE_NOTEBOOK, 6)
    none_passed(outputs, *WRONG_IN_THE_NOTEBOOK)
