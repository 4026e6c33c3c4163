"""The self-checks students run after each exercise, one module per lesson.

Every check runs the student's code on a few inputs and prints one verdict: a success line,
"not done yet", or exactly what went wrong (the input it tried, what it expected, what it got,
and a hint), never a bare traceback. It returns what the notebook should carry on with: the
student's code once it passes, wslab's reference until then, so a student stuck on one exercise
can still do the next. ``wslab.checks.core`` holds the machinery they share.
"""
