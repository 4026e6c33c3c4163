"""Run a student notebook as a student would: with their answers, re-running each check cell.

A student's notebook is run in a real kernel from the top, with some exercise cells replaced
by an answer (the cell whose stub raises ``NotImplementedError("exercise: NAME")`` gets the
answer for NAME) and every self-check cell run twice in a row, as a student does who runs a
check again after a failure. What each check cell printed is returned, in order.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from deadlines import scaled

ROOT = Path(__file__).resolve().parent.parent
STUB = re.compile(r'raise NotImplementedError\("exercise: (?P<name>[\w. ]+)"\)')
CHECK_CALL = re.compile(r"^\s*(?:[\w, ]+ = )?(?:await )?check_\w+\(", re.MULTILINE)

#: Lines of the environment check in lesson 00: they pass without any exercise being done.
ENVIRONMENT = ("✅ Python", "✅ packages", "✅ background server")


def is_check_cell(source: str) -> bool:
    return bool(CHECK_CALL.search(source))


def printed(cell: nbformat.NotebookNode) -> str:
    return "".join(output.get("text", "") for output in cell.get("outputs", [])
                   if output.get("output_type") == "stream")


def run_student_notebook(stem: str, answers: dict[str, str] | None = None,
                         timeout: int = 120) -> list[str]:
    """Run ``notebooks/<stem>.ipynb`` with ``answers``; return what each check cell printed.

    Every check cell runs twice: the list holds both runs, one after the other. ``timeout`` is
    each cell's limit, scaled.
    """
    answers = dict(answers or {})
    notebook = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "code":
            stub = STUB.search(cell.source)
            if stub and stub["name"] in answers:
                cell.source = answers.pop(stub["name"])
            if is_check_cell(cell.source):
                cell.metadata["tags"] = ["check"]
                first_run = nbformat.from_dict(cell)
                first_run.id = f"{cell.id}-first-run"
                cells.append(first_run)
        cells.append(cell)
    assert not answers, f"no exercise cell for {sorted(answers)} in {stem}"
    notebook.cells = cells
    NotebookClient(notebook, timeout=scaled(timeout), startup_timeout=scaled(60),
                   kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    return [printed(cell) for cell in notebook.cells
            if "check" in cell.metadata.get("tags", [])]


def passes(output: str) -> list[str]:
    """The ✅ lines of a check's output, without the environment check's."""
    return [line for line in output.splitlines()
            if line.startswith("✅") and not line.startswith(ENVIRONMENT)]
