"""Smoke test of ``python -m wslab.bench.uvicorn_internals``: both servers run, every client
gets every line, both are measured, the report is printed, and no process is left behind.

No timing assertions: the figures depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from wslab.bench.uvicorn_internals import VARIANTS, RunResult, render


@pytest.mark.slow
def test_the_benchmark_measures_both_servers_and_leaves_nothing_running() -> None:
    # A marker in the environment, which every process the benchmark starts inherits.
    marker = uuid.uuid4().hex
    env = {**os.environ, "WSLAB_BENCH_SMOKE": marker}
    run = subprocess.run([sys.executable, "-m", "wslab.bench.uvicorn_internals", "--clients",
                          "5", "--lines", "4", "--window", "2", "--runs", "1"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    assert "5 clients x 4 lines (2 at a time), median of 1 runs each" in out
    for row in ("fan-out, deliveries/s", "server CPU per delivery", "server memory per client"):
        figures = out.split(row)[1].split("\n")[0].split()
        # private, public, ratio ("-" when a tiny run's CPU time rounds to nothing)
        assert figures[-1].endswith("x") or figures[-1] == "-", out
    assert out.split("fan-out, deliveries/s")[1].split("\n")[0].strip().endswith("x"), out
    for variant in VARIANTS:
        assert f"  {variant}: " in out
    leftovers = [environ.parent.name for environ in Path("/proc").glob("[0-9]*/environ")
                 if marker.encode() in _read(environ)]
    assert not leftovers


def test_the_report_puts_the_medians_side_by_side_as_a_ratio() -> None:
    results = {"private": [RunResult("private", speed, 10.0, 18.0, 50_000)
                           for speed in (900.0, 1000.0, 5000.0)],
               "public": [RunResult("public", speed, 40.0, 24.0, 51_000)
                          for speed in (400.0, 500.0, 100.0)]}
    report = render(results, 200, 200, 0)
    assert "200 clients x 200 lines (all at once), median of 3 runs each" in report
    assert "1,000" in report and "400" in report and "2.50x" in report  # medians, not means
    assert "0.25x" in report and "0.75x" in report


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
