"""wslab.protocol against the ``websockets`` library's own codec: same bytes, both directions."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct

import pytest
from websockets.frames import Close, Frame as WsFrame, Opcode as WsOpcode
from websockets.http11 import Request
from websockets.streams import StreamReader
from websockets.utils import accept_key as ws_accept_key

from wslab import protocol
from wslab.figures.frame import frame_layout
from wslab.figures.traffic import traffic_chart
from wslab.protocol import (
    Frame, Opcode, ProtocolError, accept_key, apply_mask, close_payload, decode_frame,
    describe_frame, encode_frame, handshake_problem, handshake_request, parse_close,
    parse_handshake_response, split_http_head,
)

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 70000]
DATA_OPCODES = [Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION]


def ws_parse(data: bytes, *, mask: bool) -> tuple[WsFrame, bytes]:
    """Parse one frame with websockets; return it and the bytes it left unread."""
    reader = StreamReader()
    reader.feed_data(data)
    parser = WsFrame.parse(reader.read_exact, mask=mask)
    try:
        next(parser)
    except StopIteration as done:
        return done.value, bytes(reader.buffer)
    raise AssertionError("websockets wanted more bytes than a whole frame")


def payload_of(size: int) -> bytes:
    return bytes((i * 7 + 3) % 256 for i in range(size))


# -- the handshake ------------------------------------------------------------------------------


def test_accept_key_matches_the_rfc_example():
    # RFC 6455, section 1.3.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("seed", range(20))
def test_accept_key_matches_websockets(seed):
    key = base64.b64encode(bytes((seed * 13 + i) % 256 for i in range(16))).decode()
    assert accept_key(key) == ws_accept_key(key)


def test_new_key_is_16_random_bytes_in_base64():
    keys = {protocol.new_key() for _ in range(50)}
    assert len(keys) == 50
    assert all(len(base64.b64decode(key, validate=True)) == 16 for key in keys)


def test_handshake_request_is_a_valid_upgrade_for_websockets():
    key = protocol.new_key()
    data = handshake_request("127.0.0.1:8000", "/ws/alice?token=t", key,
                             headers=(("Origin", "http://127.0.0.1:8000"),))
    assert data.startswith(b"GET /ws/alice?token=t HTTP/1.1\r\n") and data.endswith(b"\r\n\r\n")
    reader = StreamReader()
    reader.feed_data(data)
    parser = Request.parse(reader.read_line)
    with pytest.raises(StopIteration) as done:
        next(parser)
    request = done.value.value
    assert request.path == "/ws/alice?token=t"
    assert request.headers["Host"] == "127.0.0.1:8000"
    assert request.headers["Upgrade"] == "websocket"
    assert request.headers["Connection"] == "Upgrade"
    assert request.headers["Sec-WebSocket-Key"] == key
    assert request.headers["Sec-WebSocket-Version"] == "13"
    assert request.headers["Origin"] == "http://127.0.0.1:8000"


RESPONSE = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nserver: uvicorn\r\n\r\n")


def test_split_http_head_keeps_the_bytes_after_it():
    frame = encode_frame(Opcode.TEXT, b"welcome")
    assert split_http_head(RESPONSE[:-1]) is None
    assert split_http_head(RESPONSE + frame) == (RESPONSE, frame)


def test_parse_and_verify_a_101_response():
    response = parse_handshake_response(RESPONSE)
    assert (response.status, response.reason) == (101, "Switching Protocols")
    assert response.headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert handshake_problem(response, "dGhlIHNhbXBsZSBub25jZQ==") is None
    assert "expected" in handshake_problem(response, protocol.new_key())


def test_handshake_problem_names_a_refusal():
    response = parse_handshake_response(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
    assert handshake_problem(response, "x") == "the server answered 403 Forbidden, not 101"
    with pytest.raises(ProtocolError):
        parse_handshake_response(b"\x81\x02hi\r\n\r\n")


# -- frames: the same bytes as websockets ------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", DATA_OPCODES)
@pytest.mark.parametrize("fin", [True, False])
def test_unmasked_frames_are_byte_for_byte_websockets(size, opcode, fin):
    payload = payload_of(size)
    ours = encode_frame(opcode, payload, fin=fin)
    assert ours == WsFrame(WsOpcode(opcode), payload, fin=fin).serialize(mask=False)
    assert decode_frame(ours) == (Frame(opcode, payload, fin=fin), len(ours))


@pytest.mark.parametrize("size", SIZES)
def test_masked_frames_parse_in_websockets(size):
    payload = payload_of(size)
    mask = os.urandom(4)
    ours = encode_frame(Opcode.BINARY, payload, mask=mask)
    frame, rest = ws_parse(ours, mask=True)
    assert (frame.opcode, bytes(frame.data), frame.fin) == (WsOpcode.BINARY, payload, True)
    assert rest == b""
    header = 2 + (0 if size <= 125 else 2 if size <= 65535 else 8)
    assert ours[header:header + 4] == mask


@pytest.mark.parametrize("size", SIZES)
def test_masked_frames_from_websockets_decode_here(size):
    payload = payload_of(size)
    theirs = WsFrame(WsOpcode.TEXT, payload).serialize(mask=True)
    assert decode_frame(theirs) == (Frame(Opcode.TEXT, payload), len(theirs))


@pytest.mark.parametrize("size, header", [
    (125, "817d"), (126, "817e007e"), (65535, "817effff"), (65536, "817f0000000000010000"),
])
def test_length_encodings_at_the_boundaries(size, header):
    assert encode_frame(Opcode.TEXT, bytes(size))[: len(header) // 2].hex() == header


def test_rfc_examples():
    # RFC 6455, section 5.7.
    assert encode_frame(Opcode.TEXT, b"Hello").hex(" ") == "81 05 48 65 6c 6c 6f"
    masked = bytes.fromhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")
    assert encode_frame(Opcode.TEXT, b"Hello", mask=bytes.fromhex("37fa213d")) == masked
    assert decode_frame(masked) == (Frame(Opcode.TEXT, b"Hello"), 11)
    assert decode_frame(bytes.fromhex("01 03 48 65 6c")) == (
        Frame(Opcode.TEXT, b"Hel", fin=False), 5)
    assert decode_frame(bytes.fromhex("80 02 6c 6f")) == (
        Frame(Opcode.CONTINUATION, b"lo"), 4)
    ping = bytes.fromhex("89 05 48 65 6c 6c 6f")
    assert encode_frame(Opcode.PING, b"Hello") == ping
    assert decode_frame(ping) == (Frame(Opcode.PING, b"Hello"), 7)
    pong = bytes.fromhex("8a 85 37 fa 21 3d 7f 9f 4d 51 58")
    assert decode_frame(pong) == (Frame(Opcode.PONG, b"Hello"), 11)
    assert encode_frame(Opcode.BINARY, bytes(256)).startswith(bytes.fromhex("82 7e 01 00"))
    assert encode_frame(Opcode.BINARY, bytes(65536)).startswith(
        bytes.fromhex("82 7f 00 00 00 00 00 01 00 00"))


@pytest.mark.parametrize("opcode", [Opcode.CLOSE, Opcode.PING, Opcode.PONG])
@pytest.mark.parametrize("masked", [True, False])
def test_control_frames_both_ways(opcode, masked):
    payload = close_payload(1000, "bye") if opcode == Opcode.CLOSE else b"are you there?"
    mask = os.urandom(4) if masked else None
    ours = encode_frame(opcode, payload, mask=mask)
    frame, _ = ws_parse(ours, mask=masked)
    assert (frame.opcode, bytes(frame.data)) == (WsOpcode(opcode), payload)
    theirs = WsFrame(WsOpcode(opcode), payload).serialize(mask=masked)
    assert decode_frame(theirs) == (Frame(opcode, payload), len(theirs))


def test_rsv_bits_are_read():
    # websockets refuses to serialise reserved bits without an extension: build the bytes.
    raw = bytes([0x80 | 0x40 | 0x20 | 0x10 | 1, 1]) + b"x"
    assert decode_frame(raw) == (Frame(Opcode.TEXT, b"x", rsv1=True, rsv2=True, rsv3=True), 3)
    assert decode_frame(bytes([0x80 | 0x40 | 1, 1]) + b"x")[0].rsv1


def test_decoding_a_stream_piece_by_piece():
    frames = [Frame(Opcode.TEXT, b"hi"), Frame(Opcode.BINARY, payload_of(300)),
              Frame(Opcode.PING, b""), Frame(Opcode.TEXT, payload_of(70000))]
    stream = b"".join(encode_frame(f.opcode, f.payload, mask=os.urandom(4)) for f in frames)
    got, buffer = [], b""
    for start in range(0, len(stream), 997):  # arbitrary pieces, as TCP may deliver them
        buffer += stream[start:start + 997]
        while (result := decode_frame(buffer)) is not None:
            frame, used = result
            got.append(frame)
            buffer = buffer[used:]
    assert got == frames and buffer == b""


@pytest.mark.parametrize("size", [0, 5, 126, 65536])
@pytest.mark.parametrize("masked", [True, False])
def test_every_incomplete_prefix_is_none(size, masked):
    mask = b"\x01\x02\x03\x04" if masked else None
    data = encode_frame(Opcode.BINARY, payload_of(size), mask=mask)
    cuts = set(range(min(len(data), 20))) | {len(data) - 1}
    for cut in cuts:
        assert decode_frame(data[:cut]) is None, cut
    assert decode_frame(data) is not None


@pytest.mark.parametrize("data, words", [
    (bytes([0x83, 0]), "opcode 0x3"),
    (bytes([0x8B, 0]), "opcode 0xB"),
    (bytes([0x89, 126, 0, 126]) + bytes(126), "at most 125"),
    (bytes([0x09, 0]), "unfragmented"),
    (bytes([0x82, 127]) + struct.pack("!Q", 1 << 63), "most significant bit"),
])
def test_decoding_refuses_what_no_peer_may_send(data, words):
    with pytest.raises(ProtocolError, match=words):
        decode_frame(data)


def test_encoding_refuses_bad_control_frames_and_masks():
    with pytest.raises(ProtocolError):
        encode_frame(Opcode.PING, bytes(126))
    with pytest.raises(ProtocolError):
        encode_frame(Opcode.CLOSE, b"", fin=False)
    with pytest.raises(ProtocolError):
        encode_frame(Opcode.TEXT, b"x", mask=b"abc")
    with pytest.raises(ValueError):
        encode_frame(3, b"x")


def test_apply_mask_twice_gives_the_data_back():
    data = payload_of(1000)
    mask = os.urandom(4)
    assert apply_mask(apply_mask(data, mask), mask) == data
    assert apply_mask(b"", mask) == b""


def test_frame_normalises_and_shows_itself():
    frame = Frame(1, bytearray(b"hi"))
    assert frame.opcode is Opcode.TEXT and type(frame.payload) is bytes
    assert repr(frame) == "Frame(Opcode.TEXT, b'hi')"
    assert repr(Frame(Opcode.TEXT, b"a", fin=False)) == "Frame(Opcode.TEXT, b'a', fin=False)"
    assert "(300 bytes)" in repr(Frame(Opcode.BINARY, bytes(300)))
    assert frame.text() == "hi"
    with pytest.raises(ProtocolError):
        Frame(5, b"")


# -- closing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code, reason", [(1000, ""), (1001, "bye"), (1008, "bad token"),
                                          (4408, "too slow"), (3000, "é ü ✓")])
def test_close_payload_is_websockets_close(code, reason):
    assert close_payload(code, reason) == Close(code, reason).serialize()
    assert parse_close(close_payload(code, reason)) == (code, reason)
    parsed = Close.parse(close_payload(code, reason))
    assert (parsed.code, parsed.reason) == (code, reason)


def test_close_payload_edges():
    assert parse_close(b"") == (1005, "")
    with pytest.raises(ProtocolError):
        parse_close(b"\x03")
    with pytest.raises(ProtocolError):
        parse_close(b"\x03\xe8\xff")
    for code in (999, 1005, 1006, 1015, 5000):
        with pytest.raises(ProtocolError):
            close_payload(code)
    assert len(close_payload(1000, "x" * 123)) == 125
    with pytest.raises(ProtocolError):
        close_payload(1000, "x" * 124)


def test_describe_frame_names_every_field():
    text = describe_frame(encode_frame(Opcode.TEXT, b"x" * 200, mask=b"abcd") + b"\x89\x00")
    assert "FIN=1 RSV=000 opcode=0x1 (TEXT)" in text
    assert "MASK=1 length=126: the real length is in the next 2 bytes" in text
    assert "00 c8  length=200" in text and "61 62 63 64  masking key" in text
    assert "(2 more bytes follow: the next frame)" in text
    close = describe_frame(encode_frame(Opcode.CLOSE, close_payload(1000, "bye")))
    assert close.endswith("5 bytes: close code 1000, reason 'bye'")
    assert describe_frame(b"\x81") == "not a whole frame yet: 81"


# -- against the real chat server ---------------------------------------------------------------


def hand_made_handshake(sock: socket.socket, port: int) -> tuple[bytes, str, bytearray]:
    """Open ``/ws/raw`` on ``sock`` by hand: the response's head, the key sent, what followed."""
    key = protocol.new_key()
    sock.sendall(handshake_request(f"127.0.0.1:{port}", "/ws/raw", key))
    received = b""
    while split_http_head(received) is None:
        received += sock.recv(4096)
    head, rest = split_http_head(received)
    return head, key, bytearray(rest)


def test_a_raw_socket_speaks_to_the_chat_server(chat_server):
    """What elective E1 does by hand: handshake, a masked chat line, ping, close."""
    def next_frame(sock, buffer):
        while (result := decode_frame(bytes(buffer))) is None:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection"
            buffer += chunk
        frame, used = result
        del buffer[:used]
        return frame

    with socket.create_connection(("127.0.0.1", chat_server.port), timeout=5) as sock:
        head, key, buffer = hand_made_handshake(sock, chat_server.port)
        assert handshake_problem(parse_handshake_response(head), key) is None

        assert json.loads(next_frame(sock, buffer).payload)["type"] == "welcome"
        line = json.dumps({"message": "hand-made"}).encode()
        sock.sendall(encode_frame(Opcode.TEXT, line, mask=os.urandom(4)))
        echo = json.loads(next_frame(sock, buffer).payload)
        assert (echo["message"], echo["client_id"]) == ("hand-made", "raw")

        sock.sendall(encode_frame(Opcode.PING, b"still there?", mask=os.urandom(4)))
        assert next_frame(sock, buffer) == Frame(Opcode.PONG, b"still there?")

        sock.sendall(encode_frame(Opcode.CLOSE, close_payload(1000, "bye"), mask=os.urandom(4)))
        answer = next_frame(sock, buffer)
        assert answer.opcode == Opcode.CLOSE and parse_close(answer.payload) == (1000, "bye")
        assert sock.recv(1) == b""


def test_the_chat_server_refuses_an_unmasked_frame(chat_server):
    with socket.create_connection(("127.0.0.1", chat_server.port), timeout=5) as sock:
        buffer = bytes(hand_made_handshake(sock, chat_server.port)[2])
        sock.sendall(encode_frame(Opcode.TEXT, b'{"message": "no mask"}'))
        frames = []
        while True:
            result = decode_frame(buffer)
            if result is None:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
                continue
            frame, used = result
            frames.append(frame)
            buffer = buffer[used:]
        assert frames[-1].opcode == Opcode.CLOSE
        assert parse_close(frames[-1].payload)[0] == protocol.CloseCode.PROTOCOL_ERROR


# -- the figures of elective E1 -------------------------------------------------------------------


def _texts(fig) -> str:
    texts = [text.get_text() for ax in fig.axes for text in ax.texts]
    return "\n".join([fig.get_suptitle(), *texts])


@pytest.mark.parametrize("size, words", [
    (17, "= 17 bytes"),
    (300, "= 126: a 16-bit length follows"),
    (70000, "= 127: a 64-bit length follows"),
])
def test_frame_layout_fills_in_a_real_frame(size, words):
    frame = encode_frame(Opcode.TEXT, b"x" * size, mask=b"\x12\x34\x56\x78")
    texts = _texts(frame_layout(frame))
    assert words in texts and "12 34 56 78" in texts and f"({len(frame)} bytes)" in texts


def test_frame_layout_without_an_example_names_every_field():
    texts = _texts(frame_layout())
    for field in ("FIN", "RSV1", "RSV2", "RSV3", "opcode", "MASK", "payload len",
                  "extended payload length", "masking key", "payload data"):
        assert field in texts
    with pytest.raises(ValueError):
        frame_layout(b"\x81\x05He")


def test_traffic_chart_labels_every_row():
    rows = [{"how": "poll every 50 ms", "requests": 20, "up": 3000, "down": 3100, "delay_ms": 30},
            {"how": "WebSocket push", "requests": 1, "up": 207, "down": 949, "delay_ms": 1}]
    fig = traffic_chart(rows, updates=20)
    texts = _texts(fig)
    for words in ("6,100 B", "1,156 B", "30 ms", "(20 updates)"):
        assert words in texts
    assert [label.get_text() for label in fig.axes[0].get_yticklabels()] == [
        "poll every 50 ms", "WebSocket push"]
