"""Core lesson 04's checks: a message sent through a widget, who is online, and the class chat.

Three things a student does with the chat widgets, each checked in its own way:

- **Say it through the widget** is done with the mouse and keyboard, not in code: the check
  reads the widgets' logs and finds the given line in Bob's log, from Alice, as the server
  relayed it. A line still in the box, sent from the wrong box, or typed a little differently
  each gets its own hint; nothing typed at all is "not done yet".
- **Who is online** extends :class:`wslab.widgets.ChatWidget` through its ``handle`` hook.
  The check builds the student's class against a chat server of its own and drives it two ways:
  with real clients that join, leave and connect twice (what the server really sends), and by
  calling the hook directly with messages a classroom rarely produces on cue (a welcome after a
  reconnect, a leave of someone the widget never saw). Every widget and client a check makes is
  closed before it returns, whatever the verdict.
- **Join the class** looks at the widget the student made from the instructor's line: in the
  chat, or why not (no line yet, the token, a name someone else took, no way to reach the
  server), each with what to do about it. Without an instructor's server (a test, or a student
  working alone) the line stays ``None``, and that is "not joined yet", never an error.

The two steps done with the widgets are judged afresh whenever the closing summary asks
(:class:`WidgetStep`): the widgets change while their names stay the same.

The widget calls its hooks without ``await``, so a hook declared ``async def`` never runs: the
checks say so before anything else. A hook's own mistakes are named from what it did: a field
the server's messages do not have (read in the code, or seen as a ``KeyError`` in the log), a
line that was printed or returned instead of assigned to the widget.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import dataclasses
import html
import inspect
import io
import json
import re
import textwrap
from typing import Any, Awaitable, Callable, Mapping
from urllib.parse import urlencode, urlsplit

import ipywidgets as widgets
import websockets

from wslab import envelope
from wslab.answers import widgets as answers
from wslab.checks.core import (NOT_DONE, Failure, NotDone, StuckInLoop, call,
                               common_exception, describe_exception, failed, passed,
                               run_async_check, shown, source_of)
from wslab.checks.predictions import Question
from wslab.checks.progress import Exercise
from wslab.client import socket_url, with_resume_key
from wslab.close_codes import KitCloseCode
from wslab.reconnect import ReconnectPolicy
from wslab.widgets import CLOSED, CONNECTED, ChatWidget

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


#: The check's own widgets come back quickly after the server they test restarts.
PROBE_POLICY = ReconnectPolicy(first=0.2)


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
        return Probe(url, name, policy=PROBE_POLICY)
    except NotImplementedError:
        raise NotDone() from None
    except Exception as exc:
        raise Failure(tried=f"{cls.__name__}(server.ws_url, {name!r})",
                      expected="a chat widget", got=describe_exception(exc),
                      hint=common_exception(exc)
                      or "Keep the constructor's signature (url, client_id, **kwargs), and "
                         "call super().__init__(url, client_id, **kwargs) first: the chat's parts "
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


async def _peer(server: Any, name: str, resume_key: str | None = None) -> Any:
    return await websockets.connect(with_resume_key(socket_url(server.ws_url, name), resume_key),
                                    open_timeout=WAIT)


async def _tear_down(server: Any, peers: list[Any], made: list[Any]) -> None:
    """The end of a check that ran a server: its own clients closed, its widgets disposed of."""
    for peer in peers:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(peer.close(), 1)
    for chat in made:
        await _dispose(chat)
    server.stop()


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


def _as_set(names: Any) -> str:
    """A set of names as Python would show it, in sorted order, so two sets compare by eye."""
    return "{" + ", ".join(sorted(repr(name) for name in names)) + "}" if names else "set()"


def _held(online: Any) -> str:
    """What ``self.online`` holds, shown the way the expected value is (``self.online == {...}``).

    A set is shown sorted, like the expected one; anything else as it is, with its type named,
    so that a list (in the order the names came) does not look like what is wanted.
    """
    if isinstance(online, (set, frozenset)):
        return f"self.online == {_as_set(online)}"
    return f"self.online == {shown(online)}, a {type(online).__name__}, not a set"


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
        online = getattr(self.chat, "online", None)
        held = ("self.online is not a set of names: " + shown(online)
                if _online_set(self.chat) is None else _held(online))
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
    from wslab.settings import ChatSettings

    made: list[Any] = []
    peers: list[Any] = []
    # Each step says what the server sends (a welcome, a join, a leave): so no earlier lines
    # after a welcome (history_on_join=0), which would be steps of their own.
    server = BackgroundServer(create_app(ChatSettings(history_on_join=0)),
                              name="lesson04-check-online").start()
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

        peers.append(carol := await _peer(server, "carol"))
        carol_key = json.loads(await carol.recv())["resume"]  # her welcome comes first
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

        # carol connects again, with her resume key (a reconnect): the server closes her older
        # connection with 4409 and announces nothing, since she never left. Her line proves
        # the order.
        peers.append(carol_again := await _peer(server, "carol", carol_key))
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
        await _tear_down(server, peers, made)


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


# -- done with the widgets, not in code -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class WidgetStep:
    """A step done with the widgets (typing, joining), as the closing summary judges it.

    Unlike an :class:`~wslab.checks.progress.Exercise`, its verdict is never reused: the
    widgets it reads change (a line typed, a window closed) while their names stay the same.
    ``judge(*values, wait=...)`` prints a verdict and returns its status.
    """

    name: str
    judge: Callable[..., Awaitable[str]]
    reads: tuple[str, ...]

    async def status(self, namespace: Mapping[str, Any]) -> str:
        if any(name not in namespace for name in self.reads):
            return "missing"
        with contextlib.redirect_stdout(io.StringIO()):
            return await self.judge(*(namespace[name] for name in self.reads), wait=0.0)


async def _judge(name: str, body: Callable[[], Awaitable[str]], not_yet: str) -> str:
    """Run ``body`` (it raises Failure or NotDone); print one verdict; return its status.

    The verdict looks like every other check's, but "not done yet" says what to do instead of
    naming a fallback: nothing in the notebook carries on with these steps.
    """
    try:
        detail = await asyncio.wait_for(body(), 30)
    except NotDone:
        first, _, rest = not_yet.partition(". ")
        print("\n".join([f"{NOT_DONE} {name}: {first}.",
                         *textwrap.wrap(rest, width=88, initial_indent="   ",
                                        subsequent_indent="   ", break_on_hyphens=False)]))
        return "not_done"
    except Failure as failure:
        failed(name, tried=failure.tried, expected=failure.expected, got=failure.got,
               hint=failure.hint, fallback=None)
        return "failed"
    passed(name, detail)
    return "passed"


def _squeezed(text: str) -> str:
    """``text`` without case, spaces and punctuation: how a near miss is recognised."""
    return "".join(character for character in text.casefold() if character.isalnum())


# -- say it through the widget --------------------------------------------------------------------

#: The line the student types into Alice's box.
LINE_FOR_ALICE = "Hi Bob, Alice here!"
#: How long the check waits for a line typed just before it ran to come through the server.
RELAY_WAIT = 3.0


async def _said_body(alice: Any, bob: Any, wait: float) -> str:
    for who, chat in (("alice", alice), ("bob", bob)):
        if not isinstance(chat, ChatWidget):
            raise Failure(tried=f"reading {who}'s chat window", expected="a ChatWidget",
                          got=shown(chat),
                          hint=f"{who} is no longer the chat window: run the cell that makes "
                               "alice and bob again, then type the line into Alice's box.")

    def relayed(_chat: Any = None) -> bool:
        return any(sender == alice.client_id and text.strip() == LINE_FOR_ALICE
                   for sender, text in bob.chat_lines)

    # A line sent from the box just before the check ran may still be on its way: the box's
    # handler waits for the last keystrokes, then the server relays the line.
    submitted_at = alice._box_sent[1]
    busy = (alice.text_box.value.strip() or alice._tasks
            or asyncio.get_running_loop().time() - submitted_at < wait)
    if not relayed() and busy and wait:
        with contextlib.suppress(TimeoutError):  # a line typed just before the check ran
            await bob.wait_for(relayed, wait)
    if relayed():
        return (f"the server relayed your line: Bob's log has {LINE_FOR_ALICE!r}, from "
                f"{alice.client_id}.")

    tried = f"looking in Bob's log for {LINE_FOR_ALICE!r}, from {alice.client_id}"
    expected = f"{alice.client_id}: {LINE_FOR_ALICE}"
    box = alice.text_box.value
    if box.strip():
        raise Failure(tried=tried, expected=expected,
                      got=f"Alice's box still holds {box!r}, and nothing of it reached Bob",
                      hint="The line is still in Alice's box: typing alone sends nothing. Click "
                           "into her box and press Enter (or click her Send button).")
    heard = bob.chat_lines if bob.status != CLOSED or bob.chat_lines else alice.chat_lines
    wanted = _squeezed(LINE_FOR_ALICE)
    elsewhere = [(sender, text) for sender, text in heard
                 if sender != alice.client_id and wanted in _squeezed(text)]
    if elsewhere:
        sender, text = elsewhere[-1]
        raise Failure(tried=tried, expected=expected, got=f"{sender}: {text}",
                      hint=f"That line came from {sender}, not from Alice: type it into "
                           "Alice's box (the window whose header says alice).")
    if any(sender == alice.client_id and text.strip() == LINE_FOR_ALICE
           for sender, text in alice.chat_lines):
        raise Failure(tried=tried, expected=expected,
                      got=f"the line is in Alice's log, but not in Bob's: Bob's window is "
                          f"{bob.status_text}",
                      hint="The server relayed the line, but Bob's window was not there to "
                           "get it. Run the cell that makes alice and bob again, then send "
                           "the line once more.")
    from_alice = [text for sender, text in heard if sender == alice.client_id]
    if from_alice:
        near = [text for text in from_alice if _squeezed(text) == wanted]
        got = "; ".join(f"{alice.client_id}: {text}" for text in from_alice[-3:])
        raise Failure(tried=tried, expected=expected, got=got,
                      hint=(f"Almost: the check wants exactly {LINE_FOR_ALICE!r}, capitals "
                            "and punctuation included. Send it once more." if near else
                            f"Alice's lines reached Bob, but not this one: send exactly "
                            f"{LINE_FOR_ALICE!r} from her box."))
    not_sent = [str(entry.get("message", "")) for entry in alice.entries
                if entry.get("type") == "note" and entry.get("error")
                and str(entry.get("message", "")).startswith("Not sent")]
    if not_sent:
        raise Failure(tried=tried, expected=expected, got=f"Alice's log says: {not_sent[-1]}",
                      hint=f"Alice's window could not send: it is {alice.status_text}. Run "
                           "the cell that makes alice and bob again, then send the line.")
    raise NotDone()


async def judge_said(alice: Any, bob: Any, *, wait: float = RELAY_WAIT) -> str:
    """Judge "say it through the widget"; print the verdict; return its status."""
    return await _judge("say it through the widget", lambda: _said_body(alice, bob, wait),
                        f"not done yet. Type {LINE_FOR_ALICE!r} into Alice's box, press "
                        "Enter, then run this check again.")


async def check_said(alice: Any, bob: Any) -> bool:
    """The check of "say it through the widget": is the given line in Bob's log, from Alice?"""
    return await judge_said(alice, bob) == "passed"


# -- one name, one person -------------------------------------------------------------------------

def _same_name(statuses: tuple[str, str]) -> str:
    first, second = statuses
    return "c" if first == CLOSED else "b" if second == CLOSED else "a"


SAME_NAME = Question(
    "predict: the same name twice",
    options={"a": "both stay connected, and the chat has two zoes",
             "b": "the server refuses the second one",
             "c": "the server closes the first one's connection, and its window says why"},
    classify=_same_name,
    why="A name is one connection, and its owner can move it: the second window of this "
        "notebook sends the first one's resume key, so the server closes the older one (code "
        "4409) and a re-run cell takes over at once. The older window stops for good instead of "
        "reconnecting, or the two would push each other out for ever. Someone else, without "
        "the key, is refused (name_taken): in a class, that is why everyone needs a name of "
        "their own.")


# -- join the class -------------------------------------------------------------------------------

#: How long the check waits for the widget to be in the class chat, or to fail for good.
JOIN_WAIT = 8.0
#: What the instructor's line looks like, as the hints show it.
LINE_SHAPE = 'ChatWidget("ws://...", client_id="...", token="...")'


def class_page(chat: ChatWidget) -> str:
    """The chat page on the server ``chat`` talks to, with its token, for a name of its own.

    The page gets another name than the widget (``ada`` becomes ``ada-web``): one name is one
    connection, and the page would push the widget out.
    """
    parts = urlsplit(chat.client.url)
    scheme = "https" if parts.scheme == "wss" else "http"
    base = parts.path.rsplit("/ws/", 1)[0]
    query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    params = {"name": f"{chat.client_id[:60]}-web"}
    if "token" in query:
        params = {"token": query["token"], **params}
    return f"{scheme}://{parts.netloc}{base}/chat?{urlencode(params, safe='~')}"


def _joined(chat: ChatWidget) -> bool:
    return any(entry.get("type") == "welcome" for entry in chat.entries)


def _cannot_reach(chat: ChatWidget) -> str | None:
    """The widget's note that it cannot reach the server, if it never got in."""
    for entry in reversed(chat.entries):
        message = str(entry.get("message", ""))
        if entry.get("type") == "note" and message.startswith("Cannot reach"):
            return message
    return None


def _settled(chat: ChatWidget) -> bool:
    return (chat.status == CLOSED or (chat.status == CONNECTED and chat.participants is not None)
            or (_cannot_reach(chat) is not None and not _joined(chat)))


async def _in_class_body(me: Any, wait: float) -> str:
    tried = "me, the widget made from your instructor's line"
    if me is None:
        raise NotDone()
    if isinstance(me, str):
        raise Failure(tried=tried, expected=f"a chat window: {LINE_SHAPE}", got=shown(me, 120),
                      hint="me is a piece of text: paste the line as code, without quotes "
                           "around it, in place of None." if "ChatWidget(" in me else
                           "me is a piece of text, not a chat window: replace None with the "
                           f"whole line from your instructor, {LINE_SHAPE}.")
    if not isinstance(me, ChatWidget):
        raise Failure(tried=tried, expected=f"a chat window: {LINE_SHAPE}", got=shown(me, 120),
                      hint="Replace None with the whole line from your instructor, "
                           f"{LINE_SHAPE}, with your own name in it.")
    address = me.client.url.split("?")[0].rsplit("/ws/", 1)[0]
    tried = f"{me.client_id} joins the chat at {address}"
    expected = "in the class chat: connected, and greeted by the server"
    if "token=" not in me.client.url:
        raise Failure(tried=tried, expected=expected, got="a window with no join token",
                      hint="This window has no join token, and the class server always needs "
                           "one: use your instructor's whole line, token=\"...\" included.")
    if wait and not _settled(me):
        with contextlib.suppress(TimeoutError):
            await me.wait_for(_settled, wait)
    if me.status == CONNECTED and me.participants is not None:
        return (f"you are in the class chat as {me.client_id}, {me.participants} online. Say "
                f"hello!\n   The same chat in your browser: {class_page(me)}")
    got = f"the window says {me.status_text!r}"
    if any(entry.get("code") == "name_taken" for entry in me.entries):
        raise Failure(tried=tried, expected=expected, got=got,
                      hint=f"Someone else is in the chat with the name {me.client_id}: "
                           "choose a name nobody else uses, put it in the line, and run that "
                           "cell again.")
    if me.client.close_code == KitCloseCode.REPLACED:
        raise Failure(tried=tried, expected=expected, got=got,
                      hint=f"You joined again with the name {me.client_id}, in another chat "
                           "window of this notebook: that window has the name now. Use it, or "
                           "run this cell again to take the name back here.")
    if any(entry.get("code") == "bad_token" for entry in me.entries):
        raise Failure(tried=tried, expected=expected, got=got,
                      hint="The server refused the join token: copy it again, exactly, from "
                           "your instructor's line (or ask for the current one), and run that "
                           "cell again.")
    if me.status == CLOSED and _joined(me) and me.status_text == "closed":
        return f"you were in the class chat as {me.client_id} (you have closed the window since)."
    reach = _cannot_reach(me)
    if reach is not None and not _joined(me):
        raise Failure(tried=tried, expected=expected, got=reach,
                      hint="Your computer cannot reach the class server. Check the address "
                           "(ws://...) letter for letter against your instructor's line, and "
                           "that you are on the classroom's network (its Wi-Fi, no VPN). The "
                           "window keeps trying by itself: run this check again once its header "
                           "says connected.")
    if "answered HTTP" in me.status_text:
        raise Failure(tried=tried, expected=expected, got=got,
                      hint="Something answers at that address, but it is not the class chat: "
                           "check the address (ws://...) and its port against your "
                           "instructor's line, and run that cell again.")
    if me.status == CLOSED:
        raise Failure(tried=tried, expected=expected, got=got,
                      hint="The window closed: its last red line says why. Fix the line, and "
                           "run that cell again.")
    raise Failure(tried=tried, expected=expected, got=got,
                  hint="The window has not got in yet: wait until its header says connected, "
                       "then run this check again. If it never does, check the address against "
                       "your instructor's line, and your network.")


async def judge_in_class(me: Any, *, wait: float = JOIN_WAIT) -> str:
    """Judge "join the class"; print the verdict; return its status."""
    return await _judge("join the class", lambda: _in_class_body(me, wait),
                        "not joined yet. Ask your instructor for the line, paste it in place "
                        "of None with your own name in it, and run that cell and this one.")


async def check_in_class(me: Any) -> bool:
    """The check of "join the class": is ``me`` in the instructor's chat, or why not?"""
    return await judge_in_class(me) == "passed"


EXERCISES = (
    WidgetStep("say it through the widget", judge_said, reads=("alice", "bob")),
    Exercise("who is online", check_online_chat, reads=("OnlineChat",)),
    SAME_NAME,
    WidgetStep("join the class", judge_in_class, reads=("me",)),
)
