"""Run ``uvicorn main:app`` as a process of its own, from a notebook cell, and stop it again.

The lecture serves its app the way every FastAPI project does: the code in ``main.py``, and
``uvicorn main:app`` in a terminal, which imports ``main.py``, finds the variable ``app`` in
it and serves it until Ctrl-C. :class:`AppProcess` runs exactly that command from a cell, so a
student sees the real workflow once without leaving the notebook::

    main_server = AppProcess("main:app").start()
    ...                      # talk to main_server.url and main_server.ws_url
    main_server.stop()

Each of its habits answers something a classroom runs into:

- It runs ``sys.executable -m uvicorn``: the Python of the kernel, with its packages, whatever
  the terminal's PATH says, on Windows as on Linux and macOS.
- It listens on a free port that it picks, not on 8000, which another student's server (or a
  server left over from an earlier try) may hold.
- :meth:`~AppProcess.start` returns once the server answers, and raises
  :class:`AppStartError` when it cannot start (no ``main.py`` there, no ``app`` in it, an
  exception while importing it), with the reason in words and the server's last log lines.
- The server's output goes to a log that :meth:`~AppProcess.print_logs` shows on demand.
- Running the start cell again stops the earlier process of the same name first, and every
  process still running is stopped when the kernel shuts down or restarts. (A kernel killed
  outright cannot do that: its server then runs on, on its own port, until stopped by hand.)

It is a tool for the lesson's one look at the real workflow: the other lessons serve the app
object of the notebook itself with :class:`~wslab.runner.BackgroundServer`.
"""

from __future__ import annotations

import atexit
import os
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import IO, NoReturn

from wslab.child_process import ChildProcess
from wslab.local_server import LocalServer
from wslab.ports import free_port

__all__ = ["AppProcess", "AppStartError", "stop_all"]

#: How many lines of its log a process keeps once it has stopped, and an error quotes.
LOG_LINES = 1000
ERROR_LOG_LINES = 15
#: What uvicorn prints once it listens (tests/test_app_process.py pins it).
READY_LINE = "Uvicorn running on"
#: How long stop() waits for uvicorn's graceful shutdown before it kills the process.
STOP_WAIT = 5.0
#: The last line of a traceback: ``KeyError: 'text'``, ``NotImplementedError: exercise: x``.
EXCEPTION_LINE = re.compile(
    r"^(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|NotFound)\b(?::.*)?$")


class AppStartError(RuntimeError):
    """The server could not start. The message says why, in words meant for a student."""


class AppProcess(LocalServer):
    """``uvicorn TARGET`` (such as ``main:app``) run in ``directory`` as a process of its own.

    ``directory`` is where uvicorn looks for the module, by default the current one (in a
    notebook: the notebook's folder). ``name`` tells processes apart: starting one stops the
    earlier process of the same name (by default the target and the directory).
    """

    def __init__(self, target: str = "main:app", *, directory: str | os.PathLike[str] | None = None,
                 host: str = "127.0.0.1", port: int | None = None, name: str | None = None,
                 start_timeout: float = 15.0) -> None:
        self.target = target
        self.directory = Path(directory if directory is not None else os.getcwd()).resolve()
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self.name = name or f"{target} in {self.directory}"
        self.start_timeout = start_timeout
        self._child: ChildProcess | None = None
        self._log: IO[bytes] | None = None  # the log file, while the process runs
        self._kept: list[str] = []  # the log, once the process has stopped

    # -- where it listens ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server has not been started: call .start() first")
        return self._port

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.running

    def command(self) -> list[str]:
        """The command the process runs (without the path of Python itself, shown as python)."""
        return ["python", "-m", "uvicorn", self.target, "--host", self.host,
                "--port", str(self._port if self._port is not None else "PORT")]

    # -- start and stop --------------------------------------------------------------------------

    def start(self) -> AppProcess:
        """Start the server; return once it answers. Raises :class:`AppStartError` if it cannot."""
        earlier = _running.get(self.name)
        if earlier is not None and earlier is not self:
            earlier.stop()
        self.stop()
        self._port = self._requested_port or free_port(self.host)
        self._log = tempfile.NamedTemporaryFile(prefix="wslab-app-", suffix=".log", delete=False)
        self._kept = []
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
        self._child = ChildProcess(f"uvicorn {self.target}", self.command()[1:], log=self._log,
                                   cwd=self.directory, env=env)
        _running[self.name] = self
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not self._child.running:
                self._fail(self._why_it_ended())
            # Ready once uvicorn says it listens, and the port answers. (A port that answers
            # is not enough: someone else may listen on it, and then uvicorn ends.)
            if READY_LINE in self._read_log_text() and self._answers():
                return self
            time.sleep(0.05)
        self._fail(f"uvicorn {self.target} did not answer within {self.start_timeout:g} s: "
                   "does importing the module run something that never ends (a loop, "
                   "uvicorn.run())?")

    def stop(self) -> None:
        """Stop the server (gracefully, then by force); keep its log for :meth:`print_logs`."""
        child, self._child = self._child, None
        if _running.get(self.name) is self:
            del _running[self.name]
        if child is None:
            return
        child.stop(STOP_WAIT)
        self._kept = child.output().splitlines()[-LOG_LINES:]
        log, self._log = self._log, None
        if log is not None:
            log.close()
            try:
                Path(log.name).unlink()
            except OSError:  # Windows: a process still holds it; the temp folder is cleaned later
                pass

    def _fail(self, reason: str) -> NoReturn:
        self.stop()
        tail = self.logs(ERROR_LOG_LINES)
        quoted = "\n".join(f"    {line}" for line in tail) if tail else "    (nothing)"
        raise AppStartError(f"{reason}\nThe server's last lines:\n{quoted}")

    def _why_it_ended(self) -> str:
        text = "\n".join(self._read_log())
        module, _, attribute = self.target.partition(":")
        if f'Could not import module "{module}"' in text:
            return (f"uvicorn found no {module}.py in {self.directory.name}/: write the file "
                    f"first (run its %%writefile cell), in the folder you start uvicorn from.")
        if f'Attribute "{attribute}" not found' in text:
            return (f"{module}.py has no variable {attribute}: uvicorn {self.target} serves the "
                    f"object named {attribute} in it, as in {attribute} = FastAPI().")
        if "address already in use" in text.lower() or "only one usage of each" in text.lower():
            return f"port {self._port} is taken by another program: start again for another."
        error = self.last_error()
        if error:
            return f"uvicorn {self.target} stopped while importing {module}.py: {error}"
        return f"uvicorn {self.target} stopped at once (exit code {self._exit_code()})."

    def _answers(self) -> bool:
        try:
            socket.create_connection((self.host, self.port), timeout=0.25).close()
            return True
        except OSError:
            return False

    def _exit_code(self) -> int | None:
        return None if self._child is None else self._child.proc.returncode

    # -- the log ---------------------------------------------------------------------------------

    def _read_log_text(self) -> str:
        return "\n".join(self._kept) if self._child is None else self._child.output()

    def _read_log(self) -> list[str]:
        return self._read_log_text().splitlines()

    def logs(self, last: int | None = 50) -> list[str]:
        """The last ``last`` lines of the server's output (None: all it kept)."""
        lines = self._read_log()
        return lines if last is None else lines[-last:] if last > 0 else []

    def last_error(self) -> str | None:
        """The last line of the latest traceback in the log, such as ``KeyError: 'text'``."""
        found = [line.strip() for line in self._read_log() if EXCEPTION_LINE.match(line.strip())]
        return found[-1] if found else None

    # -- shown in a cell -------------------------------------------------------------------------

    def __repr__(self) -> str:
        if self.running:
            state = f"running at {self.url}"
        elif self._port is None:
            state = "not started"
        else:
            state = "stopped"
        return f"<uvicorn {self.target}: {state}>"


_running: dict[str, AppProcess] = {}


def stop_all() -> None:
    """Stop every process started here that still runs (when the kernel shuts down)."""
    for process in list(_running.values()):
        process.stop()


atexit.register(stop_all)
