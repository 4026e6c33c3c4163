"""The reference answers to the lessons' exercises, kept apart from the checks that judge them.

One module per lesson, named like its check module in :mod:`wslab.checks`. A lesson's solution
cells are built from these (``### SOURCE wslab.answers.<module>:<name>`` lines), and a student
whose own answer does not pass yet carries on with them. Where an exercise's answer is the
package's own code (``wslab.protocol.accept_key``, ``wslab.backoff.backoff_delay``...), there
is no copy here: the check and the solution use that code itself.
"""
