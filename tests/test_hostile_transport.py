"""What one hostile client can cost the server below the app, against a real server.

Each test sends what a normal client never would (pings it never reads the answers to,
endless continuation frames, tens of thousands of frames at once) over a raw socket, driven
by ``websockets``' sans-I/O client, and checks that the server bounds it: the offender is cut
off or closed with a code and a reason, and the other people in the room still chat.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time

import pytest
import websockets
from fastapi import FastAPI, WebSocket
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from deadlines import scaled
from peers import join
from wslab.chat import create_app
from wslab.runner import BackgroundServer
from wslab.settings import ChatSettings
from wslab.transport_limits import CLOSE_CUTOFF, MAX_FRAGMENTS

pytestmark = pytest.mark.slow


class RawClient:
    """A WebSocket client over a blocking socket that sends what it is told and reads only when
    asked: the sans-I/O protocol of ``websockets`` makes the frames, nothing answers for it."""

    def __init__(self, url: str, receive_buffer: int | None = None) -> None:
        uri = parse_uri(url)
        self.sock = socket.socket()
        if receive_buffer is not None:  # a small window: the server's writes pile up at its end
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(scaled(5))
        self.sock.connect((uri.host, uri.port))
        self.proto = ClientProtocol(uri, max_size=None)
        self.proto.send_request(self.proto.connect())
        self.flush()
        self.events: list = []  # what arrived with the handshake's response
        while self.proto.handshake_exc is None and not self.events:
            self.proto.receive_data(self.sock.recv(65536))
            self.events = self.proto.events_received()
        assert self.proto.handshake_exc is None, self.proto.handshake_exc

    def flush(self) -> None:
        for chunk in self.proto.data_to_send():
            if chunk:
                self.sock.sendall(chunk)

    def frames(self, frames: list[Frame]) -> None:
        """Send ``frames`` in one write."""
        for frame in frames:
            self.proto.send_frame(frame)
        self.flush()

    def close_frame(self) -> tuple[int, str]:
        """Read until the server's close frame; its code and reason."""
        while True:
            for event in self.events:
                if isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                    close = self.proto.close_rcvd
                    return close.code, close.reason
            data = self.sock.recv(65536)
            assert data, "the connection ended without a close frame"
            self.proto.receive_data(data)
            self.events = self.proto.events_received()

    def close(self) -> None:
        self.sock.close()


def flood_pings_until_cut(client: RawClient, limit: float) -> float | None:
    """Send pings without reading anything until the server cuts the connection; return after
    how many seconds, or None if it had not after ``limit`` seconds."""
    start = time.monotonic()
    ping = Frame(Opcode.PING, b"x" * 125)
    client.sock.settimeout(0.2)
    while time.monotonic() - start < limit:
        try:
            client.frames([ping] * 50)
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - start
        except TimeoutError:  # our send buffer is full: the server is not reading either
            pass
    return None


@pytest.fixture
def served():
    servers: list[BackgroundServer] = []

    def start(app: FastAPI) -> BackgroundServer:
        server = BackgroundServer(app, name=f"test-hostile-{len(servers)}").start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def raw_clients():
    clients: list[RawClient] = []

    def connect(url: str, **options) -> RawClient:
        client = RawClient(url, **options)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


def test_a_refused_client_flooding_pings_is_cut_off_soon_after_its_close(served, raw_clients):
    server = served(create_app(ChatSettings(token="secret")))
    client = raw_clients(f"{server.ws_url}/ws/mallory?token=wrong", receive_buffer=4096)
    assert client.close_frame()[0] == 1008  # refused: wrong token
    took = flood_pings_until_cut(client, scaled(CLOSE_CUTOFF + 5))
    assert took is not None, "the server still held the refused connection"


def pong_app(seen: list) -> FastAPI:
    """An app that accepts and then only waits: the transport answers the pings."""
    app = FastAPI()
    app.state.settings = ChatSettings(rate_limit=0)  # no frame limit: only the pongs are bounded

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        seen.append(websocket)
        async for _ in websocket.iter_text():
            pass

    return app


def test_pongs_an_admitted_client_does_not_read_stay_within_the_high_water_mark(served,
                                                                                raw_clients):
    seen: list = []
    server = served(pong_app(seen))
    client = raw_clients(f"{server.ws_url}/ws", receive_buffer=4096)
    ping = Frame(Opcode.PING, b"p" * 125)
    client.sock.settimeout(0.5)
    sent = 0
    try:
        for _ in range(400):  # 20,000 pings: 2.5 MB of pongs, if every one were kept
            client.frames([ping] * 50)
            sent += 50
    except TimeoutError:
        pass
    assert sent >= 1000, "the server stopped reading before the test began"
    transport = seen[0].scope["extensions"]
    proto = transport["wslab.write_frame"].__self__
    _, high = proto.transport.get_write_buffer_limits()
    assert proto.transport.get_write_buffer_size() <= high + 65536 * 2
    # The client reads again: it gets a pong, and the connection is well.
    client.sock.settimeout(scaled(5))
    client.proto.receive_data(client.sock.recv(65536))
    assert any(event.opcode is Opcode.PONG for event in client.proto.events_received())


async def test_a_message_in_endless_empty_fragments_is_closed_with_1009(served, raw_clients):
    server = served(create_app(ChatSettings()))
    client = raw_clients(f"{server.ws_url}/ws/frag")
    client.frames([Frame(Opcode.TEXT, b"{", fin=False)]
                  + [Frame(Opcode.CONT, b"", fin=False)] * (MAX_FRAGMENTS + 10))
    code, reason = client.close_frame()
    assert code == 1009 and f"more than {MAX_FRAGMENTS} fragments" in reason


async def test_a_fragmented_message_past_the_size_limit_is_closed_with_1009(served, raw_clients):
    settings = ChatSettings()
    server = served(create_app(settings))
    client = raw_clients(f"{server.ws_url}/ws/big")
    piece = b"a" * (settings.max_frame_bytes // 4 + 1)
    client.frames([Frame(Opcode.TEXT, piece, fin=False)]
                  + [Frame(Opcode.CONT, piece, fin=False)] * 4)
    code, _ = client.close_frame()
    assert code == 1009


async def test_a_flood_of_tiny_frames_is_closed_and_the_others_get_every_line(served,
                                                                             raw_clients):
    server = served(create_app(ChatSettings()))
    ann, bob = await join(server.ws_url, "ann"), await join(server.ws_url, "bob")
    try:
        flooder = raw_clients(f"{server.ws_url}/ws/flood")
        await asyncio.to_thread(flooder.frames, [Frame(Opcode.TEXT, b"x")] * 30_000)
        said = [f"line {n}" for n in range(20)]
        for text in said:
            await ann.say(text)
            await asyncio.sleep(0.12)  # inside the chat's rate limit
        heard = [(await bob.next_of(None))["message"] for _ in said]
        assert heard == said
        code, reason = await asyncio.to_thread(flooder.close_frame)
        assert code == 1008 and "frames a second" in reason
    finally:
        await ann.ws.close()
        await bob.ws.close()


async def test_the_offences_of_many_flooders_make_a_few_log_lines(served, raw_clients):
    server = served(create_app(ChatSettings()))
    for n in range(10):
        flooder = raw_clients(f"{server.ws_url}/ws/flood{n}")
        await asyncio.to_thread(flooder.frames, [Frame(Opcode.PING, b"")] * 2_000)
        assert (await asyncio.to_thread(flooder.close_frame))[0] == 1008
    lines = [line for line in server.logs(None) if "frames a second" in line]
    assert 1 <= len(lines) <= 3, lines


async def test_an_honest_client_is_never_cut_off(served):
    """Keepalive pings, chat inside the rate limit and a clean close: none of the limits bite."""
    server = served(create_app(ChatSettings()))
    ann = await join(server.ws_url, "ann")
    try:
        for n in range(5):
            await ann.say(f"hi {n}")
            assert (await ann.next_of(None))["message"] == f"hi {n}"
            await asyncio.wait_for(await ann.ws.ping(), scaled(3))
    finally:
        await ann.ws.close()
    assert ann.ws.close_code == 1000
    assert not [line for line in server.logs(None) if "Cut off" in line or "Closed" in line]


async def test_the_frame_limit_is_off_when_the_rate_limit_is(served):
    """The benchmarks run with rate_limit=0, and send as fast as they can."""
    server = served(create_app(ChatSettings(rate_limit=0)))
    async with websockets.connect(f"{server.ws_url}/ws/fast") as ws:
        await ws.recv()  # the welcome
        for n in range(2_000):
            await ws.send(json.dumps({"message": str(n)}))
        lines = 0
        while lines < 2_000:
            lines += "message" in json.loads(await asyncio.wait_for(ws.recv(), scaled(5)))
    assert lines == 2_000


@pytest.mark.parametrize("mode", [(), ("--classroom", "--host", "127.0.0.1", "--token",
                                       "class-token", "--status-every", "0")])
async def test_the_command_line_server_logs_a_few_lines_for_many_offences(serve, raw_clients,
                                                                         mode):
    process, port, _ = serve(*mode)
    token = "?token=class-token" if mode else ""
    for n in range(10):
        flooder = raw_clients(f"ws://127.0.0.1:{port}/ws/flood{n}{token}")
        await asyncio.to_thread(flooder.frames, [Frame(Opcode.PING, b"")] * 2_000)
        assert (await asyncio.to_thread(flooder.close_frame))[0] == 1008
    process.send_signal(signal.SIGINT)
    output = await asyncio.wait_for(asyncio.to_thread(process.stdout.read), scaled(10))
    lines = [line for line in output.splitlines() if "frames a second" in line]
    assert 1 <= len(lines) <= 3, output
