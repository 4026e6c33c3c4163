"""Elective E7's checks: the fan-out lab's prediction, and a percentile that counts the lost.

The percentile check compares the student's function with the kit's one rank rule,
:func:`wslab.bench.latency.percentile` (the one every benchmark reports with), on every case;
the lab's plot then draws with the student's function once it passes. Each typical mistake
(rounding the rank down or to the nearest, not sorting, forgetting the missing deliveries, an
index one off) is recognised by reproducing it (:class:`~wslab.checks.core.Mistake`), so its
hint names it without giving the rule away.

The prediction is judged on a real run of the lab (:func:`wslab.fanoutlab.fanout_sweep`): what
the lecture's manager delivered to the others once one client had stopped reading.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from wslab.bench.latency import percentile
from wslab.checks.core import Case, Mistake, check_function
from wslab.checks.predictions import Question
from wslab.checks.progress import Exercise
from wslab.fanoutlab import FanoutRun

__all__ = ["STALLED", "check_percentile", "EXERCISES"]


# -- predict, then run: one client that never reads, and the lecture's broadcast ----------------

def _what_the_others_got(observed: Any) -> str:
    """The letter for what a run delivered: every line, some of them, or none."""
    if isinstance(observed, FanoutRun):
        if observed.missing == 0:
            return "a"
        return "c" if not observed.latencies_ms else "b"
    return "b"


#: Before the sweep: what the lecture's manager delivers once one client has stopped reading.
STALLED = Question(
    "predict: one client stops reading",
    options={"a": "every line reaches the other clients, a little later",
             "b": "some lines reach them, then delivery stops",
             "c": "no line reaches anyone"},
    classify=_what_the_others_got,
    why="The lecture's broadcast awaits send_text for one client after another. The client "
        "that never reads has full buffers, so the send to it waits for room that never comes, "
        "and the loop never gets to the next client: every line, for everyone, waits behind "
        "it. Nothing fails and no error appears; the chat just goes quiet. The safe manager "
        "gives each client an outbox of its own, so a full one holds up nobody else.")


# -- the exercise: a percentile that counts what never arrived -------------------------------

#: (latencies, missing, fraction) and the hint for when the answer differs from percentile's.
PERCENTILE_CASES = [
    (([10, 20, 30, 40], 0, 0.5), "The median of four values is the 2nd smallest: rank = 0.5 "
                                 "* 4 = 2."),
    (([10, 20, 30, 40], 0, 0.9), "0.9 * 4 = 3.6, and the rank is rounded up: the 4th "
                                 "smallest."),
    (([10, 20, 30, 40], 0, 0.6), "0.6 * 4 = 2.4, and the rank is rounded up: the 3rd "
                                 "smallest."),
    ((list(range(1, 101)), 0, 0.99), "rank = 0.99 * 100 = 99: the 99th smallest."),
    (([30, 10, 40, 20], 0, 0.5), "The latencies come in any order: rank 2 is the 2nd "
                                 "smallest, not the 2nd in the list."),
    (([5.0], 0, 0.99), "With one value, every percentile is that value."),
    (([10, 20, 30, 40, 50, 60], 2, 0.5), "The total counts the missing ones too: 8 "
                                         "deliveries, rank 4."),
    (([1, 2, 3], 1, 0.99), "rank = 0.99 * 4 rounded up = 4, but only 3 arrived: the 4th never "
                           "did. Return None."),
    (([10, 20, 30], 0, 0.0), "The rank is at least 1: fraction 0 gives the smallest."),
    (([], 5, 0.5), "Nothing arrived: every percentile is 'never', None."),
    (([], 0, 0.5), "No deliveries at all: there is no percentile, None."),
]


def _ranked(rank_of: Callable[[float], float], *, sort: bool = True, count_missing: bool = True,
            at_least_one: bool = True, last_is_missing: bool = False, index_shift: int = 1,
            never: Any = None) -> Callable[[list[float], int, float], Any]:
    """``percentile`` with one mistake made: a mistaken function for a :class:`Mistake`."""

    def mistaken(latencies: list[float], missing: int, fraction: float) -> Any:
        total = len(latencies) + (missing if count_missing else 0)
        if total == 0:
            return never
        rank = int(rank_of(fraction * total))
        rank = max(1, rank) if at_least_one else rank
        beyond = rank >= len(latencies) if last_is_missing else rank > len(latencies)
        if beyond:
            return never
        ordered = sorted(latencies) if sort else latencies
        return ordered[rank - index_shift]

    return mistaken


#: A name the student's code uses that has no value: mostly ``math`` when its import was lost.
NAME_ERROR = ("Your code uses a name that has no value here (see got): an import left out, a "
              "name from a cell not run yet, a typo, or a variable used before it is assigned. "
              "Import or define it, run your cell, then this check again.")

PERCENTILE_MISTAKES = [
    Mistake(NAME_ERROR, raises=NameError),
    Mistake("Return None for a latency that never arrived, not infinity (or 0): None is how "
            "the plot knows to draw 'never'.", makes=_ranked(math.ceil, never=math.inf)),
    Mistake("round() goes to the nearest whole number (2.4 to 2, and 2.5 to 2, the even one), "
            "but the rank is always rounded up: 2.4 becomes 3.", makes=_ranked(round)),
    Mistake("Your rank is rounded down: int() (or //) cuts 3.6 to 3. The rank is rounded up: "
            "3.6 becomes 4, so that at least that fraction of all deliveries is at or below "
            "the answer.", makes=_ranked(int)),
    Mistake("Sort the latencies first: they come in any order, and the rank counts from the "
            "smallest.", makes=_ranked(math.ceil, sort=False)),
    Mistake("The total counts the missing deliveries too: they are infinitely late, ranked "
            "after every latency that arrived.", makes=_ranked(math.ceil, count_missing=False)),
    Mistake("Your test for 'never arrived' is off by one at the limit: a rank equal to the "
            "number of latencies is the largest one that arrived. Only a rank past it falls "
            "among the missing ones.", makes=_ranked(math.ceil, last_is_missing=True)),
    Mistake("A rank of 0 reads the list at index -1, which is the largest latency: the rank is "
            "at least 1.", makes=_ranked(math.ceil, at_least_one=False)),
    Mistake("Your answer is one place too high: rank 1 is the smallest latency, at index 0, "
            "so the index is one less than the rank.", makes=_ranked(math.ceil, index_shift=0)),
]


def check_percentile(student: Callable[..., float | None]) -> Callable[..., float | None]:
    """The exercise: ``percentile`` answers as ``wslab.bench.latency.percentile`` on every case."""
    cases = [Case(args, percentile(*args), hint) for args, hint in PERCENTILE_CASES]
    return check_function(student, cases, name="percentile", reference=percentile,
                          fallback="the kit's percentile", mistakes=PERCENTILE_MISTAKES)


EXERCISES = (
    STALLED,
    Exercise("percentile", check_percentile, reads=("percentile",)),
)
