"""Build the student and solution notebooks from the lesson sources.

Each lesson is written once, in ``labsrc/lessons/NN_name.py`` (jupytext's percent format). In
its code cells:

- ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` is the answer: kept in ``solutions/``,
  removed from ``notebooks/``;
- ``### BEGIN STUB`` ... ``### END STUB`` is what the student starts from (a ``# TODO``, a hint
  and ``raise NotImplementedError``): kept in ``notebooks/``, removed from ``solutions/``;
- ``### SOURCE module:name`` is replaced by the source code of that object in ``wslab`` (read
  by :mod:`lesson_sources`, as the slides read theirs), so a solution that is the same code as
  the package is never kept as a second copy that can drift.

A cell tagged ``solution-only`` appears only in ``solutions/``. Every lesson must state its
objectives and time up front and end with key points; the build refuses one that does not.

    python labsrc/build_notebooks.py            # write notebooks/ and solutions/ (runs solutions)
    python labsrc/build_notebooks.py --check    # fail if the committed notebooks are out of date

Solutions are executed while building, so their stored outputs are what nbval compares in the
cells tagged ``nbval-check-output``. ``--check`` compares everything but those outputs.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

from lesson_sources import source_of

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "labsrc" / "lessons"
STUDENT_DIR = ROOT / "notebooks"
SOLUTION_DIR = ROOT / "solutions"

#: Core lessons are numbered (``01_first_endpoint.py``) and done in full, in order, in class;
#: electives are lettered (``E1_protocol_by_hand.py``), each on its own after the core.
CORE_LESSONS = "[0-9][0-9]_*.py"
ELECTIVE_LESSONS = "E[0-9]_*.py"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
REQUIRED_SECTIONS = ("## Learning objectives", "## Key points")
SOURCE_LINE = re.compile(r"^(?P<indent>\s*)### SOURCE (?P<module>[\w.]+):(?P<name>[\w.]+)\s*$")


class LessonError(Exception):
    """A lesson source the build cannot turn into notebooks; the message names file and line."""


def expand_source(line: str) -> str:
    """The source of the object a ``### SOURCE module:name`` line names, at that indentation."""
    match = SOURCE_LINE.match(line)
    assert match is not None
    return textwrap.indent(source_of(match["module"], match["name"]), match["indent"])


def split_code(source: str, where: str) -> tuple[str, str]:
    """Split one code cell's source into its (student, solution) forms."""
    student: list[str] = []
    solution: list[str] = []
    region: str | None = None
    for number, line in enumerate(source.splitlines(), 1):
        marker = line.strip()
        if marker in ("### BEGIN SOLUTION", "### BEGIN STUB"):
            if region is not None:
                raise LessonError(f"{where}, line {number}: {marker} inside another region")
            region = marker.split()[-1]
        elif marker in ("### END SOLUTION", "### END STUB"):
            if region != marker.split()[-1]:
                raise LessonError(f"{where}, line {number}: {marker} without its BEGIN")
            region = None
        else:
            if SOURCE_LINE.match(line):
                line = expand_source(line)
            if region != "SOLUTION":
                student.append(line)
            if region != "STUB":
                solution.append(line)
    if region is not None:
        raise LessonError(f"{where}: ### BEGIN {region} is never ended")
    return "\n".join(student).strip("\n"), "\n".join(solution).strip("\n")


def build_lesson(path: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """Read one lesson source; return its (student, solution) notebooks, without outputs."""
    lesson = jupytext.read(path, fmt="py:percent")
    text = "\n".join(cell.source for cell in lesson.cells if cell.cell_type == "markdown")
    missing = [section for section in REQUIRED_SECTIONS if section not in text]
    if missing:
        raise LessonError(f"{path.name}: a lesson needs the sections {', '.join(missing)}")
    student = nbformat.v4.new_notebook()
    solution = nbformat.v4.new_notebook()
    for number, cell in enumerate(lesson.cells):
        tags = list(cell.metadata.get("tags", []))
        if cell.cell_type == "code":
            student_source, solution_source = split_code(cell.source, f"{path.name}, cell {number}")
            make = nbformat.v4.new_code_cell
        else:
            student_source = solution_source = cell.source
            make = nbformat.v4.new_markdown_cell if cell.cell_type == "markdown" else nbformat.v4.new_raw_cell
        kept_tags = [tag for tag in tags if tag != "solution-only"]
        metadata = {"tags": kept_tags} if kept_tags else {}
        cell_id = f"{path.stem[:2]}-{number:03d}"
        if "solution-only" not in tags:
            student.cells.append(make(student_source, metadata=dict(metadata), id=cell_id))
        solution.cells.append(make(solution_source, metadata=dict(metadata), id=cell_id))
    for notebook in (student, solution):
        notebook.metadata = {"kernelspec": dict(KERNELSPEC),
                             "language_info": {"name": "python"}}
    return student, solution


def execute(notebook: nbformat.NotebookNode, directory: Path) -> float:
    """Run a notebook in a fresh kernel (as a student would, top to bottom); return seconds."""
    started = time.monotonic()
    NotebookClient(notebook, timeout=120, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(directory)}}).execute()
    return time.monotonic() - started


def without_outputs(notebook: nbformat.NotebookNode) -> str:
    copy = nbformat.from_dict(notebook)
    for cell in copy.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    copy.metadata = {key: value for key, value in copy.metadata.items()
                     if key in ("kernelspec", "language_info")}
    copy.metadata["language_info"] = {"name": "python"}
    return nbformat.writes(copy)


def lesson_paths(names: list[str]) -> list[Path]:
    """The lesson sources (those whose names start with ``names``, if any): core, then electives.

    This is the one list of lessons: the tests, the deck and the guide read it from here.
    """
    paths = sorted(LESSONS.glob(CORE_LESSONS)) + sorted(LESSONS.glob(ELECTIVE_LESSONS))
    if names:
        paths = [path for path in paths if any(path.stem.startswith(name) for name in names)]
    return paths


def check(paths: list[Path]) -> list[str]:
    """Say which committed notebooks differ from a fresh build (empty: all up to date)."""
    problems = []
    for path in paths:
        student, solution = build_lesson(path)
        for notebook, folder in ((student, STUDENT_DIR), (solution, SOLUTION_DIR)):
            target = folder / f"{path.stem}.ipynb"
            if not target.exists():
                problems.append(f"{target.relative_to(ROOT)} is missing")
            elif without_outputs(nbformat.read(target, as_version=4)) != without_outputs(notebook):
                problems.append(f"{target.relative_to(ROOT)} differs from {path.relative_to(ROOT)}")
    committed = {p.stem for folder in (STUDENT_DIR, SOLUTION_DIR) for p in folder.glob("*.ipynb")}
    for stem in sorted(committed - {path.stem for path in lesson_paths([])}):
        problems.append(f"{stem}.ipynb has no lesson source in labsrc/lessons/")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers or names (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="only compare the committed notebooks with a fresh build")
    args = parser.parse_args(argv)
    paths = lesson_paths(args.lessons)
    try:
        if args.check:
            problems = check(paths)
            for problem in problems:
                print(f"out of date: {problem}", file=sys.stderr)
            if problems:
                print("Run `make notebooks` and commit the result.", file=sys.stderr)
                return 1
            print(f"{len(paths)} lessons: notebooks/ and solutions/ are up to date.")
            return 0
        STUDENT_DIR.mkdir(exist_ok=True)
        SOLUTION_DIR.mkdir(exist_ok=True)
        for path in paths:
            student, solution = build_lesson(path)
            nbformat.write(student, STUDENT_DIR / f"{path.stem}.ipynb")
            seconds = execute(solution, SOLUTION_DIR)
            nbformat.write(solution, SOLUTION_DIR / f"{path.stem}.ipynb")
            print(f"built {path.stem}: solution ran in {seconds:.1f} s")
    except LessonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
