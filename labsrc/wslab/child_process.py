"""A Python child process that the kit starts and is sure to stop, with its output at hand.

Several parts of the kit run Python as a process of its own: ``uvicorn main:app`` from a
notebook cell (:class:`~wslab.app_process.AppProcess`), the benchmark's servers and clients
(:mod:`wslab.bench.procs`), and the tests of ``python -m wslab serve``. Each needs the same
three things, written once here:

- the child runs the kernel's own Python (``sys.executable``), whatever PATH says, and on
  Windows without a console window popping up (another program, such as ``redis-server``,
  can be named instead);
- :meth:`ChildProcess.stop` ends it for sure: SIGTERM first, so that uvicorn shuts down
  gracefully, then SIGKILL when it has not ended after a grace period;
- its output can go to a log file, whose last lines (:meth:`ChildProcess.tail`) go into the
  error message when the child did not do what it should.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Sequence

__all__ = ["LOG", "ChildProcess"]

#: For ``stdout`` or ``stderr``: the child's log file (or nothing, when it has none).
LOG = object()
#: How long :meth:`ChildProcess.stop` waits for the child to end after SIGKILL.
KILL_WAIT = 5.0


class ChildProcess:
    """``python ARGS`` as a child process; stopped on :meth:`stop` or at the end of a ``with``.

    ``program`` runs another executable than this Python (``redis-server``, say) with ``args``.

    ``log`` is an open binary file the child writes into: ``stdout`` and ``stderr`` go there
    by default (:data:`LOG`), or take what :class:`subprocess.Popen` takes (``PIPE``,
    ``STDOUT``, ``DEVNULL``). ``text`` makes the pipes text streams. ``new_session`` runs the
    child in a session of its own, out of reach of a Ctrl-C meant for this process.
    """

    def __init__(self, label: str, args: Sequence[str], *, log: IO[bytes] | None = None,
                 stdin: Any = subprocess.DEVNULL, stdout: Any = LOG, stderr: Any = LOG,
                 cwd: str | Path | None = None, env: dict[str, str] | None = None,
                 text: bool = False, new_session: bool = False,
                 program: str = sys.executable) -> None:
        self.label = label
        self.log = log
        self.proc: subprocess.Popen[Any] = subprocess.Popen(
            [program, *args], cwd=cwd, env=env, stdin=stdin,
            stdout=self._stream(stdout), stderr=self._stream(stderr), text=text,
            start_new_session=new_session,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))

    def _stream(self, choice: Any) -> Any:
        if choice is LOG:
            return self.log if self.log is not None else subprocess.DEVNULL
        return choice

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        """Everything written into the log so far ("" without a log)."""
        if self.log is None:
            return ""
        if not self.log.closed:
            self.log.flush()
        try:
            return Path(self.log.name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the log, for an error message."""
        return "\n".join(self.output().splitlines()[-lines:])

    def stop(self, grace: float = 3.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not ended after ``grace`` seconds (0: SIGKILL now).

        Closes this side's pipes too; returns the exit code. Calling it again does nothing more.
        """
        if self.proc.poll() is None:
            if grace > 0:
                self.proc.terminate()  # uvicorn shuts down gracefully; on Windows, ends at once
                try:
                    self.proc.wait(grace)
                except subprocess.TimeoutExpired:
                    pass
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(KILL_WAIT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        return self.proc.returncode

    def __enter__(self) -> ChildProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
