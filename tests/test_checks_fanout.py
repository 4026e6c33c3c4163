"""Elective E7's checks: each wrong percentile gets the hint that names its mistake, first; a
right one in another style passes; the kit's own and the stub are never passed; the prediction
is judged on what a real run delivered."""

from __future__ import annotations

import math

import pytest

from exercises import fresh, judged, never_passed, none_passed, untouched, wrong_in_the_notebook
from verdicts import failure, flat, verdict
from wslab.checks import fanout
from wslab.checks.fanout import STALLED, check_percentile
from wslab.checks.progress import show_progress
from wslab.bench.latency import percentile
from wslab.fanoutlab import FanoutRun, fanout_sweep
from wslab.lecture import ConnectionManager as LectureManager


# -- the exercise: the percentile ---------------------------------------------------------------

def rank_rounded_with(rounding, *, fix=lambda ordered, rank: ordered[rank - 1], never=None,
                      sort=True, count_missing=True, beyond=lambda rank, n: rank > n):
    """The lesson's percentile, written with one part swapped for a student's mistake."""

    def wrong(latencies, missing, fraction):
        total = len(latencies) + (missing if count_missing else 0)
        if total == 0:
            return never
        rank = max(1, int(rounding(fraction * total)))
        if beyond(rank, len(latencies)):
            return never
        return fix(sorted(latencies) if sort else list(latencies), rank)

    return wrong


def no_lower_bound(latencies, missing, fraction):
    total = len(latencies) + missing
    rank = math.ceil(fraction * total)
    return sorted(latencies)[rank - 1] if total and rank <= len(latencies) else None


@pytest.mark.parametrize("wrong, words", [
    (rank_rounded_with(int), ["percentile([10, 20, 30, 40], 0, 0.9)", "got: 30",
                              "rounded down", "int()"]),
    (rank_rounded_with(lambda x: x // 1), ["rounded down", "(or //)"]),
    (rank_rounded_with(round), ["percentile([10, 20, 30, 40], 0, 0.6)", "round() goes to the "
                                "nearest whole number"]),
    (rank_rounded_with(math.ceil, sort=False), ["percentile([30, 10, 40, 20], 0, 0.5)",
                                                "Sort the latencies first"]),
    (rank_rounded_with(math.ceil, count_missing=False), ["counts the missing deliveries too"]),
    (rank_rounded_with(math.ceil, beyond=lambda rank, n: rank >= n),
     ["got: None", "off by one at the limit"]),
    (rank_rounded_with(math.ceil, fix=lambda ordered, rank: ordered[rank]),
     ["one place too high", "index 0"]),
    (rank_rounded_with(math.ceil, never=math.inf), ["got: inf", "not infinity"]),
    (rank_rounded_with(math.ceil, beyond=lambda rank, n: False),
     ["percentile([1, 2, 3], 1, 0.99)", "raised IndexError", "only 3 arrived"]),
    (no_lower_bound, ["percentile([10, 20, 30], 0, 0.0)", "got: 30", "at least 1"]),
    (lambda latencies, missing, fraction: print(percentile(latencies, missing, fraction)),
     ["printed its answer and returned None"]),
    (rank_rounded_with(lambda x: maths.ceil(x)),  # noqa: F821  # math's import was lost
     ["raised NameError: name 'maths' is not defined", "an import left out"]),
], ids=["int", "floor-division", "round", "unsorted", "missing-ignored", "off-by-one",
        "index-is-rank", "infinity", "no-none", "no-lower-bound", "print", "name-error"])
def test_each_wrong_percentile_gets_the_hint_that_names_its_mistake(wrong, words, capsys):
    assert check_percentile(wrong) is percentile
    out = failure(verdict(capsys), "percentile", *words)
    assert "math.ceil(" not in out  # a hint never gives the answer away


def percentile_in_another_style(latencies, missing, fraction):
    ordered = sorted(latencies)
    total = len(ordered) + missing
    if not total:
        return None
    rank = max(int(-(-fraction * total // 1)), 1)
    return ordered[rank - 1] if rank <= len(ordered) else None


def test_a_right_percentile_in_another_style_passes(capsys):
    assert check_percentile(percentile_in_another_style) is percentile_in_another_style
    assert capsys.readouterr().out == "✅ percentile: all 11 checks passed.\n"


def test_the_kits_own_percentile_is_never_passed(capsys):
    never_passed(check_percentile(percentile), percentile, "percentile", capsys)


def test_the_percentile_stub_is_not_done_yet(capsys):
    def percentile_stub(latencies, missing, fraction):
        raise NotImplementedError("exercise: percentile")

    untouched(check_percentile(percentile_stub), percentile, "percentile", capsys)


# -- the prediction, the summary, and the lesson in a kernel ------------------------------------

@pytest.mark.parametrize("latencies, missing, letter", [
    ([1.0, 2.0], 0, "a"), ([1.0], 1, "b"), ([], 2, "c")])
def test_the_prediction_is_judged_on_what_was_delivered(latencies, missing, letter, capsys):
    right, out = judged(STALLED, "a", FanoutRun("lecture", 2, True, 1, latencies, missing), capsys)
    assert right is (letter == "a")
    assert STALLED.happened == letter
    assert "why:" in out


@pytest.mark.slow
async def test_the_prediction_on_a_real_run_of_the_lecture_manager(capsys):
    runs = await fanout_sweep(LectureManager, (5,), stalled=True, lines=3, name="lecture")
    right, out = judged(STALLED, "a", runs[0], capsys)
    assert right is False
    assert "what happened was (c) no line reaches anyone" in out, out


async def test_the_summary_judges_the_current_code(capsys):
    fresh(STALLED)

    def percentile_stub(latencies, missing, fraction):
        raise NotImplementedError("exercise: percentile")

    statuses = await show_progress(fanout.EXERCISES, {"percentile": percentile_stub})
    assert statuses == {"predict: one client stops reading": "no_prediction",
                        "percentile": "not_done"}
    statuses = await show_progress(fanout.EXERCISES,
                                   {"percentile": percentile_in_another_style})
    assert statuses["percentile"] == "passed"
    assert "1 of 2 done" in capsys.readouterr().out


WRONG_ANSWERS = {
    "percentile": '''
def percentile(latencies, missing, fraction):
    total = len(latencies) + missing
    if total == 0:
        return None
    rank = max(1, int(fraction * total))
    return None if rank > len(latencies) else sorted(latencies)[rank - 1]
''',
}


@pytest.mark.slow
def test_in_the_notebook_a_wrong_answer_never_passes_however_often_its_check_runs():
    outputs = wrong_in_the_notebook("E7_fanout_lab", WRONG_ANSWERS, 2, timeout=180)
    none_passed(outputs, "percentile")
    assert all("rounded down" in flat(output) for output in outputs), outputs
