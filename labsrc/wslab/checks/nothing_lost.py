"""Elective E8's checks: the prediction about a Wi-Fi drop, sorting a numbered line, and a
client loop that showed a line twice.

The student writes the client's side of "nothing lost" in a few lines of their own; the kit's
own client side is :class:`wslab.catch_up.CatchUp` (what ``ChatClient`` and ``ChatWidget``
use). The checks do not keep a second copy of its rules: every expected answer is what a
``CatchUp`` does with the same messages (:func:`kit_sort_line`, :func:`kit_show_once`), and
those two adapters are also what the notebook carries on with until the student's code passes.

Each typical mistake (numbers compared across epochs, a replayed line taken for a repeat, only
an equal number taken for a repeat, the next number taken for a gap, ``last`` moved back by a
repeat) is recognised by what it answers for which kind of line
(:class:`~wslab.checks.core.Mistake`), so its hint names it without giving the rule away.

The prediction is judged on what the lesson's demo really received after the reconnect.
"""

from __future__ import annotations

from typing import Any, Callable

from wslab.catch_up import CatchUp
from wslab.checks.core import Case, Mistake, check_function
from wslab.checks.predictions import Question
from wslab.checks.progress import Exercise

__all__ = ["WIFI_DROP", "MISSED", "VERDICTS", "check_sort_line", "check_show_once",
           "kit_sort_line", "kit_show_once", "EXERCISES"]

#: What ``sort_line`` may answer.
VERDICTS = ("new", "repeat", "gap", "reset")
#: The line ``show_once`` shows where lines never came.
MISSED = "(you missed some messages)"


# -- predict, then run: a Wi-Fi drop, and the way back ------------------------------------------

def _what_came_back(observed: Any) -> str:
    """The letter for what a client got on its way back: ``observed`` is ``(said, got)``, the
    lines said while it was away and the messages it received before ``resumed``."""
    said, got = observed
    got = [message for message in got if isinstance(message, dict)]
    if any(message.get("history") for message in got):
        return "c"
    texts = [message.get("message") for message in got]
    if all(texts.count(text) == 1 for text in said) and all(
            message.get("replay") for message in got if message.get("message") in said):
        return "b"
    return "a"


#: Before the demo: what alice gets when she comes back with her key, epoch and last number.
WIFI_DROP = Question(
    "predict: back after a Wi-Fi drop",
    options={"a": "not the three lines: what was said while she was away is gone",
             "b": "the three lines, each once and marked replay, then resumed",
             "c": "the room's last lines, marked history, as any newcomer gets them"},
    classify=_what_came_back,
    why="The room numbered the three lines and kept them. alice's key proved that she is the "
        "alice who left, her epoch is still the room's, and after=N said where she stopped: so "
        "the server sent her every line numbered after N, marked replay, then resumed, and "
        "only then live lines. Without the key she would have been a newcomer (the last lines "
        "marked history, mixed with ones she had seen); with pub/sub alone, as in E5, nothing.")


# -- the kit's behaviour, from wslab.catch_up ---------------------------------------------------

def _client_at(last: tuple[str, int]) -> CatchUp:
    """A ``CatchUp`` that has shown the line numbered ``last = (epoch, seq)``."""
    client = CatchUp()
    epoch, seq = last
    client.take({"client_id": "alice", "message": "(shown before)", "epoch": epoch, "seq": seq})
    return client


def kit_sort_line(last: tuple[str, int], line: dict[str, Any]) -> str:
    """What the kit's ``CatchUp`` does with ``line`` after ``last``, in the lesson's words."""
    client = _client_at(last)
    take = client.take(line)
    if client.epoch != last[0]:
        return "reset"
    if not take.show:
        return "repeat"
    return "gap" if take.notice else "new"


def kit_show_once(last: tuple[str, int], messages: list[dict[str, Any]]) -> list[str]:
    """What the kit's ``CatchUp`` shows of ``messages`` after ``last``: each line once, and
    :data:`MISSED` before a line that comes after lines that never did."""
    client = _client_at(last)
    shown = []
    for message in messages:
        take = client.take(message)
        if take.notice:
            shown.append(MISSED)
        if take.show:
            shown.append(message["message"])
    return shown


# -- exercise 1: sort one numbered line ---------------------------------------------------------

E, F = "3f9a0c1d", "b7e24410"  # two epochs: the room's, and the one after a restart


def line(epoch: str, seq: int, text: str = "hi", **marks: bool) -> dict[str, Any]:
    """A chat line as the server numbers it (``marks``: ``replay=True``, ``history=True``)."""
    return {"message": text, "client_id": "bob", "timestamp": "12:00:00", "seq": seq,
            "epoch": epoch, **marks}


#: (last, line) and the hint for when the answer differs from the kit's.
SORT_CASES = [
    (((E, 5), line(E, 6)), "6 is the number after 5: the next line, nothing missed."),
    (((E, 5), line(E, 5)), "5 has been shown already."),
    (((E, 5), line(E, 7)), "After 5 the next is 6: 7 means 6 never came."),
    (((E, 5), line(E, 3)), "3 is older than 5: it was shown before, and arrives again late."),
    (((E, 5), line(E, 9)), "After 5, line 9 means 6, 7 and 8 never came."),
    (((E, 5), line(F, 1)), "Another epoch: the server lost its history and counts again."),
    (((E, 5), line(F, 6)), "Another epoch, even though 6 would be next in the old one."),
    (((E, 5), line(F, 5)), "Another epoch, even though 5 was shown in the old one."),
    (((E, 1), line(E, 2, replay=True)), "A replayed line is an ordinary line: it counts like "
                                        "any other."),
    (((E, 41), line(E, 42)), "42 is next after 41."),
]


class _OneOf:
    """Equal to any of ``words``: what a mistake answers, where it shows."""

    def __init__(self, *words: str) -> None:
        self.words = words

    def __eq__(self, other: object) -> bool:
        return other in self.words

    __hash__ = None  # type: ignore[assignment]


class _NotAVerdict:
    """Equal to any answer that is not one of :data:`VERDICTS`."""

    def __eq__(self, other: object) -> bool:
        return other not in VERDICTS

    __hash__ = None  # type: ignore[assignment]


def _answers(where: Callable[[int, int, bool], bool], *words: str
             ) -> Callable[[tuple[str, int], dict[str, Any]], _OneOf | None]:
    """A :class:`Mistake`'s ``makes``: one of ``words`` for the lines of the same epoch that
    ``where(seq, last_seq, replayed)`` picks, and None elsewhere (the mistake shows only there).

    A mistake is recognised by the kind of line it gets wrong and the kind of answer it gives,
    so each of the ways students write it (``else: "gap"`` or ``else: "new"``) is named alike.
    """

    def mistaken(last: tuple[str, int], line: dict[str, Any]) -> _OneOf | None:
        same_epoch = line.get("epoch") == last[0]
        if same_epoch and where(line.get("seq"), last[1], bool(line.get("replay"))):
            return _OneOf(*words)
        return None

    return mistaken


def _across_epochs(last: tuple[str, int], line: dict[str, Any]) -> _OneOf | None:
    """The mistake of comparing numbers of two epochs: anything but "reset" for another."""
    return _OneOf("new", "repeat", "gap") if line.get("epoch") != last[0] else None


#: Reading a field the line does not have, or ``last`` in the wrong order.
FIELDS = ("A numbered line carries its number as \"seq\" and its epoch as \"epoch\", and last "
          "is a tuple (epoch, seq), in that order.")

SORT_MISTAKES = [
    Mistake(FIELDS, raises=(KeyError, TypeError)),
    Mistake("A line of the same epoch as last was taken for another epoch: look at which part "
            "of last your code compares with the line's epoch.",
            makes=_answers(lambda seq, at, replayed: True, "reset")),
    Mistake("Your function compared the numbers of two epochs. A number means something only "
            "within its epoch: the server that gave this line counts from 1 again, so its "
            "numbers say nothing about the old ones.", makes=_across_epochs),
    Mistake("A replayed line was taken for a repeat. It is a line the client missed: sort it by "
            "its number like any other line, not by its mark.",
            makes=_answers(lambda seq, at, replayed: replayed and seq > at, "repeat")),
    Mistake("The line numbered last itself was not taken for a repeat: it has been shown "
            "already.", makes=_answers(lambda seq, at, replayed: seq == at, "new", "gap")),
    Mistake("Only the very same number counted as a repeat. A number older than last was "
            "shown before too: it arrives again late (a replay that overlaps), and showing it "
            "would put it on the screen twice.",
            makes=_answers(lambda seq, at, replayed: seq < at, "new", "gap")),
    Mistake("A number further on than the next one was taken for an ordinary new line: the "
            "numbers in between never came, and the client must say so.",
            makes=_answers(lambda seq, at, replayed: seq > at + 1, "new")),
    Mistake("The next number was taken for a gap: after last comes last + 1, with nothing "
            "missing in between.",
            makes=_answers(lambda seq, at, replayed: seq == at + 1, "gap")),
    Mistake(f"The answer is one of the words {', '.join(map(repr, VERDICTS))}, as a str.",
            makes=lambda last, line: _NotAVerdict()),
]


def _sort_line_call(last: tuple[str, int], line: dict[str, Any]) -> str:
    """The call as the verdict shows it: the line's number and epoch first, so they fit."""
    marks = "".join(f", {mark!r}: True" for mark in ("replay", "history") if line.get(mark))
    return (f"sort_line({last!r}, {{'seq': {line['seq']!r}, 'epoch': {line['epoch']!r}{marks}, "
            f"'message': {line['message']!r}, ...}})")


def check_sort_line(student: Callable[..., str]) -> Callable[..., str]:
    """The exercise: ``sort_line`` answers as the kit's ``CatchUp`` behaves, on every case."""
    cases = [Case(args, kit_sort_line(*args), hint, call=_sort_line_call(*args))
             for args, hint in SORT_CASES]
    return check_function(student, cases, name="sort_line", reference=kit_sort_line,
                          fallback="the kit's sort_line (from wslab.catch_up)",
                          mistakes=SORT_MISTAKES)


# -- exercise 2: debugging the client's loop ---------------------------------------------------

#: (last, messages, hint): what arrives, in order, after the line numbered ``last``.
SHOW_CASES = [
    ((E, 5), [line(E, 6, "six"), line(E, 7, "seven")],
     "Two new lines in a row: each is shown once."),
    ((E, 5), [line(E, 6, "six"), line(E, 7, "seven"), line(E, 6, "six", replay=True),
              line(E, 7, "seven", replay=True), line(E, 8, "eight", replay=True)],
     "6 and 7 arrive a second time (a replay that overlaps what came live): each is shown "
     "once, then 8."),
    ((E, 5), [line(E, 6, "six"), line(E, 9, "nine"), line(E, 10, "ten")],
     "7 and 8 never came: one notice before 9, then 9 and 10."),
    ((E, 5), [line(E, 7, "seven"), line(E, 5, "five"), line(E, 8, "eight")],
     "5 was shown before the list began: a repeat. 6 never came: a notice before 7."),
    ((E, 5), [line(E, 6, "six"), line(F, 3, "three"), line(F, 4, "four")],
     "A new epoch at 3: lines 1 and 2 of it never came. After it, counting goes on in the new "
     "epoch."),
]


def _show_once_with(sorter: Callable[..., str], *, moves_on_repeat: bool = False,
                    moves: bool = True, shows_gaps: bool = True, notices: bool = True
                    ) -> Callable[[tuple[str, int], list[dict[str, Any]]], list[str]]:
    """``show_once`` with one mistake made, sorting with ``sorter``."""

    def mistaken(last: tuple[str, int], messages: list[dict[str, Any]]) -> list[str]:
        shown = []
        for message in messages:
            verdict = sorter(last, message)
            if notices and verdict in ("gap", "reset"):
                shown.append(MISSED)
            show = verdict == "new" or (shows_gaps and verdict in ("gap", "reset"))
            if show:
                shown.append(message["message"])
            if moves and (show or moves_on_repeat):
                last = (message["epoch"], message["seq"])
        return shown

    return mistaken


SHOW_MISTAKES = [
    Mistake("Your loop uses a name that has no value yet (see got): run the cells above it "
            "first, from the top. checked_sort_line comes from the cell that checks sort_line.",
            raises=NameError),
    Mistake("A line showed twice: after the repeat, last went back to an older number, so the "
            "copy that came next looked new again. Follow last through the loop by hand for "
            "the case under tried.", makes=_show_once_with(kit_sort_line, moves_on_repeat=True)),
    Mistake("last never moves on: every line is compared with the place the list started "
            "from, so the second new line looks like a gap, and old copies look new.",
            makes=_show_once_with(kit_sort_line, moves=False)),
    Mistake("A line that comes after a gap (or in a new epoch) was not shown: the notice says "
            "lines are missing, and the line that did come is still one to show.",
            makes=_show_once_with(kit_sort_line, shows_gaps=False)),
    Mistake("There is no notice where lines never came: a gap, or a new epoch, needs the "
            "MISSED line before the line that arrived.",
            makes=_show_once_with(kit_sort_line, notices=False)),
]


def _show_once_call(last: tuple[str, int], messages: list[dict[str, Any]]) -> str:
    """The call as the verdict shows it: each line as its number and text, so it fits."""
    lines = ", ".join(f"#{m['seq']} {m['message']!r}"
                      + (f" of epoch {m['epoch']!r}" if m["epoch"] != last[0] else "")
                      + (" (replay)" if m.get("replay") else "") for m in messages)
    return f"show_once({last!r}, [{lines}])"


def check_show_once(student: Callable[..., list[str]]) -> Callable[..., list[str]]:
    """The debugging exercise: ``show_once`` shows what the kit's ``CatchUp`` shows."""
    cases = [Case((last, messages), kit_show_once(last, messages), hint,
                  call=_show_once_call(last, messages))
             for last, messages, hint in SHOW_CASES]
    return check_function(student, cases, name="show_once", reference=kit_show_once,
                          fallback="the kit's show_once (from wslab.catch_up)",
                          mistakes=SHOW_MISTAKES)


EXERCISES = (
    Exercise("sort_line", check_sort_line, reads=("sort_line",)),
    Exercise("show_once", check_show_once, reads=("show_once",)),
    WIFI_DROP,
)
