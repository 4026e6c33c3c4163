"""A notebook's closing summary: which exercises pass and which do not yet, from the current code.

Each lesson's check module lists its exercises in ``EXERCISES``. The last cell of a notebook
hands them to :func:`show_progress` with the notebook's ``globals()``; every exercise is judged
on what its names hold *now*. A check that already judged exactly those objects (same identity:
the exercise cell was not run again since) is not run again; any other is run quietly, so the
summary is right even when cells were run out of order or an exercise was edited later.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
from typing import Any, Callable, Iterable, Mapping, Protocol

from wslab.checks.core import FAILED, NOT_DONE, PASSED, STALE, last_verdict

#: What the summary says for each status a check records.
SAID = {
    "passed": (PASSED, "passes"),
    "failed": (FAILED, "not right yet: its check cell says why"),
    "not_done": (NOT_DONE, "not done yet"),
    "stale": (STALE, "run your exercise cell first"),
    "missing": (NOT_DONE, "not run yet: run its exercise cell"),
    "no_prediction": (NOT_DONE, "no prediction yet"),
    "no_demo": (NOT_DONE, "predicted: now run the demo"),
    "wrong_prediction": (FAILED, "your prediction was not what happened: its cell says why"),
    "late_prediction": (FAILED, "predicted only after the demo ran: predict first, then run it"),
}


@dataclasses.dataclass(frozen=True)
class Exercise:
    """One exercise of a lesson, as the closing summary judges it.

    ``check`` is the exercise's self-check (sync or async), called with the values of ``reads``
    from the notebook; ``name`` is the name it reports under.
    """

    name: str
    check: Callable[..., Any]
    reads: tuple[str, ...]

    async def status(self, namespace: Mapping[str, Any]) -> str:
        """The status of this exercise for the code the notebook holds now."""
        if any(name not in namespace for name in self.reads):
            return "missing"
        values = tuple(namespace[name] for name in self.reads)
        status = last_verdict(self.name, values)
        if status is None:
            quiet = io.StringIO()
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                outcome = self.check(*values)
                if inspect.isawaitable(outcome):
                    await outcome
            status = last_verdict(self.name, values) or "failed"
        return status


class Judged(Protocol):
    """What the summary lists: an :class:`Exercise`, or a prediction's ``Question``."""

    name: str

    async def status(self, namespace: Mapping[str, Any]) -> str: ...


async def show_progress(exercises: Iterable[Judged], namespace: Mapping[str, Any]
                        ) -> dict[str, str]:
    """Print one line per exercise (and prediction) and a total; return each one's status."""
    statuses: dict[str, str] = {}
    for exercise in exercises:
        statuses[exercise.name] = await exercise.status(namespace)
    # Names line up, except one so long (a prediction's) that it would push every status right.
    width = min(max((len(name) for name in statuses), default=0), 24)
    lines = ["Your progress in this notebook:"]
    for name, status in statuses.items():
        mark, said = SAID[status]
        lines.append(f"  {mark} {name:<{width}}  {said}")
    passing = sum(status == "passed" for status in statuses.values())
    if passing == len(statuses):
        lines.append(f"{passing} of {len(statuses)} done: everything in this notebook passes.")
    else:
        lines.append(f"{passing} of {len(statuses)} done. Go back to the others when you "
                     "like: no other notebook needs your answers.")
    print("\n".join(lines))
    return statuses
