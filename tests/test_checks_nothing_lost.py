"""Elective E8's checks: each wrong ``sort_line`` and each broken ``show_once`` gets the hint that
names its mistake, first; right ones in another style pass; the kit's own and the untouched
cells are never passed; the prediction is judged on what the demo received.

The wrong answers are the lesson's own solution cells with one mistake put in
(:func:`mutants.mutant`), so they follow the answer the lesson teaches.
"""

from __future__ import annotations

from typing import Any

import pytest

from build_notebooks import LESSONS, build_lesson
from exercises import fresh, judged, never_passed, none_passed, untouched, wrong_in_the_notebook
from mutants import mutant
from verdicts import failure, flat, verdict
from wslab.checks import nothing_lost
from wslab.checks.nothing_lost import (MISSED, WIFI_DROP, check_show_once, check_sort_line,
                                       kit_show_once, kit_sort_line, line)
from wslab.checks.progress import show_progress

LESSON = LESSONS / "E8_nothing_lost.py"


def cell(name: str, form: str = "solution") -> str:
    """The source of the lesson's cell that defines ``name``, in its solution or student form."""
    student, solution = build_lesson(LESSON)
    notebook = solution if form == "solution" else student
    return next(cell.source for cell in notebook.cells if f"def {name}(" in cell.source)


def defined(source: str, name: str, **names: Any) -> Any:
    """``name`` as a notebook cell holding ``source`` defines it (``names``: other globals)."""
    namespace = {"__name__": "__main__", **names}
    exec(compile(source, f"<cell {name}>", "exec"), namespace)
    return namespace[name]


SORT_LINE = cell("sort_line")
SHOW_ONCE = cell("show_once")


def wrong_sort_line(old: str, new: str) -> Any:
    return defined(mutant(SORT_LINE, old, new), "sort_line")


def show_once_from(source: str) -> Any:
    return defined(source, "show_once", checked_sort_line=kit_sort_line)


# -- exercise 1: sort_line ------------------------------------------------------------------------

@pytest.mark.parametrize("edit, words", [
    (('    if line["epoch"] != epoch:\n        return "reset"\n', ""),
     ["compared the numbers of two epochs",
      "sort_line(('3f9a0c1d', 5), {'seq': 1, 'epoch': 'b7e24410',", "got: 'repeat'"]),
    (('line["seq"] <= seq', 'line["seq"] == seq'), ["Only the very same number", "got: 'gap'"]),
    (('line["seq"] <= seq', 'line["seq"] < seq'), ["The line numbered last itself"]),
    (('"new" if line["seq"] == seq + 1 else "gap"', '"new"'), ["further on than the next one"]),
    (('"new" if line["seq"] == seq + 1 else "gap"', '"gap"'), ["The next number was taken for a "
                                                               "gap"]),
    (('epoch, seq = last', 'seq, epoch = last'), ["taken for another epoch", "got: 'reset'"]),
    (('line["seq"] <= seq', 'line["room_seq"] <= seq'), ["raised KeyError: 'room_seq'",
                                                         "carries its number as \"seq\""]),
    (('return "repeat"', 'return "duplicate"'), ["one of the words 'new', 'repeat', 'gap', "
                                                 "'reset'"]),
    (('if line["seq"] <= seq:', 'if line.get("replay") or line["seq"] <= seq:'),
     ["A replayed line was taken for a repeat"]),
], ids=["epochs-ignored", "only-equal-repeats", "last-not-a-repeat", "no-gaps", "next-is-gap",
        "last-swapped", "wrong-field", "other-word", "replay-dropped"])
def test_each_wrong_sort_line_gets_the_hint_that_names_its_mistake(edit, words, capsys):
    assert check_sort_line(wrong_sort_line(*edit)) is kit_sort_line
    out = failure(verdict(capsys), "sort_line", *words)
    assert "<=" not in out and "seq + 1" not in out  # a hint never gives the answer away


def test_an_older_number_answered_new_is_named_like_one_answered_gap(capsys):
    only_equal = wrong_sort_line('    if line["seq"] <= seq:\n        return "repeat"\n    '
                                 'return "new" if line["seq"] == seq + 1 else "gap"',
                                 '    if line["seq"] == seq:\n        return "repeat"\n    '
                                 'return "gap" if line["seq"] > seq + 1 else "new"')
    check_sort_line(only_equal)
    failure(verdict(capsys), "sort_line", "Only the very same number", "got: 'new'")


def sort_line_in_another_style(last, line):
    known_epoch, shown = last
    if (line["epoch"], line["seq"]) <= (known_epoch, shown) and line["epoch"] == known_epoch:
        return "repeat"
    return {True: "reset", False: "new" if line["seq"] - shown == 1 else "gap"}[
        line["epoch"] != known_epoch]


def test_right_answers_in_another_style_pass(capsys):
    assert check_sort_line(sort_line_in_another_style) is sort_line_in_another_style
    solution = wrong_sort_line("epoch, seq = last", "epoch, seq = last")  # the lesson's own
    assert check_sort_line(solution) is solution
    assert capsys.readouterr().out == ("✅ sort_line: all 10 checks passed.\n" * 2)


def test_the_kits_own_sort_line_is_never_passed(capsys):
    never_passed(check_sort_line(kit_sort_line), kit_sort_line, "sort_line", capsys)


def test_the_sort_line_stub_is_not_done_yet(capsys):
    untouched(check_sort_line(defined(cell("sort_line", "student"), "sort_line")),
              kit_sort_line, "sort_line", capsys)


def test_the_kits_answers_are_catch_ups_behaviour():
    """The expected answers come from wslab.catch_up, and say what the lesson's table says."""
    E, F = nothing_lost.E, nothing_lost.F
    assert [kit_sort_line((E, 5), line(E, seq)) for seq in (3, 5, 6, 8)] == [
        "repeat", "repeat", "new", "gap"]
    assert kit_sort_line((E, 5), line(F, 6)) == "reset"
    assert kit_show_once((E, 5), [line(E, 7, "seven"), line(E, 7, "seven")]) == [
        MISSED, "seven"]


# -- exercise 2: the show_once bug ----------------------------------------------------------------

def test_the_untouched_show_once_shows_a_line_twice_and_is_told_where(capsys):
    buggy = show_once_from(cell("show_once", "student"))
    assert check_show_once(buggy) is kit_show_once
    out = failure(verdict(capsys), "show_once", "A line showed twice",
                  "last went back to an older number",
                  "#6 'six' (replay), #7 'seven' (replay)", "got: ['six', 'seven', 'seven', "
                                                            "'eight']")
    assert "indent" not in out


@pytest.mark.parametrize("edit, words", [
    (("            last = (line[\"epoch\"], line[\"seq\"])\n", ""), ["last never moves on"]),
    (('if verdict != "repeat":', 'if verdict == "new":'),
     ["A line that comes after a gap (or in a new epoch) was not shown"]),
    (('        if verdict in ("gap", "reset"):\n            shown.append(MISSED)\n', ""),
     ["There is no notice where lines never came"]),
], ids=["last-never-moves", "gap-lines-dropped", "no-notice"])
def test_each_other_broken_show_once_gets_its_hint(edit, words, capsys):
    assert check_show_once(show_once_from(mutant(SHOW_ONCE, *edit))) is kit_show_once
    failure(verdict(capsys), "show_once", *words)


def test_a_show_once_run_before_the_sort_line_check_is_told_to_run_the_cells_above(capsys):
    assert check_show_once(defined(SHOW_ONCE, "show_once")) is kit_show_once
    failure(verdict(capsys), "show_once", "raised NameError: name 'checked_sort_line'",
            "run the cells above it first")


def test_the_fixed_show_once_passes(capsys):
    fixed = show_once_from(SHOW_ONCE)
    assert check_show_once(fixed) is fixed
    assert capsys.readouterr().out == "✅ show_once: all 5 checks passed.\n"


def test_the_kits_own_show_once_is_never_passed(capsys):
    never_passed(check_show_once(kit_show_once), kit_show_once, "show_once", capsys)


# -- the prediction, the summary, and the lesson in a kernel -------------------------------------

SAID = ["one", "two", "three"]


@pytest.mark.parametrize("got, letter", [
    ([line(nothing_lost.E, n, text, replay=True) for n, text in enumerate(SAID, 3)], "b"),
    ([], "a"),
    ([line(nothing_lost.E, 1, "earlier", history=True)], "c"),
    ([line(nothing_lost.E, n, text, replay=True) for n, text in enumerate(SAID * 2, 3)], "a"),
], ids=["replayed", "nothing", "history", "twice"])
def test_the_prediction_is_judged_on_what_came_back(got, letter, capsys):
    right, out = judged(WIFI_DROP, "b", (SAID, got), capsys)
    assert right is (letter == "b")
    assert WIFI_DROP.happened == letter
    assert "why:" in out


async def test_the_summary_judges_the_current_code(capsys):
    fresh(WIFI_DROP)
    namespace = {"sort_line": defined(cell("sort_line", "student"), "sort_line"),
                 "show_once": show_once_from(cell("show_once", "student"))}
    statuses = await show_progress(nothing_lost.EXERCISES, namespace)
    assert statuses == {"sort_line": "not_done", "show_once": "failed",
                        "predict: back after a Wi-Fi drop": "no_prediction"}
    namespace = {"sort_line": sort_line_in_another_style, "show_once": show_once_from(SHOW_ONCE)}
    statuses = await show_progress(nothing_lost.EXERCISES, namespace)
    assert statuses["sort_line"] == statuses["show_once"] == "passed"
    assert "2 of 3 done" in capsys.readouterr().out


WRONG_ANSWERS = {
    "sort_line": '''
def sort_line(last, line):
    epoch, seq = last
    if line["seq"] <= seq:
        return "repeat"
    return "new" if line["seq"] == seq + 1 else "gap"
''',
}


@pytest.mark.slow
def test_in_the_notebook_a_wrong_answer_never_passes_however_often_its_check_runs():
    outputs = wrong_in_the_notebook("E8_nothing_lost", WRONG_ANSWERS, 4)
    none_passed(outputs, "sort_line", "show_once")
    assert all("two epochs" in flat(output) for output in outputs[:2]), outputs
    assert all("A line showed twice" in flat(output) for output in outputs[2:]), outputs
