""""Predict, then run": the student writes down what a demo will do, then the demo settles it.

A :class:`Question` offers a few lettered outcomes. The student's cell before the demo calls
:meth:`Question.predict` with a letter; the demo then hands :meth:`Question.check` what it
really observed, and the question's ``classify`` turns that into the letter of what happened.
The verdict therefore comes from the run, never from an answer written into the lesson, and a
prediction made only after the demo ran is said to be late, not counted as right.

Questions are listed in a lesson's ``EXERCISES`` beside its exercises, so the closing summary
(:mod:`wslab.checks.progress`) shows them too.
"""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any, Callable, Mapping

from wslab.checks.core import FAILED, NOT_DONE, PASSED


@dataclasses.dataclass(eq=False)
class Question:
    """One prediction: the lettered ``options``, how to ``classify`` an observation, and why.

    ``why`` explains what happens, and is shown with the verdict, right or wrong.
    """

    name: str
    options: Mapping[str, str]
    classify: Callable[[Any], str]
    why: str
    prediction: str | None = dataclasses.field(default=None, init=False)
    happened: str | None = dataclasses.field(default=None, init=False)
    late: bool = dataclasses.field(default=False, init=False)

    def _choices(self) -> str:
        return ", ".join(f'"{letter}"' for letter in self.options)

    def predict(self, answer: Any) -> None:
        """Note the student's prediction (a letter of ``options``), before the demo runs."""
        letter = answer.strip().lower() if isinstance(answer, str) else None
        if letter not in self.options:
            _say(f"{NOT_DONE} {self.name}: write your prediction as one of {self._choices()}, "
                 "then run this cell.")
            return
        if letter != self.prediction:  # the same answer again (Run All) keeps its place
            self.late = self.happened is not None
        self.prediction = letter
        _say(f"📝 {self.name}: you predict ({letter}) {self.options[letter]}"
             + (" — but the demo has run already, so this counts as a prediction made after "
                "the fact." if self.late else ". Now run the demo."))

    def check(self, observed: Any) -> bool:
        """Compare the prediction with what the demo ``observed``; print why it happens."""
        self.happened = self.classify(observed)
        outcome = f"({self.happened}) {self.options[self.happened]}"
        if self.prediction is None:
            mark, verdict = NOT_DONE, (f"what happened was {outcome}. You had not predicted "
                                       "yet: next time, predict first.")
        elif self.late:
            mark, verdict = FAILED, (f"what happened was {outcome}; your prediction came "
                                     "after the demo had run.")
        elif self.prediction == self.happened:
            mark, verdict = PASSED, f"you predicted it: {outcome}."
        else:
            mark, verdict = FAILED, (f"you predicted ({self.prediction}) "
                                     f"{self.options[self.prediction]}, but what happened was "
                                     f"{outcome}.")
        _say(f"{mark} {self.name}: {verdict}")
        print("\n".join(textwrap.wrap(self.why, width=88, initial_indent="   why: ",
                                      subsequent_indent=" " * 8, break_on_hyphens=False)))
        return mark == PASSED

    async def status(self, namespace: Mapping[str, Any]) -> str:
        """The question's line in the closing summary (it does not depend on the code)."""
        if self.prediction is None:
            return "no_prediction"
        if self.happened is None:
            return "no_demo"
        if self.late:
            return "late_prediction"
        return "passed" if self.prediction == self.happened else "wrong_prediction"


def _say(line: str) -> None:
    """Print one verdict line, wrapped at words (never inside one) under its first line."""
    print("\n".join(textwrap.wrap(line, width=88, subsequent_indent="   ",
                                  break_on_hyphens=False)))
