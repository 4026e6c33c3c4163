"""Lesson 00's checks: the warm-up exercise, its prediction, and the environment check."""

from __future__ import annotations

import asyncio

import pytest

from exercises import fresh, never_passed, none_passed, untouched
from notebook_run import run_student_notebook
from verdicts import failure, said, verdict
from wslab.answers.setup import greeting as kit_greeting
from wslab.checks import setup
from wslab.checks.progress import show_progress
from wslab.checks.setup import NO_AWAIT, check_environment, check_greeting


def stub(name):
    raise NotImplementedError("exercise: greeting")


@pytest.mark.parametrize("wrong, hint", [
    (lambda name: print(f"Hello, {name}!"), "printed its answer and returned None"),
    (lambda name: "Hello, {name}!", "needs the f in front"),
    (lambda name: f"Hello {name}!", "comma after Hello is missing"),
    (lambda name: f"Hello, {name}", "exclamation mark at the end is missing"),
    (lambda name: f"Hello,  {name}!", "one space too many"),
    (lambda name: f"Hello, {name.split()[0]}!", "Only the first word"),
    (lambda name: f"Hello, {name[0].upper() + name[1:]}!", "An empty name has no first letter"),
    (lambda name: f"hello, {name}!", "character by character"),
])
def test_each_wrong_greeting_gets_the_hint_that_names_its_mistake_first(wrong, hint, capsys):
    assert check_greeting(wrong) is kit_greeting
    out = failure(verdict(capsys), "greeting", hint=hint)
    assert 'f"Hello, {name}!"' not in out  # a hint never gives the answer away


def test_an_async_greeting_is_named_a_missing_await(capsys):
    async def greeting(name):
        return f"Hello, {name}!"

    check_greeting(greeting)
    assert "returned a coroutine" in said(capsys)


def test_untouched_stub_is_not_done_yet(capsys):
    untouched(check_greeting(stub), kit_greeting, "greeting", capsys)


def test_the_kits_own_greeting_is_never_passed(capsys):
    never_passed(check_greeting(kit_greeting), kit_greeting, "greeting", capsys)


@pytest.mark.parametrize("right", [
    lambda name: f"Hello, {name}!",
    lambda name: "Hello, " + name + "!",
    lambda name: "Hello, {}!".format(name),
    lambda name: "%s, %s!" % ("Hello", name),
])
def test_right_greetings_in_any_style_pass(right, capsys):
    assert check_greeting(right) is right
    assert capsys.readouterr().out == "✅ greeting: all 3 checks passed.\n"


def test_the_prediction_is_judged_on_what_the_demo_did(capsys):
    fresh(NO_AWAIT).predict("")
    assert "write your prediction" in said(capsys)
    NO_AWAIT.predict("a")
    coroutine = asyncio.sleep(1)
    assert NO_AWAIT.check(coroutine) is False
    coroutine.close()
    out = said(capsys)
    assert "you predicted (a)" in out and "what happened was (b)" in out and "why:" in out
    NO_AWAIT.predict("b")  # changed after the demo: late, not right
    assert "counts as a prediction made after" in said(capsys)
    assert asyncio.run(NO_AWAIT.status({})) == "late_prediction"


async def test_the_summary_judges_the_current_code(capsys):
    fresh(NO_AWAIT)
    namespace = {"greeting": stub}
    statuses = await show_progress(setup.EXERCISES, namespace)
    assert statuses == {"greeting": "not_done", "predict: a call without await": "no_prediction"}

    def greeting(name):
        return f"Hello, {name}!"

    namespace["greeting"] = greeting  # the exercise cell was run again, never its check
    statuses = await show_progress(setup.EXERCISES, namespace)
    assert statuses["greeting"] == "passed"
    out = capsys.readouterr().out
    assert "1 of 2 done" in out and "✅ greeting" in out


@pytest.mark.slow
async def test_environment_check_passes_here(capsys):
    assert await check_environment() is True
    out = capsys.readouterr().out
    assert "❌" not in out and out.rstrip().endswith("ready for the workshop.")


@pytest.mark.slow
def test_in_the_notebook_a_wrong_greeting_never_passes_however_often_its_check_runs():
    outputs = run_student_notebook("00_setup", {
        "greeting": 'def greeting(name):\n    print(f"Hello, {name}!")'})
    greeting_runs = [output for output in outputs if "greeting" in output]
    assert len(greeting_runs) == 2
    none_passed(greeting_runs, "greeting")
