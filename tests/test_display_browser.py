"""``wslab.display`` in headless Chromium: the frames as a notebook shows them, and the lecture's
page with a student's chat line in it.

The frames' markup comes from a template in ``static/``: here a real browser lays it out (two
chat pages side by side, each connected to a real server; a sandboxed document; the caption
with its note and link), and a chat line holding ``</script>`` leaves the lecture's page whole.
Screenshots land in ``test-artifacts/display/``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from browser import ARTIFACTS, require_browser

require_browser()  # skips this module without Chromium or Playwright (fails instead when CI is set)

from fastapi.responses import HTMLResponse  # noqa: E402
from playwright.sync_api import expect  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from browser import page_url  # noqa: E402
from wslab.display import (PageFrame, chat_frame, html_frame, lecture_page,  # noqa: E402
                           side_by_side)

pytestmark = pytest.mark.browser

expect.set_options(timeout=10_000)


def screenshot(page: Any, name: str) -> None:
    path = ARTIFACTS / "display" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


def test_the_frames_lay_out_as_a_notebook_shows_them(start_chat, new_page):
    server = start_chat()
    row = side_by_side(chat_frame(server, name="alice", proxy=False, height=300),
                       chat_frame(server, name="bob", proxy=False, height=300))
    document = html_frame('<p id="example" style="color: rgb(0, 128, 0)">an example</p>',
                          height=80)
    warned = PageFrame(f"{server.url}/chat?name=carol", height=120, title="warned",
                       note="a <b>note</b>", hint="Open it & see:")
    page = new_page()
    page.set_content("<body style='font-family: sans-serif'>" + row.data
                     + document._repr_html_() + warned._repr_html_() + "</body>")

    frames = page.locator("iframe")
    expect(frames).to_have_count(4)
    alice, bob = (frames.nth(0).bounding_box(), frames.nth(1).bounding_box())
    assert alice["y"] == bob["y"] and alice["x"] + alice["width"] < bob["x"]  # one row
    assert alice["height"] == bob["height"] == 300
    for index in (0, 1):
        expect(page.frame_locator("iframe").nth(index).locator("#connectionStatus")
               ).to_have_text("Connected")
    expect(page.frame_locator("iframe").nth(2).locator("#example")).to_have_text("an example")

    caption = page.locator("div:has(> span)").last
    note = caption.locator("span")
    expect(note).to_have_text("a <b>note</b>")  # text, not markup
    assert note.evaluate("e => getComputedStyle(e).color") == "rgb(162, 21, 21)"
    link = caption.locator("a")
    expect(link).to_have_text(f"{server.url}/chat?name=carol")
    expect(link).to_have_attribute("target", "_blank")
    expect(caption).to_contain_text("Open it & see: http")
    expect(page.locator("a")).to_have_count(3)  # a link under each page's frame, none for HTML
    screenshot(page, "frames")


def test_a_chat_line_that_writes_script_end_keeps_the_lecture_page_whole(start_chat, new_page):
    server = start_chat()
    chat_line = ("messageDiv.className = 'message other';\n"
                 "messageDiv.textContent = data.client_id + ': ' + data.message + ' </script>';")

    @server.app.get("/lecture", response_class=HTMLResponse)
    async def lecture() -> str:
        return lecture_page(chat_line)

    page = new_page(page_url(server.url, "/lecture", name="ada"))  # a script error fails here
    expect(page.locator("#connectionStatus")).to_have_text("Connected")
    with connect(f"{server.ws_url}/ws/grace", open_timeout=5) as grace:
        grace.send(json.dumps({"message": "<i>hello</i>"}))
        expect(page.locator("#messages .message.other").last).to_have_text(
            "grace: <i>hello</i> </script>")
    expect(page.locator("#messages i")).to_have_count(0)
    screenshot(page, "lecture-page-with-a-chat-line")
