"""``wslab.client``: two tasks on one connection, reading chat lines, backoff, and ChatClient.

ChatClient is tested against real uvicorn servers on loopback: a restart on the same port, a
refusal (1008) and a replacement (4409) that must not be retried, a server that is not there,
and a server that accepts and closes at once, again and again.
"""

from __future__ import annotations

import asyncio
import json
import random
import re

import pytest
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import connect

from wslab import envelope
from wslab.chat import create_app
from wslab.checks.clients import ScriptedSocket
from wslab.client import (ChatClient, backoff, chat_line, close_all, describe_close,
                          receive_chat, run_until_first_done, settled_close_code, socket_url)
from wslab.runner import BackgroundServer

FAST = {"backoff": lambda attempt: 0.05}


# -- backoff -----------------------------------------------------------------------------------

@pytest.mark.parametrize("attempt, low, high", [
    (0, 0.25, 0.5), (1, 0.5, 1.0), (2, 1.0, 2.0), (4, 4.0, 8.0), (5, 5.0, 10.0),
    (9, 5.0, 10.0), (10_000, 5.0, 10.0),
])
def test_backoff_stays_between_half_the_ceiling_and_the_ceiling(attempt, low, high):
    delays = [backoff(attempt) for _ in range(500)]
    assert low <= min(delays) and max(delays) <= high
    assert max(delays) - min(delays) > (high - low) / 2  # spread out: jitter


def test_backoff_uses_its_arguments():
    delays = [backoff(3, 1.0, 4.0) for _ in range(200)]
    assert 2.0 <= min(delays) and max(delays) <= 4.0
    assert all(0.05 <= backoff(0, first=0.1, cap=5.0) <= 0.1 for _ in range(100))


def test_backoff_is_random_not_fixed():
    random.seed(1)
    first = [backoff(2) for _ in range(5)]
    random.seed(2)
    assert first != [backoff(2) for _ in range(5)]


# -- run_until_first_done --------------------------------------------------------------------

async def test_the_first_result_is_returned_and_the_others_are_cancelled_and_finished():
    finished = []

    async def quick():
        await asyncio.sleep(0.01)
        return "quick"

    async def forever(name):
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.01)  # cleanup that itself awaits: must be waited for
            finished.append(name)

    assert await run_until_first_done(quick(), forever("a"), forever("b")) == "quick"
    assert sorted(finished) == ["a", "b"]


async def test_an_exception_of_the_first_to_end_is_raised_and_the_others_stop():
    cancelled = asyncio.Event()

    async def broken():
        await asyncio.sleep(0.01)
        raise ValueError("receiver crashed")

    async def forever():
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(ValueError, match="receiver crashed"):
        await run_until_first_done(forever(), broken())
    assert cancelled.is_set()


async def test_cancelling_the_caller_cancels_every_task():
    stopped = []

    async def forever(name):
        try:
            await asyncio.Event().wait()
        finally:
            stopped.append(name)

    outer = asyncio.create_task(run_until_first_done(forever("a"), forever("b")))
    await asyncio.sleep(0.01)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert sorted(stopped) == ["a", "b"]


async def test_a_sender_and_a_receiver_on_one_real_connection(chat_server):
    heard = []

    async def sender(ws):
        for text in ("one", "two"):
            await ws.send(json.dumps({"message": text}))
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)

    async def receiver(ws):
        async for frame in ws:
            if (line := chat_line(frame)) is not None:
                heard.append(line)

    async with connect(f"{chat_server.ws_url}/ws/alice") as ws:
        await asyncio.wait_for(run_until_first_done(sender(ws), receiver(ws)), 3)
    assert heard == [("alice", "one"), ("alice", "two")]


# -- reading chat lines --------------------------------------------------------------------------

@pytest.mark.parametrize("frame, line", [
    (envelope.chat_message("bob", "hi"), ("bob", "hi")),
    (envelope.chat_message("bob", "<b>x</b> & y"), ("bob", "<b>x</b> & y")),
    ("Client bob: plain words", ("bob", "plain words")),
    ("Client bob: a: b: c", ("bob", "a: b: c")),
    (envelope.welcome_message("bob", ["bob"]), None),
    (envelope.join_message("bob", 2), None),
    (envelope.leave_message("bob", 1), None),
    (envelope.error_message("rate_limited", "slow down"), None),
    (envelope.pong_message(), None),
    (b"\x00\x01", None),
    ("[1, 2]", None),
    ("some text that is not a relay", None),
])
def test_chat_line(frame, line):
    assert chat_line(frame) == line


async def test_receive_chat_stops_at_count_and_skips_system_messages():
    socket = ScriptedSocket([envelope.welcome_message("a", ["a"]), envelope.chat_message("b", "1"),
                             "Client c: 2", envelope.chat_message("d", "3")])
    assert await asyncio.wait_for(receive_chat(socket, 2), 1) == [("b", "1"), ("c", "2")]
    assert socket.received == 3  # the third chat line was never read


async def test_receive_chat_on_a_real_server(chat_server):
    url = f"{chat_server.ws_url}/ws"
    async with connect(f"{url}/alice") as alice, connect(f"{url}/bob") as bob:
        await bob.send(json.dumps({"message": "hi"}))
        await bob.send("plain")
        assert await asyncio.wait_for(receive_chat(alice, 2), 3) == [("bob", "hi"),
                                                                     ("bob", "plain")]


# -- addresses and close codes -------------------------------------------------------------------

@pytest.mark.parametrize("url, token, expected", [
    ("ws://127.0.0.1:8000", None, "ws://127.0.0.1:8000/ws/py"),
    ("http://127.0.0.1:8000/", None, "ws://127.0.0.1:8000/ws/py"),
    ("https://hub.example/user/a/proxy/8000", None, "wss://hub.example/user/a/proxy/8000/ws/py"),
    ("ws://127.0.0.1:8000", "s3 cret", "ws://127.0.0.1:8000/ws/py?token=s3+cret"),
])
def test_socket_url(url, token, expected):
    assert socket_url(url, "py", token) == expected


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host", "ws://host:1/?token=x", ""])
def test_socket_url_refuses_what_is_not_a_server_address(url):
    with pytest.raises(ValueError):
        socket_url(url, "py")


def test_describe_close():
    assert describe_close(1012) == "1012 (the server is restarting)"
    assert describe_close(1008, "wrong token") == \
        "1008 (refused by the server (policy violation)): wrong token"
    assert describe_close(4000) == "4000"
    assert describe_close(None) == "no close code"


# -- ChatClient ----------------------------------------------------------------------------------

@pytest.fixture
async def clients():
    yield
    await close_all()


async def test_a_client_connects_says_and_hears(chat_server, clients):
    py = ChatClient(chat_server.ws_url, "py", **FAST)
    await py.say("hello")
    assert await py.wait_until(lambda client: ("py", "hello") in client.heard, 3)
    assert py.connected and py.connections == 1
    assert [text for _, text in py.events] == ["connected as py", "heard py: hello"]
    assert json.loads(py.messages[0])["type"] == "welcome"
    await py.close()
    assert py.status == "closed" and py.events[-1][1] == "closed"
    with pytest.raises(ConnectionError):
        await py.say("after close")


async def test_a_client_reconnects_after_a_restart_on_the_same_port(clients):
    attempts = []

    def recording_backoff(attempt):
        attempts.append(attempt)
        return 0.05

    first = BackgroundServer(create_app(), name="client-restart-1").start()
    second = None
    try:
        py = ChatClient(first.ws_url, "py", backoff=recording_backoff)
        assert await py.wait_until(lambda client: client.connected, 3)
        first.stop()
        assert await py.wait_until(lambda client: len(attempts) >= 3, 3)
        texts = [text for _, text in py.events]
        assert "connection closed: 1012 (the server is restarting)" in texts
        assert any(text.startswith("connect failed: nothing is listening") for text in texts)
        assert any(text.startswith("reconnecting in 0.1 s (attempt 1)") for text in texts)
        assert py.status == "reconnecting"

        second = BackgroundServer(create_app(), name="client-restart-2", port=first.port).start()
        assert await py.wait_until(lambda client: client.connected, 3)
        await py.say("back")
        assert await py.wait_until(lambda client: ("py", "back") in client.heard, 3)
        assert py.connections == 2
        assert attempts[:3] == [0, 1, 2]  # growing while the server stayed away
    finally:
        first.stop()
        if second is not None:
            second.stop()


async def test_a_refusal_is_not_retried(start_chat, clients):
    server = start_chat(token="s3cret")
    py = ChatClient(server.ws_url, "py", **FAST)
    assert await py.wait_until(lambda client: client.status == "closed", 3)
    await asyncio.sleep(0.3)
    assert py.connections == 1
    assert py.events[-1][1].startswith("stopped for good: 1008")
    assert "wrong join token" in py.events[-1][1] or "needs a join token" in py.events[-1][1]

    with_token = ChatClient(server.ws_url, "py2", token="s3cret", **FAST)
    assert await with_token.wait_until(lambda client: client.connected, 3)


async def test_a_replaced_client_stops_and_the_newer_one_stays(chat_server, clients):
    older = ChatClient(chat_server.ws_url, "py", **FAST)
    assert await older.wait_until(lambda client: client.connected, 3)
    newer = ChatClient(chat_server.ws_url, "py", **FAST)
    assert await older.wait_until(lambda client: client.status == "closed", 3)
    assert "4409" in older.events[-1][1]
    await asyncio.sleep(0.3)
    assert newer.connected and newer.connections == 1 and older.connections == 1


def code_dropping_proxy(error_code: str) -> FastAPI:
    """A chat as seen through a proxy that drops close codes (jupyter-server-proxy does): the
    server's error reply arrives, and then a close without the 1008 or 4409 that followed it."""
    app = FastAPI()

    @app.websocket("/ws/{client_id}")
    async def refuse(websocket: WebSocket, client_id: str) -> None:
        await websocket.accept()
        await websocket.send_text(envelope.error_message(error_code, f"refused: {error_code}"))
        await websocket.close()  # 1000: the proxy's close, not the server's code

    return app


@pytest.mark.parametrize(("error_code", "settled"), [("bad_token", 1008), ("bad_client_id", 1008),
                                                     ("replaced", 4409)])
async def test_a_final_error_reply_stops_the_client_when_a_proxy_drops_the_code(
        clients, error_code, settled):
    with BackgroundServer(code_dropping_proxy(error_code), name="client-proxy") as server:
        py = ChatClient(server.ws_url, "py", **FAST)
        assert await py.wait_until(lambda client: client.status == "closed", 3)
        await asyncio.sleep(0.3)
        assert py.connections == 1, py.events
        assert py.events[-1][1].startswith(f"stopped for good: {settled}")


async def test_other_error_replies_do_not_stop_the_client(clients):
    with BackgroundServer(code_dropping_proxy("rate_limited"), name="client-proxy") as server:
        py = ChatClient(server.ws_url, "py", **FAST)
        assert await py.wait_until(lambda client: client.connections >= 2, 3)
        assert py.status != "closed"


@pytest.mark.parametrize(("code", "error", "settled"), [
    (1000, "bad_token", 1008), (1005, "replaced", 4409), (1008, "replaced", 1008),
    (4409, None, 4409), (1012, None, 1012), (1000, "rate_limited", 1000), (None, None, None)])
def test_settled_close_code(code, error, settled):
    assert settled_close_code(code, error) == settled


async def test_an_http_refusal_of_the_handshake_is_final(clients):
    with BackgroundServer(FastAPI(), name="client-no-websockets") as server:
        py = ChatClient(server.ws_url, "py", **FAST)
        assert await py.wait_until(lambda client: client.status == "closed", 3)
        assert "HTTP 403" in py.events[-1][1] and py.connections == 0


async def test_a_client_keeps_trying_while_nothing_listens_and_close_stops_it(clients):
    with BackgroundServer(create_app(), name="client-gone") as server:
        url = server.ws_url
    py = ChatClient(url, "py", **FAST)
    assert await py.wait_until(lambda client: len(client.events) >= 6, 3)
    assert py.status in ("connecting", "reconnecting")
    with pytest.raises(TimeoutError):
        await py.say("nobody hears this", timeout=0.2)
    await py.close()
    assert py.status == "closed" and py._task.done()
    count = len(py.events)
    await asyncio.sleep(0.2)
    assert len(py.events) == count


async def test_backoff_restarts_only_after_a_stable_connection(clients):
    app = FastAPI()

    @app.websocket("/ws/{client_id}")
    async def accept_and_close(websocket: WebSocket, client_id: str):
        await websocket.accept()
        await websocket.close(code=1011)

    for stable, expected in ((100.0, [0, 1, 2, 3]), (0.0, [0, 0, 0, 0])):
        attempts = []

        def recording_backoff(attempt):
            attempts.append(attempt)
            return 0.02

        with BackgroundServer(app, name="client-flaky") as server:
            py = ChatClient(server.ws_url, "py", backoff=recording_backoff, stable=stable)
            assert await py.wait_until(lambda client: len(attempts) >= 4, 3)
            await py.close()
        assert attempts[:4] == expected


async def test_a_broken_backoff_stops_the_client_and_says_why(chat_server, clients):
    def broken(attempt):
        raise ZeroDivisionError("division by zero")

    py = ChatClient(chat_server.ws_url, "py", backoff=broken)
    assert await py.wait_until(lambda client: client.connected, 3)
    chat_server.stop()
    assert await py.wait_until(lambda client: client.status == "closed", 3)
    assert py.events[-1][1] == "stopped on an error: ZeroDivisionError: division by zero"


async def test_watch_prints_new_events_as_they_happen(chat_server, clients, capsys):
    py = ChatClient(chat_server.ws_url, "py", **FAST)
    await py.watch(until=lambda client: client.connected, timeout=3)
    await py.say("one")
    await py.watch(until=lambda client: ("py", "one") in client.heard, timeout=3)
    lines = capsys.readouterr().out.splitlines()
    shown = [re.fullmatch(r" *\d+\.\d s  (.*)", line) for line in lines]
    assert all(shown), lines
    assert [match.group(1) for match in shown] == ["py: connected as py", "py: heard py: one"]

    await py.watch(timeout=0.1)  # nothing new: prints nothing, returns after the time
    assert capsys.readouterr().out == ""
    with pytest.raises(TimeoutError, match="within 0.1 s"):
        await py.watch(until=lambda client: False, timeout=0.1)
    assert await py.wait_until(lambda client: False, 0.05) is False


async def test_a_bad_name_is_refused_at_once():
    with pytest.raises(ValueError, match="cannot use the name"):
        ChatClient("ws://127.0.0.1:1", "no spaces allowed")


async def test_async_with_closes_the_client(chat_server):
    async with ChatClient(chat_server.ws_url, "py", **FAST) as py:
        assert await py.wait_until(lambda client: client.connected, 3)
    assert py.status == "closed"
    assert "closed" in repr(py)
