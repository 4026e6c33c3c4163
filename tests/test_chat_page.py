"""The kit's chat page (``/chat``) in a real headless Chromium, against a real uvicorn server.

What the page must do, as a student would see it: chat with other pages and with a Python
client, show markup as text and never run it, show error replies, say who is online, reconnect
by itself after a server restart, stop retrying after a final close, keep a heartbeat, and find
its socket from its own address (wss behind https, any path prefix, the join token). And that it
follows the package's reconnect policy and close-code table (``wslab.reconnect``,
``wslab.close_codes``), served to it as data, with nothing of them typed in the page.

Screenshots land in ``test-artifacts/chat-page/``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from browser import require_browser

require_browser()  # skips this module without Chromium or Playwright (fails instead when CI is set)

from playwright.sync_api import WebSocketRoute, expect  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from browser import PHONE, page_url, screenshot, serve_kit_page  # noqa: E402
from wslab import close_codes  # noqa: E402
from wslab.backoff import backoff_delay  # noqa: E402
from wslab.chat import create_app  # noqa: E402
from wslab.close_codes import Close  # noqa: E402
from wslab.reconnect import CHAT_POLICY  # noqa: E402
from wslab.resume import digest  # noqa: E402
from wslab.runner import BackgroundServer  # noqa: E402

pytestmark = pytest.mark.browser

expect.set_options(timeout=5000)

CONNECTED = re.compile(r"(^|\s)connected(\s|$)")
DISCONNECTED = re.compile(r"(^|\s)disconnected(\s|$)")
#: Fast reconnects (the first after 0.05-0.1 s), so the tests need not wait for the real delays.
FAST = {"retry": "0.1"}


def connected(page: Any) -> None:
    expect(page.locator("#connectionStatus")).to_have_text("Connected")
    expect(page.locator("#connectionStatus")).to_have_class(CONNECTED)


def say(page: Any, text: str, *, click: bool = False) -> None:
    page.fill("#messageText", text)
    if click:
        page.click("#sendButton")
    else:
        page.press("#messageText", "Enter")
    expect(page.locator("#messageText")).to_have_value("")


def expect_chat(page: Any, sender: str, text: str) -> None:
    """``page`` shows ``text`` as a chat line labelled ``sender`` ("You" or "Client <id>")."""
    kind = "user" if sender == "You" else "other"
    line = page.locator(f"#messages .message.{kind}").filter(
        has=page.locator(".text", has_text=re.compile(f"^{re.escape(text)}$")))
    expect(line).to_have_count(1)
    expect(line.locator(".sender")).to_have_text(sender)
    expect(line.locator(".timestamp")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))


def system_lines(page: Any, text: str | re.Pattern[str]) -> Any:
    return page.locator("#messages .message.system").filter(has_text=text)


def read_json(client: Any) -> dict[str, Any]:
    return json.loads(client.recv(timeout=3))


def connected_to_a_stand_in(new_page: Any, query: str) -> tuple[Any, list[WebSocketRoute]]:
    """The kit's page (as served now, table and all) at ``kit.example/chat`` + ``query``, its
    sockets answered by the test itself: the list holds one route per socket the page opened."""
    page = new_page()
    sockets: list[WebSocketRoute] = []
    page.route_web_socket(re.compile(r"/ws/"), lambda ws: sockets.append(ws))
    serve_kit_page(page, "http://kit.example/chat")
    page.goto(f"http://kit.example/chat{query}")
    connected(page)
    return page, sockets


def next_chat_line(client: Any) -> dict[str, Any]:
    """The next chat line a Python client receives, skipping system messages."""
    while True:
        message = read_json(client)
        if "type" not in message:
            return message


def test_two_pages_and_a_python_client_chat(start_chat, new_page):
    server = start_chat()
    alice = new_page(page_url(server.url, name="alice"))
    connected(alice)
    expect(alice.locator("#myId")).to_have_text("alice")
    expect(alice.locator("#participants")).to_have_text("1 online")

    bob = new_page(page_url(server.url, name="bob"), viewport=PHONE)
    connected(bob)
    expect(bob.locator("#participants")).to_have_text("2 online")
    expect(alice.locator("#participants")).to_have_text("2 online")
    expect(system_lines(alice, "Client #bob joined the chat")).to_have_count(1)

    with connect(f"{server.ws_url}/ws/py", open_timeout=3) as py:
        assert read_json(py)["type"] == "welcome"
        for page in (alice, bob):
            expect(page.locator("#participants")).to_have_text("3 online")

        say(alice, "Hello from alice")
        say(bob, "Hi from bob", click=True)
        heard = [next_chat_line(py), next_chat_line(py)]
        assert sorted((line["client_id"], line["message"]) for line in heard) == [
            ("alice", "Hello from alice"), ("bob", "Hi from bob")]
        py.send(json.dumps({"message": "Hello from Python"}))
        py.send("just plain words")

        expect_chat(alice, "You", "Hello from alice")
        expect_chat(alice, "Client bob", "Hi from bob")
        expect_chat(alice, "Client py", "Hello from Python")
        expect_chat(bob, "Client alice", "Hello from alice")
        expect_chat(bob, "You", "Hi from bob")
        expect_chat(bob, "Client py", "Hello from Python")
        for page in (alice, bob):  # the lecture's plain-text relay is not JSON: a system line
            expect(system_lines(page, "Client py: just plain words")).to_have_count(1)
        screenshot(alice, "chat-alice")
        screenshot(bob, "chat-bob-phone")

    for page in (alice, bob):
        expect(page.locator("#participants")).to_have_text("2 online")
        expect(system_lines(page, "Client #py left the chat")).to_have_count(1)
    expect(alice.locator("#participants")).to_have_attribute("title", "Online: alice, bob")
    expect(system_lines(alice, "pong")).to_have_count(0)


def test_markup_in_messages_is_shown_as_text_and_never_runs(start_chat, new_page):
    server = start_chat()
    alice = new_page(page_url(server.url, name="alice"))
    bob = new_page(page_url(server.url, name="bob"))
    connected(alice)
    connected(bob)
    image = '<img src=x onerror="window.pwned=1">'
    script = "<script>window.pwned=1</script>"

    say(alice, f"{image} and {script}")
    with connect(f"{server.ws_url}/ws/mallory", open_timeout=3) as mallory:
        mallory.send(json.dumps({"message": f"<b>bold?</b>{image}"}))
        mallory.send(f"{script}<i>plain</i>")   # relayed as "Client mallory: ..." plain text

        for page in (alice, bob):
            sender = "You" if page is alice else "Client alice"
            expect_chat(page, sender, f"{image} and {script}")
            expect_chat(page, "Client mallory", f"<b>bold?</b>{image}")
            expect(system_lines(page, f"Client mallory: {script}<i>plain</i>")).to_have_count(1)
    screenshot(bob, "markup-as-text")

    bob.wait_for_timeout(300)  # time enough for an injected image's onerror to have fired
    for page in (alice, bob):
        assert page.evaluate("typeof window.pwned") == "undefined"
        for tag in ("img", "script", "b", "i"):
            expect(page.locator(f"#messages {tag}")).to_have_count(0)


def test_an_error_reply_shows_as_an_error_line_to_the_sender_only(start_chat, new_page):
    server = start_chat()  # the default limit: 4096 bytes per chat line
    alice = new_page(page_url(server.url, name="alice"))
    bob = new_page(page_url(server.url, name="bob"))
    connected(alice)
    connected(bob)

    say(alice, "x" * 5000)
    error = alice.locator("#messages .message.system.error")
    expect(error).to_have_count(1)
    expect(error).to_have_attribute("data-code", "message_too_long")
    expect(error).to_contain_text("5000 bytes long; the limit is 4096")
    screenshot(alice, "error-line")

    say(alice, "a short one")  # still connected, and the next line goes through
    expect_chat(bob, "Client alice", "a short one")
    expect(bob.locator("#messages .message.error")).to_have_count(0)
    expect(bob.locator("#messages .message.other")).to_have_count(1)


def test_reconnects_after_the_server_restarts(new_page):
    first = BackgroundServer(create_app(), name="chat-page-first").start()
    second = None
    try:
        page = new_page(page_url(first.url, name="alice", **FAST))
        connected(page)
        expect(page.locator("#participants")).to_have_text("1 online")

        first.stop()
        status = page.locator("#connectionStatus")
        expect(status).to_have_class(DISCONNECTED)
        expect(status).to_contain_text("Disconnected")
        expect(page.locator("#sendButton")).to_be_disabled()
        expect(system_lines(page, "Disconnected: the server")).to_have_count(1)
        page.wait_for_timeout(500)  # several failed attempts while nothing listens
        expect(status).to_have_class(DISCONNECTED)
        screenshot(page, "reconnect-server-down")

        second = BackgroundServer(create_app(), name="chat-page-second", port=first.port).start()
        connected(page)
        expect(system_lines(page, "Reconnected.")).to_have_count(1)
        expect(system_lines(page, "Welcome, alice!")).to_have_count(1)  # not again
        say(page, "back again")
        expect_chat(page, "You", "back again")
        screenshot(page, "reconnect-back")
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_a_wrong_token_shows_the_reason_and_is_not_retried(start_chat, new_page):
    server = start_chat(token="s3cret")
    page = new_page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(page_url(server.url, name="alice", **FAST))

    status = page.locator("#connectionStatus")
    expect(status).to_have_class(DISCONNECTED)
    expect(status).to_contain_text("this chat needs a join token")
    expect(page.locator("#reconnectButton")).to_have_text("Reconnect")
    page.wait_for_timeout(1000)  # retries would come every 0.1-0.2 s here
    assert len(sockets) == 1, sockets
    errors = page.locator("#messages .message.error")
    expect(errors).to_have_count(1)  # the error reply and the close say it once, not twice
    expect(errors).to_contain_text("this chat needs a join token", ignore_case=True)
    screenshot(page, "wrong-token")

    with_token = new_page()
    with_token.on("websocket", lambda ws: sockets.append(ws.url))
    with_token.goto(page_url(server.url, name="bob", token="s3cret"))
    connected(with_token)
    assert sockets[-1] == f"{server.ws_url}/ws/bob?token=s3cret"


def test_a_tab_cannot_take_a_name_another_tab_holds_and_does_not_retry(start_chat, new_page):
    server = start_chat()
    first = new_page(page_url(server.url, name="alice", **FAST))
    connected(first)
    sockets: list[str] = []
    second = new_page()
    second.on("websocket", lambda ws: sockets.append(ws.url))
    second.goto(page_url(server.url, name="alice", **FAST))
    status = second.locator("#connectionStatus")
    expect(status).to_have_text("Disconnected: the name alice is in use")
    expect(status).to_have_class(DISCONNECTED)
    error = second.locator("#messages .message.error")
    expect(error).to_have_count(1)  # the error reply and the close say it once, not twice
    expect(error).to_have_attribute("data-code", "name_taken")
    expect(error).to_contain_text("pick another name")
    expect(second.locator("#reconnectButton")).to_have_text("Reconnect")
    second.wait_for_timeout(1000)  # retries would come every 0.05-0.1 s here
    assert len(sockets) == 1, "a page refused its name must not retry by itself"
    screenshot(second, "name-taken")
    # The holder never noticed, and still chats.
    connected(first)
    expect(first.locator("#messages .message.error")).to_have_count(0)
    say(first, "still mine")
    expect_chat(first, "You", "still mine")


def test_a_page_whose_socket_is_cut_takes_its_name_back_with_its_key(start_chat, new_page):
    server = start_chat()
    page = new_page()
    routes: list[WebSocketRoute] = []
    cut = {"now": False}

    def through_to_the_server(ws: WebSocketRoute) -> None:
        routes.append(ws)
        real = ws.connect_to_server()
        if len(routes) > 1:
            return  # later connections pass through untouched
        # The first connection goes dead when the test says so: nothing passes either way,
        # and the page's own close never reaches the server, which still holds the name.
        ws.on_message(lambda message: None if cut["now"] else real.send(message))
        real.on_message(lambda message: None if cut["now"] else ws.send(message))
        ws.on_close(lambda code, reason: None)

    page.route_web_socket(re.compile(r"/ws/"), through_to_the_server)
    page.goto(page_url(server.url, name="alice", heartbeat="0.3", heartbeat_timeout="0.3",
                       **FAST))
    connected(page)
    key = page.evaluate("() => Object.entries(sessionStorage).find("
                        "([slot]) => slot.startsWith('wslab-resume '))[1]")
    assert server.app.state.room._members["alice"].key_digest == digest(key)
    with connect(f"{server.ws_url}/ws/bob") as bob:
        read_json(bob)  # bob's welcome
        cut["now"] = True
        expect(system_lines(page, "no answer from the server for 0.3 s")).to_have_count(1)
        expect(system_lines(page, "Reconnected.")).to_have_count(1)
        connected(page)
        assert len(routes) == 2 and f"resume={key}" in routes[1].url, [r.url for r in routes]
        assert server.app.state.room.online == ["alice", "bob"]
        say(page, "back again")
        assert next_chat_line(bob)["message"] == "back again"
    expect(page.locator("#messages .message.error")).to_have_count(0)


def test_heartbeat_pings_the_real_server_and_hides_the_pongs(start_chat, new_page):
    server = start_chat()
    page = new_page()
    frames = {"ping": 0, "pong": 0}

    def watch(ws: Any) -> None:
        ws.on("framesent", lambda payload: count(payload, "ping"))
        ws.on("framereceived", lambda payload: count(payload, "pong"))

    def count(payload: Any, kind: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if isinstance(message, dict) and message.get("type") == kind:
            frames[kind] += 1

    page.on("websocket", watch)
    page.goto(page_url(server.url, name="alice", heartbeat="0.2", heartbeat_timeout="0.5"))
    connected(page)
    page.wait_for_timeout(1200)
    assert frames["ping"] >= 3 and frames["pong"] >= 3, frames
    connected(page)
    expect(system_lines(page, re.compile("pong|Reconnected|Disconnected"))).to_have_count(0)


def test_a_silent_connection_is_given_up_and_replaced(new_page):
    page = new_page()
    routes: list[WebSocketRoute] = []
    pings: list[int] = []

    def server(ws: WebSocketRoute) -> None:
        number = len(routes)
        routes.append(ws)

        def on_message(message: str | bytes) -> None:
            if json.loads(message) == {"type": "ping"}:
                pings.append(number)
                if number > 0:  # the first connection is dead: it never answers
                    ws.send(json.dumps({"client_id": "system", "type": "pong",
                                        "message": "pong", "timestamp": "12:00:00"}))

        ws.on_message(on_message)

    page.route_web_socket(re.compile(r"/ws/"), server)
    serve_kit_page(page, "http://kit.example/chat")
    page.goto("http://kit.example/chat?name=alice&heartbeat=0.3&heartbeat_timeout=0.3&retry=0.1")
    expect(page.locator("#connectionStatus")).to_have_text("Connected")
    expect(system_lines(page, "no answer from the server for 0.3 s")).to_have_count(1)
    expect(system_lines(page, "Reconnected.")).to_have_count(1)
    page.wait_for_timeout(1000)  # the second connection answers: it is kept
    assert len(routes) == 2 and pings.count(0) == 1 and pings.count(1) >= 2, (len(routes), pings)
    connected(page)


def test_the_list_follows_new_lines_unless_the_reader_scrolled_up(new_page):
    page, sockets = connected_to_a_stand_in(new_page, "?name=alice")

    def chat(number: int) -> None:
        sockets[0].send(json.dumps({"message": f"line {number}", "client_id": "bob",
                                    "timestamp": "12:00:00"}))

    def gap_below() -> float:
        return page.evaluate("(m => m.scrollHeight - m.scrollTop - m.clientHeight)"
                             "(document.getElementById('messages'))")

    for number in range(40):
        chat(number)
    expect_chat(page, "Client bob", "line 39")
    assert gap_below() < 2  # at the newest line

    page.evaluate("document.getElementById('messages').scrollTop = 0")  # reading old lines
    chat(40)
    expect_chat(page, "Client bob", "line 40")
    assert page.evaluate("document.getElementById('messages').scrollTop") == 0

    say(page, "my own line")  # sending jumps back to the newest line
    sockets[0].send(json.dumps({"message": "my own line", "client_id": "alice",
                                "timestamp": "12:00:01"}))
    expect_chat(page, "You", "my own line")
    assert gap_below() < 2


@pytest.mark.parametrize("address, socket", [
    ("https://kit.example/proxy/8765/chat?name=alice&token=s3cret",
     r"wss://kit\.example/proxy/8765/ws/alice\?token=s3cret"),
    ("http://kit.example/chat?name=Bob_2-x", r"ws://kit\.example/ws/Bob_2-x"),
    ("http://kit.example/chat", r"ws://kit\.example/ws/[a-z0-9]{6}"),
    ("http://kit.example/chat?name=%3Cb%3Ex%3C%2Fb%3E", r"ws://kit\.example/ws/[a-z0-9]{6}"),
])
def test_the_socket_address_comes_from_the_page_address(new_page, address, socket):
    page = new_page()
    opened: list[str] = []

    def server(ws: WebSocketRoute) -> None:
        opened.append(ws.url)
        client_id = ws.url.split("/ws/")[1].split("?")[0]
        ws.send(json.dumps({"client_id": "system", "type": "welcome", "user": client_id,
                            "participants": 1, "online": [client_id], "timestamp": "12:00:00",
                            "message": f"Welcome, {client_id}! Online: nobody else yet."}))

    page.route_web_socket(re.compile(r".*"), server)
    serve_kit_page(page, address.split("?")[0])
    page.goto(address)
    connected(page)
    assert len(opened) == 1 and re.fullmatch(socket, opened[0]), opened
    client_id = opened[0].split("/ws/")[1].split("?")[0]
    expect(page.locator("#myId")).to_have_text(client_id)
    expect(page.locator("#participants")).to_have_text("1 online")
    bad_name = page.locator("#messages .message.error[data-code=bad_name]")
    expect(bad_name).to_have_count(1 if "%3C" in address else 0)


def test_the_page_follows_the_package_s_policy(start_chat, new_page):
    server = start_chat()
    page = new_page(page_url(server.url, name="alice"))
    connected(page)
    assert page.evaluate("POLICY") == CHAT_POLICY.for_page()
    assert page.evaluate("[RETRY_FIRST_MS, RETRY_MAX_MS, STABLE_MS]") == [1000, 30000, 10000]
    for attempt in (0, 1, 2, 4, 5, 9, 1100):
        for rand in (0.0, 0.3, 0.999):
            expected = backoff_delay(attempt, rand, CHAT_POLICY.first, CHAT_POLICY.cap) * 1000
            assert page.evaluate(f"backoffDelay({attempt}, {rand})") == pytest.approx(expected)

    fast = new_page(page_url(server.url, name="bob", **FAST))  # ?retry= overrides first only
    connected(fast)
    assert fast.evaluate("[RETRY_FIRST_MS, RETRY_MAX_MS, STABLE_MS]") == [100, 30000, 10000]
    assert fast.evaluate("backoffDelay(3, 0.5)") == pytest.approx(
        backoff_delay(3, 0.5, 0.1, CHAT_POLICY.cap) * 1000)


def test_a_final_close_added_to_the_table_is_honoured_without_editing_the_page(monkeypatch,
                                                                              new_page):
    meaning = "banned for today </script><script>window.pwned = 1</script>"
    monkeypatch.setitem(close_codes.CLOSES, 4403, Close(4403, meaning, final=True))
    page, sockets = connected_to_a_stand_in(new_page, "?name=alice&retry=0.1")

    sockets[0].close(code=4403)
    expect(page.locator("#connectionStatus")).to_have_text(f"Disconnected: {meaning}")
    error = page.locator("#messages .message.error")
    expect(error).to_have_attribute("data-code", "close_4403")
    expect(error).to_have_text(re.compile(re.escape(f"Disconnected: {meaning}")))
    expect(page.locator("#reconnectButton")).to_have_text("Reconnect")
    page.wait_for_timeout(1000)  # retries would come every 0.05-0.1 s here
    assert len(sockets) == 1, "a final close must not be retried"
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_a_close_the_table_does_not_know_is_retried_and_named_by_its_number(new_page):
    page, sockets = connected_to_a_stand_in(new_page, "?name=alice&retry=0.1")
    sockets[0].close(code=4403, reason="not today")
    expect(system_lines(page, "Disconnected: the connection closed (code 4403): not today.")
           ).to_have_count(1)
    expect(system_lines(page, "Reconnected.")).to_have_count(1)
    assert len(sockets) == 2
