"""Waiting until an object's state passes a test: what ``ChatClient.wait_for`` and
``ChatWidget.wait_for`` share.

The object says when it changed (:meth:`Waiters.changed`), and every waiting predicate is
checked right then, in the same step of the event loop. A state that passes and is gone again
before the waiting task next runs (``connected``, then at once ``closed``) is still seen: an
``asyncio.Event`` that wakes the waiter to look again would miss it.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Generic, TypeVar

__all__ = ["Waiters"]

T = TypeVar("T")


class Waiters(Generic[T]):
    """The predicates waiting on ``subject``, each with the future its waiter awaits."""

    def __init__(self, subject: T, loop: asyncio.AbstractEventLoop) -> None:
        self._subject = subject
        self._loop = loop
        self._waiting: list[tuple[Callable[[T], Any], asyncio.Future[Any]]] = []

    def changed(self) -> None:
        """Resolve every waiter whose predicate holds now (or raised: that is its answer)."""
        for predicate, future in list(self._waiting):
            if future.done():
                continue
            try:
                value = predicate(self._subject)
            except Exception as exc:
                future.set_exception(exc)
            else:
                if value:
                    future.set_result(value)

    async def wait_for(self, predicate: Callable[[T], Any], timeout: float,
                       seen: Callable[[], str]) -> Any:
        """Wait until ``predicate(subject)`` is true; return its value.

        Raises TimeoutError after ``timeout`` seconds with ``seen()``, what the subject showed.
        """
        value = predicate(self._subject)
        if value:
            return value
        waiter = (predicate, self._loop.create_future())
        self._waiting.append(waiter)
        try:
            return await asyncio.wait_for(waiter[1], timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(seen()) from None
        finally:
            self._waiting.remove(waiter)
