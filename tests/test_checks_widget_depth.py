"""Elective E4's checks: each wrong chat line and each wrong mention widget gets the hint that
names its mistake, first; a right one in another style passes; the kit's own answer and the stub
are never passed.

The mentions check runs the classes against a real chat server, in the test's event loop, as it
runs in the kernel's (outside a kernel, every widget gets a dummy comm).
"""

from __future__ import annotations

import html
import re

import pytest

from exercises import never_passed, none_passed, untouched, wrong_in_the_notebook
from verdicts import failure, verdict
from widget_checks import FAST_POLICY, carries_on, wrong_widget
from wslab.answers.widget_depth import MentionChat
from wslab.answers.widget_depth import message_line as kit_message_line
from wslab.answers.widgets import OnlineChat
from wslab.checks.widget_depth import (BLOCKED_TASK, check_mentions, check_message_line,
                                      shown_text, structure)
from wslab.widgets import ChatWidget

#: Whatever the verdict, a check closes every widget it made.
pytestmark = pytest.mark.usefixtures("no_widget_left_open")


# -- the exercise: message_line -----------------------------------------------------------------

def layout(data, me, escape):
    """The lecture's layout, with ``escape`` applied to (text, sender, timestamp)."""
    text = escape(str(data["message"]), "text")
    if "type" in data:
        return f'<div class="message system">{text}</div>'
    mine = data["client_id"] == me
    who = "You" if mine else f"Client {escape(data['client_id'], 'sender')}"
    return (f'<div class="message {"user" if mine else "other"}">{who}: {text} '
            f'<span class="timestamp">{escape(data["timestamp"], "timestamp")}</span></div>')


def escaping(*which, how=html.escape):
    return lambda data, me: layout(data, me, lambda value, what: how(value)
                                   if what in which else value)


def replace_angles(value):
    return value.replace("<", "&lt;").replace(">", "&gt;")


@pytest.mark.parametrize("wrong, words", [
    (escaping(), ["<img src=x onerror", "The message went into your line as HTML",
                  "an element <img>", "run their code in every page", "innerHTML"]),
    (escaping("text"), ["<b onmouseover", "The sender's name went into your line as HTML",
                        "an element <b>", "html.escape() makes a value text"]),
    (escaping("text", "sender"), ["'timestamp': '<img",
                                  "The timestamp went into your line as HTML"]),
    (escaping("text", "sender", "timestamp", how=replace_angles),
     ["Tom &amp; Jerry", "& must be escaped too"]),
    (escaping("text", "sender", "timestamp", how=lambda v: html.escape(html.escape(v))),
     ["escaped twice"]),
    (lambda data, me: html.escape(kit_message_line(data, me)), ["the whole line was escaped"]),
    (lambda data, me: kit_message_line(data, me).replace("message user", "message other"),
     ["'client_id': 'alice'", "This message is your own"]),
    (lambda data, me: kit_message_line({k: v for k, v in data.items() if k != "type"}, me),
     ["'type': 'join'", "is the server's own: its line has the class system"]),
    (lambda data, me: kit_message_line(data, me).replace(
        '<span class="timestamp">', "(").replace("</span>", ")"),
     ["expected: '<div class=\"message other\">Client bob: hi <span",
      "got: '<div class=\"message other\">Client bob: hi (12:00:00)"]),
    (lambda data, me: print(kit_message_line(data, me)),
     ["got: None", "printed its answer and returned None"]),
    (lambda data, me: kit_message_line(data, me).encode(), ["bytes, where a str is due"]),
    (lambda data, me: f'<div class="message other">Client {html.escape(data["sender"])}</div>',
     ["raised KeyError: 'sender'", "no field 'sender'"]),
])
def test_wrong_lines_are_explained(wrong, words, capsys):
    assert check_message_line(wrong) is kit_message_line
    failure(verdict(capsys), "message_line", *words)


def test_untouched_line_is_not_done_yet(capsys):
    def message_line(data, me):
        raise NotImplementedError("exercise: message_line")

    untouched(check_message_line(message_line), kit_message_line, "message_line", capsys)


def test_the_kits_own_line_is_never_passed(capsys):
    never_passed(check_message_line(kit_message_line), kit_message_line, "message_line", capsys)


def lecture_whitespace(data, me):
    """The lecture's template literal kept its newlines and indentation: a browser does not mind."""
    line = escaping("text", "sender", "timestamp", how=lambda v: html.escape(v, quote=False))
    return line(data, me).replace(": ", ":\n          ", 1).replace(" <span", "\n  <span")


@pytest.mark.parametrize("solution", [escaping("text", "sender", "timestamp"),
                                      lecture_whitespace])
def test_right_lines_in_another_style_pass(solution, capsys):
    assert check_message_line(solution) is solution
    assert capsys.readouterr().out.startswith("✅ message_line: all 9 checks passed")


def test_structure_sees_what_a_browser_builds():
    assert structure('<div class="a">x &amp;  y<img src=x></div>') == [
        ("start", "div", (("class", "a"),)), ("text", "x & y"),
        ("start", "img", (("src", "x"),)), ("end", "div")]
    assert shown_text("<b>a</b>\n  b &lt;") == "a b <"


# -- the exercise: mentions ----------------------------------------------------------------------

class MentionStub(ChatWidget):
    def render_entry(self, entry):
        raise NotImplementedError("exercise: mentions")


class HardCoded(ChatWidget):
    def render_entry(self, entry):
        return super().render_entry(entry).replace("@bob", "<mark>@bob</mark>")


class PlainReplace(ChatWidget):
    def render_entry(self, entry):
        mention = f"@{self.client_id}"
        return super().render_entry(entry).replace(mention, f"<mark>{mention}</mark>")


class WordBoundary(ChatWidget):
    r"""``\b`` ends a word at '-': marks @kim in @kim-lee."""

    def render_entry(self, entry):
        return re.sub(rf"@{re.escape(self.client_id)}\b", r"<mark>\g<0></mark>",
                      super().render_entry(entry))


class OnlyFirst(ChatWidget):
    def render_entry(self, entry):
        return re.sub(rf"@{self.client_id}\b", r"<mark>\g<0></mark>", super().render_entry(entry),
                      count=1)


class MarkedBeforeEscaping(ChatWidget):
    def render_entry(self, entry):
        text = re.sub(rf"@{self.client_id}\b", r"<mark>\g<0></mark>", str(entry.get("message", "")))
        return super().render_entry({**entry, "message": text})


class ChangesTheEntry(ChatWidget):
    def render_entry(self, entry):
        line = super().render_entry(entry)
        entry["mentioned"] = f"@{self.client_id}" in str(entry.get("message", ""))
        return re.sub(rf"@{self.client_id}\b", r"<mark>\g<0></mark>", line)


class Unescaped(ChatWidget):
    """Swaps the escaped text in the line for a marked copy of the raw text."""

    def render_entry(self, entry):
        text = str(entry.get("message", ""))
        marked = re.sub(rf"@{self.client_id}(?![\w-])", r"<mark>\g<0></mark>", text)
        return super().render_entry(entry).replace(html.escape(text), marked)


class TextOnly(ChatWidget):
    def render_entry(self, entry):
        return re.sub(rf"@{self.client_id}\b", r"<mark>\g<0></mark>",
                      html.escape(str(entry.get("message", ""))))


class AsyncRender(ChatWidget):
    async def render_entry(self, entry):
        return super().render_entry(entry).replace(f"@{self.client_id}", "<mark>@kim</mark>")


class PrintsRender(ChatWidget):
    def render_entry(self, entry):
        print(re.sub(rf"@{self.client_id}(?![\w-])", r"<mark>\g<0></mark>",
                     super().render_entry(entry)))


class NoReturn(ChatWidget):
    """Computes the marked line, and forgets to return it."""

    def render_entry(self, entry):
        line = super().render_entry(entry)
        line = re.sub(rf"@{self.client_id}(?![\w-])", r"<mark>\g<0></mark>", line)


class FieldText(ChatWidget):
    """A wrong field name: entries keep their text under "message"."""

    def render_entry(self, entry):
        line = super().render_entry(entry)
        if f"@{self.client_id}" not in entry["text"]:
            return line
        return re.sub(rf"@{self.client_id}(?![\w-])", r"<mark>\g<0></mark>", line)


class WrongNameAttribute(ChatWidget):
    def render_entry(self, entry):
        return re.sub(f"@{self.name}(?![\\w-])", r"<mark>\g<0></mark>",
                      super().render_entry(entry))


@pytest.mark.parametrize("wrong, words", [
    (HardCoded, ["hi @kim, are you there?", "<mark>@kim</mark>", "Use self.client_id"]),
    (PlainReplace, ["hello @kimberly and @kim_2", "are other people",
                    "must not be followed by one of those"]),
    (WordBoundary, ["ask @kim-lee, not @kim.", "takes the '-' for the end of the name"]),
    (OnlyFirst, ["@kim: ping. @kim: ping again!", "re.sub replaces them all"]),
    (MarkedBeforeEscaping, ["&lt;mark&gt;@kim&lt;/mark&gt;", "Your <mark> was escaped"]),
    (ChangesTheEntry, ["expected: the entry left as it was", "'mentioned': True"]),
    (Unescaped, ["<b>not bold</b>", "The text became HTML", "(lesson 03)"]),
    (TextOnly, ["hi @kim, are you there?", "Apart from the <mark> tags"]),
    (AsyncRender, ["tried: AsyncRender.render_entry", "render_entry() is declared async def",
                   "without await"]),
    (PrintsRender, ["got: None (and it printed something)", "printed its answer and returned "
                    "None"]),
    (NoReturn, ["got: None: render_entry returned nothing", "a return is missing"]),
    (FieldText, ["raised KeyError: 'text'", "read the field 'text', which this entry does not "
                 "have", "'message'"]),
    (WrongNameAttribute, ["raised AttributeError", "no attribute 'name'",
                          "the widget's participant is self.client_id"]),
], ids=lambda value: value.__name__ if isinstance(value, type) else None)
@pytest.mark.slow
async def test_each_wrong_mention_widget_gets_the_hint_that_names_its_mistake(wrong, words,
                                                                                 capsys):
    wrong_widget(await check_mentions(wrong), MentionChat, "mentions", capsys, *words)


@pytest.mark.slow
async def test_untouched_mentions_stub_is_not_done_yet(capsys):
    assert untouched(await check_mentions(MentionStub), MentionChat, "mentions", capsys) \
        == carries_on("mentions", MentionChat)


async def test_the_kits_own_mention_widget_is_never_passed(capsys):
    never_passed(await check_mentions(MentionChat), MentionChat, "mentions", capsys)


class SplitStyle(ChatWidget):
    """A right answer in another style: a lookahead that also accepts the end of the line."""

    def render_entry(self, entry):
        pattern = re.compile(r"@%s(?=[^\w-]|$)" % re.escape(self.client_id))
        return pattern.sub(lambda found: "<mark>" + found[0] + "</mark>",
                           ChatWidget.render_entry(self, entry))


@pytest.mark.slow
async def test_a_right_mention_widget_in_another_style_passes(capsys):
    assert await check_mentions(SplitStyle) is SplitStyle
    assert capsys.readouterr().out.startswith("✅ mentions: all 8 checks passed")


@pytest.mark.slow
async def test_a_verdict_shows_the_text_of_a_line_not_the_kits_markup(capsys):
    """Expected and got show what a person reads, marks included; the markup around is cut."""
    await check_mentions(HardCoded)
    out = failure(verdict(capsys), "mentions",
                  "expected: the line with the text 'hi <mark>@kim</mark>, are you there?'",
                  "got: the line with the text 'hi @kim, are you there?'")
    assert "wslab-" not in out.split("expected:")[1]  # neither in expected nor in got


@pytest.mark.slow
async def test_a_line_without_the_kits_markup_says_so(capsys):
    await check_mentions(TextOnly)
    failure(verdict(capsys), "mentions", "without the line ChatWidget draws around the text",
            hint="Apart from the <mark> tags")


def test_the_blocked_task_prediction_reads_the_bar():
    assert [BLOCKED_TASK.classify(value) for value in (10, 0, 4)] == ["a", "b", "c"]


# -- the kit's answers in a room, and the lesson in a kernel -----------------------------------

async def test_the_kits_answers_side_by_side(chat_server):
    """Both features together, as a student might combine them after the lesson."""

    class Both(MentionChat, OnlineChat):
        pass

    dave = Both(chat_server.ws_url, "dave", policy=FAST_POLICY)
    erin = ChatWidget(chat_server.ws_url, "erin", policy=FAST_POLICY)
    try:
        await dave.wait_for(lambda chat: chat.online == {"dave", "erin"})
        assert "Online: dave, erin" in dave.online_html.value
        assert await erin.say("hi @dave <i>and</i> @dave2")
        await dave.wait_for_text("hi @dave", sender="erin")
        assert ("hi <mark>@dave</mark> &lt;i&gt;and&lt;/i&gt; @dave2"
                in dave.log_html.value)
        await erin.close()
        await dave.wait_for(lambda chat: chat.online == {"dave"})
        assert dave.participants == 1
    finally:
        await dave.close()
        await erin.close()


WRONG_MENTION_CHAT = '''
class MentionChat(ChatWidget):
    def render_entry(self, entry):
        return super().render_entry(entry).replace("@" + self.client_id, "<mark>@kim</mark>")
'''

#: The sender's name left unescaped; the exercise cell's import kept.
WRONG_MESSAGE_LINE = """import html

def message_line(data, me):
    text = html.escape(data['message'])
    if 'type' in data:
        return f'<div class="message system">{text}</div>'
    mine = data['client_id'] == me
    who = 'You' if mine else 'Client ' + data['client_id']
    time = html.escape(data['timestamp'])
    kind = 'user' if mine else 'other'
    return (f'<div class="message {kind}">{who}: {text} '
            f'<span class="timestamp">{time}</span></div>')
"""


@pytest.mark.slow
def test_in_the_notebook_wrong_answers_never_pass_however_often_their_checks_run():
    outputs = wrong_in_the_notebook("E4_widgets_in_depth", {"message_line": WRONG_MESSAGE_LINE,
                                                            "mentions": WRONG_MENTION_CHAT}, 4)
    none_passed(outputs, "message_line", "mentions")
    for output in outputs[:2]:
        assert "The sender's name went into your line as HTML" in " ".join(output.split())
    for output in outputs[2:]:
        assert "@kimberly and @kim_2 are other people" in output
