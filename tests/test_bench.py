"""Smoke test of ``python -m wslab.bench``: every server runs, delivers and is measured.

No timing assertions: the benchmark's numbers depend on the machine and on whatever else runs
on it. This only checks that the whole machinery works end to end (servers start, receivers
connect, the sender's lines arrive, the stalled client joins, memory is read, the report is
printed, every process is gone afterwards), in one short ``--quick`` run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from wslab.bench.servers import DEFAULT_SERVERS, SERVERS


def test_quick_benchmark_measures_every_server(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    # A marker in the environment, which every process the benchmark starts inherits.
    marker = f"WSLAB_BENCH_SMOKE={uuid.uuid4().hex}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    run = subprocess.run([sys.executable, "-m", "wslab.bench", "--quick", "--json", str(out)],
                         capture_output=True, text=True, timeout=110, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())

    baseline = {row["server"]: row for row in results["fanout"] if not row["stalled"]}
    stalled = {row["server"]: row for row in results["fanout"] if row["stalled"]}
    memory = {row["server"]: row for row in results["memory"]}
    for server in DEFAULT_SERVERS:
        row = baseline[server]
        assert not row["error"], (server, row["error"])
        assert row["deliveries_per_s"] > 0 and row["delivered"] > 0, row
        assert row["p50_ms"] > 0 and row["p99_ms"] > 0, row
        assert row["server_cpu"] > 0, row
        assert not stalled[server]["error"], (server, stalled[server]["error"])
        assert stalled[server]["delivered"] > 0, stalled[server]
        assert not memory[server]["error"], (server, memory[server]["error"])
        assert memory[server]["kib_per_connection"] > 0, memory[server]
        assert SERVERS[server].label in run.stdout
    assert "Targets" in run.stdout

    # No server or receiver outlived the run.
    leftovers = [environ.parent.name for environ in Path("/proc").glob("[0-9]*/environ")
                 if marker.encode() in _read(environ)]
    assert not leftovers, [_read(Path("/proc", pid, "cmdline")) for pid in leftovers]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
