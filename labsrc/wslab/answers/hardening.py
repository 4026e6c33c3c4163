"""Lesson 08's answers: a broadcast test that does not flake, and first-message authentication.

The lesson's other two exercises are the package's own code: ``wslab.access.origin_allowed``
and ``wslab.fanoutlab.percentile``.
"""

import asyncio
import json
import secrets

from websockets.asyncio.client import connect

from wslab.testing import receive_until


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
