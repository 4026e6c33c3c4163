"""The one-page cheat sheet (``slides/cheatsheet.md``, built into ``cheatsheet.html``): what it
lists is what the kit has (the Makefile's targets, the options of ``python -m wslab serve``, the
WebSocket calls, the code: see ``test_slides.py`` for the code), and Chromium prints it on one A4
page with no line of code cut off. Screenshots go to ``test-artifacts/slides/``.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from typing import Any, Callable

import pytest

from browser import Watched
from test_slides import ROOT, SHOTS, built_deck, screenshot


@pytest.fixture(scope="module")
def deck(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return built_deck(tmp_path_factory)


@pytest.fixture(scope="module")
def sheet(deck: dict[str, Any]) -> str:
    """The cheat sheet's text: its body, tags left out (so code coloured token by token reads
    as it is written)."""
    page = (deck["out"] / "cheatsheet.html").read_text(encoding="utf-8")
    body = page[page.index("<body>"):]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", body)).split())


@pytest.mark.slow
def test_it_lists_the_makefiles_targets(sheet: str) -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    listed = re.findall(r'^\t@echo "make (\S+)', makefile, re.MULTILINE)
    assert {"lab", "test", "serve", "classroom", "slides"} <= set(listed)
    for target in listed:
        assert f"make {target}" in sheet, target


@pytest.mark.slow
def test_it_lists_every_option_of_serve(sheet: str) -> None:
    """The options as the kit's own command line prints them, not as the build reads them."""
    shown = subprocess.run([sys.executable, "-m", "wslab", "serve", "--help"], check=True,
                           capture_output=True, text=True, cwd=ROOT).stdout
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", shown)) - {"--help"}
    assert {"--host", "--port", "--classroom", "--broker", "--token"} <= options
    assert sorted(option for option in options if option not in sheet) == []


@pytest.mark.slow
def test_it_has_the_lectures_calls(sheet: str) -> None:
    for call in ("accept(", "receive_text(", "send_text(", "send_json(", "close(",
                 "WebSocketDisconnect", "websockets.connect(", ".send(", ".recv()",
                 "async def connect", "def disconnect", "async def broadcast",
                 "ws.onopen", "ws.onmessage", "ws.onerror", "ws.onclose", "ws.send("):
        assert call in sheet, call


@pytest.mark.browser
def test_it_prints_on_one_a4_page(deck: dict[str, Any],
                                  watched: Callable[..., Watched]) -> None:
    view = watched({"width": 1000, "height": 1400})
    page = view.page
    page.goto((deck["out"] / "cheatsheet.html").as_uri())
    screenshot(page, "cheatsheet")
    pdf = page.pdf(format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages == 1, f"the cheat sheet prints on {pages} A4 pages"
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "cheatsheet.pdf").write_bytes(pdf)
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile",
                        str(SHOTS / "cheatsheet.pdf"), str(SHOTS / "cheatsheet-pdf")], check=True)
    # As printed (an A4 page's width between the margins): no line of code is cut off.
    page.emulate_media(media="print")
    page.set_viewport_size({"width": 733, "height": 1100})
    cut = page.evaluate("Array.from(document.querySelectorAll('pre.code'))"
                        ".filter(pre => pre.scrollWidth > pre.clientWidth + 1)"
                        ".map(pre => pre.previousElementSibling.textContent)")
    assert cut == [], f"code wider than its column on paper: {cut}"
    view.assert_clean()
