"""``wslab.widgets.ChatWidget`` against a real chat server, without a browser.

The widgets run in the test's event loop, as they run in the kernel's; outside a kernel,
ipywidgets gives every widget a dummy comm, so nothing is displayed, but every trait and every
handler works. The tests drive the widgets the way the browser does: they set the text box's
value and send it the message the browser sends on Enter (``{"event": "submit"}``), or click
the Send button; then they check what each log holds (``entries``, and the HTML it shows).
"""

from __future__ import annotations

import asyncio
import html
import json
from typing import Any, AsyncIterator, Callable

import ipywidgets as widgets
import pytest
from websockets.asyncio.client import connect

from peers import lecture_fields
from wslab.chat import create_app
from wslab.runner import BackgroundServer
from wslab.reconnect import ReconnectPolicy
from wslab.widgets import CLOSED, CONNECTED, RECONNECTING, ChatWidget, close_all

#: Fast reconnects, so that the tests need not wait for the real delays.
FAST = {"policy": ReconnectPolicy(first=0.05, cap=0.2)}


@pytest.fixture
async def make_chat() -> AsyncIterator[Callable[..., ChatWidget]]:
    """Create ChatWidgets; every one is closed (and its comm with it) after the test."""
    made: list[ChatWidget] = []

    def make(url: str, name: str, **options: Any) -> ChatWidget:
        chat = ChatWidget(url, name, **{**FAST, **options})
        made.append(chat)
        return chat

    yield make
    for chat in made:
        await chat.close()
        assert chat.client._task.done()
        widgets.Widget.close(chat)


async def connected_pair(make_chat: Callable[..., ChatWidget], server: BackgroundServer
                         ) -> tuple[ChatWidget, ChatWidget]:
    alice = make_chat(server.ws_url, "alice")
    await alice.wait_for(lambda chat: chat.participants == 1)
    bob = make_chat(server.ws_url, "bob")
    for chat in (alice, bob):
        await chat.wait_for(lambda chat: chat.status == CONNECTED and chat.participants == 2)
    return alice, bob


def press_enter(chat: ChatWidget) -> None:
    """What the browser sends the kernel when Enter is pressed in the text box."""
    chat.text_box._handle_custom_msg({"event": "submit"}, [])


async def settled(*chats: ChatWidget) -> None:
    """A round trip through the server: whatever was sent before has been relayed by now."""
    for chat in chats:
        marker = f"round trip {id(chat)} {asyncio.get_running_loop().time()}"
        assert await chat.say(marker)
        await chat.wait_for_text(marker, sender=chat.client_id)


def texts(chat: ChatWidget, sender: str) -> list[str]:
    return [text for who, text in chat.chat_lines if who == sender
            and not text.startswith("round trip")]


# -- chatting -----------------------------------------------------------------------------------

async def test_enter_and_the_send_button_each_send_once(make_chat, chat_server, capfd):
    alice, bob = await connected_pair(make_chat, chat_server)
    assert alice.status == CONNECTED and "connected" in alice.header_html.value
    assert "2 online" in alice.header_html.value

    alice.text_box.value = "Hello Bob"  # typing alone sends nothing (nor does leaving the box)
    await settled(alice)
    assert texts(bob, "alice") == []

    press_enter(alice)
    entry = await bob.wait_for_text("Hello Bob", sender="alice")
    assert set(lecture_fields(entry)) == {"message", "client_id", "timestamp"}
    assert alice.text_box.value == ""

    bob.text_box.value = "Hi Alice"
    bob.send_button.click()
    await alice.wait_for_text("Hi Alice", sender="bob")
    assert bob.text_box.value == ""

    press_enter(alice)  # Enter in an empty box: nothing
    bob.send_button.click()
    await settled(alice, bob)
    for chat in (alice, bob):
        assert texts(chat, "alice") == ["Hello Bob"]
        assert texts(chat, "bob") == ["Hi Alice"]

    # Own lines on the right as "You", the others' with their name; each with its time.
    alice.render()
    log = alice.log_html.value
    assert '<span class="wslab-who">You</span>' in log
    assert '<span class="wslab-who">bob</span>' in log
    own = log.index('<div class="wslab-line wslab-own">')
    assert log.index("Hello Bob") > own
    assert "wslab-time" in log
    assert json.loads(json.dumps(alice.entries)) == alice.entries  # entries are plain data
    out, err = capfd.readouterr()  # the receive loop never prints
    assert out == err == ""


async def test_code_sends_and_waits_like_the_buttons(make_chat, chat_server):
    bob = make_chat(chat_server.ws_url, "bob")
    await bob.wait_for(lambda chat: chat.status == CONNECTED)
    alice = make_chat(chat_server.url, "alice")  # an http:// address works too
    assert alice.status != CONNECTED
    assert await alice.say("sent before the connection was open")  # say() waits for it
    await bob.wait_for_text("sent before the connection", sender="alice")
    alice.text_box.value = "via submit()"
    sending = alice.submit()
    assert sending is not None and await sending is True
    assert alice.text_box.value == ""
    assert alice.submit() is None  # a blank box: nothing to send
    assert await alice.say("   ") is False
    await bob.wait_for_text("via submit()")
    assert bob.chat_lines[-2:] == [("alice", "sent before the connection was open"),
                                   ("alice", "via submit()")]
    with pytest.raises(TypeError):
        await alice.say({"message": "a dict"})  # type: ignore[arg-type]


async def test_enter_waits_for_the_last_keystrokes(make_chat, chat_server):
    """The browser's "submit" can overtake the value update of the last keystrokes."""
    alice, bob = await connected_pair(make_chat, chat_server)
    alice.text_box.value = "Hello B"
    press_enter(alice)
    await asyncio.sleep(alice.submit_settle / 4)  # a fast typist's pause: the timing is the case
    alice.text_box.value = "Hello Bob, typed fast"  # the held-back update arrives late
    await bob.wait_for_text("Hello B", sender="alice")
    await settled(alice)
    assert texts(bob, "alice") == ["Hello Bob, typed fast"]
    assert alice.text_box.value == ""


async def test_keystrokes_that_come_too_late_are_reported(make_chat, chat_server):
    alice, bob = await connected_pair(make_chat, chat_server)
    alice.text_box.value = "Hello B"
    await alice.submit()  # taken at once, as if the settling had not been enough
    alice.text_box.value = "Hello Bob"  # the rest arrives after the line went out
    note = await alice.wait_for_text("arrived after the line was sent")
    assert note["error"] is True and "'Hello B' went out" in note["message"]
    assert alice.text_box.value == "Hello Bob"  # ready to send again
    # Typing a new line that happens to start like the last one is not a late keystroke.
    alice.text_box.value = "ok"
    await alice.submit()
    for typed in ("o", "ok", "ok then"):
        alice.text_box.value = typed
    await settled(alice)
    assert sum("arrived after" in entry["message"] for entry in alice.entries) == 1


async def test_markup_is_shown_as_text(make_chat, chat_server):
    alice, bob = await connected_pair(make_chat, chat_server)
    hostile = '<script>alert("x")</script> <img src=x onerror=alert(1)> & <b>bold?</b>'
    assert await alice.say(hostile)
    for chat in (alice, bob):
        await chat.wait_for_text(hostile)  # and the log is drawn when it returns
        log = chat.log_html.value
        assert html.escape(hostile) in log
        assert "&lt;script&gt;" in log
        for markup in ("<script", "<img", "<b>"):
            assert markup not in log
    # Even a server that sends markup where names and times go cannot inject any.
    line = bob.render_entry({"message": "<i>m</i>", "client_id": "<img src=x>",
                             "timestamp": "<b>12</b>"})
    assert "<img" not in line and "<i>" not in line and "<b>" not in line
    assert "&lt;img src=x&gt;" in line and "&lt;b&gt;12&lt;/b&gt;" in line


async def test_system_and_error_lines_are_styled_apart(make_chat, start_chat):
    server = start_chat(max_message_bytes=20)
    alice, bob = await connected_pair(make_chat, server)
    assert await alice.say("x" * 30)
    error = await alice.wait_for(lambda chat: next(
        (entry for entry in chat.entries if entry.get("type") == "error"), None))
    assert error["code"] == "message_too_long"
    welcome = next(entry for entry in alice.entries if entry.get("type") == "welcome")
    joined = next(entry for entry in alice.entries if entry.get("type") == "join")
    assert joined["user"] == "bob"
    alice.render()
    log = alice.log_html.value
    assert '<div class="wslab-line wslab-system wslab-error"><span class="wslab-text">' \
           f'{html.escape(error["message"])}' in log
    assert '<div class="wslab-line wslab-system"><span class="wslab-text">' \
           f'{html.escape(welcome["message"])}' in log
    assert "Client #bob joined the chat" in log
    assert not any(entry.get("type") == "error" for entry in bob.entries)  # the sender's alone


async def test_plain_text_relays_and_unknown_messages(make_chat, chat_server):
    alice = make_chat(chat_server.ws_url, "alice")
    async with connect(f"{chat_server.ws_url}/ws/py", proxy=None, open_timeout=3) as py:
        await alice.wait_for(lambda chat: chat.participants == 2)
        await py.send("just plain words")
        entry = await alice.wait_for_text("just plain words")
    assert entry["type"] == "plain" and entry["message"] == "Client py: just plain words"
    assert "wslab-system" in alice.render_entry(entry)
    await alice.wait_for(lambda chat: chat.participants == 1)
    assert "Client #py left the chat" in alice.entries[-1]["message"]


# -- who is online ------------------------------------------------------------------------------

async def test_the_count_follows_joins_and_leaves(make_chat, chat_server):
    alice = make_chat(chat_server.ws_url, "alice")
    assert alice.participants is None and "– online" in alice.header_html.value
    await alice.wait_for(lambda chat: chat.participants == 1)
    bob = make_chat(chat_server.ws_url, "bob")
    await alice.wait_for(lambda chat: chat.participants == 2)
    assert "2 online" in alice.header_html.value
    await bob.close()
    await alice.wait_for(lambda chat: chat.participants == 1)
    assert "1 online" in alice.header_html.value
    assert alice.entries[-1]["type"] == "disconnect"


async def test_a_subclass_extends_handle(make_chat, chat_server):
    """The example in ChatWidget's docstring: a line of its own under the chat, kept by handle()."""

    class Counting(ChatWidget):
        def __init__(self, url: str, client_id: str, **kwargs: Any) -> None:
            super().__init__(url, client_id, **kwargs)
            self.counter = widgets.Label("no chat lines yet")
            self.children += (self.counter,)

        def handle(self, message: dict[str, Any]) -> None:
            super().handle(message)
            self.counter.value = f"{len(self.chat_lines)} chat lines"

    alice = Counting(chat_server.ws_url, "alice", **FAST)
    try:
        assert alice.children[-1] is alice.counter
        bob = make_chat(chat_server.ws_url, "bob")
        await alice.wait_for(lambda chat: chat.participants == 2)
        assert await bob.say("one") and await bob.say("two")
        await alice.wait_for(lambda chat: chat.counter.value == "2 chat lines")
        await bob.close()
        await alice.wait_for(lambda chat: chat.participants == 1)  # super().handle() kept it
    finally:
        await alice.close()


async def test_an_error_in_handle_is_shown_and_the_chat_goes_on(make_chat, chat_server):

    class Broken(ChatWidget):
        def handle(self, message: dict[str, Any]) -> None:
            if message.get("message") == "boom":
                raise ValueError("cannot handle boom")
            super().handle(message)

    alice = Broken(chat_server.ws_url, "alice", **FAST)
    try:
        assert await alice.say("boom")
        note = await alice.wait_for_text("cannot handle boom")
        assert note["type"] == "note" and note["error"] is True
        assert note["message"] == "Broken.handle() failed: ValueError: cannot handle boom"
        assert await alice.say("still here")
        await alice.wait_for_text("still here", sender="alice")
        assert alice.status == CONNECTED
    finally:
        await alice.close()


# -- connections that end -----------------------------------------------------------------------

@pytest.mark.slow
async def test_reconnects_after_a_server_restart(make_chat, capfd):
    first = BackgroundServer(create_app(), name="widgets-restart").start()
    port = first.port
    second = BackgroundServer(create_app(), port=port, name="widgets-restart-again")
    try:
        alice, bob = await connected_pair(make_chat, first)
        first.stop()  # clients get 1012 (service restart)
        for chat in (alice, bob):
            await chat.wait_for(lambda chat: chat.status == RECONNECTING)
            await chat.wait_for_text("Disconnected: 1012 (the server is restarting).")
            assert "reconnecting" in chat.header_html.value
            assert "wslab-stale" in chat.header_html.value  # the count is greyed out
        # While it is down: a line that cannot be sent says so in the log, never raises.
        assert await alice.say("into the void", timeout=0.1) is False
        note = await alice.wait_for_text("Not sent")
        assert note["error"] is True and "into the void" in note["message"]
        alice.text_box.value = "typed while down"  # the box path gives the text back
        alice.send_button.click()
        await alice.wait_for(lambda chat: chat.text_box.value == "typed while down",
                             timeout=5)

        second.start()
        for chat in (alice, bob):
            await chat.wait_for(lambda chat: chat.status == CONNECTED and chat.participants == 2,
                                timeout=5)
        assert await alice.say("back again")
        await bob.wait_for_text("back again", sender="alice")
    finally:
        first.stop()
        second.stop()
    out, err = capfd.readouterr()
    assert out == err == ""


@pytest.mark.slow
async def test_an_unreachable_server_is_retried(make_chat):
    with BackgroundServer(create_app(), name="widgets-gone") as server:
        url = server.ws_url
    alice = make_chat(url, "alice")
    note = await alice.wait_for_text("Cannot reach the chat server")
    assert note["error"] is True and "is the server running?" in note["message"]
    await alice.wait_for(lambda chat: chat.status_text.startswith("reconnecting in"))
    assert alice.send_button.disabled


@pytest.mark.slow
async def test_a_final_error_reply_closes_for_good_when_a_proxy_drops_the_code(make_chat):
    """Behind jupyter-server-proxy the 1008 does not arrive; the error reply before it does."""
    from test_client import code_dropping_proxy

    with BackgroundServer(code_dropping_proxy("bad_token"), name="widgets-proxy") as server:
        alice = make_chat(server.ws_url, "alice")
        await alice.wait_for(lambda chat: chat.status == CLOSED)
        assert alice.client.close_code == 1008
        await asyncio.sleep(0.3)  # no retries: the wait is the behaviour tested
        assert alice.status == CLOSED
        assert [entry.get("code") for entry in alice.entries] == ["bad_token"]


async def test_a_wrong_token_closes_for_good(make_chat, start_chat):
    server = start_chat(token="s3cret")
    alice = make_chat(server.ws_url, "alice", token="wrong")
    await alice.wait_for(lambda chat: chat.status == CLOSED)
    reason = "wrong join token: ask the instructor for the current one"
    assert (alice.client.close_code, alice.client.close_reason) == (1008, reason)
    assert alice.status_text == f"closed: {reason}"
    assert reason in alice.header_html.value
    errors = [entry for entry in alice.entries if entry.get("type") == "error"]
    assert [entry["code"] for entry in errors] == ["bad_token"]
    assert len(alice.entries) == 1  # the refusal once, not again in other words
    await asyncio.sleep(0.3)  # no retries: the wait is the behaviour tested
    assert alice.status == CLOSED and len(alice.entries) == 1
    assert alice.text_box.disabled and alice.send_button.disabled

    bob = make_chat(server.ws_url, "bob", token="s3cret")
    await bob.wait_for(lambda chat: chat.status == CONNECTED)


async def test_the_same_name_again_closes_the_older_widget(make_chat, chat_server):
    older = make_chat(chat_server.ws_url, "alice")
    await older.wait_for(lambda chat: any(entry.get("type") == "welcome"
                                           for entry in chat.entries))
    newer = make_chat(chat_server.ws_url, "alice")  # re-running the cell: it has the key
    await older.wait_for(lambda chat: chat.status == CLOSED)
    assert older.status_text == "closed: the name alice connected again elsewhere"
    assert older.entries[-1]["error"] is True
    await newer.wait_for(lambda chat: chat.status == CONNECTED)
    await asyncio.sleep(0.3)  # no fight over the name meanwhile: the wait is the behaviour tested
    assert newer.status == CONNECTED and older.status == CLOSED  # no fight over the name


async def test_close(make_chat, chat_server):
    alice, bob = await connected_pair(make_chat, chat_server)
    closing = alice.close()  # usable without await; awaiting waits for the socket
    assert alice.status == CLOSED and alice.status_text == "closed"
    assert alice.entries[-1]["message"] == "You closed this chat."
    await closing
    assert alice.client._task.done()
    await bob.wait_for_text("Client #alice left the chat")
    assert await alice.say("too late") is False
    assert "Not sent (closed)" in alice.entries[-1]["message"]
    assert alice.text_box.disabled and alice.send_button.disabled
    assert "wslab-closed" in alice.header_html.value
    assert "– online" in alice.header_html.value  # no count from before the close
    await alice.close()  # again: nothing happens
    await close_all()
    assert bob.status == CLOSED


# -- the rest -----------------------------------------------------------------------------------

async def test_the_log_keeps_the_newest_entries(make_chat, start_chat):
    server = start_chat(rate_limit=0)
    alice = make_chat(server.ws_url, "alice", max_entries=5)
    for number in range(8):
        assert await alice.say(f"line {number}")
    await alice.wait_for_text("line 7")
    assert [text for _, text in alice.chat_lines] == [f"line {n}" for n in range(3, 8)]
    assert "line 2" not in alice.log_html.value and "line 3" in alice.log_html.value


async def test_wait_for_says_what_it_saw(make_chat, chat_server):
    alice = make_chat(chat_server.ws_url, "alice")
    await alice.wait_for(lambda chat: chat.participants == 1)
    with pytest.raises(TimeoutError) as caught:
        await alice.wait_for_text("never said", timeout=0.1)
    message = str(caught.value)
    assert message.startswith("alice: waited 0.1 s for a line with 'never said'")
    assert "Status: connected; 1 online" in message and "Welcome, alice!" in message


def test_bad_arguments_are_refused_at_once():
    with pytest.raises(ValueError, match="may use only letters"):
        ChatWidget("ws://127.0.0.1:1", "bad name")
    with pytest.raises(ValueError, match="reserved"):
        ChatWidget("ws://127.0.0.1:1", "system")
    with pytest.raises(RuntimeError, match="running asyncio event loop"):
        ChatWidget("ws://127.0.0.1:1", "alice")  # no loop is running in a plain function


async def test_focus_goes_to_the_text_box(make_chat, chat_server):
    """The widget's focus() and blur() go to its text box, through ipywidgets' own send()."""
    assert ChatWidget.send is widgets.Widget.send  # a chat line is say(): send() is left alone
    alice = make_chat(chat_server.ws_url, "alice")
    sent: list[Any] = []
    alice.text_box.send = lambda content, buffers=None: sent.append(content)  # type: ignore
    alice.focus()
    alice.blur()
    assert sent == [{"do": "focus"}, {"do": "blur"}]


async def test_a_failing_render_entry_override_does_not_stop_the_log(chat_server):
    class Broken(ChatWidget):
        def render_entry(self, entry):
            if entry.get("type") == "welcome":
                raise KeyError("oops")
            return super().render_entry(entry)

    chat = Broken(chat_server.ws_url, "brk")
    try:
        await chat.wait_for(lambda c: c.participants == 1)
        chat.render()
        assert "render_entry failed here: KeyError" in chat.log_html.value
        assert "Welcome, brk!" in chat.log_html.value
    finally:
        await chat.close()


async def test_a_render_entry_override_that_returns_no_str_does_not_stop_the_log(chat_server):
    class Forgetful(ChatWidget):
        def render_entry(self, entry):
            if entry.get("type") == "welcome":
                print(super().render_entry(entry))  # the line drawn, and never returned
                return None
            return super().render_entry(entry)

    chat = Forgetful(chat_server.ws_url, "fgt")
    try:
        await chat.wait_for(lambda c: c.participants == 1)
        chat.render()
        assert "render_entry returned NoneType, not a str of HTML (is a return missing?)" in (
            chat.log_html.value)
        assert "Welcome, fgt!" in chat.log_html.value
    finally:
        await chat.close()
