"""``wslab.client``: two tasks on one connection, reading chat lines, and ChatClient.

ChatClient is tested against real uvicorn servers on loopback: a restart on the same port, a
refusal (1008) and a replacement (4409) that must not be retried, a server that is not there,
and a server that accepts and closes at once, again and again. The policy's rules without a
socket, the backoff rule and the close-code table are tested with their modules
(``wslab.reconnect``, ``wslab.backoff``, ``wslab.close_codes``); here, that the client follows
them.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import connect

from wslab import envelope
from wslab.chat import create_app
from wslab.checks.clients import ScriptedSocket
from wslab.client import (CLOSED, RECONNECTING, ChatClient, chat_line, close_all, parse_frame,
                          receive_chat, run_until_first_done, socket_url)
from wslab.reconnect import CHAT_POLICY, ReconnectPolicy
from wslab.runner import BackgroundServer

#: Fast reconnects, so that the tests need not wait for the real delays.
FAST_POLICY = ReconnectPolicy(first=0.05, cap=0.1)
FAST = {"policy": FAST_POLICY}


def texts(client: ChatClient) -> list[str]:
    return [event.text for event in client.events]


def attempts(client: ChatClient) -> list[int]:
    """The attempt numbers of the reconnects the client waited for, in order."""
    return [event.step.attempt for event in client.events if event.kind == "waiting"]


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
], ids=["chat", "chat with markup", "plain relay", "plain relay with colons", "welcome", "join",
        "leave", "error", "pong", "binary", "json list", "other text"])
# Named ids: the frames hold the time of day, and pytest-xdist's workers must collect the same ids.
def test_chat_line(frame, line):
    assert chat_line(frame) == line


def test_parse_frame_gives_every_frame_as_a_message():
    assert parse_frame(envelope.chat_message("bob", "hi"))["client_id"] == "bob"
    for frame, text in (("Client bob: plain", "Client bob: plain"), ("[1, 2]", "[1, 2]"),
                        (b"\x00\x01", "(a binary frame of 2 bytes)")):
        message = parse_frame(frame)
        assert message["type"] == "plain" and message["message"] == text
        assert set(message) == {"type", "message", "timestamp"}


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
    ("https://hub.example/user/x/proxy/8000", "a b&c",
     "wss://hub.example/user/x/proxy/8000/ws/py?token=a+b%26c"),
])
def test_socket_url(url, token, expected):
    assert socket_url(url, "py", token) == expected


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host", "ws://host:1/?token=x",
                                 "http://host/?token=x", ""])
def test_socket_url_refuses_what_is_not_a_server_address(url):
    with pytest.raises(ValueError):
        socket_url(url, "py")


# -- ChatClient ----------------------------------------------------------------------------------

@pytest.fixture
async def clients():
    yield
    await close_all()


async def test_a_client_connects_says_and_hears(chat_server, clients):
    py = ChatClient(chat_server.ws_url, "py", **FAST)
    await py.say("hello")
    assert await py.wait_for(lambda client: ("py", "hello") in client.chat_lines, 3)
    assert py.connected and py.connections == 1
    assert texts(py) == ["connected as py", "heard welcome: Welcome, py! Online: nobody else yet.",
                         "heard py: hello"]
    assert py.messages[0]["type"] == "welcome"  # parsed once, by the client
    await py.close()
    assert py.status == CLOSED and py.events[-1].text == "closed"
    with pytest.raises(ConnectionError):
        await py.say("after close")


@pytest.mark.slow
async def test_a_client_reconnects_after_a_restart_on_the_same_port(clients):
    first = BackgroundServer(create_app(), name="client-restart-1").start()
    second = None
    try:
        py = ChatClient(first.ws_url, "py", **FAST)
        assert await py.wait_for(lambda client: client.connected, 3)
        first.stop()
        assert await py.wait_for(lambda client: len(attempts(client)) >= 3, 3)
        said = texts(py)
        assert "connection closed: 1012 (the server is restarting)" in said
        assert any(text.startswith("connect failed: nothing is listening") for text in said)
        assert any(re.fullmatch(r"reconnecting in 0\.\d s \(attempt 1\)", text) for text in said)
        assert py.status == RECONNECTING
        # The waits follow the policy's backoff: half the ceiling at least, the ceiling at most.
        backoff = FAST_POLICY.backoff()
        for event in py.events:
            if event.kind == "waiting":
                ceiling = backoff.ceiling(event.step.attempt - 1)
                assert ceiling / 2 <= event.step.delay <= ceiling

        second = BackgroundServer(create_app(), name="client-restart-2", port=first.port).start()
        assert await py.wait_for(lambda client: client.connected, 3)
        await py.say("back")
        assert await py.wait_for(lambda client: ("py", "back") in client.chat_lines, 3)
        assert py.connections == 2
        assert attempts(py)[:3] == [1, 2, 3]  # growing while the server stayed away
    finally:
        first.stop()
        if second is not None:
            second.stop()


async def test_a_refusal_is_not_retried(start_chat, clients):
    server = start_chat(token="s3cret")
    py = ChatClient(server.ws_url, "py", **FAST)
    assert await py.wait_for(lambda client: client.status == "closed", 3)
    await asyncio.sleep(0.3)  # no retry meanwhile: the wait is the behaviour tested
    assert py.connections == 1
    assert py.events[-1].text.startswith("stopped for good: 1008")
    assert "wrong join token" in py.events[-1].text or "needs a join token" in py.events[-1].text

    with_token = ChatClient(server.ws_url, "py2", token="s3cret", **FAST)
    assert await with_token.wait_for(lambda client: client.connected, 3)


async def test_a_replaced_client_stops_and_the_newer_one_stays(chat_server, clients):
    older = ChatClient(chat_server.ws_url, "py", **FAST)
    assert await older.wait_for(welcomed, 3)
    newer = ChatClient(chat_server.ws_url, "py", **FAST)  # in the same process: it has the key
    assert await older.wait_for(lambda client: client.status == "closed", 3)
    assert "4409" in older.events[-1].text
    await asyncio.sleep(0.3)  # no retry meanwhile: the wait is the behaviour tested
    assert newer.connected and newer.connections == 1 and older.connections == 1


def welcomed(client: ChatClient) -> bool:
    """Whether the server's welcome (and with it the name's resume key) has arrived."""
    return any(message.get("type") == "welcome" for message in client.messages)


async def test_a_client_cut_off_takes_its_name_back_with_its_key(chat_server, clients):
    py = ChatClient(chat_server.ws_url, "py", **FAST)
    assert await py.wait_for(welcomed, 3)
    room = chat_server.app.state.room
    held_with = room._members["py"].key_digest
    # The connection dies without a close reaching the server, which still holds the name.
    py._ws.transport.pause_reading()
    py._ws.transport.abort()
    assert await py.wait_for(lambda client: client.connections == 2 and client.connected, 3)
    assert await py.wait_for(lambda client: sum(
        message.get("type") == "welcome" for message in client.messages) == 2, 3)
    assert room.online == ["py"] and room._members["py"].key_digest != held_with
    await py.say("back")
    assert await py.wait_for(lambda client: ("py", "back") in client.chat_lines, 3)
    # The key is kept apart, never in what the client shows or logs.
    assert all("resume" not in message for message in py.messages)
    assert "resume" not in py.url and "resume" not in repr(py)


async def test_a_client_refused_its_name_stops_and_the_holder_stays(chat_server, clients):
    async with connect(f"{chat_server.ws_url}/ws/ada") as holder:
        assert json.loads(await holder.recv())["type"] == "welcome"
        # Another process (another student) has no key for ada.
        py = ChatClient(chat_server.ws_url, "ada", **FAST)
        assert await py.wait_for(lambda client: client.status == CLOSED, 3)
        await asyncio.sleep(0.3)  # no retry meanwhile: the wait is the behaviour tested
        assert py.connections == 1 and py.close_code == 1008
        assert py.events[-1].text.startswith("stopped for good: 1008")
        assert "the name ada is in use" in py.events[-1].text
        await holder.send(json.dumps({"message": "still mine"}))
        assert chat_line(await holder.recv()) == ("ada", "still mine")


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
                                                     ("name_taken", 1008), ("replaced", 4409)])
@pytest.mark.slow
async def test_a_final_error_reply_stops_the_client_when_a_proxy_drops_the_code(
        clients, error_code, settled):
    with BackgroundServer(code_dropping_proxy(error_code), name="client-proxy") as server:
        py = ChatClient(server.ws_url, "py", **FAST)
        assert await py.wait_for(lambda client: client.status == "closed", 3)
        await asyncio.sleep(0.3)  # no retry meanwhile: the wait is the behaviour tested
        assert py.connections == 1, py.events
        assert py.events[-1].text.startswith(f"stopped for good: {settled}")


@pytest.mark.slow
async def test_other_error_replies_do_not_stop_the_client(clients):
    with BackgroundServer(code_dropping_proxy("rate_limited"), name="client-proxy") as server:
        py = ChatClient(server.ws_url, "py", **FAST)
        assert await py.wait_for(lambda client: client.connections >= 2, 3)
        assert py.status != "closed"


@pytest.mark.slow
async def test_an_http_refusal_of_the_handshake_is_final(clients):
    with BackgroundServer(FastAPI(), name="client-no-websockets") as server:
        py = ChatClient(server.ws_url, "py", **FAST)
        assert await py.wait_for(lambda client: client.status == "closed", 3)
        assert "HTTP 403" in py.events[-1].text and py.connections == 0


@pytest.mark.slow
async def test_a_client_keeps_trying_while_nothing_listens_and_close_stops_it(clients):
    with BackgroundServer(create_app(), name="client-gone") as server:
        url = server.ws_url
    py = ChatClient(url, "py", **FAST)
    assert await py.wait_for(lambda client: len(client.events) >= 6, 3)
    assert py.status in ("connecting", "reconnecting")
    with pytest.raises(TimeoutError):
        await py.say("nobody hears this", timeout=0.2)
    await py.close()
    assert py.status == "closed" and py._task.done()
    count = len(py.events)
    await asyncio.sleep(0.2)  # nothing more happens once closed: the wait is the behaviour tested
    assert len(py.events) == count


@pytest.mark.slow
async def test_backoff_restarts_only_after_a_stable_connection(clients):
    app = FastAPI()

    @app.websocket("/ws/{client_id}")
    async def accept_and_close(websocket: WebSocket, client_id: str):
        await websocket.accept()
        await websocket.close(code=1011)

    for stable, expected in ((100.0, [1, 2, 3, 4]), (0.0, [1, 1, 1, 1])):
        policy = ReconnectPolicy(first=0.02, cap=0.02, stable=stable)
        with BackgroundServer(app, name="client-flaky") as server:
            py = ChatClient(server.ws_url, "py", policy=policy)
            assert await py.wait_for(lambda client: len(attempts(client)) >= 4, 3)
            await py.close()
        assert attempts(py)[:4] == expected


async def test_a_failing_listener_stops_the_client_and_says_why(chat_server, clients):
    seen = []

    def broken(event):
        seen.append(event.kind)
        if event.kind == "disconnected":
            raise ZeroDivisionError("division by zero")

    py = ChatClient(chat_server.ws_url, "py", listener=broken, **FAST)
    assert await py.wait_for(lambda client: client.connected, 3)
    chat_server.stop()
    assert await py.wait_for(lambda client: client.status == CLOSED, 3)
    assert py.events[-1].text == "stopped on an error: ZeroDivisionError: division by zero"
    assert seen[-2:] == ["disconnected", "stopped"]  # the listener heard of the stop too


async def test_watch_prints_new_events_as_they_happen(chat_server, clients, capsys):
    py = ChatClient(chat_server.ws_url, "py", **FAST)
    await py.watch(until=lambda client: client.connected, timeout=3)
    await py.say("one")
    await py.watch(until=lambda client: ("py", "one") in client.chat_lines, timeout=3)
    lines = capsys.readouterr().out.splitlines()
    shown = [re.fullmatch(r" *\d+\.\d s  (.*)", line) for line in lines]
    assert all(shown), lines
    assert [match.group(1) for match in shown] == [
        "py: connected as py", "py: heard welcome: Welcome, py! Online: nobody else yet.",
        "py: heard py: one"]

    await py.watch(timeout=0.1)  # nothing new: prints nothing, returns after the time
    assert capsys.readouterr().out == ""
    with pytest.raises(TimeoutError, match="within 0.1 s"):
        await py.watch(until=lambda client: False, timeout=0.1)
    with pytest.raises(TimeoutError, match="py: waited 0.05 s in vain"):
        await py.wait_for(lambda client: False, 0.05)


async def test_a_bad_name_is_refused_at_once():
    with pytest.raises(ValueError, match="cannot use the name"):
        ChatClient("ws://127.0.0.1:1", "no spaces allowed")


async def test_async_with_closes_the_client(chat_server):
    async with ChatClient(chat_server.ws_url, "py") as py:
        assert await py.wait_for(lambda client: client.connected, 3)
        assert py.policy is CHAT_POLICY  # the kit's policy, unless a test gives a faster one
    assert py.status == "closed"
    assert "closed" in repr(py)
