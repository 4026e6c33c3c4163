"""``python -m wslab.bench.resume``, small, against the real server: every line said while the
clients were away reaches each of them once, by replay, whichever way they dropped.

No timing is asserted: only what came (lost, doubled, replayed, resumed), and that no process
outlived the run. The figures themselves are the README's, measured at the default size.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest

from deadlines import scaled
from wslab.child_process import ChildProcess
from wslab.settings import DEFAULT_HISTORY

CLIENTS, LINES = 10, 20


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads memory from /proc")
@pytest.mark.parametrize("drop", ["abrupt", "clean"])
def test_every_line_said_while_away_is_replayed_once(tmp_path: Path, drop: str) -> None:
    out, figures = tmp_path / "out.txt", tmp_path / "resume.json"
    # A marker in the environment, which every process the benchmark starts inherits.
    marker = uuid.uuid4().hex
    with out.open("wb") as log:
        child = ChildProcess("python -m wslab.bench.resume", [
            "-m", "wslab.bench.resume", "--clients", str(CLIENTS), "--lines", str(LINES),
            "--drop", drop, "--memory-sizes", "200", "--json", str(figures)],
            log=log, env={**os.environ, "WSLAB_BENCH_RESUME_TEST": marker})
        try:
            assert child.proc.wait(timeout=scaled(120)) == 0, out.read_text()
        finally:
            child.stop(grace=0)
    result = json.loads(figures.read_text())
    replay = result["replay"]
    assert result["options"]["history"] == DEFAULT_HISTORY  # the server's own default
    assert result["lost"] == 0 and result["doubled"] == 0, out.read_text()
    assert replay["lines"] == CLIENTS * LINES  # each line came marked replay, to each client
    assert replay["resumed"] == CLIENTS and replay["gap_too_old"] == 0
    assert replay["history_reset"] == 0 and not replay["errors"]
    assert result["live"]["lines"] == CLIENTS * LINES
    assert result["memory"][0]["entries"] == 200 and result["memory"][0]["bytes"] > 0
    text = out.read_text()
    assert "lines lost: 0, lines doubled: 0" in text and "replay / live" in text
    # No server outlived the run.
    leftovers = [environ.parent.name for environ in Path("/proc").glob("[0-9]*/environ")
                 if marker.encode() in _read(environ)]
    assert not leftovers


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
