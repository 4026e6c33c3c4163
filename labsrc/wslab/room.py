"""The chat room: who is in it, what they say, and what everyone hears about it.

``wslab.chat`` hands every frame a client sends to :meth:`ChatRoom.receive`; the room reads it
with ``wslab.envelope``, applies the client's rate limit, and either relays it to everyone
through the ``ConnectionManager`` or answers the sender alone with an error. Joins, leaves and
the participant count are announced here too, so the count always matches the members.

Two connections with the same client id: the newer one wins. The usual reason for a second
connection is a reconnect after the Wi-Fi dropped, while the server has not yet noticed that
the old connection is dead; refusing the newcomer would lock that student out for up to a
minute. The older connection is closed with 4409, and the room announces neither a leave nor a
join, since the person never left.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from starlette.websockets import WebSocket

from wslab import envelope
from wslab.manager import ConnectionManager
from wslab.ratelimit import TokenBucket
from wslab.settings import ChatSettings

logger = logging.getLogger("wslab.chat")


@dataclasses.dataclass(eq=False)
class Member:
    client_id: str
    websocket: WebSocket
    bucket: TokenBucket


class ChatRoom:
    """Everyone connected to one chat server, and the rules for talking to them."""

    def __init__(self, settings: ChatSettings) -> None:
        self.settings = settings
        self.manager = ConnectionManager(outbound_queue=settings.outbound_queue,
                                         on_drop=self._dropped)
        self._members: dict[str, Member] = {}
        self._by_socket: dict[WebSocket, Member] = {}
        self.messages_relayed = 0

    @property
    def participants(self) -> int:
        return len(self._members)

    @property
    def online(self) -> list[str]:
        return sorted(self._members)

    async def join(self, websocket: WebSocket, client_id: str) -> None:
        """Add an accepted connection; greet it and tell everyone else."""
        previous = self._members.get(client_id)
        member = Member(client_id, websocket,
                        TokenBucket(self.settings.rate_limit))
        self._members[client_id] = member
        self._by_socket[websocket] = member
        if previous is not None:
            del self._by_socket[previous.websocket]
            logger.info("Client %s connected again; closing its older connection", client_id)
            await self.manager.close(previous.websocket, envelope.CLOSE_REPLACED,
                                     "replaced by a newer connection with the same client id")
        self.manager.add(websocket)
        logger.info("Client %s connected", client_id)
        await self.manager.send_personal_message(
            envelope.welcome_message(client_id, self.online), websocket)
        if previous is None:
            await self._announce_to_others(
                envelope.join_message(client_id, self.participants), websocket)

    async def leave(self, websocket: WebSocket, why: str = "") -> None:
        """Remove a connection that has ended. Safe to call for one that already left."""
        self.manager.disconnect(websocket)
        member = self._by_socket.pop(websocket, None)
        if member is None:
            return
        del self._members[member.client_id]
        message = envelope.leave_message(member.client_id, self.participants, why=why)
        logger.info("Client #%s left the chat%s", member.client_id, f" ({why})" if why else "")
        await self.manager.broadcast(message)

    async def receive(self, websocket: WebSocket, event: dict[str, Any]) -> None:
        """Act on one ``websocket.receive`` event from a member."""
        member = self._by_socket.get(websocket)
        if member is None:
            return
        text = event.get("text")
        if text is None:
            await self._refuse(member, "binary_not_supported",
                               "this chat takes text frames only, not binary data")
            return
        frame = envelope.read_client_text(text, self.settings.max_message_bytes)
        if isinstance(frame, envelope.Rejected):
            await self._refuse(member, frame.code, frame.reason)
        elif isinstance(frame, envelope.Ping):
            await self.manager.send_personal_message(envelope.pong_message(), websocket)
        elif not member.bucket.allow():
            await self._refuse(member, "rate_limited",
                               f"slow down: at most {self.settings.rate_limit:g} messages per "
                               f"second; try again in {member.bucket.retry_after():.1f} s")
        elif isinstance(frame, envelope.Chat):
            logger.info("Received from client %s: %s", member.client_id, _preview(frame.text))
            await self.relay(envelope.chat_message(member.client_id, frame.text))
        else:
            logger.info("Received plain text from client %s: %s",
                        member.client_id, _preview(frame.text))
            await self.relay(envelope.plain_text_message(member.client_id, frame.text))

    async def relay(self, message: str) -> None:
        """Deliver a chat message to everyone in the room."""
        self.messages_relayed += 1
        await self.manager.broadcast(message)

    async def _refuse(self, member: Member, code: str, reason: str) -> None:
        logger.warning("Refused a frame from client %s: %s (%s)", member.client_id, code, reason)
        await self.manager.send_personal_message(envelope.error_message(code, reason),
                                                 member.websocket)

    async def _announce_to_others(self, message: str, newcomer: WebSocket) -> None:
        for websocket in self.manager.active_connections:
            if websocket is not newcomer:
                await self.manager.send_personal_message(message, websocket)

    async def _dropped(self, websocket: WebSocket, why: str) -> None:
        await self.leave(websocket, why=why)


def _preview(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
