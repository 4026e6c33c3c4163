"""Lesson 06's checks: a ChatWidget that shows who is online, and one that highlights mentions.

Both exercises extend :class:`wslab.widgets.ChatWidget` through its hooks. The checks build the
student's class against a chat server of their own and drive it two ways: with real clients
that join, leave and connect twice (what the server really sends), and by calling the hook
directly with messages a classroom rarely produces on cue (a welcome after a reconnect, a leave
of someone the widget never saw). Every widget and client a check makes is closed before it
returns, whatever the verdict.

The widget calls its hooks without ``await``, so a hook declared ``async def`` never runs: the
checks say so before anything else. A hook's own mistakes are named from what it did: a field
the server's messages do not have (read in the code, or seen as a ``KeyError`` in the log), a
line that was printed or returned instead of assigned to the widget, a mention marked before the
text was escaped.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import copy
import html
import inspect
import io
import json
import re
from typing import Any, Callable

import ipywidgets as widgets
import websockets

from wslab import envelope
from wslab.answers import widgets as answers
from wslab.checks.core import (Failure, NotDone, StuckInLoop, call, common_exception,
                               describe_exception, run_async_check, shown, source_of)
from wslab.checks.progress import Exercise
from wslab.widgets import ChatWidget

#: How long the check waits for the widget to show what it should, per step, in seconds.
WAIT = 2.0

#: The fields of the server's messages, and the kinds ("type") of its system messages.
FIELDS = ("type", "client_id", "message", "timestamp", "user", "online", "participants", "code")
KINDS = ("welcome", "join", "disconnect", "error", "pong", "plain", "note")
#: Strings a handle() may compare with: the kinds, the fields, the server's client_id, nothing.
ALLOWED_CONSTANTS = (*KINDS, *FIELDS, envelope.SYSTEM, "")
#: Where the names are, as the lesson's table says.
WHERE_NAMES = ("The names are in \"online\" (a welcome: a list of everyone) and in \"user\" "
               "(a join or a disconnect: one name).")


# -- what both checks share -----------------------------------------------------------------------

def _is_widget_class(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, ChatWidget)


def _no_async_hooks(cls: type, hooks: tuple[str, ...]) -> None:
    """A hook declared ``async def`` never runs: the widget calls it without ``await``."""
    for hook in hooks:
        if inspect.iscoroutinefunction(getattr(cls, hook, None)):
            raise Failure(tried=f"{cls.__name__}.{hook}", expected="a plain def",
                          got=f"async def {hook}(...)",
                          hint=f"{hook}() is declared async def, but the widget calls its hooks "
                               "without await: the call only makes a coroutine, and nothing in "
                               "its body runs. Make it a plain def: nothing in it has to wait.")


def _make(cls: type, url: str, name: str, made: list[Any]) -> Any:
    """``cls(url, name)``, recording the instance in ``made`` even when its __init__ fails.

    A constructor that raises after ``ChatWidget.__init__`` has run leaves a widget that is
    already connecting; the check must be able to close it. And once the student's handle()
    was stopped in an endless loop, it is not called again: the loop guard acts once per
    thread, and the next message would hang the kernel.
    """

    class Probe(cls):  # type: ignore[misc, valid-type]
        stuck = False

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)

        def handle(self, message: dict[str, Any]) -> None:
            if self.stuck:
                return
            try:
                super().handle(message)
            except StuckInLoop:
                self.stuck = True
                raise

    Probe.__name__, Probe.__qualname__ = cls.__name__, cls.__qualname__
    try:
        return Probe(url, name, retry=0.2)
    except NotImplementedError:
        raise NotDone() from None
    except Exception as exc:
        raise Failure(tried=f"{cls.__name__}(server.ws_url, {name!r})",
                      expected="a chat widget", got=describe_exception(exc),
                      hint=common_exception(exc) or "Keep the constructor's signature (url, name, **kwargs), and call "
                           "super().__init__(url, name, **kwargs) first: the chat's parts "
                           "(self.header_html, self.children, ...) exist only after it."
                      ) from None


async def _dispose(chat: Any) -> None:
    """Close the widget's connection, and its widgets (the browser forgets them too)."""
    # Closing writes a note into the log, and the log is redrawn later, from the event loop:
    # a render_entry that raises would then print a traceback into some other cell.
    chat.render = lambda: None
    with contextlib.suppress(Exception):
        await asyncio.wait_for(chat.close(), 2)
    parts: list[Any] = []

    def collect(widget: Any) -> None:
        parts.append(widget)
        for child in getattr(widget, "children", ()):
            collect(child)

    with contextlib.suppress(Exception):
        collect(chat)
        for part in reversed(parts):
            widgets.Widget.close(part)


async def _peer(server: Any, name: str) -> Any:
    return await websockets.connect(f"{server.ws_url}/ws/{name}", open_timeout=WAIT)


async def _close_peer(peer: Any) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(peer.close(), 1)


def _errors(chat: Any) -> list[str]:
    """The error notes in the log, such as "OnlineChat.handle() failed: KeyError: 'zed'"."""
    return [str(entry.get("message", "")) for entry in getattr(chat, "entries", [])
            if entry.get("type") == "note" and entry.get("error")]


def _missing_key_hint(key: str, people: set[str]) -> str:
    """The hint for a ``KeyError`` in ``handle()``: a name not in a set, or a missing field."""
    if key in people:
        return (f"set.remove raised KeyError for {key!r}, a name that was not in self.online: "
                "use self.online.discard(name), which does nothing for a name that is not "
                "there.")
    return (f"handle() read the field {key!r}, which the message it was handling does not "
            f"have (KeyError). {WHERE_NAMES}")


def _raise_for_errors(chat: Any, tried: str, people: set[str], why: str | None = None) -> None:
    """Fail on the first exception in the log; ``why`` is a known cause of it, if any."""
    for error in _errors(chat):
        if "failed: NotImplementedError" in error:
            raise NotDone()
        if "failed: StuckInLoop" in error:
            raise Failure(tried=tried, expected="handle() to return at once",
                          got=f"the log shows: {error}",
                          hint=common_exception(StuckInLoop()) or "")
        if ".handle() failed" in error:
            key = re.search(r"failed: KeyError: '([^']*)'", error)
            raise Failure(tried=tried, expected="handle() to return without an exception",
                          got=f"the log shows: {error}",
                          hint=_missing_key_hint(key[1], people) if key else why or
                          "Read the exception: handle() raised it on a message from the "
                          "server. The widget catches it so the chat goes on, and writes it "
                          "in red into the log.")


async def _wait(chat: Any, predicate: Callable[[Any], Any]) -> None:
    """Until ``predicate(chat)`` holds or an error shows in the log; at most WAIT seconds."""
    def done(widget: Any) -> bool:
        try:
            return bool(_errors(widget)) or bool(predicate(widget))
        except Exception:  # noqa: BLE001  (half-made state: look again after the next change)
            return False

    with contextlib.suppress(TimeoutError):
        await chat.wait_for(done, WAIT)


# -- exercise 1: who is online --------------------------------------------------------------------

#: Everyone the check has come and go; a KeyError for one of them comes from set.remove.
PEOPLE = {"alice", "bob", "carol", "dave", "erin", "frank", "zed"}


def _unknown_names(cls: type) -> list[str]:
    """Fields and kinds that ``cls.handle`` uses but the server never sends, as written.

    A field is a string read from the message (``message["users"]``, ``message.get("name")``);
    a kind is a string compared with something (``kind == "leave"``).
    """
    handle = vars(cls).get("handle")
    try:
        tree = ast.parse(source_of(handle)) if handle else None
        message = list(inspect.signature(handle).parameters)[1]
    except (SyntaxError, ValueError, TypeError, IndexError):
        return []
    if tree is None:
        return []
    found: dict[str, None] = {}  # in the order written, each once

    def text(node: ast.AST) -> str | None:
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) \
            else None

    def is_message(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == message

    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_message(node.value):
            key = text(node.slice)
            if key is not None and key not in FIELDS:
                found[f"message[{key!r}]"] = None
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "get" and is_message(node.func.value) and node.args):
            key = text(node.args[0])
            if key is not None and key not in FIELDS:
                found[f"message.get({key!r})"] = None
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            constants = [text(part) for side in sides
                         for part in (side.elts if isinstance(side, (ast.Tuple, ast.List,
                                                                     ast.Set)) else [side])]
            found.update((repr(kind), None) for kind in constants
                         if kind is not None and kind not in ALLOWED_CONSTANTS)
    return list(found)


def _shown_text(value: Any) -> str:
    """The text an HTML widget's value shows: tags removed, entities decoded, spaces squeezed."""
    text = html.unescape(re.sub(r"<[^>]*>", " ", str(value)))
    return " ".join(text.split()).replace(" ,", ",")


def _online_set(chat: Any) -> set[str] | None:
    online = getattr(chat, "online", None)
    try:
        names = set(online)  # type: ignore[arg-type]
    except TypeError:
        return None
    return names if all(isinstance(name, str) for name in names) else None


def _line(names: set[str] | list[str]) -> str:
    return "Online: " + ", ".join(sorted(names))


def _as_set(names: set[str]) -> str:
    return "{" + ", ".join(repr(name) for name in sorted(names)) + "}"


class _OnlineRun:
    """One run of the who-is-online check: a server, the student's widget (alice), clients."""

    def __init__(self, chat: Any) -> None:
        self.chat = chat

    def shows(self) -> str:
        part = self.chat.online_html
        if not isinstance(part, widgets.HTML):
            raise Failure(tried="reading the line under the header", got=shown(part),
                          expected="self.online_html: the widgets.HTML the __init__ made",
                          hint="self.online_html was replaced by something else: the line on "
                               "the page is the HTML widget the __init__ made, and it shows "
                               "what you assign to its .value.")
        return _shown_text(part.value)

    def state(self) -> str:
        names = _online_set(self.chat)
        held = ("self.online is not a set of names: " + shown(getattr(self.chat, "online", None))
                if names is None else f"self.online = {shown(sorted(names))}")
        return f"the line shows {self.shows()!r}; {held}"

    async def expect(self, names: set[str], *, tried: str, hint: str, gone: str = "") -> None:
        """The widget comes to show exactly ``names``, in ``self.online`` and on its line."""
        want = _line(names)
        await _wait(self.chat, lambda chat: _online_set(chat) == names and self.shows() == want)
        self.verify(names, tried=tried, hint=hint, gone=gone)

    def verify(self, names: set[str], *, tried: str, hint: str, gone: str = "") -> None:
        _raise_for_errors(self.chat, tried, PEOPLE, self._held_wrongly())
        want = _line(names)
        held = _online_set(self.chat)
        if held != names:
            got = self.state()
            if gone and held is not None and gone in held:
                got = f"after {gone} left, your widget still has {gone} online: {got}"
            raise Failure(tried=tried, expected=f"self.online == {_as_set(names)}",
                          got=got, hint=self._held_wrongly() or hint)
        if self.shows() != want:
            got = self.state()
            raise Failure(tried=tried, expected=f"the line under the header shows {want!r}",
                          got=got, hint=self._shown_wrongly(names))

    def _held_wrongly(self) -> str | None:
        """The mistake that put something other than names into self.online, if it shows."""
        online = getattr(self.chat, "online", None)
        try:
            held = set(online)  # type: ignore[arg-type]
        except TypeError:
            return None
        if None in held:
            return ("self.online holds None: message.get() gives None for a field the message "
                    f"does not have. {WHERE_NAMES}")
        if envelope.SYSTEM in held:
            return ("self.online holds 'system': that is the client_id of every message from "
                    f"the server itself, not the name of who came or went. {WHERE_NAMES}")
        return None

    def _shown_wrongly(self, names: set[str]) -> str:
        """Why the line does not show ``names``, found by calling show_online() once more."""
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                returned = self.chat.show_online()
        except NotImplementedError:
            raise NotDone() from None
        except Exception as exc:
            return (f"show_online() {describe_exception(exc)}: read the exception, it comes "
                    "from your show_online().")
        now = self.shows()
        if now == _line(names):
            return ("self.online is right, but the line shows what it was told last: call "
                    "self.show_online() after every change of self.online.")
        if printed.getvalue().strip():
            return ("show_online() printed the line: print() writes under a cell (from the "
                    "receive loop, often nowhere), never into the widget. The line shows what "
                    "you assign to self.online_html.value.")
        if isinstance(returned, str) and returned.strip():
            return ("show_online() returned the line, but nobody uses what it returns: the "
                    "line shows what you assign to self.online_html.value.")
        stray = [name for name, value in vars(self.chat.online_html).items()
                 if not name.startswith("_") and isinstance(value, str) and value.strip()]
        if stray:
            return (f"show_online() set self.online_html.{stray[0]}, but an HTML widget shows "
                    "its .value: assign the line to that.")
        listed = [part for part in re.split(r"[,\s]+", now.removeprefix("Online:")) if part]
        if sorted(listed) == sorted(names):
            if listed != sorted(names):
                return ("The names are there, but not in order: a set has no order of its own, "
                        "so sort them (sorted(self.online)).")
            return ("The names are right, but the line is not written as asked: 'Online: ', "
                    "then the names separated by ', '.")
        return ("show_online() does not write the names of self.online on the line: after "
                "'Online: ', every name in self.online, sorted, separated by ', '.")


async def _online_body(cls: Any) -> str:
    if not _is_widget_class(cls):
        raise Failure(tried="OnlineChat", expected="a subclass of ChatWidget",
                      got=shown(cls), hint="Define class OnlineChat(ChatWidget): ... and run "
                                           "its cell again.")
    _no_async_hooks(cls, ("handle", "show_online"))
    unknown = _unknown_names(cls)
    try:
        return await _online_run(cls)
    except Failure as failure:
        if unknown:  # a field or kind the server never sends explains any step that failed
            failure.hint = (f"Your handle() uses {', '.join(unknown[:3])}, which no message of "
                            "the server has: the kinds are \"welcome\", \"join\" and "
                            f"\"disconnect\". {WHERE_NAMES}")
        raise


async def _online_run(cls: type) -> str:
    from wslab.chat import create_app
    from wslab.runner import BackgroundServer

    made: list[Any] = []
    peers: list[Any] = []
    server = BackgroundServer(create_app(), name="lesson06-check-online").start()
    try:
        peers.append(bob := await _peer(server, "bob"))
        chat = _make(cls, server.ws_url, "alice", made)
        part = getattr(chat, "online_html", None)
        if not isinstance(part, widgets.HTML):
            raise Failure(tried="OnlineChat(server.ws_url, 'alice')",
                          expected="an attribute online_html: a widgets.HTML",
                          got=f"online_html = {shown(part)}",
                          hint="Keep the __init__ of the exercise: it makes self.online_html.")
        if not any(child is part for child in chat.children):
            raise Failure(tried="OnlineChat(server.ws_url, 'alice')",
                          expected="online_html among the widget's children (on the page)",
                          got=f"children: {[type(child).__name__ for child in chat.children]}",
                          hint="A widget is drawn only if it is a child: keep the line "
                               "self.children = (self.header_html, self.online_html, ...).")
        run = _OnlineRun(chat)

        await run.expect({"alice", "bob"},
                         tried="alice's widget connects while bob is online (the server "
                               "greets it with {\"type\": \"welcome\", \"online\": "
                               "[\"alice\", \"bob\"], ...})",
                         hint="On a \"welcome\" message, set self.online to the names in its "
                              "\"online\" list: everyone connected, you included.")
        if chat.participants != 2 or not any(entry.get("type") == "welcome"
                                             for entry in chat.entries):
            raise Failure(tried="alice's widget connects while bob is online",
                          expected="the welcome in the log, and '2 online' in the header",
                          got=f"{len(chat.entries)} entries in the log; participants = "
                              f"{chat.participants!r}",
                          hint="Start handle() with super().handle(message): that is what "
                               "keeps the log and the count working.")

        peers.append(await _peer(server, "carol"))
        await run.expect({"alice", "bob", "carol"},
                         tried="carol connects (everyone else gets {\"type\": \"join\", "
                               "\"user\": \"carol\", ...})",
                         hint="On a \"join\" message, add message[\"user\"] to self.online.")

        await bob.close()
        await run.expect({"alice", "carol"}, gone="bob",
                         tried="bob closes his connection (everyone else gets {\"type\": "
                               "\"disconnect\", \"user\": \"bob\", ...})",
                         hint="On a \"disconnect\" message, remove message[\"user\"] from "
                              "self.online.")

        # carol connects again (another tab): the server closes her older connection with
        # 4409 and announces nothing, since she never left. Her line proves the order.
        peers.append(carol_again := await _peer(server, "carol"))
        await carol_again.send(json.dumps({"message": "me again, from another tab"}))
        tried = ("carol connects a second time (her older connection is replaced, and nobody "
                 "left), then says 'me again, from another tab'")
        await _wait(chat, lambda widget: ("carol", "me again, from another tab")
                    in widget.chat_lines)
        if ("carol", "me again, from another tab") not in chat.chat_lines:
            _raise_for_errors(chat, tried, PEOPLE)
            raise Failure(tried=tried, expected="carol's line in the log",
                          got=f"the log's chat lines: {shown(chat.chat_lines)}",
                          hint="Call super().handle(message) for every message, chat lines "
                               "included.")
        run.verify({"alice", "carol"}, tried=tried,
                   hint="Change self.online only on \"welcome\", \"join\" and \"disconnect\" "
                        "messages, and take the names from their fields: \"online\" and "
                        "\"user\".")

        # What the server sends after a reconnect, told directly: while alice's widget was
        # away, carol left and others came. The welcome's list is the whole truth.
        now_online = ["frank", "dave", "alice", "erin", "bob"]
        welcome = json.loads(envelope.welcome_message("alice", now_online))
        tried = ("the connection drops and comes back; meanwhile carol left, and bob, dave, "
                 "erin and frank came. The server greets alice again: handle({\"type\": "
                 f"\"welcome\", \"online\": {json.dumps(now_online)}, ...}})")
        _handle_directly(chat, welcome, tried, expected="no exception",
                         hint="Read the exception: it comes from your handle().")
        run.verify(set(now_online), tried=tried,
                   hint="A welcome lists everyone online now: replace self.online with its "
                        "list instead of adding to it, or whoever left while you were away "
                        "stays online for ever.")

        leave = json.loads(envelope.leave_message("zed", 2))
        tried = ("a leave of someone this widget never saw: handle({\"type\": "
                 "\"disconnect\", \"user\": \"zed\", ...})")
        _handle_directly(chat, leave, tried, expected="no exception, and no change",
                         hint="Read the exception: it comes from your handle().")
        run.verify(set(now_online), tried=tried,
                   hint="A leave of someone not online changes nothing.")
        return ("the line follows the welcome, joins and leaves (a second connection with "
                "the same name changes nothing, a welcome after a reconnect replaces the "
                "list), and the log and count still work.")
    finally:
        for peer in peers:
            await _close_peer(peer)
        for chat in made:
            await _dispose(chat)
        server.stop()


def _handle_directly(chat: Any, message: dict[str, Any], tried: str, *, expected: str,
                     hint: str) -> None:
    """``chat.handle(message)``, called by the check itself; an exception is the finding."""
    def hint_for(exc: BaseException) -> str:
        if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
            return _missing_key_hint(exc.args[0], PEOPLE)
        return hint

    call(chat.handle, (message,), tried=tried, expected=expected, hint=hint_for,
         none_expected=True)


async def check_online_chat(cls: Any) -> Any:
    """Exercise 1: run the student's ``OnlineChat`` against a real server, with real clients.

    Returns the class to carry on with: the student's once it passes, the kit's until then.
    """
    ok = await run_async_check("who is online", lambda: _online_body(cls),
                               fallback="the kit's OnlineChat", timeout=20, student=cls)
    return cls if ok else answers.OnlineChat


# -- exercise 2: mentions -------------------------------------------------------------------------

_MARK = re.compile(r"<mark\b[^>]*>(.*?)</mark>", re.S)
_MARK_TAGS = re.compile(r"</?mark\b[^>]*>")

#: (the entry, how many mentions it holds, a hint for when it fails)
MENTION_CASES: list[tuple[dict[str, Any], int, str]] = [
    ({"message": "hi @kim, are you there?", "client_id": "lee", "timestamp": "12:00:00"}, 1,
     "Mark every '@' + self.name in the HTML that super().render_entry(entry) returns: "
     "wrap it as <mark>@kim</mark>. Use self.name, not a name of your own: this widget is "
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
     "The text came from the network: it must stay escaped (lesson 05). Let "
     "super().render_entry(entry) escape it, then add <mark> to the HTML it returns; do not "
     "build the line from entry[\"message\"] yourself."),
    ({"client_id": "system", "type": "join", "message": "Client #lee joined the chat (2 online)",
      "timestamp": "12:00:06", "user": "lee", "participants": 2}, 0,
     "System lines without a mention must look as before too."),
]


def _render_exception_hint(case_hint: str) -> Callable[[BaseException], str]:
    def hint(exc: BaseException) -> str:
        if isinstance(exc, KeyError):
            return (f"render_entry() read the field {exc}, which this entry does not have "
                    "(KeyError): a chat line has 'message', 'client_id' and 'timestamp', and "
                    "a system line a 'type' as well. Better still, let "
                    "super().render_entry(entry) read the entry.")
        if isinstance(exc, AttributeError):
            return (f"{exc}: the widget's participant is self.name, and the line of HTML is "
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
    server = BackgroundServer(create_app(), name="lesson06-check-mentions").start()
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
            got = call(chat.render_entry, (entry,), tried=tried, expected=shown(want, 400),
                       hint=_render_exception_hint(hint))
            if entry != before:
                raise Failure(tried=tried, expected="the entry left as it was",
                              got=f"render_entry changed it to {shown(entry, 200)}",
                              hint="Do not change the entry: it stays in self.entries and is "
                                   "drawn again at every redraw. Change the HTML string "
                                   "instead.")
            if not isinstance(got, str):
                raise Failure(tried=tried, expected=shown(want, 400), got=shown(got),
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
            raise Failure(tried=tried, expected=shown(want, 400), got=shown(got, 400),
                          hint=hint)

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
        for peer in peers:
            await _close_peer(peer)
        for chat in made:
            await _dispose(chat)
        server.stop()


async def check_mentions(cls: Any) -> Any:
    """Exercise 2: draw lines with the student's ``render_entry`` and compare them.

    Returns the class to carry on with: the student's once it passes, the kit's until then.
    """
    ok = await run_async_check("mentions", lambda: _mentions_body(cls),
                               fallback="the kit's MentionChat", timeout=20, student=cls)
    return cls if ok else answers.MentionChat


EXERCISES = (
    Exercise("who is online", check_online_chat, reads=("OnlineChat",)),
    Exercise("mentions", check_mentions, reads=("MentionChat",)),
)
