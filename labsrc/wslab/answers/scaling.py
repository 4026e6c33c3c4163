"""Elective E5's answer: a worker's two halves. (``sequence_check`` is the kit's own code,
``wslab.presence``.)"""

from __future__ import annotations

from wslab.envelope import chat_message
from wslab.manager import ConnectionManager


class Worker:
    """One server process of the chat: its own clients, and a broker shared with the others."""

    def __init__(self, worker_id: str, broker) -> None:
        self.worker_id = worker_id
        self.broker = broker
        self.manager = ConnectionManager()  # this worker's own clients, and only those
        broker.subscribe(self.on_event)

    async def client_said(self, client_id: str, text: str) -> None:
        """One of this worker's clients sent a line: publish it, tagged with this worker."""
        await self.broker.publish({"kind": "chat", "worker": self.worker_id,
                                   "text": chat_message(client_id, text)})

    async def on_event(self, event: dict) -> None:
        """The broker hands over an event from any worker, this one included: deliver it to
        this worker's own clients."""
        if event["kind"] == "chat":
            await self.manager.broadcast(event["text"])
