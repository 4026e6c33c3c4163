"""Read what a self-check printed: its verdict, and the hint that comes first in a failure.

Every lesson's check tests ask the same questions of the text a check prints (is it a failure of
this check, with the hint first? what does the hint say? did it say these words?), so they ask
them here, once, instead of each test file keeping a near-copy of its own that drifts from the
others. A verdict looks like this; anything the student's own code printed may come before it::

    ❌ name: not right yet.
       hint:     ...wrapped text...
       tried:    ...
       expected: ...
       got:      ...

and its first line may instead be ``✅ name: ...``, ``⏳ name: not done yet. ...`` or
``⚠️ name: run your exercise cell first.``

A test module imports what it needs: ``from verdicts import failure, verdict``.
"""

from __future__ import annotations

#: The marks a verdict's first line starts with: passed, failed, not done yet, the kit's own.
MARKS = ("✅", "❌", "⏳", "⚠")


def flat(text: str) -> str:
    """``text`` on one line, every run of white space one space: wrapped lines joined again."""
    return " ".join(text.split())


def from_verdict(out: str) -> str:
    """``out`` from the first verdict mark on, with what the student's own code printed cut."""
    marked = [out.index(mark) for mark in MARKS if mark in out]
    assert marked, f"no verdict in:\n{out}"
    return out[min(marked):]


def verdict(capsys) -> str:
    """What the check just printed, from its verdict on (see ``from_verdict``)."""
    return from_verdict(capsys.readouterr().out)


def said(capsys) -> str:
    """Everything just printed, on one line (see ``flat``)."""
    return flat(capsys.readouterr().out)


def hint_of(out: str) -> str:
    """The hint of a failure, alone, on one line; the hint must come before the rest."""
    assert out.index("hint:") < out.index("tried:") < out.index("expected:") < out.index("got:"), \
        out
    return flat(out[out.index("hint:") + len("hint:"):out.index("tried:")])


def failure(out: str, name: str, *words: str, hint: str = "") -> str:
    """Assert ``out`` is a failure of the check ``name``, and return it on one line.

    The failure must come first in ``out`` (give it ``from_verdict(out)``, or ``verdict(capsys)``,
    where the student's code may print before it), with its hint first, then what was tried,
    what was expected and what came back; no ✅ and no Traceback anywhere. ``hint`` must be in
    the hint itself, each of ``words`` anywhere in the verdict.
    """
    assert out.startswith(f"❌ {name}: not right yet.\n   hint:"), out
    assert "✅" not in out and "Traceback" not in out, out
    assert hint in hint_of(out), f"{hint!r} not in the hint of:\n{out}"
    one_line = flat(out)
    for word in words:
        assert word in one_line, f"{word!r} not in:\n{out}"
    return one_line


def not_done(out: str, name: str) -> bool:
    """Whether ``out`` says the check ``name`` was given the exercise's untouched stub."""
    return out.startswith(f"⏳ {name}: not done yet.")


def stale(out: str, name: str) -> bool:
    """Whether ``out`` says the check ``name`` was given the kit's own code, and nothing passed."""
    return out.startswith(f"⚠️ {name}: run your exercise cell first.") and "✅" not in out
