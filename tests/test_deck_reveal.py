"""What reveal.js gives the instructor, in the kit's deck, in headless Chromium, from file:// with
every request that would leave the machine recorded and aborted:

- slides that build up: list items and table rows one at a time, code steps that mark a part of
  the code at each press, a diagram drawn stage by stage;
- the thumbnail overview (O or Esc) and the list of keys (?);
- the speaker view: a popup window (S) with the slide, the next one, the notes and a timer, that
  follows the deck and drives it;
- the PDF (``index.html?print-pdf``, printed by Chromium): every slide, each followed by a page of
  its notes.

Screenshots of each go to ``test-artifacts/slides/``: look at them.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.sync_api import expect

from browser import Watched
from test_slides import (SHOTS, build, built_deck, number_of, open_deck, screenshot, show,
                         shown)

pytestmark = pytest.mark.browser

#: The slide on the screen (a section that holds slides, a "stack", is "present" too).
CURRENT = ".reveal .slides section.present:not(.stack)"


@pytest.fixture(scope="module")
def deck(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return built_deck(tmp_path_factory)


def showing(fragments: Any) -> list[bool]:
    """Which of these fragments reveal.js has shown (they then fade in, in a fifth of a
    second)."""
    return fragments.evaluate_all("all => all.map(one => one.classList.contains('visible'))")


def words(text: str) -> str:
    return " ".join(text.split())


def notes_of(page: Any, number: int) -> str:
    """The speaker notes of slide ``number``, as text."""
    return words(page.evaluate("(n) => Reveal.getSlides()[n - 1].querySelector('aside.notes')"
                               ".textContent", number))


def notes_in_page(deck: dict[str, Any]) -> list[str]:
    """Every slide's notes, as text, read from the built page ('' for a slide without)."""
    page = (deck["out"] / "index.html").read_text(encoding="utf-8")
    slides = re.findall(r'<section data-title="[^"]*">(.*?)</section>', page, re.DOTALL)
    return [words(html.unescape(re.sub(r"<[^>]+>", "", notes.group(1)))) if notes else ""
            for notes in (re.search(r'<aside class="notes">(.*?)</aside>', slide, re.DOTALL)
                          for slide in slides)]


# -- slides that build up ------------------------------------------------------------------------

def test_a_list_appears_one_item_at_a_time(deck: dict[str, Any],
                                           watched: Callable[..., Watched]) -> None:
    view = watched()
    page = open_deck(view.page, deck["out"])
    number = number_of(deck, "Cross-site WebSocket hijacking")
    show(page, number)
    items = page.locator(f"{CURRENT} li.fragment")
    count = items.count()
    assert count >= 4
    assert [item.is_visible() for item in items.all()] == [False] * count
    for step in range(1, count + 1):
        page.keyboard.press("ArrowRight")
        assert shown(page) == number, "the slide changed before all its items were shown"
        assert showing(items) == [True] * step + [False] * (count - step)
        expect(items.nth(step - 1)).to_be_visible()
        if step == 2:
            screenshot(page, "fragment-step-2")
    page.keyboard.press("ArrowLeft")                      # back: the last item goes again
    assert showing(items) == [True] * (count - 1) + [False]
    expect(items.last).to_be_hidden()                     # once it has faded out
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")                     # all shown: on to the next slide
    assert shown(page) == number + 1
    view.assert_clean()


def test_table_rows_appear_one_at_a_time(deck: dict[str, Any],
                                         watched: Callable[..., Watched]) -> None:
    view = watched()
    page = open_deck(view.page, deck["out"])
    show(page, number_of(deck, "Events on both sides"))
    rows = page.locator(f"{CURRENT} tbody tr")
    assert rows.count() >= 5 and page.locator(f"{CURRENT} thead").is_visible()
    assert not rows.first.is_visible()
    page.keyboard.press("ArrowRight")
    assert showing(rows) == [True] + [False] * (rows.count() - 1)
    expect(rows.first).to_be_visible()
    assert not rows.nth(1).is_visible()
    view.assert_clean()


MARKED = """() => {
    // The code step on the screen: the copy of the block that is reveal.js's current fragment,
    // or, before the first step, the block itself.
    const block = document.querySelector('.reveal .slides section.present:not(.stack) pre.code');
    const shown = block.querySelector('code.current-fragment') || block.querySelector('code');
    return Array.from(shown.querySelectorAll('tr.highlight-line'))
        .map(row => row.textContent.trim());
}"""


def test_code_steps_mark_each_part_in_turn(deck: dict[str, Any],
                                           watched: Callable[..., Watched]) -> None:
    """The lecture's ConnectionManager: first the whole class, then its state and each of its
    three methods, marked in turn (the steps deck.md gives that slide)."""
    view = watched()
    page = open_deck(view.page, deck["out"])
    number = number_of(deck, "The lecture's ConnectionManager")
    show(page, number)
    assert page.evaluate(MARKED) == []
    firsts = []
    for step in range(4):
        page.keyboard.press("ArrowRight")
        assert shown(page) == number
        marked = page.evaluate(MARKED)
        assert marked, f"step {step + 1} marks no line"
        firsts.append(marked[0])
        if step == 1:
            screenshot(page, "code-step-2")
    assert [line.split("(")[0] for line in firsts] == [
        "def __init__", "async def connect", "def disconnect", "async def broadcast"]
    # The line the slide always marks (mark=...) stays marked through the steps.
    assert page.locator(f"{CURRENT} .hll").first.text_content().strip() == (
        "await connection.send_text(message)")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate(MARKED)[0].startswith("def disconnect")
    view.assert_clean()


def test_a_diagram_drawn_in_steps(deck: dict[str, Any], watched: Callable[..., Watched]) -> None:
    view = watched()
    page = open_deck(view.page, deck["out"])
    number = number_of(deck, "The kit's path of one chat line")
    show(page, number)
    stages = build.diagrams.STAGES["message-path"]
    pictures = page.locator(f"{CURRENT} figure.diagram img")
    assert pictures.count() == stages
    assert pictures.first.get_attribute("alt"), "the diagram has no description"

    later = page.locator(f"{CURRENT} figure.diagram img.fragment")
    assert showing(later) == [False] * (stages - 1)
    for stage in range(2, stages + 1):
        page.keyboard.press("ArrowRight")
        assert showing(later) == [True] * (stage - 1) + [False] * (stages - stage)
        expect(later.nth(stage - 2)).to_be_visible()
        if stage == 3:
            screenshot(page, "diagram-step-3")
    page.keyboard.press("ArrowRight")
    assert shown(page) == number + 1
    view.assert_clean()


# -- the overview and the keys ------------------------------------------------------------------

def test_the_overview(deck: dict[str, Any], watched: Callable[..., Watched]) -> None:
    view = watched()
    page = open_deck(view.page, deck["out"])
    number = number_of(deck, "The sequence diagram")
    show(page, number)
    page.keyboard.press("o")
    assert page.evaluate("Reveal.isOverview()")
    # One column per section: the title, each core lesson, the electives.
    columns = page.locator(".reveal .slides > section")
    assert columns.count() == 1 + sum("section" in s["classes"] for s in deck["manifest"]["slides"])
    present = page.locator(CURRENT)
    assert present.get_attribute("data-title") == "The sequence diagram"
    assert present.is_visible()
    screenshot(page, "overview")
    page.keyboard.press("ArrowDown")                      # the next slide of the section
    page.keyboard.press("Enter")                          # open it
    assert not page.evaluate("Reveal.isOverview()")
    assert shown(page) == number + 1
    page.keyboard.press("Escape")                         # Esc opens the overview too
    assert page.evaluate("Reveal.isOverview()")
    page.keyboard.press("Escape")
    assert not page.evaluate("Reveal.isOverview()") and shown(page) == number + 1
    view.assert_clean()


def test_the_keys_are_listed_and_g_jumps(deck: dict[str, Any], watched: Callable[..., Watched]) -> None:
    view = watched()
    page = open_deck(view.page, deck["out"])
    page.keyboard.press("Shift+Slash")                    # ?, as a keyboard types it
    help_box = page.locator(".reveal .r-overlay-help")
    expect(help_box).to_be_visible()
    text = help_box.text_content()
    for key in ("Speaker notes view", "Slide overview", "Pause", "Fullscreen", "Jump to slide"):
        assert key in text, key
    screenshot(page, "keys")
    page.keyboard.press("Escape")
    expect(help_box).to_have_count(0)
    page.keyboard.press("g")                              # jump to a slide by its number
    page.keyboard.type("12")
    page.keyboard.press("Enter")
    expect(page.locator(CURRENT)).to_have_attribute("data-title", deck["titles"][11])
    assert page.locator(f"{CURRENT} .slide-foot").text_content().endswith(
        f"12 / {len(deck['titles'])}")
    view.assert_clean()


# -- the speaker view ----------------------------------------------------------------------------

NOTES = ".speaker-controls-notes .value"


def test_the_speaker_view_from_file(deck: dict[str, Any],
                                    watched: Callable[..., Watched]) -> None:
    """reveal.js's notes plugin opens the speaker view as a popup; from file:// it connects to
    the deck through postMessage. It shows the notes, the slide and the next one, a clock and a
    running timer; it follows the deck, and a key pressed in it drives the deck."""
    view = watched()
    page = open_deck(view.page, deck["out"])
    number = number_of(deck, "HTTP: the client always asks first")
    show(page, number)
    with page.context.expect_page() as opened:
        page.keyboard.press("s")
    speaker = opened.value
    speaker.set_viewport_size({"width": 1280, "height": 800})
    speaker.wait_for_function(f"(document.querySelector('{NOTES}') || {{}}).textContent")
    assert words(speaker.locator(NOTES).text_content()) == notes_of(page, number)
    # The timer runs: wait for its seconds to move on from :00 (an event, not a sleep).
    speaker.wait_for_function("document.querySelector('.timer .seconds-value').textContent"
                              " !== ':00'")
    assert re.fullmatch(r"\d\d:\d\d:\d\d", words(speaker.locator(".timer").text_content())
                        .replace(" ", ""))
    assert re.fullmatch(r"\d{1,2}:\d\d ?(AM|PM)?", speaker.locator(".clock-value").text_content()
                        .strip())
    # The two previews are the deck itself, in frames: this slide and the next.
    previews = [frame for frame in speaker.frames if "receiver" in frame.url]
    assert len(previews) == 2
    for frame in previews:
        frame.wait_for_function("window.Reveal !== undefined && Reveal.isReady()")
    assert {frame.evaluate("Reveal.getCurrentSlide().dataset.title") for frame in previews} == {
        deck["titles"][number - 1], deck["titles"][number]}
    screenshot(speaker, "speaker-view")
    # The deck moves: the speaker view follows.
    page.keyboard.press("ArrowRight")
    speaker.wait_for_function(f"document.querySelector('{NOTES}').textContent.includes("
                              f"{notes_of(page, number + 1)[:40]!r})")
    # A key in the speaker view moves the deck.
    speaker.keyboard.press("ArrowRight")
    page.wait_for_function(f"Reveal.getSlides().indexOf(Reveal.getCurrentSlide()) === "
                           f"{number + 1}")
    view.assert_clean()


# -- the PDF -------------------------------------------------------------------------------------

def pdf_pages(pdf: Path) -> list[str] | None:
    """The text of each page (pdftotext, from poppler-utils), or None without it (off CI)."""
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI"):
            pytest.fail("reading the PDF back needs pdftotext: apt-get install poppler-utils "
                        "(required when CI is set)", pytrace=False)
        return None
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout
    return [words(page) for page in text.split("\f")][:-1]   # the last form feed ends the text


def look_at_pdf_page(pdf: Path, page_number: int, name: str, new_page: Callable[..., Any]) -> Path:
    """One page of the PDF as a PNG: with pdftoppm when it is installed, or in Chromium's own
    PDF viewer."""
    target = SHOTS / f"{name}.png"
    SHOTS.mkdir(parents=True, exist_ok=True)
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile", "-f", str(page_number),
                        "-l", str(page_number), str(pdf), str(target.with_suffix(""))],
                       check=True)
    else:
        viewer = new_page(viewport={"width": 1280, "height": 800})
        viewer.goto(f"{pdf.as_uri()}#page={page_number}")
        viewer.wait_for_load_state("load")
        viewer.screenshot(path=str(target))
    return target


def test_the_pdf_has_every_slide_and_its_notes(deck: dict[str, Any],
                                               watched: Callable[..., Watched],
                                               new_page: Callable[..., Any]) -> None:
    view = watched()
    page = open_deck(view.page, deck["out"], "?print-pdf")
    page.wait_for_function("document.querySelectorAll('.reveal .pdf-page').length > 0")
    slides = deck["manifest"]["slides"]
    assert page.locator(".reveal .pdf-page").count() == len(slides)
    with_notes = [s for s in slides if s["has_notes"]]
    assert page.locator(".reveal .speaker-notes-pdf").count() == len(with_notes)
    SHOTS.mkdir(parents=True, exist_ok=True)
    pdf = SHOTS / "deck.pdf"
    pdf.write_bytes(page.pdf(prefer_css_page_size=True, print_background=True))
    view.assert_clean()

    count = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    assert count >= len(slides) + len(with_notes)     # a long page of notes takes two
    pages = pdf_pages(pdf)
    if pages is None:   # no pdftotext (apt-get install poppler-utils): the count above must do
        look_at_pdf_page(pdf, 1, "pdf-title-slide", new_page)
        look_at_pdf_page(pdf, 2, "pdf-title-slide-notes", new_page)
        return
    assert len(pages) == count
    at = 0
    code_slide = number_of(deck, "The lecture's ConnectionManager")
    notes_text = notes_in_page(deck)
    for number, slide in enumerate(slides, 1):
        title = words(slide["title"])
        found = next((i for i in range(at, len(pages)) if title in pages[i]), None)
        assert found is not None, f"slide {number}, {title!r}, is not in the PDF after page {at}"
        if slide["has_notes"]:
            assert notes_text[number - 1][:60] in pages[found + 1], (
                f"the page after {title!r} is not its notes")
        if number == code_slide:
            look_at_pdf_page(pdf, found + 1, "pdf-code-slide", new_page)
            look_at_pdf_page(pdf, found + 2, "pdf-code-slide-notes", new_page)
        at = found + 1
