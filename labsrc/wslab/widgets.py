"""``ChatWidget``: a chat client as a Jupyter widget, talking to the kit's chat server.

::

    from wslab.widgets import ChatWidget
    alice = ChatWidget(server.ws_url, "alice")
    bob = ChatWidget(server.ws_url, "bob")
    widgets.HBox([alice, bob])          # two chat windows side by side

    await alice.send("hello")           # what the Send button does
    await bob.wait_for_text("hello")    # until bob's log shows it (or TimeoutError)
    await alice.close(); await bob.close()

Each widget shows a header (its name, a status dot, ``N online``), the message log, a text box
where Enter sends, and a Send button. It speaks the chat's wire protocol (``wslab.envelope``):
it connects to ``{url}/ws/{name}``, sends ``{"message": text}``, and shows what the server
sends: chat lines (its own on the right as "You"), system lines (joins, leaves, welcome) in
grey, error replies in red.

How it stays out of the notebook's way, and why:

- **The receive loop is an asyncio task on the kernel's own loop.** A Jupyter kernel runs an
  event loop between cells, so the task receives messages while you go on working; nothing
  blocks and there is no thread. The widget is created where that loop is running (a notebook
  cell, or async code), and every method runs on that loop.
- **The loop never prints.** Where output from a background task ends up depends on the
  kernel's version and on what started the task (a cell, or a click), and output from a task
  started by a click is lost altogether; so everything the loop has to say goes into the
  widget's own log and status: connection lost, reconnecting, a failed send, even an exception
  in your :meth:`handle`.
- **Widget updates are trait assignments** (``self.log_html.value = ...``), which ipywidgets
  sends to the browser from any task, whatever started it; ``with output:`` inside a task
  shares the fate of ``print`` above.
- **Text is always escaped.** The log is an ``HTML`` widget, so every piece of text that came
  over the network goes through :func:`html.escape`: ``<script>`` is shown, never run.
- **Enter sends, exactly once.** ``Text.on_submit`` is deprecated in ipywidgets 8, and the
  suggested replacement (``continuous_update=False`` and observing ``value``) also fires when
  the box loses focus, so clicking elsewhere would send. The browser's text box sends the
  kernel a custom message ``{"event": "submit"}`` when Enter is pressed; the widget listens for
  that message with ``on_msg``. That message can overtake the last keystrokes of fast typing
  (the browser holds a value update back while the one before is unanswered, but never a
  message), so the widget sends once the box's value has been still for a moment.
- **It reconnects by itself** after the connection drops (a server restart), with exponential
  backoff and random jitter, as the ``/chat`` page does; it stops for good after a policy close
  (1008: wrong token or bad name; 4409: the same name connected again elsewhere) and says why.
  Behind a proxy that drops close codes (jupyter-server-proxy), the server's error reply just
  before such a close (``bad_token``, ``bad_client_id``, ``replaced``) counts as that close.

State for code and tests: :attr:`~ChatWidget.entries` (what the log shows, as dicts),
:attr:`~ChatWidget.participants`, :attr:`~ChatWidget.status`, and the awaitable helpers
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
import logging
import math
import random
from typing import Any, Callable, Generator

import ipywidgets as widgets
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from wslab import envelope
from wslab.classroom import NAME_PLACEHOLDER
from wslab.client import (POLICY_CLOSES, connect_problem, final_error, proxy_for, settled_close,
                          socket_url)

__all__ = ["ChatWidget", "close_all", "socket_url",
           "CONNECTING", "CONNECTED", "RECONNECTING", "CLOSED"]

#: The values of :attr:`ChatWidget.status`.
CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
CLOSED = "closed"

#: A connection that lasted this long was a good one: the next outage starts the delays afresh.
STABLE_SECONDS = 10.0
#: How long to wait for a handshake, and for the server to answer our close.
OPEN_TIMEOUT = 5.0
CLOSE_TIMEOUT = 1.0
#: How often the log is redrawn at most: a burst of messages costs one redraw, not one each.
RENDER_INTERVAL = 0.05

#: What the close codes a chat client meets mean, in words.
CLOSE_CODE_MEANINGS = {
    1000: "the connection was closed",
    1001: "the server is going away",
    1006: "the connection was lost",
    1009: "a message was too big for the server",
    1011: "the server had an internal error",
    1012: "the server is restarting",
    envelope.CLOSE_POLICY_VIOLATION: "the server refused this connection",
    envelope.CLOSE_TOO_SLOW: "this client could not keep up with the chat",
    envelope.CLOSE_REPLACED: "this name connected again elsewhere",
}

# The websockets library logs problems that also reach the widget as close codes and errors;
# without a handler of its own, Python would print them into whichever cell is running.
_socket_logger = logging.getLogger("wslab.widgets.socket")
_socket_logger.addHandler(logging.NullHandler())
_socket_logger.propagate = False

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
    """A chat window for one participant, ``name``, on the chat server at ``url``.

    Arguments:
        url: the server's base address (``server.ws_url`` or ``server.url``).
        name: the client id: 1 to 64 letters, digits, ``_`` or ``-``; not ``your_name``, the
            placeholder in the line a classroom server prints (a class full of "your_name"s
            would push each other out).
        token: the server's join token, if it requires one.
        width, height: the widget's width and the log's height (CSS lengths); the default
            width lets two widgets sit side by side in a notebook.
        retry, retry_max: the first and the longest delay between reconnects, in seconds.
        max_entries: how many entries the log keeps (older ones are dropped).

    The widget connects at once, on the event loop of the code that creates it (in a notebook,
    the kernel's). Its parts are attributes, for code and subclasses: ``header_html``,
    ``log_html`` (the log, an ``HTML`` widget), ``text_box`` and ``send_button``.

    **send() and close() replace ipywidgets' methods of the same names** (which send a custom
    message to the browser, and remove the widget from the page): here they send a chat line
    and close the chat connection. The widget stays on the page, showing "closed"; to remove
    it as well, call ``widgets.Widget.close(chat)`` afterwards.

    **Extending it.** :meth:`handle` receives every message from the server; override it and
    call ``super().handle(message)`` to keep the log and the count working. For example, a line
    under the chat counting the chat lines::

        class Counting(ChatWidget):
            def __init__(self, url, name, **kwargs):
                super().__init__(url, name, **kwargs)
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

    def __init__(self, url: str, name: str, *, token: str | None = None,
                 width: str = "420px", height: str = "300px", retry: float = 1.0,
                 retry_max: float = 30.0, max_entries: int = 200, **kwargs: Any) -> None:
        problem = envelope.client_id_problem(name)
        if name == NAME_PLACEHOLDER:  # pasted from the classroom's line as it was printed
            problem = ("it stands for your own name: put yours in its place, such as "
                       "name=\"ada_l\"")
        if problem is not None:
            raise ValueError(f"cannot use the name {name!r}: {problem}")
        address = socket_url(url, name, token)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "a ChatWidget receives messages on the running asyncio event loop: create it "
                "in a notebook cell (the Jupyter kernel runs a loop) or inside async code"
            ) from None

        #: The client id this widget chats as.
        self.name = name
        #: The socket's address (with the token, if any).
        self.socket_url = address
        #: What the log shows, oldest first: the server's messages as dicts, as received (chat
        #: lines ``{"message", "client_id", "timestamp"}``; system messages with ``"client_id":
        #: "system"`` and a ``"type"``); a frame that is not a JSON object (the lecture's
        #: plain-text relay) as ``{"type": "plain", "message": text, "timestamp"}``; and the
        #: widget's own notes as ``{"type": "note", "message", "timestamp", "error": bool}``.
        self.entries: list[dict[str, Any]] = []
        #: How many are online, as the server last said (None before it has said).
        self.participants: int | None = None
        #: The code and reason of the last close, once the connection has closed.
        self.close_code: int | None = None
        self.close_reason: str = ""

        self.max_entries = max_entries
        self.retry = retry
        self.retry_max = max(retry, retry_max)
        self.log_height = height
        self._loop = loop
        self._status = CONNECTING
        self._status_text = "connecting…"
        self._closing = False
        self._ws: ClientConnection | None = None
        #: The last error reply after which the server closes for good, on this connection.
        self._final_error: dict[str, Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._waiters: list[tuple[Callable[[ChatWidget], Any], asyncio.Future[Any]]] = []
        self._render_due = False
        self._last_render = -math.inf

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
        self.add_class(f"wslab-chat-{name}")
        self._render_header()
        self.render()

        _live.add(self)
        self._task: asyncio.Task[None] | None = loop.create_task(
            self._run(), name=f"ChatWidget {name!r}")

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

    async def send(self, text: str, *, timeout: float = 3.0) -> bool:  # type: ignore[override]
        """Send ``text`` as a chat line (``{"message": text}``); True once it is sent.

        While the widget is still connecting (or reconnecting), waits up to ``timeout``
        seconds for the connection. A line that cannot be sent is not an exception: the log
        says why, and the result is False. Blank text is not sent at all.
        """
        if not isinstance(text, str):
            raise TypeError(f"send() takes the text to send, not {type(text).__name__}")
        if not text.strip():
            return False
        socket = await self._connection(timeout)
        if socket is None:
            why = self.status_text
            if self.status != CLOSED:
                why = f"not connected: {why}"
            self.note(f"Not sent ({why}): {_preview(text)}", error=True)
            return False
        try:
            await socket.send(json.dumps({"message": text}, ensure_ascii=False))
        except ConnectionClosed:
            self.note(f"Not sent (the connection closed): {_preview(text)}", error=True)
            return False
        return True

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
        if not getattr(self, "_closing", True):  # (ipywidgets calls it on half-made widgets too)
            self._closing = True
            _live.discard(self)
            try:
                self._set_status(CLOSED, "closed")
                self.note("You closed this chat.")
            except Exception:  # noqa: BLE001  (Python shutting down: there is no one to tell)
                pass
            task = self._task
            if task is not None and not task.done():
                try:
                    if self._in_loop_thread():
                        task.cancel()
                    else:
                        self._loop.call_soon_threadsafe(task.cancel)
                except RuntimeError:  # the loop has closed already: nothing is running
                    pass
        return _Closing(getattr(self, "_task", None))

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
            value = predicate(self)
            if value:
                return value
            future = self._loop.create_future()
            waiter = (predicate, future)
            self._waiters.append(waiter)
            try:
                return await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(
                    f"{self.name}: waited {timeout:g} s for {what or 'the condition'}, in vain. "
                    f"Status: {self.status_text}; {self.participants} online. The log's last "
                    f"lines: {[_plain_line(entry) for entry in self.entries[-5:]]}") from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        finally:
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
        if (message.get("client_id") == envelope.SYSTEM and isinstance(count, int)
                and not isinstance(count, bool) and count >= 0):
            self.participants = count
            self._render_header()
        self.add_entry(message)

    def add_entry(self, entry: dict[str, Any]) -> None:
        """Append ``entry`` to the log (dropping the oldest beyond ``max_entries``)."""
        self.entries.append(entry)
        if len(self.entries) > self.max_entries:
            del self.entries[: len(self.entries) - self.max_entries]
        self._schedule_render()
        self._changed()

    # -- drawing ------------------------------------------------------------------------------

    def render(self) -> None:
        """Redraw the log now (it is otherwise redrawn at most every 0.05 s)."""
        self._render_due = False
        self._last_render = self._loop.time()
        lines = "".join(self._rendered(entry) for entry in self.entries)
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
        if kind == "chat":
            sender = str(entry.get("client_id"))
            own = sender == self.name
            who = "You" if own else _escape(sender)
            return (f'<div class="wslab-line {"wslab-own" if own else "wslab-other"}">'
                    f'<div class="wslab-meta"><span class="wslab-who">{who}</span>'
                    f'<span class="wslab-time">{time}</span></div>'
                    f'<div class="wslab-text">{text}</div></div>')
        extra = " wslab-error" if kind == "error" else " wslab-note" if kind == "note" else ""
        return (f'<div class="wslab-line wslab-system{extra}"><span class="wslab-text">{text}'
                f'</span><span class="wslab-time">{time}</span></div>')

    def _render_header(self) -> None:
        count = "– online" if self.participants is None else f"{self.participants} online"
        stale = "" if self._status == CONNECTED else " wslab-stale"
        status = _escape(self._status_text)
        self.header_html.value = (
            f'{_STYLE}<div class="wslab-head">'
            f'<span class="wslab-name" title="{_escape(self.socket_url.split("?")[0])}">'
            f'{_escape(self.name)}</span>'
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
        self._changed()

    # -- the connection -----------------------------------------------------------------------

    async def _run(self) -> None:
        """The receive loop: connect, show what arrives, reconnect with backoff, until closed."""
        attempt = 0           # reconnects tried since the last stable connection
        ever_connected = False
        try:
            while True:
                if ever_connected or attempt:
                    self._set_status(RECONNECTING, "reconnecting…")
                else:
                    self._set_status(CONNECTING, "connecting…")
                opened_at, code, reason = await self._connect_once()
                if isinstance(code, int):
                    self.close_code, self.close_reason = code, reason
                if opened_at is not None:
                    ever_connected = True
                    if self._loop.time() - opened_at >= STABLE_SECONDS:
                        attempt = 0
                if code in POLICY_CLOSES or code == "final":
                    self._stop_for_good(code, reason)
                    return
                if opened_at is not None:
                    self.note(f"Disconnected: {describe_close(code, reason)}.")
                elif attempt == 0 and not ever_connected:
                    self.note(f"Cannot reach the chat server at {self.socket_url.split('?')[0]}: "
                              f"{reason}. Retrying…", error=True)
                await self._wait_before_retry(attempt)
                attempt += 1
        except asyncio.CancelledError:
            if not self._closing:  # cancelled by someone else: the loop is ending
                self._finish("closed: the event loop stopped")
            raise
        except Exception as exc:  # a bug must not become a traceback in some random cell
            self.note(f"The connection stopped on an unexpected error: {_describe(exc)}",
                      error=True)
            self._finish(f"closed: {_describe(exc)}")
        finally:
            self._ws = None

    async def _connect_once(self) -> tuple[float | None, Any, str]:
        """One connection, from handshake to close: ``(opened_at or None, code, reason)``.

        ``code`` is the close code, None when no connection was made (the reason says why), or
        ``"final"`` for a refusal that retrying cannot fix.
        """
        try:
            async with connect(self.socket_url, open_timeout=OPEN_TIMEOUT,
                               close_timeout=CLOSE_TIMEOUT, proxy=proxy_for(self.socket_url),
                               logger=_socket_logger) as socket:
                opened_at = self._loop.time()
                self._ws = socket
                self._final_error = None
                self._set_status(CONNECTED, "connected")
                try:
                    async for frame in socket:
                        self._receive(frame)
                except ConnectionClosed:
                    pass
                finally:
                    self._ws = None
                return (opened_at, *settled_close(socket.close_code, socket.close_reason or "",
                                                  self._final_error))
        except InvalidStatus as exc:
            status = exc.response.status_code
            reason = f"the server answered HTTP {status} instead of opening a WebSocket"
            if 400 <= status < 500 and status not in (408, 429):
                return None, "final", f"{reason}: is this the chat server's address?"
            return None, None, reason
        except InvalidURI as exc:
            return None, "final", str(exc)
        except (OSError, asyncio.TimeoutError, InvalidHandshake) as exc:
            return None, None, connect_problem(exc)

    def _receive(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            message: dict[str, Any] = {"type": "plain", "timestamp": envelope.timestamp(),
                                       "message": f"(a binary frame of {len(frame)} bytes)"}
        else:
            self._final_error = final_error(frame) or self._final_error
            try:
                data = json.loads(frame)
            except ValueError:
                data = None
            if isinstance(data, dict):
                message = data
            else:
                message = {"type": "plain", "message": frame, "timestamp": envelope.timestamp()}
        try:
            self.handle(message)
        except Exception as exc:
            self.note(f"{type(self).__name__}.handle() failed: {_describe(exc)}", error=True)
        self._changed()  # what a subclass's handle() changed after super().handle() counts too

    async def _wait_before_retry(self, attempt: int) -> None:
        # Exponential backoff with jitter: a whole class reconnecting after a server restart
        # spreads out instead of arriving in the same instant.
        ceiling = min(self.retry_max, self.retry * 2 ** attempt)
        delay = ceiling / 2 + random.random() * ceiling / 2
        deadline = self._loop.time() + delay
        while (left := deadline - self._loop.time()) > 0:
            self._set_status(RECONNECTING, f"reconnecting in {math.ceil(left)} s")
            await asyncio.sleep(min(left, 1.0))

    def _stop_for_good(self, code: Any, reason: str) -> None:
        if code == "final":
            why = reason
        elif code == envelope.CLOSE_REPLACED:
            why = f"the name {self.name} connected again elsewhere"
        else:
            why = reason or describe_close(code, "")
        said = [entry for entry in self.entries[-3:] if _kind(entry) == "error"]
        if not any(str(entry.get("message", "")).lower().startswith(why.lower()[:60])
                   for entry in said):
            advice = (" (in another tab or notebook of yours, or someone else chose it too: "
                      "then pick another name)" if code == envelope.CLOSE_REPLACED else "")
            self.note(f"Disconnected for good: {why}{advice}", error=True)
        self._finish(f"closed: {why}")

    def _finish(self, text: str) -> None:
        self._closing = True
        _live.discard(self)
        self._set_status(CLOSED, text)

    async def _connection(self, timeout: float) -> ClientConnection | None:
        if self._status not in (CONNECTED, CLOSED):
            try:
                await self.wait_for(lambda chat: chat.status in (CONNECTED, CLOSED), timeout)
            except TimeoutError:
                return None
        return self._ws if self._status == CONNECTED else None

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
            sent = await self.send(text)
        except Exception as exc:  # never a traceback from a button
            self.note(f"Not sent: {_describe(exc)}", error=True)
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

    def _changed(self) -> None:
        """Resolve every waiter whose predicate now holds."""
        for predicate, future in list(self._waiters):
            if future.done():
                continue
            try:
                value = predicate(self)
            except Exception as exc:
                future.set_exception(exc)
            else:
                if value:
                    future.set_result(value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self._status_text} ({self.socket_url})>"


def describe_close(code: Any, reason: str) -> str:
    """A close code and reason in words, such as "the server is restarting"."""
    what = CLOSE_CODE_MEANINGS.get(code, f"the connection closed (code {code})")
    return f"{what}: {reason}" if reason else what


def _kind(entry: dict[str, Any]) -> str:
    """How an entry is drawn: ``chat``, ``system``, ``error`` or ``note``."""
    kind = entry.get("type")
    if kind == "note":
        return "error" if entry.get("error") else "note"
    if kind == "error":
        return "error"
    sender = entry.get("client_id")
    if kind is None and isinstance(sender, str) and sender != envelope.SYSTEM:
        return "chat"
    return "system"


def _plain_line(entry: dict[str, Any]) -> str:
    sender = entry.get("client_id")
    prefix = f"{sender}: " if _kind(entry) == "chat" else ""
    return f"{prefix}{entry.get('message', '')}"


def _escape(value: Any) -> str:
    return html.escape(value if isinstance(value, str) else json.dumps(value, default=str))


def _preview(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# The widget's look. A <style> element inside an HTML widget applies to the whole page, so
# every rule is scoped to the .wslab-chat class the widget carries. Colours are fixed rather
# than taken from the JupyterLab theme, so the chat reads the same in light and dark themes.
_STYLE = """<style>
.wslab-chat {
  box-sizing: border-box; padding: 10px 12px 12px; gap: 8px;
  border: 1px solid #d5dae1; border-radius: 10px; background: #fff; color: #222;
  font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 13px;
  box-shadow: 0 1px 3px rgba(0, 0, 0, 0.06);
}
.wslab-chat .widget-html { margin: 0; width: 100%; height: auto; }
.wslab-chat .widget-html > .widget-html-content { line-height: 1.35; align-self: stretch; }
.wslab-head { display: flex; align-items: center; gap: 8px; min-width: 0; }
.wslab-name { font-weight: 600; font-size: 14px; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; margin-right: auto; }
.wslab-status { display: inline-flex; align-items: center; gap: 6px; padding: 2px 9px;
  border-radius: 999px; font-size: 12px; font-weight: 600; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; max-width: 220px; }
.wslab-status-text { overflow: hidden; text-overflow: ellipsis; }
.wslab-dot { width: 8px; height: 8px; border-radius: 50%; background: currentColor;
  flex: none; }
.wslab-connected { color: #1b5e20; background: #e3f3e4; }
.wslab-connecting, .wslab-reconnecting { color: #8a5300; background: #fff1d6; }
.wslab-closed { color: #b71c1c; background: #fde8e8; }
.wslab-count { font-size: 12px; color: #444; background: #e8ebf0; padding: 2px 9px;
  border-radius: 999px; white-space: nowrap; }
.wslab-count.wslab-stale { opacity: 0.5; }
.wslab-log { display: flex; flex-direction: column-reverse; overflow-y: auto;
  box-sizing: border-box; border: 1px solid #e1e4e8; border-radius: 8px;
  background: #fafbfc; padding: 6px 8px; }
.wslab-log-lines { display: flex; flex-direction: column; gap: 5px; }
.wslab-empty { color: #999; text-align: center; font-size: 12px; padding: 8px; }
.wslab-line { max-width: 82%; padding: 5px 10px; border-radius: 10px; width: fit-content;
  overflow-wrap: anywhere; }
.wslab-line .wslab-text { white-space: pre-wrap; }
.wslab-meta { display: flex; gap: 8px; align-items: baseline; }
.wslab-who { font-weight: 600; font-size: 11.5px; }
.wslab-time { color: #8a8f98; font-size: 10.5px; white-space: nowrap; }
.wslab-own { align-self: flex-end; background: #dcecff; }
.wslab-own .wslab-who { color: #1a4f8b; }
.wslab-other { align-self: flex-start; background: #eef0f3; }
.wslab-other .wslab-who { color: #3d4450; }
.wslab-system { align-self: center; text-align: center; max-width: 92%; color: #666;
  font-size: 11.5px; padding: 2px 8px; }
.wslab-system .wslab-time { margin-left: 6px; }
.wslab-note { font-style: italic; }
.wslab-error { color: #a21515; background: #fdecec; border: 1px solid #f3c2c2;
  font-style: normal; }
.wslab-chat-input { gap: 6px; align-items: center; }
.wslab-chat-input .widget-text { margin: 0; }
.wslab-chat-input .widget-button { margin: 0; }
</style>"""
