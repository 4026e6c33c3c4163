"""The kit's one backoff rule (``wslab.backoff``): doubling, the cap, and equal jitter."""

from __future__ import annotations

import itertools

import pytest

from wslab.backoff import Backoff, backoff_ceiling, backoff_delay


@pytest.mark.parametrize("attempt, ceiling", [(0, 1.0), (1, 2.0), (2, 4.0), (4, 16.0),
                                              (5, 30.0), (6, 30.0)])
def test_the_ceiling_doubles_from_first_up_to_the_cap(attempt, ceiling):
    assert backoff_ceiling(attempt, first=1.0, cap=30.0) == ceiling


@pytest.mark.parametrize("attempt", [61, 1024, 10 ** 6])
def test_a_very_late_attempt_waits_the_cap_without_overflowing(attempt):
    assert backoff_ceiling(attempt, first=0.1, cap=5.0) == 5.0
    assert backoff_delay(attempt, 0.5, first=0.1, cap=5.0) == 3.75


def test_the_wait_is_half_the_ceiling_plus_rand_times_the_other_half():
    assert backoff_delay(2, 0.0, first=1.0, cap=30.0) == 2.0   # never less than half
    assert backoff_delay(2, 0.5, first=1.0, cap=30.0) == 3.0
    assert backoff_delay(2, 0.999, first=1.0, cap=30.0) == pytest.approx(3.998)
    assert backoff_delay(0, 0.0, first=0.1, cap=5.0) == 0.05


def test_a_cap_below_first_caps_the_first_wait_too():
    assert backoff_ceiling(0, first=10.0, cap=3.0) == 3.0
    assert backoff_delay(0, 1.0, first=10.0, cap=3.0) == 3.0


def test_every_wait_lies_between_half_the_ceiling_and_the_ceiling():
    for attempt, rand in itertools.product(range(12), (0.0, 0.25, 0.5, 0.75, 0.999)):
        ceiling = backoff_ceiling(attempt, first=0.1, cap=5.0)
        assert ceiling / 2 <= backoff_delay(attempt, rand, first=0.1, cap=5.0) < ceiling


def test_backoff_keeps_its_numbers_and_draws_rand_once_per_delay():
    draws = iter([0.0, 1.0, 0.5])
    backoff = Backoff(first=1.0, cap=30.0, rand=lambda: next(draws))
    assert [backoff.delay(0), backoff.delay(1), backoff.delay(9)] == [0.5, 2.0, 22.5]
    assert backoff.ceiling(3) == 8.0 and backoff.ceiling(9) == 30.0


def test_backoff_is_random_by_default():
    backoff = Backoff(first=1.0, cap=30.0)
    delays = {backoff.delay(3) for _ in range(50)}
    assert len(delays) > 1 and all(4.0 <= delay < 8.0 for delay in delays)
