"""``ChatWidget``: a chat window of ipywidgets, a view of a :class:`~wslab.client.ChatClient`.

::

    from wslab.widgets import ChatWidget
    alice = ChatWidget(server.ws_url, "alice")
    bob = ChatWidget(server.ws_url, "bob")
    widgets.HBox([alice, bob])          # two chat windows side by side

    await alice.say("hello")            # what the Send button does
    await bob.wait_for_text("hello")    # until bob's log shows it (or TimeoutError)
    await alice.close(); await bob.close()

Each widget shows a header (its client id, a status dot, ``N online``), the message log, a text
box where Enter sends, and a Send button. The connection is its :attr:`~ChatWidget.client`, a
``ChatClient``: it connects to ``{url}/ws/{client_id}``, parses each frame once, reconnects by
the kit's policy (``wslab.reconnect``), with its name's resume key (kept in memory, never
shown), and stops for good after a final close (1008: a wrong token, a bad name, or a name
someone else holds; 4409: the same name connected again elsewhere, from this kernel or with
this window's key). The widget draws what the
client reports: the status, the messages (chat lines, its own on the right as "You"; system
lines in grey; error replies in red), and notes of its own on what happened to the connection.

After a Wi-Fi drop its client resumes where it was (``wslab.catch_up``), and the log shows what
the page shows: each numbered line once, the lines the server replays as ordinary lines, the
lines from before the widget came in greyed under a divider "earlier messages", "You missed
some messages" when some never came, and the server's quiet "caught up: 3 missed lines".

How it stays out of the notebook's way, and why:

- **The client is an asyncio task on the kernel's own loop.** A Jupyter kernel runs an event
  loop between cells, so the task receives messages while you go on working; nothing blocks
  and there is no thread. The widget is created where that loop is running (a notebook cell,
  or async code), and every method runs on that loop.
- **Nothing prints.** Where output from a background task ends up depends on the kernel's
  version and on what started the task (a cell, or a click), and output from a task started
  by a click is lost altogether; so everything there is to say goes into the widget's own log
  and status: connection lost, reconnecting, a failed send, even an exception in your
  :meth:`~ChatWidget.handle`.
- **Widget updates are trait assignments** (``self.log_html.value = ...``), which ipywidgets
  sends to the browser from any task, whatever started it; ``with output:`` inside a task
  shares the fate of ``print`` above. A burst of messages costs one redraw of the log, not one
  each (:data:`RENDER_INTERVAL`).
- **Text is always escaped.** The log is an ``HTML`` widget, so every piece of text that came
  over the network goes through :func:`html.escape`: ``<script>`` is shown, never run.
- **Enter sends, exactly once.** ``Text.on_submit`` is deprecated in ipywidgets 8, and the
  suggested replacement (``continuous_update=False`` and observing ``value``) also fires when
  the box loses focus, so clicking elsewhere would send. The browser's text box sends the
  kernel a custom message ``{"event": "submit"}`` when Enter is pressed; the widget listens for
  that message with ``on_msg``. That message can overtake the last keystrokes of fast typing
  (the browser holds a value update back while the one before is unanswered, but never a
  message), so the widget sends once the box's value has been still for a moment.

State for code and tests: :attr:`~ChatWidget.entries` (what the log shows, as dicts),
:attr:`~ChatWidget.chat_lines`, :attr:`~ChatWidget.participants`, :attr:`~ChatWidget.status`,
the client's own state (``chat.client.close_code``...), and the awaitable helpers
:meth:`~ChatWidget.wait_for` and :meth:`~ChatWidget.wait_for_text`.

Extending it: override :meth:`~ChatWidget.handle`, which is called with every message the
server sends (as a dict); call ``super().handle(message)`` to keep the default behaviour. A
subclass can add widgets of its own below the chat with ``self.children += (widget,)``, and
:meth:`~ChatWidget.note` writes a line of its own into the log. See :class:`ChatWidget`.
"""

from __future__ import annotations

import asyncio
import html
import json
import math
from importlib import resources
from typing import Any, Callable, Generator

import ipywidgets as widgets
from websockets.exceptions import ConnectionClosed

from wslab import envelope
from wslab.catch_up import EARLIER
from wslab.classroom import NAME_PLACEHOLDER
from wslab.client import CLOSED, CONNECTED, CONNECTING, RECONNECTING, ChatClient, Event
from wslab.close_codes import KitCloseCode, describe_close
from wslab.errors import describe_exception
from wslab.reconnect import CHAT_POLICY, ReconnectPolicy
from wslab.waiting import Waiters

__all__ = ["ChatWidget", "close_all", "CONNECTING", "CONNECTED", "RECONNECTING", "CLOSED"]

#: How often the log is redrawn at most: a burst of messages costs one redraw, not one each.
RENDER_INTERVAL = 0.05

#: The widget's look, as a ``<style>`` element (the sheet is ``static/widgets.css``).
_STYLE = ("<style>" + resources.files("wslab").joinpath("static", "widgets.css")
          .read_text(encoding="utf-8") + "</style>")

#: Every ChatWidget whose connection is open or being retried (see :func:`close_all`).
_live: set[ChatWidget] = set()


async def close_all() -> None:
    """Close every ChatWidget's connection (a notebook's clean-up cell, a test's teardown)."""
    for widget in list(_live):
        await widget.close()


class _Closing:
    """What :meth:`ChatWidget.close` returns: awaiting it waits until the socket is closed.

    Not a coroutine, so calling ``close()`` without ``await`` (as ipywidgets does) is fine too.
    """

    def __init__(self, task: asyncio.Task[None] | None) -> None:
        self._task = task

    def __await__(self) -> Generator[Any, None, None]:
        if self._task is not None and not self._task.done():
            yield from asyncio.wait({self._task}).__await__()


class ChatWidget(widgets.VBox):
    """A chat window for one participant, ``client_id``, on the chat server at ``url``.

    Arguments:
        url: the server's base address (``server.ws_url`` or ``server.url``).
        client_id: who you are in the chat: 1 to 64 letters, digits, ``_`` or ``-``; not
            ``your_name``, the placeholder in the line a classroom server prints (a class full
            of "your_name"s would push each other out).
        token: the server's join token, if it requires one.
        width, height: the widget's width and the log's height (CSS lengths); the default
            width lets two widgets sit side by side in a notebook.
        policy: the reconnect policy's numbers (``wslab.reconnect.CHAT_POLICY`` by default).
        max_entries: how many entries the log keeps (older ones are dropped).

    The widget connects at once, on the event loop of the code that creates it (in a notebook,
    the kernel's), through its :attr:`client`. Its parts are attributes, for code and
    subclasses: ``header_html``, ``log_html`` (the log, an ``HTML`` widget), ``text_box`` and
    ``send_button``.

    **close() replaces ipywidgets' method of the same name** (which removes the widget from the
    page): here it closes the chat connection. The widget stays on the page, showing "closed";
    to remove it as well, call ``widgets.Widget.close(chat)`` afterwards.

    **Extending it.** :meth:`handle` receives every message from the server; override it and
    call ``super().handle(message)`` to keep the log and the count working. For example, a line
    under the chat counting the chat lines::

        class Counting(ChatWidget):
            def __init__(self, url, client_id, **kwargs):
                super().__init__(url, client_id, **kwargs)
                self.counter = widgets.Label("no chat lines yet")
                self.children += (self.counter,)   # below the text box

            def handle(self, message):
                super().handle(message)
                self.counter.value = f"{len(self.chat_lines)} chat lines"

    Anything that comes from the network must go through ``html.escape`` before it goes into
    an ``HTML`` widget (a ``Label`` shows text as text). An exception in ``handle`` is shown in
    the log, and the connection carries on.
    """

    #: How long the text box's value must have been still before Enter or Send in the browser
    #: sends it, in seconds (see ``_submit_when_typed``).
    submit_settle = 0.2

    def __init__(self, url: str, client_id: str, *, token: str | None = None,
                 width: str = "420px", height: str = "300px",
                 policy: ReconnectPolicy = CHAT_POLICY, max_entries: int = 200,
                 **kwargs: Any) -> None:
        if client_id == NAME_PLACEHOLDER:  # pasted from the classroom's line as it was printed
            raise ValueError(f"cannot use the name {client_id!r}: it stands for your own name: "
                             f"put yours in its place, such as client_id=\"ada_l\"")
        #: What the log shows, oldest first: the server's messages as the client parsed them
        #: (chat lines ``{"message", "client_id", "timestamp"}``; system messages with
        #: ``"client_id": "system"`` and a ``"type"``; a frame that is not a JSON object, such
        #: as the lecture's plain-text relay, as ``{"type": "plain", "message", "timestamp"}``);
        #: the widget's own notes as ``{"type": "note", "message", "timestamp", "error"}``; and
        #: "you missed some messages" as ``{"type": "missed", "message", "timestamp"}``.
        self.entries: list[dict[str, Any]] = []
        #: How many are online, as the server last said (None before it has said).
        self.participants: int | None = None
        self.max_entries = max_entries
        self.log_height = height
        self._ever_connected = False
        self._told_unreachable = False
        self._last_event: Event | None = None
        self._reconnect_at = math.inf  # when the client tries again, while it waits
        self._tasks: set[asyncio.Task[Any]] = set()
        self._render_due = False
        self._last_render = -math.inf
        #: The connection: this widget draws what it reports.
        self.client = ChatClient(url, client_id, token=token, policy=policy,
                                 listener=self._on_event)
        self._closing = False  # (set only now: close() leaves a widget without a client alone)
        #: Who this widget chats as.
        self.client_id = client_id
        self._loop = asyncio.get_running_loop()  # the client's, which it checked is running
        self._waiters: Waiters[ChatWidget] = Waiters(self, self._loop)

        self.header_html = widgets.HTML()
        self.log_html = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.text_box = widgets.Text(
            placeholder="Message (Enter sends)",
            layout=widgets.Layout(flex="1 1 auto", width="auto"))
        self.send_button = widgets.Button(
            description="Send", button_style="primary", tooltip="Send the message",
            layout=widgets.Layout(width="72px", flex="0 0 auto"))
        self._box_changed_at = -math.inf
        self._box_sent: tuple[str, float] = ("", -math.inf)  # the box's last text, when taken
        self.text_box.observe(self._on_box_value, "value")
        self.text_box.on_msg(self._on_text_box_message)
        self.send_button.on_click(lambda _button: self._spawn(self._submit_when_typed()))
        row = widgets.HBox([self.text_box, self.send_button],
                           layout=widgets.Layout(width="100%"))
        row.add_class("wslab-chat-input")
        kwargs.setdefault("layout", widgets.Layout(width=width, margin="0 12px 8px 0"))
        super().__init__([self.header_html, self.log_html, row], **kwargs)
        self.add_class("wslab-chat")
        self.add_class(f"wslab-chat-{client_id}")
        self._set_status(CONNECTING, "connecting…")
        self.render()
        _live.add(self)

    # -- state --------------------------------------------------------------------------------

    @property
    def status(self) -> str:
        """``"connecting"``, ``"connected"``, ``"reconnecting"`` or ``"closed"``."""
        return self._status

    @property
    def status_text(self) -> str:
        """The status as the header shows it, such as ``"reconnecting in 2 s"``."""
        return self._status_text

    @property
    def chat_lines(self) -> list[tuple[str, str]]:
        """The chat lines in the log, oldest first, as ``(client_id, text)`` pairs."""
        return [(str(entry["client_id"]), str(entry.get("message", "")))
                for entry in self.entries if _kind(entry) == "chat"]

    # -- what code (and the buttons) can do ---------------------------------------------------

    async def say(self, text: str, *, timeout: float = 3.0) -> bool:
        """Send ``text`` as a chat line (``{"message": text}``); True once it is sent.

        While the widget is still connecting (or reconnecting), waits up to ``timeout``
        seconds for the connection. A line that cannot be sent is not an exception: the log
        says why, and the result is False. Blank text is not sent at all.
        """
        if not isinstance(text, str):
            raise TypeError(f"say() takes the text to send, not {type(text).__name__}")
        if not text.strip():
            return False
        why = self.status_text if self.status == CLOSED else None
        if why is None:
            try:
                await self.client.say(text, timeout)
                return True
            except TimeoutError:
                why = f"not connected: {self.status_text}"
            except ConnectionError:
                why = self.status_text
            except ConnectionClosed:
                why = "the connection closed"
        self.note(f"Not sent ({why}): {_preview(text)}", error=True)
        return False

    def submit(self) -> asyncio.Future[bool] | None:
        """What Enter and the Send button do: send the box's text and clear the box.

        The sending runs as a task (returned, so code can await it); if it fails, the log says
        why and the text goes back into the box. Returns None when the box is blank.
        """
        text = self.text_box.value
        if not text.strip():
            return None
        self._box_sent = (text, self._loop.time())
        self.text_box.value = ""
        return self._spawn(self._send_from_box(text))

    def close(self) -> _Closing:  # type: ignore[override]
        """Close the connection and stop reconnecting; ``await`` it to wait for the socket.

        The widget stays on the page, showing "closed". Calling it again does nothing.
        """
        task = None
        if not getattr(self, "_closing", True):  # (ipywidgets calls it on half-made widgets too)
            self._closing = True
            _live.discard(self)
            try:
                self._set_status(CLOSED, "closed")
                self.note("You closed this chat.")
            except Exception:  # noqa: BLE001  (Python shutting down: there is no one to tell)
                pass
            task = self._spawn(self.client.close())
        return _Closing(task)

    def note(self, text: str, *, error: bool = False) -> None:
        """Add a line of the widget's own to the log (red when ``error``)."""
        self.add_entry({"type": "note", "message": text, "timestamp": envelope.timestamp(),
                        "error": error})

    async def wait_for(self, predicate: Callable[[ChatWidget], Any], timeout: float = 3.0,
                       *, what: str | None = None) -> Any:
        """Wait until ``predicate(self)`` is true; return its value.

        The predicate is checked now and after every change (a new entry, a new status, a new
        count), so a passing state is never missed. Raises TimeoutError after ``timeout``
        seconds, saying what the widget showed. For example::

            await bob.wait_for(lambda chat: chat.participants == 2)
        """
        try:
            return await self._waiters.wait_for(predicate, timeout, lambda: (
                f"{self.client_id}: waited {timeout:g} s for {what or 'the condition'}, in vain. "
                f"Status: {self.status_text}; {self.participants} online. The log's last "
                f"lines: {[_plain_line(entry) for entry in self.entries[-5:]]}"))
        finally:
            self.render()  # so that log_html shows everything the caller is about to check

            self.render()  # so that log_html shows everything the caller is about to check

    async def wait_for_text(self, text: str, timeout: float = 3.0, *,
                            sender: str | None = None) -> dict[str, Any]:
        """Wait until an entry in the log contains ``text`` (from ``sender``, if given).

        Returns the entry. Any entry counts, also one that was there before the call.
        """
        def find(chat: ChatWidget) -> dict[str, Any] | None:
            for entry in reversed(chat.entries):
                if text in str(entry.get("message", "")) and (
                        sender is None or entry.get("client_id") == sender):
                    return entry
            return None

        who = f" from {sender!r}" if sender is not None else ""
        return await self.wait_for(find, timeout, what=f"a line with {text!r}{who}")

    def focus(self) -> None:
        """Put the cursor in the text box."""
        self.text_box.focus()

    def blur(self) -> None:
        """Take the cursor out of the text box."""
        self.text_box.blur()

    # -- the hook -----------------------------------------------------------------------------

    def handle(self, message: dict[str, Any]) -> None:
        """Act on one message from the server: keep the count, add it to the log.

        ``message`` is the frame as the server sent it, decoded from JSON (a frame that is not
        a JSON object arrives as ``{"type": "plain", "message": text, "timestamp"}``). Override
        this to add a feature; call ``super().handle(message)`` to keep the default behaviour,
        or leave it out for messages the log should not show. It runs on the event loop, so it
        must return quickly and must not block.
        """
        if message.get("type") == "pong":  # a heartbeat's answer: nothing to show
            return
        count = message.get("participants")
        earlier = message.get("history") is True or message.get("replay") is True
        if (message.get("client_id") == envelope.SYSTEM and isinstance(count, int)
                and not isinstance(count, bool) and count >= 0 and not earlier):
            self.participants = count
            self._render_header()
        self.add_entry(message)

    def add_entry(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` to the log (dropping the oldest beyond ``max_entries``)."""
        self.entries.append(entry)
        if len(self.entries) > self.max_entries:
            del self.entries[: len(self.entries) - self.max_entries]
        self._schedule_render()
        self._waiters.changed()

    # -- drawing ------------------------------------------------------------------------------

    def render(self) -> None:
        """Redraw the log now (it is otherwise redrawn at most every 0.05 s)."""
        self._render_due = False
        self._last_render = self._loop.time()
        lines = "".join(_divided(before, entry) + self._rendered(entry)
                        for before, entry in zip([None, *self.entries], self.entries))
        if not lines:
            lines = '<div class="wslab-empty">No messages yet.</div>'
        # column-reverse keeps the newest line in view: the scroll box starts at its bottom.
        self.log_html.value = (
            f'<div class="wslab-log" role="log" style="height: {html.escape(self.log_height)}">'
            f'<div class="wslab-log-lines">{lines}</div></div>')

    def _rendered(self, entry: dict[str, Any]) -> str:
        """``render_entry(entry)``, or the plain rendering if an override of it fails.

        A subclass's bug must not stop the log (nor print a traceback into a random cell):
        the line is drawn as usual, marked, and the log goes on. Returning something other
        than a str (``None`` from a forgotten ``return``) is such a bug too.
        """
        try:
            drawn = self.render_entry(entry)
        except Exception as exc:
            problem = f"render_entry failed here: {type(exc).__name__}: {exc}"
        else:
            if isinstance(drawn, str):
                return drawn
            problem = (f"render_entry returned {type(drawn).__name__}, not a str of HTML"
                       + (" (is a return missing?)" if drawn is None else ""))
        return (ChatWidget.render_entry(self, entry)
                + f'<div class="wslab-line wslab-system wslab-error">{_escape(problem)}</div>')

    def render_entry(self, entry: dict[str, Any]) -> str:
        """The HTML for one entry of the log. Override to change how lines look.

        Everything from the network must go through ``html.escape``.
        """
        text = _escape(entry.get("message", ""))
        time = _escape(entry.get("timestamp", ""))
        kind = _kind(entry)
        greyed = " wslab-history" if entry.get("history") is True else ""
        if kind == "chat":
            sender = str(entry.get("client_id"))
            own = sender == self.client_id
            who = "You" if own else _escape(sender)
            return (f'<div class="wslab-line {"wslab-own" if own else "wslab-other"}{greyed}">'
                    f'<div class="wslab-meta"><span class="wslab-who">{who}</span>'
                    f'<span class="wslab-time">{time}</span></div>'
                    f'<div class="wslab-text">{text}</div></div>')
        extra = {"error": " wslab-error", "note": " wslab-note", "missed": " wslab-missed",
                 "quiet": " wslab-quiet"}.get(kind, "")
        return (f'<div class="wslab-line wslab-system{extra}{greyed}"><span class="wslab-text">'
                f'{text}</span><span class="wslab-time">{time}</span></div>')

    def _render_header(self) -> None:
        # A closed window knows nothing of who is online now: no count rather than an old one.
        known = self.participants is not None and self._status != CLOSED
        count = f"{self.participants} online" if known else "– online"
        stale = "" if self._status == CONNECTED else " wslab-stale"
        status = _escape(self._status_text)
        self.header_html.value = (
            f'{_STYLE}<div class="wslab-head">'
            f'<span class="wslab-name" title="{_escape(self.client.url.split("?")[0])}">'
            f'{_escape(self.client_id)}</span>'
            f'<span class="wslab-status wslab-{self._status}" title="{status}">'
            f'<span class="wslab-dot"></span><span class="wslab-status-text">{status}</span>'
            f'</span><span class="wslab-count{stale}">{count}</span></div>')

    def _schedule_render(self) -> None:
        if self._render_due:
            return
        self._render_due = True
        wait = self._last_render + RENDER_INTERVAL - self._loop.time()
        try:
            if not self._in_loop_thread():  # code on another thread, or the loop has ended
                self.render()
            elif wait <= 0:
                self._loop.call_soon(self._render_if_due)
            else:
                self._loop.call_later(wait, self._render_if_due)
        except RuntimeError:
            self.render()

    def _render_if_due(self) -> None:
        if self._render_due:
            self.render()

    def _set_status(self, status: str, text: str) -> None:
        self._status, self._status_text = status, text
        closed = status == CLOSED
        self.send_button.disabled = status != CONNECTED
        self.text_box.disabled = closed
        if closed:
            self.text_box.placeholder = "This chat is closed"
        self._render_header()
        self._waiters.changed()

    # -- what the client reports --------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        """The client's listener: draw what happened to the connection."""
        if self._closing:
            return
        before, self._last_event = self._last_event, event
        if event.kind == "connected":
            self._ever_connected = True
            self._set_status(CONNECTED, "connected")
        elif event.kind == "heard" and event.message is not None:
            self._receive(event.message)
        elif event.kind == "missed":
            self.add_entry({"type": "missed", "message": event.text,
                            "timestamp": envelope.timestamp()})
        elif event.kind == "waiting" and event.step is not None:
            if before is not None and before.kind == "disconnected":
                self.note(f"Disconnected: {before.why}.")
            elif (before is not None and before.kind == "failed" and not self._ever_connected
                  and not self._told_unreachable):
                self._told_unreachable = True
                self.note(f"Cannot reach the chat server at {self.client.url.split('?')[0]}: "
                          f"{before.why}. Retrying…", error=True)
            self._reconnect_at = self._loop.time() + event.step.delay
            self._count_down(self._reconnect_at)
        elif event.kind == "stopped":
            self._stopped(event, before)

    def _receive(self, message: dict[str, Any]) -> None:
        try:
            self.handle(message)
        except Exception as exc:
            self.note(f"{type(self).__name__}.handle() failed: {describe_exception(exc)}",
                      error=True)
        self._waiters.changed()  # what a subclass's handle() changed after super() counts too

    def _count_down(self, at: float) -> None:
        """Show the seconds until the client tries again (at ``at``), each second, until then.

        It stops as soon as anything else happened: the try, or a newer wait with its own
        count.
        """
        if self._closing or self._last_event is None or self._last_event.kind != "waiting" \
                or at != self._reconnect_at:
            return
        left = at - self._loop.time()
        if left <= 0:
            self._set_status(RECONNECTING, "reconnecting…")
            return
        self._set_status(RECONNECTING, f"reconnecting in {math.ceil(left)} s")
        self._loop.call_later(left - math.floor(left) or 1.0, self._count_down, at)

    def _stopped(self, event: Event, before: Event | None) -> None:
        """The client stopped for good: say why, once, and close the window."""
        client = self.client
        advice = ""
        if before is not None and before.kind == "failed":  # a refused handshake
            why = f"{event.why}: is this the chat server's address?"
        elif before is not None and before.kind == "disconnected":  # a final close
            if client.close_code == KitCloseCode.REPLACED:
                why = f"the name {self.client_id} connected again elsewhere"
                advice = " (in another window of yours, with this window's key)"
            else:
                why = client.close_reason or describe_close(client.close_code)
        else:  # not the server's doing: an unexpected error, or the event loop ended
            why = event.why
            if event.text.startswith("stopped on an error"):
                self.note(f"The connection stopped on an unexpected error: {why}", error=True)
        said = [entry for entry in self.entries[-3:] if _kind(entry) == "error"]
        if before is not None and before.kind in ("failed", "disconnected") and not any(
                str(entry.get("message", "")).lower().startswith(why.lower()[:60])
                for entry in said):
            self.note(f"Disconnected for good: {why}{advice}", error=True)
        self._closing = True
        _live.discard(self)
        self._set_status(CLOSED, f"closed: {why}")

    def _on_text_box_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        # The browser's text box sends {"event": "submit"} when Enter is pressed.
        if isinstance(content, dict) and content.get("event") == "submit":
            self._spawn(self._submit_when_typed())

    def _on_box_value(self, change: Any) -> None:
        now = self._box_changed_at = self._loop.time()
        # Keystrokes that come in after their line was sent (see _submit_when_typed, which
        # makes this rare): say so, rather than let a cut-off line pass unnoticed.
        # They arrive together, as the first value after the box was cleared.
        sent, sent_at = self._box_sent
        new = change["new"]
        if not sent or not new:
            return
        self._box_sent = ("", -math.inf)
        if now - sent_at < 3.0 and len(new) > len(sent) and new.startswith(sent):
            self.note(f"Your last keystrokes arrived after the line was sent, so only "
                      f"{_preview(sent)} went out; the whole text is back in the box.",
                      error=True)

    async def _submit_when_typed(self) -> None:
        """Enter or Send in the browser: submit once the box's last keystrokes have arrived.

        The browser sends each keystroke's new value, but holds a value back while the kernel
        has not yet answered the one before; the "submit" and "click" messages are never held
        back. So after fast typing, the click can arrive before the last letters: taking the
        value at once would send a cut-off line and then put the rest back into the cleared
        box. Wait until the value has been still for ``submit_settle`` seconds (more than a
        round trip to the browser), at most 2 s; after a pause in typing that is at once.
        """
        deadline = self._loop.time() + 2.0
        while True:
            still = self._loop.time() - self._box_changed_at
            if still >= self.submit_settle or self._loop.time() >= deadline:
                break
            await asyncio.sleep(self.submit_settle - still)
        sending = self.submit()
        if sending is not None:
            await sending

    async def _send_from_box(self, text: str) -> bool:
        try:
            sent = await self.say(text)
        except Exception as exc:  # never a traceback from a button
            self.note(f"Not sent: {describe_exception(exc)}", error=True)
            sent = False
        if not sent and not self.text_box.value and self._status != CLOSED:
            self.text_box.value = text  # give it back, to try again
        return sent

    def _spawn(self, coroutine: Any) -> asyncio.Future[Any] | None:
        """Run ``coroutine`` as a task on the widget's loop, from that loop or any thread."""
        try:
            if self._in_loop_thread():
                task = self._loop.create_task(coroutine)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return task
            return asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(coroutine, self._loop), loop=self._loop)
        except RuntimeError:  # the loop is closed: there is no one left to send
            coroutine.close()
            return None

    def _in_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.client_id!r} {self._status_text} "
                f"({self.client.url})>")


def _kind(entry: dict[str, Any]) -> str:
    """How an entry is drawn: ``chat``, ``system``, ``error``, ``note``, ``missed`` (lines never
    came) or ``quiet`` (caught up after a replay)."""
    kind = entry.get("type")
    if kind == "note":
        return "error" if entry.get("error") else "note"
    if kind in ("error", "missed"):
        return kind
    if kind == "resumed" and entry.get("client_id") == envelope.SYSTEM:
        return "quiet"
    sender = entry.get("client_id")
    if kind is None and isinstance(sender, str) and sender != envelope.SYSTEM:
        return "chat"
    return "system"


def _divided(before: dict[str, Any] | None, entry: dict[str, Any]) -> str:
    """The divider "earlier messages" above the first of the lines a latecomer is shown from
    before it came in (the server marks them ``history``)."""
    if entry.get("history") is not True or (before is not None and before.get("history") is True):
        return ""
    return f'<div class="wslab-divider">{_escape(EARLIER)}</div>'


def _plain_line(entry: dict[str, Any]) -> str:
    sender = entry.get("client_id")
    prefix = f"{sender}: " if _kind(entry) == "chat" else ""
    return f"{prefix}{entry.get('message', '')}"


def _escape(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else json.dumps(value, default=str))


def _preview(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


