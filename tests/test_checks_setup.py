"""Lesson 00's checks: the warm-up exercise and the environment check."""

from __future__ import annotations

import pytest

from wslab.checks.setup import check_environment, check_greeting, reference_greeting


def stub(name):
    raise NotImplementedError("exercise: greeting")


@pytest.mark.parametrize("wrong, words", [
    (lambda name: f"Hello {name}!", "expected: 'Hello, Ada!'"),
    (lambda name: print(f"Hello, {name}!"), "got:      None"),
    (lambda name: f"Hello, {name.split()[0]}!", "Grace Hopper"),
    (lambda name: f"Hello, {name[0].upper() + name[1:]}!", "raised IndexError"),
])
def test_wrong_greetings_are_explained(wrong, words, capsys):
    assert check_greeting(wrong) is reference_greeting
    out = capsys.readouterr().out
    assert "❌ greeting: not right yet." in out and words in out and "hint:" in out


def test_untouched_stub_is_not_done_yet(capsys):
    assert check_greeting(stub) is reference_greeting
    assert capsys.readouterr().out.startswith("⏳ greeting: not done yet.")


def test_solution_passes(capsys):
    def greeting(name):
        return f"Hello, {name}!"

    assert check_greeting(greeting) is greeting
    assert capsys.readouterr().out == "✅ greeting: all 3 checks passed.\n"


async def test_environment_check_passes_here(capsys):
    assert await check_environment() is True
    out = capsys.readouterr().out
    assert "❌" not in out and out.rstrip().endswith("ready for the workshop.")
