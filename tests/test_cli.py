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
from wslab.__main__ import build_parser, main
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


@pytest.mark.parametrize("flag, value, problem", [
    ("--history", "-1", "history must be 0 (keep none) or more"),
    ("--history-minutes", "0", "history_minutes must be positive"),
    ("--history-on-join", "-5", "history_on_join must be 0 (off) or more"),
])
def test_bad_history_options_are_explained(flag, value, problem, capsys):
    assert main(["serve", flag, value]) == 2
    assert problem in capsys.readouterr().err


def test_the_history_options_are_in_their_own_group_of_the_help():
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]
    group = next(g for g in serve._action_groups if g.title == "history and resume")
    assert [a.option_strings[0] for a in group._group_actions] == [
        "--history", "--history-minutes", "--history-on-join"]
    assert all(action.help for action in group._group_actions)


async def test_the_history_options_reach_the_server(serve):
    """--history 3 keeps three chat lines (and the joins among them); --history-on-join 2 shows
    a newcomer two messages."""
    process, port, _ = serve("--history", "3", "--history-on-join", "2", "--rate-limit", "0")
    alice = await join(f"ws://127.0.0.1:{port}", "alice")
    for n in range(5):
        await alice.say(f"line {n}")
    for _ in range(5):
        await alice.chat_line()
    bob = await join(f"ws://127.0.0.1:{port}", "bob")
    earlier = await bob.silence(earlier=True)
    assert [(m["message"], m["history"]) for m in earlier] == [("line 3", True), ("line 4", True)]
    back = await join(f"ws://127.0.0.1:{port}", "alice", resume=alice.welcome["resume"],
                      epoch=alice.welcome["epoch"], after=alice.welcome["seq"])
    gap = await back.next()
    assert gap["type"] == "gap_too_old" and gap["missed"] == 2  # lines 0, 1; 2-4, bob kept
    process.send_signal(signal.SIGINT)
    await asyncio.to_thread(process.wait, 5)
