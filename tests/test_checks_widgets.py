"""Lesson 06's checks: each rejects plausible wrong widgets, and accepts the reference ones.

The checks run the classes against a real chat server, in the test's event loop, as they run
in the kernel's (outside a kernel, every widget gets a dummy comm).
"""

from __future__ import annotations

import html
import re

import ipywidgets as widgets
import pytest

from wslab.checks.widgets import MentionChat, OnlineChat, check_mentions, check_online_chat
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


class Unsorted(Exercise):
    """Keeps the names in a list, in the order they came."""

    def handle(self, message):
        super().handle(message)
        if message.get("type") == "welcome":
            self.online = list(message["online"])
        elif message.get("type") == "join":
            self.online.append(message["user"])
        elif message.get("type") == "disconnect" and message["user"] in self.online:
            self.online.remove(message["user"])
        self.show_online()

    def show_online(self):
        self.online_html.value = "Online: " + ", ".join(self.online)


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
                    "discard"]),
    (NoSuper, ["the welcome in the log", "0 entries in the log; participants = None",
               "super().handle(message)"]),
    (NeverShown, ["expected: the line under the header shows 'Online: alice, bob'",
                  "the line shows 'Online:'", "self.show_online()"]),
    (Unsorted, ["expected: the line under the header shows 'Online: alice, bob, dave, erin, "
                "frank'", "the line shows 'Online: frank, dave, alice, erin, bob'",
                "sorted(self.online)"]),
    (NotShownOnPage, ["online_html among the widget's children", "self.children ="]),
    ("OnlineChat", ["expected: a subclass of ChatWidget"]),
], ids=lambda value: value.__name__ if isinstance(value, type) else None)
async def test_wrong_online_widgets_are_explained(wrong, words, capsys):
    assert await check_online_chat(wrong) is OnlineChat
    out = capsys.readouterr().out
    assert out.startswith("❌ who is online: not right yet."), out
    for word in words:
        assert word in out, (word, out)
    assert "hint:" in out and "carries on with wslab.checks.widgets.OnlineChat" in out


@pytest.mark.parametrize("stub", [Stub, StubShow], ids=["handle", "show_online"])
async def test_untouched_online_stub_is_not_done_yet(stub, capsys):
    assert await check_online_chat(stub) is OnlineChat
    assert capsys.readouterr().out == (
        "⏳ who is online: not done yet. The notebook carries on with "
        "wslab.checks.widgets.OnlineChat for now.\n")


async def test_online_reference_passes(capsys):
    assert await check_online_chat(OnlineChat) is OnlineChat
    out = capsys.readouterr().out
    assert out.startswith("✅ who is online: the line follows the welcome, joins and leaves"), out


async def test_a_student_class_that_passes_is_returned(capsys):
    class Mine(Exercise):
        def handle(self, message):
            super().handle(message)
            kind = message.get("type")
            if kind == "welcome":
                self.online = set(message["online"])
            elif kind == "join":
                self.online.add(message["user"])
            elif kind == "disconnect":
                self.online.discard(message["user"])
            self.show_online()

    assert await check_online_chat(Mine) is Mine
    assert capsys.readouterr().out.startswith("✅ who is online:")


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
        marked = re.sub(rf"@{self.name}\b", r"<mark>\g<0></mark>", text)
        return super().render_entry(entry).replace(html.escape(text), marked)


class TextOnly(ChatWidget):
    def render_entry(self, entry):
        return re.sub(rf"@{self.name}\b", r"<mark>\g<0></mark>",
                      html.escape(str(entry.get("message", ""))))


@pytest.mark.parametrize("wrong, words", [
    (HardCoded, ["hi @kim, are you there?", "<mark>@kim</mark>", "Use self.name"]),
    (PlainReplace, ["hello @kimberly and @kim_2", "(?![\\w-])"]),
    (OnlyFirst, ["@kim: ping. @kim: ping again!", "re.sub replaces them all"]),
    (MarkedBeforeEscaping, ["&lt;mark&gt;@kim&lt;/mark&gt;", "Your <mark> was escaped"]),
    (ChangesTheEntry, ["expected: the entry left as it was", "'mentioned': True"]),
    (Unescaped, ["<b>not bold</b>", "The text became HTML", "(lesson 05)"]),
    (TextOnly, ["hi @kim, are you there?", "Apart from the <mark> tags"]),
], ids=lambda value: value.__name__ if isinstance(value, type) else None)
async def test_wrong_mentions_are_explained(wrong, words, capsys):
    assert await check_mentions(wrong) is MentionChat
    out = capsys.readouterr().out
    assert out.startswith("❌ mentions: not right yet."), out
    for word in words:
        assert word in out, (word, out)
    assert "hint:" in out and "carries on with wslab.checks.widgets.MentionChat" in out


async def test_untouched_mentions_stub_is_not_done_yet(capsys):
    assert await check_mentions(MentionStub) is MentionChat
    assert capsys.readouterr().out == (
        "⏳ mentions: not done yet. The notebook carries on with "
        "wslab.checks.widgets.MentionChat for now.\n")


async def test_mentions_reference_passes(capsys):
    assert await check_mentions(MentionChat) is MentionChat
    out = capsys.readouterr().out
    assert out.startswith("✅ mentions: all 7 checks passed"), out


# -- the references in a room ---------------------------------------------------------------------

async def test_the_references_side_by_side(chat_server):
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
