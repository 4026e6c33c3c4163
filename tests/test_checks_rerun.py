"""No check ever passes an exercise the student has not solved, however often its cell runs.

Each student notebook runs from the top, untouched (every exercise still its stub), with every
check cell run twice in a row. Before the checks stopped rebinding the student's name, the
second run judged the kit's own answer and printed ✅.
"""

from __future__ import annotations

import pytest

from build_notebooks import lesson_paths
from notebook_run import passes, run_student_notebook

LESSONS = [path.stem for path in lesson_paths([])]

pytestmark = pytest.mark.slow  # every test runs a notebook in a kernel


@pytest.mark.parametrize("stem", LESSONS)
def test_an_untouched_notebook_never_passes_a_check_run_twice(stem):
    outputs = run_student_notebook(stem)
    assert outputs, f"{stem} has no check cells"
    assert not [line for output in outputs for line in passes(output)]
    assert all(output.strip() for output in outputs), "a check cell printed nothing"
