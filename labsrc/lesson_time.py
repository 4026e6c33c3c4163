"""How long a lesson takes a typical undergraduate, estimated from what is in it.

A lesson's stated time is a promise to the instructor who plans a session around it, so it is
computed, not guessed. The estimate counts what a student meets in the student notebook:

- **reading**: the words of prose, at :data:`WORDS_PER_MINUTE`;
- **code shown**: the non-blank lines of the code cells a student reads and runs, comments
  included, at :data:`LINES_READ_PER_MINUTE`;
- **code written**: the lines of code an answer adds to its exercise cell (docstrings and
  comments not counted), at :data:`MINUTES_PER_LINE_WRITTEN` each;
- **each code cell**: :data:`MINUTES_PER_CELL_RUN`, to run it and read what it shows;
- **each exercise**: :data:`MINUTES_PER_EXERCISE` more, to read the task, run the check and act
  on its verdict;
- **each prediction**: :data:`MINUTES_PER_PREDICTION`, to think, write a letter down, and run.

Exercises and predictions are what the notebook's closing summary lists: the ``EXERCISES`` of
the check module the lesson imports them from. That counts every checked task, including
those without a function to write (edit a script, type a line into a widget, join the class).

The rates are those of the kit's teaching review, which timed the lessons by hand against
these counts: slower than a fluent reader, because the prose is technical and read beside
running code. A test fails when a lesson states less time than its estimate, and the
instructor guide's timetables are built from the stated times, so a lesson that grows must
state more, and the plans must make room for it.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import io
import math
import re
import tokenize
from collections import Counter
from pathlib import Path

import jupytext

from build_notebooks import split_code
from lesson_sources import docstring_lines

WORDS_PER_MINUTE = 120
LINES_READ_PER_MINUTE = 12
MINUTES_PER_CELL_RUN = 0.25
MINUTES_PER_LINE_WRITTEN = 1.0
MINUTES_PER_EXERCISE = 3.0
MINUTES_PER_PREDICTION = 2.0

#: The line of a lesson that imports the check module whose ``EXERCISES`` it sums up.
SUMMARY = re.compile(r"^from (?P<module>wslab\.checks\.\w+) import .*\bEXERCISES\b", re.MULTILINE)
WORD = re.compile(r"\w+(?:['’-]\w+)*")
STATED = re.compile(r"\*\*Time:\*\* (\d+) minutes \((\d+) teaching, (\d+) exercises\)")


@dataclasses.dataclass(frozen=True)
class Estimate:
    """What a lesson holds, and the minutes it takes by the model above."""

    words: int
    cells_run: int
    lines_shown: int
    lines_written: int
    exercises: int
    predictions: int

    @property
    def teaching(self) -> float:
        """Minutes of reading prose, and reading and running the code shown."""
        return (self.words / WORDS_PER_MINUTE + self.lines_shown / LINES_READ_PER_MINUTE
                + self.cells_run * MINUTES_PER_CELL_RUN)

    @property
    def practice(self) -> float:
        """Minutes of exercises and predictions."""
        return (self.lines_written * MINUTES_PER_LINE_WRITTEN
                + self.exercises * MINUTES_PER_EXERCISE
                + self.predictions * MINUTES_PER_PREDICTION)

    @property
    def minutes(self) -> int:
        """The whole estimate, rounded up to whole minutes."""
        return math.ceil(self.teaching + self.practice)


@dataclasses.dataclass(frozen=True)
class Stated:
    """The time a lesson's header states: ``**Time:** N minutes (T teaching, E exercises)``."""

    minutes: int
    teaching: int
    exercises: int


def code_line_texts(source: str) -> list[str]:
    """The lines that hold code, stripped: not blank, not only a comment, not a docstring."""
    try:
        tree = ast.parse(source)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, tokenize.TokenError):  # a cell magic: count its plain lines
        return [line.strip() for line in source.splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    docstrings = {number for node in ast.walk(tree) for number in docstring_lines(node)}
    silent = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
              tokenize.DEDENT, tokenize.ENDMARKER}
    rows = {row for token in tokens if token.type not in silent
            for row in range(token.start[0], token.end[0] + 1)}
    lines = source.splitlines()
    return [lines[row - 1].strip() for row in sorted(rows - docstrings)]


def code_lines(source: str) -> int:
    """How many lines of ``source`` hold code (see :func:`code_line_texts`)."""
    return len(code_line_texts(source))


def lines_written(student: str, solution: str) -> int:
    """Lines of code the solution has that the student's cell does not: what an answer adds."""
    added = Counter(code_line_texts(solution)) - Counter(code_line_texts(student))
    return sum(added.values())


def estimate(path: Path) -> Estimate:
    """Count what the student notebook built from lesson source ``path`` holds."""
    lesson = jupytext.read(path, fmt="py:percent")
    words = cells = shown = written = 0
    for number, cell in enumerate(lesson.cells):
        if cell.cell_type == "markdown":
            words += len(WORD.findall(cell.source))
        elif cell.cell_type == "code" and "solution-only" not in cell.metadata.get("tags", []):
            student, solution = split_code(cell.source, f"{path.name}, cell {number}")
            cells += 1
            shown += sum(1 for line in student.splitlines() if line.strip())
            if student != solution:
                written += lines_written(student, solution)
    exercises, predictions = summary_counts(path.read_text(encoding="utf-8"))
    return Estimate(words=words, cells_run=cells, lines_shown=shown, lines_written=written,
                    exercises=exercises, predictions=predictions)


def summary_counts(source: str) -> tuple[int, int]:
    """How many exercises and predictions the lesson's closing summary lists."""
    match = SUMMARY.search(source)
    if match is None:
        return 0, 0
    from wslab.checks.predictions import Question  # imported here: the kit, not the build tool

    entries = importlib.import_module(match["module"]).EXERCISES
    predictions = sum(isinstance(entry, Question) for entry in entries)
    return len(entries) - predictions, predictions


def stated(path: Path) -> Stated | None:
    """The time lesson source ``path`` states in its header, or None if it states none."""
    flat = " ".join(path.read_text(encoding="utf-8").replace("\n# ", "\n").split())
    match = STATED.search(flat)
    return Stated(*(int(group) for group in match.groups())) if match else None
