"""Lesson 06's checks: each wrong widget gets the hint that names its mistake, first; right ones
in other styles pass; the kit's own classes and the stubs are never passed.

The checks run the classes against a real chat server, in the test's event loop, as they run
in the kernel's (outside a kernel, every widget gets a dummy comm).
"""

from __future__ import annotations

import html
import re

import ipywidgets as widgets
import pytest

from notebook_run import passes, run_student_notebook
from verdicts import failure, verdict
from wslab.answers.widgets import MentionChat, OnlineChat
from wslab.checks.widgets import check_mentions, check_online_chat
from wslab.widgets import ChatWidget, _live


@pytest.fixture(autouse=True)
def no_widget_left_open():
    """Whatever the verdict, a check closes every widget it made."""
    before = set(_live)
    yield
    assert set(_live) == before


# -- exercise 1: who is online --------------------------------------------------------------------

class Exercise(ChatWidget):
    """The exercise's starting point: the given __init__, and a correct show_online."""

    def __init__(self, url, name, **kwargs):
        super().__init__(url, name, **kwargs)
        self.online = set()
        self.online_html = widgets.HTML()
        self.children = (self.header_html, self.online_html, *self.children[1:])
        self.show_online()

    def show_online(self):
        names = ", ".join(html.escape(name) for name in sorted(self.online))
        self.online_html.value = f"<div>Online: {names}</div>"


class Right(Exercise):
    """The lesson's handle(), on which the wrong ones below each make one mistake."""

    def handle(self, message):
        super().handle(message)
        if message.get("type") == "welcome":
            self.online = set(message["online"])
        elif message.get("type") == "join":
            self.online.add(message["user"])
        elif message.get("type") == "disconnect":
            self.online.discard(message["user"])
        self.show_online()


class Stub(Exercise):
    def handle(self, message):
        super().handle(message)
        raise NotImplementedError("exercise: who is online")


class StubShow(Exercise):
    def show_online(self):
        raise NotImplementedError("exercise: who is online")


class NoWelcome(Exercise):
    def handle(self, message):
        super().handle(message)
        if message.get("type") == "join":
            self.online.add(message["user"])
        elif message.get("type") == "disconnect":
            self.online.discard(message["user"])
        self.show_online()


class WelcomeAddsUp(Exercise):
    def handle(self, message):
        super().handle(message)
        if message.get("type") == "welcome":
            self.online.update(message["online"])
        elif message.get("type") == "join":
            self.online.add(message["user"])
        elif message.get("type") == "disconnect":
            self.online.discard(message["user"])
        self.show_online()


class NeverLeaves(Exercise):
    def handle(self, message):
        super().handle(message)
        if message.get("type") == "welcome":
            self.online = set(message["online"])
        elif message.get("type") == "join":
            self.online.add(message["user"])
        self.show_online()


class RemoveRaises(Exercise):
    def handle(self, message):
        super().handle(message)
        if message.get("type") == "welcome":
            self.online = set(message["online"])
        elif message.get("type") == "join":
            self.online.add(message["user"])
        elif message.get("type") == "disconnect":
            self.online.remove(message["user"])
        self.show_online()


class NoSuper(Exercise):
    def handle(self, message):
        if message.get("type") == "welcome":
            self.online = set(message["online"])
        elif message.get("type") == "join":
            self.online.add(message["user"])
        elif message.get("type") == "disconnect":
            self.online.discard(message["user"])
        self.show_online()


class NeverShown(Exercise):
    def handle(self, message):
        super().handle(message)
        if message.get("type") == "welcome":
            self.online = set(message["online"])
        elif message.get("type") == "join":
            self.online.add(message["user"])
        elif message.get("type") == "disconnect":
            self.online.discard(message["user"])


class Unsorted(Right):
    """Keeps the names in a list, in the order they came."""

    def handle(self, message):
        super(Right, self).handle(message)
        if message.get("type") == "welcome":
            self.online = list(message["online"])
        elif message.get("type") == "join":
            self.online.append(message["user"])
        elif message.get("type") == "disconnect" and message["user"] in self.online:
            self.online.remove(message["user"])
        self.show_online()

    def show_online(self):
        self.online_html.value = "Online: " + ", ".join(self.online)


class AsyncHandle(Exercise):
    """The missing await of this exercise: a hook declared async def never runs."""

    async def handle(self, message):
        super().handle(message)
        if message.get("type") == "welcome":
            self.online = set(message["online"])
        self.show_online()


class AsyncShow(Right):
    async def show_online(self):
        self.online_html.value = "Online: " + ", ".join(sorted(self.online))


class FieldUsers(Exercise):
    """A wrong field name, read with []: a KeyError in the log."""

    def handle(self, message):
        super().handle(message)
        if message.get("type") == "welcome":
            self.online = set(message["users"])
        self.show_online()


class FieldName(Right):
    """A wrong field name, read with .get(): None goes into the set."""

    def handle(self, message):
        super(Right, self).handle(message)
        kind = message.get("type")
        if kind == "welcome":
            self.online = set(message.get("online"))
        elif kind == "join":
            self.online.add(message.get("name"))
        elif kind == "disconnect":
            self.online.discard(message.get("name"))
        self.show_online()


class FieldByTable(Right):
    """A wrong field name, looked up in a table of its own: None goes into the set."""

    FIELD_OF = {"welcome": "online", "join": "name", "disconnect": "name"}

    def handle(self, message):
        super(Right, self).handle(message)
        kind = message.get("type")
        if kind == "welcome":
            self.online = set(message.get(self.FIELD_OF[kind]))
        elif kind in self.FIELD_OF:
            self.online.add(message.get(self.FIELD_OF[kind]))
        self.show_online()


class JoinBySender(Right):
    """Takes the client_id of a join, which is "system", for the name of who joined."""

    def handle(self, message):
        super(Right, self).handle(message)
        kind = message.get("type")
        if kind == "welcome":
            self.online = set(message["online"])
        elif kind == "join":
            self.online.add(message["client_id"])
        elif kind == "disconnect":
            self.online.discard(message["client_id"])
        self.show_online()


class LeaveKind(Right):
    """A wrong kind: the server says "disconnect", not "leave"."""

    def handle(self, message):
        super(Right, self).handle(message)
        kind = message.get("type")
        if kind == "welcome":
            self.online = set(message["online"])
        elif kind == "join":
            self.online.add(message["user"])
        elif kind == "leave":
            self.online.discard(message["user"])
        self.show_online()


class PrintsLine(Right):
    def show_online(self):
        print("Online: " + ", ".join(sorted(self.online)))


class ReturnsLine(Right):
    def show_online(self):
        return "Online: " + ", ".join(sorted(self.online))


class SetsText(Right):
    """Sets an attribute the HTML widget does not show."""

    def show_online(self):
        self.online_html.text = "Online: " + ", ".join(sorted(self.online))


class WaitsInHandle(Right):
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
                     "self.online = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']",
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
    (Unsorted, ["the line shows 'Online: frank, dave, alice, erin, bob'", "not in order",
                "sorted(self.online)"]),
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
async def test_each_wrong_online_widget_gets_the_hint_that_names_its_mistake(wrong, words,
                                                                                capsys):
    assert await check_online_chat(wrong) is OnlineChat
    out = failure(verdict(capsys), "who is online", *words)
    assert "carries on with the kit's OnlineChat" in out


@pytest.mark.parametrize("stub", [Stub, StubShow], ids=["handle", "show_online"])
async def test_untouched_online_stub_is_not_done_yet(stub, capsys):
    assert await check_online_chat(stub) is OnlineChat
    assert capsys.readouterr().out == (
        "⏳ who is online: not done yet.\n"
        "   The notebook carries on with the kit's OnlineChat for now.\n")


async def test_the_kits_own_online_widget_is_never_passed(capsys):
    assert await check_online_chat(OnlineChat) is OnlineChat
    out = capsys.readouterr().out
    assert out.startswith("⚠️ who is online: run your exercise cell first.") and "✅" not in out


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
async def test_right_online_widgets_in_any_style_pass(right, capsys):
    assert await check_online_chat(right) is right
    out = capsys.readouterr().out
    assert out.startswith("✅ who is online: the line follows the welcome, joins and leaves"), out


# -- exercise 2: mentions -------------------------------------------------------------------------

class MentionStub(ChatWidget):
    def render_entry(self, entry):
        raise NotImplementedError("exercise: mentions")


class HardCoded(ChatWidget):
    def render_entry(self, entry):
        return super().render_entry(entry).replace("@bob", "<mark>@bob</mark>")


class PlainReplace(ChatWidget):
    def render_entry(self, entry):
        mention = f"@{self.name}"
        return super().render_entry(entry).replace(mention, f"<mark>{mention}</mark>")


class WordBoundary(ChatWidget):
    r"""``\b`` ends a word at '-': marks @kim in @kim-lee."""

    def render_entry(self, entry):
        return re.sub(rf"@{re.escape(self.name)}\b", r"<mark>\g<0></mark>",
                      super().render_entry(entry))


class OnlyFirst(ChatWidget):
    def render_entry(self, entry):
        return re.sub(rf"@{self.name}\b", r"<mark>\g<0></mark>", super().render_entry(entry),
                      count=1)


class MarkedBeforeEscaping(ChatWidget):
    def render_entry(self, entry):
        text = re.sub(rf"@{self.name}\b", r"<mark>\g<0></mark>", str(entry.get("message", "")))
        return super().render_entry({**entry, "message": text})


class ChangesTheEntry(ChatWidget):
    def render_entry(self, entry):
        line = super().render_entry(entry)
        entry["mentioned"] = f"@{self.name}" in str(entry.get("message", ""))
        return re.sub(rf"@{self.name}\b", r"<mark>\g<0></mark>", line)


class Unescaped(ChatWidget):
    """Swaps the escaped text in the line for a marked copy of the raw text."""

    def render_entry(self, entry):
        text = str(entry.get("message", ""))
        marked = re.sub(rf"@{self.name}(?![\w-])", r"<mark>\g<0></mark>", text)
        return super().render_entry(entry).replace(html.escape(text), marked)


class TextOnly(ChatWidget):
    def render_entry(self, entry):
        return re.sub(rf"@{self.name}\b", r"<mark>\g<0></mark>",
                      html.escape(str(entry.get("message", ""))))


class AsyncRender(ChatWidget):
    async def render_entry(self, entry):
        return super().render_entry(entry).replace(f"@{self.name}", "<mark>@kim</mark>")


class PrintsRender(ChatWidget):
    def render_entry(self, entry):
        print(re.sub(rf"@{self.name}(?![\w-])", r"<mark>\g<0></mark>",
                     super().render_entry(entry)))


class FieldText(ChatWidget):
    """A wrong field name: entries keep their text under "message"."""

    def render_entry(self, entry):
        line = super().render_entry(entry)
        if f"@{self.name}" not in entry["text"]:
            return line
        return re.sub(rf"@{self.name}(?![\w-])", r"<mark>\g<0></mark>", line)


class WrongNameAttribute(ChatWidget):
    def render_entry(self, entry):
        return re.sub(f"@{self.client_id}(?![\\w-])", r"<mark>\g<0></mark>",
                      super().render_entry(entry))


@pytest.mark.parametrize("wrong, words", [
    (HardCoded, ["hi @kim, are you there?", "<mark>@kim</mark>", "Use self.name"]),
    (PlainReplace, ["hello @kimberly and @kim_2", "are other people",
                    "must not be followed by one of those"]),
    (WordBoundary, ["ask @kim-lee, not @kim.", "takes the '-' for the end of the name"]),
    (OnlyFirst, ["@kim: ping. @kim: ping again!", "re.sub replaces them all"]),
    (MarkedBeforeEscaping, ["&lt;mark&gt;@kim&lt;/mark&gt;", "Your <mark> was escaped"]),
    (ChangesTheEntry, ["expected: the entry left as it was", "'mentioned': True"]),
    (Unescaped, ["<b>not bold</b>", "The text became HTML", "(lesson 05)"]),
    (TextOnly, ["hi @kim, are you there?", "Apart from the <mark> tags"]),
    (AsyncRender, ["tried: AsyncRender.render_entry", "render_entry() is declared async def",
                   "without await"]),
    (PrintsRender, ["got: None (and it printed something)", "printed its answer and returned "
                    "None"]),
    (FieldText, ["raised KeyError: 'text'", "read the field 'text', which this entry does not "
                 "have", "'message'"]),
    (WrongNameAttribute, ["raised AttributeError", "no attribute 'client_id'",
                          "the widget's participant is self.name"]),
], ids=lambda value: value.__name__ if isinstance(value, type) else None)
async def test_each_wrong_mention_widget_gets_the_hint_that_names_its_mistake(wrong, words,
                                                                                 capsys):
    assert await check_mentions(wrong) is MentionChat
    out = failure(verdict(capsys), "mentions", *words)
    assert "carries on with the kit's MentionChat" in out


async def test_untouched_mentions_stub_is_not_done_yet(capsys):
    assert await check_mentions(MentionStub) is MentionChat
    assert capsys.readouterr().out == (
        "⏳ mentions: not done yet.\n"
        "   The notebook carries on with the kit's MentionChat for now.\n")


async def test_the_kits_own_mention_widget_is_never_passed(capsys):
    assert await check_mentions(MentionChat) is MentionChat
    out = capsys.readouterr().out
    assert out.startswith("⚠️ mentions: run your exercise cell first.") and "✅" not in out


class SplitStyle(ChatWidget):
    """A right answer in another style: a lookahead that also accepts the end of the line."""

    def render_entry(self, entry):
        pattern = re.compile(r"@%s(?=[^\w-]|$)" % re.escape(self.name))
        return pattern.sub(lambda found: "<mark>" + found[0] + "</mark>",
                           ChatWidget.render_entry(self, entry))


async def test_a_right_mention_widget_in_another_style_passes(capsys):
    assert await check_mentions(SplitStyle) is SplitStyle
    assert capsys.readouterr().out.startswith("✅ mentions: all 8 checks passed")


# -- the kit's answers in a room, and the lesson in a kernel --------------------------------------

async def test_the_kits_answers_side_by_side(chat_server):
    """Both features together, as a student might combine them after the lesson."""

    class Both(MentionChat, OnlineChat):
        pass

    dave = Both(chat_server.ws_url, "dave", retry=0.05)
    erin = ChatWidget(chat_server.ws_url, "erin", retry=0.05)
    try:
        await dave.wait_for(lambda chat: chat.online == {"dave", "erin"})
        assert "Online: dave, erin" in dave.online_html.value
        assert await erin.send("hi @dave <i>and</i> @dave2")
        await dave.wait_for_text("hi @dave", sender="erin")
        assert ("hi <mark>@dave</mark> &lt;i&gt;and&lt;/i&gt; @dave2"
                in dave.log_html.value)
        await erin.close()
        await dave.wait_for(lambda chat: chat.online == {"dave"})
        assert dave.participants == 1
    finally:
        await dave.close()
        await erin.close()


WRONG_ONLINE_CHAT = '''
class OnlineChat(ChatWidget):
    def __init__(self, url, name, **kwargs):
        super().__init__(url, name, **kwargs)
        self.online = set()
        self.online_html = widgets.HTML()
        self.children = (self.header_html, self.online_html, *self.children[1:])
        self.show_online()

    async def handle(self, message):
        super().handle(message)
        if message.get("type") == "welcome":
            self.online = set(message["online"])
        self.show_online()

    def show_online(self):
        self.online_html.value = "Online: " + ", ".join(sorted(self.online))
'''

WRONG_MENTION_CHAT = '''
class MentionChat(ChatWidget):
    def render_entry(self, entry):
        return super().render_entry(entry).replace("@" + self.name, "<mark>@kim</mark>")
'''


def test_in_the_notebook_wrong_widgets_never_pass_however_often_their_checks_run():
    outputs = run_student_notebook("06_widget_chat", {"who is online": WRONG_ONLINE_CHAT,
                                                      "mentions": WRONG_MENTION_CHAT})
    assert len(outputs) == 4  # two check cells, each run twice
    for output in outputs:
        assert "❌" in output and not passes(output), output
    assert all("is declared async def" in output for output in outputs[:2])
    assert all("@kimberly and @kim_2 are other people" in output for output in outputs[2:])
