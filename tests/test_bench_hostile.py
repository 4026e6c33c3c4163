"""``python -m wslab.bench.hostile`` runs and prints its figures for both servers.

It asserts no timing: only that each attack ran against each server, and what the kit's
server did (the flooder closed with 1008, no half-open handshake held).
"""

from __future__ import annotations

import ast
import sys

import pytest

from wslab.bench import hostile
from wslab.child_process import ChildProcess


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads memory from /proc")
def test_the_hostile_benchmark_prints_before_and_after(tmp_path):
    out = tmp_path / "out.txt"
    with out.open("w") as log:
        child = ChildProcess("python -m wslab.bench.hostile",
                             ["-m", "wslab.bench.hostile", "--seconds", "1"], stdout=log,
                             stderr=log)
        try:
            assert child.proc.wait(timeout=240) == 0, out.read_text()
        finally:
            child.stop(grace=0)
    text = out.read_text()
    figures: dict[str, list[dict]] = {}
    variant = None
    for line in text.splitlines():
        if line.split(":")[0] in hostile.VARIANTS:
            variant = line.split(":")[0]
        elif variant and ": {" in line:
            figures.setdefault(variant, []).append(ast.literal_eval(line.split(": ", 1)[1]))
    assert set(figures) == set(hostile.VARIANTS) and all(len(f) == 3 for f in figures.values())
    _, frames, half_open = figures["wslab"]
    assert frames["flooder_closed_with"] == 1008 and frames["lines_lost"] == 0
    assert half_open["still_held"] == 0
