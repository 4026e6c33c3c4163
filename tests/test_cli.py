"""``python -m wslab serve``: a real process, stopped with Ctrl-C (SIGINT) like a person would."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import websockets

from peers import join, still_chatting


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve():
    """Start ``python -m wslab serve ARGS``; wait until it answers; kill it if a test did not."""
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
            if "Press Ctrl-C" in line:
                break
        while time.monotonic() < deadline:
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


async def test_ctrl_c_closes_every_client_cleanly_and_exits(serve):
    process, port, _ = serve()
    alice = await join(f"ws://127.0.0.1:{port}", "alice")
    bob = await join(f"ws://127.0.0.1:{port}", "bob")
    await still_chatting(alice, bob)
    process.send_signal(signal.SIGINT)
    for peer in (alice, bob):
        code, _ = await peer.closed(timeout=5)
        assert code in (1001, 1012)
    assert await asyncio.to_thread(process.wait, 5) == 0
    output = process.stdout.read()
    assert "Traceback" not in output


async def test_beyond_loopback_a_token_is_made_up_printed_and_required(serve):
    process, port, banner = serve("--host", "0.0.0.0")
    text = "".join(banner)
    token = re.search(r"join token: (\S+)", text).group(1)
    assert f":{port}/chat?token={token}" in text
    outsider = await websockets.connect(f"ws://127.0.0.1:{port}/ws/mallory")
    error = json.loads(await asyncio.wait_for(outsider.recv(), 3))
    assert error["code"] == "bad_token"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(f"ws://127.0.0.1:{port}/ws/page?token={token}",
                                 origin="http://evil.example")
    assert refused.value.response.status_code == 403
    alice = await join(f"ws://127.0.0.1:{port}", f"alice?token={token}")
    assert alice.welcome["user"] == "alice"


def test_bad_arguments_are_explained():
    result = subprocess.run([sys.executable, "-m", "wslab", "serve", "--max-message-bytes", "0"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "max_message_bytes must be at least 1" in result.stderr
