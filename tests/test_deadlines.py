"""The tests' deadlines (``deadlines.py``) and the fast tier's guard (the root ``conftest.py``)."""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import deadlines

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("raw, scale", [("", 1.0), ("3", 3.0), (" 1.5 ", 1.5)])
def test_the_scale_comes_from_one_variable(monkeypatch, raw, scale):
    monkeypatch.setenv(deadlines.SCALE_VARIABLE, raw)
    try:
        assert importlib.reload(deadlines).scaled(2) == 2 * scale
    finally:
        monkeypatch.undo()
        importlib.reload(deadlines)


@pytest.mark.parametrize("raw, words", [("fast", "a number such as 3"), ("0.5", "1 or more")])
def test_a_scale_that_would_shorten_or_is_no_number_is_refused(monkeypatch, raw, words):
    monkeypatch.setenv(deadlines.SCALE_VARIABLE, raw)
    try:
        with pytest.raises(ValueError, match=words):
            importlib.reload(deadlines)
    finally:
        monkeypatch.undo()
        importlib.reload(deadlines)


def test_wait_until_returns_the_first_true_value():
    answers = iter([None, 0, "here"])
    assert deadlines.wait_until(lambda: next(answers), "an answer") == "here"


def test_wait_until_says_what_it_waited_for(monkeypatch):
    monkeypatch.setattr(deadlines, "TIMEOUT_SCALE", 1.0)
    with pytest.raises(AssertionError, match=r"waited 0.05 s for the log \(last seen: \[\]\)"):
        deadlines.wait_until(lambda: [], lambda: "the log", timeout=0.05)


async def test_eventually_polls_without_blocking_the_loop():
    ready = asyncio.Event()
    asyncio.get_running_loop().call_soon(ready.set)
    assert await deadlines.eventually(ready.is_set, "the event") is True


async def test_eventually_takes_a_coroutine_function():
    async def check():
        return "yes"

    assert await deadlines.eventually(check, "a coroutine's answer") == "yes"


async def test_at_once_tells_a_coroutine_that_waits():
    async def immediate():
        return 42

    async def waits():
        await asyncio.sleep(0)

    assert deadlines.at_once(immediate()) == 42
    with pytest.raises(AssertionError, match="waited for something"):
        deadlines.at_once(waits())


@pytest.mark.slow
def test_listening_sees_a_server():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        assert not deadlines.listening(port)
        server.listen()
        assert deadlines.listening(port)


FAST_TEST = """
import subprocess, socket, sys
import pytest

def test_starts_a_process():
    subprocess.run([sys.executable, "-c", "pass"])

def test_starts_a_server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()

def test_swallows_the_refusal():
    try:
        subprocess.run([sys.executable, "-c", "pass"])
    except BaseException:
        pass

@pytest.mark.slow
def test_marked_slow():
    subprocess.run([sys.executable, "-c", "pass"], check=True)

def test_fast():
    assert True
"""


@pytest.mark.slow
def test_a_fast_test_that_starts_a_process_or_a_server_fails(tmp_path):
    """The guard, in a pytest of its own: the fast tier stays free of servers and processes."""
    (tmp_path / "conftest.py").write_text((ROOT / "conftest.py").read_text(encoding="utf-8"))
    (tmp_path / "test_tier.py").write_text(FAST_TEST)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers = slow\n")  # none of the kit's
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:nbval", "-q", "-rfE",
         "test_tier.py"],
        capture_output=True, text=True, cwd=tmp_path, timeout=deadlines.scaled(120),
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"),
                                                          str(ROOT / "labsrc")])})
    out = done.stdout
    assert "this test started a process" in out and "this test started a server" in out, out
    for name in ("test_starts_a_process", "test_starts_a_server", "test_swallows_the_refusal"):
        assert f"test_tier.py::{name}" in out, out
    assert "test_marked_slow" not in out.split("short test summary")[-1], out
    assert "2 failed, 3 passed" in out and "3 errors" in out, out  # 3 teardowns: the breaches
