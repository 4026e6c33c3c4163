"""The slides (``make slides``): built from their sources, offline, checked in headless Chromium.

The deck (a reveal.js page), the guide and the cheat sheet are built into a temporary folder with
``slides/build.py`` (the script ``make slides`` runs), then:

- the files are read: every content slide has speaker notes, every code block is the kit's code
  as it is now (compared with the file it names, line by line), the kit's own files load nothing
  from outside the folder, and two builds give the same bytes;
- the build refuses what it must refuse: code that is gone, a mark or a code step on no line, a
  slide without notes, a command the kit's command line rejects, a plan that does not add up;
- the instructor guide's generated timetables are current;
- Debian's Chromium opens the deck with every request that would leave the machine recorded and
  aborted, steps through every slide and every step of it with the keyboard, checks that each
  slide fits its 1280x720 frame, and saves screenshots at projector sizes into
  ``test-artifacts/slides/``: look at them.

reveal.js's own features (steps, the overview, the speaker view, the PDF) are tested in
``test_deck_reveal.py``, accessibility in ``test_deck_access.py``, the cheat sheet in
``test_deck_cheatsheet.py``; they share this module's build and helpers.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable

import pytest

from build_notebooks import lesson_paths
from browser import ARTIFACTS, PROJECTOR, Watched

ROOT = Path(__file__).resolve().parent.parent
SLIDES = ROOT / "slides"
SHOTS = ARTIFACTS / "slides"

#: Slides whose screenshots are saved, by title (a title that changed is simply skipped).
SHOWN = ("Real-time chat with FastAPI and WebSockets", "HTTP: the client always asks first",
         "The lecture's ConnectionManager", "The sequence diagram", "Many clients: figure 8.4",
         "The hardened endpoint", "Close codes a chat meets")
PROJECTORS = {"720p": PROJECTOR, "1080p": {"width": 1920, "height": 1080},
              "4x3": {"width": 1024, "height": 768}}


def _load_build() -> Any:
    spec = importlib.util.spec_from_file_location("slides_build", SLIDES / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["slides_build"] = module
    spec.loader.exec_module(module)
    return module


build = _load_build()


def built_deck(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The deck, built once for the whole test run (the modules that test it share the folder;
    the manifest is written last, so a folder that has it is a whole build): its folder, its
    manifest and its slides' titles."""
    out = tmp_path_factory.getbasetemp() / "deck"
    if not (out / "manifest.json").is_file():
        build.build(out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {"out": out, "manifest": manifest, "titles": [s["title"] for s in manifest["slides"]]}


@pytest.fixture(scope="module")
def deck(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return built_deck(tmp_path_factory)


def _own_text_files(out: Path) -> list[Path]:
    """The text files of a build that are the kit's own (reveal.js's are its package's)."""
    return sorted(p for p in out.rglob("*") if p.suffix in (".html", ".css", ".js", ".svg")
                  and build.REVEAL.folder.name not in p.relative_to(out).parts)


# -- the files ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_command_builds_the_deck_and_checks_the_guide(tmp_path: Path) -> None:
    check = subprocess.run([sys.executable, str(SLIDES / "build.py"), "--check"], cwd=ROOT,
                           capture_output=True, text=True)
    assert check.returncode == 0, (
        "slides/instructor-guide.md is stale: run `make slides` and commit it\n" + check.stderr)
    # The guide is current, so this run writes into tmp_path only.
    assert build.main(["--out", str(tmp_path)]) == 0
    reveal = build.REVEAL.folder.name
    for name in ("index.html", "theme.css", "start.js", "code.css", "guide.html",
                 "cheatsheet.html", *(f"{reveal}/{file}" for file in build.REVEAL.all_files)):
        assert (tmp_path / name).is_file(), name
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    for file in ("dist/reveal.js", "dist/reveal.css", "dist/plugin/notes.js"):
        assert f"{reveal}/{file}" in page, f"the deck does not load reveal.js's {file}"


@pytest.mark.slow
def test_the_deck_covers_the_lecture(deck: dict[str, Any]) -> None:
    titles = " | ".join(deck["titles"])
    for topic in ("HTTP: the client always asks first", "The protocol", "The core functions",
                  "What a connection manager does", "The lecture's ConnectionManager",
                  "The class diagram", "The sequence diagram", "Message handling",
                  "Events on both sides", "The endpoint (1/2)", "The page's parts: HTML",
                  "The look: CSS", "JavaScript: sending", "Best practices and error handling",
                  "Many clients: figure 8.4", "Many workers: figure 8.6",
                  "Testing a WebSocket endpoint", "References", "The protocol by hand",
                  "The safe broadcast", "A chat window in the notebook", "Scaling out",
                  "Security on a classroom network", "Running the classroom chat"):
        assert topic in titles, topic
    numbers = [path.name[:2] for path in lesson_paths([])][1:]  # 00 (setup) has no slide
    turns = [next((i for i, title in enumerate(deck["titles"])
                   if title.startswith(f"Your turn: {number} · ")), None) for number in numbers]
    assert None not in turns, f"no slide for lesson {numbers[turns.index(None)]}"
    assert turns == sorted(turns), "the deck's lessons are not in the order of the track"
    electives = deck["titles"].index("Electives")
    assert all((turn < electives) == number[0].isdigit() for turn, number in zip(turns, numbers)), (
        "the deck follows the core track, then the electives in a section of their own")


@pytest.mark.slow
def test_every_content_slide_has_speaker_notes(deck: dict[str, Any]) -> None:
    page = (deck["out"] / "index.html").read_text(encoding="utf-8")
    sections = re.findall(r'<section data-title="([^"]*)">(.*?)</section>', page, re.DOTALL)
    assert [html.unescape(title) for title, _ in sections] == deck["titles"]
    for (title, body), slide in zip(sections, deck["manifest"]["slides"]):
        notes = re.search(r'<aside class="notes">(.*?)</aside>', body, re.DOTALL)
        if "section" in slide["classes"]:
            assert notes is None, f"{title}: a divider's empty notes make an empty page in the PDF"
            continue
        text = re.sub(r"<[^>]+>", "", notes.group(1) if notes else "").strip()
        assert len(text) > 80, f"a slide with too few notes: {title}"


@pytest.mark.slow
def test_diagrams_are_drawn_svg(deck: dict[str, Any]) -> None:
    figures = deck["manifest"]["figures"]
    assert {f"figures/{name}.svg" for name in (
        "polling-vs-push", "lecture-classes", "sequence", "fig-8-4", "fig-8-6")} <= set(figures)
    stages = build.diagrams.STAGES["message-path"]
    assert {f"figures/message-path-{n}.svg" for n in range(1, stages + 1)} <= set(figures)
    for file in figures:
        svg = (deck["out"] / file).read_text(encoding="utf-8")
        assert svg.startswith("<?xml") and "<svg" in svg, file
        assert "<image" not in svg, f"{file} embeds a bitmap instead of drawing"
    # The stages of a diagram drawn in steps are cut to the same box, so that they stack exactly.
    sizes = {re.search(r'<svg [^>]*width="([^"]+)" height="([^"]+)"',
                       (deck["out"] / f"figures/message-path-{n}.svg").read_text(
                           encoding="utf-8")).groups() for n in range(1, stages + 1)}
    assert len(sizes) == 1, sizes
    page = (deck["out"] / "index.html").read_text(encoding="utf-8")
    assert not re.search(r'<img [^>]*src="[^"]+\.(png|jpe?g|gif)"', page), "a bitmap in the deck"


class _References(HTMLParser):
    """What an HTML page loads (src, link href, inline style url()) and where it only links."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "srcset", "poster", "data"):
            if values.get(name):
                self.loads.append(values[name])
        if tag == "link" and values.get("href"):
            self.loads.append(values["href"])
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])
        self.loads += re.findall(r"url\(['\"]?([^'\")]+)", values.get("style") or "")


@pytest.mark.slow
def test_nothing_in_the_deck_loads_from_outside(deck: dict[str, Any]) -> None:
    """The kit's own files, read: what they load is in the folder. (reveal.js's files are its
    package's, pinned; the browser tests record every request the pages make, theirs included.)"""
    out = deck["out"]
    external = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)
    for path in _own_text_files(out):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(out)
        loads: list[str] = []
        if path.suffix == ".html":
            parser = _References()
            parser.feed(text)
            loads = parser.loads
            assert all(link.startswith(("#", "https://", "http://", "index.html", "guide.html",
                                        "cheatsheet.html"))
                       for link in parser.links), (where, parser.links)
            text = re.sub(r"<a [^>]*>", "", text)   # links are clicked, never loaded
        if path.suffix in (".html", ".css", ".svg"):
            loads += re.findall(r"url\(\s*['\"]?([^'\")]+)", text)
            loads += re.findall(r"@import\s+(?:url\()?['\"]?([^'\");]+)", text)
        if path.suffix == ".svg":
            loads += re.findall(r'(?:xlink:)?href="([^"#][^"]*)"', text)
        if path.suffix == ".js":
            for call in ("fetch(", "XMLHttpRequest", "import(", "importScripts", "WebSocket(",
                         "EventSource", "sendBeacon", "http://", "https://"):
                assert call not in text, f"{where} uses {call}"
        for target in loads:
            if target.startswith("data:"):
                continue
            assert not external.match(target), f"{where} loads {target} from outside"
            assert (path.parent / target.split("?")[0].split("#")[0]).exists(), \
                f"{where} loads {target}, which is not in the deck"


CODE_BLOCK = re.compile(r'<p class="code-source">([^<]+)</p><pre class="code">'
                        r'<code class="hljs nohighlight"[^>]*>(.*?)</code></pre>', re.DOTALL)


@pytest.mark.parametrize("page", ["index.html", "cheatsheet.html"])
@pytest.mark.slow
def test_code_on_slides_is_the_kits_code_now(page: str, deck: dict[str, Any]) -> None:
    blocks = CODE_BLOCK.findall((deck["out"] / page).read_text(encoding="utf-8"))
    assert len(blocks) >= (20 if page == "index.html" else 4)
    for source, code in blocks:
        source = html.unescape(source)
        match = re.fullmatch(r"(\S+)(?: · \S+)? · lines (\d+)-(\d+)(, without .+)?", source)
        assert match, source
        path, first, last = ROOT / match.group(1), int(match.group(2)), int(match.group(3))
        lines = path.read_text(encoding="utf-8").splitlines()[first - 1:last]
        if path.parent.name == "lessons":
            lines = build._without_stubs(lines)
        expected = textwrap.dedent("\n".join(lines)).strip("\n")
        shown = html.unescape(re.sub(r"<[^>]+>", "", code)).strip("\n")
        if expected != shown:   # a docstring or lines left out: the shown lines are the others,
            remaining = iter(expected.splitlines())             # in order (comments left out:
            uncommented = "without comments" in source          # each is its line's start)
            assert all(any(line == other or uncommented and other.startswith(line)
                           and other[len(line):].lstrip().startswith("#") for other in remaining)
                       for line in shown.splitlines()), f"the code is not {source}:\n{shown}"


@pytest.mark.slow
def test_two_builds_give_the_same_bytes(deck: dict[str, Any], tmp_path: Path) -> None:
    build.build(tmp_path)
    def contents(folder: Path) -> dict[Path, bytes]:
        return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    first, second = contents(deck["out"]), contents(tmp_path)
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


# -- what the build refuses -----------------------------------------------------------------------

def _deck_with(slide: str) -> str:
    return ("# Title {.title}\n\nA deck.\n\nNotes:\nWelcome, everyone: this is a short deck made "
            "for one of the tests.\n\n---\n\n" + slide)


@pytest.mark.parametrize("slide, complaint", [
    ("# Code\n\n@code wslab.lecture:NoSuchManager\n\nNotes:\nSome notes.",
     "has no NoSuchManager"),
    ("# Code\n\n@code wslab/static/chat.html:noSuchFunction\n\nNotes:\nSome notes.",
     "no function noSuchFunction()"),
    ("# Code\n\n@code wslab.lecture:ConnectionManager mark=\"not in it\"\n\nNotes:\nSome notes.",
     "is on no line"),
    ("# Code\n\n@code wslab.lecture:ConnectionManager step=\"not in it\"\n\nNotes:\nSome notes.",
     "step='not in it' is on no line"),
    ("# Code\n\n@code wslab.lecture:ConnectionManager step=\"def connect .. nowhere\"\n\n"
     "Notes:\nSome notes.", "no line after 'def connect' contains 'nowhere'"),
    ("# Code\n\n@code wslab.lecture:ConnectionManager drop=\"not in it\"\n\nNotes:\nSome notes.",
     "drop='not in it' is on no line"),
    ("# Code\n\n@code wslab/static/chat.html:sendMessage comments=no\n\nNotes:\nSome notes.",
     "comments=no is for Python code"),
    ("# Code\n\n@code lessons/01_first_endpoint.py\n\nNotes:\nSome notes.",
     "name a function or class after ':', or give start="),
    ("# A figure\n\n@figure sequence steps=yes\n\nNotes:\nSome notes.", "draws it in one piece"),
    ("# No notes\n\n- a point\n", "has no speaker notes"),
    ("# A command\n\n@command python -m wslab serve --kick alice\n\nNotes:\nSome notes.",
     "rejects"),
    ("# A figure\n\n@figure no-such-figure\n\nNotes:\nSome notes.", "no such figure"),
    ("# Columns\n\n::: columns\nleft\n\nNotes:\nSome notes.", "never closed"),
])
def test_the_build_refuses(slide: str, complaint: str, tmp_path: Path) -> None:
    with pytest.raises(build.BuildError, match=re.escape(complaint)):
        build.build(tmp_path, deck_text=_deck_with(slide))


def test_a_lesson_not_written_yet_leaves_its_slide_out(tmp_path: Path) -> None:
    result = build.build(tmp_path, deck_text=_deck_with("# Your turn {.lesson}\n\n@lesson 99\n"))
    assert [slide.plain_title for slide in result.slides] == ["Title"]
    assert "lesson 99" in result.skipped[0]


def test_a_plan_must_add_up_and_do_the_whole_core(monkeypatch: pytest.MonkeyPatch) -> None:
    lessons = build.read_lessons()
    titles = {"Many clients: figure 8.4"}
    timeline = build.timeline
    core = [lesson for lesson in lessons.values() if lesson.core and lesson.number != "00"]
    whole = [timeline.Block(lesson.minutes, "a lesson", lesson=lesson.number) for lesson in core]
    minutes = sum(lesson.minutes for lesson in core)

    def plan(*blocks: Any, length: int = minutes) -> tuple[Any, ...]:
        return (timeline.Plan("Test plan", "A plan.", (timeline.Session("One", length, blocks),),
                              before=("00",)),)

    timeline_markdown = build.timeline_markdown
    monkeypatch.setattr(timeline, "PLANS", plan(*whole))
    assert f"Notebook work in class: {minutes} minutes" in timeline_markdown(lessons, titles)
    cases = [
        (plan(*whole[:-1], timeline.Block(whole[-1].minutes, "chat")), "in full and in this order"),
        (plan(*reversed(whole)), "in full and in this order"),
        (plan(*whole, timeline.Block(5, "more"), length=minutes), f"adds up to {minutes + 5}"),
        (plan(*whole[:-1], timeline.Block(whole[-1].minutes + 5, "all of it",
                                          lesson=whole[-1].lesson), length=minutes + 5),
         "a lesson is done in full"),
        (plan(*whole, timeline.Block(5, "later", lesson="98"), length=minutes + 5),
         "does not have"),
        (plan(*whole, timeline.slides(5, "*No such slide*"), length=minutes + 5), "does not have"),
    ]
    for plans, complaint in cases:
        monkeypatch.setattr(timeline, "PLANS", plans)
        with pytest.raises(build.BuildError, match=re.escape(complaint)):
            timeline_markdown(lessons, titles)


def test_the_guides_times_are_the_lessons_times() -> None:
    """Read the lesson headers with a regex of their own, and find each in the guide's table."""
    guide = (SLIDES / "instructor-guide.md").read_text(encoding="utf-8")
    for path in lesson_paths([]):
        text = " ".join(line.lstrip("# ") for line in path.read_text(encoding="utf-8").splitlines())
        minutes, teaching, exercises = re.search(
            r"\*\*Time:\*\* (\d+) minutes \((\d+) teaching, (\d+) exercises\)", text).groups()
        row = f"| {path.name[:2]} | "
        line = next((line for line in guide.splitlines() if line.startswith(row)), None)
        assert line is not None, f"the guide has no row for {path.name}: run make slides"
        assert line.endswith(f"| {teaching} | {exercises} | {minutes} |"), (path.name, line)
    for session in re.findall(r"\*\*(?:The session|Session \d)\*\* \((\d+) minutes\)(.*?)\| end \|",
                              guide, re.DOTALL):
        length, table = session
        assert sum(int(m) for m in re.findall(r"^\| \d+:\d\d \| (\d+) \|", table, re.MULTILINE)) \
            == int(length)


def test_the_3_hour_plan_fits_its_notebook_time_and_ends_in_the_class_chat() -> None:
    """The issue's promise: at most 150 minutes of notebooks, by the kit's own estimate."""
    lessons = build.read_lessons()
    plan = next(plan for plan in build.timeline.PLANS if plan.title == "One 3-hour session")
    blocks = [block for session in plan.sessions for block in session.blocks]
    in_class = [lessons[block.lesson] for block in blocks if block.lesson]
    assert sum(lesson.minutes for lesson in in_class) + sum(
        block.minutes for block in blocks if "machine check" in block.what) <= 150
    assert sum(lesson.estimate.minutes for lesson in in_class) <= 150
    assert [lesson.number for lesson in in_class] == [
        lesson.number for lesson in lessons.values() if lesson.core and lesson.number != "00"]
    assert "whole class in one chat" in blocks[-1].what and "ChatWidget" in (
        lessons[blocks[-1].lesson].source.read_text(encoding="utf-8"))


# -- in Chromium ---------------------------------------------------------------------------------

#: true once reveal.js has started (after start.js fitted the code).
READY = "window.Reveal !== undefined && Reveal.isReady()"


def open_deck(page: Any, out: Path, query: str = "") -> Any:
    page.goto((out / "index.html").as_uri() + query)
    page.wait_for_function(READY)
    return page


def shown(page: Any) -> int:
    """The number (from 1) of the slide on the screen."""
    return page.evaluate("Reveal.getSlides().indexOf(Reveal.getCurrentSlide()) + 1")


def show(page: Any, number: int) -> None:
    """Go to slide ``number`` (from 1), before any of its steps."""
    page.evaluate("""(n) => {
        const where = Reveal.getIndices(Reveal.getSlides()[n - 1]);
        Reveal.slide(where.h, where.v, -1);
    }""", number)
    assert shown(page) == number


def number_of(deck: dict[str, Any], title: str) -> int:
    return deck["titles"].index(title) + 1


def screenshot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    page.screenshot(path=str(path), animations="disabled")   # a step's fade-in, finished
    return path


@pytest.mark.browser
def test_stepping_through_every_slide_and_step(deck: dict[str, Any],
                                               watched: Callable[..., Watched]) -> None:
    view = watched()
    page = open_deck(view.page, deck["out"])
    total = len(deck["titles"])
    assert page.evaluate("Reveal.getTotalSlides()") == total
    assert shown(page) == 1
    seen, presses = [deck["titles"][0]], 0
    while not page.evaluate("Reveal.isLastSlide() && !Reveal.availableFragments().next"):
        before = page.evaluate("JSON.stringify(Reveal.getState())")
        page.keyboard.press("ArrowRight")                 # a presenter's remote sends → too
        presses += 1
        assert page.evaluate("JSON.stringify(Reveal.getState())") != before, "→ did nothing"
        current = page.locator(".reveal .slides section.present:not(.stack)")
        assert current.count() == 1 and current.is_visible()
        title = current.get_attribute("data-title")
        if title != seen[-1]:
            seen.append(title)
            number = len(seen)
            assert current.locator(".slide-foot").text_content().endswith(f"{number} / {total}")
            assert page.evaluate("Reveal.getSlidePastCount()") == number - 1
        assert presses < 10 * total, "→ never reaches the last slide"
    assert seen == deck["titles"], "→ does not show every slide once, in order"
    assert presses - (total - 1) >= 30, "the slides that build up have too few steps"
    page.keyboard.press("ArrowRight")                     # the last slide stays the last
    assert shown(page) == total
    page.keyboard.press("Home")
    assert shown(page) == 1
    page.keyboard.press("End")
    assert shown(page) == total
    page.keyboard.press("ArrowLeft")
    assert shown(page) == total - 1
    overflowing = page.evaluate("Array.from(document.querySelectorAll('.frame[data-overflow]'))"
                                ".map(frame => frame.closest('section').dataset.title)")
    assert overflowing == [], f"slides that do not fit 1280x720: {overflowing}"
    smallest = page.evaluate("Math.min(...Array.from(document.querySelectorAll('pre.code'))"
                             ".map(pre => parseFloat(getComputedStyle(pre).fontSize)))")
    assert smallest >= 15, f"code shrunk to {smallest}px to fit: too small for a projector"
    view.assert_clean()


@pytest.mark.browser
@pytest.mark.parametrize("projector", sorted(PROJECTORS))
def test_projector_sizes(projector: str, deck: dict[str, Any],
                         watched: Callable[..., Watched]) -> None:
    size = PROJECTORS[projector]
    view = watched(size)
    page = open_deck(view.page, deck["out"])
    scale = min(size["width"] / 1280, size["height"] / 720)
    for title in SHOWN:
        if title not in deck["titles"]:
            continue
        number = number_of(deck, title)
        show(page, number)
        box = page.locator(".reveal .slides section.present:not(.stack) .frame").bounding_box()
        assert box["width"] == pytest.approx(1280 * scale, abs=1)
        assert box["height"] == pytest.approx(720 * scale, abs=1)
        assert box["x"] >= -0.5 and box["y"] >= -0.5
        assert box["x"] + box["width"] <= size["width"] + 0.5
        assert box["y"] + box["height"] <= size["height"] + 0.5
        screenshot(page, f"{projector}-{number:02d}-{title}")
    view.assert_clean()


@pytest.mark.browser
def test_the_guide_opens_offline(deck: dict[str, Any], watched: Callable[..., Watched]) -> None:
    view = watched()
    view.page.goto((deck["out"] / "guide.html").as_uri())
    assert view.page.locator("h1").text_content() == "Instructor guide"
    assert view.page.locator("table").count() >= 4
    missing = view.page.evaluate("Array.from(document.querySelectorAll('a[href^=\"#\"]'))"
                                 ".map(a => a.getAttribute('href').slice(1))"
                                 ".filter(id => !document.getElementById(id))")
    assert missing == [], f"links to sections the guide does not have: {missing}"
    screenshot(view.page, "guide")
    view.assert_clean()
