"""``python -m wslab serve`` as a real process, for the tests of the command line.

``serve`` is a fixture, declared for every test by the root ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from deadlines import listening, scaled, wait_until
from wslab.child_process import ChildProcess
from wslab.ports import free_port

#: How long ``python -m wslab serve`` may take to answer (scaled).
START_TIMEOUT = 15


@pytest.fixture
def serve():
    """Start ``python -m wslab serve ARGS``; wait until it answers; kill it if a test did not.

    Returns the process (its stdout and stderr merged, as text), its port, and the lines it
    printed up to "Press Ctrl-C".
    """
    children: list[ChildProcess] = []

    def start(*args: str) -> tuple[subprocess.Popen, int, list[str]]:
        port = free_port()
        command = ["-m", "wslab", "serve", "--port", str(port), *args]
        child = ChildProcess("python -m wslab serve", command, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        children.append(child)
        process = child.proc
        banner = []
        deadline = time.monotonic() + scaled(START_TIMEOUT)
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            banner.append(line)
            if "Press Ctrl-C" in line or not line:
                break

        def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError("the server exited:\n" + "".join(banner))
            return listening(port)

        wait_until(answers, lambda: "the server to start:\n" + "".join(banner), START_TIMEOUT)
        return process, port, banner

    yield start
    for child in children:
        child.stop(grace=0)


async def read_until(process: subprocess.Popen, text: str, timeout: float = 10) -> list[str]:
    """Read what the server prints until a line containing ``text``; return the lines read.

    ``timeout`` is scaled."""
    lines: list[str] = []
    timeout = scaled(timeout)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not lines or text not in lines[-1]:
        try:
            line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline),
                                          max(0.01, deadline - loop.time()))
        except asyncio.TimeoutError:
            line = ""
        if not line:
            raise AssertionError(f"{text!r} not printed within {timeout:g} s; printed:\n"
                                 + "".join(lines))
        lines.append(line)
    return lines
