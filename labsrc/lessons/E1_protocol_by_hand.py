# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # E1 · The protocol by hand: a WebSocket, byte by byte
#
# **Time:** 125 minutes (55 teaching, 70 exercises) · **Builds on:**
# [01 · A first endpoint](01_first_endpoint.ipynb): the lecture's calls, and `BackgroundServer`.
# An elective: take it any time after the core track.
#
# In the lecture, the browser calls `ws.send(JSON.stringify({message: message}))` and the
# server answers with `websocket.receive_text()` and `send_text()`. Under those calls there is
# no magic: an HTTP request that asks to switch protocols, then small *frames* of bytes going
# both ways on the same TCP connection. In this lesson you build those bytes yourself, send
# them over a plain socket to the kit's real chat server, and read its answers, byte by byte.
# Once you have done that, nothing a WebSocket library does will look mysterious.
#
# ## Questions
#
# - Why does a chat use a WebSocket rather than asking the server again and again?
# - What bytes does a WebSocket actually send, from the handshake to the close?
#
# ## Learning objectives
#
# - Explain, with numbers you measured, why a chat pushes over a WebSocket instead of asking
#   the server again and again over HTTP.
# - Do the opening handshake by hand, and compute the server's `Sec-WebSocket-Accept` proof.
# - Encode a masked frame as a client must, and decode the frames a server sends, at every
#   length size.
# - Use the control frames: send a ping and read the pong, close with a code, and know the close
#   codes that matter.

# %% [markdown]
# ## 1. Why WebSockets: polling against push, measured
#
# HTTP is request and response: the server can only *answer*. A chat client needs to learn that
# something happened, and there are two ways to do that:
#
# - **polling**: ask the server again and again, "anything new since update *k*?";
# - **push**: keep one connection open, and let the server send each update when it happens.
#   That is what a WebSocket is for.
#
# Let us measure both on the same job. The small app below publishes 20 updates, one every
# 50 ms. `GET /updates?after=k` answers with the updates newer than *k* (for polling), and the
# WebSocket `/live` sends each update as it is published (push). It runs in a
# `BackgroundServer`: uvicorn in a thread of its own, so the notebook stays free while it serves
# (core lesson 01 explains why a notebook needs that).

# %%
# %matplotlib inline
import asyncio
import json
import statistics
import time

import httpx2
import websockets
from fastapi import FastAPI, WebSocket

from wslab.runner import BackgroundServer

UPDATES = 20  # how many updates the feed publishes
EVERY = 0.05  # seconds between two updates


class Feed:
    """Update n is published at start + n * EVERY; both endpoints read the same clock."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self.start = time.monotonic()

    def due(self, n: int) -> float:
        return self.start + n * EVERY

    def published(self) -> int:
        return min(UPDATES, int((time.monotonic() - self.start) / EVERY))

    def update(self, n: int) -> dict:
        return {"n": n, "headline": f"Update {n} of {UPDATES}"}


feed = Feed()
feed_app = FastAPI()


@feed_app.get("/updates")
async def updates(after: int = 0) -> list[dict]:
    return [feed.update(n) for n in range(after + 1, feed.published() + 1)]


@feed_app.websocket("/live")
async def live(websocket: WebSocket) -> None:
    await websocket.accept()
    for n in range(1, UPDATES + 1):
        await asyncio.sleep(max(0.0, feed.due(n) - time.monotonic()))
        await websocket.send_json(feed.update(n))
    await websocket.close()


feed_server = BackgroundServer(feed_app, name="lesson01-feed").start()
feed_server

# %% [markdown]
# To count exactly what each way costs, the clients do not talk to the server directly: they
# connect to a tiny *relay* that passes every byte on, in both directions, and counts it. So
# the counts below are everything TCP carried for the client: request lines, HTTP headers,
# bodies, the WebSocket handshake and every frame header. (The TCP/IP packet headers underneath
# come on top, for both ways alike.) You do not need to understand the relay to follow the
# lesson; it is a nice example of `asyncio` streams if you are curious.

# %%
class ByteCounter:
    """A relay in front of a server: it forwards every byte, and counts them each way."""

    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.up = 0  # bytes from the client to the server
        self.down = 0  # bytes from the server to the client
        self._relays: set[asyncio.Task] = set()

    async def __aenter__(self) -> "ByteCounter":
        self._listener = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._listener.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._listener.close()
        if self._relays:  # let the last bytes of each connection through
            await asyncio.wait(self._relays, timeout=2)

    async def _relay(self, client_reader, client_writer) -> None:
        self._relays.add(asyncio.current_task())
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.server_port)
        await asyncio.gather(self._pipe(client_reader, server_writer, "up"),
                             self._pipe(server_reader, client_writer, "down"))

    async def _pipe(self, reader, writer, direction: str) -> None:
        try:
            while data := await reader.read(65536):
                setattr(self, direction, getattr(self, direction) + len(data))
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


# %% [markdown]
# The two clients. The polling client asks, handles what is new, waits `every` seconds, and
# asks again, until it has all 20 updates; it reuses one TCP connection (HTTP keep-alive), as
# browsers do. The push client opens one WebSocket and reads until the server closes it. Both
# note when each update arrived, to measure its *delay*: the time from its publication to the
# moment the client has it.

# %%
async def poll(every: float) -> dict:
    arrived, requests, empty, after = {}, 0, 0, 0
    async with ByteCounter(feed_server.port) as counter:
        # trust_env=False: ignore proxy settings, this traffic stays on this machine
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{counter.port}",
                                      trust_env=False) as client:
            while after < UPDATES:
                new = (await client.get("/updates", params={"after": after})).json()
                requests += 1
                if not new:
                    empty += 1  # asked for nothing
                for update in new:
                    arrived[update["n"]] = time.monotonic()
                    after = update["n"]
                if after < UPDATES:
                    await asyncio.sleep(every)
    delay = statistics.mean(arrived[n] - feed.due(n) for n in arrived)
    return {"how": f"poll every {every * 1000:g} ms", "requests": requests, "empty": empty,
            "up": counter.up, "down": counter.down, "delay_ms": delay * 1000}


async def push() -> dict:
    arrived = {}
    async with ByteCounter(feed_server.port) as counter:
        async with websockets.connect(f"ws://127.0.0.1:{counter.port}/live") as ws:
            async for message in ws:  # ends when the server closes the connection
                arrived[json.loads(message)["n"]] = time.monotonic()
    delay = statistics.mean(arrived[n] - feed.due(n) for n in arrived)
    return {"how": "WebSocket push", "requests": 1, "empty": 0,
            "up": counter.up, "down": counter.down, "delay_ms": delay * 1000}


# %% [markdown]
# Now run the four clients on the same 20 updates, one after the other (about four seconds):
# polling every 200 ms, every 50 ms (as often as updates come) and every 10 ms, then push.
# Your numbers will differ a little from run to run and from your neighbour's; the picture will
# not.

# %%
from wslab.figures.traffic import traffic_chart

rows = []
for every in (0.2, 0.05, 0.01):
    feed.restart()  # the same 20 updates for each client
    rows.append(await poll(every))
feed.restart()
rows.append(await push())

print(f"{'':20}{'requests':>9}{'empty':>7}{'bytes up':>10}{'bytes down':>12}{'delay':>9}")
for row in rows:
    print(f"{row['how']:20}{row['requests']:9}{row['empty']:7}{row['up']:10,}{row['down']:12,}"
          f"{row['delay_ms']:7.0f} ms")
traffic_chart(rows, updates=UPDATES)

# %% [markdown]
# What the numbers say:
#
# - **Polling trades requests for delay.** Poll slowly and an update waits, on average, half a
#   polling interval before anyone asks for it. Poll fast and the delay shrinks, but most
#   answers are empty (`[]`), and each one still costs a full request and response: about 350
#   bytes of HTTP headers, for nothing. A browser sends more still (cookies, user agent,
#   accept headers): often 500 to 1000 bytes per request.
# - **Push pays once.** One HTTP request (the handshake), then each update costs its JSON plus a
#   frame header of 2 bytes. The delay is only the time the bytes take to travel.
# - **It scales with people.** 30 students polling every 50 ms make 600 requests per second,
#   most of them answered with "nothing new". 30 open WebSockets, while nobody talks, cost
#   the server its memory for each connection (about 23 KiB in uvicorn) and one ping every 20
#   seconds: not nothing, but far less than 600 requests a second.
#
# Polling is not always wrong: for a dashboard that changes once a minute it is simpler, and it
# works through any proxy. A chat is the opposite case: messages must arrive at once, and
# clients talk as well as listen, so the lecture uses a WebSocket, and so does this kit.

# %% [markdown]
# ## 2. The opening handshake
#
# A WebSocket starts as an ordinary HTTP request. The client asks the server to switch this
# TCP connection from HTTP to the WebSocket protocol (RFC 6455):

# %%
from wslab.protocol import handshake_request, new_key

key = new_key()  # 16 random bytes in base64: new for every connection
print(handshake_request("127.0.0.1:8000", "/ws/ada", key).decode())

# %% [markdown]
# | header | why it is there |
# |---|---|
# | `GET /ws/ada HTTP/1.1` | the path of the WebSocket endpoint: the lecture's `/ws/{client_id}` |
# | `Upgrade: websocket`, `Connection: Upgrade` | "please switch this connection to the WebSocket protocol" |
# | `Sec-WebSocket-Key` | a random value the server must transform, to prove it understood |
# | `Sec-WebSocket-Version: 13` | the version of RFC 6455 (the only one in use) |
#
# A server that agrees answers `101 Switching Protocols`, with a header
# `Sec-WebSocket-Accept`: the client's key with a fixed string appended (the GUID
# `258EAFA5-E914-47DA-95CA-C5AB0DC85B11`, the same for every server in the world), hashed with
# SHA-1, and base64-encoded. From then on, the connection carries frames instead of HTTP.
#
# Why the proof? A server that does not speak WebSocket, or a cache that replays an old
# response, cannot compute it, so the client never mistakes a plain HTTP answer for an open
# WebSocket. It is **not** security: anyone can compute it. Who may connect is a different
# question, answered by the application (the kit's chat server can require a join token).
#
# ## 3. Exercise 1: compute `Sec-WebSocket-Accept`
#
# Write `accept_key(client_key)`. RFC 6455 gives an example you can try by hand: for the key
# `dGhlIHNhbXBsZSBub25jZQ==` the answer is `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.

# %%
import base64
import hashlib

from wslab.protocol import GUID


### BEGIN SOLUTION
### SOURCE wslab.protocol:accept_key
### END SOLUTION
### BEGIN STUB
def accept_key(client_key: str) -> str:
    """The Sec-WebSocket-Accept value a server answers to the client's Sec-WebSocket-Key."""
    # TODO: append GUID to client_key (as text: do not decode the key), take the SHA-1 of
    # those bytes, base64-encode the raw 20-byte digest, and return that as a str.
    # Hint: hashlib.sha1(some_bytes).digest() and base64.b64encode(raw).decode().
    raise NotImplementedError("exercise: accept_key")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.protocol import check_accept_key

checked_accept_key = check_accept_key(accept_key)

# %% [markdown]
# As in lesson 00, the check gives back what the rest of the lesson uses, under a name of its
# own: `checked_accept_key` is your `accept_key` once it passes, and the kit's until then. The
# same goes for `checked_encode_frame` and `checked_decode_frame` below.
#
# ### The handshake against the real chat server
#
# Now do it for real. The next cell starts the kit's chat server (`wslab.chat.create_app()`,
# the one the whole workshop builds towards), opens a plain TCP socket to it (no WebSocket
# library at all), writes the handshake, and reads the answer until the empty line that ends
# HTTP headers. Then `checked_accept_key`, yours if it passed, checks the server's proof.
# (`history_on_join=0`: the server sends a newcomer no earlier lines of the room after its
# greeting, so each frame read below is the one this lesson asks for.)

# %%
import socket

from wslab.chat import create_app
from wslab.protocol import parse_handshake_response, split_http_head
from wslab.settings import ChatSettings

chat = BackgroundServer(create_app(ChatSettings(history_on_join=0)),
                        name="lesson01-chat").start()

sock = socket.create_connection(("127.0.0.1", chat.port), timeout=5)
key = new_key()
sock.sendall(handshake_request(f"127.0.0.1:{chat.port}", "/ws/ada", key))

received = b""
while split_http_head(received) is None:  # read until the empty line after the headers
    received += sock.recv(4096)
head, rest = split_http_head(received)
response = parse_handshake_response(head)

print(head.decode().rstrip())
print()
print("Sec-WebSocket-Accept is right:",
      response.headers["sec-websocket-accept"] == checked_accept_key(key))
print("bytes received after the headers, in the same reads:", len(rest))
sock.close()  # hang up for now: section 8 shows how to leave politely

# %% [markdown]
# The `date` and `server` lines are uvicorn's. Now the last line: it may say 0, or a number
# such as 177. The chat server greets every newcomer the moment the handshake is done, so its
# first frame can arrive in the same read as the `101` response, right behind the empty line.
# A client must keep those bytes: they are the start of the WebSocket conversation, not HTTP.
# (This is why `split_http_head` returns the rest instead of throwing it away.)
#
# ## 4. Frames
#
# After the `101`, both sides send *frames*. A frame is a header of 2 bytes, sometimes a few
# more bytes of length, a masking key on frames from the client, and then the payload:

# %%
from wslab.figures.frame import frame_layout

frame_layout()

# %% [markdown]
# Each field, in the order of the bytes:
#
# - **FIN**: 1 when this frame ends a message. A long message may be sent as several frames
#   (*fragments*): the first carries the opcode, the others opcode 0 (continuation), and only
#   the last has FIN = 1. Chat lines always fit one frame.
# - **RSV1-3**: reserved for extensions agreed in the handshake (compression uses RSV1).
#   The kit's servers turn compression off, so they are always 0 here.
# - **opcode**: what the frame carries (the table below).
# - **MASK and payload len**: one bit that says whether a masking key follows, and 7 bits of
#   length. Seven bits count up to 127, so the values 126 and 127 are codes: **126** means "the
#   length is in the next 2 bytes", **127** means "in the next 8 bytes". Lengths are written
#   *big-endian* (most significant byte first, also called network byte order):
#   `struct.pack("!H", n)` or `n.to_bytes(2, "big")`.
# - **masking key and payload**: every frame from a client **must** be masked: the client picks
#   4 random bytes for each frame, writes them before the payload, and XORs payload byte *i*
#   with key byte *i % 4*. A server must close the connection on an unmasked client frame, and
#   must never mask its own frames.
#
# The opcodes:
#
# | opcode | name | carries |
# |---|---|---|
# | `0x1` | text | UTF-8 text, such as the chat's JSON: what `send_text()` sends |
# | `0x2` | binary | any bytes: what `send_bytes()` sends |
# | `0x0` | continuation | the next piece of a fragmented message |
# | `0x8` | close | "I am closing": a 2-byte code and a reason (section 8) |
# | `0x9` | ping | "are you there?": at most 125 bytes, which the other side sends back in a pong |
# | `0xA` | pong | the answer to a ping |
#
# Close, ping and pong are *control frames*: never fragmented, at most 125 bytes, and allowed
# in the middle of a fragmented message.
#
# Why masking? It is not encryption: the key travels right next to the data. It protects
# old proxies and caches on the way. A web page controls the payload its script sends; without
# masking, a malicious page could make its frames look like an HTTP request, and a proxy that
# does not understand WebSockets might cache a response the attacker chose, for everyone behind
# it. Researchers found real proxies that could be fooled this way (the paper *Talking to
# Yourself for Fun and Profit*, 2010-2011), and RFC 6455 made masking mandatory in answer. With a
# fresh random key per frame, the bytes on the wire are unpredictable to the page that wrote
# them.
#
# ## 5. Exercise 2: encode a frame
#
# Write `encode_frame(opcode, payload, mask=..., fin=...)`: the bytes of one frame. With a
# `mask` (4 bytes), it is a client's frame: MASK bit set, key written, payload masked. With
# `mask=None`, a server's frame. The RFC's example: the text `Hello`, masked with the key
# `37 fa 21 3d`, is `81 85 37 fa 21 3d 7f 9f 4d 51 58`.

# %%
import struct

# Optional: MAX_CONTROL_PAYLOAD and ProtocolError, to refuse a control frame that is too long.
from wslab.protocol import MAX_CONTROL_PAYLOAD, Opcode, ProtocolError


### BEGIN SOLUTION
### SOURCE wslab.protocol:apply_mask


### SOURCE wslab.protocol:encode_frame
### END SOLUTION
### BEGIN STUB
def encode_frame(opcode: int, payload: bytes, *, mask: bytes | None = None,
                 fin: bool = True) -> bytes:
    """The bytes of one frame carrying `payload`; masked with `mask` if one is given."""
    # TODO: build the frame, field by field, as in the figure:
    #   byte 0: 0x80 if fin, OR-ed with the opcode
    #   byte 1: 0x80 if a mask is given, OR-ed with the length if it is at most 125,
    #           else with 126 (then 2 bytes of length) or 127 (then 8 bytes of length)
    #   then the 4 mask bytes, if a mask is given
    #   then the payload; if masked, byte i XOR-ed with mask[i % 4]
    # Hint: bytes([a, b]) makes 2 bytes; struct.pack("!H", n) and struct.pack("!Q", n) make
    # 2 and 8 bytes, big-endian; bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) masks.
    raise NotImplementedError("exercise: encode_frame")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.protocol import check_encode_frame

checked_encode_frame = check_encode_frame(encode_frame)

# %% [markdown]
# Here is the frame your function makes for a chat line, as the lecture's page sends it
# (`ws.send(JSON.stringify({message: ...}))`), drawn field by field. The masking key is new
# every time you run the cell, and so are the masked payload bytes.

# %%
import os

line = json.dumps({"message": "Hello from hand-made bytes!"}).encode()
chat_frame = checked_encode_frame(Opcode.TEXT, line, mask=os.urandom(4))
frame_layout(chat_frame)

# %% [markdown]
# ## 6. Exercise 3: decode a frame
#
# Reading is harder than writing for one reason: **TCP delivers a stream of bytes, not
# frames.** One `recv()` may return half a frame, or three frames and the start of a fourth.
# So a decoder looks at the bytes it has so far and says either "here is one frame, and it used
# this many bytes" or "not enough bytes yet". The caller keeps what is left for the next frame.
#
# Write `decode_frame(data)`: return `(Frame(opcode, payload, fin=...), bytes_used)` for the
# frame at the start of `data`, or `None` while `data` does not hold the whole frame. Unmask the
# payload if the MASK bit is set (a server reads client frames this way), so it works in both
# directions. `Frame` comes from `wslab.protocol`; `apply_mask(data, key)` does the XOR for you.

# %%
from wslab.protocol import Frame, apply_mask


### BEGIN SOLUTION
### SOURCE wslab.protocol:decode_frame
### END SOLUTION
### BEGIN STUB
def decode_frame(data: bytes) -> tuple[Frame, int] | None:
    """The frame at the start of `data` and the bytes it used; None if it is not all there."""
    # TODO: read the parts in order, checking before each one that len(data) is long enough
    # (if not, return None):
    #   fin = bool(data[0] & 0x80), opcode = data[0] & 0x0F
    #   masked = bool(data[1] & 0x80), length = data[1] & 0x7F
    #   if length is 126 or 127, the real length is in the next 2 or 8 bytes (big-endian:
    #   struct.unpack("!H", ...)[0] or struct.unpack("!Q", ...)[0])
    #   if masked, the 4-byte key comes next; then `length` bytes of payload (unmask them)
    # Return (Frame(opcode, payload, fin=fin), the number of bytes the frame used).
    raise NotImplementedError("exercise: decode_frame")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.protocol import check_decode_frame

checked_decode_frame = check_decode_frame(decode_frame)

# %% [markdown]
# ## 7. Talk to the chat server in frames
#
# Time to use your three functions together on the real server. Two helpers first: the
# handshake from section 3 packed into a function, and a `receive_frame` that does what
# section 6 described: try to decode, and if that gives `None`, read more bytes.
#
# One thing the server does that you must know: it sends a *ping* every 20 seconds, and drops a
# client that has not answered with a pong 20 seconds later. Our raw sockets answer nothing
# while no cell runs, so each cell below opens its own connection and ends it at once.

# %%
from wslab.protocol import describe_frame


def open_raw_websocket(path: str) -> tuple[socket.socket, bytearray]:
    """Connect to the chat server and do the handshake; return the socket and any bytes
    that arrived after the HTTP headers (the start of the first frame)."""
    sock = socket.create_connection(("127.0.0.1", chat.port), timeout=5)
    key = new_key()
    sock.sendall(handshake_request(f"127.0.0.1:{chat.port}", path, key))
    received = b""
    while split_http_head(received) is None:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection during the handshake")
        received += chunk
    head, rest = split_http_head(received)
    response = parse_handshake_response(head)
    accept = response.headers.get("sec-websocket-accept")
    if response.status != 101 or accept != checked_accept_key(key):
        raise ConnectionError(f"the handshake failed: {head.decode(errors='replace')}")
    return sock, bytearray(rest)


def receive_frame(sock: socket.socket, buffer: bytearray) -> tuple[Frame, bytes]:
    """The next frame from `sock`, and its raw bytes. `buffer` keeps bytes read too early."""
    while True:
        result = checked_decode_frame(bytes(buffer))
        if result is not None:
            frame, used = result
            raw = bytes(buffer[:used])
            del buffer[:used]  # what follows belongs to the next frame
            return frame, raw
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the TCP connection")
        buffer += chunk


# %% [markdown]
# Now connect as `ada`, send the chat line you encoded above, and read two frames: the
# server's greeting, and the chat line as the server relays it to everyone in the room
# (including you). For each frame, `describe_frame` shows its bytes field by field, and then
# the JSON your decoder found in it.

# %% tags=["nbval-check-output"]
sock, buffer = open_raw_websocket("/ws/ada")
sock.sendall(chat_frame)  # made by your encode_frame

for _ in range(2):
    frame, raw = receive_frame(sock, buffer)  # decoded by your decode_frame
    print(describe_frame(raw))
    print("JSON:", json.loads(frame.payload))
    print()
sock.close()

# %% [markdown]
# The server accepted your hand-made frame, and your decoder read its answers. Notice the
# differences between the two directions: your frame had `MASK=1` and a key; the server's have
# `MASK=0` and no key. The greeting is longer than 125 bytes, so its byte 1 says 126 and the
# next 2 bytes hold the real length.
#
# ## 8. Ping, pong and closing
#
# **Ping and pong** keep a connection honest. Either side may send a ping; the other must answer
# with a pong carrying the same payload, as soon as it can. A server uses them to find clients
# that vanished without a word (a laptop lid closed, Wi-Fi gone): a dead TCP connection does not
# announce itself. Send a ping by hand:

# %% tags=["nbval-check-output"]
sock, buffer = open_raw_websocket("/ws/ada")
receive_frame(sock, buffer)  # the greeting comes first: skip it

sock.sendall(checked_encode_frame(Opcode.PING, b"are you there?", mask=os.urandom(4)))
pong, raw = receive_frame(sock, buffer)
print(describe_frame(raw))
sock.close()

# %% [markdown]
# **Closing** is a handshake too. The side that wants to leave sends a close frame with a
# *close code* (2 bytes, big-endian) and an optional reason in UTF-8. The other side answers
# with a close frame of its own, and then the server closes the TCP connection. Until now we
# simply hung up; here is the polite way:

# %% tags=["nbval-check-output"]
from wslab.protocol import CloseCode, close_payload, parse_close

sock, buffer = open_raw_websocket("/ws/ada")
receive_frame(sock, buffer)  # the greeting

sock.sendall(checked_encode_frame(Opcode.CLOSE, close_payload(1000, "bye for now"),
                                  mask=os.urandom(4)))
answer, raw = receive_frame(sock, buffer)
code, reason = parse_close(answer.payload)
print(describe_frame(raw))
print(f"The server answered with {code} ({CloseCode(code).name}), reason {reason!r}.")
closed = sock.recv(1) == b""  # recv() returns b"" once the other side has closed TCP
print("Then the TCP connection was", "closed by the server." if closed else "still open?")
sock.close()

# %% [markdown]
# A server closes too, with a code that says why. Two examples from the real server: a frame
# sent **without a mask** (the mistake the check for exercise 2 warns about), and a frame whose
# header announces **70,000 bytes**, more than this server accepts in one message. For the
# second, we send only the header: the server refuses from the length alone, before the payload
# would even arrive.

# %% tags=["nbval-check-output"]
sock, buffer = open_raw_websocket("/ws/ada")
receive_frame(sock, buffer)
no_mask = checked_encode_frame(Opcode.TEXT, b'{"message": "no mask"}')  # no mask: not allowed
sock.sendall(no_mask)
answer, raw = receive_frame(sock, buffer)
print("unmasked frame  ->", parse_close(answer.payload))
sock.close()

sock, buffer = open_raw_websocket("/ws/ada")
receive_frame(sock, buffer)
too_big = checked_encode_frame(Opcode.TEXT, b"x" * 70_000, mask=os.urandom(4))
sock.sendall(too_big[:14])  # the header only: 2 bytes, 8 bytes of length, 4 of key
answer, raw = receive_frame(sock, buffer)
print("70,000 bytes    ->", parse_close(answer.payload))
sock.close()

# %% [markdown]
# The close codes you will meet in this workshop:
#
# | code | name | sent when | where you meet it |
# |---|---|---|---|
# | 1000 | normal closure | a side is done | `websocket.close()`'s default; the close you just did |
# | 1001 | going away | a server shuts down, a browser leaves the page | closing a tab with the chat open |
# | 1002 | protocol error | the peer broke the protocol | the unmasked frame above |
# | 1005, 1006 | no status, abnormal closure | **never sent**: a library *reports* them when a close frame had no code (1005), or when TCP ended without any close frame (1006) | `WebSocketDisconnect.code` when a client just hangs up (uvicorn reports 1005 there); a client whose server crashed sees 1006 |
# | 1008 | policy violation | the application refuses the client | the kit's chat: a bad client id, or a wrong join token |
# | 1009 | message too big | a message exceeds the receiver's limit | the 70,000 bytes above |
# | 1011 | internal error | the server hit an unexpected condition | uvicorn, when a client stops answering pings |
# | 1012 | service restart | the server is restarting | every client, when a `BackgroundServer` stops |
# | 4408 | (the kit's own) too slow | a client does not read its messages and its queue is full | core lesson 02 |
# | 4409 | (the kit's own) replaced | the same client id connected again: the newer connection wins | the kit's chat server, on a reconnect |
#
# Codes from 4000 to 4999 are free for applications: that is where the kit puts its own.
#
# ## 9. What FastAPI does for you
#
# Everything you did by hand in this lesson happens inside each of the lecture's calls:
#
# | the lecture's call | what happens on the wire |
# |---|---|
# | `await websocket.accept()` | the server sends the `101` response with `Sec-WebSocket-Accept` (section 3) |
# | `await websocket.receive_text()` | read frames, unmask them, join fragments, answer pings, until one whole text message is there (sections 6 and 8) |
# | `await websocket.send_text(data)` | one text frame, unmasked (section 5) |
# | `except WebSocketDisconnect as exc` | a close frame arrived (`exc.code` is its code), or the TCP connection ended without one (1005 or 1006, see the table above) |
#
# You wrote the server side of this with FastAPI in core lesson 01, without touching a byte;
# now you know exactly what each of its calls puts on the wire.
#
# ## Clean up
#
# Stop both servers of this lesson.

# %%
feed_server.stop()
chat.stop()

# %% [markdown]
# ## Key points
#
# - Polling costs a full HTTP request and response per question, even when the answer is
#   "nothing new", and delays each update by about half the polling interval. A WebSocket pays
#   one handshake, then 2 to 14 bytes of header per message, and delivers at once.
# - A WebSocket opens with an HTTP `GET` carrying `Upgrade: websocket` and a random key; the
#   server's `101` answer proves it understood with base64(SHA-1(key + GUID)).
# - After that, both sides send frames: FIN, opcode, MASK, a 7-bit length (126: 16 more bits,
#   127: 64 more bits, big-endian), a masking key on client frames only, and the payload.
# - TCP is a stream: a decoder must cope with half a frame or several at once, and keep the
#   bytes it has not used.
# - Ping and pong detect dead connections; a close frame carries a code: 1000 normal,
#   1001 going away, 1008 policy, 1009 too big, 1011 server error, 1012 restart, 4000-4999 for
#   applications.
#
# **Next:** another elective, or back to the core track (the README lists them all).
#
# The last cell sums up your exercises, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.progress import show_progress
from wslab.checks.protocol import EXERCISES

progress = await show_progress(EXERCISES, globals())
