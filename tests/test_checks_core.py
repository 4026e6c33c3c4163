"""The checks' harness: verdicts with the hint first, mistakes named, the kit's answer refused,
runaway loops stopped, and verdicts remembered for the closing summary."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from wslab import protocol
from wslab.checks import core
from wslab.checks.core import (Case, Failure, Mistake, StuckInLoop, call, check_function,
                               last_verdict, loop_guard, run_async_check, run_check,
                               unawaited_calls)
from wslab.checks.predictions import Question
from wslab.checks.progress import Exercise, show_progress


def double(x):
    return 2 * x


CASES = [Case((1,), 2, "the case's own hint"), Case((5,), 10, "the case's own hint")]


def check_double(student):
    return check_function(student, CASES, name="double", reference=double,
                          mistakes=[Mistake("You added instead of multiplying.",
                                            makes=lambda x: x + 2)])


def test_a_failure_prints_the_verdict_then_the_hint_then_the_evidence(capsys):
    check_double(lambda x: x + 3)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "❌ double: not right yet."
    assert [line.split()[0] for line in out[1:5]] == ["hint:", "tried:", "expected:", "got:"]


def test_a_recognised_mistake_comes_before_the_cases_hint(capsys):
    assert check_double(lambda x: x + 2) is double
    out = capsys.readouterr().out
    assert "You added instead of multiplying." in out and "the case's own hint" not in out


@pytest.mark.parametrize("wrong, words", [
    (lambda x: print(2 * x), "printed its answer and returned None"),
    (lambda x: asyncio.sleep(0, 2 * x), "returned a coroutine"),
    (lambda x: [2 * x], "the case's own hint"),
    (lambda x: 2.0 ** (x * 2000), "too large for a float"),
])
def test_mistakes_of_any_exercise_are_named(wrong, words, capsys):
    check_double(wrong)
    assert words in " ".join(capsys.readouterr().out.split())


def test_common_mistakes_in_results():
    assert "bytes" in core.common_mistake(b"x", "x")
    assert "encode" in core.common_mistake("x", b"x")
    assert "list, where a tuple" in core.common_mistake([1, 2], (1, 2))
    assert core.common_mistake(3, 4) is None


def test_the_kits_own_answer_is_never_passed(capsys):
    assert check_function(protocol.accept_key, [], name="accept_key",
                          reference=protocol.accept_key) is protocol.accept_key
    out = capsys.readouterr().out
    assert out.startswith("⚠️ accept_key: run your exercise cell first.") and "✅" not in out
    assert "wslab.protocol.accept_key" in out
    assert last_verdict("accept_key", (protocol.accept_key,)) == "stale"


def test_a_verdict_is_remembered_for_exactly_the_objects_it_judged(capsys):
    def mine(x):
        return x * 2

    run_check("remembered", lambda: "fine", student=mine, inputs=(double,))
    assert last_verdict("remembered", (mine, double)) == "passed"
    assert last_verdict("remembered", (lambda x: x * 2, double)) is None


def test_call_turns_the_stub_into_not_done_and_a_bug_into_a_failure():
    def stub():
        raise NotImplementedError("exercise: stub")

    with pytest.raises(core.NotDone):
        call(stub, tried="stub()", expected="1", hint="h")
    with pytest.raises(Failure) as failure:
        call(lambda: 1 / 0, tried="f()", expected="1", hint=lambda exc: "divide by something")
    assert failure.value.got == "raised ZeroDivisionError: division by zero"
    assert failure.value.hint == "divide by something"


def test_only_a_float_overflow_is_named_as_a_power_that_grew_too_large():
    assert "2 ** attempt" in core.common_exception(OverflowError("int too large to convert "
                                                                 "to float"))
    assert "2 ** attempt" in core.common_exception(OverflowError(34, "Numerical result out of "
                                                                     "range"))
    assert core.common_exception(OverflowError("int too big to convert")) is None


class Counter:
    def __init__(self):
        self.count = 0

    async def add(self, n):
        self.count += n
        return self.count

    def reset(self):
        self.count = 0

    async def forget(self):
        raise KeyError("alice")


async def test_call_method_awaits_as_the_caller_does_and_names_the_wrong_kind_of_def():
    counter = Counter()
    assert await core.call_method(counter.add, 2, tried="add(2)", expected="2", hint="h") == 2
    with pytest.raises(Failure) as failure:
        await core.call_method(counter.reset, tried="reset()", expected="0", hint="h")
    assert "must be an async def" in failure.value.hint
    with pytest.raises(Failure) as failure:
        await core.call_method(counter.add, 1, plain=True, tried="add(1)", expected="1",
                               hint="h")
    assert "plain def, not an async def" in failure.value.hint
    assert counter.count == 0  # reset() ran; add(1), never awaited, did not
    with pytest.raises(Failure) as failure:
        await core.call_method(counter.forget, tried="forget()", expected="no error",
                               hint=lambda exc: f"{exc} was not there")
    assert failure.value.hint == "'alice' was not there"
    with pytest.raises(asyncio.TimeoutError):
        await core.call_method(asyncio.sleep, 1, tried="sleep(1)", expected="", hint="h",
                               patience=0.01)


def test_the_loop_guard_stops_a_loop_that_never_ends(monkeypatch):
    monkeypatch.setattr(core, "LOOP_LIMIT", 0.3)

    def spin():
        while True:
            pass

    with pytest.raises(Failure) as failure:
        call(spin, tried="spin()", expected="an answer", hint="h")
    assert "StuckInLoop" in failure.value.got
    assert "without returning or awaiting" in failure.value.hint


@pytest.mark.filterwarnings("ignore:coroutine 'Queue.get' was never awaited")
async def test_the_loop_guard_stops_a_coroutine_that_never_awaits(monkeypatch, capsys):
    monkeypatch.setattr(core, "LOOP_LIMIT", 0.3)

    async def receive_forever(queue):
        while True:
            queue.get()  # a missing await: a coroutine made and dropped, again and again

    async def body():
        await receive_forever(asyncio.Queue())
        return "never"

    assert await run_async_check("spinner", body) is False
    out = " ".join(capsys.readouterr().out.split())
    assert "❌ spinner" in out and "without returning or awaiting" in out


async def test_a_coroutine_that_awaits_is_not_stopped_however_long_it_runs(monkeypatch, capsys):
    monkeypatch.setattr(core, "LOOP_LIMIT", 0.2)

    async def patient():
        for _ in range(6):
            await asyncio.sleep(0.1)
        return "done"

    async def body():
        return await patient()

    assert await run_async_check("patient", body) is True


async def test_a_guarded_coroutine_is_guarded_again_after_the_guard_has_acted(monkeypatch):
    """Two endless loops on one event loop: both are stopped, and the caller hears of each."""
    monkeypatch.setattr(core, "LOOP_LIMIT", 0.2)
    stops = []

    async def spin_after(pause):
        await asyncio.sleep(pause)
        while True:
            pass

    def start(pause):
        return asyncio.ensure_future(core.GuardedCoroutine(spin_after(pause),
                                                           lambda: stops.append(pause)))

    first, second = start(0), start(0.05)
    done, _ = await asyncio.wait({first, second}, timeout=5)
    assert done == {first, second} and stops == [0, 0.05]
    assert all(isinstance(run.exception(), StuckInLoop) for run in done)


def test_the_guard_stays_out_of_a_debuggers_way():
    def debugger(frame, event, arg):
        return None

    inside = []

    def run():
        sys.settrace(debugger)
        with loop_guard():
            inside.append(sys.gettrace())
        inside.append(sys.gettrace())
        sys.settrace(None)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert inside == [debugger, debugger]


def test_unawaited_calls_are_found_in_the_source():
    async def endpoint(websocket):
        await websocket.accept()
        websocket.send_text("hi")
        if True:
            websocket.close(code=1008)
        await websocket.send_text("fine")
        asyncio.create_task(websocket.receive_text())
        return websocket.receive_text()

    found = unawaited_calls(endpoint, {"accept", "send_text", "close", "receive_text"})
    assert found == ["websocket.send_text('hi')", "websocket.close(code=1008)"]
    assert "are calls to an async function without await" in core.missing_await_hint(found)


def test_a_stored_coroutine_counts_as_unawaited_unless_it_is_used_later():
    async def endpoint(websocket):
        text = websocket.receive_text()
        greeting = websocket.send_text("hi")
        await greeting
        task = websocket.receive_text()
        asyncio.create_task(task)
        return text

    async def forgotten(websocket):
        text = websocket.receive_text()
        print(text.upper())

    assert unawaited_calls(endpoint, {"receive_text", "send_text"}) == []
    assert unawaited_calls(forgotten, {"receive_text"}) == ["websocket.receive_text()"]


def test_the_source_of_a_class_is_its_methods():
    class Manager:
        async def broadcast(self, message):
            for ws in self.sockets:
                ws.send_text(message)

    assert unawaited_calls(Manager, {"send_text"}) == ["ws.send_text(message)"]


async def test_the_summary_runs_a_check_again_only_for_new_code(capsys):
    runs = []

    def check_twice(student):
        runs.append(student)
        return check_function(student, CASES, name="twice", reference=double)

    def mine(x):
        return x + x

    exercises = [Exercise("twice", check_twice, reads=("twice",))]
    check_twice(mine)
    assert await show_progress(exercises, {"twice": mine}) == {"twice": "passed"}
    assert runs == [mine]  # remembered: not run again
    assert await show_progress(exercises, {}) == {"twice": "missing"}

    def wrong(x):
        return x

    assert await show_progress(exercises, {"twice": wrong}) == {"twice": "failed"}
    out = capsys.readouterr().out
    assert "0 of 1 done" in out and "❌ twice" in out and "not right yet" in out


async def test_a_prediction_is_right_only_when_made_before_what_happened(capsys):
    question = Question("predict: parity", options={"a": "even", "b": "odd"},
                        classify=lambda n: "a" if n % 2 == 0 else "b", why="Because.")
    assert await question.status({}) == "no_prediction"
    question.predict("A")
    assert await question.status({}) == "no_demo"
    assert question.check(4) is True
    assert await question.status({}) == "passed"
    question.predict("a")  # Run All: the same prediction again keeps its place
    assert await question.status({}) == "passed"
    question.predict("b")
    assert await question.status({}) == "late_prediction"
    assert question.check(4) is False
    out = capsys.readouterr().out
    assert "after the demo had run" in " ".join(out.split()) and "why: Because." in out


def test_what_the_students_code_printed_comes_after_the_verdict(capsys):
    def noisy(x):
        print("debugging", x)
        return x + 3

    check_double(noisy)
    out = capsys.readouterr().out
    assert out.startswith("❌ double: not right yet.\n   hint:")
    assert out.index("got:") < out.index("Your code printed, while the check ran:")
    assert "   │ debugging 1" in out


def test_many_printed_lines_are_cut_short(capsys):
    run_check("chatty", lambda: [print(n) for n in range(40)] and "fine", student=double)
    out = capsys.readouterr().out
    assert out.startswith("✅ chatty: fine")
    assert "   │ 11\n" in out and "   │ 12\n" not in out and "... and 28 more lines" in out


async def test_a_coroutine_left_unawaited_by_the_students_code_raises_no_warning(recwarn):
    async def send(text):
        return text

    def forgetful():
        send("hello")  # the student's missing await: a coroutine made and dropped
        raise Failure(tried="t", expected="e", got="g", hint="an await is missing")

    assert run_check("forgetful", forgetful, student=double) is False
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


def test_one_forgotten_call_in_two_branches_is_named_once():
    async def endpoint(websocket, token):
        if not token:
            websocket.close(code=1008)
        elif token != "right":
            websocket.close(code=1008)

    assert unawaited_calls(endpoint, {"close"}) == ["websocket.close(code=1008)"]


def test_markup_in_the_evidence_is_not_broken_at_its_hyphens(capsys):
    markup = '<span class="wslab-time">12:00</span> ' * 4
    core.failed("line", tried="t", expected=markup, got=markup, hint="h", fallback=None)
    assert 'class="wslab-\n' not in capsys.readouterr().out
