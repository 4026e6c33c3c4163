"""Where a background server's log and ``print()`` output go: a buffer of its own per server.

A :class:`~wslab.runner.BackgroundServer` runs in a thread of the notebook's kernel, and
without this module everything it logs or prints would land in whichever cell happens to be
running. Here each server gets a :class:`ServerLog`, and while servers run, two routers divert
what a server's code logs (:class:`_LogRouter`) and prints (:class:`_PrintRouter`) into that
server's log. Everything else logged or printed in the process goes where it always went.

The server's thread declares itself with :func:`log_into`; :func:`start_capture` and
:func:`stop_capture` bracket the life of each server, and the routers are in place only while
at least one server runs.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
from collections import deque
from typing import Any

from wslab.quiet_log import quieten

__all__ = ["CAPTURED_LOGGERS", "LOG_LINES", "ServerLog", "log_into", "start_capture",
           "stop_capture"]

#: How many lines of its log each server keeps (older lines are dropped).
LOG_LINES = 1000
#: The loggers whose records a server keeps to itself: uvicorn's, the kit's, and asyncio's
#: (asyncio reports a failed task of the server's loop, such as a forgotten broadcast task).
CAPTURED_LOGGERS = ("uvicorn", "wslab", "asyncio")


class ServerLog(logging.Handler):
    """The last :data:`LOG_LINES` lines of one server's log.

    A record is kept as its formatted lines, so a traceback counts as many lines and the quote
    in a :class:`~wslab.runner.ServerStartError` ends with the exception's own line.
    """

    def __init__(self, maxlen: int = LOG_LINES) -> None:
        super().__init__()
        quieten([self])  # one offender's warnings, a few at a time
        self.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
        self.lines: deque[str] = deque(maxlen=maxlen)
        #: Lines ever written: ``count`` before and after a moment tells which lines are new.
        self.count = 0
        #: The exception of the latest record that carried one: what a start error chains to.
        self.last_exception: BaseException | None = None
        #: The last line of the latest traceback logged, such as ``RuntimeError: no database``.
        self.last_error_line: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception as exc:
            # logging would print its complaint to stderr, that is into the running cell:
            # a record the app got wrong (logger.info("%d", "abc")) is noted here instead.
            text = (f"(a log record from {record.name} could not be formatted: {exc!r}; "
                    f"message {record.msg!r}, arguments {record.args!r})")
        lines = text.splitlines() or [""]
        self._add(lines)
        if record.exc_info and record.exc_info[1] is not None:
            self.last_exception = record.exc_info[1]
        if record.levelno >= logging.ERROR and len(lines) > 1 and lines[-1][:1].strip():
            # A traceback, whether logged with exc_info or as text (Starlette reports a failed
            # lifespan so): its last line names the exception.
            self.last_error_line = lines[-1].strip()

    def begin_run(self) -> int:
        """The server starts again: forget its earlier run's error, and return the mark that
        :meth:`tail` takes as ``since`` for the lines of this run only."""
        self.last_exception = None
        self.last_error_line = None
        return self.count

    def note(self, message: str, source: str) -> None:
        """Add a line from ``source`` (a logger's name, or ``print``), from any thread."""
        self.handle(logging.LogRecord(source, logging.INFO, __file__, 0, message, None, None))

    def tail(self, last: int | None, since: int = 0) -> list[str]:
        """The last ``last`` lines (None: all) of those written since ``count`` was ``since``."""
        with self.lock:  # type: ignore[union-attr]  # Handler.handle() writes under this lock
            newer = min(len(self.lines), self.count - since)
            wanted = newer if last is None else max(0, min(last, newer))
            return list(self.lines)[len(self.lines) - wanted:] if wanted else []

    def _add(self, lines: list[str]) -> None:
        self.lines.extend(lines)
        self.count += len(lines)


#: The log buffer of the server whose code is running, seen by its thread, every task of its
#: loop, and every worker thread it hands a call to (Starlette runs a plain ``def`` endpoint in
#: a worker thread, in a copy of the caller's context).
_current_log: contextvars.ContextVar[ServerLog | None] = contextvars.ContextVar(
    "wslab_server_log", default=None)


class _LogRouter(logging.Handler):
    """While servers run, the one handler of :data:`CAPTURED_LOGGERS`.

    A record logged on behalf of a server (see ``_current_log``) goes to that server's
    buffer; any other record goes exactly where it would have gone without the router: to the
    handlers the logger had, then, if it propagated, to the root logger's.

    Why take the loggers over instead of filtering: a filter on a logger does not see the
    records of its children (``uvicorn.error``, ``wslab.chat``), and a filter on the root's
    handlers would have to be added to handlers that the kernel, pytest or the student own. So
    while at least one server runs, the router replaces the handlers of these few top-level
    loggers and turns their propagation off, and when the last server stops it puts everything
    back as it found it. A process that runs its server from the command line never creates a
    :class:`BackgroundServer`, so its logging is never touched.

    While servers run, the ``wslab`` logger gets the servers' log level if it had none: else
    the app's ``logger.info()`` lines would be dropped (the root logger's level is WARNING).
    """

    def __init__(self) -> None:
        super().__init__()
        self._users = 0
        self._lock = threading.Lock()
        # logger name -> (its handlers, its propagate, its level) before the router came
        self._saved: dict[str, tuple[list[logging.Handler], bool, int]] = {}
        self._level_given: int | None = None  # the level given to "wslab", if the router did

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        # Overridden rather than emit(): Handler.handle() would hold the router's lock while
        # other handlers run, and the buffers and those handlers each lock for themselves.
        if not self.filter(record):
            return False
        buffer = _current_log.get()
        if buffer is not None:
            buffer.handle(record)
        else:
            self._pass_on(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)

    def _pass_on(self, record: logging.LogRecord) -> None:
        top = record.name.partition(".")[0]
        handlers, propagate, _level = self._saved.get(top, ([], True, logging.NOTSET))
        if propagate:
            handlers = [*handlers, *logging.getLogger().handlers]
        for handler in handlers:
            if record.levelno >= handler.level:
                handler.handle(record)
        last_resort = logging.lastResort
        if not handlers and last_resort is not None and record.levelno >= last_resort.level:
            last_resort.handle(record)

    def attach(self, level: int) -> None:
        """A server starts: take the loggers over if it is the first."""
        with self._lock:
            if self._users == 0:
                self._take_over()
            self._users += 1
            if self._saved["wslab"][2] == logging.NOTSET:
                logging.getLogger("wslab").setLevel(level)
                self._level_given = level

    def detach(self) -> None:
        """A server stopped: give the loggers back if it was the last."""
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._give_back()

    def _take_over(self) -> None:
        for name in CAPTURED_LOGGERS:
            log = logging.getLogger(name)
            handlers = list(log.handlers)
            self._saved[name] = (handlers, log.propagate, log.level)
            for handler in handlers:
                log.removeHandler(handler)
            log.addHandler(self)
            log.propagate = False

    def _give_back(self) -> None:
        for name, (handlers, propagate, level) in self._saved.items():
            log = logging.getLogger(name)
            log.removeHandler(self)
            added_meanwhile = list(log.handlers)
            for handler in added_meanwhile:
                log.removeHandler(handler)
            for handler in handlers + [h for h in added_meanwhile if h not in handlers]:
                log.addHandler(handler)
            log.propagate = propagate
            if name == "wslab" and self._level_given is not None and log.level == self._level_given:
                log.setLevel(level)  # unless the student has set a level meanwhile
        self._saved.clear()
        self._level_given = None


_router = _LogRouter()


class _PrintRouter:
    """While servers run, ``sys.stdout`` and ``sys.stderr``: a server's ``print()`` goes to its log.

    The lecture's code (and a student's first version of it) reports with ``print()``. In a
    kernel, a print from the server's thread lands in whichever cell happens to be running, so
    each stream is wrapped: a write made on behalf of a server (see ``_current_log``) becomes
    lines of that server's log, and every other write goes to the stream as before. When the
    last server stops, a stream is unwrapped unless someone has replaced it meanwhile.
    """

    def __init__(self) -> None:
        self._users = 0
        self._lock = threading.Lock()

    def attach(self) -> None:
        with self._lock:
            if self._users == 0:
                sys.stdout = _ServerAwareStream(sys.stdout)
                sys.stderr = _ServerAwareStream(sys.stderr)
            self._users += 1

    def detach(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                for name in ("stdout", "stderr"):
                    stream = getattr(sys, name)
                    if isinstance(stream, _ServerAwareStream):
                        setattr(sys, name, stream.wrapped)


class _ServerAwareStream:
    """A text stream that diverts a server's writes into that server's log, line by line."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped
        self._partial: dict[int, str] = {}  # an unfinished line, per server log

    def write(self, text: str) -> int:
        buffer = _current_log.get()
        if buffer is None:
            return self.wrapped.write(text)
        pending = self._partial.pop(id(buffer), "") + text
        *lines, rest = pending.split("\n")
        for line in lines:
            buffer.note(line, source="print")
        if rest:
            self._partial[id(buffer)] = rest
        return len(text)

    def flush(self) -> None:
        if _current_log.get() is None:
            self.wrapped.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


_printer = _PrintRouter()


def log_into(log: ServerLog) -> None:
    """Called in a server's thread: what this thread logs or prints from now on goes to ``log``.

    So does what every task of its loop and every worker thread it hands a call to logs or
    prints, as they run in copies of this thread's context.
    """
    _current_log.set(log)


def start_capture(level: int) -> None:
    """A server starts: route the loggers and the print streams, if it is the first to run.

    ``level`` is the server's log level, given to the ``wslab`` logger if it has none.
    """
    _router.attach(level)
    _printer.attach()


def stop_capture() -> None:
    """A server stopped: put the loggers and the print streams back, if it was the last."""
    _router.detach()
    _printer.detach()
