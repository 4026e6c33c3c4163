"""Accessibility of what the instructor shows and hands out: axe-core (vendored, run inside
headless Chromium) finds no serious or critical violation on the deck (a slide of each kind, a
code step, the overview), the instructor guide or the cheat sheet.

Contrast counts the code's colours too (a marked line, a code step), images need their
description, tables and headings must be well formed. A failure lists each rule broken and where;
fix the build, the theme or the templates, not this test.

Each page's own requests are checked before axe runs: axe then reads the page's style sheets
itself, which a page opened from file:// refuses it, harmlessly.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from axe import describe, serious_violations
from browser import Watched
from test_slides import built_deck, number_of, open_deck, show

pytestmark = pytest.mark.browser

#: A slide of each kind, by title, and how many steps to show on it first.
KINDS = {
    "title": ("Real-time chat with FastAPI and WebSockets", 0),
    "timetable": ("The lessons", 0),
    "section divider": ("The chat room", 0),
    "code, with a marked line": ("The lecture's ConnectionManager", 0),
    "code step": ("The lecture's ConnectionManager", 2),
    "two code blocks in columns": ("The safe broadcast", 0),
    "diagram": ("The sequence diagram", 0),
    "diagram in steps": ("The kit's path of one chat line", 3),
    "table built row by row": ("Events on both sides", 6),
    "table from the kit": ("Close codes a chat meets", 0),
}


@pytest.fixture(scope="module")
def deck(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return built_deck(tmp_path_factory)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_slide_of_each_kind(kind: str, deck: dict[str, Any],
                              watched: Callable[..., Watched]) -> None:
    title, steps = KINDS[kind]
    view = watched()
    page = open_deck(view.page, deck["out"])
    show(page, number_of(deck, title))
    for _ in range(steps):
        page.keyboard.press("ArrowRight")
    page.evaluate("document.getAnimations().forEach(animation => animation.finish())")
    view.assert_clean()
    found = serious_violations(page)
    assert not found, f"{kind} ({title}):\n{describe(found)}"


def test_the_overview(deck: dict[str, Any], watched: Callable[..., Watched]) -> None:
    view = watched()
    page = open_deck(view.page, deck["out"])
    show(page, number_of(deck, "The sequence diagram"))
    page.keyboard.press("o")
    assert page.evaluate("Reveal.isOverview()")
    view.assert_clean()
    found = serious_violations(page)
    assert not found, describe(found)


@pytest.mark.parametrize("name", ["guide.html", "cheatsheet.html"])
def test_the_guide_and_the_cheat_sheet(name: str, deck: dict[str, Any],
                                       watched: Callable[..., Watched]) -> None:
    view = watched()
    view.page.goto((deck["out"] / name).as_uri())
    view.assert_clean()
    found = serious_violations(view.page)
    assert not found, f"{name}:\n{describe(found)}"
