"""Run a uvicorn server in a background thread, for notebooks and tests.

A Jupyter kernel already runs an asyncio loop in its main thread, so a cell cannot call
``uvicorn.run()``: that starts a loop of its own and takes over Ctrl-C. A
:class:`BackgroundServer` gives uvicorn a thread and a loop of its own instead, and the cell
goes on::

    server = BackgroundServer(app).start()
    async with connect(server.ws_url + "/ws/alice") as ws:
        ...
    server.stop()

Each of its habits answers something a workshop runs into:

- :meth:`~BackgroundServer.start` returns once the server accepts connections, and raises
  :class:`ServerStartError`, quoting the server's last log lines, when it cannot start: a busy
  port, an app whose startup code fails, a startup that never ends.
- Re-running the cell that starts a server replaces the earlier server of the same name instead
  of failing with "address already in use" and leaving the earlier one running unreachable.
- The server's log goes into a buffer that :meth:`~BackgroundServer.print_logs` shows on demand,
  not into whichever cell happens to be running when the server logs something (how: see
  :mod:`wslab.log_capture`).
- The kernel's Interrupt button interrupts the cell, never the server: uvicorn handles signals
  only when it runs in the main thread.
- Every server still running is stopped when the kernel shuts down.
"""

from __future__ import annotations

import asyncio
import atexit
import errno
import logging
import socket
import sys
import threading
import time
import warnings
from typing import Any

import uvicorn
from uvicorn.config import LOG_LEVELS

from wslab.errors import describe_exception
from wslab.local_server import LocalServer
from wslab.log_capture import ServerLog, log_into, start_capture, stop_capture
from wslab.serving import uvicorn_config

__all__ = ["BackgroundServer", "ServerStartError", "stop_all"]

#: How many lines of its log (see :mod:`wslab.log_capture`) a :class:`ServerStartError` quotes.
ERROR_LOG_LINES = 15

# How long stop() waits at each step. uvicorn looks at should_exit every 0.1 s, then closes
# every connection (WebSocket clients get 1012) and waits for the app's handlers to return.
_GRACEFUL_WAIT = 0.6
# force_exit: stop waiting for connections and skip the app's shutdown code.
_FORCED_WAIT = 0.3
# Cancel the server's main task: the way out of a startup that never ends.
_CANCEL_WAIT = 0.3

logger = logging.getLogger(__name__)


class ServerStartError(RuntimeError):
    """The server could not start. The message says why, in words meant for a student."""


# -- the server ---------------------------------------------------------------------------------


class _ThreadServer(uvicorn.Server):
    """uvicorn's server, plus :meth:`cancel` for the one case its flags cannot handle.

    ``should_exit`` and ``force_exit`` are read by uvicorn's main loop, which only begins once
    the app's startup code has finished: a startup that never finishes is ended by cancelling
    the server's main task, from the thread that gave up waiting for it.
    """

    _loop: asyncio.AbstractEventLoop | None = None
    _main_task: asyncio.Task[Any] | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._main_task = asyncio.current_task()
        await super().serve(sockets=sockets)

    def cancel(self) -> None:
        loop, task = self._loop, self._main_task
        if loop is None or task is None:
            return
        try:
            loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:  # the loop is closed: the server is over already
            pass


#: The running servers by name: what lets a re-run cell find the server it started before.
_registry: dict[str, BackgroundServer] = {}
_registry_lock = threading.RLock()


class BackgroundServer(LocalServer):
    """A uvicorn server for ``app`` that runs in a daemon thread of its own.

    ``port=0`` lets the system pick a free port (see :attr:`port`). ``name`` identifies the
    server across re-runs of a notebook cell: starting a server stops any running server of the
    same name first, so give two servers that must run side by side different names.
    ``log_level`` is uvicorn's (``"debug"``, ``"info"``, ``"warning"``, ...), and applies to the
    app's ``wslab`` loggers as well. ``start_timeout`` is how long :meth:`start` waits for the
    app's startup code. Any other keyword is a uvicorn setting that replaces the kit's own
    (see :func:`wslab.serving.uvicorn_config`), such as ``ws_ping_interval=2``.

    Use :meth:`start` and :meth:`stop`, or a ``with`` block.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, *,
                 name: str = "default", log_level: str = "info",
                 start_timeout: float = 10.0, **uvicorn_options: Any) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be a number from 0 to 65535 (0: pick a free one), "
                             f"not {port!r}")
        if not isinstance(log_level, str) or log_level.lower() not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
        self.app = app
        self.host = host
        self.name = name
        self.log_level = log_level
        self.start_timeout = start_timeout
        self.uvicorn_options = uvicorn_options
        self._requested_port = port
        self._port = port  # the port listened on last, once start() has bound one
        self._log = ServerLog()
        self._log_mark = 0  # the log's line count when the current run started
        self._server: _ThreadServer | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._attached = False
        self._has_run = False  # whether start() ever got as far as a port
        self._outcome: BaseException | None = None  # how the server thread ended, if not normally

    # -- where it is

    @property
    def port(self) -> int:
        """The port the server listens on (or last did); before start(), the one requested."""
        return self._port

    @property
    def running(self) -> bool:
        """True while the server accepts connections."""
        server, thread = self._server, self._thread
        return (server is not None and thread is not None and thread.is_alive()
                and server.started and not server.should_exit)

    # -- starting and stopping

    def start(self) -> BackgroundServer:
        """Start serving, and return once the server accepts connections.

        The listening socket is bound here, in the caller's thread, so a port that cannot be
        used fails at once, with a message that says what to do. Any running server of the
        same name is stopped first, and so is a running server holding the requested port:
        re-running a cell replaces its server. Calling start() on a running server does nothing.

        Raises :class:`ServerStartError` when the port cannot be used, when the app's startup
        code fails, or when the server has not started after ``start_timeout`` seconds.
        """
        with _registry_lock:
            if self.running:
                return self
            self.stop()  # what is left of an earlier run that ended by itself
            _make_room_for(self)
            self._socket = _listen(self.host, self._requested_port)
            self._port = self._socket.getsockname()[1]
            self._has_run = True
            _registry[self.name] = self
            try:
                start_capture(_level_number(self.log_level))
                self._attached = True
                self._launch()
                self._wait_until_started()
            except BaseException:
                self.stop(graceful=False)
                raise
            self._log.note(f"Uvicorn running on {self.url} in a background thread "
                           f"(server {self.name!r}; stop it with .stop())", source=logger.name)
            return self

    def stop(self, *, graceful: bool = True) -> None:
        """Stop the server, within about a second; calling it again does nothing.

        Gracefully, uvicorn stops accepting, closes every WebSocket with 1012 (service restart)
        and runs the app's shutdown code. A server that has not finished after a moment is
        made to stop without waiting any longer, then cancelled. ``graceful=False`` cancels at
        once.
        """
        if self._thread is threading.current_thread():  # the app stopping its own server:
            if self._server is not None:  # the thread cannot wait for itself to end
                self._server.should_exit = True
            return
        with _registry_lock:
            if self._thread is not None:
                self._end_thread(graceful)
            if self._socket is not None:
                self._socket.close()
                self._socket = None
            if self._attached:
                stop_capture()
                self._attached = False
            if _registry.get(self.name) is self:
                del _registry[self.name]
            self._thread = None

    def _launch(self) -> None:
        config = uvicorn_config(self.app, host=self.host, port=self._port,
                                log_level=self.log_level, **self.uvicorn_options)
        self._server = _ThreadServer(config)
        self._outcome = None
        self._log_mark = self._log.begin_run()
        self._thread = threading.Thread(target=self._serve, args=(self._server, self._socket),
                                        name=f"wslab server {self.name!r}", daemon=True)
        self._thread.start()

    def _serve(self, server: _ThreadServer, sock: socket.socket) -> None:
        """The server thread: uvicorn's whole life, with its log kept in this server's buffer."""
        log_into(self._log)
        try:
            server.run(sockets=[sock])
        except SystemExit as exc:  # how uvicorn gives up on a failed startup, after logging why
            self._outcome = exc
        except BaseException as exc:  # kept for start(), instead of printed into a cell
            self._outcome = exc
            if not isinstance(exc, asyncio.CancelledError):
                logger.error("The server thread stopped on an error", exc_info=exc)

    def _wait_until_started(self) -> None:
        """Wait for uvicorn's ``started`` flag, watching the thread and the clock.

        Waiting on the flag alone would hang forever when the thread dies first: when the app's
        startup code fails, uvicorn logs why and calls ``sys.exit()``, which ends only its own
        thread.
        """
        server, thread = self._server, self._thread
        assert server is not None and thread is not None
        deadline = time.monotonic() + self.start_timeout
        while not server.started:
            if not thread.is_alive():
                raise ServerStartError(self._why_it_died(server)) from self._log.last_exception
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerStartError(
                    f"server {self.name!r} did not start within {self.start_timeout:g} s: the "
                    f"app's startup code (its lifespan) may be waiting for something that never "
                    f"comes.{self._log_excerpt()}")
            thread.join(min(0.01, remaining))

    def _why_it_died(self, server: _ThreadServer) -> str:
        lifespan = getattr(server, "lifespan", None)
        cause = self._log.last_error_line
        if getattr(lifespan, "startup_failed", False) or getattr(lifespan, "error_occurred", False):
            what = "the app's startup code (its lifespan) failed"
            if cause:
                what += f" with {cause}"
        elif self._outcome is not None and not isinstance(self._outcome, SystemExit):
            what = f"the server thread stopped on {describe_exception(self._outcome)}"
        else:
            what = "uvicorn gave up while starting"
        return f"server {self.name!r} could not start: {what}.{self._log_excerpt()}"

    def _log_excerpt(self) -> str:
        lines = self._log.tail(ERROR_LOG_LINES, since=self._log_mark)
        if not lines:
            return ""
        quoted = "\n".join(f"    {line}" for line in lines)
        return f"\n\nThe server's last log lines (.print_logs() shows more):\n{quoted}"

    def _end_thread(self, graceful: bool) -> None:
        server, thread = self._server, self._thread
        assert server is not None and thread is not None
        if graceful and thread.is_alive():
            server.should_exit = True
            thread.join(_GRACEFUL_WAIT)
            if thread.is_alive():
                server.force_exit = True
                thread.join(_FORCED_WAIT)
        if thread.is_alive():
            server.cancel()
            thread.join(_CANCEL_WAIT)
        if thread.is_alive():
            warnings.warn(
                f"server {self.name!r} did not stop: its event loop seems blocked (a time.sleep() "
                f"or a long computation inside an async def?). Its thread ends with the kernel.",
                RuntimeWarning, stacklevel=3)

    # -- its log

    def logs(self, last: int | None = 50) -> list[str]:
        """The server's last ``last`` log lines (all it kept when None), oldest first."""
        return self._log.tail(last)

    # -- shown in a cell

    def __repr__(self) -> str:
        if self.running:
            state = f"running at {self.url}"
        elif self._thread is not None:
            state = "ended by itself: see .print_logs()"
        elif self._has_run:
            state = f"stopped (was {self.url})"
        else:
            state = f"not started, port {self._port}" if self._port else "not started"
        return f"<{type(self).__name__} {self.name!r} {state}>"


def stop_all() -> None:
    """Stop every running server. Registered with :mod:`atexit`, so a kernel shutdown runs it.

    Every server is asked to stop before any is waited for, so they stop together.
    """
    with _registry_lock:
        servers = list(_registry.values())
        for server in servers:
            if server._server is not None:
                server._server.should_exit = True
        for server in servers:
            server.stop()


atexit.register(stop_all)


# -- helpers ------------------------------------------------------------------------------------


def _make_room_for(new: BackgroundServer) -> None:
    """Stop the running server ``new`` replaces: same name, or the fixed port it asks for."""
    earlier = _registry.get(new.name)
    if earlier is not None and earlier is not new:
        earlier.stop()
    if new._requested_port:
        for other in list(_registry.values()):
            if other is not new and other._port == new._requested_port:
                other.stop()


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port``, for uvicorn to listen on.

    Bound as uvicorn binds: with SO_REUSEADDR, so a server restarted on the same port does not
    have to wait for the connections of the earlier one to time out. Not on Windows, where that
    option lets a second program bind a port that is in use; there SO_EXCLUSIVEADDRUSE makes a
    busy port fail as it does elsewhere.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # sockets that say they are TCP, and without that every keep-alive HTTP response after the
    # first waits about 40 ms for its body (uvicorn writes head and body separately).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if sys.platform == "win32":
            exclusive = socket.SO_EXCLUSIVEADDRUSE  # type: ignore[attr-defined]  # Windows only
            sock.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerStartError(_bind_problem(host, port, exc)) from exc
    return sock


def _bind_problem(host: str, port: int, exc: OSError) -> str:
    """What to tell a student whose server cannot bind ``host``:``port``."""
    code = exc.errno
    if code in _codes("EADDRINUSE", "WSAEADDRINUSE"):
        return (f"port {port} is already in use by another program: stop it, or use port=0 to "
                f"pick a free port")
    if code in _codes("EACCES", "WSAEACCES"):
        return (f"this computer does not let programs listen on port {port} (ports below 1024 "
                f"need administrator rights, and Windows reserves some ranges): use a port "
                f"above 1024, or port=0 to pick a free port")
    if isinstance(exc, socket.gaierror) or code in _codes("EADDRNOTAVAIL", "WSAEADDRNOTAVAIL"):
        return (f"cannot listen on host {host!r}: it is not an address of this computer. Use "
                f"host='127.0.0.1' (this computer only) or host='0.0.0.0' (every network)")
    return f"cannot listen on {host}:{port}: {exc}"


def _codes(*names: str) -> set[int]:
    return {getattr(errno, name) for name in names if hasattr(errno, name)}


def _level_number(level: str) -> int:
    return LOG_LEVELS[level.lower()]

