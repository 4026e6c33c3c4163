"""``wslab.child_process``: a real Python child, stopped for sure, its output at hand.

``AppProcess`` (test_app_process.py), the benchmark's children (test_bench.py) and the tests of
``python -m wslab serve`` (cli_process.py) are built on it; here are the cases they share.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable, Iterator

import pytest

from wslab.child_process import ChildProcess

pytestmark = pytest.mark.slow  # every test starts a child process

#: A child that says it is ready, then waits to be stopped; with "stubborn", it ignores SIGTERM;
#: with "done", it exits instead of waiting.
CHILD = """
import signal, sys, time
if "stubborn" in sys.argv:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
print("to stderr", file=sys.stderr, flush=True)
while "done" not in sys.argv:
    time.sleep(0.05)
"""

Start = Callable[..., ChildProcess]


@pytest.fixture
def start() -> Iterator[Start]:
    """Start children for a test; every one is killed afterwards, also when the test failed."""
    children: list[ChildProcess] = []

    def begin(*args: str, **options) -> ChildProcess:
        child = ChildProcess("test child", ["-c", CHILD, *args], **options)
        children.append(child)
        return child

    yield begin
    for child in children:
        child.stop(grace=0)


def test_it_runs_this_python_and_keeps_both_streams_in_its_log(start: Start) -> None:
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        child = start("done", log=log)
        assert child.proc.args[0] == sys.executable and child.pid == child.proc.pid
        assert child.proc.wait(10) == 0 and not child.running
        assert child.output().splitlines() == ["ready", "to stderr"]
        assert child.tail(1) == "to stderr"
        assert child.stop() == 0  # it has ended: nothing to stop


def test_stop_ends_it_gracefully_first(start: Start) -> None:
    child = start(stdout=subprocess.PIPE)
    assert child.proc.stdout.readline() == b"ready\n"
    assert child.running
    assert child.stop(grace=5) == -signal.SIGTERM
    assert child.proc.stdout.closed  # this side's pipes are closed too


def test_stop_kills_a_child_that_ignores_sigterm_after_the_grace_period(start: Start) -> None:
    child = start("stubborn", stdout=subprocess.PIPE)
    assert child.proc.stdout.readline() == b"ready\n"  # its SIGTERM handler is in place
    began = time.monotonic()
    assert child.stop(grace=0.5) == -signal.SIGKILL
    assert time.monotonic() - began >= 0.5
    assert child.stop() == -signal.SIGKILL  # again: nothing more to do


def test_grace_zero_kills_at_once_and_the_with_block_stops_it(start: Start) -> None:
    child = start(stdout=subprocess.PIPE)
    assert child.proc.stdout.readline() == b"ready\n"
    assert child.stop(grace=0) == -signal.SIGKILL
    with ChildProcess("in a with block", ["-c", CHILD], stdout=subprocess.PIPE) as child:
        assert child.proc.stdout.readline() == b"ready\n"
    assert child.proc.returncode == -signal.SIGTERM


def test_without_a_log_its_output_goes_nowhere_and_reads_empty(start: Start) -> None:
    child = start(stdout=subprocess.PIPE, text=True)
    assert child.proc.stdout.readline() == "ready\n"  # text pipes, when asked
    assert child.output() == "" and child.tail() == ""



@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_another_program_can_be_run_instead_of_python() -> None:
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        with ChildProcess("a shell", ["-c", "echo not python"], log=log,
                          program=shutil.which("sh")) as child:
            assert child.proc.wait(10) == 0
            assert child.proc.args[0] == shutil.which("sh")
            assert child.output() == "not python\n"
