"""Cross-site WebSocket hijacking, shown in a real headless Chromium (elective E6, section 6).

The claim: a server that knows its users by a cookie and does not check ``Origin`` gives a
logged-in user's data to any page of the same site that the user opens in the same browser,
because the browser adds the cookie to that page's WebSocket handshake by itself. Refusing a foreign ``Origin`` before
``accept()`` stops it (HTTP 403; the page's socket fails), and the server's own page still works.

Two servers on 127.0.0.1, on two ports: the "notes" server, and a "hostile" page. A cookie is
scoped to a host, not a port, and a *site* is the scheme plus the registrable domain (for an IP
address, the address itself), so the two are the SAME site but DIFFERENT origins (an origin
includes the port). The notes server's cookie is ``SameSite=Lax`` (Starlette's default for
``set_cookie``, and Chromium's own default for a cookie that names no SameSite). SameSite, Lax
and even Strict, holds a cookie back only from requests that come from another *site*, so
Chromium sends it with the hostile page's handshake. That is the classroom case exactly: two
services on one machine (or on one university domain), where SameSite protects nothing and only
the Origin check does.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, NamedTuple
from urllib.parse import urlsplit

import pytest

from browser import require_browser

require_browser()  # skips this module without Chromium or Playwright (fails instead when CI is set)

from fastapi import FastAPI, WebSocket  # noqa: E402
from fastapi.responses import HTMLResponse  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

from browser import DESKTOP  # noqa: E402
from wslab.access import origin_allowed  # noqa: E402
from wslab.runner import BackgroundServer  # noqa: E402

pytestmark = pytest.mark.browser

expect.set_options(timeout=5000)

NOTES = "exam answers: 42, 7, B"
SameSite = Literal["lax", "strict"] | None


def reader_page(title: str, socket_url_js: str) -> str:
    """A page whose script opens a WebSocket to ``socket_url_js`` and shows what it reads.

    ``#read`` gets every message, ``#status`` how the socket ended (with the close code the page
    saw), and the body's ``data-error`` is set when the socket reported an error.
    """
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font: 18px sans-serif; margin: 2em; }} pre {{ background: #eee; padding: 1em; }}
</style></head>
<body><h1>{title}</h1>
<p>This page: <code id="origin"></code></p>
<p>Its socket: <code id="url"></code></p>
<p>Status: <span id="status">connecting</span></p>
<p>Read from the socket:</p><pre id="read"></pre>
<script>
const url = {socket_url_js};
document.getElementById("origin").textContent = location.origin;
document.getElementById("url").textContent = url;
const status = document.getElementById("status");
const read = document.getElementById("read");
const ws = new WebSocket(url);
ws.onopen = () => {{ status.textContent = "open"; }};
ws.onmessage = (event) => {{ read.textContent += event.data + "\\n"; }};
ws.onerror = () => {{ document.body.dataset.error = "true"; }};
ws.onclose = (event) => {{
  status.textContent = read.textContent
    ? `closed with code ${{event.code}} after reading`
    : `closed with code ${{event.code}} before reading anything`;
}};
</script></body></html>"""


def notes_app(*, check_origin: bool, samesite: SameSite = "lax") -> FastAPI:
    """The notes server: GET /login sets Ada's cookie, GET / is its own page, WS /notes.

    ``samesite`` is the cookie's SameSite attribute (None: the cookie names none).

    Every handshake is recorded in ``app.state.handshakes``: its Origin, whose cookie it
    carried (None for none), and whether it was admitted.
    """
    app = FastAPI()
    sessions: dict[str, str] = {}
    app.state.handshakes = []

    @app.get("/login")
    async def login() -> HTMLResponse:
        cookie = secrets.token_urlsafe(16)
        sessions[cookie] = "ada"
        response = HTMLResponse("<p>Logged in as ada.</p>")
        # HttpOnly: no script can read it. samesite="lax" is Starlette's default.
        response.set_cookie("session", cookie, httponly=True, samesite=samesite)
        return response

    @app.get("/")
    async def own_page() -> HTMLResponse:
        return HTMLResponse(reader_page("Ada's notes", '"ws://" + location.host + "/notes"'))

    @app.websocket("/notes")
    async def notes(websocket: WebSocket) -> None:
        user = sessions.get(websocket.cookies.get("session", ""))
        origin = websocket.headers.get("origin")
        admitted = user is not None and (
            not check_origin or origin_allowed(origin, websocket.headers.get("host")))
        app.state.handshakes.append({"origin": origin, "user": user, "admitted": admitted})
        if not admitted:
            await websocket.close(code=1008)  # before accept(): uvicorn answers HTTP 403
            return
        await websocket.accept()
        await websocket.send_text(json.dumps({"user": user, "notes": NOTES}))
        await websocket.close()

    return app


def hostile_app(socket_url: str) -> FastAPI:
    """Another origin's page, whose script opens a WebSocket to ``socket_url``."""
    app = FastAPI()

    @app.get("/")
    async def page() -> HTMLResponse:
        return HTMLResponse(reader_page("another port (another origin)", json.dumps(socket_url)))

    return app


class Servers(NamedTuple):
    notes: BackgroundServer
    hostile: BackgroundServer
    handshakes: list[dict[str, Any]]


@pytest.fixture
def start_servers() -> Iterator[Callable[..., Servers]]:
    """``start_servers(check_origin=..., samesite="lax")``: the notes server and the hostile
    page, both stopped after the test."""
    running: list[BackgroundServer] = []

    def start(*, check_origin: bool, samesite: SameSite = "lax") -> Servers:
        app = notes_app(check_origin=check_origin, samesite=samesite)
        notes = BackgroundServer(app, name="cswsh-notes")
        running.append(notes.start())
        hostile = BackgroundServer(hostile_app(f"{notes.ws_url}/notes"), name="cswsh-hostile")
        running.append(hostile.start())
        return Servers(notes, hostile, app.state.handshakes)

    try:
        yield start
    finally:
        for server in running:
            server.stop()


@pytest.fixture
def ada(browser: Any) -> Iterator[Any]:  # noqa: F811
    """Ada's browser: one context (one cookie jar) whose tabs are all hers.

    An uncaught JavaScript error on any of its pages fails the test.
    """
    context = browser.new_context(viewport=DESKTOP)
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    try:
        yield context
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def log_in(ada: Any, notes: BackgroundServer, same_site: str = "Lax") -> None:
    """Ada logs in to ``notes``; her browser then holds an HttpOnly cookie with ``same_site``."""
    page = ada.new_page()
    page.goto(f"{notes.url}/login")
    expect(page.locator("body")).to_have_text("Logged in as ada.")
    cookie, = (c for c in ada.cookies() if c["name"] == "session")
    assert cookie["httpOnly"] and cookie["sameSite"] == same_site, cookie


# A cookie that names no SameSite is Lax in Chromium. Even Strict is sent here: the hostile page
# is on the same site, and SameSite only ever looks at the site.
@pytest.mark.parametrize("samesite, chromium_says", [
    ("lax", "Lax"), (None, "Lax"), ("strict", "Strict")])
def test_without_an_origin_check_any_page_reads_the_logged_in_users_notes(
        start_servers, ada, tmp_path: Path, samesite, chromium_says):
    servers = start_servers(check_origin=False, samesite=samesite)
    log_in(ada, servers.notes, chromium_says)

    evil = ada.new_page()  # another tab, in the same browser
    evil.goto(f"{servers.hostile.url}/")
    expect(evil.locator("#read")).to_contain_text(NOTES)
    assert json.loads(evil.locator("#read").inner_text()) == {"user": "ada", "notes": NOTES}
    expect(evil.locator("#status")).to_have_text("closed with code 1000 after reading")
    evil.screenshot(path=str(tmp_path / "hostile-page-reads-the-notes.png"))

    # The browser sent the hostile page's origin, and Ada's cookie with it; the page itself
    # cannot read that cookie (HttpOnly), and needs not.
    assert servers.handshakes == [
        {"origin": servers.hostile.url, "user": "ada", "admitted": True}]
    assert evil.evaluate("document.cookie") == ""
    hostile, notes = urlsplit(servers.hostile.url), urlsplit(servers.notes.url)
    assert hostile.hostname == notes.hostname and hostile.port != notes.port


def test_the_origin_check_refuses_the_hostile_page_and_keeps_the_own_page(start_servers, ada):
    servers = start_servers(check_origin=True)
    log_in(ada, servers.notes)

    evil = ada.new_page()
    failures: list[str] = []
    evil.on("websocket", lambda ws: ws.on("socketerror", lambda error: failures.append(error)))
    evil.goto(f"{servers.hostile.url}/")
    # 1006: closed abnormally, without a closing handshake (the page never learns of the 403)
    expect(evil.locator("#status")).to_have_text("closed with code 1006 before reading anything")
    expect(evil.locator("body")).to_have_attribute("data-error", "true")
    expect(evil.locator("#read")).to_have_text("")
    assert len(failures) == 1 and "Unexpected response code: 403" in failures[0], failures

    # The browser still sent Ada's cookie: SameSite=Lax did not stop it; the Origin check did.
    assert servers.handshakes == [
        {"origin": servers.hostile.url, "user": "ada", "admitted": False}]
    refusals = [line for line in servers.notes.logs() if '"WebSocket /notes" 403' in line]
    assert len(refusals) == 1, servers.notes.logs()

    own = ada.new_page()  # the notes server's own page: the same origin as its socket
    own.goto(f"{servers.notes.url}/")
    expect(own.locator("#read")).to_contain_text(NOTES)
    expect(own.locator("#status")).to_have_text("closed with code 1000 after reading")
    assert servers.handshakes[1:] == [
        {"origin": servers.notes.url, "user": "ada", "admitted": True}]


# -- the kit's chat server on loopback ----------------------------------------------------------


def test_on_loopback_the_chat_server_refuses_a_foreign_page_and_lets_a_file_page_in(
        browser: Any, tmp_path: Path):
    """The student's own server on 127.0.0.1, as a notebook starts it (``create_app()``): a page
    of a web site the student visits (here ``https://evil.example``, answered by the browser
    itself) is refused with 403; a page opened from a file, as the lecture opens its page
    (``Origin: null``), chats.

    Recent Chromium asks the user before a web site may reach this machine (Local Network
    Access); Firefox and Safari do not ask, and a student may click "Allow". The context here
    has that permission, so that what refuses the page is the server's check, not the prompt.
    """
    from wslab.chat import create_app

    server = BackgroundServer(create_app(), name="cswsh-loopback").start()
    context = browser.new_context(viewport=DESKTOP, permissions=["local-network-access"])
    try:
        evil = context.new_page()
        page = reader_page("a web site", json.dumps(f"{server.ws_url}/ws/mallory"))
        evil.route("https://evil.example/**",
                   lambda route: route.fulfill(body=page, content_type="text/html"))
        failures: list[str] = []
        evil.on("websocket",
                lambda ws: ws.on("socketerror", lambda error: failures.append(error)))
        evil.goto("https://evil.example/")
        expect(evil.locator("#status")).to_have_text(
            "closed with code 1006 before reading anything")
        expect(evil.locator("#read")).to_have_text("")
        assert len(failures) == 1 and "Unexpected response code: 403" in failures[0], failures
        assert server.app.state.room.refused_handshakes == {"foreign_origin": 1}
        assert server.app.state.room.online == []

        lecture = tmp_path / "lecture.html"
        lecture.write_text(reader_page("the lecture's page, from a file",
                                       json.dumps(f"{server.ws_url}/ws/student")),
                           encoding="utf-8")
        own = context.new_page()
        own.goto(lecture.as_uri())
        expect(own.locator("#status")).to_have_text("open")
        expect(own.locator("#read")).to_contain_text('"type": "welcome"')
        assert server.app.state.room.online == ["student"]
        student, = server.app.state.room.manager.active_connections
        assert student.headers["origin"] == "null"
    finally:
        context.close()
        server.stop()
