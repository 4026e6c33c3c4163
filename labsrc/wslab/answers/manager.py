"""Lesson 02's answers: the lecture's ConnectionManager, and a manager no client can break.

``ConnectionManager`` is the lecture's class (``wslab.lecture``) without its ``print`` lines,
which are optional in the exercise. ``SafeConnectionManager`` is the lesson's own safe manager,
short enough to read in one go: the lesson shows it whole, with ``broadcast`` left for the
student to complete. The kit's server uses a hardened relative of it, ``wslab.manager``, which
adds what a lesson does not need to show (frames encoded once, no writer task for an idle
connection, announcements counted apart, an ``on_drop`` callback).
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import WebSocket


class ConnectionManager:
    def __init__(self):
        self.active_connections = []
        self.connection_count = 0

    async def connect(self, websocket: WebSocket):
        await websocket.accept()
        self.active_connections.append(websocket)
        self.connection_count += 1

    def disconnect(self, websocket: WebSocket):
        self.active_connections.remove(websocket)
        self.connection_count -= 1

    async def broadcast(self, message: str):
        for connection in self.active_connections:
            await connection.send_text(message)


class SafeConnectionManager:
    def __init__(self, outbound_queue: int = 16):
        self.outbound_queue = outbound_queue  # how many messages may wait for one client
        self.outboxes = {}  # websocket -> asyncio.Queue: the messages waiting for it
        self.writers = {}  # websocket -> the task that sends them
        self.closing = set()  # close tasks still running (keeps them alive until they end)

    @property
    def active_connections(self):
        return list(self.outboxes)

    @property
    def connection_count(self):
        return len(self.outboxes)  # counted, never kept: it cannot drift

    async def connect(self, websocket: WebSocket):
        await websocket.accept()
        outbox = asyncio.Queue(maxsize=self.outbound_queue)
        self.outboxes[websocket] = outbox
        self.writers[websocket] = asyncio.create_task(self._write(websocket, outbox))

    def disconnect(self, websocket: WebSocket):
        self.outboxes.pop(websocket, None)  # pop with a default: safe to call twice
        writer = self.writers.pop(websocket, None)
        if writer is not None:
            writer.cancel()

    async def _write(self, websocket: WebSocket, outbox: asyncio.Queue):
        try:
            while True:
                message = await outbox.get()
                await websocket.send_text(message)
        except Exception:  # this client is gone: only its own writer notices
            self.disconnect(websocket)

    def drop(self, websocket: WebSocket):
        """Forget a client that does not read, and close it (4408) without waiting."""
        self.disconnect(websocket)
        task = asyncio.create_task(self._close(websocket))
        self.closing.add(task)
        task.add_done_callback(self.closing.discard)

    async def _close(self, websocket: WebSocket):
        with contextlib.suppress(Exception):  # gone already, or stuck behind full buffers
            await asyncio.wait_for(websocket.close(code=4408, reason="too slow"), timeout=5)

    async def broadcast(self, message: str):
        for websocket, outbox in list(self.outboxes.items()):
            try:
                outbox.put_nowait(message)
            except asyncio.QueueFull:  # this client is not reading: drop it, and only it
                self.drop(websocket)
