"""A client that joins the chat and then never reads: a laptop lid closed mid-lecture.

TCP flow control does the rest. The client's receive buffer fills, its window closes, the
server's kernel send buffer fills behind it, then the server's own write buffer; from there on
a server that awaits each send in turn waits for this client forever, and everyone else with it.

On loopback that takes very long: the kernel sizes a connection's send buffer from the
segment size, and loopback's 64 KiB segments give every connection over a megabyte of buffer.
A phone on Wi-Fi has 1460-byte segments, so this client announces that segment size (and a
small receive buffer) before it connects. The server then buffers for it about what it would
for a real client on a real network, and the stall shows within the seconds a run lasts.
"""

from __future__ import annotations

import socket
import time

from wslab.bench import wire

#: The TCP segment size of Ethernet and Wi-Fi (1500-byte packets).
ETHERNET_MSS = 1460
#: Asked-for receive buffer; Linux doubles it and keeps a minimum of a few KiB.
RECEIVE_BUFFER = 4096


class StalledClient:
    """Opens the WebSocket, reads the handshake response, and then nothing more."""

    def __init__(self, host: str, port: int, client_id: str, *, deflate: bool,
                 timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, ETHERNET_MSS)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        request, key = wire.handshake_request(host, port, f"/ws/{client_id}", deflate=deflate)
        self.sock.sendall(request)
        head = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in head:
            if time.monotonic() > deadline:
                raise TimeoutError("no handshake response")
            chunk = self.sock.recv(1)  # byte by byte: leave every frame unread in the kernel
            if not chunk:
                raise wire.HandshakeError("closed during the handshake")
            head += chunk
        self.deflate = wire.parse_handshake_response(head[:-4], key)

    def fate(self, seconds: float = 1.0, limit: int = 64 << 20, idle: float = 0.2) -> str:
        """Read what piled up, to learn what the server did: evicted it, or still writing.

        Bounded by ``seconds`` and ``limit`` bytes, and done early when nothing more arrives
        for ``idle`` seconds; the benchmark calls this after measuring.
        """
        frames = wire.FrameReader(self.deflate)
        self.sock.settimeout(idle)
        deadline = time.monotonic() + seconds
        total = 0
        messages = 0
        try:
            while time.monotonic() < deadline and total < limit:
                try:
                    data = self.sock.recv(262144)
                except socket.timeout:
                    break
                if not data:
                    return f"connection ended without a close frame after {messages} messages"
                total += len(data)
                for opcode, payload in frames.feed(data):
                    if opcode == wire.OP_CLOSE:
                        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                        reason = payload[2:].decode("utf-8", "replace")
                        return f"closed by the server: {code} {reason}".rstrip()
                    if opcode == wire.OP_TEXT:
                        messages += 1
        except OSError as exc:
            return f"connection failed: {exc}"
        return f"still open; {messages} messages were waiting for it"

    def close(self) -> None:
        self.sock.close()
