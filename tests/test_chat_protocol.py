"""The chat speaks the lecture's wire protocol, plus joins, counts and a heartbeat."""

from __future__ import annotations

import json

import httpx2
from fastapi.testclient import TestClient

from peers import join, lecture_fields, still_chatting
from wslab.chat import create_app


def test_health_check_is_the_lecture_s(chat_server):
    assert httpx2.get(chat_server.url + "/").json() == {"message": "WebSocket Server is running"}


def test_chat_page_is_served(chat_server):
    response = httpx2.get(chat_server.url + "/chat")
    assert response.status_code == 200
    assert 'id="messages"' in response.text and 'id="messageText"' in response.text


async def test_chat_line_reaches_everyone_with_the_lecture_s_fields(chat_server):
    alice = await join(chat_server.ws_url, "alice")
    bob = await join(chat_server.ws_url, "bob")
    await still_chatting(alice, bob, text="Hi Dr. Mohammed, how are you?")
    await still_chatting(bob, alice, text="Fine, thanks")


async def test_plain_text_is_relayed_as_the_lecture_does(chat_server):
    alice = await join(chat_server.ws_url, "alice")
    bob = await join(chat_server.ws_url, "bob")
    await alice.send_raw("hello in plain text")
    assert await bob.next_of("plain") == "Client alice: hello in plain text"
    assert await alice.next_of("plain") == "Client alice: hello in plain text"


async def test_join_leave_and_participant_count(chat_server):
    alice = await join(chat_server.ws_url, "alice")
    assert alice.welcome["client_id"] == "system"
    assert alice.welcome["participants"] == 1 and alice.welcome["online"] == ["alice"]

    bob = await join(chat_server.ws_url, "bob")
    assert bob.welcome["online"] == ["alice", "bob"]
    joined = await alice.next_of("join")
    assert joined["user"] == "bob" and joined["participants"] == 2
    assert "bob" in joined["message"]

    await bob.ws.close()
    left = await alice.next_of("disconnect")
    assert left["client_id"] == "system"
    assert left["message"] == "Client #bob left the chat"
    assert left["participants"] == 1
    assert set(lecture_fields(left)) == {"client_id", "type", "message", "timestamp", "user",
                                         "participants"}


async def test_heartbeat_ping_is_answered_to_the_sender_only(chat_server):
    alice = await join(chat_server.ws_url, "alice")
    bob = await join(chat_server.ws_url, "bob")
    await alice.send_raw(json.dumps({"type": "ping"}))
    assert (await alice.next_of("pong"))["client_id"] == "system"
    assert [m for m in await bob.silence() if m.get("type") != "join"] == []


def test_testclient_walkthrough_as_in_fastapi_docs():
    """The TestClient runs the app in-process: fine for the protocol, blind to uvicorn's limits."""
    with TestClient(create_app()) as client:
        with client.websocket_connect("/ws/alice") as alice:
            assert alice.receive_json()["type"] == "welcome"
            alice.send_json({"message": "hello"})
            line = alice.receive_json()
            assert line["message"] == "hello" and line["client_id"] == "alice"
