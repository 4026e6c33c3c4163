"""Bad input and faults: the offender gets a clear error, everyone else keeps chatting.

Each test asserts both halves: what the offender saw, and that the others still hear each other
in full. What the room does with a bad frame is tested on the app itself, in memory
(``peers.Room``), and a few of those frames again through a real uvicorn server on loopback with
real ``websockets`` clients. The faults of the wire itself (an oversized frame, a reset, a
client that stops reading, keepalive) need the real server.
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


def through(server):
    """Joins through a real server: ``client_id`` -> a connected ``peers.Peer``."""
    return lambda client_id: join(server.ws_url, client_id)


async def trio(joins):
    """The offender and two bystanders, all joined and past each other's join messages."""
    eve = await joins("eve")
    alice = await joins("alice")
    bob = await joins("bob")
    return eve, alice, bob


async def assert_refused(joins, frame, code, *, words=()):
    """eve sends ``frame``: she alone hears why it was refused, and everyone chats on."""
    eve, alice, bob = await trio(joins)
    await eve.send_raw(frame)
    error = await eve.error()
    assert error["client_id"] == "system" and error["code"] == code, error
    for word in words:
        assert word in error["message"], error
    await still_chatting(alice, bob, eve)
    await still_chatting(eve, alice, bob, text="sorry, my client is fine now")
    for peer in (alice, bob):
        assert all(m.get("type") != "error" for m in peer.heard if isinstance(m, dict))
        assert all(m.get("type") != "error" for m in await peer.silence() if isinstance(m, dict))


def case(frame, code, *words, id, **settings):
    return pytest.param(frame, code, words, settings, id=id)


#: Every frame the chat refuses, what it says (its code and words), and the settings it needs.
BAD_FRAMES = [
    *(case(frame, "not_an_object", kind, id=f"json-{kind.replace(' ', '-')}")
      for frame, kind in [("[1, 2, 3]", "a list"), ("42", "a number"), ('"hello"', "a string"),
                          ("null", "null"), ("true", "a boolean")]),
    case(json.dumps({"text": "hi"}), "missing_message", id="missing-message"),
    *(case(json.dumps({"message": value}), "message_not_text", id=f"message-{name}")
      for name, value in [("number", 123), ("null", None), ("list", ["hi"]),
                          ("object", {"nested": "hi"})]),
    *(case(json.dumps({"message": text}), "empty_message", id=f"empty-{n}")
      for n, text in enumerate(["", "   ", "\n\t"])),
    case(json.dumps({"message": "é" * 51}), "message_too_long", "102 bytes", "100",
         id="json-over-the-size-limit", max_message_bytes=100),
    case("x" * 101, "message_too_long", id="plain-text-over-the-size-limit",
         max_message_bytes=100),
    case(b"\x00\x01binary", "binary_not_supported", id="binary"),
    # The client cannot set the fields the server sets.
    *(case(json.dumps({"message": "I am the system now", field: "system"}), "reserved_field",
           field, id=f"sets-{field}") for field in ["client_id", "timestamp", "type"]),
    # A lone surrogate escape is valid JSON but not text: relayed, no one could be sent it.
    case('{"message": "hi \\ud800"}', "invalid_text", id="half-a-character"),
    case('{"message": NaN}', "invalid_json", id="nan"),
    case('{"message": "x", "n": Infinity}', "invalid_json", id="infinity"),
    # 30,000 levels: deeper than the JSON parser of any supported Python reads (3.13 reads
    # 5,000), and the frame (60 kB) still fits under the server's 64 KiB frame limit.
    case("[" * 30_000 + "]" * 30_000, "invalid_json", id="too-deep"),
    case('{"message": "x", "n": ' + "9" * 5000 + "}", "invalid_json", id="huge-number"),
]

#: The cases also sent through a real server, as uvicorn delivers them off the wire: a binary
#: frame, the largest (60 kB, near the frame limit), two refusals of JSON, and one that depends
#: on a setting.
END_TO_END = {"json-a-list", "missing-message", "binary", "too-deep",
              "json-over-the-size-limit"}


@pytest.mark.parametrize("frame, code, words, settings", BAD_FRAMES)
async def test_a_bad_frame_is_refused_and_the_room_chats_on(start_room, frame, code, words,
                                                            settings):
    room = await start_room(**settings)
    await assert_refused(room.join, frame, code, words=words)


@pytest.mark.parametrize("frame, code, words, settings",
                         [param for param in BAD_FRAMES if param.id in END_TO_END])
async def test_a_bad_frame_through_a_real_server(start_chat, frame, code, words, settings):
    server = start_chat(**settings)
    await assert_refused(through(server), frame, code, words=words)


async def test_frame_larger_than_the_server_maximum(start_chat):
    server = start_chat(max_message_bytes=100)
    eve, alice, bob = await trio(through(server))
    await eve.send_raw(json.dumps({"message": "x" * 70_000}))
    code, reason = await eve.closed()
    assert code == 1009, (code, reason)
    left = await alice.next_of("disconnect")
    assert left["user"] == "eve" and left["participants"] == 2
    await still_chatting(alice, bob)


async def test_flooding_client_is_rate_limited(start_chat):
    server = start_chat(rate_limit=5)
    eve, alice, bob = await trio(through(server))
    for n in range(40):
        await eve.say(f"spam {n}")
    error = await eve.error()
    assert error["code"] == "rate_limited" and "5 messages per second" in error["message"]
    for peer in (alice, bob):
        relayed = [m for m in await peer.silence(0.5) if m.get("client_id") == "eve"]
        assert 5 <= len(relayed) <= 12, len(relayed)  # the burst (10) and a little refill, not 40
    await still_chatting(alice, bob)
    await asyncio.sleep(1.0)  # the bucket refills with time: the wait is the behaviour tested
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
    bob_again = await join(chat_server.ws_url, "bob", resume=bob.welcome["resume"])
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
    # The byte counts decide whether the close frame fits in the buffers before the cut:
    # history_on_join=0, so that no line of the room's history changes them.
    server = start_chat(outbound_queue=4, rate_limit=0, max_message_bytes=60_000,
                        ws_ping_interval=0.3, ws_ping_timeout=0.3, history_on_join=0)
    alice, lazy = await evict_lazy_reader(server)
    try:
        # A ping goes out, no pong comes back: the server gives up. A fixed time, as nothing
        # shows that moment without reading from the socket, and reading would let the close
        # frame through (uvicorn forgets the connection before it gives up on its transport).
        await asyncio.sleep(1.5)
        # In a thread: alice's client must keep answering the server's pings meanwhile.
        frames = await asyncio.to_thread(read_frames_until_closed, lazy, 5)  # timeout: never cut
        assert frames and all(f.opcode != protocol.Opcode.CLOSE for f in frames)
        assert server.app.state.room.manager.connection_count == 1
        await alice.silence()
        await still_chatting(alice)
    finally:
        lazy.close()
