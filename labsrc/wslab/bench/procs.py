"""Child processes, and what the benchmark reads about them from ``/proc``.

Every server and every receiver group runs in its own process, so that the server has a Python
interpreter (and a GIL) to itself, and so that its memory can be read from outside. Three rules
keep a benchmark run from leaving anything behind, even when it fails or is interrupted:

- every child is started by :class:`Child`, a context manager that stops it on the way out
  (SIGTERM, then SIGKILL after a grace period: :class:`wslab.child_process.ChildProcess`),
  whatever the exit path;
- every child gets a pipe as stdin and exits when that pipe closes, so that even a coordinator
  killed with SIGKILL takes its children with it (:func:`exit_when_parent_goes`);
- every child listens or connects on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import queue
import resource
import socket
import subprocess
import threading
import time
from typing import IO, Sequence

from wslab.child_process import LOG, ChildProcess

_TICKS = os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> int:
    """Raise this process's open-file soft limit to its hard limit: 1000 sockets need 1000 fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def wait_for_port(host: str, port: int, timeout: float, child: "Child | None" = None) -> None:
    """Wait until something accepts TCP connections on ``host:port``; bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if child is not None and child.proc.poll() is not None:
            raise RuntimeError(f"{child.label} exited with {child.proc.returncode} before "
                               f"listening:\n{child.tail()}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:g} s")
            time.sleep(0.05)


def rss_kib(pid: int) -> int:
    """Resident memory of a process, in KiB (``VmRSS`` in ``/proc/<pid>/status``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (``/proc/stat``), for "other load"."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    # guest time is already counted in user time: leave it out.
    return (sum(fields[:8]) - idle) / _TICKS


def wait_until_quiet(max_wait: float, threshold: float = 0.1, sample: float = 0.5) -> float:
    """Wait (at most ``max_wait`` seconds) until the machine's other processes use less than
    ``threshold`` of a core; return the last share seen. Call it while none of ours run."""
    deadline = time.monotonic() + max_wait
    while True:
        before = machine_busy_seconds()
        time.sleep(sample)
        busy = (machine_busy_seconds() - before) / sample
        if busy < threshold or time.monotonic() >= deadline:
            return busy


def exit_when_parent_goes() -> None:
    """In a child: exit as soon as stdin (a pipe from the coordinator) reaches end of file."""
    def watch() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class Child(ChildProcess):
    """A benchmark's child process, always stopped when the ``with`` block ends.

    Output goes to ``log`` (a file) unless the caller asks for a pipe; ``stdin`` is always a
    pipe, so the child can tell when the coordinator is gone. The child runs in its own session:
    a Ctrl-C in the terminal reaches only the coordinator, which then stops its children in
    order instead of every process printing its own traceback.
    """

    def __init__(self, label: str, args: Sequence[str], *, log: IO[bytes] | None = None,
                 stdout_pipe: bool = False, devnull_stdout: bool = False) -> None:
        stdout = subprocess.PIPE if stdout_pipe else subprocess.DEVNULL if devnull_stdout else LOG
        super().__init__(label, args, log=log, stdin=subprocess.PIPE, stdout=stdout,
                         new_session=True)

    def tell(self, text: str) -> None:
        """Write one line to the child's stdin (how a coordinator says "go")."""
        self.proc.stdin.write(f"{text}\n".encode())
        self.proc.stdin.flush()


class Lines:
    """A child's stdout, read line by line by a thread, so that waiting for one has a timeout."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self.queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self.child.proc.stdout:
                self.queue.put(line.decode())
        except (OSError, ValueError):  # closed by Child.stop() while this was reading
            pass
        self.queue.put("")

    def next(self, timeout: float) -> str:
        """The next line, stripped; a RuntimeError with the child's log after ``timeout`` s."""
        try:
            line = self.queue.get(timeout=timeout)
        except queue.Empty:
            line = ""
        if not line:
            raise RuntimeError(f"{self.child.label} said nothing within {timeout:g} s:\n"
                               f"{self.child.tail()}")
        return line.strip()
