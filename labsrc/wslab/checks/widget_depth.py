"""Elective E4's checks: a chat line as safe HTML, a ChatWidget that marks mentions, and a
prediction about one loop.

**message_line** (:func:`check_message_line`, reference
:func:`wslab.answers.widget_depth.message_line`) is what ``ChatWidget.render_entry`` does, in
the lecture page's layout: one message from the server as a line of HTML, every value from it
escaped. The check judges a line by what a browser would build from it (:func:`structure`), so
an unescaped value is caught by the element it turns into, whatever the layout of the student's
HTML. (It was core lesson 03's second exercise; the core track keeps the JavaScript fix.)

**mentions** (:func:`check_mentions`) extends :class:`wslab.widgets.ChatWidget` through its
``render_entry`` hook. The check draws lines with the student's method for a widget named kim,
then has someone mention kim through a real chat server and looks at the live log. Every widget
and client it makes is closed before it returns, whatever the verdict (the helpers are core
lesson 04's, in :mod:`wslab.checks.widgets`).

What a mentions verdict shows of a line is its text part, the part a person reads, with the
marks in it: the kit's markup around it (``wslab-line``, ``wslab-meta``...) is the same in
expected and got, and printed whole it buried the one difference that matters. The whole line
is shown only when it is the line around the text that differs.
"""

from __future__ import annotations

import copy
import html
import json
import re
from html.parser import HTMLParser
from typing import Any, Callable

from wslab.answers import widget_depth as answers
from wslab.checks.core import (Failure, call, carry_on, common_mistake, missing_field_hint,
                               run_async_check, run_check, shown)
from wslab.checks.predictions import Question
from wslab.checks.progress import Exercise
from wslab.checks.widgets import (_is_widget_class, _make, _no_async_hooks, _peer, _tear_down,
                                  _wait)
from wslab.widgets import ChatWidget

# -- the exercise: message_line -------------------------------------------------------------

class _Structure(HTMLParser):
    """What a browser builds from a piece of HTML: elements, attributes, and the text shown."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[Any, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, tuple(sorted((k, v or "") for k, v in attrs))))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.events.append(("end", tag))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        if self.events and self.events[-1][0] == "text":
            self.events[-1] = ("text", self.events[-1][1] + data)
        else:
            self.events.append(("text", data))

    def handle_comment(self, data: str) -> None:
        self.events.append(("comment", data))

    def handle_decl(self, decl: str) -> None:
        self.events.append(("decl", decl))

    def handle_pi(self, data: str) -> None:
        self.events.append(("pi", data))


def structure(fragment: str) -> list[tuple[Any, ...]]:
    """The elements and text a browser makes of ``fragment``; whitespace runs count as one."""
    parser = _Structure()
    parser.feed(fragment)
    parser.close()
    events = []
    for event in parser.events:
        if event[0] == "text":
            text = " ".join(event[1].split())
            if text:
                events.append(("text", text))
        else:
            events.append(event)
    return events


def shown_text(fragment: str) -> str:
    """The text a browser shows for ``fragment``."""
    return " ".join(event[1] for event in structure(fragment) if event[0] == "text")




SAFE_TAGS = {"div", "span"}
_PAYLOADS = {
    "image": "<img src=x onerror=\"document.body.style.background='pink'\">",
    "script": "</div><script>stealToken()</script>",
}

#: (message, me, hint). The hint is the last resort, for a wrong line no recognised mistake
#: explains.
LINE_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"message": "hi", "client_id": "bob", "timestamp": "12:00:00"}, "alice",
     "A chat line from someone else: <div class=\"message other\">Client bob: hi <span "
     "class=\"timestamp\">12:00:00</span></div>."),
    ({"message": "hi", "client_id": "alice", "timestamp": "12:00:01"}, "alice",
     "Your own line says You instead of Client alice, and its class is \"message user\"."),
    ({"client_id": "system", "type": "join", "message": "Client #bob joined the chat (2 online)",
      "timestamp": "12:00:02"}, "alice",
     "A message with a \"type\" is the server's own: <div class=\"message system\">, and "
     "inside it only the message."),
    ({"message": _PAYLOADS["image"], "client_id": "mallory", "timestamp": "12:00:03"}, "alice",
     "The message is shown as text: the page shows <img ...> itself, not an image."),
    ({"message": _PAYLOADS["script"], "client_id": "mallory", "timestamp": "12:00:04"}, "alice",
     "The message is shown as text, </div> and <script> included."),
    ({"message": "hello", "client_id": '<b onmouseover="stealToken()">mallory</b>',
      "timestamp": "12:00:05"}, "alice",
     "The sender's name is shown as text, markup and all: the lecture's server takes any "
     "client id from the URL."),
    ({"message": "I am the server now <img src=x onerror=stealToken()>", "client_id": "mallory",
      "timestamp": "12:00:06", "type": "disconnect"}, "alice",
     "A system line shows its text as text too: on the lecture's server a client can send "
     "\"type\": \"disconnect\" itself."),
    ({"message": "Tom &amp; Jerry: &lt;3 <3", "client_id": "bob", "timestamp": "12:00:07"},
     "alice",
     "Someone typed the characters &amp; and &lt; themselves, and the page must show exactly "
     "what they typed."),
    ({"message": "hi", "client_id": "bob", "timestamp": "<img src=x onerror=stealToken()>"},
     "alice",
     "The timestamp is shown as text too: it came over the network like every other value."),
]

#: The values of a message that end up in its line, and how the hints call them.
LINE_VALUES = (("message", "the message"), ("client_id", "the sender's name"),
               ("timestamp", "the timestamp"))

WHY_ESCAPE = ("Whoever sent it can run their code in every page that shows the line, as "
              "mallory did in the lecture's page (innerHTML). html.escape() makes a value "
              "text, as textContent does in JavaScript.")

_ENTITY = re.compile(r"&(amp|lt|gt|quot|#x?[0-9a-f]+);", re.IGNORECASE)


def _line_class(events: list[tuple[Any, ...]]) -> str | None:
    """The class of the line's outer element."""
    starts = [event for event in events if event[0] == "start"]
    return dict(starts[0][2]).get("class") if starts else None


def _line_mistake(data: dict[str, Any], got: str, want: str) -> str | None:
    """Name the mistake that makes ``got`` differ from the safe line ``want``, or None."""
    events = structure(got)
    unsafe = [event for event in events
              if event[0] in ("start", "end") and event[1] not in SAFE_TAGS]
    attributes = [name for event in events if event[0] == "start"
                  for name, _ in event[2] if name != "class"]
    if unsafe or attributes:
        marker = f"<{unsafe[0][1]}" if unsafe else attributes[0]
        what = f"an element <{unsafe[0][1]}>" if unsafe else f"an attribute {attributes[0]!r}"
        culprit = next((label for field, label in LINE_VALUES
                        if marker in str(data.get(field, ""))), "a value from the message")
        return (f"{culprit[0].upper()}{culprit[1:]} went into your line as HTML: a browser "
                f"would build {what} out of it. {WHY_ESCAPE}")
    if re.search(r"<(div|span)\b", shown_text(got)):
        return ("The page would show your tags as text: the whole line was escaped, markup "
                "included. Escape each value from the message, not the HTML around it.")
    if _ENTITY.search(shown_text(got)) and not _ENTITY.search(shown_text(want)):
        return ("The page would show entities such as &amp;lt; instead of the characters: is "
                "something escaped twice? Escape each value once, right where it goes into "
                "the HTML.")
    if shown_text(got) != shown_text(want) and shown_text(got) == html.unescape(shown_text(want)):
        return ("Someone typed &amp; and &lt; themselves, and your page shows them as & and <: "
                "& must be escaped too (html.escape does all of them, & first), so the page "
                "shows exactly what was typed.")
    right_class = _line_class(structure(want))
    if _line_class(events) != right_class:
        return {"message system": 'A message with a "type" is the server\'s own: its line has '
                                  "the class system and shows only the message.",
                "message user": "This message is your own (its client_id is me): its line "
                                "says You, and has the class user.",
                "message other": "This message is from someone else (its client_id is not "
                                 "me): its line says Client and the name, and has the class "
                                 "other."}.get(right_class)
    return None


def check_message_line(message_line: Callable[[dict[str, Any], str], str],
                       ) -> Callable[[dict[str, Any], str], str]:
    """Compare what a browser would make of each line with the safe reference's."""

    def body() -> str:
        for data, me, hint in LINE_CASES:
            want = answers.message_line(dict(data), me)
            tried = f"message_line({shown(data, 200)}, me={me!r})"
            got = call(message_line, (dict(data), me), tried=tried, expected=shown(want, 400),
                       hint=lambda exc, data=data, hint=hint: missing_field_hint(exc, data) or hint)
            if not isinstance(got, str):
                raise Failure(tried=tried, expected=shown(want, 400), got=shown(got),
                              hint=common_mistake(got, want)
                              or "Return the line of HTML as a str.")
            if structure(got) != structure(want):
                raise Failure(tried=tried, expected=shown(want, 400), got=shown(got, 400),
                              hint=_line_mistake(data, got, want) or hint)
        return (f"all {len(LINE_CASES)} checks passed: markup from the network is shown as "
                f"text, and ordinary text as it was typed.")

    passed = run_check("message_line", body, fallback="the kit's message_line",
                       student=message_line)
    return carry_on(passed, message_line, answers.message_line)


# -- the exercise: mentions ---------------------------------------------------------------------

_MARK = re.compile(r"<mark\b[^>]*>(.*?)</mark>", re.S)
_MARK_TAGS = re.compile(r"</?mark\b[^>]*>")

#: (the entry, how many mentions it holds, a hint for when it fails)
MENTION_CASES: list[tuple[dict[str, Any], int, str]] = [
    ({"message": "hi @kim, are you there?", "client_id": "lee", "timestamp": "12:00:00"}, 1,
     "Mark every '@' + self.client_id in the HTML that super().render_entry(entry) returns: "
     "wrap it as <mark>@kim</mark>. Use self.client_id, not a name of your own: this widget is "
     "kim's."),
    ({"message": "@kim: ping. @kim: ping again!", "client_id": "lee",
      "timestamp": "12:00:01"}, 2,
     "Mark every mention, not only the first: re.sub replaces them all."),
    ({"message": "no mention here", "client_id": "lee", "timestamp": "12:00:02"}, 0,
     "A line without a mention must look exactly as ChatWidget draws it: return "
     "super().render_entry(entry) unchanged."),
    ({"message": "hello @kimberly and @kim_2", "client_id": "lee", "timestamp": "12:00:03"}, 0,
     "@kimberly and @kim_2 are other people: a name is letters, digits, _ and -, so a mention "
     "of kim must not be followed by one of those."),
    ({"message": "ask @kim-lee, not @kim.", "client_id": "lee", "timestamp": "12:00:04"}, 1,
     "@kim-lee is someone else: a name can hold '-', but an end-of-name test that knows only "
     "letters, digits and _ (such as \\b, or (?!\\w)) takes the '-' for the end of the name. "
     "A mention of kim must not be followed by a letter, a digit, _ or -."),
    ({"message": "@kim <b>not bold</b> & <script>alert(1)</script>", "client_id": "lee",
      "timestamp": "12:00:05"}, 1,
     "The text came from the network: it must stay escaped (lesson 03). Let "
     "super().render_entry(entry) escape it, then add <mark> to the HTML it returns; do not "
     "build the line from entry[\"message\"] yourself."),
    ({"client_id": "system", "type": "join", "message": "Client #lee joined the chat (2 online)",
      "timestamp": "12:00:06", "user": "lee", "participants": 2}, 0,
     "System lines without a mention must look as before too."),
]


_TEXT_PART = re.compile(r'<(?:div|span) class="wslab-text">(.*?)</(?:div|span)>', re.S)


def _text_part(line: str) -> str | None:
    """The text part of a line drawn as ChatWidget draws it, marks included; None if none."""
    found = _TEXT_PART.search(line)
    return found[1] if found else None


def _text_shown(line: str) -> str:
    """How a verdict shows a line: its text part, if it has one as ChatWidget draws it."""
    text = _text_part(line)
    return shown(line, 400) if text is None else f"the line with the text {shown(text, 300)}"


def _both_shown(want: str, got: str) -> tuple[str, str]:
    """Expected and got, as the text parts; whole lines when the parts alone look the same."""
    want_text, got_text = _text_part(want), _text_part(got)
    if got_text is None:
        return (_text_shown(want), f"{shown(got, 300)}: only this, without the line "
                                   "ChatWidget draws around the text (the sender, the time)")
    if want_text == got_text:  # the difference is in the line around the text
        return shown(want, 400), shown(got, 400)
    return _text_shown(want), _text_shown(got)


def _render_exception_hint(case_hint: str) -> Callable[[BaseException], str]:
    def hint(exc: BaseException) -> str:
        if isinstance(exc, KeyError):
            return (f"render_entry() read the field {exc}, which this entry does not have "
                    "(KeyError): a chat line has 'message', 'client_id' and 'timestamp', and "
                    "a system line a 'type' as well. Better still, let "
                    "super().render_entry(entry) read the entry.")
        if isinstance(exc, AttributeError):
            return (f"{exc}: the widget's participant is self.client_id, and the line of HTML is "
                    "what super().render_entry(entry) returns.")
        return case_hint
    return hint


async def _mentions_body(cls: Any) -> str:
    if not _is_widget_class(cls):
        raise Failure(tried="MentionChat", expected="a subclass of ChatWidget", got=shown(cls),
                      hint="Define class MentionChat(ChatWidget): ... and run its cell again.")
    _no_async_hooks(cls, ("render_entry",))
    from wslab.chat import create_app
    from wslab.runner import BackgroundServer

    made: list[Any] = []
    peers: list[Any] = []
    server = BackgroundServer(create_app(), name="e4-check-mentions").start()
    try:
        chat = _make(cls, server.ws_url, "kim", made)
        # The drawings first, before anything awaits: the log is redrawn from the event loop
        # only between awaits, so a render_entry that returns no string fails here, named,
        # and not in a redraw.
        for case, count, hint in MENTION_CASES:
            entry, before = copy.deepcopy(case), copy.deepcopy(case)
            tried = f"a widget for kim draws {shown(entry, 200)}"
            base = ChatWidget.render_entry(chat, before)
            want = re.sub("@kim(?![\\w-])", "<mark>@kim</mark>", base)
            expected = _text_shown(want)
            got = call(chat.render_entry, (entry,), tried=tried, expected=expected,
                       hint=_render_exception_hint(hint))
            if entry != before:
                raise Failure(tried=tried, expected="the entry left as it was",
                              got=f"render_entry changed it to {shown(entry, 200)}",
                              hint="Do not change the entry: it stays in self.entries and is "
                                   "drawn again at every redraw. Change the HTML string "
                                   "instead.")
            if got is None:
                raise Failure(tried=tried, expected=expected,
                              got="None: render_entry returned nothing",
                              hint="render_entry() returned None: a return is missing at its "
                                   "end. The log shows what render_entry returns, so return "
                                   "the line of HTML.")
            if not isinstance(got, str):
                raise Failure(tried=tried, expected=expected, got=shown(got),
                              hint="Return the line of HTML as a string.")
            marks = _MARK.findall(got)
            if "&lt;mark" in got:
                hint = ("Your <mark> was escaped, so it shows as text: it was added to the text "
                        "before super().render_entry escaped it. Add it to the HTML that "
                        "super().render_entry(entry) returns.")
            elif "<b>" in got or "<script>" in got:
                hint = ("The text became HTML: <b> and <script> are no longer escaped. "
                        + hint)
            elif _MARK_TAGS.sub("", got) != base:
                hint = ("Apart from the <mark> tags, return exactly the HTML that "
                        "super().render_entry(entry) returns: it draws the sender, the time "
                        "and the escaped text, and the log's look depends on it.")
            elif marks == ["@kim"] * count:
                continue
            shown_want, shown_got = _both_shown(want, got)
            raise Failure(tried=tried, expected=shown_want, got=shown_got, hint=hint)

        # The same in the live log: lee's line arrives from the server and is drawn.
        await _wait(chat, lambda widget: widget.participants is not None)  # kim is in the room
        peers.append(lee := await _peer(server, "lee"))
        await lee.send(json.dumps({"message": "live from the server: hello @kim!"}))
        tried = "lee sends 'live from the server: hello @kim!' through the server"
        await _wait(chat, lambda widget: ("lee", "live from the server: hello @kim!")
                    in widget.chat_lines)
        chat.render()
        if not _MARK.search(chat.log_html.value):
            raise Failure(tried=tried, expected="<mark>@kim</mark> in the log (log_html.value)",
                          got=f"chat lines: {shown(chat.chat_lines)}; the log has no <mark>",
                          hint="Override render_entry(self, entry): render() calls it for "
                               "every entry of the log.")
        return (f"all {len(MENTION_CASES) + 1} checks passed: every @kim is marked, other "
                f"names are not, the text stays escaped, and the live log shows it.")
    finally:
        await _tear_down(server, peers, made)


async def check_mentions(cls: Any) -> Any:
    """The exercise: draw lines with the student's ``render_entry`` and compare them.

    Returns the class to carry on with: the student's once it passes, the kit's until then.
    """
    ok = await run_async_check("mentions", lambda: _mentions_body(cls),
                               fallback="the kit's MentionChat", timeout=20, student=cls)
    return cls if ok else answers.MentionChat


def _after_blocking(value: Any) -> str:
    return "a" if value == 10 else "b" if value == 0 else "c"


BLOCKED_TASK = Question(
    "predict: a task while the cell blocks",
    options={"a": "10: the task ran while the cell slept",
             "b": "0: the task has not run at all yet",
             "c": "somewhere between 0 and 10"},
    classify=_after_blocking,
    why="time.sleep() holds the kernel's thread, and with it the event loop, for the whole "
        "second: a task runs only when the loop gets its turn back, when the cell ends or "
        "awaits. create_task() only put the task in line. With await asyncio.sleep(1) instead, "
        "the loop is free during the wait and the bar would be full.")


EXERCISES = (
    BLOCKED_TASK,
    Exercise("message_line", check_message_line, reads=("message_line",)),
    Exercise("mentions", check_mentions, reads=("MentionChat",)),
)
