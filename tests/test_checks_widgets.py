"""Core lesson 04's checks: each wrong answer gets the hint that names its mistake, first; right
ones in other styles pass; the kit's own class and the stub are never passed; an untouched step
done with the widgets is "not done yet", never a failure.

The checks run against real chat servers, in the test's event loop, as they run in the kernel's
(outside a kernel, every widget gets a dummy comm). The class chat's server is one with a join
token, as the instructor's always has; ``test_classroom_chat.py`` runs the real one.
"""

from __future__ import annotations

import html
import inspect
import socket

import ipywidgets as widgets
import pytest

from exercises import never_passed, none_passed, untouched, wrong_in_the_notebook
from mutants import mutant, mutant_of
from verdicts import failure, flat, verdict
from widget_checks import FAST_POLICY, carries_on, wrong_widget
import wslab.answers.widgets
from wslab.answers.widgets import OnlineChat
from wslab.checks.widgets import (LINE_FOR_ALICE, SAME_NAME, check_in_class,
                                  check_online_chat, check_said, class_page, judge_in_class)
from wslab.widgets import CLOSED, CONNECTED, ChatWidget

#: Whatever the verdict, a check closes every widget it made.
pytestmark = pytest.mark.usefixtures("no_widget_left_open")


# -- exercise 1: who is online --------------------------------------------------------------------

#: The lesson's answer under a name of its own, as a student's cell would define it.
Right = mutant_of(OnlineChat, "Right")
#: The exercise's two stubs, as the student's cell holds them before any work.
Stub = mutant_of(OnlineChat, "Stub", ('kind = message.get("type")',
                                      'raise NotImplementedError("exercise: who is online")'))
StubShow = mutant_of(OnlineChat, "StubShow", ('names = ", ".join(',
                                              'raise NotImplementedError("exercise: who is '
                                              'online")\n        names = ", ".join('))

WELCOME = 'self.online = set(message["online"])'
ADD = 'self.online.add(message["user"])'
DISCARD = 'self.online.discard(message["user"])'
SHOW = 'self.online_html.value = f"Online: {names}"'

NoWelcome = mutant_of(OnlineChat, "NoWelcome", (WELCOME, "pass"))
WelcomeAddsUp = mutant_of(OnlineChat, "WelcomeAddsUp",
                          (WELCOME, 'self.online.update(message["online"])'))
NeverLeaves = mutant_of(OnlineChat, "NeverLeaves", (DISCARD, "pass"))
RemoveRaises = mutant_of(OnlineChat, "RemoveRaises",
                         (DISCARD, 'self.online.remove(message["user"])'))
NoSuper = mutant_of(OnlineChat, "NoSuper", ("super().handle(message)", "pass"))
NeverShown = mutant_of(OnlineChat, "NeverShown",
                       ("never seen\n        self.show_online()", "never seen"))
#: Keeps the names in a list, in the order they came.
Unsorted = mutant_of(OnlineChat, "Unsorted",
                     (WELCOME, 'self.online = list(message["online"])'),
                     (ADD, 'self.online.append(message["user"])'),
                     (DISCARD, 'if message["user"] in self.online: '
                               'self.online.remove(message["user"])'),
                     ("sorted(self.online)", "self.online"))
#: The missing await of this exercise: a hook declared async def never runs.
AsyncHandle = mutant_of(OnlineChat, "AsyncHandle",
                        ("def handle(self, message):", "async def handle(self, message):"))
AsyncShow = mutant_of(OnlineChat, "AsyncShow",
                      ("def show_online(self):", "async def show_online(self):"))
#: A wrong field name, read with []: a KeyError in the log.
FieldUsers = mutant_of(OnlineChat, "FieldUsers", ('message["online"]', 'message["users"]'))
#: A wrong field name, read with .get(): None goes into the set.
FieldName = mutant_of(OnlineChat, "FieldName",
                      (ADD, 'self.online.add(message.get("name"))'),
                      (DISCARD, 'self.online.discard(message.get("name"))'))
#: Takes the client_id of a join, which is "system", for the name of who joined.
JoinBySender = mutant_of(OnlineChat, "JoinBySender",
                         (ADD, 'self.online.add(message["client_id"])'),
                         (DISCARD, 'self.online.discard(message["client_id"])'))
#: A wrong kind: the server says "disconnect", not "leave".
LeaveKind = mutant_of(OnlineChat, "LeaveKind", ('kind == "disconnect"', 'kind == "leave"'))
PrintsLine = mutant_of(OnlineChat, "PrintsLine", (SHOW, 'print(f"Online: {names}")'))
ReturnsLine = mutant_of(OnlineChat, "ReturnsLine", (SHOW, 'return f"Online: {names}"'))
#: Sets an attribute the HTML widget does not show.
SetsText = mutant_of(OnlineChat, "SetsText",
                     (SHOW, 'self.online_html.text = f"Online: {names}"'))


class FieldByTable(OnlineChat):
    """A wrong field name, looked up in a table of its own: None goes into the set."""

    FIELD_OF = {"welcome": "online", "join": "name", "disconnect": "name"}

    def handle(self, message):
        ChatWidget.handle(self, message)
        kind = message.get("type")
        if kind == "welcome":
            self.online = set(message.get(self.FIELD_OF[kind]))
        elif kind in self.FIELD_OF:
            self.online.add(message.get(self.FIELD_OF[kind]))
        self.show_online()


class WaitsInHandle(OnlineChat):
    """Waits for the welcome inside handle(), in a loop that never gives the loop a turn."""

    def handle(self, message):
        while self.participants is None:
            pass
        super().handle(message)


class NotShownOnPage(OnlineChat):
    def __init__(self, url, name, **kwargs):
        super().__init__(url, name, **kwargs)
        self.children = tuple(child for child in self.children if child is not self.online_html)


@pytest.mark.parametrize("wrong, words", [
    (NoWelcome, ["alice's widget connects while bob is online",
                 "expected: self.online == {'alice', 'bob'}", "its \"online\" list"]),
    (WelcomeAddsUp, ["The server greets alice again",
                     "expected: self.online == {'alice', 'bob', 'dave', 'erin', 'frank'}",
                     "self.online == {'alice', 'bob', 'carol', 'dave', 'erin', 'frank'}",
                     "replace self.online"]),
    (NeverLeaves, ["bob closes his connection",
                   "after bob left, your widget still has bob online",
                   "remove message[\"user\"]"]),
    (RemoveRaises, ["a leave of someone this widget never saw", "raised KeyError: 'zed'",
                    "set.remove raised KeyError for 'zed'", "discard"]),
    (NoSuper, ["the welcome in the log", "0 entries in the log; participants = None",
               "super().handle(message)"]),
    (NeverShown, ["expected: the line under the header shows 'Online: alice, bob'",
                  "the line shows 'Online:'", "call self.show_online() after every change"]),
    (Unsorted, ["the line shows 'Online: frank, dave, alice, erin, bob'",
                "self.online == ['frank', 'dave', 'alice', 'erin', 'bob'], a list, not a set",
                "not in order", "sorted(self.online)"]),
    (AsyncHandle, ["tried: AsyncHandle.handle", "handle() is declared async def",
                   "without await", "nothing in its body runs"]),
    (AsyncShow, ["show_online() is declared async def", "without await"]),
    (FieldUsers, ["the log shows: FieldUsers.handle() failed: KeyError: 'users'",
                  "uses message['users'], which no message of the server has",
                  "\"online\" (a welcome"]),
    (FieldName, ["carol connects", "uses message.get('name'), which no message",
                 "\"user\" (a join or a disconnect"]),
    (FieldByTable, ["carol connects", "self.online holds None", "message.get() gives None"]),
    (JoinBySender, ["carol connects", "self.online holds 'system'",
                    "client_id of every message from the server itself"]),
    (LeaveKind, ["bob closes his connection", "uses 'leave', which no message of the server "
                 "has", "\"disconnect\""]),
    (PrintsLine, ["the line shows ''", "show_online() printed the line",
                  "self.online_html.value"]),
    (ReturnsLine, ["show_online() returned the line", "nobody uses what it returns"]),
    (SetsText, ["set self.online_html.text", "shows its .value"]),
    (WaitsInHandle, ["handle() to return at once", "StuckInLoop",
                     "without returning or awaiting"]),
    (NotShownOnPage, ["online_html among the widget's children", "self.children ="]),
    ("OnlineChat", ["expected: a subclass of ChatWidget"]),
], ids=lambda value: value.__name__ if isinstance(value, type) else None)
@pytest.mark.slow
async def test_each_wrong_online_widget_gets_the_hint_that_names_its_mistake(wrong, words,
                                                                                capsys):
    wrong_widget(await check_online_chat(wrong), OnlineChat, "who is online", capsys, *words)


@pytest.mark.parametrize("stub", [Stub, StubShow], ids=["handle", "show_online"])
@pytest.mark.slow
async def test_untouched_online_stub_is_not_done_yet(stub, capsys):
    assert untouched(await check_online_chat(stub), OnlineChat, "who is online", capsys) \
        == carries_on("who is online", OnlineChat)


async def test_the_kits_own_online_widget_is_never_passed(capsys):
    never_passed(await check_online_chat(OnlineChat), OnlineChat, "who is online", capsys)


class MatchStyle(ChatWidget):
    """A right answer in another style: match, a list kept sorted, a Label-free HTML line."""

    def __init__(self, url, name, **kwargs):
        super().__init__(url, name, **kwargs)
        self.online = set()
        self.online_html = widgets.HTML()
        self.children = (self.header_html, self.online_html, *self.children[1:])
        self.show_online()

    def handle(self, message):
        super().handle(message)
        match message:
            case {"type": "welcome", "online": list(names)}:
                self.online = set(names)
            case {"type": "join", "user": str(name)}:
                self.online |= {name}
            case {"type": "disconnect", "user": str(name)}:
                self.online -= {name}
            case _:
                return
        self.show_online()

    def show_online(self):
        self.online_html.value = "<span>Online: %s</span>" % ", ".join(
            map(html.escape, sorted(self.online)))


@pytest.mark.parametrize("right", [Right, MatchStyle], ids=lambda cls: cls.__name__)
@pytest.mark.slow
async def test_right_online_widgets_in_any_style_pass(right, capsys):
    assert await check_online_chat(right) is right
    out = capsys.readouterr().out
    assert out.startswith("✅ who is online: the line follows the welcome, joins and leaves"), out


# -- say it through the widget ----------------------------------------------------------------

@pytest.fixture
async def make_chat():
    """Make ChatWidgets as the notebook does; every one is closed after the test."""
    made: list[ChatWidget] = []

    def make(url, client_id, **options):
        chat = ChatWidget(url, client_id, policy=FAST_POLICY, **options)
        made.append(chat)
        return chat

    yield make
    for chat in made:
        await chat.close()
        widgets.Widget.close(chat)


@pytest.fixture
async def pair(make_chat, chat_server):
    """Alice and Bob, both in the room, as the lesson makes them."""
    alice, bob = make_chat(chat_server.ws_url, "alice"), make_chat(chat_server.ws_url, "bob")
    for chat in (alice, bob):
        await chat.wait_for(lambda chat: chat.participants == 2)
    return alice, bob


async def typed(chat, text, *, enter=True):
    """What a person does: type into the box, then press Enter (or not)."""
    chat.text_box.value = text
    if enter:
        await chat.submit()


async def test_nothing_typed_yet_is_not_done_and_says_what_to_do(pair, capsys):
    assert await check_said(*pair) is False
    assert capsys.readouterr().out == (
        "⏳ say it through the widget: not done yet.\n"
        "   Type 'Hi Bob, Alice here!' into Alice's box, press Enter, then run this check again.\n")


@pytest.mark.parametrize("how", ["enter", "click"])
async def test_the_line_sent_with_enter_or_the_button_passes(pair, how, capsys):
    alice, bob = pair
    alice.text_box.value = LINE_FOR_ALICE
    if how == "enter":
        await alice.submit()
    else:  # another style: the Send button, and the check runs before the line is through
        alice.send_button.click()
    assert await check_said(alice, bob) is True
    assert capsys.readouterr().out.startswith(
        "✅ say it through the widget: the server relayed your line: Bob's log has 'Hi Bob, "
        "Alice here!', from alice.")


async def from_bobs_box(alice, bob):
    await typed(bob, LINE_FOR_ALICE)
    # The check reads Bob's own log: wait for the server's echo there, not only at Alice's.
    await alice.wait_for_text(LINE_FOR_ALICE, sender="bob")
    await bob.wait_for_text(LINE_FOR_ALICE, sender="bob")


async def almost(alice, bob):
    await typed(alice, "hi bob alice here")
    await bob.wait_for_text("hi bob alice here")


async def another_line(alice, bob):
    await typed(alice, "Hello Bob!")
    await bob.wait_for_text("Hello Bob!")


async def never_sent(alice, bob):
    await typed(alice, LINE_FOR_ALICE, enter=False)


async def bob_gone(alice, bob):
    await bob.close()
    await typed(alice, LINE_FOR_ALICE)
    await alice.wait_for_text(LINE_FOR_ALICE, sender="alice")


async def alice_gone(alice, bob):
    await alice.close()
    alice.text_box.value = LINE_FOR_ALICE
    alice.send_button.click()  # the button is disabled on the page; code can still click it
    await alice.wait_for_text("Not sent")


@pytest.mark.parametrize("wrong, words", [
    (from_bobs_box, ["got: bob: Hi Bob, Alice here!", "That line came from bob, not from Alice"]),
    (almost, ["got: alice: hi bob alice here", "Almost", "capitals and punctuation"]),
    (another_line, ["got: alice: Hello Bob!", "reached Bob, but not this one"]),
    (never_sent, ["Alice's box still holds 'Hi Bob, Alice here!'", "typing alone sends nothing",
                  "press Enter"]),
    (bob_gone, ["in Alice's log, but not in Bob's", "Bob's window was not there"]),
    (alice_gone, ["Alice's log says: Not sent (closed)", "Alice's window could not send"]),
], ids=lambda value: getattr(value, "__name__", None))
async def test_each_wrong_way_of_saying_it_gets_the_hint_that_names_it(pair, wrong, words,
                                                                       capsys):
    await wrong(*pair)
    capsys.readouterr()
    assert await check_said(*pair) is False
    failure(verdict(capsys), "say it through the widget", *words)


async def test_without_the_widgets_the_check_says_to_make_them_again(pair, capsys):
    assert await check_said(None, pair[1]) is False
    failure(verdict(capsys), "say it through the widget",
            hint="alice is no longer the chat window: run the cell that makes alice and bob")


# -- one name, one person ---------------------------------------------------------------------

def test_the_same_name_prediction_reads_who_was_closed():
    cases = [((CONNECTED, CONNECTED), "a"), ((CONNECTED, CLOSED), "b"), ((CLOSED, CONNECTED), "c")]
    assert [SAME_NAME.classify(statuses) for statuses, _ in cases] == [l for _, l in cases]


# -- join the class ---------------------------------------------------------------------------

TOKEN = "k3m9p-x7qtr"


@pytest.fixture
def class_server(start_chat):
    """A chat server as the instructor runs one: with a join token."""
    return start_chat(token=TOKEN)


async def test_no_line_yet_is_not_joined_yet_never_an_error(capsys):
    assert await check_in_class(None) is False
    assert capsys.readouterr().out == (
        "⏳ join the class: not joined yet.\n"
        "   Ask your instructor for the line, paste it in place of None with your own name in it,\n"
        "   and run that cell and this one.\n")


async def test_a_student_in_the_class_chat_passes_and_gets_the_page(make_chat, class_server,
                                                                    capsys):
    # Another style than the printed line: the server's http:// address, keywords reordered.
    me = make_chat(class_server.url, token=TOKEN, client_id="ada_l")
    assert await check_in_class(me) is True
    out = flat(capsys.readouterr().out)
    assert out.startswith("✅ join the class: you are in the class chat as ada_l, 1 online.")
    page = f"http://127.0.0.1:{class_server.port}/chat?token={TOKEN}&name=ada_l-web"
    assert out.endswith(f"The same chat in your browser: {page}")
    assert class_page(me) == page
    await me.close()  # the clean-up cell: the summary still counts it
    assert await judge_in_class(me, wait=0) == "passed"
    assert "you have closed the window since" in capsys.readouterr().out


async def unreachable(make_chat, server):
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return make_chat(f"ws://127.0.0.1:{port}", client_id="ada", token=TOKEN)


async def wrong_token(make_chat, server):
    return make_chat(server.ws_url, client_id="ada", token="k3m9p-x7qrt")


async def name_taken(make_chat, server):
    # Another student's ada: another computer, so without this kernel's key for the name.
    ada = make_chat(server.ws_url.replace("127.0.0.1", "localhost"), client_id="ada",
                    token=TOKEN)
    await ada.wait_for(lambda chat: chat.status == CONNECTED and chat.participants == 1)
    me = make_chat(server.ws_url, client_id="ada", token=TOKEN)
    await me.wait_for(lambda chat: chat.status == CLOSED)
    return me


async def pushed_out(make_chat, server):
    me = make_chat(server.ws_url, client_id="ada", token=TOKEN)
    await me.wait_for(lambda chat: chat.participants == 1)  # welcomed: the key is known
    make_chat(server.ws_url, client_id="ada", token=TOKEN)  # the cell run again
    await me.wait_for(lambda chat: chat.status == CLOSED)
    return me


async def no_token(make_chat, server):
    return make_chat(server.ws_url, client_id="ada")  # the lesson's own server, say


async def not_the_chat(make_chat, server):
    return make_chat(server.url + "/nowhere", client_id="ada", token=TOKEN)


async def in_quotes(make_chat, server):
    return f'ChatWidget("{server.ws_url}", client_id="ada", token="{TOKEN}")'


async def the_page_address(make_chat, server):
    return f"{server.url}/chat?token={TOKEN}"


@pytest.mark.parametrize("wrong, words", [
    (unreachable, ["got: Cannot reach the chat server", "cannot reach the class server",
                   "classroom's network"]),
    (wrong_token, ["wrong join token", "The server refused the join token: copy it again"]),
    (name_taken, ["the name ada is in use",
                  "Someone else is in the chat with the name ada",
                  "choose a name nobody else uses"]),
    (pushed_out, ["the name ada connected again elsewhere",
                  "You joined again with the name ada, in another chat window"]),
    (no_token, ["got: a window with no join token", "the class server always needs one"]),
    (not_the_chat, ["the server answered HTTP 403", "it is not the class chat"]),
    (in_quotes, ["me is a piece of text: paste the line as code, without quotes"]),
    (the_page_address, ["me is a piece of text, not a chat window"]),
], ids=lambda value: getattr(value, "__name__", None))
async def test_each_way_of_not_getting_in_gets_a_hint_that_says_what_to_do(
        make_chat, class_server, wrong, words, capsys):
    me = await wrong(make_chat, class_server)
    assert await check_in_class(me) is False
    failure(verdict(capsys), "join the class", *words)


async def test_the_placeholder_name_is_refused_before_anyone_is_pushed_out(class_server):
    with pytest.raises(ValueError, match="'your_name': it stands for your own name"):
        ChatWidget(class_server.ws_url, client_id="your_name", token=TOKEN)


async def test_a_pushed_out_window_says_what_to_do_in_its_log(make_chat, class_server):
    me = await pushed_out(make_chat, class_server)
    assert "in another window of yours, with this window's key" in me.entries[-1]["message"]


# -- the lesson in a kernel -------------------------------------------------------------------

#: The whole answer module as one cell, with the hook declared async def.
WRONG_ONLINE_CHAT = mutant(inspect.getsource(wslab.answers.widgets),
                           "def handle(self, message):", "async def handle(self, message):")


@pytest.mark.slow
def test_in_the_notebook_a_wrong_widget_never_passes_however_often_its_check_runs():
    outputs = wrong_in_the_notebook("04_widget_chat", {"who is online": WRONG_ONLINE_CHAT}, 6)
    said, online, joined = outputs[:2], outputs[2:4], outputs[4:]
    none_passed(online, "who is online")
    assert all("is declared async def" in output for output in online), online
    assert all(output.startswith("⏳ say it through the widget: not done yet.") for output in said)
    assert all(output.startswith("⏳ join the class: not joined yet.") for output in joined)
