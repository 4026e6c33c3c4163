"""``wslab.waiting``: the waiting that ChatClient and ChatWidget share."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from wslab.waiting import Waiters


@dataclasses.dataclass
class Box:
    value: int = 0


async def test_a_state_that_passes_and_is_gone_again_is_still_seen():
    box = Box()
    waiters = Waiters(box, asyncio.get_running_loop())
    waiting = asyncio.ensure_future(
        waiters.wait_for(lambda seen: seen.value == 1 and "one", 1, str))
    await asyncio.sleep(0)  # the waiter is waiting
    box.value = 1
    waiters.changed()
    box.value = 2  # gone again before the waiting task runs
    waiters.changed()
    assert await waiting == "one"  # the predicate's value


async def test_a_state_that_holds_already_returns_at_once_and_a_timeout_says_what_was_seen():
    waiters = Waiters(Box(value=3), asyncio.get_running_loop())
    assert await waiters.wait_for(lambda seen: seen.value, 0, str) == 3
    with pytest.raises(TimeoutError, match="^the box held 3$"):
        await waiters.wait_for(lambda seen: seen.value == 4, 0.01, lambda: "the box held 3")


async def test_a_predicate_that_raises_is_raised_to_its_waiter():
    box = Box()
    waiters = Waiters(box, asyncio.get_running_loop())
    waiting = asyncio.ensure_future(waiters.wait_for(lambda seen: 1 / seen.value < 1, 1, str))
    with pytest.raises(ZeroDivisionError):
        await waiting
    box.value = 1
    waiting = asyncio.ensure_future(waiters.wait_for(lambda seen: 1 / seen.value == 0.5, 1, str))
    await asyncio.sleep(0)
    box.value = 0
    waiters.changed()
    with pytest.raises(ZeroDivisionError):
        await waiting
