"""Python clients for the kit's chat server: two tasks on one connection, and reconnecting.

Elective E3 builds these up step by step; the kit keeps the finished pieces here:

- :func:`run_until_first_done` runs a sender and a receiver together and, when the first of
  them ends, cancels the other (``asyncio.TaskGroup`` cancels the others only when one
  *fails*, not when one simply returns).
- :func:`chat_line` reads one frame from the server as ``(sender, text)`` or None, and
  :func:`receive_chat` collects chat lines with it.
- :func:`backoff` is the delay before a reconnect: exponential, capped, with random jitter,
  the same rule as the ``/chat`` page's.
- :class:`ChatClient` is a client that stays in the chat: a background task on the running
  event loop that reconnects after the server restarts, stops for good after a refusal that
  retrying cannot fix (close codes 1008 and 4409, HTTP 4xx), and keeps a log of what it did
  instead of printing into whichever notebook cell happens to be running::

      py = ChatClient(server.ws_url, "py")
      await py.say("hello")
      await py.watch(until=lambda client: ("py", "hello") in client.heard)
      await py.close()
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, Callable
from urllib.parse import quote, urlencode, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from wslab import envelope

__all__ = ["ChatClient", "FINAL_ERRORS", "POLICY_CLOSES", "backoff", "chat_line", "close_all",
           "connect_problem", "describe_close", "final_error", "proxy_for", "receive_chat",
           "run_until_first_done", "settled_close", "settled_close_code", "socket_url"]

#: Close codes after which reconnecting would only repeat the problem (a wrong join token, a
#: bad name) or fight the newer connection that took this name over.
POLICY_CLOSES = frozenset({envelope.CLOSE_POLICY_VIOLATION, envelope.CLOSE_REPLACED})
#: Error replies the server sends just before such a close. They matter when the close code
#: does not arrive: jupyter-server-proxy, for one, passes the close on without its code.
FINAL_ERRORS = frozenset({"bad_token", "bad_client_id", "replaced"})

#: What the close codes a chat client meets mean, in words.
CLOSE_MEANINGS = {
    1000: "closed normally",
    1001: "the server is going away",
    1006: "the connection was lost without a close frame",
    1009: "a message was too big for the server",
    1011: "the server had an internal error",
    1012: "the server is restarting",
    envelope.CLOSE_POLICY_VIOLATION: "refused by the server (policy violation)",
    envelope.CLOSE_TOO_SLOW: "this client could not keep up with the chat",
    envelope.CLOSE_REPLACED: "the same name connected again elsewhere",
}

# ChatClient's states (its ``status``).
CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
CLOSED = "closed"

#: Every ChatClient still running (see :func:`close_all`).
_running: set[ChatClient] = set()


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

def chat_line(frame: str | bytes) -> tuple[str, str] | None:
    """One frame from the chat server as ``(sender, text)``, or None when it is not chat.

    A JSON object without ``"type"`` is a chat line; one with a ``"type"`` is the server's own
    (welcome, join, disconnect, error, pong). Text that is not JSON is the lecture's plain-text
    relay, ``Client alice: hello``. The text is returned as it came: it is data, not HTML.
    """
    if isinstance(frame, bytes):
        return None
    try:
        data = json.loads(frame)
    except ValueError:
        if frame.startswith("Client ") and ": " in frame:
            sender, text = frame[len("Client "):].split(": ", 1)
            return sender, text
        return None
    if isinstance(data, dict) and "type" not in data and "message" in data:
        return str(data.get("client_id")), str(data["message"])
    return None


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


# -- reconnecting ------------------------------------------------------------------------------

def backoff(attempt: int, first: float = 0.5, cap: float = 10.0) -> float:
    """Seconds to wait before reconnect number ``attempt`` (0 for the first reconnect).

    The ceiling doubles with every attempt, from ``first`` up to ``cap``; the delay is a random
    point between half the ceiling and the ceiling, so that a whole class that lost the server
    at the same moment does not come back at the same moment.
    """
    ceiling = min(cap, first * 2 ** min(attempt, 60))  # 2 ** 60 is past any cap: no overflow
    return ceiling / 2 + random.random() * ceiling / 2


def describe_close(code: int | None, reason: str = "") -> str:
    """A close code and reason in words, such as ``1012 (the server is restarting)``."""
    if code is None:
        return "no close code"
    what = CLOSE_MEANINGS.get(code, "")
    text = f"{code} ({what})" if what else str(code)
    return f"{text}: {reason}" if reason else text


def final_error(frame: str | bytes) -> dict[str, Any] | None:
    """``frame`` as a dict when it is an error reply whose code is in :data:`FINAL_ERRORS`."""
    try:
        data = json.loads(frame)
    except (TypeError, ValueError):
        return None
    if isinstance(data, dict) and data.get("type") == "error" and data.get("code") in FINAL_ERRORS:
        return data
    return None


def settled_close(code: int | None, reason: str,
                  error: dict[str, Any] | None) -> tuple[int | None, str]:
    """The close code and reason to act on, given the last final ``error`` reply (or None)."""
    if error is None:
        return code, reason
    return settled_close_code(code, error["code"]), reason or str(error.get("message", ""))


def settled_close_code(code: int | None, error: str | None) -> int | None:
    """The close code to act on: ``code``, unless a final ``error`` reply came first.

    After ``bad_token`` or ``bad_client_id`` the server closes with 1008, after ``replaced``
    with 4409; when a proxy drops that code, the error reply still says which it was.
    """
    if code in POLICY_CLOSES or error not in FINAL_ERRORS:
        return code
    return envelope.CLOSE_REPLACED if error == "replaced" else envelope.CLOSE_POLICY_VIOLATION


def socket_url(url: str, name: str, token: str | None = None) -> str:
    """The address of ``name``'s socket on the chat server at ``url``.

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
    address = f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/ws/{quote(name, safe='')}"
    return address + (f"?{urlencode({'token': token})}" if token else "")


class ChatClient:
    """A chat participant that stays in the chat: it reconnects by itself, with backoff.

    It runs as a task on the event loop that is running when it is created (in a notebook,
    the kernel's), so it receives while your cells go on. It never prints: what happens is
    logged in :attr:`events`, which :meth:`watch` prints as it happens, in the cell that
    awaits it.

    Arguments:
        url: the server's address (``server.ws_url`` or ``server.url``).
        name: the client id.
        token: the server's join token, if it needs one.
        backoff: ``backoff(attempt) -> seconds``, the delay before reconnect number
            ``attempt`` (0, 1, 2, ...); :func:`backoff` by default.
        stable: a connection that lasted this many seconds was a good one, and the next
            outage starts the delays from attempt 0 again. (A server that accepts and at once
            closes, again and again, would otherwise be retried at the shortest delay forever.)
    """

    def __init__(self, url: str, name: str, *, token: str | None = None,
                 backoff: Callable[[int], float] = backoff, stable: float = 10.0,
                 open_timeout: float = 5.0) -> None:
        problem = envelope.client_id_problem(name)
        if problem is not None:
            raise ValueError(f"cannot use the name {name!r}: {problem}")
        self.name = name
        self.url = socket_url(url, name, token)
        self.backoff = backoff
        self.stable = stable
        self.open_timeout = open_timeout
        #: ``"connecting"``, ``"connected"``, ``"reconnecting"`` or ``"closed"``.
        self.status = CONNECTING
        #: The chat lines heard, oldest first, as ``(sender, text)``: your own included.
        self.heard: list[tuple[str, str]] = []
        #: Every message heard, as received (text).
        self.messages: list[str] = []
        #: What happened, as ``(seconds since the client started, text)``: connected, heard,
        #: connection closed, reconnecting in ...
        self.events: list[tuple[float, str]] = []
        #: How many connections were opened (reconnects included).
        self.connections = 0
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._watched = 0  # how many events watch() has printed
        self._ws: ClientConnection | None = None
        self._final_error: dict[str, Any] | None = None  # a final error reply, this connection
        self._closing = False
        self._changed = asyncio.Event()
        _running.add(self)
        self._task = self._loop.create_task(self._run(), name=f"ChatClient {name!r}")

    @property
    def connected(self) -> bool:
        return self.status == CONNECTED

    # -- the connection loop

    async def _run(self) -> None:
        attempt = 0                                  # reconnects since the last good connection
        try:
            while True:
                opened_at, code, reason = await self._connect_once()
                if self._closing:
                    return
                if code == "final":                  # a refused handshake: retrying cannot help
                    self._finish(f"stopped for good: {reason}")
                    return
                if code in POLICY_CLOSES:            # 1008, 4409: nor can it help here
                    self._finish(f"stopped for good: {describe_close(code, reason)}")
                    return
                if opened_at is not None and self._loop.time() - opened_at >= self.stable:
                    attempt = 0
                delay = self.backoff(attempt)
                attempt += 1
                self._set(RECONNECTING, f"reconnecting in {delay:.1f} s (attempt {attempt})")
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a backoff function, say: logged, never printed
            self._finish(f"stopped on an error: {type(exc).__name__}: {exc}")
        finally:
            _running.discard(self)

    async def _connect_once(self) -> tuple[float | None, Any, str]:
        """One connection, handshake to close: ``(opened_at or None, close code, reason)``.

        The code is None when no connection was made (``reason`` says why), and ``"final"``
        when the server refused the handshake in a way retrying cannot fix.
        """
        try:
            async with connect(self.url, open_timeout=self.open_timeout, close_timeout=1,
                               proxy=proxy_for(self.url)) as ws:
                opened_at = self._loop.time()
                self._ws = ws
                self._final_error = None
                self.connections += 1
                self._set(CONNECTED, f"connected as {self.name}")
                try:
                    async for frame in ws:           # until the connection closes
                        self._receive(frame)
                except ConnectionClosed:
                    pass
                finally:
                    self._ws = None
            code, reason = settled_close(ws.close_code, ws.close_reason or "", self._final_error)
            if not self._closing:
                self._note(f"connection closed: {describe_close(code, reason)}")
            return opened_at, code, reason
        except InvalidStatus as exc:
            status = exc.response.status_code
            why = f"the server answered HTTP {status} instead of opening a WebSocket"
            self._note(f"connect failed: {why}")
            final = 400 <= status < 500 and status not in (408, 429)
            return None, "final" if final else None, why
        except (OSError, asyncio.TimeoutError, InvalidHandshake) as exc:
            why = connect_problem(exc)
            self._note(f"connect failed: {why}")
            return None, None, why

    def _receive(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            return
        self.messages.append(frame)
        self._final_error = final_error(frame) or self._final_error
        line = chat_line(frame)
        if line is not None:
            self.heard.append(line)
            self._note(f"heard {line[0]}: {line[1]}")
        self._changed.set()

    # -- what a cell can do

    async def say(self, text: str, timeout: float = 5.0) -> None:
        """Send ``text`` as a chat line, waiting up to ``timeout`` s for a connection."""
        if not await self.wait_until(lambda client: client.status in (CONNECTED, CLOSED),
                                     timeout):
            raise TimeoutError(f"{self.name} has not been connected for {timeout:g} s, so "
                               f"{text!r} was not sent (status: {self.status})")
        ws = self._ws
        if ws is None:
            raise ConnectionError(f"{self.name} is {self.status}: {text!r} was not sent")
        await ws.send(json.dumps({"message": text}))

    async def wait_until(self, predicate: Callable[[ChatClient], Any],
                         timeout: float = 5.0) -> bool:
        """Wait until ``predicate(client)`` is true; False if it is not within ``timeout`` s."""
        deadline = self._loop.time() + timeout
        while not predicate(self):
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return bool(predicate(self))
        return True

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
            for at, text in self.events[self._watched:]:
                print(f"{at:6.1f} s  {self.name}: {text}")
            self._watched = len(self.events)
            if done:
                return
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                if until is None:
                    return
                raise TimeoutError(f"{self.name}: what was awaited did not happen within "
                                   f"{timeout:g} s (status: {self.status})")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

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
            self._finish("closed")

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<ChatClient {self.name!r} {self.status} ({self.url.split('?')[0]})>"

    # -- bookkeeping

    def _note(self, text: str) -> None:
        self.events.append((self._loop.time() - self._started, text))
        self._changed.set()

    def _set(self, status: str, text: str) -> None:
        self.status = status
        self._note(text)

    def _finish(self, text: str) -> None:
        self._closing = True
        _running.discard(self)
        self._set(CLOSED, text)


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
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def proxy_for(url: str) -> Any:
    """No HTTP proxy for a server on this computer; otherwise the system's (websockets' default)."""
    host = (urlsplit(url).hostname or "").lower()
    return None if host in ("127.0.0.1", "localhost", "::1") else True
