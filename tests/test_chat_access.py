"""Classroom safety: a join token for the room, and an Origin check against hijacking pages."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from peers import join, still_chatting
from wslab.access import given_token_problem, origin_allowed


def test_origin_rules():
    assert origin_allowed(None, "10.0.0.5:8000")  # not a browser: left to the token
    assert origin_allowed("http://10.0.0.5:8000", "10.0.0.5:8000")  # the server's own page
    assert not origin_allowed("http://evil.example", "10.0.0.5:8000")
    assert not origin_allowed("http://10.0.0.5:8000.evil.example", "10.0.0.5:8000")
    assert not origin_allowed("null", "10.0.0.5:8000")
    assert origin_allowed("http://localhost:8888", "10.0.0.5:8000", ("http://localhost:8888",))


def test_token_rules():
    assert given_token_problem(None, None) is None
    assert given_token_problem("s3cret", "s3cret") is None
    assert "needs a join token" in given_token_problem(None, "s3cret")
    assert "wrong join token" in given_token_problem("guess", "s3cret")


@pytest.mark.parametrize("query, words", [("", "needs a join token"), ("?token=guess", "wrong")])
async def test_outsider_without_the_token_is_refused(start_chat, query, words):
    server = start_chat(token="s3cret")
    alice = await join_with_token(server, "alice")
    bob = await join_with_token(server, "bob")
    outsider = await websockets.connect(f"{server.ws_url}/ws/mallory{query}")
    error = json.loads(await asyncio.wait_for(outsider.recv(), 3))
    assert error["code"] == "bad_token" and words in error["message"]
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(outsider.recv(), 3)
    assert outsider.protocol.close_rcvd.code == 1008
    assert [m for m in await alice.silence() if m.get("user") == "mallory"] == []
    await still_chatting(alice, bob)


async def join_with_token(server, client_id):
    peer = await join(server.ws_url, f"{client_id}?token=s3cret")
    peer.client_id = client_id
    return peer


async def test_foreign_page_is_refused_before_the_handshake(start_chat):
    server = start_chat(check_origin=True)
    alice = await join(server.ws_url, "alice", origin=f"http://127.0.0.1:{server.port}")
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(f"{server.ws_url}/ws/mallory", origin="http://evil.example")
    assert refused.value.response.status_code == 403
    bob = await join(server.ws_url, "bob")  # no Origin: a program, not a page
    await still_chatting(alice, bob)


async def test_listed_origin_is_allowed(start_chat):
    server = start_chat(check_origin=True, allowed_origins=("http://localhost:8888",))
    alice = await join(server.ws_url, "alice", origin="http://localhost:8888")
    assert alice.welcome["user"] == "alice"
