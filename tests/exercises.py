"""The questions every lesson's check tests ask of an exercise, asked here once.

Each exercise's tests ask the same few things whatever the exercise: is its untouched stub "not
done yet", is the kit's own answer never passed, is a prediction judged on what the demo did, and
do wrong answers in the student's notebook fail however often their check cells run. Kept in
each test file, these were near-copies that drifted apart; here each is one helper, and a test
keeps only what is its own (its check, its stub, its table, its extra assertions).

A check gives back what the notebook carries on with (the kit's answer unless the student's
passed), so a helper takes what the check gave back: a test awaits an async check itself, and a
sync check's test stays sync. ``capsys`` is pytest's fixture of the calling test.
"""

from __future__ import annotations

from typing import Any

from notebook_run import passes, run_student_notebook
from verdicts import flat, not_done, stale


def untouched(given_back: Any, kept: Any, name: str, capsys) -> str:
    """Assert the check ``name`` kept ``kept`` and said "not done yet"; return what it printed."""
    assert given_back is kept, given_back
    out = capsys.readouterr().out
    assert not_done(out, name), out
    return out


def never_passed(given_back: Any, kept: Any, name: str, capsys) -> str:
    """Assert the check ``name`` kept ``kept`` and passed nothing of the kit's own code."""
    assert given_back is kept, given_back
    out = capsys.readouterr().out
    assert stale(out, name), out
    return out


def fresh(question: Any) -> Any:
    """``question`` (a prediction) as a student first meets it: nothing predicted, nothing seen."""
    question.prediction = question.happened = None
    question.late = False
    return question


def judged(question: Any, letter: str, observed: Any, capsys) -> tuple[bool, str]:
    """Predict ``letter`` on a fresh ``question``, then show it ``observed``.

    Returns whether the prediction was right, and what was said, on one line.
    """
    fresh(question).predict(letter)
    right = question.check(observed)
    return right, flat(capsys.readouterr().out)


def wrong_in_the_notebook(stem: str, answers: dict[str, str] | None, runs: int,
                          timeout: int = 120) -> list[str]:
    """Run the student notebook ``stem`` with ``answers`` in its exercise cells.

    Returns what each of its check cells printed (each cell runs twice, to catch a check that
    passes the second time round); there must be ``runs`` of them.
    """
    outputs = run_student_notebook(stem, answers, timeout=timeout)
    assert len(outputs) == runs, outputs
    return outputs


def none_passed(outputs: list[str], *names: str) -> None:
    """Assert no output passed, and each failed.

    With ``names`` (the checks whose cells printed ``outputs``, in order, each cell run twice),
    each output must be a failure of its own check, the hint first.
    """
    if names:
        assert len(outputs) == 2 * len(names), outputs
    failed = [f"❌ {name}: not right yet.\n   hint:" for name in names for _ in "12"]
    for output, mark in zip(outputs, failed or ["❌"] * len(outputs)):
        assert mark in output and passes(output) == [], output
