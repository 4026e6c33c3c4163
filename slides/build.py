"""Build the workshop's slides, instructor guide and cheat sheet: ``make slides``.

::

    python slides/build.py              # slides/build/: index.html (the deck), guide.html,
                                        # cheatsheet.html
    python slides/build.py --out DIR    # the same, into DIR
    python slides/build.py --check      # fail if the guide's or the README's tables are stale

Run it with the kit's virtual environment (``make slides`` does): it imports ``wslab``.

What it does:

- reads ``slides/deck.md`` (the slides, their speaker notes and their directives, described at
  the top of that file) and writes one static reveal.js deck: ``index.html`` with the kit's
  theme and start script (``slides/page/``), reveal.js itself (the copy pinned in
  ``labsrc/vendored.py``), ``code.css``, and the diagrams as SVG in ``figures/``. Nothing in it
  loads anything from outside that folder, so it works from a USB stick with the network down;
- puts the kit's code on the slides as it is *now*: each ``@code`` directive names a function,
  class or block in ``wslab``, a lesson or the chat page, and the build copies it from there and
  highlights it with Pygments, so a slide can never show code the kit no longer has (a name that
  is gone stops the build); the lines it marks, and the steps a slide builds up in, are named
  by their text, not their numbers, so they follow the code when it moves;
- draws every diagram from code (``slides/diagrams.py``), including the lessons' own figures;
- reads each lesson's title, time, objectives and steps from ``labsrc/lessons/``, and its time
  estimate from ``labsrc/lesson_time.py``, for the lesson slides, the agenda, the timetables it
  writes into ``instructor-guide.md`` and the list of notebooks in ``README.md``, between their
  ``GENERATED`` markers (the plans themselves are in ``slides/timeline.py``);
- renders the guide as ``guide.html`` next to the deck, and the one-page cheat sheet
  (``slides/cheatsheet.md``, with the kit's code and commands read from the kit) as
  ``cheatsheet.html``.

The build is deterministic: the same sources give the same bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import html
import inspect
import io
import json
import re
import shlex
import shutil
import string
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from typing import Callable

from pygments.style import Style
from pygments.token import Comment, Error, Generic, Keyword, Name, Operator, String

ROOT = Path(__file__).resolve().parent.parent
SLIDES = ROOT / "slides"
LABSRC = ROOT / "labsrc"
LESSONS = LABSRC / "lessons"
PAGE = SLIDES / "page"
DECK = SLIDES / "deck.md"
CHEATSHEET = SLIDES / "cheatsheet.md"
GUIDE = SLIDES / "instructor-guide.md"
README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"
DEFAULT_OUT = SLIDES / "build"

sys.path[:0] = [str(SLIDES), str(LABSRC)]

import diagrams  # noqa: E402  (slides/diagrams.py)
import timeline  # noqa: E402  (slides/timeline.py)
from build_notebooks import CORE_LESSONS, ELECTIVE_LESSONS  # noqa: E402  (labsrc/)
import lesson_time  # noqa: E402  (labsrc/)
from lesson_sources import SourceError, definition, module_file  # noqa: E402  (labsrc/)
from vendored import VENDORED  # noqa: E402  (labsrc/)

#: reveal.js, as pinned and committed; the deck gets a copy of its files in a folder of this name.
REVEAL = next(entry for entry in VENDORED if entry.package == "reveal.js")
#: The kit's own files next to the deck, from ``slides/page/``.
PAGE_FILES = ("theme.css", "start.js")


class ProjectorStyle(Style):
    """Code colours for a projector: Pygments' "vs" style, with the two colours that fall below
    WCAG's 4.5:1 contrast (class names and comments) darkened, so that every token stays
    readable on the code's grey and on a marked line's yellow (``theme.css``)."""

    name = "wslab-projector"
    background_color = "#f3f5f8"
    styles = {
        Comment: "#1b6b1b",
        Comment.Preproc: "#0000ff",
        Keyword: "#0000ff",
        Operator.Word: "#0000ff",
        Keyword.Type: "#17627d",
        Name.Class: "#17627d",
        String: "#a31515",
        Generic.Heading: "bold",
        Generic.Subheading: "bold",
        Generic.Emph: "italic",
        Generic.Strong: "bold",
        Generic.Prompt: "bold",
        Error: "border:#ff0000",
    }

#: Slides with these classes are dividers, not content: speaker notes are optional there.
NO_NOTES_NEEDED = {"section"}


class BuildError(Exception):
    """Something in the deck or the guide cannot be built; the message says what and where."""


class SkipSlide(Exception):
    """A slide about something the kit does not have yet (a lesson still being written)."""


# -- the lessons ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Lesson:
    number: str             # "01", or "E1" for an elective
    stem: str               # "01_first_endpoint"
    title: str              # "A first endpoint: ..."
    minutes: int
    teaching: int
    exercises: int
    builds_on: str          # Markdown
    objectives: list[str]   # Markdown, one item each
    steps: dict[int, str]   # 1 -> "An app with a health check"
    source: Path            # labsrc/lessons/01_first_endpoint.py

    @property
    def core(self) -> bool:
        """Whether the lesson is on the core track (numbered), not an elective (lettered)."""
        return not self.number.startswith("E")

    @functools.cached_property
    def estimate(self) -> lesson_time.Estimate:
        return lesson_time.estimate(self.source)

    @property
    def notebook(self) -> str:
        return f"notebooks/{self.stem}.ipynb"

    @property
    def short_title(self) -> str:
        return self.title.split(":")[0]

    def exercise_titles(self) -> list[str]:
        found = []
        for title in self.steps.values():
            match = re.match(r"Exercise(?: \d+)?: (.+)", title)
            if match:
                found.append(match.group(1))
        return found


def _markdown_of(source: str) -> str:
    """The Markdown cells of a percent-format lesson, joined, without their ``# `` prefixes."""
    lines: list[str] = []
    in_markdown = False
    for line in source.splitlines():
        if line.startswith("# %%"):
            in_markdown = "[markdown]" in line
            lines.append("")
            continue
        if in_markdown:
            lines.append(line[2:] if line.startswith("# ") else "" if line == "#" else line)
    return "\n".join(lines)


def _bullets_after(markdown: str, heading: str) -> list[str]:
    match = re.search(rf"^## {re.escape(heading)}\s*$", markdown, re.MULTILINE)
    if not match:
        return []
    items: list[str] = []
    for line in markdown[match.end():].lstrip("\n").splitlines():
        if line.startswith("- "):
            items.append(line[2:].strip())
        elif line.startswith("  ") and items:
            items[-1] += " " + line.strip()
        else:
            break
    return items


def read_lesson(path: Path) -> Lesson:
    markdown = _markdown_of(path.read_text(encoding="utf-8"))
    where = path.relative_to(ROOT)
    title = re.search(r"^# (\d\d|E\d) · (.+)$", markdown, re.MULTILINE)
    time = lesson_time.STATED.search(" ".join(markdown.split()))
    builds_on = re.search(r"\*\*Builds on:\*\*(.+?)(?:\n\s*\n|$)", markdown, re.DOTALL)
    if not (title and time and builds_on):
        raise BuildError(f"{where}: expected a title '# NN · ...' and a line '**Time:** N minutes "
                         f"(N teaching, N exercises) · **Builds on:** ...'")
    minutes, teaching, exercises = (int(time.group(i)) for i in (1, 2, 3))
    if teaching + exercises != minutes:
        raise BuildError(f"{where}: {teaching} teaching + {exercises} exercises is not "
                         f"{minutes} minutes")
    # Links point at notebooks next to the lesson: keep their words only.
    builds_on_text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", " ".join(builds_on.group(1).split()))
    steps = {int(n): t.strip() for n, t in re.findall(r"^## (\d+)\. (.+)$", markdown, re.MULTILINE)}
    objectives = _bullets_after(markdown, "Learning objectives")
    if not objectives:
        raise BuildError(f"{where}: no '## Learning objectives' list")
    return Lesson(number=title.group(1), stem=path.stem, title=title.group(2).strip(),
                  minutes=minutes, teaching=teaching, exercises=exercises,
                  builds_on=builds_on_text,
                  objectives=objectives, steps=steps, source=path)


def read_lessons(folder: Path = LESSONS) -> dict[str, Lesson]:
    paths = sorted(folder.glob(CORE_LESSONS)) + sorted(folder.glob(ELECTIVE_LESSONS))
    lessons = [read_lesson(path) for path in paths]
    return {lesson.number: lesson for lesson in lessons}


# -- Markdown and code ----------------------------------------------------------------------------

def _markdown_renderer():
    from markdown_it import MarkdownIt
    return MarkdownIt("commonmark", {"html": True}).enable("table")


MD = _markdown_renderer()


def md(text: str) -> str:
    return MD.render(text)


def md_inline(text: str) -> str:
    return MD.renderInline(text)


def plain(text: str) -> str:
    """Markdown (one line) as plain text: for titles in the page's <title> and lists."""
    return html.unescape(re.sub(r"<[^>]+>", "", md_inline(text))).strip()


@dataclasses.dataclass
class Snippet:
    code: str
    language: str
    where: str          # "labsrc/wslab/lecture.py · ConnectionManager · lines 27-45"


_SOLUTION_MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|STUB)\s*$")


def _without_stubs(lines: list[str]) -> list[str]:
    """A lesson's lines as the solution shows them: stub regions and markers dropped."""
    kept, in_stub = [], False
    for line in lines:
        match = _SOLUTION_MARKER.match(line)
        if match:
            in_stub = match.group(1) == "BEGIN" and match.group(2) == "STUB"
            continue
        if not in_stub:
            kept.append(line)
    return kept


def js_function(file: Path, name: str) -> tuple[list[str], int, int]:
    """The lines of ``function name(...) {...}`` in a page or script (up to its closing brace
    at the same indentation)."""
    lines = file.read_text(encoding="utf-8").splitlines()
    pattern = re.compile(rf"^(\s*)(async\s+)?function\s+{re.escape(name)}\s*\(")
    for i, line in enumerate(lines):
        match = pattern.match(line)
        if match:
            closing = match.group(1) + "}"
            for j in range(i + 1, len(lines)):
                if lines[j] == closing:
                    return lines[i: j + 1], i + 1, j + 1
            break
    raise BuildError(f"{file.relative_to(ROOT)} has no function {name}() ending with '}}' at "
                     f"its own indentation: update the @code line in slides/deck.md")


def _cut(lines: list[str], first: int, start: str | None, end: str | None, extra: int,
         where: str) -> tuple[list[str], int, int]:
    """Keep the lines from the first containing ``start`` to the next containing ``end``."""
    begin = 0
    if start is not None:
        found = [i for i, line in enumerate(lines) if start in line]
        if not found:
            raise BuildError(f"{where}: no line contains {start!r}")
        begin = found[0]
    stop = len(lines) - 1
    if end is not None:
        found = [i for i, line in enumerate(lines) if i >= begin and end in line]
        if not found:
            raise BuildError(f"{where}: no line after {start!r} contains {end!r}")
        stop = found[0]
    stop = min(len(lines) - 1, stop + extra)
    return lines[begin: stop + 1], first + begin, first + stop


def resolve_source(spec: str) -> tuple[Path, str]:
    """``wslab.lecture:ConnectionManager`` or ``lessons/02_first_endpoint.py:echo`` or
    ``wslab/static/chat.html:sendMessage`` -> (file, name)."""
    source, _, name = spec.partition(":")
    if "/" in source or Path(source).suffix in (".py", ".html", ".js", ".css"):
        file = LABSRC / source
    else:
        try:
            file = module_file(source)
        except SourceError as exc:
            raise BuildError(f"@code {spec}: {exc}") from None
    if not file.is_file():
        raise BuildError(f"@code {spec}: no file {file.relative_to(ROOT)}")
    return file, name


def _without_comments(code: str, where: str) -> str:
    """Python code without its comments: a comment after code is cut off, a line that is only a
    comment is left out (for a narrow place, such as the cheat sheet's columns)."""
    import tokenize
    try:
        comments = [token.start for token in tokenize.generate_tokens(io.StringIO(code).readline)
                    if token.type == tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError) as exc:
        raise BuildError(f"{where}: comments=no, but the code does not tokenize: {exc}") from None
    lines = code.splitlines()
    for row, column in comments:
        lines[row - 1] = lines[row - 1][:column].rstrip()
    alone = {row for row, column in comments if not lines[row - 1]}
    return "\n".join(line for number, line in enumerate(lines, 1) if number not in alone)


def extract(spec: str, *, start: str | None = None, end: str | None = None, extra: int = 0,
            docstring: bool = True, language: str | None = None,
            drop: list[str] = (), comments: bool = True) -> Snippet:
    """The code ``spec`` names, cut to ``start``/``end``; ``drop`` leaves out every line that
    contains one of its texts, ``comments=False`` a Python snippet's comments (the snippet's
    label says so)."""
    file, name = resolve_source(spec)
    where = str(file.relative_to(ROOT))
    if file.suffix == ".py" and name:
        try:
            found = definition(file, name)
        except SourceError as exc:
            raise BuildError(f"{exc}; update the @code line in slides/deck.md") from None
        lines, first, last, doc = found.lines, found.first, found.last, found.docstring
        language = language or "python"
    elif file.suffix == ".py" and start is None:
        raise BuildError(f"@code {spec}: name a function or class after ':', or give start=")
    elif name:
        doc = range(0)
        lines, first, last = js_function(file, name)
        language = language or "javascript"
    else:
        lines = file.read_text(encoding="utf-8").splitlines()
        first, last, doc = 1, len(lines), range(0)
        language = language or {".py": "python", ".html": "html", ".js": "javascript",
                                ".css": "css"}.get(file.suffix, "text")
    if start is not None or end is not None:
        lines, first, last = _cut(lines, first, start, end, extra, f"{where}:{name}")
    if not docstring:
        lines = [line for number, line in enumerate(lines, first) if number not in doc]
    if file.parent == LESSONS:
        lines = _without_stubs(lines)
    for text in drop:
        if not any(text in line for line in lines):
            raise BuildError(f"{where}:{name}: drop={text!r} is on no line")
        lines = [line for line in lines if text not in line]
    code = textwrap.dedent("\n".join(lines)).strip("\n")
    label = " · ".join(part for part in (where, name) if part) + f" · lines {first}-{last}"
    if drop:
        label += ", without the lines with " + ", ".join(map(repr, drop))
    if not comments:
        if language != "python":
            raise BuildError(f"{where}:{name}: comments=no is for Python code")
        code = _without_comments(code, f"{where}:{name}")
        label += ", without comments"
    return Snippet(code, language, label)


def _lines_named(lines: list[str], spec: str, where: str) -> list[int]:
    """The numbers (from 1) of the lines a step names: every line containing ``spec``, or, for
    ``FROM .. TO``, the lines from the first containing FROM to the next containing TO."""
    first_text, dots, last_text = spec.partition(" .. ")
    if not dots:
        found = [n for n, line in enumerate(lines, 1) if spec in line]
        if not found:
            raise BuildError(f"{where}: step={spec!r} is on no line")
        return found
    first = next((n for n, line in enumerate(lines, 1) if first_text in line), None)
    if first is None:
        raise BuildError(f"{where}: step={spec!r}: no line contains {first_text!r}")
    last = next((n for n, line in enumerate(lines, 1) if n >= first and last_text in line), None)
    if last is None:
        raise BuildError(f"{where}: step={spec!r}: no line after {first_text!r} contains "
                         f"{last_text!r}")
    return list(range(first, last + 1))


def _line_ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3,7"``: a step as reveal.js's ``data-line-numbers`` writes it."""
    ranges: list[list[int]] = []
    for number in sorted(set(numbers)):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def highlight(snippet: Snippet, marks: list[str], steps: list[str] = ()) -> str:
    """The snippet as a slide shows it: coloured by Pygments, the lines containing a ``mark``
    marked, and, for ``steps``, reveal.js's code steps (its highlight plugin's
    ``data-line-numbers``): the slide first shows the code, then marks each step's lines in
    turn."""
    from pygments import highlight as pygmentize
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    lines = snippet.code.splitlines()
    for mark in marks:
        if not any(mark in line for line in lines):
            raise BuildError(f"{snippet.where}: mark={mark!r} is on no line")
    marked = {n for n, line in enumerate(lines, 1) if any(mark in line for mark in marks)}
    # Pygments closes every element at the end of a line, so each line can be wrapped alone.
    coloured = pygmentize(snippet.code, get_lexer_by_name(snippet.language),
                          HtmlFormatter(nowrap=True)).splitlines()
    if len(coloured) != len(lines):
        raise BuildError(f"{snippet.where}: Pygments made {len(coloured)} lines of "
                         f"{len(lines)}")
    body = "\n".join(f'<span class="hll">{line}</span>' if n in marked else line
                      for n, line in enumerate(coloured, 1))
    attributes = ""
    if steps:
        # The first step, empty, is the code before any line is marked.
        numbers = [_line_ranges(_lines_named(lines, step, snippet.where)) for step in steps]
        attributes = f' data-line-numbers="|{"|".join(numbers)}"'
    # "nohighlight": the highlight plugin must not colour the code again, only step through it.
    return (f'<div class="code-block"><p class="code-source">{html.escape(snippet.where)}</p>'
            f'<pre class="code"><code class="hljs nohighlight"{attributes}>{body}</code></pre>'
            f"</div>")


def code_css() -> str:
    from pygments.formatters import HtmlFormatter
    return HtmlFormatter(style=ProjectorStyle).get_style_defs(".code") + "\n"


# -- directives: @name args on a line of its own in deck.md ---------------------------------------

@dataclasses.dataclass
class Context:
    lessons: dict[str, Lesson]
    out: Path | None                # where figures go (None: do not draw them)
    drawn: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # figure -> its files
    notes: list[str] = dataclasses.field(default_factory=list)        # notes a directive adds
    title: str = ""                                                    # added to the slide's title


def _options(args: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    positional, options = [], {}
    for arg in args:
        key, equals, value = arg.partition("=")
        if equals and re.fullmatch(r"[a-z-]+", key):
            options.setdefault(key, []).append(value)
        else:
            positional.append(arg)
    return positional, options


def _one(options: dict[str, list[str]], key: str) -> str | None:
    values = options.get(key)
    return values[-1] if values else None


def directive_code(args: list[str], ctx: Context) -> str:
    positional, options = _options(args)
    if len(positional) != 1:
        raise BuildError(f"@code takes one source, got {positional}")
    snippet = extract(positional[0], start=_one(options, "start"), end=_one(options, "end"),
                      extra=int(_one(options, "extra") or 0),
                      docstring=_one(options, "docstring") != "no",
                      language=_one(options, "lang"), drop=options.get("drop", []),
                      comments=_one(options, "comments") != "no")
    return highlight(snippet, options.get("mark", []), options.get("step", []))


def _save_svg(figure, path: Path, bbox) -> None:
    figure.savefig(path, format="svg", metadata={"Date": None}, bbox_inches=bbox,
                   pad_inches=0.05)


def draw_figure(name: str, ctx: Context, *, stepwise: bool = False) -> list[str]:
    """The SVG files of diagram ``name``: one, or, ``stepwise``, one per stage of a diagram
    drawn in steps, each cropped to the whole diagram so that the stages stack exactly."""
    if name not in diagrams.FIGURES:
        raise BuildError(f"@figure {name}: no such figure in slides/diagrams.py "
                         f"(known: {', '.join(sorted(diagrams.FIGURES))})")
    stages = diagrams.STAGES.get(name, 1) if stepwise else 1
    if stepwise and stages == 1:
        raise BuildError(f"@figure {name} steps=yes: slides/diagrams.py draws it in one piece "
                         f"(in steps: {', '.join(sorted(diagrams.STAGES))})")
    key = f"{name} in steps" if stepwise else name
    if key not in ctx.drawn:
        files = ([f"figures/{name}.svg"] if stages == 1 else
                 [f"figures/{name}-{stage}.svg" for stage in range(1, stages + 1)])
        if ctx.out is not None:
            import matplotlib
            matplotlib.rcParams["svg.hashsalt"] = "wslab-slides"   # the same ids at every build
            draw = diagrams.FIGURES[name][0]
            (ctx.out / "figures").mkdir(parents=True, exist_ok=True)
            if stages == 1:
                _save_svg(draw(), ctx.out / files[0], "tight")
            else:
                whole = draw().get_tightbbox().padded(0.05)
                for stage, file in enumerate(files, 1):
                    _save_svg(draw(upto=stage), ctx.out / file, whole)
        ctx.drawn[key] = files
    return ctx.drawn[key]


def directive_figure(args: list[str], ctx: Context) -> str:
    positional, options = _options(args)
    if len(positional) != 1:
        raise BuildError(f"@figure takes one name, got {positional}")
    name = positional[0]
    files = draw_figure(name, ctx, stepwise=_one(options, "steps") == "yes")
    alt = html.escape(diagrams.FIGURES[name][1])
    caption = _one(options, "caption")
    style = f' style="max-height: {_one(options, "height")}px"' if _one(options, "height") else ""
    figcaption = f"<figcaption>{md_inline(caption)}</figcaption>" if caption else ""
    if len(files) == 1:
        picture = f'<img src="{files[0]}" alt="{alt}"{style}>'
    else:
        # The first stage carries the description of the whole; each later stage is the same
        # picture with more drawn, shown as a fragment on top of the one before.
        later = "".join(f'<img class="fragment" src="{file}" alt="" aria-hidden="true">'
                        for file in files[1:])
        picture = f'<div class="r-stack"{style}><img src="{files[0]}" alt="{alt}">{later}</div>'
    return f'<figure class="diagram">{picture}{figcaption}</figure>'


def directive_lesson(args: list[str], ctx: Context) -> str:
    number = args[0] if args else ""
    lesson = ctx.lessons.get(number)
    if lesson is None:
        raise SkipSlide(f"lesson {number} is not in labsrc/lessons/ yet")
    objectives = "".join(f"<li>{md_inline(item)}</li>" for item in lesson.objectives)
    ctx.title = f"{lesson.number} · {lesson.short_title}"
    exercises = lesson.exercise_titles()
    ctx.notes.append(
        f"Lesson {lesson.number} takes **{lesson.minutes} minutes** ({lesson.teaching} teaching, "
        f"{lesson.exercises} exercises). Builds on: {lesson.builds_on}\n\n"
        "Its steps: " + "; ".join(f"{n}. {t}" for n, t in lesson.steps.items()) + ".\n\n"
        "How to teach it, and where students get stuck: the instructor guide, "
        + ("*Teaching the core, block by block*" if lesson.core
           else "*Electives: where students get stuck*") + f", lesson {lesson.number}.")
    listing = f" Exercises: {', '.join(md_inline(e) for e in exercises)}." if exercises else ""
    return (f'<div class="lesson-card"><div><h3>You will</h3><ul>{objectives}</ul></div>'
            f'<div class="lesson-time"><b>{lesson.minutes}</b>minutes<br>{lesson.teaching} '
            f"teaching<br>{lesson.exercises} exercises</div></div>"
            f'<p class="lesson-open">Open <code>{lesson.notebook}</code>.{listing}</p>')


def directive_agenda(args: list[str], ctx: Context) -> str:
    core = [lesson for lesson in ctx.lessons.values() if lesson.core]
    electives = [lesson for lesson in ctx.lessons.values() if not lesson.core]
    rows = "".join(
        f"<tr><td><code>{lesson.number}</code></td><td>{md_inline(lesson.title)}</td>"
        f"<td>{lesson.minutes} min</td></tr>" for lesson in core)
    total = sum(lesson.minutes for lesson in core)
    later = ", ".join(f"<code>{lesson.number}</code> {md_inline(lesson.short_title)}"
                      for lesson in electives)
    return (f'<table class="agenda"><thead><tr><th>core</th><th>what you build and learn</th>'
            f"<th>time</th></tr></thead><tbody>{rows}<tr><td></td><td><b>the core track</b> "
            f"(00 at home)</td>"
            f"<td><b>{total // 60} h {total % 60:02d}</b></td></tr></tbody></table>"
            + (f'<p class="small"><b>Electives, afterwards:</b> {later}.</p>'
               if electives else ""))


def directive_handshake(args: list[str], ctx: Context) -> str:
    from wslab.protocol import accept_key, handshake_request
    key = "dGhlIHNhbXBsZSBub25jZQ=="     # the example key of RFC 6455, section 1.3
    request = handshake_request("127.0.0.1:8000", "/ws/alice", key).decode().rstrip()
    response = "\r\n".join(["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                            "Connection: Upgrade", f"Sec-WebSocket-Accept: {accept_key(key)}"])
    source = "request: wslab.protocol.handshake_request · answer: wslab.protocol.accept_key"
    return (f'<p class="code-source">{source}</p>'
            f'<pre class="plain">{html.escape(request)}\n\n{html.escape(response)}</pre>')


def directive_wire(args: list[str], ctx: Context) -> str:
    from wslab import envelope
    noon = datetime(2026, 1, 1, 12, 0, 0)
    lines = [
        ("alice sends", '{"message": "hi"}'),
        ("everyone gets", envelope.chat_message("alice", "hi", noon)),
        ("plain text", envelope.plain_text_message("alice", "hello")),
        ("alice leaves", envelope.leave_message("alice", 2, noon)),
    ]
    rows = "".join(f"<tr><td>{html.escape(who)}</td><td><code>{html.escape(text)}</code></td></tr>"
                   for who, text in lines)
    return (f'<p class="code-source">wslab.envelope: chat_message, plain_text_message, '
            f'leave_message</p><table class="wire">{rows}</table>')


def directive_closecodes(args: list[str], ctx: Context) -> str:
    """The close codes a chat meets, drawn from the kit's one table (``wslab.close_codes``)."""
    from wslab.close_codes import CLOSES
    rows = []
    for code, close in CLOSES.items():
        label = f"{type(close.code).__name__}.{close.code.name}"
        retry = "no: final" if close.final else "yes"
        rows.append(f"<tr><td><b>{code}</b></td><td><code>{label}</code></td>"
                    f"<td>{html.escape(close.meaning)}</td><td>{retry}</td></tr>")
    return ('<table class="close-codes"><thead><tr><th>code</th><th>in the kit</th>'
            f"<th>means</th><th>reconnect?</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def directive_command(args: list[str], ctx: Context) -> str:
    """A shell command, checked against the kit's own command line when it is ``python -m
    wslab``: an option the kit does not have stops the build."""
    if args[:3] == ["python", "-m", "wslab"]:
        from wslab.__main__ import build_parser
        complaint = io.StringIO()
        try:
            with contextlib.redirect_stderr(complaint), contextlib.redirect_stdout(complaint):
                build_parser().parse_args(args[3:])
        except SystemExit:
            last = (complaint.getvalue().strip().splitlines() or [""])[-1]
            raise BuildError(f"@command: python -m wslab rejects {shlex.join(args[3:])!r}: "
                             f"{last}") from None
    return f'<pre class="plain command">{html.escape(" ".join(args))}</pre>'


#: FastAPI's WebSocket calls the lecture uses, for the deck and the cheat sheet: the method (its
#: signature is read from the installed Starlette, whose WebSocket FastAPI hands to endpoints),
#: what it does, its counterpart in the browser, and how it goes wrong.
WEBSOCKET_CALLS = (
    ("accept", "answers the handshake: 101", "`ws.onopen` fires",
     "forgotten: the client is refused"),
    ("receive_text", "waits for the next message", "`ws.send(text)`",
     "the message is binary: `KeyError`"),
    ("send_text", "sends one text message", "`ws.onmessage`", "the client has left"),
    ("receive_json", "`receive_text()` + `json.loads()`", "`ws.send(JSON.stringify(…))`",
     "the text is not JSON"),
    ("send_json", "`json.dumps()` + `send_text()`", "`JSON.parse(event.data)`",
     "`data` is not JSON-able"),
    ("close", "sends a close frame with a code", "`ws.onclose(event)`, `event.code`",
     "a send after it: `RuntimeError`"),
)
DISCONNECT = ("When the client leaves, `receive_…` raises `WebSocketDisconnect` (its `code` is "
              "the close code): the normal end of every connection.")


def websocket_call(name: str, *, defaults: bool) -> str:
    """``await websocket.send_json(data)``, or with ``defaults`` the method with every
    parameter: ``send_json(data, mode='text')``."""
    from starlette.websockets import WebSocket
    method = getattr(WebSocket, name, None)
    if method is None:
        raise BuildError(f"FastAPI's WebSocket has no method {name}(): update WEBSOCKET_CALLS")
    parameters = [p for p in inspect.signature(method).parameters.values() if p.name != "self"]
    shown = [p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in parameters
             if defaults or p.default is p.empty]
    return f"{name}({', '.join(shown)})" if defaults else f"await websocket.{name}({', '.join(shown)})"


def directive_markdown(args: list[str], ctx: Context) -> str:
    """Markdown copied from a lesson's text cells: ``@markdown lessons/NN_x.py start=".."
    end=".."`` (a table the lesson explains with, for instance)."""
    positional, options = _options(args)
    if len(positional) != 1 or _one(options, "start") is None:
        raise BuildError(f"@markdown takes one lesson and start=, got {args}")
    file, _ = resolve_source(positional[0])
    lines = _markdown_of(file.read_text(encoding="utf-8")).splitlines()
    where = str(file.relative_to(ROOT))
    lines, _, _ = _cut(lines, 1, _one(options, "start"), _one(options, "end"), 0, where)
    return f'<p class="code-source">{html.escape(where)}</p>' + md("\n".join(lines))


def directive_websocket_calls(args: list[str], ctx: Context) -> str:
    """The WebSocket calls as a table: for a slide, with their browser side and failures; with
    ``signatures=full`` (the cheat sheet), with every parameter and its default instead."""
    _, options = _options(args)
    full = _one(options, "signatures") == "full"
    if full:
        rows = ["| `await websocket.`… | does |", "|---|---|"]
        rows += [f"| `{websocket_call(name, defaults=True)}` | {does} |"
                 for name, does, _, _ in WEBSOCKET_CALLS]
    else:
        rows = ["| call | does | the browser's side | goes wrong when |", "|---|---|---|---|"]
        rows += [f"| `{websocket_call(name, defaults=False)}` | {does} | {browser} | {fails} |"
                 for name, does, browser, fails in WEBSOCKET_CALLS]
    return md("\n".join(rows) + "\n\n" + DISCONNECT)


def directive_make(args: list[str], ctx: Context) -> str:
    """The kit's make targets, in the words of the Makefile's own ``make help``."""
    text = MAKEFILE.read_text(encoding="utf-8")
    listed = re.findall(r'^\t@echo "make (\S+)\s+(.+?)"\s*$', text, re.MULTILINE)
    if not listed:
        raise BuildError("@make: the Makefile's help lists no target "
                         "(lines '@echo \"make TARGET   what it does\"')")
    rows = []
    for target, what in listed:
        if not re.search(rf"^{re.escape(target)}:", text, re.MULTILINE):
            raise BuildError(f"@make: the Makefile's help lists 'make {target}', which it does "
                             f"not have")
        rows.append(f"<tr><td><code>make {html.escape(target)}</code></td>"
                    f"<td>{html.escape(what)}</td></tr>")
    return f'<table class="commands"><tbody>{"".join(rows)}</tbody></table>'


def directive_serve(args: list[str], ctx: Context) -> str:
    """``python -m wslab serve``'s options, read from the kit's own argument parser.

    ``fold=TITLE`` (repeatable) shows the option group of that title as one row: its options'
    names and the group's description, for a sheet that has no room for each of them (``--help``
    lists them all).
    """
    from wslab.__main__ import build_parser
    _, options_of_directive = _options(args)
    folded = set(options_of_directive.get("fold", []))
    commands = next(action for action in build_parser()._actions
                    if isinstance(action, argparse._SubParsersAction))
    serve = commands.choices["serve"]
    titles = {group.title for group in serve._action_groups}
    if folded - titles:
        raise BuildError(f"@serve: no option group {sorted(folded - titles)} to fold "
                         f"(groups: {sorted(titles)})")
    rows = []
    for group in serve._action_groups:
        options = [action for action in group._group_actions
                   if action.option_strings and action.help != argparse.SUPPRESS
                   and not isinstance(action, argparse._HelpAction)]
        if group.title in folded:
            names = ", ".join(name for action in options for name in action.option_strings)
            rows.append(f"<tr><td><code>{html.escape(names)}</code></td>"
                        f"<td>{html.escape(group.title)}: {html.escape(group.description or '')}"
                        f" (<code>--help</code>)</td></tr>")
            continue
        if options and group.title != serve._optionals.title:
            rows.append(f'<tr><th colspan="2" scope="colgroup">{html.escape(group.title)}</th>'
                        f"</tr>")
        for action in options:
            call = html.escape(", ".join(action.option_strings))
            if action.nargs != 0:
                call += " " + html.escape(action.metavar or action.dest.upper())
            what = action.help or ""
            if "%(" in what:
                what %= dict(vars(action), prog=serve.prog)
            if action.choices:      # listed after the help, to keep the options' column narrow
                what += f" (one of: {', '.join(map(str, action.choices))})"
            rows.append(f"<tr><td><code>{call}</code></td><td>{html.escape(what)}</td></tr>")
    return f'<table class="commands"><tbody>{"".join(rows)}</tbody></table>'


DIRECTIVES: dict[str, Callable[[list[str], Context], str]] = {
    "code": directive_code,
    "figure": directive_figure,
    "lesson": directive_lesson,
    "agenda": directive_agenda,
    "handshake": directive_handshake,
    "wire": directive_wire,
    "closecodes": directive_closecodes,
    "command": directive_command,
    "markdown": directive_markdown,
    "websocket-calls": directive_websocket_calls,
    "make": directive_make,
    "serve": directive_serve,
}


# -- the deck ------------------------------------------------------------------------------------

@dataclasses.dataclass
class Slide:
    title: str                  # Markdown
    classes: list[str]
    body: str                   # HTML
    notes: str                  # HTML
    line: int                   # where it starts in deck.md
    section: str = ""

    @property
    def plain_title(self) -> str:
        return plain(self.title)


_HEADING = re.compile(r"^# (.+?)(?:\s+\{([^}]*)\})?\s*$")


def _split_slides(text: str) -> list[tuple[int, list[str]]]:
    chunks, current, start = [], [], 1
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() == "---":
            chunks.append((start, current))
            current, start = [], number + 1
        else:
            current.append(line)
    chunks.append((start, current))
    return chunks


def _only_comments(lines: list[str]) -> bool:
    text = re.sub(r"<!--.*?-->", "", "\n".join(lines), flags=re.DOTALL)
    return not text.strip()


def one_step_each(part: str) -> str:
    """HTML whose list items, and the rows of its tables' bodies, appear one at a time: each
    becomes a reveal.js fragment (``::: incremental``)."""
    part = part.replace("<li>", '<li class="fragment">')
    return re.sub(r"<tbody>.*?</tbody>",
                  lambda body: body.group(0).replace("<tr>", '<tr class="fragment">'),
                  part, flags=re.DOTALL)


def parse_slide(start: int, lines: list[str], ctx: Context) -> Slide:
    where = f"slides/deck.md:{start}"
    body_lines = list(lines)
    while body_lines and (not body_lines[0].strip() or body_lines[0].startswith("<!--")):
        if body_lines[0].startswith("<!--"):   # a comment before the slide (the file's header)
            while len(body_lines) > 1 and "-->" not in body_lines[0]:
                body_lines.pop(0)
                start += 1
        body_lines.pop(0)
        start += 1
    heading = _HEADING.match(body_lines[0]) if body_lines else None
    if not heading:
        raise BuildError(f"{where}: a slide starts with '# Title' (got {body_lines[:1]})")
    title = heading.group(1)
    classes = [c[1:] for c in (heading.group(2) or "").split() if c.startswith(".")]
    body_lines = body_lines[1:]
    notes_lines: list[str] = []
    for i, line in enumerate(body_lines):
        if line.startswith("Notes:"):
            notes_lines = [line[len("Notes:"):]] + body_lines[i + 1:]
            body_lines = body_lines[:i]
            break

    ctx.notes, ctx.title = [], ""
    parts: list[str] = []
    markdown: list[str] = []
    stack: list[tuple[str, int]] = []    # the open ::: blocks: their first word, where they start

    def flush() -> None:
        if "".join(markdown).strip():
            parts.append(md("\n".join(markdown)))
        markdown.clear()

    for offset, line in enumerate(body_lines, 1):
        here = f"slides/deck.md:{start + offset}"
        if line.startswith("@"):
            flush()
            try:
                name, *args = shlex.split(line[1:])
            except ValueError as exc:
                raise BuildError(f"{here}: {exc}") from None
            if name not in DIRECTIVES:
                raise BuildError(f"{here}: unknown directive @{name} "
                                 f"(known: {', '.join('@' + d for d in DIRECTIVES)})")
            try:
                parts.append(DIRECTIVES[name](args, ctx))
            except BuildError as exc:
                raise BuildError(f"{here}: {exc}") from None
        elif line.startswith(":::"):
            flush()
            words = line[3:].split()
            if words:
                stack.append((words[0], len(parts)))
                if words[0] == "columns":
                    parts.append(f'<div class="columns {" ".join(words[1:])}"><div>')
                else:
                    parts.append(f'<div class="{" ".join(words)}">')
            else:
                if not stack:
                    raise BuildError(f"{here}: ':::' closes nothing")
                word, opened = stack.pop()
                if word == "incremental":
                    parts[opened:] = [one_step_each(part) for part in parts[opened:]]
                parts.append("</div></div>" if word == "columns" else "</div>")
        elif line.startswith("|||"):
            flush()
            if not stack or stack[-1][0] != "columns":
                raise BuildError(f"{here}: '|||' outside '::: columns'")
            parts.append("</div><div>")
        else:
            markdown.append(line)
    flush()
    if stack:
        raise BuildError(f"{where}: '::: {stack[-1][0]}' is never closed")

    if ctx.title:
        title = f"{title}: {ctx.title}"
    notes = "\n".join(notes_lines).strip()
    notes_parts = ctx.notes + ([notes] if notes else [])
    if not notes_parts and not NO_NOTES_NEEDED & set(classes):
        raise BuildError(f"{where}: slide {plain(title)!r} has no speaker notes: add a "
                         f"'Notes:' paragraph (every content slide needs them)")
    return Slide(title, classes, "\n".join(parts), md("\n\n".join(notes_parts)), start)


def parse_deck(text: str, ctx: Context) -> tuple[list[Slide], list[str]]:
    """The slides, and what was skipped (lessons not written yet)."""
    slides, skipped = [], []
    for start, lines in _split_slides(text):
        if _only_comments(lines):
            continue
        try:
            slides.append(parse_slide(start, lines, ctx))
        except SkipSlide as why:
            skipped.append(f"slides/deck.md:{start}: {why}")
    if not slides:
        raise BuildError("slides/deck.md has no slides")
    section = plain(slides[0].title)
    for slide in slides:
        if "section" in slide.classes:
            section = slide.plain_title
        slide.section = section
    return slides, skipped


def render_slide(slide: Slide, number: int, total: int) -> str:
    """One slide: a 1280x720 frame (its heading, body and footer), then its speaker notes."""
    title = html.escape(slide.plain_title)
    heading = "h1" if "title" in slide.classes else "h2"
    return (f'<section data-title="{title}">\n'
            f'<div class="{" ".join(["frame", *slide.classes])}">\n'
            f'<header class="slide-head"><{heading}>{md_inline(slide.title)}</{heading}></header>\n'
            f'<div class="slide-body">\n{slide.body}\n</div>\n'
            f'<footer class="slide-foot"><span>{html.escape(slide.section)}</span>'
            f"<span>{number} / {total}</span></footer>\n</div>\n"
            + (f'<aside class="notes">\n{slide.notes}</aside>\n' if slide.notes else "")
            + "</section>")


def render_deck(slides: list[Slide]) -> str:
    """The page: one vertical stack of slides per section (a column in reveal.js's overview);
    going to a section (Home, a click in the overview) starts at its first slide."""
    stacks: list[list[tuple[int, Slide]]] = []
    for number, slide in enumerate(slides, 1):
        if not stacks or "section" in slide.classes:
            stacks.append([])
        stacks[-1].append((number, slide))
    body = "\n\n".join(
        f'<section data-section="{html.escape(stack[0][1].section)}" data-start-indexv="0">\n'
        + "\n\n".join(render_slide(slide, number, len(slides)) for number, slide in stack)
        + "\n</section>" for stack in stacks)
    template = string.Template((PAGE / "template.html").read_text(encoding="utf-8"))
    return template.substitute(title=html.escape(slides[0].plain_title), slides=body,
                               reveal=REVEAL.folder.name)


# -- the instructor guide: generated timetables, and an HTML copy next to the deck ---------------

def _clock(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def _lesson_rows(lessons: list[Lesson]) -> list[str]:
    rows = ["| lesson | title | words | estimate | teaching | exercises | stated |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for lesson in lessons:
        rows.append(f"| {lesson.number} | {lesson.title} | {lesson.estimate.words:,} "
                    f"| {lesson.estimate.minutes} | {lesson.teaching} | {lesson.exercises} "
                    f"| {lesson.minutes} |")
    total = sum(lesson.minutes for lesson in lessons)
    rows.append(f"| | **in all** ({total // 60} h {total % 60:02d}) | | "
                f"{sum(lesson.estimate.minutes for lesson in lessons)} | "
                f"{sum(lesson.teaching for lesson in lessons)} | "
                f"{sum(lesson.exercises for lesson in lessons)} | **{total}** |")
    return rows


def timeline_markdown(lessons: dict[str, Lesson], titles: set[str] | None) -> str:
    """The timetables; a slide a plan names must be one of ``titles`` (None: not checked)."""
    core = [lesson for lesson in lessons.values() if lesson.core]
    electives = [lesson for lesson in lessons.values() if not lesson.core]
    out = ["Each lesson's time is what its source states (`labsrc/lessons/`); the build checks "
           "that no lesson states less than the kit's estimate of its content (`estimate`, from "
           "`labsrc/lesson_time.py`: words read, code shown and run, lines to write, exercises "
           "and predictions; see [Honest times](#honest-times)). In minutes:", "",
           "**The core track**, done in full and in order:", "", *_lesson_rows(core), "",
           "**Electives**, each on its own after the core:", "", *_lesson_rows(electives)]
    for plan in timeline.PLANS:
        out += ["", f"### {plan.title}", "", plan.summary]
        done: list[str] = []
        for number in plan.before:
            if number not in lessons:
                raise BuildError(f"slides/timeline.py: {plan.title} sends students to lesson "
                                 f"{number} beforehand, which labsrc/lessons/ does not have")
            done.append(number)
        if plan.before:
            homework = [f"lesson {lessons[n].number} ({lessons[n].short_title}, "
                        f"`{lessons[n].notebook}`, {lessons[n].minutes} min)" for n in plan.before]
            out += ["", "Before the first session, at home: " + "; ".join(homework) + "."]
        in_class = 0
        for session in plan.sessions:
            out += ["", f"**{session.title}** ({session.minutes} minutes)", "",
                    "| at | min | what | notebook |", "|---|---:|---|---|"]
            at = 0
            for block in session.blocks:
                detail = ""
                for named in re.findall(r"\*([^*]+)\*", block.what) if block.lesson is None else ():
                    if titles is not None and named not in titles:
                        raise BuildError(f"slides/timeline.py: {plan.title} names the slide "
                                         f"{named!r}, which slides/deck.md does not have")
                if block.lesson is not None:
                    lesson = lessons.get(block.lesson)
                    if lesson is None:
                        raise BuildError(f"slides/timeline.py: {plan.title} plans lesson "
                                         f"{block.lesson}, which labsrc/lessons/ does not have")
                    if block.minutes != lesson.minutes:
                        raise BuildError(f"slides/timeline.py: {plan.title} gives lesson "
                                         f"{lesson.number} {block.minutes} minutes; its source "
                                         f"states {lesson.minutes}, and a lesson is done in full")
                    done.append(lesson.number)
                    in_class += lesson.minutes
                    detail = f"`{lesson.notebook}`"
                out.append(f"| {_clock(at)} | {block.minutes} | {block.what} | {detail} |")
                at += block.minutes
            out.append(f"| {_clock(at)} | | end | |")
            if at != session.minutes:
                raise BuildError(f"slides/timeline.py: {plan.title}, {session.title} adds up to "
                                 f"{at} minutes, not {session.minutes}")
        order = [lesson.number for lesson in core]
        if [n for n in done if n in order] != order:
            raise BuildError(f"slides/timeline.py: {plan.title} does not do the core track "
                             f"{', '.join(order)} in full and in this order")
        estimated = sum(lessons[n].estimate.minutes for n in done if n not in plan.before)
        out += ["", f"Notebook work in class: {in_class} minutes of lessons as stated "
                    f"({estimated} by the kit's estimate)."]
        later = [f"{lesson.number} ({lesson.short_title}, {lesson.minutes} min)"
                 for lesson in lessons.values() if lesson.number not in done]
        if later:
            out += ["", "Afterwards, as electives (homework, self-study with `solutions/`, or "
                        "another session): " + "; ".join(later) + "."]
    return "\n".join(out)


def times_markdown(lessons: dict[str, Lesson], titles: set[str] | None) -> str:
    """The model behind every estimate, with the rates ``labsrc/lesson_time.py`` uses."""
    return "\n".join([
        "| what a student meets | counted as | time |", "|---|---|---:|",
        f"| prose | words of the Markdown cells | {lesson_time.WORDS_PER_MINUTE} words a minute |",
        f"| code shown | non-blank lines of the code cells, comments included | "
        f"{lesson_time.LINES_READ_PER_MINUTE} lines a minute |",
        f"| running it | code cells | {lesson_time.MINUTES_PER_CELL_RUN:g} min each |",
        f"| code written | lines of code an answer adds (no comments, no docstrings) | "
        f"{lesson_time.MINUTES_PER_LINE_WRITTEN:g} min a line |",
        f"| each exercise | an exercise the notebook's closing summary lists (a function, a "
        f"file, a script or a widget step) | {lesson_time.MINUTES_PER_EXERCISE:g} min more |",
        f"| each prediction | a prediction the closing summary lists | "
        f"{lesson_time.MINUTES_PER_PREDICTION:g} min |"])


def lessons_markdown(lessons: dict[str, Lesson], titles: set[str] | None) -> str:
    out = []
    for lesson in lessons.values():
        out += [f"### {lesson.number} · {lesson.title}", "",
                f"{lesson.minutes} minutes ({lesson.teaching} teaching, {lesson.exercises} "
                f"exercises) · `{lesson.notebook}` · builds on: {lesson.builds_on}", "",
                "Students will:", ""]
        out += [f"- {item}" for item in lesson.objectives]
        out += ["", "Steps: " + "; ".join(f"{n}. {t}" for n, t in lesson.steps.items()) + "."]
        out.append("")
    return "\n".join(out).rstrip()


GENERATED = re.compile(
    r"(<!-- BEGIN GENERATED: ([a-z-]+) .*?-->\n)(.*?)(<!-- END GENERATED: \2 -->)", re.DOTALL)


def readme_lessons_markdown(lessons: dict[str, Lesson], titles: set[str] | None) -> str:
    """The README's list of notebooks: the core track, then the electives."""
    out = []
    for core, heading in ((True, "The core track, in order (one 3-hour session):"),
                          (False, "Electives, each on its own after the core:")):
        out += [heading, "", "| notebook | what you build and learn | time |", "|---|---|---:|"]
        out += [f"| `{lesson.stem}` | {lesson.title} | {lesson.minutes} min |"
                for lesson in lessons.values() if lesson.core == core]
        out.append("")
    return "\n".join(out).rstrip()


def refresh(text: str, makers: dict[str, Callable[..., str]], where: str,
            lessons: dict[str, Lesson], titles: set[str] | None) -> str:
    """``text`` with each of its ``GENERATED`` parts made again by its maker."""
    seen = set()

    def fill(match: re.Match) -> str:
        name = match.group(2)
        if name not in makers:
            raise BuildError(f"{where}: unknown generated part {name!r}")
        seen.add(name)
        return f"{match.group(1)}{makers[name](lessons, titles)}\n{match.group(4)}"

    refreshed = GENERATED.sub(fill, text)
    missing = set(makers) - seen
    if missing:
        raise BuildError(f"{where}: no generated part {sorted(missing)}")
    return refreshed


def refresh_guide(text: str, lessons: dict[str, Lesson], titles: set[str] | None) -> str:
    """``text`` with its ``GENERATED`` parts made again from the lessons and the plans;
    ``titles`` are the deck's slide titles, which the plans may name."""
    return refresh(text, {"timeline": timeline_markdown, "lessons": lessons_markdown,
                          "times": times_markdown}, "slides/instructor-guide.md", lessons, titles)


def refresh_readme(text: str, lessons: dict[str, Lesson]) -> str:
    return refresh(text, {"lessons": readme_lessons_markdown}, "README.md", lessons, None)


#: System fonts only, as on the slides (``slides/page/theme.css``): nothing to fetch.
SANS = ('system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", '
        '"DejaVu Sans", Verdana, sans-serif')
MONO = ('ui-monospace, "SF Mono", Menlo, Consolas, "Cascadia Mono", "DejaVu Sans Mono", '
        '"Liberation Mono", monospace')

GUIDE_STYLE = f"""
body {{ font: 17px/1.55 {SANS}; color: #141b26;
       max-width: 60rem; margin: 2rem auto; padding: 0 1.5rem; background: #fff; }}
h1, h2, h3, h4 {{ color: #082f6b; line-height: 1.25; }}
h2 {{ border-bottom: 3px solid #0b4aa2; padding-bottom: 0.2em; margin-top: 2.2em; }}
code, pre {{ font-family: {MONO}; font-size: 0.9em; }}
code {{ background: #eef1f5; padding: 0.05em 0.25em; border-radius: 3px; }}
pre {{ background: #f3f5f8; border: 1px solid #c9d2de; padding: 0.8em 1em; overflow-x: auto; }}
pre code {{ background: none; padding: 0; }}
table {{ border-collapse: collapse; margin: 0.8em 0; }}
th, td {{ border-bottom: 1px solid #c9d2de; padding: 0.35em 0.7em; text-align: left;
         vertical-align: top; }}
th {{ background: #dbe8fb; }}
a {{ color: #0b4aa2; }}
.back {{ font-size: 0.9em; }}
"""


def render_guide(text: str) -> str:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.anchors import anchors_plugin
    # Headings get GitHub's ids, so that the guide's links to its own sections work here too.
    renderer = MarkdownIt("commonmark", {"html": True}).enable("table").use(
        anchors_plugin, min_level=2, max_level=4)
    body = renderer.render(re.sub(r"<!-- (BEGIN|END) GENERATED.*?-->\n?", "", text))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>Instructor guide</title>\n<link rel=\"icon\" href=\"data:,\">\n"
            f"<style>{GUIDE_STYLE}</style>\n</head>\n<body>\n"
            "<nav class=\"back\" aria-label=\"Next to this guide\"><a href=\"index.html\">← the "
            "slides</a> · <a href=\"cheatsheet.html\">the cheat sheet</a></nav>\n"
            f"<main>\n{body}</main>\n</body>\n</html>\n")


# -- the cheat sheet: one printed page of the lecture's API and the kit's commands ----------------

CHEATSHEET_STYLE = f"""
@page {{ size: A4; margin: 7mm 8mm; }}
html {{ background: #e9edf2; }}
body {{ font: 7.7pt/1.24 {SANS}; color: #141b26; margin: 0; }}
main {{ box-sizing: border-box; width: 210mm; margin: 1rem auto; padding: 7mm 8mm;
        background: #fff; }}
@media print {{ html {{ background: #fff; }} main {{ width: auto; margin: 0; padding: 0; }} }}
header {{ display: flex; align-items: baseline; justify-content: space-between; gap: 1em;
          border-bottom: 2.5pt solid #0b4aa2; margin-bottom: 1.6mm; }}
h1 {{ font-size: 14pt; margin: 0 0 1mm 0; color: #082f6b; }}
header p {{ margin: 0; color: #4a5565; }}
.row {{ display: grid; grid-template-columns: 55fr 45fr; gap: 0 5mm; }}
.row:has(> .column:only-child) {{ grid-template-columns: 1fr; }}
.column {{ min-width: 0; }}
section {{ margin: 0 0 1.5mm 0; }}
h2 {{ font-size: 8.8pt; margin: 0 0 0.4mm 0; color: #082f6b; border-bottom: 0.8pt solid #c9d2de; }}
p {{ margin: 0.5mm 0; }}
code, pre {{ font-family: {MONO}; }}
:not(pre) > code {{ font-size: 0.95em; background: #eef1f5; padding: 0 0.2em; border-radius: 2px;
                    color: #6a1230; }}
.code-source {{ font-family: {MONO}; font-size: 6.4pt; color: #4a5565; margin: 0.3mm 0 0 0; }}
pre.code {{ margin: 0.3mm 0 0.8mm 0; padding: 0.8mm 1.4mm; font-size: 6.8pt; line-height: 1.2;
            background: #f3f5f8; border-left: 2pt solid #0b4aa2; white-space: pre;
            overflow: hidden; }}
table {{ border-collapse: collapse; width: 100%; margin: 0.3mm 0 0.8mm 0; }}
th, td {{ text-align: left; vertical-align: top; padding: 0.2mm 1.2mm;
          border-bottom: 0.5pt solid #c9d2de; }}
thead th, tbody th {{ background: #dbe8fb; color: #082f6b; }}
table.commands td:first-child {{ width: 1%; white-space: nowrap; }}
"""


def render_blocks(lines: list[tuple[int, str]], ctx: Context, where: str) -> str:
    """Markdown, with a directive (``@name args``) on a line of its own: the deck's directives."""
    parts: list[str] = []
    markdown: list[str] = []
    for number, line in lines:
        if line.startswith("@"):
            if "".join(markdown).strip():
                parts.append(md("\n".join(markdown)))
            markdown.clear()
            name, *args = shlex.split(line[1:])
            if name not in DIRECTIVES:
                raise BuildError(f"{where}:{number}: unknown directive @{name}")
            try:
                parts.append(DIRECTIVES[name](args, ctx))
            except BuildError as exc:
                raise BuildError(f"{where}:{number}: {exc}") from None
        else:
            markdown.append(line)
    if "".join(markdown).strip():
        parts.append(md("\n".join(markdown)))
    return "\n".join(parts)


def render_cheatsheet(text: str, ctx: Context) -> str:
    """The cheat sheet (``slides/cheatsheet.md``): ``# Title`` (and a line about it), then boxes,
    each a ``## Heading`` followed by Markdown and directives, laid out on one A4 page in rows
    (a line ``===`` ends a row) of one or more columns (a line ``|||`` ends a column)."""
    where = "slides/cheatsheet.md"
    text = re.sub(r"\A\s*<!--.*?-->", lambda comment: "\n" * comment.group(0).count("\n"), text,
                  flags=re.DOTALL)
    title, intro = "", []
    rows: list[list[list[tuple[str, list[tuple[int, str]]]]]] = [[[]]]   # rows, columns, boxes
    for number, line in enumerate(text.splitlines(), 1):
        column = rows[-1][-1]
        if line.startswith("# "):
            title = line[2:].strip()
        elif line.startswith("## "):
            column.append((line[3:].strip(), []))
        elif line.strip() in ("|||", "==="):
            if not column:
                raise BuildError(f"{where}:{number}: '{line.strip()}' ends an empty column")
            if line.strip() == "|||":
                rows[-1].append([])
            else:
                rows.append([[]])
        else:
            (column[-1][1] if column else intro).append((number, line))
    if not title or not rows[-1][-1]:
        raise BuildError(f"{where}: expected '# Title', then boxes, each starting '## Heading'")
    body = "\n".join(
        '<div class="row">\n' + "\n".join(
            '<div class="column">\n' + "\n".join(
                f"<section>\n<h2>{md_inline(heading)}</h2>\n"
                f"{render_blocks(lines, ctx, where)}\n</section>" for heading, lines in column)
            + "\n</div>" for column in row) + "\n</div>" for row in rows)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(plain(title))}</title>\n<link rel=\"icon\" href=\"data:,\">\n"
            "<link rel=\"stylesheet\" href=\"code.css\">\n"
            f"<style>{CHEATSHEET_STYLE}</style>\n</head>\n<body>\n<main>\n"
            f"<header><h1>{md_inline(title)}</h1>{render_blocks(intro, ctx, where)}</header>\n"
            f"{body}\n</main>\n</body>\n</html>\n")


# -- putting it together ---------------------------------------------------------------------------

@dataclasses.dataclass
class Result:
    slides: list[Slide]
    skipped: list[str]
    figures: list[str]      # their files: "figures/sequence.svg"
    out: Path


def build(out: Path = DEFAULT_OUT, *, deck_text: str | None = None,
          guide_text: str | None = None) -> Result:
    """Write the deck, the HTML guide and the cheat sheet into ``out``; returns what was
    built."""
    lessons = read_lessons()
    ctx = Context(lessons, out)
    out.mkdir(parents=True, exist_ok=True)
    for old in (out / "figures").glob("*.svg"):
        old.unlink()
    slides, skipped = parse_deck(deck_text if deck_text is not None
                                 else DECK.read_text(encoding="utf-8"), ctx)
    (out / "index.html").write_text(render_deck(slides), encoding="utf-8")
    for name in REVEAL.all_files:
        target = out / REVEAL.folder.name / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REVEAL.folder / name, target)
    for name in PAGE_FILES:
        shutil.copyfile(PAGE / name, out / name)
    (out / "code.css").write_text(code_css(), encoding="utf-8")
    # A deck given as text (a test's) is not the one the plans name: their slides go unchecked.
    guide = refresh_guide(guide_text if guide_text is not None
                          else GUIDE.read_text(encoding="utf-8"), lessons,
                          {slide.plain_title for slide in slides} if deck_text is None else None)
    (out / "guide.html").write_text(render_guide(guide), encoding="utf-8")
    (out / "cheatsheet.html").write_text(
        render_cheatsheet(CHEATSHEET.read_text(encoding="utf-8"), Context(lessons, None)),
        encoding="utf-8")
    figures = sorted(file for files in ctx.drawn.values() for file in files)
    manifest = {"slides": [{"title": s.plain_title, "classes": s.classes,
                            "has_notes": bool(s.notes.strip())} for s in slides],
                "figures": figures, "skipped": skipped}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return Result(slides, skipped, figures, out)


def stale_documents() -> dict[Path, str]:
    """The guide and the README, where their generated parts differ from the lessons and plans
    now: each with its fresh text."""
    lessons = read_lessons()
    slides, _ = parse_deck(DECK.read_text(encoding="utf-8"), Context(lessons, None))
    fresh = {GUIDE: refresh_guide(GUIDE.read_text(encoding="utf-8"), lessons,
                                  {slide.plain_title for slide in slides}),
             README: refresh_readme(README.read_text(encoding="utf-8"), lessons)}
    return {path: text for path, text in fresh.items()
            if text != path.read_text(encoding="utf-8")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="where to write the deck (default: slides/build)")
    parser.add_argument("--check", action="store_true",
                        help="only check that the guide's and the README's generated parts are current")
    args = parser.parse_args(argv)
    try:
        stale = stale_documents()
        if args.check:
            for path in stale:
                print(f"{path.relative_to(ROOT)} is out of date with labsrc/lessons/ or "
                      "slides/timeline.py: run `make slides` and commit it.", file=sys.stderr)
            if stale:
                return 1
            print("slides/instructor-guide.md and README.md are up to date.")
            return 0
        for path, fresh in stale.items():
            path.write_text(fresh, encoding="utf-8")
            print(f"updated {path.relative_to(ROOT)} (its generated parts)")
        result = build(args.out.resolve())
    except BuildError as exc:
        print(f"slides: {exc}", file=sys.stderr)
        return 1
    for line in result.skipped:
        print(f"skipped {line}")
    where = result.out
    try:
        where = where.relative_to(Path.cwd())
    except ValueError:
        pass
    print(f"built {len(result.slides)} slides and {len(result.figures)} diagram files: open "
          f"{where / 'index.html'} (S: speaker view, O: overview, ?: keys); the guide is "
          f"{where / 'guide.html'}, the cheat sheet {where / 'cheatsheet.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
