"""Lesson 03's checks: the page's ``onmessage`` made safe, and the ``innerHTML`` prediction.

**chat_line_js** (:func:`check_chat_line_js`). The student fixes the JavaScript in the lecture
page's ``onmessage`` that fills a chat line (:data:`wslab.display.LECTURE_CHAT_LINE`, kept in a
Python string; :func:`wslab.display.lecture_page` puts it back into the page). A kernel cannot
run a browser, so this check *reads*
the script, as issue 11 asks of checks that cannot see a mistake from behaviour: it tokenizes the
JavaScript (strings, template literals with their ``${...}``, comments) and looks for

- a value put into HTML: an assignment to ``innerHTML``/``outerHTML`` that is not a constant
  string, ``insertAdjacentHTML`` or ``document.write`` with one;
- markup given to ``textContent``, which would show the tags as text;
- what breaks a page without a word: a bracket or quote never closed (the browser then refuses
  the whole script) and a name never declared (a ``ReferenceError`` stops the handler);
- what the line must still show: the sender (You or Client x), the message, the time, and the
  line's class (user or other). Whether the time keeps its ``<span class="timestamp">`` is the
  student's choice: text with the time at its end is as safe.

Its verdict says that it read the script; the lesson's next cell then serves the student's page
and lets mallory attack it, in the student's own browser. The tests run right and wrong answers
in real Chromium against a real server, to prove the check says what the page does.

:data:`INNER_HTML` is the lesson's prediction, and :func:`send_as` the demo that settles it: a
Python client sends one chat line, and the server's side tells whether a page ran code from it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from typing import Any, Iterator

from wslab.answers import page as answers
from wslab.checks.core import Failure, NotDone, carry_on, run_check, shown
from wslab.checks.predictions import Question
from wslab.checks.progress import Exercise
from wslab.display import LECTURE_CHAT_LINE

# -- reading JavaScript ---------------------------------------------------------------------------


@dataclasses.dataclass
class Token:
    """One token of a script: ``kind`` is name, number, string, template or punct.

    A string's ``text`` is its content; a template literal's is its literal parts joined, and
    ``parts`` holds the tokens of each ``${...}`` in it.
    """

    kind: str
    text: str
    line: int
    parts: list[list[Token]] = dataclasses.field(default_factory=list)


class ScriptError(Exception):
    """A script that does not parse: a bracket, quote or comment never closed, or one too many."""

    def __init__(self, line: int, what: str) -> None:
        super().__init__(what)
        self.line, self.what = line, what


_PUNCT = ("===", "!==", "...", "=>", "==", "!=", "+=", "-=", "&&", "||", "??", "?.", "<=", ">=",
          "++", "--")
_CLOSING = {"(": ")", "[": "]", "{": "}"}
_NAME = re.compile(r"[A-Za-z_$][\w$]*")
_NUMBER = re.compile(r"\d[\w.]*")


class _Scanner:
    """A small JavaScript tokenizer: enough to read one event handler, not a parser."""

    def __init__(self, source: str) -> None:
        self.source, self.at, self.line = source, 0, 1

    def _advance(self, count: int) -> str:
        text = self.source[self.at:self.at + count]
        self.line += text.count("\n")
        self.at += count
        return text

    def tokens(self, until: str | None = None) -> list[Token]:
        """Tokens up to the end, or (inside ``${...}``) up to the ``}`` that closes it."""
        found: list[Token] = []
        open_brackets: list[tuple[str, int]] = []
        source = self.source
        while self.at < len(source):
            char, line = source[self.at], self.line
            if char.isspace():
                self._advance(1)
            elif source.startswith("//", self.at):
                end = source.find("\n", self.at)
                self._advance((end if end != -1 else len(source)) - self.at)
            elif source.startswith("/*", self.at):
                end = source.find("*/", self.at + 2)
                if end == -1:
                    raise ScriptError(line, "a /* comment is never closed with */")
                self._advance(end + 2 - self.at)
            elif char in "'\"":
                found.append(self._string(char))
            elif char == "`":
                found.append(self._template())
            elif char == "}" and until == "}" and not open_brackets:
                self._advance(1)
                return found
            elif char in "([{":
                open_brackets.append((char, line))
                found.append(Token("punct", self._advance(1), line))
            elif char in ")]}":
                if not open_brackets:
                    raise ScriptError(line, f"there is one {char} too many: it closes "
                                            "nothing that is still open")
                if _CLOSING[open_brackets[-1][0]] != char:
                    bracket, opened = open_brackets[-1]
                    raise ScriptError(line, f"a {char} comes where the {bracket} of line "
                                            f"{opened} is still open")
                open_brackets.pop()
                found.append(Token("punct", self._advance(1), line))
            elif match := _NAME.match(source, self.at):
                found.append(Token("name", self._advance(len(match.group())), line))
            elif match := _NUMBER.match(source, self.at):
                found.append(Token("number", self._advance(len(match.group())), line))
            else:
                punct = next((p for p in _PUNCT if source.startswith(p, self.at)), char)
                found.append(Token("punct", self._advance(len(punct)), line))
        if until is not None:
            raise ScriptError(self.line, "a ${ in a template literal is never closed with }")
        if open_brackets:
            bracket, line = open_brackets[-1]
            raise ScriptError(line, f"a {bracket} is never closed with {_CLOSING[bracket]}")
        return found

    def _string(self, quote: str) -> Token:
        line, start = self.line, self.at
        self._advance(1)
        text = []
        while self.at < len(self.source) and self.source[self.at] not in (quote, "\n"):
            text.append(self._advance(2 if self.source[self.at] == "\\" else 1))
        if self.at >= len(self.source) or self.source[self.at] == "\n":
            raise ScriptError(line, f"a string that starts with {quote} is never closed "
                                    f"on its line: {self.source[start:self.at][:40]}")
        self._advance(1)
        return Token("string", "".join(text), line)

    def _template(self) -> Token:
        line = self.line
        self._advance(1)
        text: list[str] = []
        parts: list[list[Token]] = []
        while self.at < len(self.source):
            if self.source[self.at] == "`":
                self._advance(1)
                return Token("template", "".join(text), line, parts)
            if self.source.startswith("${", self.at):
                self._advance(2)
                parts.append(self.tokens(until="}"))
            else:
                text.append(self._advance(2 if self.source[self.at] == "\\" else 1))
        raise ScriptError(line, "a template literal (in `backquotes`) is never closed")


def tokenize(source: str) -> list[Token]:
    """The tokens of a script; raises :class:`ScriptError` where it cannot be read."""
    return _Scanner(source).tokens()


def _flat(tokens: list[Token]) -> list[Token]:
    """Every token, those inside template literals' ``${...}`` included."""
    out = []
    for token in tokens:
        out.append(token)
        for part in token.parts:
            out.extend(_flat(part))
    return out


def _texts(tokens: list[Token]) -> list[str]:
    """The literal text of every string and template literal."""
    return [token.text for token in _flat(tokens) if token.kind in ("string", "template")]


def _inside(tokens: list[Token], start: int) -> Iterator[tuple[int, Token]]:
    """Each token from ``start`` on, with its bracket depth, until a bracket closes one that
    was open before ``start``."""
    depth = 0
    for token in tokens[start:]:
        if token.kind == "punct" and token.text in "([{":
            depth += 1
        elif token.kind == "punct" and token.text in ")]}":
            if depth == 0:
                return
            depth -= 1
        yield depth, token


def _right_side(tokens: list[Token], start: int) -> list[Token]:
    """The tokens of an assignment's right side: up to a ``;``, the end of the block, or a new
    line that starts a new statement."""
    out: list[Token] = []
    for depth, token in _inside(tokens, start):
        if depth == 0 and token.kind == "punct" and token.text in (";", ","):
            break
        if (depth == 0 and out and token.line > out[-1].line
                and out[-1].kind != "punct" and token.kind != "punct"):
            break  # a new line that starts a new statement (no semicolon)
        out.append(token)
    return out


def _arguments(tokens: list[Token], start: int) -> list[Token]:
    """The tokens of a call's arguments, from just after its ``(`` to the ``)`` that closes it."""
    return [token for _, token in _inside(tokens, start)]


def _constant(tokens: list[Token]) -> bool:
    """Whether an expression is made of string literals only (no value from anywhere)."""
    return bool(tokens) and all(
        (token.kind == "string") or (token.kind == "template" and not token.parts)
        or (token.kind == "punct" and token.text in ("+", "(", ")")) for token in tokens)


HTML_SINKS = ("innerHTML", "outerHTML")
HTML_CALLS = ("insertAdjacentHTML", "write", "writeln", "createContextualFragment")


def html_sinks(tokens: list[Token]) -> list[tuple[int, str]]:
    """Where a value that is not a constant string goes into HTML: ``(line, what)`` each."""
    found = []
    flat = _flat(tokens)
    for index, token in enumerate(flat):
        previous = flat[index - 1] if index else None
        if token.kind != "name" or previous is None or previous.text not in (".", "?."):
            continue
        following = flat[index + 1] if index + 1 < len(flat) else None
        if (token.text in HTML_SINKS and following is not None
                and following.text in ("=", "+=")
                and not _constant(_right_side(flat, index + 2))):
            found.append((token.line, token.text))
        elif (token.text in HTML_CALLS and following is not None and following.text == "("
              and not (token.text.startswith("write")
                       and (index < 2 or flat[index - 2].text != "document"))):
            if not _constant([t for t in _arguments(flat, index + 2) if t.text != ","]):
                found.append((token.line, token.text))
    return found


_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>?")


def markup_as_text(tokens: list[Token]) -> list[tuple[int, str]]:
    """Where ``textContent`` (or ``innerText``) gets a string with a tag in it: (line, tag)."""
    flat = _flat(tokens)
    found = []
    for index, token in enumerate(flat[:-1]):
        if (token.kind == "name" and token.text in ("textContent", "innerText")
                and flat[index + 1].text in ("=", "+=")):
            tags = [match.group() for text in _texts(_right_side(flat, index + 2))
                    for match in _TAG.finditer(text)]
            if tags:
                found.append((token.line, tags[0]))
    return found


KEYWORDS = frozenset("""
    async await break case catch class const continue debugger default delete do else export
    extends false finally for function if import in instanceof let new null of return static
    super switch this throw true try typeof undefined var void while with yield NaN Infinity
    arguments get set""".split())
#: Names the chat-line script may use without declaring them: those of the lecture page's
#: ``onmessage`` around it, the page's own, and the browser's.
PAGE_GLOBALS = frozenset("""
    data messageDiv event ws clientId messages connectionStatus updateConnectionStatus sendMessage params wsUrl
    document window location console JSON Date Math String Number Boolean Object Array Error
    Text URL URLSearchParams setTimeout clearTimeout setInterval clearInterval alert
    encodeURIComponent decodeURIComponent parseInt parseFloat isNaN navigator Node Element
    HTMLElement DocumentFragment event structuredClone""".split())


def declared_names(tokens: list[Token]) -> set[str]:
    """Names the script declares: const/let/var (patterns too), functions, parameters, catch."""
    flat = _flat(tokens)
    names: set[str] = set()

    def collect(start: int, stop_at: str) -> None:
        """Declare the names of a pattern or parameter list from ``start``."""
        depth = 0
        for index in range(start, len(flat)):
            token = flat[index]
            if token.kind == "punct" and token.text in "([{":
                depth += 1
            elif token.kind == "punct" and token.text in ")]}":
                depth -= 1
                if depth < 0 or (depth == 0 and stop_at == "pattern"):
                    return
            elif token.kind == "punct" and token.text == "=" and depth == 0:
                return
            elif token.kind == "name" and token.text not in KEYWORDS:
                after = flat[index + 1].text if index + 1 < len(flat) else ""
                before = flat[index - 1].text if index else ""
                if after != ":" and before not in ("=", ".", "?."):
                    names.add(token.text)
                if depth == 0 and stop_at == "pattern":
                    return

    for index, token in enumerate(flat):
        after = flat[index + 1] if index + 1 < len(flat) else None
        if token.kind != "name" or after is None:
            if token.text == "=>" and index:
                before = flat[index - 1]
                if before.kind == "name":
                    names.add(before.text)
                elif before.text == ")":
                    depth, start = 0, index - 1
                    while start >= 0:
                        depth += {")": 1, "(": -1}.get(flat[start].text, 0)
                        if depth == 0:
                            break
                        start -= 1
                    collect(start + 1, ")")
            continue
        if token.text in ("const", "let", "var"):
            collect(index + 1, "pattern")
        elif token.text == "function":
            start = index + 1
            if flat[start].kind == "name":
                names.add(flat[start].text)
                start += 1
            if start < len(flat) and flat[start].text == "(":
                collect(start + 1, ")")
        elif token.text == "catch" and after.text == "(":
            collect(index + 2, ")")
    return names


def undeclared_names(tokens: list[Token]) -> list[tuple[int, str]]:
    """Names used but never declared (and not the page's or the browser's): likely typos."""
    flat = _flat(tokens)
    known = declared_names(tokens) | KEYWORDS | PAGE_GLOBALS
    found: list[tuple[int, str]] = []
    for index, token in enumerate(flat):
        if token.kind != "name" or token.text in known:
            continue
        before = flat[index - 1].text if index else ""
        after = flat[index + 1].text if index + 1 < len(flat) else ""
        if before in (".", "?.") or after == ":":  # a property, or a key in an object literal
            continue
        if token.text not in [name for _, name in found]:
            found.append((token.line, token.text))
    return found


def _uses(tokens: list[Token], name: str) -> bool:
    return any(token.kind == "name" and token.text == name for token in _flat(tokens))


def _line_of(source: str, number: int) -> str:
    lines = source.splitlines()
    return lines[number - 1].strip() if 0 < number <= len(lines) else ""


def _normalized(script: str) -> str:
    return " ".join(script.split())


# -- exercise 1: chat_line_js ----------------------------------------------------------------------

WHY_TEXT = ("innerHTML hands its string to the browser's HTML parser, so whoever wrote the "
            "message can put an <img onerror=...> into it and run their code in this page, as "
            "mallory did. textContent puts text in as text: the browser never parses it.")

SCRIPT_TRIED = ("reading your chat_line_js (a kernel cannot run a browser, so the check reads "
                "the script)")


def _statement(script: str, number: int) -> str:
    """The statement that starts on line ``number``, on one line (up to 6 lines of it)."""
    lines = script.splitlines()[number - 1:number + 5]
    taken = []
    for line in lines:
        taken.append(line.strip())
        in_template = " ".join(taken).count("`") % 2  # a line inside `...` ends nothing
        if line.rstrip().endswith((";", "{", "}")) and not in_template:
            break
    return f"line {number}: " + " ".join(taken)


def _script_failure(script: str) -> Failure | None:
    """The first thing wrong with the chat-line ``script``, as a Failure; None when it is right."""

    def fail(expected: str, got: str, hint: str) -> Failure:
        return Failure(tried=SCRIPT_TRIED, expected=expected, got=got, hint=hint)

    try:
        tokens = tokenize(script)
    except ScriptError as error:
        return fail("JavaScript a browser can read", _statement(script, error.line),
                    f"The script cannot be read: on line {error.line}, {error.what}. A "
                    "browser refuses the whole script then, and the page would not even "
                    "connect.")
    # (what finds a mistake as (line, what) pairs, what was expected, the hint for the first)
    for find, expected, hint in (
            (html_sinks, "no value from the message put in with innerHTML",
             lambda line, sink: f"Line {line} still puts a value into {sink}. {WHY_TEXT}"),
            (markup_as_text, "text only in textContent: no tags",
             lambda line, tag: f"Line {line} gives textContent a string with a tag in it, "
                               f"{tag}: textContent shows its text exactly as it is, so the "
                               "page would show the tag itself. Leave the tag out, or make "
                               "that element with document.createElement and append it."),
            (undeclared_names, "every name declared before it is used",
             lambda line, name: f"Line {line} uses {name}, which is never declared: the "
                                "browser stops the handler there (a ReferenceError), and the "
                                "lecture's catch shows the raw message instead. A typo, or a "
                                "const missing?")):
        found = find(tokens)
        if found:
            line, what = found[0]
            return fail(expected, _statement(script, line), hint(line, what))
    texts = _texts(tokens)
    joined = " ".join(texts)
    missing = [what for what, seen in (
        ("the message (data.message)", _uses(tokens, "message")),
        ("the sender (data.client_id)", _uses(tokens, "client_id")),
        ("the time (data.timestamp)", _uses(tokens, "timestamp")),
        ("'You' for your own lines", "You" in joined),
        ("'Client ' before the sender's name", "Client" in joined),
        ("the line's class, 'message user' or 'message other'",
         "user" in joined and "other" in joined and "message" in joined)) if not seen]
    if missing:
        return fail("a line that shows the sender, the message and the time",
                    f"nothing in your script shows {missing[0]}",
                    f"Your script no longer shows {missing[0]}: keep every part of the "
                    "line, and put each one in as text.")
    return None


def check_chat_line_js(chat_line_js: Any) -> Any:
    """Exercise 1: read the student's script; return what to carry on with (theirs once right).

    The untouched script is "not done yet"; the fallback is the kit's fixed script.
    """

    def body() -> str:
        if not isinstance(chat_line_js, str):
            raise Failure(tried=SCRIPT_TRIED, expected="JavaScript, as a str",
                          got=shown(chat_line_js),
                          hint="chat_line_js holds JavaScript as a Python str: keep the "
                               "triple quotes around it, and the script inside them.")
        if _normalized(chat_line_js) == _normalized(LECTURE_CHAT_LINE):
            raise NotDone
        failure = _script_failure(chat_line_js)
        if failure is not None:
            raise failure
        return "your script puts every value in as text, and still shows who, message and time."

    passed = run_check("chat_line_js", body, fallback="the kit's fixed script",
                       student=chat_line_js)
    return carry_on(passed, chat_line_js, answers.CHAT_LINE_JS)


# -- the prediction, and the demo that settles it -----------------------------------------------

#: How long :func:`send_as` waits for a page to be connected, and then for the room to answer.
PAGE_WAIT = 3.0
LISTEN = 1.5


async def _page_online(server: Any, name: str, wait: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while name not in server.app.state.room.online:
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def send_as(server: Any, name: str, text: str, *, page: str | None = None,
                  settles: Question | None = None) -> str | None:
    """Send one chat line as ``name``; print what the room said after it; return what happened.

    With ``page``, the name a page in a frame chats under: it must be connected first (the
    frame may still be loading: this waits up to :data:`PAGE_WAIT` s, and returns None with a
    word of advice if it never connects). What happened is ``"ran"`` when that page sent a
    chat line after ours (code in our line ran there), ``"text"`` when our line came back and
    the page said nothing, ``"refused"`` when our line never came back. ``settles`` is the
    prediction this demo settles: it is checked against what happened (not when the page was
    never connected: then nothing happened).
    """
    seen = await _send_as(server, name, text, page=page)
    if settles is not None and seen is not None:
        settles.check(seen)
    return seen


async def _send_as(server: Any, name: str, text: str, *, page: str | None) -> str | None:
    import websockets  # here, so that importing the checks needs no client library

    if page is not None and not await _page_online(server, page, PAGE_WAIT):
        print(f"The page {page!r} is not connected, so there is nothing to see: is its frame "
              "above showing, with Connected at the top? Then run this cell again.")
        return None
    heard: list[tuple[str, str]] = []
    async with websockets.connect(f"{server.ws_url}/ws/{name}", open_timeout=5) as ws:
        await ws.send(json.dumps({"message": text}))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LISTEN
        while loop.time() < deadline:
            try:
                frame = await asyncio.wait_for(ws.recv(), deadline - loop.time())
            except asyncio.TimeoutError:
                break
            try:
                data = json.loads(frame)
            except ValueError:
                continue
            if isinstance(data, dict) and "type" not in data:
                heard.append((str(data.get("client_id")), str(data.get("message"))))
                if page is not None and heard[-1][0] == page:
                    await asyncio.sleep(0.2)  # anything more it says comes at once
                    deadline = loop.time()
    print(f"{name} sent:  {text}")
    for sender, said in heard:
        print(f"room heard: {sender}: " + ("(that line)" if (sender, said) == (name, text)
                                           else said))
    came_back = (name, text) in heard
    others = sorted({sender for sender, _ in heard} - {name, page})
    if page is not None and any(sender == page for sender, _ in heard):
        also = f" So did {_pages_of(others)}." if others else ""
        print(f"→ {page}'s page ran code from {name}'s line: it chatted in {page}'s name.{also}")
        return "ran"
    if not came_back:
        print(f"→ the server did not pass {name}'s line on.")
        return "refused"
    if page is not None:
        elsewhere = f" (but it did in {_pages_of(others)})" if others else ""
        print(f"→ {page}'s page sent nothing: no code from {name}'s line ran there{elsewhere}.")
    return "text"


def _pages_of(names: list[str]) -> str:
    """``the page of 'you'``, ``the pages of 'victim' and 'you'``."""
    quoted = [repr(name) for name in names]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
    return f"the page{'s' if len(quoted) > 1 else ''} of {listed}"


#: Lesson 03's prediction: what the lecture's page does with mallory's chat line.
INNER_HTML = Question(
    "predict: a chat line with an <img>",
    options={"a": "the lecture's page shows the line as text, <img ...> and all",
             "b": "the server refuses the line, because it holds HTML",
             "c": "the lecture's page runs mallory's code: it turns pink and chats in the "
                  "victim's name"},
    classify=lambda seen: {"text": "a", "refused": "b", "ran": "c"}.get(seen, "a"),
    why="The server passes text on without looking inside it. The lecture's page hands it "
        "to innerHTML, so the browser builds a real <img> from it; the image x fails to "
        "load, and the browser runs its onerror attribute: JavaScript, in the victim's "
        "page, with the victim's own connection.")

EXERCISES = (
    INNER_HTML,
    Exercise("chat_line_js", check_chat_line_js, reads=("chat_line_js",)),
)
