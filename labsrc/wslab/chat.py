"""``create_app()``: the chat server of the lecture, made safe for a real classroom.

It speaks the lecture's wire protocol (``wslab.envelope``), so the lecture's own page works
against it unchanged, and it serves the kit's page at ``/chat``. The path of one message:

1. :func:`chat_endpoint` receives one frame from a client;
2. :meth:`ChatRoom.receive` reads it, refuses what is not a chat line (error to the sender only)
   and applies the client's rate limit;
3. the room builds the outgoing envelope (the server alone sets ``client_id`` and ``timestamp``);
4. the room publishes it to the broker (``wslab.brokers``), which hands it to every worker's room;
5. each room's ``ConnectionManager`` queues it in every connection's outbox; each outbox's writer
   sends it.

With the default broker (in-process) there is one worker and step 4 is a direct call; with
``RedisBroker`` several server processes make one room. The app starts and stops the broker in
its lifespan.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from typing import AsyncIterator

from fastapi import FastAPI, WebSocket
from fastapi.responses import HTMLResponse

from wslab import access, envelope
from wslab.brokers import Broker
from wslab.chat_page import render_page
from wslab.protocol import CloseCode
from wslab.room import ChatRoom
from wslab.settings import ChatSettings

logger = logging.getLogger(__name__)


def create_app(settings: ChatSettings | None = None, broker: Broker | None = None) -> FastAPI:
    """Build the chat app. ``app.state.room`` is the room, ``app.state.settings`` its limits.

    ``broker`` joins this server to others serving the same room (a ``RedisBroker``); by
    default the room is this one server (an ``InProcessBroker``, which needs no lifespan).
    """
    settings = settings or ChatSettings()
    room = ChatRoom(settings, broker)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await room.start()
        try:
            yield
        finally:
            await room.stop()

    app = FastAPI(title="wslab chat", summary="The FastAPI WebSockets workshop chat server",
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.room = room
    app.state.broker = room.broker
    page = render_page()

    @app.get("/")
    async def health() -> dict[str, str]:
        return {"message": "WebSocket Server is running"}

    @app.get("/chat", response_class=HTMLResponse)
    async def chat_page() -> str:
        return page

    @app.websocket("/ws/{client_id}")
    async def chat_endpoint(websocket: WebSocket, client_id: str) -> None:
        if not await _admitted(websocket, client_id, settings, room.refused_handshakes):
            return
        member = await room.join(websocket, client_id)
        try:
            while True:
                event = await websocket.receive()
                if event["type"] == "websocket.disconnect":
                    break
                await room.receive(member, event)
        finally:
            await room.leave(member)

    return app


async def _admitted(websocket: WebSocket, client_id: str, settings: ChatSettings,
                    refused: collections.Counter[str]) -> bool:
    """Accept the handshake if this client may join; otherwise refuse it, say why, and count it.

    A page from a foreign origin is refused before ``accept()``: uvicorn answers HTTP 403 and a
    hostile page learns nothing. Everyone else is accepted first, so that a wrong token or a bad
    client id can be explained: an error reply, then a close with code 1008 and the reason.
    """
    origin = websocket.headers.get("origin")
    if settings.check_origin and not access.origin_allowed(
            origin, websocket.headers.get("host"), settings.allowed_origins):
        logger.warning("Refused a handshake from origin %s for client %r", origin, client_id)
        refused["foreign_origin"] += 1
        await websocket.close(code=CloseCode.POLICY_VIOLATION)
        return False
    await websocket.accept()
    code, problem = "bad_token", access.given_token_problem(websocket.query_params.get("token"),
                                                       settings.token)
    if problem is None:
        code, problem = "bad_client_id", envelope.client_id_problem(client_id)
    if problem is None:
        return True
    logger.warning("Refused client %r: %s", client_id[:80], problem)
    refused[code] += 1
    await websocket.send_text(envelope.error_message(code, problem))
    await websocket.close(code=CloseCode.POLICY_VIOLATION, reason=problem[:120])
    return False
