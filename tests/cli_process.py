"""``python -m wslab serve`` as a real process, for the tests of the command line.

``serve`` is a fixture: a test module imports it (``from cli_process import serve``) to use it.
``free_port`` is shared by every test that starts a server process of its own.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve():
    """Start ``python -m wslab serve ARGS``; wait until it answers; kill it if a test did not.

    Returns the process (its stdout and stderr merged, as text), its port, and the lines it
    printed up to "Press Ctrl-C".
    """
    processes: list[subprocess.Popen] = []

    def start(*args: str) -> tuple[subprocess.Popen, int, list[str]]:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "wslab", "serve", "--port", str(port), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(process)
        banner = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            banner.append(line)
            if "Press Ctrl-C" in line or not line:
                break
        while time.monotonic() < deadline and process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return process, port, banner
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the server did not start:\n" + "".join(banner))

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(5)
        process.stdout.close()


async def read_until(process: subprocess.Popen, text: str, timeout: float = 10) -> list[str]:
    """Read what the server prints until a line containing ``text``; return the lines read."""
    lines: list[str] = []
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
