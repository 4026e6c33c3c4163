"""Bad input and faults: the offender gets a clear error, everyone else keeps chatting.

Each test runs a real uvicorn server on loopback and real ``websockets`` clients, and asserts
both halves: what the offender saw, and that the others still hear each other in full.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct

import pytest
import websockets

from peers import join, still_chatting
from wslab import protocol


async def trio(server):
    """The offender and two bystanders, all joined and past each other's join messages."""
    eve = await join(server.ws_url, "eve")
    alice = await join(server.ws_url, "alice")
    bob = await join(server.ws_url, "bob")
    return eve, alice, bob


async def assert_refused(server, frame, code, *, words=()):
    eve, alice, bob = await trio(server)
    await eve.send_raw(frame)
    error = await eve.error()
    assert error["client_id"] == "system" and error["code"] == code, error
    for word in words:
        assert word in error["message"], error
    await still_chatting(alice, bob, eve)
    await still_chatting(eve, alice, bob, text="sorry, my client is fine now")
    for peer in (alice, bob):
        assert all(m.get("type") != "error" for m in await peer.silence() if isinstance(m, dict))


@pytest.mark.parametrize("frame, kind", [
    ("[1, 2, 3]", "a list"), ("42", "a number"), ('"hello"', "a string"),
    ("null", "null"), ("true", "a boolean"),
])
async def test_json_that_is_not_an_object(chat_server, frame, kind):
    await assert_refused(chat_server, frame, "not_an_object", words=(kind,))


async def test_missing_message_field(chat_server):
    await assert_refused(chat_server, json.dumps({"text": "hi"}), "missing_message")


@pytest.mark.parametrize("value", [123, None, ["hi"], {"nested": "hi"}])
async def test_message_that_is_not_a_string(chat_server, value):
    await assert_refused(chat_server, json.dumps({"message": value}), "message_not_text")


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
async def test_empty_message(chat_server, text):
    await assert_refused(chat_server, json.dumps({"message": text}), "empty_message")


async def test_message_over_the_size_limit(start_chat):
    server = start_chat(max_message_bytes=100)
    await assert_refused(server, json.dumps({"message": "é" * 51}), "message_too_long",
                         words=("102 bytes", "100"))


async def test_plain_text_over_the_size_limit(start_chat):
    server = start_chat(max_message_bytes=100)
    await assert_refused(server, "x" * 101, "message_too_long")


async def test_binary_frame(chat_server):
    await assert_refused(chat_server, b"\x00\x01binary", "binary_not_supported")


@pytest.mark.parametrize("field", ["client_id", "timestamp", "type"])
async def test_client_cannot_set_server_fields(chat_server, field):
    forged = {"message": "I am the system now", field: "system"}
    await assert_refused(chat_server, json.dumps(forged), "reserved_field", words=(field,))


async def test_half_a_character_cannot_silence_the_room(chat_server):
    """A lone surrogate escape is valid JSON but not text: relayed, no one could be sent it."""
    await assert_refused(chat_server, '{"message": "hi \\ud800"}', "invalid_text")


@pytest.mark.parametrize("frame", [
    # 30,000 levels: deeper than the JSON parser of any supported Python reads (3.13 reads
    # 5,000), and the frame (60 kB) still fits under the server's 64 KiB frame limit.
    '{"message": NaN}', '{"message": "x", "n": Infinity}', "[" * 30_000 + "]" * 30_000,
    '{"message": "x", "n": ' + "9" * 5000 + "}",
])
async def test_pathological_json(chat_server, frame):
    await assert_refused(chat_server, frame, "invalid_json")


async def test_frame_larger_than_the_server_maximum(start_chat):
    server = start_chat(max_message_bytes=100)
    eve, alice, bob = await trio(server)
    await eve.send_raw(json.dumps({"message": "x" * 70_000}))
    code, reason = await eve.closed()
    assert code == 1009, (code, reason)
    left = await alice.next_of("disconnect")
    assert left["user"] == "eve" and left["participants"] == 2
    await still_chatting(alice, bob)


async def test_flooding_client_is_rate_limited(start_chat):
    server = start_chat(rate_limit=5)
    eve, alice, bob = await trio(server)
    for n in range(40):
        await eve.say(f"spam {n}")
    error = await eve.error()
    assert error["code"] == "rate_limited" and "5 messages per second" in error["message"]
    for peer in (alice, bob):
        relayed = [m for m in await peer.silence(0.5) if m.get("client_id") == "eve"]
        assert 5 <= len(relayed) <= 12, len(relayed)  # the burst (10) and a little refill, not 40
    await still_chatting(alice, bob)
    await asyncio.sleep(1.0)  # the bucket refills: eve may talk again
    await eve.silence()
    await still_chatting(eve, alice, bob)


@pytest.mark.parametrize("client_id, words", [
    ("x" * 65, "65 characters"), ("bad%20id", "letters, digits"), ("b%C3%B8b", "letters, digits"),
    ("a.b", "letters, digits"), ("system", "reserved"),
])
async def test_invalid_client_id_is_refused_with_a_reason(chat_server, client_id, words):
    alice = await join(chat_server.ws_url, "alice")
    bob = await join(chat_server.ws_url, "bob")
    ws = await websockets.connect(f"{chat_server.ws_url}/ws/{client_id}")
    error = json.loads(await asyncio.wait_for(ws.recv(), 3))
    assert error["type"] == "error" and error["code"] == "bad_client_id"
    assert words in error["message"]
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 3)
    assert ws.protocol.close_rcvd.code == 1008 and words in ws.protocol.close_rcvd.reason
    assert [m for m in await alice.silence() if m.get("user") not in (None, "bob")] == []
    await still_chatting(alice, bob)


async def test_empty_client_id_finds_no_endpoint(chat_server):
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(f"{chat_server.ws_url}/ws/")
    assert refused.value.response.status_code in (403, 404)


async def test_second_connection_with_the_same_id_replaces_the_first(chat_server):
    alice = await join(chat_server.ws_url, "alice")
    bob = await join(chat_server.ws_url, "bob")
    await alice.next_of("join")
    bob_again = await join(chat_server.ws_url, "bob")
    assert bob_again.welcome["participants"] == 2
    # Said in-band too, for clients behind a proxy that drops close codes.
    assert (await bob.error())["code"] == "replaced"
    code, reason = await bob.closed()
    assert code == 4409 and "newer connection" in reason
    # Nobody left and nobody joined: bob is still here, on his new connection.
    assert [m for m in await alice.silence() if m.get("type") in ("join", "disconnect")] == []
    await still_chatting(bob_again, alice)
    await still_chatting(alice, bob_again)


async def test_peer_that_vanishes_without_a_close_frame(chat_server):
    alice = await join(chat_server.ws_url, "alice")
    bob = await join(chat_server.ws_url, "bob")
    eve = await join(chat_server.ws_url, "eve")
    # Drop eve's TCP connection with a reset: no close frame, as when a laptop lid shuts.
    sock = eve.ws.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    eve.ws.transport.abort()
    left = await alice.next_of("disconnect")
    assert left["user"] == "eve" and left["participants"] == 2
    await still_chatting(alice, bob)
    await still_chatting(bob, alice)


def stalled_client(server, client_id: str) -> socket.socket:
    """A client that completes the handshake and then never reads another byte.

    Its receive buffer is made tiny first, so the server's writes back up quickly, as they
    would behind a frozen laptop on slow Wi-Fi.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(3)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall((f"GET /ws/{client_id} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # the 101 response, to the byte: no frame is read
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def test_client_that_never_reads_is_dropped_alone(start_chat):
    server = start_chat(outbound_queue=8, rate_limit=0, max_message_bytes=60_000)
    alice = await join(server.ws_url, "alice")
    bob = await join(server.ws_url, "bob")
    lazy = stalled_client(server, "lazy")
    try:
        await alice.next_of("join")
        await bob.next_of("join")
        big = "x" * 50_000
        sent, evicted = 0, None
        while evicted is None and sent < 400:
            await alice.say(f"{sent} {big}")
            sent += 1
            for peer in (alice, bob):
                message = await peer.next_of(None, "disconnect")
                if message.get("type") == "disconnect":
                    evicted = message
                    assert (await peer.chat_line())["message"].startswith(f"{sent - 1} ")
                else:
                    assert message["message"].startswith(f"{sent - 1} ")
        assert evicted is not None, f"the stalled client was never dropped ({sent} messages)"
        assert evicted["user"] == "lazy" and "too slow" in evicted["message"]
        assert evicted["participants"] == 2
        await still_chatting(alice, bob)
        await still_chatting(bob, alice)
    finally:
        lazy.close()



def read_frames_until_closed(sock: socket.socket, timeout: float) -> list[protocol.Frame]:
    """Every frame the server sent, read from a raw socket until the connection ends.

    A connection the server aborted ends without a close frame: what was still waiting in the
    server's own buffer, the close frame among it, is thrown away with the connection.
    """
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    frames = []
    while (decoded := protocol.decode_frame(data)) is not None:
        frame, used = decoded
        frames.append(frame)
        data = data[used:]
    return frames


async def evict_lazy_reader(server):
    """alice chats big lines until the server drops the stalled client; return alice, lazy."""
    alice = await join(server.ws_url, "alice")
    lazy = stalled_client(server, "lazy")
    await alice.next_of("join")
    for n in range(400):
        await alice.say(f"{n} " + "x" * 50_000)
        message = await alice.next_of(None, "disconnect")
        if message.get("type") == "disconnect":
            assert message["user"] == "lazy"
            return alice, lazy
    raise AssertionError("the stalled client was never dropped")


async def test_a_dropped_slow_reader_finds_the_close_code_when_it_reads_again(start_chat):
    server = start_chat(outbound_queue=4, rate_limit=0, max_message_bytes=60_000)
    alice, lazy = await evict_lazy_reader(server)
    try:
        lazy.settimeout(5)
        data = b""
        close = None
        while close is None:  # the backlog, then the close frame that waited behind it
            data += lazy.recv(65536)
            while (decoded := protocol.decode_frame(data)) is not None:
                frame, used = decoded
                data = data[used:]
                if frame.opcode == protocol.Opcode.CLOSE:
                    close = protocol.parse_close(frame.payload)
        assert close == (4408, "too slow: stopped reading messages")
    finally:
        lazy.close()


async def test_a_dropped_reader_that_never_reads_again_is_cut_off_by_keepalive(start_chat):
    """uvicorn alone would wait forever to flush its close frame to a peer that never reads."""
    server = start_chat(outbound_queue=4, rate_limit=0, max_message_bytes=60_000,
                        ws_ping_interval=0.3, ws_ping_timeout=0.3)
    alice, lazy = await evict_lazy_reader(server)
    try:
        await asyncio.sleep(1.5)  # a ping goes out, no pong comes back: the server gives up
        # In a thread: alice's client must keep answering the server's pings meanwhile.
        frames = await asyncio.to_thread(read_frames_until_closed, lazy, 5)  # timeout: never cut
        assert frames and all(f.opcode != protocol.Opcode.CLOSE for f in frames)
        assert server.app.state.room.manager.connection_count == 1
        await alice.silence()
        await still_chatting(alice)
    finally:
        lazy.close()
