"""``python -m wslab serve``: a real process, stopped with Ctrl-C (SIGINT) like a person would."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys

import pytest
import websockets

from cli_process import read_until
from peers import join, still_chatting


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


async def test_no_token_guessed_or_real_is_written_to_the_log(serve):
    """uvicorn logs every handshake with its address, query and all: the join token, every guess
    at it, and the resume key of a reconnect would land in the log. It shows ``***`` instead."""
    token, guess = "the-real-token-42", "a-guess-17"
    process, port, banner = serve("--host", "127.0.0.1", "--token", token, "--log-level", "info")
    outsider = await websockets.connect(f"ws://127.0.0.1:{port}/ws/mallory?token={guess}")
    assert json.loads(await asyncio.wait_for(outsider.recv(), 3))["code"] == "bad_token"
    alice = await join(f"ws://127.0.0.1:{port}", f"alice?token={token}")
    assert alice.welcome["user"] == "alice"
    key = alice.welcome["resume"]
    back = await join(f"ws://127.0.0.1:{port}", f"alice?token={token}&resume={key}")
    assert back.welcome["user"] == "alice"
    logged = await read_until(process, "/ws/alice?token=***&resume=")
    process.send_signal(signal.SIGINT)
    assert await asyncio.to_thread(process.wait, 5) == 0
    logged.append(process.stdout.read())
    log = "".join(logged)
    assert '"WebSocket /ws/mallory?token=***" [accepted]' in log
    assert '"WebSocket /ws/alice?token=***" [accepted]' in log
    assert '"WebSocket /ws/alice?token=***&resume=***" [accepted]' in log
    assert token not in log and guess not in log and key not in log
    assert f"join token: {token}" in "".join(banner)  # the banner, for the instructor, says it


@pytest.mark.slow
def test_bad_arguments_are_explained():
    result = subprocess.run([sys.executable, "-m", "wslab", "serve", "--max-message-bytes", "0"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "max_message_bytes must be at least 1" in result.stderr
