"""Python clients for the kit's chat server: two tasks on one connection, and reconnecting.

Elective E3 builds these up step by step; the kit keeps the finished pieces here:

- :func:`run_until_first_done` runs a sender and a receiver together and, when the first of
  them ends, cancels the other (``asyncio.TaskGroup`` cancels the others only when one
  *fails*, not when one simply returns).
- :func:`parse_frame` reads one frame from the server as a message (a dict), once, for every
  client of the kit; :func:`chat_line` says whether a frame is a chat line, ``(sender, text)``,
  and :func:`receive_chat` collects chat lines with it.
- :class:`ChatClient` is a client that stays in the chat: a background task on the running
  event loop that follows the kit's reconnect policy (``wslab.reconnect``: when to retry, how
  long to wait, which closes are final), catches up on what it missed while it was away
  (``wslab.catch_up``: each numbered line once, and "you missed some messages" when some never
  came), and keeps a log of what it did instead of printing into whichever notebook cell
  happens to be running::

      py = ChatClient(server.ws_url, "py")
      await py.say("hello")
      await py.watch(until=lambda client: ("py", "hello") in client.chat_lines)
      await py.close()

  ``ChatWidget`` (``wslab.widgets``) is a view of one: it draws what its ChatClient reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from typing import Any, Callable, Generator
from urllib.parse import quote, urlencode, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.uri import parse_uri

from wslab import envelope
from wslab.catch_up import CatchUp
from wslab.close_codes import FINAL_ERRORS, describe_close
from wslab.errors import describe_exception
from wslab.reconnect import CHAT_POLICY, ReconnectPolicy, Reconnects, Step
from wslab.resume import RESUME_PARAM
from wslab.waiting import Waiters

__all__ = ["CLOSED", "CONNECTED", "CONNECTING", "RECONNECTING", "ChatClient", "Event",
           "chat_line", "close_all", "connect_problem", "line_of", "parse_frame", "proxy_for",
           "receive_chat", "run_until_first_done", "socket_url"]

# The values of ChatClient.status.
CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
CLOSED = "closed"

# websockets logs what also reaches the client as a close code or an error. A handler of our
# own keeps Python from printing it into whichever notebook cell is running (its last resort);
# whoever configures logging still gets it.
_log = logging.getLogger(__name__)
_log.addHandler(logging.NullHandler())

#: Every ChatClient still running (see :func:`close_all`).
_running: set[ChatClient] = set()

#: The resume key the server gave the latest connection of each name in this process, by its
#: socket's address (without the query). In memory only, never printed: a ChatClient
#: reconnecting, or a new one for the same name (a re-run cell), sends it to prove the name is
#: its own, and takes the name over from the older connection (4409); any other client is
#: refused (``name_taken``). See ``wslab.resume``.
_resume_keys: dict[str, str] = {}


# -- two tasks on one connection -------------------------------------------------------------

async def run_until_first_done(*coroutines):
    """Run the coroutines together as tasks; when the first one ends, cancel the others.

    Returns the result of the one that ended first, or raises its exception. The others are
    cancelled *and awaited*, so their ``finally:`` blocks have run when this returns: nothing
    is left running that could still use the connection, or print into a later cell.
    """
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()  # does nothing to a task that has already ended
        await asyncio.gather(*tasks, return_exceptions=True)  # wait until they have stopped
    first = next(task for task in tasks if task in done)
    return first.result()  # the first one's return value, or its exception raised again



# -- reading what the server sends -----------------------------------------------------------

def parse_frame(frame: str | bytes) -> dict[str, Any]:
    """One frame from the chat server as a message: the JSON object it holds, as sent.

    A frame that is not a JSON object (the lecture's plain-text relay, ``Client alice: hello``)
    becomes ``{"type": "plain", "message": text, "timestamp"}``, and a binary frame one that
    says how long it was: a message is always a dict, and its text is data, never HTML.
    """
    if isinstance(frame, bytes):
        text = f"(a binary frame of {len(frame)} bytes)"
    else:
        try:
            data = json.loads(frame)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
        text = frame
    return {"type": "plain", "message": text, "timestamp": envelope.timestamp()}


def line_of(message: dict[str, Any]) -> tuple[str, str] | None:
    """A parsed message as a chat line ``(sender, text)``, or None when it is not chat.

    A JSON object without ``"type"`` is a chat line; one with a ``"type"`` is the server's own
    (welcome, join, disconnect, error, pong). The plain-text relay reads ``Client alice: hello``.
    """
    text = message.get("message")
    if "type" not in message and "message" in message:
        return str(message.get("client_id")), str(text)
    if (message.get("type") == "plain" and isinstance(text, str) and text.startswith("Client ")
            and ": " in text):
        sender, said = text[len("Client "):].split(": ", 1)
        return sender, said
    return None


def chat_line(frame: str | bytes) -> tuple[str, str] | None:
    """One frame from the chat server as ``(sender, text)``, or None when it is not chat."""
    return line_of(parse_frame(frame))


async def receive_chat(ws, count: int) -> list[tuple[str, str]]:
    """Receive until ``count`` chat lines have come; return them as ``(sender, text)`` pairs.

    System messages (welcome, join, errors, ...) are skipped, and the plain-text relay is read
    as a chat line. It returns as soon as it has ``count`` lines: it never waits for more.
    """
    lines: list[tuple[str, str]] = []
    while len(lines) < count:
        line = chat_line(await ws.recv())
        if line is not None:
            lines.append(line)
    return lines


# -- a client that stays in the chat -----------------------------------------------------------

def socket_url(url: str, client_id: str, token: str | None = None) -> str:
    """The address of ``client_id``'s socket on the chat server at ``url``.

    ``url`` is the server's address, ``ws://`` or ``http://`` (``server.ws_url`` or
    ``server.url``); a path in it (a server behind a proxy) is kept.

    >>> socket_url("http://127.0.0.1:8000", "py", token="s3cret")
    'ws://127.0.0.1:8000/ws/py?token=s3cret'
    """
    parts = urlsplit(url.strip())
    scheme = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}.get(parts.scheme.lower())
    if scheme is None or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"expected the chat server's address, such as ws://127.0.0.1:8000 "
                         f"(pass a join token as token=...), not {url!r}")
    address = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/ws/{quote(client_id, safe='')}"
    return address + (f"?{urlencode({'token': token})}" if token else "")


def with_resume_key(url: str, key: str | None, catch_up: dict[str, str] | None = None) -> str:
    """A socket's address (:func:`socket_url`) with a resume key added, when there is one, and
    with it the ``catch_up`` parameters (:meth:`wslab.catch_up.CatchUp.resume_params`)."""
    if not key:
        return url
    query = urlencode({RESUME_PARAM: key, **(catch_up or {})})
    return f"{url}{'&' if '?' in url else '?'}{query}"



@dataclasses.dataclass(frozen=True)
class Event:
    """One thing that happened to a :class:`ChatClient`: a line of its log, with what a view
    (``ChatWidget``) needs to draw it.

    ``kind`` is one of ``connected``, ``heard`` (``message``: what the server sent, parsed;
    never a line heard before), ``missed`` (``text``: "you missed some messages", and why; its
    ``message`` is the server's ``history_reset`` or ``gap_too_old`` when the server said so,
    None when numbers never came), ``disconnected`` (an open connection closed), ``failed`` (a
    connection could not be made), ``waiting`` (``step``: the wait before the next try) and
    ``stopped`` (for good: a final close or refusal, an unexpected error, or
    :meth:`ChatClient.close`). ``why`` is the reason in words, without the words around it in
    ``text``.
    """

    at: float  #: seconds since the client started
    kind: str
    text: str
    why: str = ""
    message: dict[str, Any] | None = None
    step: Step | None = None


class ChatClient:
    """A chat participant that stays in the chat: it reconnects by itself, by the kit's policy.

    It runs as a task on the event loop that is running when it is created (in a notebook,
    the kernel's), so it receives while your cells go on. It never prints: what happens is
    logged in :attr:`events`, which :meth:`watch` prints as it happens, in the cell that
    awaits it, and which ``listener`` (if given) gets as it happens.

    Arguments:
        url: the server's address (``server.ws_url`` or ``server.url``).
        client_id: who this client is in the chat.
        token: the server's join token, if it needs one.
        policy: the reconnect policy's numbers (``wslab.reconnect.CHAT_POLICY`` by default:
            1 s first, 30 s at most, a connection stable after 10 s).
        listener: called with every :class:`Event`, on the event loop; it must not block.

    **The connection loop** is websockets' ``async for ws in connect(...)``, which makes each
    connection and retries a connection that could not be made; this class adds what that
    loop leaves to its caller (see ``websockets.asyncio.client.connect.__aiter__``):

    - *after a close* it reconnects at once: here the policy decides whether to come back at
      all (1008 and 4409 are final) and how long to wait first;
    - it tells retryable failures from fatal ones with ``process_exception``, which by default
      gives up on every HTTP refusal but 5xx; here it is :meth:`_after_failure`, which asks the
      policy (408 and 429 are retried), logs the failure, and hands the policy's delay to the
      loop through ``reconnect_delays``: websockets' own delays are not the kit's rule;
    - it starts its delays afresh after every connection that opened; the policy does so only
      after a *stable* one, so a server that accepts and at once closes cannot make it spin;
    - it reconnects with the resume key of its name's last welcome (:meth:`_aim`), so after a
      Wi-Fi drop it takes its name back at once, where anyone else is refused ``name_taken``;
    - with the key go the epoch and the last number it saw (:attr:`catch_up`), so the server
      replays what was said while it was away; it drops a line it has heard already, and logs
      ``missed`` when lines never came (see ``wslab.catch_up``).
    """

    def __init__(self, url: str, client_id: str, *, token: str | None = None,
                 policy: ReconnectPolicy = CHAT_POLICY,
                 listener: Callable[[Event], None] | None = None) -> None:
        problem = envelope.client_id_problem(client_id)
        if problem is not None:
            raise ValueError(f"cannot use the name {client_id!r}: {problem}")
        address = socket_url(url, client_id, token)
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "a chat client receives messages on the running asyncio event loop: create it "
                "in a notebook cell (the Jupyter kernel runs a loop) or inside async code"
            ) from None
        self.client_id = client_id
        #: The socket's address (with the token, if any; never with the resume key).
        self.url = address
        #: Where this name's resume key is kept (:data:`_resume_keys`).
        self._name_address = socket_url(url, client_id)
        self.policy = policy
        #: ``"connecting"``, ``"connected"``, ``"reconnecting"`` or ``"closed"``.
        self.status = CONNECTING
        #: The chat lines heard, oldest first, as ``(client_id, text)``: your own included,
        #: each numbered line once.
        self.chat_lines: list[tuple[str, str]] = []
        #: Every message heard, parsed (:func:`parse_frame`), but repeats of numbered ones.
        self.messages: list[dict[str, Any]] = []
        #: Where this client stands in the room's numbered messages, across its reconnects.
        self.catch_up = CatchUp()
        #: What happened, oldest first: connected, heard, connection closed, reconnecting in...
        self.events: list[Event] = []
        #: How many connections were opened (reconnects included).
        self.connections = 0
        #: The code and reason of the last close (the code a final error reply announced, when
        #: a proxy dropped it), once a connection has closed.
        self.close_code: int | None = None
        self.close_reason = ""
        self._listener = listener
        self._started = self._loop.time()
        self._watched = 0  # how many events watch() has printed
        self._ws: ClientConnection | None = None
        #: The last error reply that announces a final close, on this connection.
        self._final_error: dict[str, Any] | None = None
        self._reconnects = Reconnects(policy)
        self._connections = connect(self.url, open_timeout=policy.open_timeout, close_timeout=1,
                                    proxy=proxy_for(self.url), logger=_log,
                                    process_exception=self._after_failure,
                                    reconnect_delays=self._delays)
        self._delay = 0.0  # the wait the policy gave for the last failed connection
        #: The failed connection after which the policy stopped, and why, in words.
        self._refused: tuple[Exception, str] | None = None
        self._closing = False
        self._waiters: Waiters[ChatClient] = Waiters(self, self._loop)
        _running.add(self)
        self._task = self._loop.create_task(self._run(), name=f"ChatClient {client_id!r}")

    @property
    def connected(self) -> bool:
        return self.status == CONNECTED

    # -- the connection loop

    async def _run(self) -> None:
        """Connect, hear, and after each close ask the policy what next, until it says stop."""
        self._aim()
        try:
            async with contextlib.aclosing(aiter(self._connections)) as opened:
                async for ws in opened:                  # one connection each time round
                    self._opened(ws)
                    with contextlib.suppress(ConnectionClosed):
                        async for frame in ws:           # until the connection closes
                            self._hear(parse_frame(frame))
                    self._ws = None
                    if self._closing:
                        return
                    step = self._after_close(ws)
                    if step.stop:
                        return
                    await asyncio.sleep(step.delay)
                    self._aim()                          # then connect() connects again
        except asyncio.CancelledError:
            if not self._closing:                        # the event loop is ending
                self._finish("the event loop stopped", "stopped: the event loop stopped")
            raise
        except Exception as exc:
            if self._refused is not None and exc is self._refused[0]:  # a final refusal
                self._finish(self._refused[1], f"stopped for good: {self._refused[1]}")
            else:  # a bug (in a listener, say): logged, never printed into a random cell
                why = describe_exception(exc)
                self._finish(why, f"stopped on an error: {why}")
        finally:
            self._ws = None
            _running.discard(self)

    def _opened(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._final_error = None
        self.connections += 1
        self._reconnects.opened(self._loop.time())
        self._emit("connected", f"connected as {self.client_id}", status=CONNECTED)

    def _aim(self) -> None:
        """Point the next connection at the socket with this name's latest resume key, and
        where this client stands in the room's numbered messages (:attr:`catch_up`).

        websockets' ``connect`` connects to its ``uri`` each time round (following a redirect,
        it changes ``uri`` and ``ws_uri`` the same way); the key changes with every welcome,
        the last number seen with every line.
        """
        uri = with_resume_key(self.url, _resume_keys.get(self._name_address),
                              self.catch_up.resume_params())
        self._connections.uri, self._connections.ws_uri = uri, parse_uri(uri)

    def _hear(self, message: dict[str, Any]) -> None:
        if message.get("type") == "welcome" and isinstance(message.get("resume"), str):
            _resume_keys[self._name_address] = message.pop("resume")
        take = self.catch_up.take(message)
        if not take.show and take.notice is None:        # a line heard before
            return
        self.messages.append(message)
        if message.get("type") == "error" and message.get("code") in FINAL_ERRORS:
            self._final_error = message
        if take.notice is not None:
            self._emit("missed", take.notice, message=None if take.show else message)
            if not take.show:
                return
        line = line_of(message)
        if line is not None:
            self.chat_lines.append(line)
        # A chat line as "sender: text", a message of the server's own as "type: text".
        who, text = line if line else (message.get("type"), message.get("message"))
        self._emit("heard", f"heard {who}: {text}", message=message)

    def _after_close(self, ws: ClientConnection) -> Step:
        """The policy's step after ``ws`` closed; logged, with the close in words."""
        error = self._final_error
        step = self._reconnects.after_close(self._loop.time(), ws.close_code,
                                            error and error.get("code"))
        self.close_code = step.code if step.stop else ws.close_code
        self.close_reason = ws.close_reason or (str(error.get("message", "")) if error else "")
        why = describe_close(self.close_code, self.close_reason)
        self._emit("disconnected", f"connection closed: {why}", why=why,
                   status=CLOSED if step.stop else RECONNECTING)
        if step.stop:
            self._finish(why, f"stopped for good: {why}")
        else:
            self._waiting(step)
        return step

    def _after_failure(self, exc: Exception) -> Exception | None:
        """websockets' ``process_exception``: a connection could not be made; None to retry.

        The policy decides; returning ``exc`` ends the loop, which raises it in :meth:`_run`.
        """
        if isinstance(exc, InvalidStatus):
            status = exc.response.status_code
            why = f"the server answered HTTP {status} instead of opening a WebSocket"
            step = self._reconnects.after_refusal(status)
        elif isinstance(exc, (OSError, asyncio.TimeoutError, InvalidHandshake)):
            why = connect_problem(exc)
            step = self._reconnects.after_failure()
        else:
            return exc                                   # not the network's doing: a bug
        self._emit("failed", f"connect failed: {why}", why=why,
                   status=CLOSED if step.stop else RECONNECTING)
        if step.stop:
            self._refused = (exc, why)
            return exc
        self._delay = step.delay
        self._waiting(step)
        self._aim()
        return None

    def _delays(self) -> Generator[float, None, None]:
        """websockets' ``reconnect_delays``: the wait :meth:`_after_failure` was just given."""
        while True:
            yield self._delay

    def _waiting(self, step: Step) -> None:
        self._emit("waiting", f"reconnecting in {step.delay:.1f} s (attempt {step.attempt})",
                   step=step, status=RECONNECTING)

    # -- what a cell can do

    async def say(self, text: str, timeout: float = 5.0) -> None:
        """Send ``text`` as a chat line, waiting up to ``timeout`` s for a connection."""
        try:
            await self.wait_for(lambda client: client.status in (CONNECTED, CLOSED), timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.client_id} has not been connected for {timeout:g} s, so "
                               f"{text!r} was not sent (status: {self.status})") from None
        ws = self._ws
        if ws is None:
            raise ConnectionError(f"{self.client_id} is {self.status}: {text!r} was not sent")
        await ws.send(json.dumps({"message": text}, ensure_ascii=False))

    async def wait_for(self, predicate: Callable[[ChatClient], Any],
                       timeout: float = 5.0) -> Any:
        """Wait until ``predicate(client)`` is true; return its value.

        Raises TimeoutError, saying the client's status, when it is not within ``timeout`` s.
        """
        return await self._waiters.wait_for(
            predicate, timeout,
            lambda: f"{self.client_id}: waited {timeout:g} s in vain (status: {self.status})")

    async def watch(self, until: Callable[[ChatClient], Any] | None = None,
                    timeout: float = 5.0) -> None:
        """Print the client's events as they happen: until ``until(client)`` is true, or for
        ``timeout`` seconds when there is no ``until``.

        Starts with the events no earlier ``watch`` has printed; each line starts with the
        seconds since the client started. Raises TimeoutError when ``until`` is not true
        within ``timeout`` seconds.
        """
        deadline = self._loop.time() + timeout
        while True:
            done = until is not None and until(self)
            for event in self.events[self._watched:]:
                print(f"{event.at:6.1f} s  {self.client_id}: {event.text}")
            self._watched = len(self.events)
            if done:
                return
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                if until is None:
                    return
                raise TimeoutError(f"{self.client_id}: what was awaited did not happen within "
                                   f"{timeout:g} s (status: {self.status})")
            with contextlib.suppress(TimeoutError):  # something new to print, or the time up
                await self._waiters.wait_for(
                    lambda client: len(client.events) > client._watched, remaining, str)

    async def close(self) -> None:
        """Leave the chat: close the connection and stop reconnecting."""
        self._closing = True
        ws = self._ws
        if ws is not None:
            await ws.close()
        if not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.status != CLOSED:
            self._finish("", "closed")

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<ChatClient {self.client_id!r} {self.status} ({self.url.split('?')[0]})>"

    # -- bookkeeping

    def _emit(self, kind: str, text: str, *, why: str = "", status: str | None = None,
              message: dict[str, Any] | None = None, step: Step | None = None) -> None:
        """Log an event, set the status it leads to, tell the listener and the waiters."""
        if status is not None:
            self.status = status
        event = Event(self._loop.time() - self._started, kind, text, why, message, step)
        self.events.append(event)
        self._waiters.changed()
        if self._listener is not None:
            self._listener(event)

    def _finish(self, why: str, text: str) -> None:
        """Stop for good, logging ``text``; ``why`` is empty after :meth:`close`."""
        self._closing = True
        _running.discard(self)
        try:
            self._emit("stopped", text, why=why, status=CLOSED)
        except Exception:  # a listener that failed once already: the log has it all
            _log.exception("the listener of %r failed on its last event", self)


async def close_all() -> None:
    """Close every ChatClient still running (a notebook's clean-up cell, a test's teardown)."""
    for client in list(_running):
        await client.close()


def connect_problem(exc: BaseException) -> str:
    """Why a connection could not be opened, in words a student can act on."""
    if isinstance(exc, ConnectionRefusedError):
        return "nothing is listening there (is the server running?)"
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer within the time limit"
    return describe_exception(exc)


def proxy_for(url: str) -> Any:
    """No HTTP proxy for a server on this computer; otherwise the system's (websockets' default)."""
    host = (urlsplit(url).hostname or "").lower()
    return None if host in ("127.0.0.1", "localhost", "::1") else True
