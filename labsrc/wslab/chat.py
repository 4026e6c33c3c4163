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

import asyncio
import collections
import contextlib
import logging
import math
from typing import AsyncIterator

from fastapi import FastAPI, WebSocket
from fastapi.responses import HTMLResponse, PlainTextResponse

from wslab import access, envelope, resume
from wslab.admission import FailedJoins, JoinPace
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
    failures, pace = FailedJoins(), JoinPace(settings.join_rate)
    access.hide_tokens_in_logs()

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
        if not await _admitted(websocket, client_id, settings, room.refused_handshakes,
                               failures, pace):
            return
        member = await room.join(websocket, client_id,
                                 resume.read_request(websocket.query_params))
        if member is None:
            return
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
                    refused: collections.Counter[str], failures: FailedJoins,
                    pace: JoinPace) -> bool:
    """Accept the handshake if this client may join; otherwise refuse it, say why, and count it.

    A page from a foreign origin is refused before ``accept()``: uvicorn answers HTTP 403 and a
    hostile page learns nothing. A join over its address's pace (``wslab.admission``) that
    would wait too long is refused before ``accept()`` too, with HTTP 429 (too many requests)
    and a ``Retry-After``: in a storm of thousands, that is the cheapest answer, and the kit's
    clients take 429 as "not now". Every other refusal is accepted first, so that it can be
    explained: an error reply, then a close with the reason. A wrong token or a bad client id
    closes with 1008 (final: trying again would not help); an address locked out after too
    many wrong tokens, with 1013 (try again later). A join within the pace waits its turn
    after ``accept()``.
    """
    origin = websocket.headers.get("origin")
    peer = websocket.client.host if websocket.client else ""
    if not access.page_allowed(origin, websocket.headers.get("host"), peer,
                               settings.allowed_origins, local_pages=settings.local_pages):
        logger.warning("Refused a handshake from origin %s for client %r", origin, client_id)
        refused["foreign_origin"] += 1
        await websocket.close(code=CloseCode.POLICY_VIOLATION)
        return False
    locked = failures.wait(peer)
    if locked:
        return await _refuse(websocket, refused, "too_many_attempts",
                             "too many wrong join tokens from your address: try again in "
                             f"{math.ceil(locked)} s", CloseCode.TRY_AGAIN_LATER)
    code, problem = "bad_token", access.given_token_problem(websocket.query_params.get("token"),
                                                       settings.token)
    if problem is not None:
        failures.failed(peer)
    else:
        code, problem = "bad_client_id", envelope.client_id_problem(client_id)
    if problem is not None:
        return await _refuse(websocket, refused, code, problem, CloseCode.POLICY_VIOLATION)
    turn = pace.turn(peer)
    if turn is None:
        refused["too_many_joins"] += 1
        logger.warning("Refused a join of client %r: over the join pace of its address",
                       client_id[:80])
        retry = str(math.ceil(pace.longest_wait))
        await websocket.send_denial_response(PlainTextResponse(
            f"too many joins from your address at once: try again in {retry} s\n",
            status_code=429, headers={"Retry-After": retry}))
        return False
    await websocket.accept()
    if turn:
        await asyncio.sleep(turn)
    return True


async def _refuse(websocket: WebSocket, refused: collections.Counter[str], code: str,
                  problem: str, close_code: CloseCode) -> bool:
    """Accept, then refuse: count it, log it, tell the client why, close it. False."""
    logger.warning("Refused client %r: %s", websocket.path_params.get("client_id", "")[:80],
                   problem)
    refused[code] += 1
    await websocket.accept()
    await websocket.send_text(envelope.error_message(code, problem))
    await websocket.close(code=close_code, reason=problem[:120])
    return False
