"""``wslab.quiet_log``: warnings of one kind come a few at a time, in every mode."""

from __future__ import annotations

import logging

from wslab.log_capture import ServerLog
from wslab.quiet_log import QuietRepeats, quieten


def record(msg: str = "Refused a frame from client %s",
           level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("wslab.room", level, __file__, 1, msg, ("bob",), None)


def test_repeated_warnings_come_a_few_at_a_time():
    clock = [0.0]
    quiet = QuietRepeats(burst=3, window=10, clock=lambda: clock[0])
    records = [record() for _ in range(50)]
    assert [quiet.filter(r) for r in records] == [True] * 3 + [False] * 47
    assert records[0].getMessage() == "Refused a frame from client bob"
    assert records[2].getMessage() == ("Refused a frame from client bob (more of these within "
                                       "10 s are left out of the log)")
    assert quiet.filter(record("Refused client %r"))  # another kind of warning
    clock[0] = 10.0
    assert quiet.filter(record())  # a new window


def test_lines_below_warning_all_pass():
    quiet = QuietRepeats(burst=1)
    assert all(quiet.filter(record("line %s", logging.INFO)) for _ in range(20))


def test_each_handler_is_quietened_once_and_the_runner_log_is_quiet():
    handler = logging.StreamHandler()
    quieten([handler, handler])
    assert sum(isinstance(f, QuietRepeats) for f in handler.filters) == 1
    assert any(isinstance(f, QuietRepeats) for f in ServerLog().filters)
