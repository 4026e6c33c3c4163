"""The self-checks students run after each exercise, one module per lesson.

Every check runs the student's code on a few inputs and prints one verdict: a success line,
"not done yet", "run your exercise cell first", or a hint that names the mistake followed by
exactly what it tried, what it expected and what it got; never a bare traceback. It returns
what the notebook should carry on with: the student's code once it passes, the kit's reference
(:mod:`wslab.answers`) until then. A lesson keeps that under a name of its own
(``checked_greeting = check_greeting(greeting)``), never the student's, so running a check again
always judges the student's own code.

:mod:`wslab.checks.core` is the harness they all run on; each lesson module lists its exercises
in ``EXERCISES`` for the closing summary (:mod:`wslab.checks.progress`), and
:mod:`wslab.checks.predictions` holds the "predict, then run" questions.
"""
