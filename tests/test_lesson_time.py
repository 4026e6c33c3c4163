"""Stated times are honest: no lesson states less than the kit's estimate of its content."""

from __future__ import annotations

from pathlib import Path

import pytest

import lesson_time
from build_notebooks import lesson_paths
from lesson_time import Estimate, code_lines, estimate, stated


@pytest.mark.parametrize("lesson", lesson_paths([]), ids=lambda path: path.stem)
def test_no_lesson_states_less_than_its_estimate(lesson: Path) -> None:
    promised, needed = stated(lesson), estimate(lesson)
    assert promised is not None, f"{lesson.name} states no time"
    assert promised.minutes >= needed.minutes, (
        f"{lesson.name} states {promised.minutes} minutes, but its content needs about "
        f"{needed.minutes}: {needed}. Cut it, move a part to an elective, or state more.")
    assert promised.teaching >= needed.teaching - 0.5 and promised.exercises >= needed.practice - 0.5, (
        f"{lesson.name} states {promised.teaching} teaching and {promised.exercises} exercises; "
        f"the estimate is {needed.teaching:.0f} and {needed.practice:.0f}")


def test_code_lines_leave_out_comments_docstrings_and_blank_lines() -> None:
    source = '''def f(x):
    """What f does.

    At length.
    """
    # a comment
    y = (x +
         1)

    return y
'''
    assert code_lines(source) == 4  # def, the two lines of y = ..., return
    assert code_lines("%%writefile main.py\n# hello\nprint(1)\n") == 2  # a cell magic


def test_the_estimate_counts_what_a_student_meets(tmp_path: Path) -> None:
    lesson = tmp_path / "09_tiny.py"
    lesson.write_text('''# %% [markdown]
# # 09 · Tiny
#
# **Time:** 5 minutes (2 teaching, 3 exercises) · **Builds on:** nothing.
#
# One two three.

# %%
print("shown")

# %%
def double(x):
    ### BEGIN SOLUTION
    twice = 2 * x
    return twice
    ### END SOLUTION
    ### BEGIN STUB
    # TODO: return twice x
    raise NotImplementedError("exercise: double")
    ### END STUB

# %%
NO_AWAIT.predict("a")

# %%
from wslab.checks.setup import EXERCISES

# %% tags=["solution-only"]
print("never shown to a student")
''', encoding="utf-8")
    counted = estimate(lesson)
    assert counted == Estimate(words=15, cells_run=4, lines_shown=6, lines_written=2,
                               exercises=1, predictions=1)
    assert counted.practice == (2 * lesson_time.MINUTES_PER_LINE_WRITTEN
                                + lesson_time.MINUTES_PER_EXERCISE
                                + lesson_time.MINUTES_PER_PREDICTION)
    assert stated(lesson) == lesson_time.Stated(5, 2, 3)
