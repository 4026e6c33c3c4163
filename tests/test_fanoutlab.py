"""The fan-out laboratory of elective E7 measures what it claims to, on real sockets."""

from __future__ import annotations

import threading

import pytest

from wslab.bench.latency import percentile
from wslab.fanoutlab import FanoutRun, fanout_sweep
from wslab.lecture import ConnectionManager as LectureManager
from wslab.manager import ConnectionManager as SafeManager


@pytest.mark.parametrize(("latencies", "missing", "fraction", "expected"), [
    ([3.0, 1.0, 2.0], 0, 0.5, 2.0),
    ([3.0, 1.0, 2.0], 0, 1.0, 3.0),
    ([1.0, 2.0, 3.0], 1, 0.75, 3.0),
    ([1.0, 2.0, 3.0], 1, 0.76, None),
    ([], 0, 0.5, None),
    ([7.0], 0, 0.0, 7.0),
])
def test_percentile_counts_missing_deliveries_as_never(latencies, missing, fraction, expected):
    assert percentile(latencies, missing, fraction) == expected


def test_a_run_summarises_itself():
    run = FanoutRun("safe", 2, True, 2, [1.0, 2.0, 3.0], 1)
    assert run.expected == 4 and run.p50 == 2.0 and run.p99 is None
    assert "safe" in run.summary() and "+ 1 stalled" in run.summary()
    assert "3/4" in run.summary() and "never" in run.summary()


@pytest.mark.slow
async def test_every_line_reaches_every_client_without_a_stalled_one():
    for factory in (LectureManager, SafeManager):
        runs = await fanout_sweep(factory, (5, 20), lines=5)
        assert [run.clients for run in runs] == [5, 20]
        assert all(run.missing == 0 and len(run.latencies_ms) == run.expected for run in runs)
        assert all(latency >= 0 for run in runs for latency in run.latencies_ms)


@pytest.mark.slow
async def test_a_stalled_client_stops_the_lecture_but_not_the_safe_manager():
    threads_before = threading.active_count()
    lecture = await fanout_sweep(LectureManager, (10,), stalled=True, lines=5, name="lecture")
    safe = await fanout_sweep(SafeManager, (10,), stalled=True, lines=5, name="safe")
    assert lecture[0].missing == lecture[0].expected == 50, lecture[0].summary()
    assert lecture[0].p50 is None
    assert safe[0].missing == 0 and safe[0].p99 is not None, safe[0].summary()
    assert threading.active_count() <= threads_before  # every server it started has stopped
