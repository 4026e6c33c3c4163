"""The committed notebooks are exactly what the lesson sources build (nbval runs them itself)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from build_notebooks import lesson_paths
from lesson_time import summary_counts

ROOT = Path(__file__).resolve().parent.parent
LESSONS = lesson_paths([])


@pytest.mark.slow
def test_committed_notebooks_match_their_sources():
    result = subprocess.run([sys.executable, str(ROOT / "labsrc" / "build_notebooks.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_student_notebook_is_clean(lesson):
    notebook = nbformat.read(ROOT / "notebooks" / f"{lesson.stem}.ipynb", as_version=4)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    for cell in notebook.cells:
        source = cell.source
        assert "### BEGIN" not in source and "### END" not in source and "### SOURCE" not in source
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda path: path.stem)
def test_every_exercise_has_a_stub_and_a_check(lesson):
    student = nbformat.read(ROOT / "notebooks" / f"{lesson.stem}.ipynb", as_version=4)
    solution = nbformat.read(ROOT / "solutions" / f"{lesson.stem}.ipynb", as_version=4)
    stubs = [cell for cell in student.cells
             if cell.cell_type == "code" and "raise NotImplementedError" in cell.source]
    exercises, _ = summary_counts(lesson.read_text(encoding="utf-8"))
    assert exercises, "a lesson without an exercise in its closing summary"
    assert not any("raise NotImplementedError(\"exercise" in cell.source for cell in solution.cells)
    code = [cell.source for cell in student.cells if cell.cell_type == "code"]
    for stub in stubs:
        after = code[code.index(stub.source) + 1:]
        assert any("check" in source for source in after[:2]), f"no self-check after:\n{stub.source}"
