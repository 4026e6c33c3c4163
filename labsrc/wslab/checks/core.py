"""What every self-check shares: running a student's code on cases, and saying what happened.

A check never lets the student's exception escape: it catches it and reports it as what the
code "got". ``NotImplementedError`` is how an untouched exercise stub says "not done yet".
"""

from __future__ import annotations

import asyncio
import dataclasses
import textwrap
from typing import Any, Awaitable, Callable, Iterable, TypeVar

T = TypeVar("T")

PASSED = "✅"
NOT_DONE = "⏳"
FAILED = "❌"


@dataclasses.dataclass
class Case:
    """One input to try: the arguments, the expected result, and a hint for when it differs.

    ``call`` is how the call is shown to the student; by default ``name(arg, ...)``.
    """

    args: tuple[Any, ...]
    expected: Any
    hint: str
    call: str | None = None


class Failure(Exception):
    """A check's finding: what it tried, what it expected, what it got, and a hint."""

    def __init__(self, *, tried: str, expected: str, got: str, hint: str) -> None:
        super().__init__(got)
        self.tried, self.expected, self.got, self.hint = tried, expected, got, hint


class NotDone(Exception):
    """Raised inside a check when the student's code is still the stub."""


def shown(value: Any, limit: int = 300) -> str:
    """``repr`` of a value, shortened so a huge result cannot flood the notebook."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 12] + " … (cut)" + text[-4:]


def describe_exception(exc: BaseException) -> str:
    return f"raised {type(exc).__name__}: {exc}" if str(exc) else f"raised {type(exc).__name__}"


def passed(name: str, detail: str) -> None:
    print(f"{PASSED} {name}: {detail}")


def not_done(name: str, fallback: str | None) -> None:
    then = (f" The notebook carries on with {fallback} for now." if fallback
            else " The cells below that need it will say so.")
    print(f"{NOT_DONE} {name}: not done yet.{then}")


def failed(name: str, *, tried: str, expected: str, got: str, hint: str,
           fallback: str | None) -> None:
    lines = [f"{FAILED} {name}: not right yet.",
             f"   tried:    {tried}",
             f"   expected: {expected}",
             f"   got:      {got}",
             *textwrap.wrap(hint, width=88, initial_indent="   hint:     ",
                            subsequent_indent="             ")]
    if fallback:
        lines.append(f"   The notebook carries on with {fallback} until yours passes.")
    print("\n".join(lines))


def _call_text(name: str, case: Case) -> str:
    return case.call or f"{name}({', '.join(shown(arg, 80) for arg in case.args)})"


def check_function(student: Callable[..., T], cases: Iterable[Case], *, name: str,
                   reference: Callable[..., T] | None = None, fallback: str | None = None,
                   same: Callable[[Any, Any], bool] = lambda got, want: got == want,
                   ) -> Callable[..., T]:
    """Run ``student`` on every case; print one verdict; return the function to carry on with.

    ``reference`` (named ``fallback`` for the student) is returned while the student's version
    is unfinished or wrong, so later cells still work.
    """
    cases = list(cases)
    for case in cases:
        try:
            got = student(*case.args)
        except NotImplementedError:
            not_done(name, fallback)
            return reference or student
        except Exception as exc:  # the student's bug, reported as what the code did
            failed(name, tried=_call_text(name, case), expected=shown(case.expected),
                   got=describe_exception(exc), hint=case.hint, fallback=fallback)
            return reference or student
        if not same(got, case.expected):
            failed(name, tried=_call_text(name, case), expected=shown(case.expected),
                   got=shown(got), hint=case.hint, fallback=fallback)
            return reference or student
    passed(name, f"all {len(cases)} checks passed.")
    return student


def run_check(name: str, body: Callable[[], str], *, fallback: str | None = None) -> bool:
    """Run a check ``body`` that raises :class:`Failure` or :class:`NotDone`; print one verdict.

    ``body`` returns the detail for the success line. Returns whether the check passed.
    """
    try:
        detail = body()
    except (NotDone, NotImplementedError):
        not_done(name, fallback)
        return False
    except Failure as failure:
        failed(name, tried=failure.tried, expected=failure.expected, got=failure.got,
               hint=failure.hint, fallback=fallback)
        return False
    passed(name, detail)
    return True


async def run_async_check(name: str, body: Callable[[], Awaitable[str]], *,
                          fallback: str | None = None, timeout: float = 10.0) -> bool:
    """Run an async check ``body`` that raises :class:`Failure` or :class:`NotDone`.

    ``body`` returns the detail for the success line. Returns whether the check passed.
    """
    problem: Exception | None = None
    detail = ""
    try:
        detail = await asyncio.wait_for(body(), timeout)
    except asyncio.TimeoutError:
        problem = Failure(tried="the whole check", expected=f"to finish within {timeout:g} s",
                          got="it was still waiting", hint="Look for an await that never "
                          "returns, such as receiving from a client that sends nothing.")
    except (NotDone, NotImplementedError, Failure) as exc:
        problem = exc
    except Exception as exc:
        problem = Failure(tried="the whole check", expected="no exception",
                          got=describe_exception(exc),
                          hint="Read the exception: it comes from your code.")

    def outcome() -> str:
        if problem is not None:
            raise problem
        return detail

    return run_check(name, outcome, fallback=fallback)
