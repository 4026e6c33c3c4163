"""The one chat participant who talks: it sends the benchmark's messages and reads its echoes.

Each message is an ordinary chat line, ``{"message": "BENCH:<seq>:<send time ns>:<filler>"}``.
The receivers find ``BENCH:`` in whatever envelope the server wraps around it, so the same line
works on every server, and the filler (random lowercase words) brings it to the benchmark's
message size without being trivially compressible.

The sender is a member of the room like everyone else, so every server sends it a copy of its
own line. It must read those copies: a sender that does not read becomes a stalled client
itself, and on the lecture's server it would freeze the very room it is measuring.
"""

from __future__ import annotations

import asyncio
import json
import random
import time

from wslab.bench import wire

_WORDS = ("the quick brown fox jumps over a lazy dog while students type questions about "
          "sockets frames queues and tasks in every row of the lecture hall").split()


def filler_pool(size: int, count: int = 64, seed: int = 6455) -> list[str]:
    """``count`` different strings of random words, each ``size`` characters long."""
    rng = random.Random(seed)
    pool = []
    for _ in range(count):
        words: list[str] = []
        length = 0
        while length < size:
            word = rng.choice(_WORDS)
            words.append(word)
            length += len(word) + 1
        pool.append(" ".join(words)[:size])
    return pool


class Sender:
    """A hand-made WebSocket client on asyncio streams: sends chat lines, discards echoes."""

    def __init__(self, message_bytes: int) -> None:
        self.message_bytes = message_bytes
        # Room for "BENCH:<seq>:<19-digit ns>:"; the rest of the line is filler.
        self.fillers = filler_pool(max(1, message_bytes - 36))
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None
        self.echoes = 0
        self.deflate = False
        self.closed = False

    async def connect(self, host: str, port: int, client_id: str, *, deflate: bool,
                      timeout: float = 10.0) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout)
        request, key = wire.handshake_request(host, port, f"/ws/{client_id}", deflate=deflate)
        self.writer.write(request)
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        self.deflate = wire.parse_handshake_response(head[:-4], key)
        frames = wire.FrameReader(self.deflate)
        self.task = asyncio.get_running_loop().create_task(self._read(frames))

    async def _read(self, frames: wire.FrameReader) -> None:
        assert self.reader is not None and self.writer is not None
        while True:
            try:
                data = await self.reader.read(262144)
            except OSError:
                data = b""
            if not data:
                self.closed = True
                return
            for opcode, payload in frames.feed(data):
                if opcode == wire.OP_TEXT:
                    self.echoes += 1
                elif opcode == wire.OP_PING:
                    self.writer.write(wire.client_frame(wire.OP_PONG, payload))
                elif opcode == wire.OP_CLOSE:
                    self.closed = True
                    return

    def line(self, seq: int) -> bytes:
        """The frame of benchmark message ``seq``, stamped with the time it is made."""
        text = f"BENCH:{seq}:{time.time_ns()}:"
        text += self.fillers[seq % len(self.fillers)][: max(1, self.message_bytes - len(text))]
        return wire.client_frame(wire.OP_TEXT, json.dumps({"message": text}).encode())

    def send(self, seq: int) -> None:
        assert self.writer is not None
        self.writer.write(self.line(seq))

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, OSError):
                pass
        if self.writer is not None:
            self.writer.close()
