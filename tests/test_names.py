"""Names cannot be hijacked: a name in use moves to a new connection only with its resume key.

Real uvicorn on loopback and real ``websockets`` clients. The welcome gives each connection a
secret key; a second connection with the same name is let in only with it (the old one is then
closed with 4409), and refused with ``name_taken`` and 1008 otherwise.
"""

from __future__ import annotations

import asyncio

import pytest
import websockets

from deadlines import eventually
from peers import Peer, connect, join, still_chatting
from wslab.close_codes import KitCloseCode
from wslab.protocol import CloseCode
from wslab.resume import digest

pytestmark = pytest.mark.slow


async def refused(ws_url: str, client_id: str, resume: str | None = None) -> tuple[dict, int]:
    """Connect as ``client_id`` expecting a refusal: its error reply and its close code."""
    peer = await connect(ws_url, client_id, resume)
    error = await peer.error()
    code, _ = await peer.closed()
    return error, code


def went_silent(peer: Peer) -> None:
    """The Wi-Fi under ``peer`` drops: nothing more reaches it or comes from it, and no close
    frame and no FIN reach the server, which goes on holding the connection until its keepalive
    notices. (``peer`` must have been connected with ``ping_interval=None``: it sends nothing.)
    """
    peer.ws.transport.pause_reading()


async def test_every_welcome_carries_a_fresh_secret_resume_key(chat_server):
    alice = await join(chat_server.ws_url, "alice")
    bob = await join(chat_server.ws_url, "bob")
    keys = alice.welcome["resume"], bob.welcome["resume"]
    assert all(isinstance(key, str) and len(key) >= 22 for key in keys) and keys[0] != keys[1]
    # Nobody else hears a key: the join others are told of carries none.
    joined = await alice.next_of("join")
    assert joined["user"] == "bob" and "resume" not in joined
    assert keys[1] not in str(alice.heard)


async def test_a_hijack_attempt_fails_and_the_holder_keeps_chatting(chat_server):
    alice = await join(chat_server.ws_url, "alice")
    mallory = await join(chat_server.ws_url, "mallory")
    assert "alice" in mallory.welcome["online"]
    for resume in (None, "guessed-key", mallory.welcome["resume"]):
        error, code = await refused(chat_server.ws_url, "alice", resume)
        assert error["code"] == "name_taken" and code == CloseCode.POLICY_VIOLATION
        assert "in use" in error["message"] and "pick another name" in error["message"]
    # alice was never disturbed: no error, no close, and the room still hears her.
    assert [m for m in await alice.silence() if m.get("type") in ("error", "disconnect")] == []
    await still_chatting(alice, mallory)
    assert chat_server.app.state.room.refused_handshakes["name_taken"] == 3


async def test_a_reconnect_with_the_key_replaces_a_connection_cut_without_a_close(chat_server):
    alice = await join(chat_server.ws_url, "alice", ping_interval=None)
    bob = await join(chat_server.ws_url, "bob")
    await alice.next_of("join")
    went_silent(alice)
    loop = asyncio.get_running_loop()
    started = loop.time()
    again = await join(chat_server.ws_url, "alice", resume=alice.welcome["resume"])
    took = loop.time() - started
    assert again.welcome["online"] == ["alice", "bob"]
    assert again.welcome["resume"] != alice.welcome["resume"]
    print(f"\nreconnect with the key: welcomed after {took * 1000:.0f} ms")
    # What the old connection was sent, read once its network is back: replaced, 4409.
    alice.ws.transport.resume_reading()
    assert (await alice.error())["code"] == "replaced"
    assert (await alice.closed())[0] == KitCloseCode.REPLACED
    # Nobody left and nobody joined: alice is still here, on her new connection.
    assert [m for m in await bob.silence() if m.get("type") in ("join", "disconnect")] == []
    await still_chatting(again, bob)
    # The old key is spent: it no longer moves the name.
    error, _ = await refused(chat_server.ws_url, "alice", alice.welcome["resume"])
    assert error["code"] == "name_taken"


async def test_the_replaced_connection_is_closed_with_4409(chat_server):
    alice = await join(chat_server.ws_url, "alice")
    again = await join(chat_server.ws_url, "alice", resume=alice.welcome["resume"])
    assert (await alice.error())["code"] == "replaced"
    code, reason = await alice.closed()
    assert code == KitCloseCode.REPLACED and "newer connection" in reason
    await still_chatting(again)


async def test_a_name_is_free_again_once_its_holder_left(chat_server):
    alice = await join(chat_server.ws_url, "alice")
    bob = await join(chat_server.ws_url, "bob")
    await alice.ws.close()
    assert (await bob.next_of("disconnect"))["user"] == "alice"
    # The lecture's own page knows nothing of keys: it joins with a name nobody holds.
    someone = await join(chat_server.ws_url, "alice")
    assert someone.welcome["participants"] == 2
    await still_chatting(someone, bob)


async def test_a_dead_holder_frees_its_name_when_the_keepalive_notices(start_chat):
    server = start_chat(ws_ping_interval=0.3, ws_ping_timeout=0.3)
    alice = await join(server.ws_url, "alice", ping_interval=None)
    bob = await join(server.ws_url, "bob")
    went_silent(alice)
    error, _ = await refused(server.ws_url, "alice")
    assert error["code"] == "name_taken"
    await eventually(lambda: server.app.state.room.online == ["bob"],
                     "the keepalive to drop alice's dead connection")
    newcomer = await join(server.ws_url, "alice")
    await still_chatting(newcomer, bob)


async def test_the_server_keeps_only_a_digest_of_each_key(chat_server):
    alice = await join(chat_server.ws_url, "alice")
    member = chat_server.app.state.room._members["alice"]
    assert member.key_digest == digest(alice.welcome["resume"])
    assert alice.welcome["resume"] not in repr(member)


async def test_a_refused_newcomer_does_not_hold_its_socket_open(chat_server):
    await join(chat_server.ws_url, "alice")
    peer = await connect(chat_server.ws_url, "alice")
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await peer.ws.recv()
    assert peer.ws.close_code == CloseCode.POLICY_VIOLATION
