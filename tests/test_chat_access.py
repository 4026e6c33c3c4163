"""Classroom safety: a join token for the room, and an Origin check against hijacking pages,
on a network and on loopback."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from peers import join, still_chatting
from wslab.access import given_token_problem, is_loopback, origin_allowed, page_allowed


def test_origin_rules():
    assert origin_allowed(None, "10.0.0.5:8000")  # not a browser: left to the token
    assert origin_allowed("http://10.0.0.5:8000", "10.0.0.5:8000")  # the server's own page
    assert not origin_allowed("http://evil.example", "10.0.0.5:8000")
    assert not origin_allowed("http://10.0.0.5:8000.evil.example", "10.0.0.5:8000")
    assert not origin_allowed("null", "10.0.0.5:8000")
    assert origin_allowed("http://localhost:8888", "10.0.0.5:8000", ("http://localhost:8888",))


def test_loopback_hosts():
    assert all(map(is_loopback, ["localhost", "LOCALHOST", "127.0.0.1", "127.3.2.1", "::1",
                                 "[::1]"]))
    assert not any(map(is_loopback, ["10.0.0.5", "evil.example", "localhost.evil.example",
                                     "", None]))


@pytest.mark.parametrize("origin, peer, local_pages, allowed", [
    (None, "10.0.0.9", False, True),  # not a browser
    ("http://127.0.0.1:8000", "10.0.0.9", False, True),  # the server's own page
    ("http://localhost:8888", "127.0.0.1", True, True),  # JupyterLab on this machine
    ("http://[::1]:8888", "::1", True, True),
    ("null", "127.0.0.1", True, True),  # a page opened from a file
    ("null", "127.0.0.1", False, False),  # ... not on a network's server
    ("http://localhost:8888", "127.0.0.1", False, False),
    ("http://localhost:8888", "10.0.0.9", True, False),  # "localhost" of another machine
    ("null", "10.0.0.9", True, False),
    ("http://evil.example", "127.0.0.1", True, False),  # a foreign site, on loopback too
    ("http://localhost.evil.example", "127.0.0.1", True, False),
    ("http://jupyter.example", "10.0.0.9", False, True),  # --allow-origin
])
def test_page_rules(origin, peer, local_pages, allowed):
    assert page_allowed(origin, "127.0.0.1:8000", peer, ("http://jupyter.example",),
                        local_pages=local_pages) is allowed


def test_in_a_codespace_its_forwarded_pages_are_local(monkeypatch):
    """Codespaces forwards a port to ``https://<codespace>-<port>.<domain>`` and connects to it
    from inside the codespace: those pages are this machine's; another codespace's are not."""
    assert not page_allowed("https://ada-x1-8000.app.github.dev", "127.0.0.1:8000", "127.0.0.1",
                            local_pages=True)
    monkeypatch.setenv("CODESPACES", "true")
    monkeypatch.setenv("CODESPACE_NAME", "ada-x1")
    monkeypatch.setenv("GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN", "app.github.dev")
    assert page_allowed("https://ada-x1-8000.app.github.dev", "127.0.0.1:8000", "127.0.0.1",
                        local_pages=True)
    for origin in ("https://eve-x1-8000.app.github.dev", "http://ada-x1-8000.app.github.dev",
                   "https://ada-x1-8000.app.github.dev.evil.example"):
        assert not page_allowed(origin, "127.0.0.1:8000", "127.0.0.1", local_pages=True)
    assert not page_allowed("https://ada-x1-8000.app.github.dev", "127.0.0.1:8000", "127.0.0.1",
                            local_pages=False)


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


@pytest.mark.parametrize("local_pages", [False, True], ids=["network", "loopback"])
async def test_foreign_page_is_refused_before_the_handshake(start_chat, local_pages):
    server = start_chat(local_pages=local_pages)
    alice = await join(server.ws_url, "alice", origin=f"http://127.0.0.1:{server.port}")
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(f"{server.ws_url}/ws/mallory", origin="http://evil.example")
    assert refused.value.response.status_code == 403
    bob = await join(server.ws_url, "bob")  # no Origin: a program, not a page
    await still_chatting(alice, bob)


async def test_listed_origin_is_allowed(start_chat):
    server = start_chat(local_pages=False, allowed_origins=("http://jupyter.example",))
    alice = await join(server.ws_url, "alice", origin="http://jupyter.example")
    assert alice.welcome["user"] == "alice"


@pytest.mark.parametrize("origin", ["null", "http://localhost:8888", "http://127.0.0.1:9999"])
async def test_a_loopback_server_lets_this_machine_s_pages_in(start_chat, origin):
    """A page opened from a file (``null``) and JupyterLab's pages reach a notebook's server;
    a server for a network (what ``serve --host`` and ``--classroom`` make) refuses them."""
    server = start_chat()
    alice = await join(server.ws_url, "alice", origin=origin)
    assert alice.welcome["user"] == "alice"
    guarded = start_chat(local_pages=False)
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(f"{guarded.ws_url}/ws/bob", origin=origin)
    assert refused.value.response.status_code == 403
