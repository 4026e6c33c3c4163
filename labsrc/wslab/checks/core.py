"""The harness every self-check runs on: calling the student's code, naming mistakes, verdicts.

A check never lets the student's exception escape: it catches it and reports it as what the
code "got". ``NotImplementedError`` is how an untouched exercise stub says "not done yet".

Four promises hold for every check built on this module:

- **It never passes the kit's own answer.** A check returns what the notebook carries on with
  (the student's code once it passes, the kit's reference until then), and the lesson keeps
  that under a name of its own, never the student's. If the kit's object is handed in anyway
  (a stale binding from an older notebook, or a name the student pointed at the kit), the
  check says "run your exercise cell first" instead of ✅.
- **The hint comes first**: the verdict line, then the hint, then what was tried, expected and
  got. A hint names the mistake without giving the answer away.
- **Hints belong to mistakes, not to test cases.** Before a case's own hint, the harness looks
  for the mistakes students make in any exercise (:func:`common_mistake`): a coroutine where a
  value was due (a missing ``await``), ``print`` instead of ``return``, bytes for str, a list
  for a tuple, an ``OverflowError`` from ``2 ** attempt``. A check adds the mistakes of its own
  exercise as :class:`Mistake` entries, each recognised by reproducing it, and
  :func:`unawaited_calls` finds a coroutine call left without ``await`` in the student's source.
- **A loop that never gives control back does not hang the kernel.** Student code runs under
  :func:`loop_guard`, which stops a frame that has run for :data:`LOOP_LIMIT` seconds without
  returning or awaiting. The Interrupt button cannot always do that: a check may be waiting in
  ``finally:`` for a server thread stuck in such a loop.

Each verdict is recorded with the objects it judged (:func:`last_verdict`), so the notebook's
closing summary (:mod:`wslab.checks.progress`) can reuse it while those objects are unchanged.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import dataclasses
import gc
import inspect
import io
import os
import re
import sys
import sysconfig
import textwrap
import time
import warnings
from pathlib import Path
from types import FrameType
from typing import Any, Awaitable, Callable, Iterable, Iterator, TypeVar

from starlette.websockets import WebSocketDisconnect

from wslab import errors
from wslab.envelope import CHAT_FIELDS

T = TypeVar("T")

PASSED = "✅"
NOT_DONE = "⏳"
FAILED = "❌"
STALE = "⚠️"

#: Seconds a student's frame may run without returning or awaiting before the guard stops it.
LOOP_LIMIT = 5.0


# -- findings ------------------------------------------------------------------------------------


class Failure(Exception):
    """A check's finding: what it tried, what it expected, what it got, and a hint."""

    def __init__(self, *, tried: str, expected: str, got: str, hint: str) -> None:
        super().__init__(got)
        self.tried, self.expected, self.got, self.hint = tried, expected, got, hint


class NotDone(Exception):
    """Raised inside a check when the student's code is still the stub."""


class StuckInLoop(Exception):
    """Raised into a student's frame that ran too long without returning or awaiting."""


@dataclasses.dataclass
class Case:
    """One input to try: the arguments, the expected result, and a hint for when it differs.

    ``call`` is how the call is shown to the student; by default ``name(arg, ...)``. The hint
    is the last resort: a recognised mistake (:class:`Mistake`, :func:`common_mistake`) comes
    before it.
    """

    args: tuple[Any, ...]
    expected: Any
    hint: str
    call: str | None = None


@dataclasses.dataclass
class Mistake:
    """A mistake students make in one exercise, and the hint that names it.

    It is recognised by reproducing it: ``makes`` is the mistaken function, and a student's
    answer equal to what it returns for the same arguments is that mistake. ``raises`` instead
    recognises an exception the mistake raises.
    """

    hint: str
    makes: Callable[..., Any] | None = None
    raises: type[BaseException] | tuple[type[BaseException], ...] | None = None

    def seen(self, args: tuple[Any, ...], got: Any = None,
             exc: BaseException | None = None) -> bool:
        if exc is not None:
            return self.raises is not None and isinstance(exc, self.raises)
        if self.makes is None:
            return False
        try:
            return bool(self.makes(*args) == got)
        except Exception:  # the mistake cannot be reproduced on these arguments
            return False


def shown(value: Any, limit: int = 300) -> str:
    """``repr`` of a value, shortened so a huge result cannot flood the notebook."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 12] + " … (cut)" + text[-4:]


def describe_exception(exc: BaseException) -> str:
    """What the student's code did, as a check's "got" says it: ``raised KeyError: 'x'``."""
    return f"raised {errors.describe_exception(exc)}"


def what_it_raised(exc: BaseException) -> str:
    """:func:`describe_exception` in one line, and a disconnect with its close code."""
    if isinstance(exc, WebSocketDisconnect):
        return f"raised WebSocketDisconnect (code {exc.code})"
    return describe_exception(exc).partition("\n")[0]


# -- the mistakes of any exercise ----------------------------------------------------------------

MISSING_AWAIT = ("Your function returned a coroutine, not a value: it is declared async def, or "
                 "it returns a call to an async function without await. A coroutine does "
                 "nothing until it is awaited.")
PRINT_NOT_RETURN = ("Your function printed its answer and returned None: print() only shows "
                    "text. The check (and the code that calls yours) gets what you return.")
OVERFLOW = ("A number grew too large for a float (OverflowError): 2 ** attempt is huge for a "
            "large attempt. Keep it bounded before it can get that big.")
#: What Python says when a float overflows (``0.5 * 2 ** 2000``, ``2.0 ** 2000``,
#: ``math.pow``), as opposed to an int packed into too few bytes, whose hint is the exercise's.
_FLOAT_OVERFLOW = re.compile(r"float|out of range|math range error")
STUCK = ("Your code ran for {limit:g} s without returning or awaiting: a loop that never ends, "
         "or one whose await is missing (then it spins without ever giving the server a turn).")


def common_mistake(got: Any, expected: Any) -> str | None:
    """The hint for a mistake any exercise can show in its result, or None.

    (``print`` instead of ``return`` and a returned coroutine are caught by :func:`call`.)
    """
    if isinstance(expected, str) and isinstance(got, (bytes, bytearray)):
        return "Your answer is bytes, where a str is due: decode it (.decode())."
    if isinstance(expected, (bytes, bytearray)) and isinstance(got, str):
        return "Your answer is a str, where bytes are due: encode it (.encode())."
    if isinstance(expected, tuple) and isinstance(got, list):
        return ("Your answer is a list, where a tuple is due: the result is a fixed pair of "
                "values, written with ( ) or just commas.")
    if isinstance(expected, list) and isinstance(got, tuple):
        return "Your answer is a tuple, where a list is due."
    return None


def common_exception(exc: BaseException) -> str | None:
    """The hint for an exception any exercise can raise, or None."""
    if isinstance(exc, StuckInLoop):
        return STUCK.format(limit=LOOP_LIMIT)
    if isinstance(exc, OverflowError) and _FLOAT_OVERFLOW.search(str(exc)):
        return OVERFLOW
    if isinstance(exc, TypeError) and "coroutine" in str(exc):
        return ("A coroutine was used as if it were a value: an await is missing in front of "
                "a call to an async function.")
    return None


def missing_field_hint(exc: BaseException, data: Any) -> str | None:
    """The hint for a KeyError on a field a chat message does not have: a wrong field name."""
    if not (isinstance(exc, KeyError) and isinstance(data, dict) and exc.args):
        return None
    key = exc.args[0]
    if key in data:
        return None
    fields = ", ".join(repr(field) for field in CHAT_FIELDS)
    return (f"A message from the server has no field {key!r}: a chat line has {fields}, and "
            "the server's own messages have a \"type\" as well.")


def source_of(obj: Any) -> str:
    """The source of a function or class, including one typed into a notebook cell ('' if none).

    For a class, the source of its functions: ``inspect.getsource`` cannot find a class defined
    in a notebook cell, but its functions know their cell.
    """
    if inspect.isclass(obj):
        members = [member for member in vars(obj).values()
                   if inspect.isfunction(member) or isinstance(member, (staticmethod,
                                                                          classmethod))]
        return "\n".join(source_of(getattr(member, "__func__", member)) for member in members)
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return ""


def unawaited_calls(obj: Any, names: Iterable[str]) -> list[str]:
    """Calls to ``names`` (coroutine functions or methods) in ``obj``'s source without ``await``.

    Each is shown as the call's text, e.g. ``websocket.close(code=1008)``. A call that is
    awaited, passed on (to ``create_task``, ``gather``, ``wait_for``...) or returned is handled.
    So is one stored in a name, ``text = websocket.receive_text()``, but only if that name is
    then awaited, passed on or returned: otherwise the stored coroutine is the commonest
    forgotten await of all.
    """
    wanted = set(names)
    try:
        tree = ast.parse(source_of(obj))
    except SyntaxError:
        return []
    handled: set[int] = set()
    stored: dict[int, list[str]] = {}
    used: set[str] = set()  # names awaited, passed on or returned
    for node in ast.walk(tree):
        if isinstance(node, ast.Await):
            handled.add(id(node.value))
        elif isinstance(node, ast.Return):
            handled.add(id(node.value))
        elif isinstance(node, ast.Call):
            handled.update(id(arg) for arg in node.args)
            handled.update(id(keyword.value) for keyword in node.keywords)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            stored[id(node.value)] = [target.id for target in node.targets
                                      if isinstance(target, ast.Name)]
        if isinstance(node, (ast.Await, ast.Return)) and isinstance(node.value, ast.Name):
            used.add(node.value.id)
        elif isinstance(node, ast.Call):
            used.update(arg.id for arg in node.args if isinstance(arg, ast.Name))
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and _called_name(node) in wanted
                and id(node) not in handled
                and not (id(node) in stored and used.intersection(stored[id(node)]))):
            text = ast.unparse(node)
            if text not in found:  # the same call in two branches is one mistake
                found.append(text)
    return found


def _called_name(node: ast.Call) -> str | None:
    func = node.func
    return (func.attr if isinstance(func, ast.Attribute)
            else func.id if isinstance(func, ast.Name) else None)


def missing_await_hint(calls: list[str]) -> str:
    shown_calls = ", ".join(f"`{call}`" for call in calls[:3])
    return (f"{shown_calls} {'is a call' if len(calls) == 1 else 'are calls'} to an async "
            "function without await: such a call only makes a coroutine, and nothing "
            "happens.")


def unawaited_failure(where: str, calls: list[str], awaited: str = "the connection") -> Failure:
    """The finding for calls left without ``await`` in the source of ``where``.

    A check raises it after a run that otherwise passed: such a call may do no visible harm in
    one run, and still never happen.
    """
    return Failure(tried=f"read the code of {where}", expected=f"every call to {awaited} awaited",
                   got=f"{', '.join(calls)} without await", hint=missing_await_hint(calls))


# -- verdicts ------------------------------------------------------------------------------------


def _wrapped(label: str, text: str) -> list[str]:
    # Not at hyphens: the evidence is often code or markup, where class="wslab-time" must
    # stay whole.
    return textwrap.wrap(text, width=88, initial_indent=f"   {label:<10}",
                         subsequent_indent=" " * 13, break_on_hyphens=False) or [f"   {label}"]


def _note(text: str) -> list[str]:
    """A sentence under a verdict, indented under its first line."""
    return textwrap.wrap(text, width=88, initial_indent="   ", subsequent_indent="   ",
                         break_on_hyphens=False)


#: At most this many lines of what the student's code printed are shown under a verdict.
PRINTED_LINES = 12


def _printed(text: str) -> list[str]:
    """What the student's code printed during a check, shown under the verdict, indented."""
    lines = text.rstrip("\n").splitlines()
    if not lines:
        return []
    shown_lines = [f"   │ {line}" for line in lines[:PRINTED_LINES]]
    if len(lines) > PRINTED_LINES:
        shown_lines.append(f"   │ ... and {len(lines) - PRINTED_LINES} more lines")
    return ["   Your code printed, while the check ran:", *shown_lines]


def passed(name: str, detail: str) -> None:
    print(f"{PASSED} {name}: {detail}")


def not_done(name: str, fallback: str | None) -> None:
    then = (f"The notebook carries on with {fallback} for now." if fallback
            else "The cells below that need it will say so.")
    print("\n".join([f"{NOT_DONE} {name}: not done yet.", *_note(then)]))


def stale(name: str, student: Any) -> None:
    what = f"{getattr(student, '__module__', 'wslab')}.{getattr(student, '__qualname__', '')}"
    print("\n".join([f"{STALE} {name}: run your exercise cell first.",
                     *_note(f"What this check was given is the kit's own {what}, not your code, "
                            "so there is nothing of yours to check yet. Run the cell where you "
                            "wrote it, then this check again.")]))


def failed(name: str, *, tried: str, expected: str, got: str, hint: str,
           fallback: str | None) -> None:
    """Print a failure: the verdict, the hint first, then what was tried, expected and got."""
    lines = [f"{FAILED} {name}: not right yet.",
             *_wrapped("hint:", hint),
             *_wrapped("tried:", tried),
             *_wrapped("expected:", expected),
             *_wrapped("got:", got)]
    if fallback:
        lines += _note(f"The notebook carries on with {fallback} until yours passes.")
    print("\n".join(lines))


def is_kit_object(value: Any) -> bool:
    """Whether ``value`` is a function or class of ``wslab`` itself: the kit's answer."""
    if not (inspect.isfunction(value) or inspect.isclass(value)):
        return False
    module = getattr(value, "__module__", "") or ""
    return module == "wslab" or module.startswith("wslab.")


# -- what each check last said, for the closing summary ---------------------------------------

@dataclasses.dataclass
class Verdict:
    """One check's last verdict: passed, failed, not_done or stale, and what it judged."""

    status: str
    judged: tuple[Any, ...]  # kept alive, so their ids cannot be reused by other objects


_verdicts: dict[str, Verdict] = {}


def _record(name: str, status: str, judged: tuple[Any, ...]) -> None:
    _verdicts[name] = Verdict(status, judged)


def last_verdict(name: str, judged: tuple[Any, ...]) -> str | None:
    """The status of check ``name``'s last run, if it judged exactly these objects."""
    verdict = _verdicts.get(name)
    if verdict is None or len(verdict.judged) != len(judged):
        return None
    same = all(a is b for a, b in zip(verdict.judged, judged))
    return verdict.status if same else None


# -- running the student's code -----------------------------------------------------------------

_LIBRARY_DIRS = tuple(sorted({os.path.realpath(path) + os.sep for key in
                              ("stdlib", "platstdlib", "purelib", "platlib")
                              if (path := sysconfig.get_paths().get(key))}
                             | {os.path.realpath(Path(__file__).parent.parent) + os.sep}))
_student_files: dict[str, bool] = {}


def _is_student_file(filename: str) -> bool:
    """Code a student wrote: a notebook cell or a file outside Python, its packages and wslab."""
    known = _student_files.get(filename)
    if known is None:
        if filename.startswith("<"):
            known = filename.startswith("<ipython-input")
        else:
            known = not os.path.realpath(filename).startswith(_LIBRARY_DIRS)
        _student_files[filename] = known
    return known


class _LoopGuard:
    """A trace function that stops a student's frame running too long without a pause.

    A frame's clock starts each time it is entered or resumed (a coroutine is resumed after
    each await) and stops when it returns or suspends, so only time spent without giving control
    back counts. Only frames of student code are traced line by line.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.started: dict[FrameType, float] = {}
        self.lines = 0

    def enter(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "call" and _is_student_file(frame.f_code.co_filename):
            self.started[frame] = time.monotonic()
            return self.step
        return None

    def step(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "return":
            self.started.pop(frame, None)
        elif event == "line":
            self.lines += 1
            if self.lines % 64 == 0:
                start = self.started.get(frame)
                if start is not None and time.monotonic() - start > self.limit:
                    self.started.pop(frame, None)
                    # Raising here stops the student's frame; Python then also unsets this
                    # trace function, so the guard acts once per thread.
                    raise StuckInLoop(f"ran {self.limit:g} s without returning or awaiting")
        return self.step


def guard_this_thread() -> None:
    """Guard student code in the current thread for as long as it lives (a server's thread).

    Does nothing where a debugger or coverage tool already traces this thread.
    """
    if sys.gettrace() is None:
        sys.settrace(_LoopGuard(LOOP_LIMIT).enter)


class GuardedCoroutine:
    """Awaits a coroutine of the student's, arming the loop guard before each of its steps.

    The guard lets go of the thread once it has stopped an endless loop (see
    :func:`guard_this_thread`). Other coroutines of the student's that share this thread's
    event loop would then run unguarded, and the next endless one would hang the kernel. So
    each step is guarded afresh, and ``stopped`` is called the moment the guard has acted,
    for the caller to cancel the others.
    """

    def __init__(self, coroutine: Any, stopped: Callable[[], None]) -> None:
        self.coroutine, self.stopped = coroutine, stopped

    def __await__(self) -> Any:
        step, value = self.coroutine.send, None
        while True:
            guard_this_thread()
            try:
                waiting_for = step(value)
            except StopIteration as done:
                return done.value
            finally:
                if sys.gettrace() is None:  # the guard stopped a loop in this step
                    self.stopped()
            try:
                step, value = self.coroutine.send, (yield waiting_for)
            except BaseException as exc:  # a cancellation, thrown in where the test waits
                step, value = self.coroutine.throw, exc



@contextlib.contextmanager
def loop_guard() -> Iterator[None]:
    """Guard student code run in this thread inside the ``with`` block."""
    previous = sys.gettrace()
    if previous is not None:  # a debugger, coverage, or an enclosing guard: leave it be
        yield
        return
    sys.settrace(_LoopGuard(LOOP_LIMIT).enter)
    try:
        yield
    finally:
        sys.settrace(None)


class _Tee(io.TextIOBase):
    """Writes to the cell as usual, and keeps a copy: what the student's code printed."""

    def __init__(self, through: Any) -> None:
        self.through, self.kept = through, io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.through.write(text)

    def flush(self) -> None:
        self.through.flush()


def call(function: Callable[..., Any], args: tuple[Any, ...] = (),
         kwargs: dict[str, Any] | None = None, *, tried: str, expected: str,
         hint: str | Callable[[BaseException], str], none_expected: bool = False) -> Any:
    """Call the student's function as a check does; return its result.

    Raises :class:`NotDone` for the stub, and :class:`Failure` for an exception (hint: a common
    mistake, else ``hint``), a coroutine returned (a missing ``await``), or ``None`` returned
    after printing (unless ``none_expected``).
    """
    tee = _Tee(sys.stdout)
    try:
        with loop_guard(), contextlib.redirect_stdout(tee):
            got = function(*args, **(kwargs or {}))
    except NotImplementedError:
        raise NotDone from None
    except Exception as exc:  # the student's bug, reported as what the code did
        said = common_exception(exc) or (hint(exc) if callable(hint) else hint)
        raise Failure(tried=tried, expected=expected, got=describe_exception(exc),
                      hint=said) from None
    if inspect.iscoroutine(got):
        got.close()
        raise Failure(tried=tried, expected=expected, got="a coroutine object",
                      hint=MISSING_AWAIT)
    if got is None and not none_expected and tee.kept.getvalue().strip():
        raise Failure(tried=tried, expected=expected, got="None (and it printed something)",
                      hint=PRINT_NOT_RETURN)
    return got


async def call_method(method: Callable[..., Any], *args: Any, tried: str, expected: str,
                      hint: str | Callable[[BaseException], str], plain: bool = False,
                      patience: float | None = None) -> Any:
    """Call one of the student's methods as its caller does: awaited, or (``plain``) not.

    :func:`call` is for plain functions that return a value. The methods of a manager or a
    worker are mostly async; one that waits too long is a finding (``patience``: it raises
    asyncio.TimeoutError), and one that is async where the caller does not await it, or plain
    where the caller awaits it, is a mistake of its own. ``hint`` (or ``hint(exc)``) names a
    mistake that raised.
    """
    name = getattr(method, "__name__", "the method")
    try:
        result = method(*args)
        if plain:
            if inspect.iscoroutine(result):
                result.close()
                raise Failure(tried=tried, expected=expected,
                              got="a coroutine object: nothing in it ran",
                              hint=f"{name} is a plain def, not an async def: its "
                                   "caller calls it without await, so nothing in an async "
                                   "def would ever run.")
            return result
        if not inspect.isawaitable(result):
            raise Failure(tried=tried, expected=expected,
                          got=f"it returned {shown(result)}, not something to await",
                          hint=f"{name} must be an async def: its caller awaits it, and it "
                               "awaits other async methods in turn.")
        return await (result if patience is None else asyncio.wait_for(result, patience))
    except (Failure, NotImplementedError, asyncio.TimeoutError):
        raise
    except Exception as exc:  # the student's bug, reported as what the method did
        said = common_exception(exc) or (hint(exc) if callable(hint) else hint)
        raise Failure(tried=tried, expected=expected, got=describe_exception(exc),
                      hint=said) from None


def _call_text(name: str, case: Case) -> str:
    return case.call or f"{name}({', '.join(shown(arg, 80) for arg in case.args)})"


def check_function(student: Callable[..., T], cases: Iterable[Case], *, name: str,
                   reference: Callable[..., T], fallback: str | None = None,
                   mistakes: Iterable[Mistake] = (),
                   same: Callable[[Any, Any], bool] = lambda got, want: got == want,
                   ) -> Callable[..., T]:
    """Run ``student`` on every case; print one verdict; return the function to carry on with.

    ``reference`` (named ``fallback`` for the student) is returned while the student's version
    is unfinished or wrong, so later cells still work. On the first case that fails, the hint
    is the first of: a common mistake, one of ``mistakes``, the case's own hint.
    """
    cases = list(cases)
    mistakes = list(mistakes)

    def body() -> str:
        for case in cases:
            tried = _call_text(name, case)
            expected = shown(case.expected)

            def exception_hint(exc: BaseException, case: Case = case) -> str:
                return next((m.hint for m in mistakes if m.seen(case.args, exc=exc)), case.hint)

            got = call(student, case.args, tried=tried, expected=expected,
                       hint=exception_hint, none_expected=case.expected is None)
            if not same(got, case.expected):
                hint = (common_mistake(got, case.expected)
                        or next((m.hint for m in mistakes if m.seen(case.args, got)), case.hint))
                raise Failure(tried=tried, expected=expected, got=shown(got), hint=hint)
        return f"all {len(cases)} checks passed."

    return reference if not run_check(name, body, fallback=fallback, student=student) \
        else student


def carry_on(ok: bool, student: T, reference: T) -> T:
    """What the notebook carries on with: the student's code once it passed, else the kit's."""
    return student if ok else reference


def run_check(name: str, body: Callable[[], str], *, fallback: str | None = None,
              student: Any = None, inputs: tuple[Any, ...] = ()) -> bool:
    """Run a check ``body`` that raises :class:`Failure` or :class:`NotDone`; print one verdict.

    ``body`` returns the detail for the success line. ``student`` is the student's object under
    check (the kit's own gets "run your exercise cell first"); ``inputs`` are other objects the
    verdict depends on. Returns whether the check passed.
    """
    judged = (student, *inputs)
    if is_kit_object(student):
        stale(name, student)
        _record(name, "stale", judged)
        return False
    printed = io.StringIO()
    try:
        with loop_guard(), contextlib.redirect_stdout(printed), _unawaited_coroutines_dropped():
            detail = body()
    except (NotDone, NotImplementedError):
        not_done(name, fallback)
        status = "not_done"
    except Failure as failure:
        failed(name, tried=failure.tried, expected=failure.expected, got=failure.got,
               hint=failure.hint, fallback=fallback)
        status = "failed"
    else:
        passed(name, detail)
        status = "passed"
    print("\n".join(_printed(printed.getvalue())), end="\n" if printed.getvalue() else "")
    _record(name, status, judged)
    return status == "passed"


@contextlib.contextmanager
def _unawaited_coroutines_dropped() -> Iterator[None]:
    """Collect the coroutines a check leaves unawaited, without Python's warning about them.

    A check that finds a missing ``await`` has, by then, made the coroutine the student's code
    forgot; when it is garbage-collected Python prints "RuntimeWarning: coroutine ... was
    never awaited" in red under the verdict, naming the check's own test objects. The verdict
    has already named the mistake, so while a check runs that warning is off, and the
    coroutines it left are collected before it ends.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="coroutine .* was never awaited",
                                category=RuntimeWarning)
        try:
            yield
        finally:
            gc.collect()  # the ones still held in reference cycles


async def run_async_check(name: str, body: Callable[[], Awaitable[str]], *,
                          fallback: str | None = None, timeout: float = 10.0,
                          student: Any = None, inputs: tuple[Any, ...] = ()) -> bool:
    """Run an async check ``body`` that raises :class:`Failure` or :class:`NotDone`.

    ``body`` returns the detail for the success line; the rest is as for :func:`run_check`.
    """
    problem: Exception | None = None
    detail = ""
    printed = io.StringIO()
    if not is_kit_object(student):
        try:
            with loop_guard(), contextlib.redirect_stdout(printed), _unawaited_coroutines_dropped():
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
                              hint=common_exception(exc) or "Read the exception: it comes "
                                                            "from your code.")

    def outcome() -> str:
        print(printed.getvalue(), end="")  # shown under the verdict, as for run_check
        if problem is not None:
            raise problem
        return detail

    return run_check(name, outcome, fallback=fallback, student=student, inputs=inputs)
