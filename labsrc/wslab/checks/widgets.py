"""Lesson 06's checks: a ChatWidget that shows who is online, and one that highlights mentions.

Both exercises extend :class:`wslab.widgets.ChatWidget` through its hooks. The checks build the
student's class against a chat server of their own and drive it two ways: with real clients
that join, leave and connect twice (what the server really sends), and by calling the hook
directly with messages a classroom rarely produces on cue (a welcome after a reconnect, a leave
of someone the widget never saw). Every widget and client a check makes is closed before it
returns, whatever the verdict.

Also the references a stuck student carries on with: :class:`OnlineChat` and
:class:`MentionChat`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import html
import json
import re
from typing import Any, Callable

import ipywidgets as widgets
import websockets

from wslab import envelope
from wslab.checks.core import Failure, NotDone, describe_exception, run_async_check, shown
from wslab.widgets import ChatWidget

#: How long the check waits for the widget to show what it should, per step, in seconds.
WAIT = 2.0


# -- the references ------------------------------------------------------------------------------

class OnlineChat(ChatWidget):
    """A ChatWidget with one more line, under its header: who is online."""

    def __init__(self, url, name, **kwargs):
        super().__init__(url, name, **kwargs)
        self.online = set()                  # the names online, as the server has told us
        self.online_html = widgets.HTML()
        # The chat's parts are (header, log, input row): the new line goes under the header.
        self.children = (self.header_html, self.online_html, *self.children[1:])
        self.show_online()

    def handle(self, message):
        super().handle(message)              # keep the log and the count working
        kind, user = message.get("type"), message.get("user")
        if kind == "welcome" and isinstance(message.get("online"), list):
            # Everyone connected now, this widget included. It comes again after every
            # reconnect, so it replaces the set: who left meanwhile is gone.
            self.online = {str(name) for name in message["online"]}
        elif kind == "join" and isinstance(user, str):
            self.online.add(user)
        elif kind == "disconnect" and isinstance(user, str):
            self.online.discard(user)        # discard: no KeyError for a name never seen
        else:
            return
        self.show_online()

    def show_online(self):
        names = ", ".join(html.escape(name) for name in sorted(self.online))
        self.online_html.value = (
            '<div style="font-size: 12px; color: #4a5058; padding: 0 2px">'
            f'Online: {names or "(waiting for the server)"}</div>')


class MentionChat(ChatWidget):
    """A ChatWidget that marks every ``@name`` of its own participant in the log."""

    def render_entry(self, entry):
        line = super().render_entry(entry)   # the text in it is escaped already
        # A name is letters, digits, _ and -: "@kimberly" and "@kim-lee" are someone else.
        mention = re.compile("@" + re.escape(self.name) + r"(?![\w-])")
        return mention.sub(lambda found: f"<mark>{found.group()}</mark>", line)


# -- what both checks share -----------------------------------------------------------------------

def _is_widget_class(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, ChatWidget)


def _make(cls: type, url: str, name: str, made: list[Any]) -> Any:
    """``cls(url, name)``, recording the instance in ``made`` even when its __init__ fails.

    A constructor that raises after ``ChatWidget.__init__`` has run leaves a widget that is
    already connecting; the check must be able to close it.
    """

    class Probe(cls):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)

    Probe.__name__, Probe.__qualname__ = cls.__name__, cls.__qualname__
    try:
        return Probe(url, name, retry=0.2)
    except NotImplementedError:
        raise NotDone() from None
    except Exception as exc:
        raise Failure(tried=f"{cls.__name__}(server.ws_url, {name!r})",
                      expected="a chat widget", got=describe_exception(exc),
                      hint="Keep the constructor's signature (url, name, **kwargs), and call "
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


def _raise_for_errors(chat: Any, tried: str) -> None:
    for error in _errors(chat):
        if "failed: NotImplementedError" in error:
            raise NotDone()
        if ".handle() failed" in error:
            raise Failure(tried=tried, expected="handle() to return without an exception",
                          got=f"the log shows: {error}",
                          hint="Read the exception: handle() raised it on a message from the "
                               "server. The widget catches it so the chat goes on, and writes "
                               "it in red into the log.")


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
        return _shown_text(self.chat.online_html.value)

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
        _raise_for_errors(self.chat, tried)
        want = _line(names)
        held = _online_set(self.chat)
        if held != names:
            got = self.state()
            if gone and held is not None and gone in held:
                got = f"after {gone} left, your widget still has {gone} online: {got}"
            raise Failure(tried=tried, expected=f"self.online == {_as_set(names)}",
                          got=got, hint=hint)
        if self.shows() != want:
            raise Failure(tried=tried, expected=f"the line under the header shows {want!r}",
                          got=self.state(),
                          hint="Call self.show_online() after every change of self.online, "
                               "and write the names sorted, after 'Online: ', separated by "
                               "', ' (sorted(self.online) gives them in order).")


async def _online_body(cls: Any) -> str:
    if not _is_widget_class(cls):
        raise Failure(tried="OnlineChat", expected="a subclass of ChatWidget",
                      got=shown(cls), hint="Define class OnlineChat(ChatWidget): ... and run "
                                           "its cell again.")
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

        peers.append(carol := await _peer(server, "carol"))
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
            _raise_for_errors(chat, tried)
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
        try:
            chat.handle(welcome)
        except NotImplementedError:
            raise NotDone() from None
        except Exception as exc:
            raise Failure(tried=tried, expected="no exception", got=describe_exception(exc),
                          hint="Read the exception: it comes from your handle().") from None
        run.verify(set(now_online), tried=tried,
                   hint="A welcome lists everyone online now: replace self.online with its "
                        "list (self.online = set(...)) instead of adding to it, or whoever "
                        "left while you were away stays online for ever.")

        leave = json.loads(envelope.leave_message("zed", 2))
        tried = ("a leave of someone this widget never saw: handle({\"type\": "
                 "\"disconnect\", \"user\": \"zed\", ...})")
        try:
            chat.handle(leave)
        except NotImplementedError:
            raise NotDone() from None
        except Exception as exc:
            raise Failure(tried=tried, expected="no exception, and no change",
                          got=describe_exception(exc),
                          hint="Use self.online.discard(name), not .remove(name): discard "
                               "does nothing for a name that is not in the set. (With several "
                               "servers, lesson 07, such messages happen.)") from None
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


async def check_online_chat(cls: Any) -> Any:
    """Exercise 1: run the student's ``OnlineChat`` against a real server, with real clients.

    Returns the class to carry on with: the student's once it passes, the reference until then.
    """
    ok = await run_async_check("who is online", lambda: _online_body(cls),
                               fallback="wslab.checks.widgets.OnlineChat", timeout=20)
    return cls if ok else OnlineChat


# -- exercise 2: mentions -------------------------------------------------------------------------

_MARK = re.compile(r"<mark\b[^>]*>(.*?)</mark>", re.S)
_MARK_TAGS = re.compile(r"</?mark\b[^>]*>")

#: (the entry, how many mentions it holds, what is special about it, a hint for when it fails)
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
     "of kim must not be followed by one of those. In a regular expression: "
     "'@' + re.escape(self.name) + r'(?![\\w-])'."),
    ({"message": "@kim <b>not bold</b> & <script>alert(1)</script>", "client_id": "lee",
      "timestamp": "12:00:04"}, 1,
     "The text came from the network: it must stay escaped (lesson 05). Let "
     "super().render_entry(entry) escape it, then add <mark> to the HTML it returns; do not "
     "build the line from entry[\"message\"] yourself."),
    ({"client_id": "system", "type": "join", "message": "Client #lee joined the chat (2 online)",
      "timestamp": "12:00:05", "user": "lee", "participants": 2}, 0,
     "System lines without a mention must look as before too."),
]


async def _mentions_body(cls: Any) -> str:
    if not _is_widget_class(cls):
        raise Failure(tried="MentionChat", expected="a subclass of ChatWidget", got=shown(cls),
                      hint="Define class MentionChat(ChatWidget): ... and run its cell again.")
    from wslab.chat import create_app
    from wslab.runner import BackgroundServer

    made: list[Any] = []
    peers: list[Any] = []
    server = BackgroundServer(create_app(), name="lesson06-check-mentions").start()
    try:
        chat = _make(cls, server.ws_url, "kim", made)
        await _wait(chat, lambda widget: widget.participants is not None)  # kim is in the room
        for case, count, hint in MENTION_CASES:
            entry, before = copy.deepcopy(case), copy.deepcopy(case)
            tried = f"a widget for kim draws {shown(entry, 200)}"
            try:
                got = chat.render_entry(entry)
            except NotImplementedError:
                raise NotDone() from None
            except Exception as exc:
                raise Failure(tried=tried, expected="a line of HTML",
                              got=describe_exception(exc), hint=hint) from None
            base = ChatWidget.render_entry(chat, before)
            want = re.sub("@kim(?![\\w-])", "<mark>@kim</mark>", base)
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

    Returns the class to carry on with: the student's once it passes, the reference until then.
    """
    ok = await run_async_check("mentions", lambda: _mentions_body(cls),
                               fallback="wslab.checks.widgets.MentionChat", timeout=20)
    return cls if ok else MentionChat
