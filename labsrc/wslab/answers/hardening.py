"""Elective E6's answers: two tests (one with a TestClient, one with two real clients), and
first-message authentication.

The lesson's other exercise is the package's own code: ``wslab.access.origin_allowed``.
"""

import asyncio
import json
import secrets

from websockets.asyncio.client import connect

from wslab.answers.endpoint import GREETING
from wslab.testing import receive_until


def test_shout(client):
    """Lesson 01's shouting endpoint greets, then upper-cases each text, and ends quietly."""
    with client.websocket_connect("/ws/shout") as websocket:
        assert websocket.receive_text() == GREETING
        websocket.send_text("hello")
        assert websocket.receive_text() == "HELLO"
        websocket.send_text("Shout with me!")
        assert websocket.receive_text() == "SHOUT WITH ME!"


test_shout.__test__ = False  # type: ignore[attr-defined]  # an answer, not a test of this package


async def test_broadcast(ws_url):
    """Alice's line reaches Bob, from Alice, word for word."""

    def welcome(message):
        return isinstance(message, dict) and message.get("type") == "welcome"

    def from_alice(message):
        return isinstance(message, dict) and message.get("message") == "hello bob"

    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        # Sync points: a client is in the room once the server has welcomed it.
        await receive_until(alice, welcome)
        await receive_until(bob, welcome)
        await alice.send(json.dumps({"message": "hello bob"}))
        heard = await receive_until(bob, from_alice)
        assert heard["client_id"] == "alice", heard


async def first_message_auth(websocket, token, timeout=1.0):
    """Accept; let the client in only if its first message, within ``timeout`` s, is the token.

    The first message must be JSON ``{"token": "..."}``. Anything else (a wrong token, no
    token, binary data, silence) is refused with close code 1008 and a reason, and this
    returns False; the endpoint then simply returns.
    """
    await websocket.accept()
    try:
        event = await asyncio.wait_for(websocket.receive(), timeout)
    except asyncio.TimeoutError:
        await websocket.close(code=1008, reason="no token within the time allowed")
        return False
    if event["type"] == "websocket.disconnect":
        return False
    try:
        given = json.loads(event.get("text") or "")["token"]
    except (ValueError, TypeError, KeyError):
        given = None
    if not isinstance(given, str) or not secrets.compare_digest(given.encode(), token.encode()):
        await websocket.close(code=1008, reason="the first message must be the right token")
        return False
    return True
