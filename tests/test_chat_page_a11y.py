"""The chat page (``/chat``) for people who do not use it with eyes and a mouse.

axe-core finds what a machine can find (contrast, names, landmarks) in every state the page has:
just connected, full of lines, disconnected, refused, at phone width. The rest is checked as a
person would meet it: only the keyboard, in the order the eye reads; a visible focus ring; a
screen reader hearing each new chat line once, and each change of connection state once.

Screenshots land in ``test-artifacts/a11y/``.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

import pytest

from browser import require_browser

require_browser()  # skips this module without Chromium or Playwright (fails instead when CI is set)

from playwright.sync_api import WebSocketRoute, expect  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from axe import BLOCKING, describe, violations  # noqa: E402
from browser import (ARTIFACTS, DESKTOP, PHONE, kit_page_html, page_url,  # noqa: E402
                     serve_kit_page)
from wslab import envelope  # noqa: E402
from wslab.chat import create_app  # noqa: E402
from wslab.runner import BackgroundServer  # noqa: E402

pytestmark = pytest.mark.browser

expect.set_options(timeout=10_000)

#: axe's landmark rules are only "moderate", but a page without a <main> and with content
#: outside every landmark is hard to move around with a screen reader: they fail here too.
LANDMARK_RULES = ("landmark-one-main", "region")
#: WCAG 2 AA for normal text, used for every text on the page (large text would need only 3:1).
MINIMUM_CONTRAST = 4.5
#: A retry delay long enough that the page stays "reconnecting in ..." while a test looks.
SLOW_RETRY = {"retry": "30"}
FAST_RETRY = {"retry": "0.1"}
RETRYING = "Disconnected, reconnecting"

#: Viewport and prefers-color-scheme. The page has no dark theme: asked for one, it must stay
#: the readable light page.
LOOKS = {
    "desktop": (DESKTOP, "light"),
    "phone": (PHONE, "light"),
    "desktop-dark": (DESKTOP, "dark"),
}


# -- helpers ---------------------------------------------------------------------------------

def snapshot(page: Any, name: str) -> None:
    path = ARTIFACTS / "a11y" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))


def open_page(new_page: Callable[..., Any], url: str, look: str) -> Any:
    viewport, scheme = LOOKS[look]
    page = new_page(viewport=viewport)
    page.emulate_media(color_scheme=scheme)
    page.goto(url)
    return page


def assert_accessible(page: Any, name: str) -> None:
    """axe finds nothing serious or critical, and no landmark problem; a screenshot either way."""
    snapshot(page, name)
    found = [v for v in violations(page) if v["impact"] in BLOCKING or v["id"] in LANDMARK_RULES]
    assert not found, describe(found)


def connected(page: Any) -> None:
    expect(page.get_by_role("status")).to_have_text("Connected")


def log(page: Any) -> Any:
    return page.get_by_role("log", name="Chat messages")


def focused(page: Any) -> str:
    """The id of the element with the keyboard focus; "" while it is outside the page."""
    return page.evaluate("document.hasFocus() ? document.activeElement.id : ''")


def tab_to(page: Any, element_id: str) -> None:
    """Press Tab until ``element_id`` has the focus (a full round is only a few presses)."""
    for _ in range(10):
        page.keyboard.press("Tab")
        if focused(page) == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


# -- contrast, the WCAG 2 way ----------------------------------------------------------------

RGB = re.compile(r"rgba?\(([\d.]+), ([\d.]+), ([\d.]+)(?:, ([\d.]+))?\)")
Color = tuple[float, float, float]


def parse_color(css: str) -> tuple[Color, float]:
    """``rgb(r, g, b)`` or ``rgba(r, g, b, a)``, as Chromium reports a computed colour."""
    match = RGB.fullmatch(css)
    assert match, f"not an sRGB colour: {css}"
    red, green, blue, alpha = match.groups()
    return (float(red), float(green), float(blue)), float(alpha or 1)


def over(top: Color, alpha: float, below: Color) -> Color:
    """``top``, with opacity ``alpha``, painted over ``below``."""
    red, green, blue = (alpha * t + (1 - alpha) * b for t, b in zip(top, below))
    return red, green, blue


def luminance(color: Color) -> float:
    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    red, green, blue = (linear(channel) for channel in color)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(one: Color, other: Color) -> float:
    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


#: The computed colours that decide what a text looks like: its own colour (or a pseudo
#: element's, such as ::placeholder), and for it and every ancestor the background and opacity.
COLOURS_SCRIPT = """([selector, pseudo]) => {
    const element = document.querySelector(selector);
    if (!element) return null;
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
        const style = getComputedStyle(e);
        layers.unshift({background: style.backgroundColor, image: style.backgroundImage,
                        opacity: Number(style.opacity)});
    }
    return {color: getComputedStyle(element, pseudo).color, layers};
}"""


def text_contrast(page: Any, selector: str, pseudo: str | None = None) -> float:
    """The contrast of ``selector``'s text against what is painted behind it, as the eye sees it.

    Paints from the root down on a white canvas: each ancestor's background, then the text, and
    each element's opacity blends its whole subtree with what lay behind it (CSS group opacity).
    """
    found = page.evaluate(COLOURS_SCRIPT, [selector, pseudo])
    assert found is not None, f"nothing on the page matches {selector}"
    assert all(layer["image"] == "none" for layer in found["layers"]), \
        f"{selector}: a background image; the contrast cannot be computed from colours"
    text, text_alpha = parse_color(found["color"])

    def paint(layers: list[dict[str, Any]], behind: Color, with_text: bool) -> Color:
        layer, rest = layers[0], layers[1:]
        colour, alpha = parse_color(layer["background"])
        inside = over(colour, alpha, behind)
        if rest:
            inside = paint(rest, inside, with_text)
        elif with_text:
            inside = over(text, text_alpha, inside)
        return over(inside, layer["opacity"], behind)

    white = (255.0, 255.0, 255.0)
    return contrast(paint(found["layers"], white, True), paint(found["layers"], white, False))


def low_contrast(page: Any, texts: dict[str, tuple[str, str | None]]) -> list[str]:
    """The texts (name: (selector, pseudo element)) below the minimum, with their ratios."""
    ratios = {name: text_contrast(page, *where) for name, where in texts.items()}
    return [f"{name}: {ratio:.2f}:1" for name, ratio in ratios.items() if ratio < MINIMUM_CONTRAST]


# -- servers ---------------------------------------------------------------------------------

@pytest.fixture
def silent_origin() -> Iterator[str]:
    """A server that sends the page, then never answers its socket's handshake: the page stays
    "Connecting…" for as long as a test looks at it."""
    html = kit_page_html().encode()
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not self.path.startswith("/chat"):
                release.wait()  # the socket's handshake: no answer until the test is over
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="silent-origin", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def fill_the_chat(server: BackgroundServer, page: Any) -> None:
    """Chat lines from two people (one a Python client), join and leave lines, a long line, a
    line of markup, an error line, and enough of them that the list scrolls."""
    with connect(f"{server.ws_url}/ws/bob", open_timeout=5) as bob:
        expect(log(page)).to_contain_text("Client #bob joined the chat")
        with connect(f"{server.ws_url}/ws/carol", open_timeout=5):
            expect(log(page)).to_contain_text("Client #carol joined the chat")
        expect(log(page)).to_contain_text("Client #carol left the chat")
        bob.send(json.dumps({"message": "Here is a long one: " + "words and more words " * 40}))
        bob.send(json.dumps({"message": '<b>not bold</b> <img src=x alt="not an image">'}))
        for number in range(8):
            bob.send(json.dumps({"message": f"line {number} from bob"}))
        page.keyboard.type("Hello bob, from the keyboard")
        page.keyboard.press("Enter")
        page.locator("#messageText").fill("x" * 5000)  # over the server's limit: an error line
        page.keyboard.press("Enter")
        expect(log(page).locator(".message.error")).to_have_count(1)
        expect(log(page)).to_contain_text("line 7 from bob")
        expect(log(page).locator(".message.user")).to_have_count(1)
        assert page.evaluate("(m => m.scrollHeight > m.clientHeight)"
                             "(document.getElementById('messages'))"), "the list should scroll"


# -- axe -------------------------------------------------------------------------------------

@pytest.mark.parametrize("look", LOOKS)
def test_axe_just_connected(start_chat, new_page, look):
    server = start_chat()
    page = open_page(new_page, page_url(server.url, name="alice"), look)
    connected(page)
    expect(log(page)).to_contain_text("Welcome, alice!")
    assert_accessible(page, f"connected-{look}")


@pytest.mark.parametrize("look", LOOKS)
def test_axe_with_a_full_chat(start_chat, new_page, look):
    server = start_chat()
    page = open_page(new_page, page_url(server.url, name="alice"), look)
    connected(page)
    fill_the_chat(server, page)
    assert_accessible(page, f"full-chat-{look}")


@pytest.mark.parametrize("look", ["desktop", "phone"])
def test_axe_while_the_server_is_down(start_chat, new_page, look):
    server = start_chat()
    page = open_page(new_page, page_url(server.url, name="alice", **SLOW_RETRY), look)
    connected(page)
    fill_the_chat(server, page)
    server.stop()
    expect(page.get_by_role("status")).to_contain_text(RETRYING)
    expect(page.get_by_role("button", name="Retry now")).to_be_visible()
    expect(page.locator("#sendButton")).to_be_disabled()
    # The header may have grown a row, and the list shrunk: its newest line is still in view.
    page.wait_for_function("""() => {
        const list = document.getElementById('messages').getBoundingClientRect();
        const line = document.querySelector('#messages .message:last-child').getBoundingClientRect();
        return line.bottom <= list.bottom;
    }""", timeout=10_000)
    assert_accessible(page, f"server-down-{look}")


def test_axe_when_the_server_refuses_the_page(start_chat, new_page):
    server = start_chat(token="s3cret")
    page = open_page(new_page, page_url(server.url, name="alice"), "phone")
    expect(page.get_by_role("status")).to_contain_text("this chat needs a join token")
    expect(page.get_by_role("button", name="Reconnect")).to_be_visible()
    assert_accessible(page, "refused-phone")


def test_axe_while_connecting(silent_origin, new_page):
    page = new_page(f"{silent_origin}/chat?name=alice")
    expect(page.get_by_role("status")).to_have_text("Connecting…")
    assert_accessible(page, "connecting")


# -- contrast --------------------------------------------------------------------------------

EVERY_KIND_OF_LINE = [
    envelope.welcome_message("alice", ["alice", "bob"]),
    envelope.join_message("carol", 3),
    envelope.chat_message("bob", "a line from bob"),
    envelope.chat_message("alice", "a line of mine"),
    envelope.leave_message("carol", 2),
    envelope.system_message("degraded", "The chat is having trouble: lines may be late."),
    envelope.error_message("message_too_long", "That message is too long."),
    # Catching up: a greyed line from before the page came in (under its divider), the notice
    # of a lost history, and the quiet line after a replay.
    envelope.encode({"message": "a line from before", "client_id": "bob", "timestamp": "09:59:00",
                     "seq": 1, "epoch": "e1", "history": True}),
    envelope.system_message("history_reset", "the history is lost", epoch="e2", seq=5),
    envelope.system_message("resumed", "caught up", replayed=2, epoch="e2", seq=5),
]

LINE_TEXTS = {
    "system line": (".message.system:not(.error):not(.warning) > .text", None),
    "system line's timestamp": (".message.system:not(.error):not(.warning) > .timestamp", None),
    "own line": (".message.user .text", None),
    "own line's sender": (".message.user .sender", None),
    "own line's timestamp": (".message.user .timestamp", None),
    "other's line": (".message.other .text", None),
    "other's sender": (".message.other .sender", None),
    "other's timestamp": (".message.other .timestamp", None),
    "error line": (".message.error > .text", None),
    "error line's timestamp": (".message.error > .timestamp", None),
    "warning line": (".message.warning > .text", None),
    "warning line's timestamp": (".message.warning > .timestamp", None),
    "earlier line": (".message.history .text", None),
    "earlier line's sender": (".message.history .sender", None),
    "earlier line's timestamp": (".message.history .timestamp", None),
    "earlier messages divider": (".divider", None),
    "missed messages notice": (".message.missed > .text", None),
    "caught up": (".message.quiet > .text", None),
    "title": ("h1", None),
    "identity": ("#identity", None),
    "participants": ("#participants", None),
    "status, connected": ("#connectionStatus", None),
    "placeholder": ("#messageText", "::placeholder"),
    "send button": ("#sendButton", None),
}

DISCONNECTED_TEXTS = {
    "status, disconnected": ("#connectionStatus", None),
    "status's countdown": ("#statusDetail", None),
    "participants, unknown": ("#participants", None),
    "retry button": ("#reconnectButton", None),
    "send button, disabled": ("#sendButton", None),
}


def test_contrast_of_every_line_and_state(new_page):
    page = new_page()
    sockets: list[WebSocketRoute] = []

    def server(ws: WebSocketRoute) -> None:
        sockets.append(ws)
        for frame in EVERY_KIND_OF_LINE:
            ws.send(frame)

    page.route_web_socket(re.compile(r"/ws/"), server)
    serve_kit_page(page, "http://kit.example/chat")
    page.goto(page_url("http://kit.example", name="alice", **SLOW_RETRY))
    connected(page)
    expect(log(page).locator(".message")).to_have_count(len(EVERY_KIND_OF_LINE))
    too_faint = low_contrast(page, LINE_TEXTS)
    assert not too_faint, too_faint
    assert_accessible(page, "every-kind-of-line")

    sockets[0].close(code=1001, reason="going away")
    expect(page.get_by_role("status")).to_contain_text(RETRYING)
    expect(page.locator("#participants")).to_have_class(re.compile("stale"))
    too_faint = low_contrast(page, DISCONNECTED_TEXTS)
    assert not too_faint, too_faint


def test_contrast_while_connecting(silent_origin, new_page):
    page = new_page(f"{silent_origin}/chat?name=alice")
    expect(page.get_by_role("status")).to_have_text("Connecting…")
    texts = {"status, connecting": ("#connectionStatus", None)}
    too_faint = low_contrast(page, texts)
    assert not too_faint, too_faint


def test_the_contrast_formula_gives_wcag_figures():
    """The formula above, on the figures WCAG and the issue quote."""
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21)
    old_timestamp, own_line = (136, 136, 136), (220, 236, 255)  # #888 on #dcecff
    assert contrast(old_timestamp, own_line) == pytest.approx(2.95, abs=0.01)


# -- the keyboard ----------------------------------------------------------------------------

FOCUS_STYLE = """id => {
    const style = getComputedStyle(document.getElementById(id));
    return {outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`,
            shadow: style.boxShadow};
}"""

FOCUSABLE_IDS = """() => [...document.querySelectorAll(
        'a[href], button, input, select, textarea, [tabindex]')]
    .filter(e => e.tabIndex >= 0 && !e.disabled && e.checkVisibility())
    .map(e => e.id)"""


def in_reading_order(page: Any, ids: list[str]) -> list[str]:
    """``ids`` sorted as the eye reads them: top to bottom, and left to right within a row."""
    boxes = {element_id: page.locator(f"#{element_id}").bounding_box() for element_id in ids}

    def compare(one: str, other: str) -> int:
        a, b = boxes[one], boxes[other]
        if a["y"] + a["height"] <= b["y"]:
            return -1
        if b["y"] + b["height"] <= a["y"]:
            return 1
        return -1 if a["x"] < b["x"] else 1

    return sorted(ids, key=functools.cmp_to_key(compare))


def tab_round(page: Any, name: str) -> list[str]:
    """Press Tab from where the focus is until it comes back: the ids met on the way, in order.

    Each element met must show a focus ring (outline or box-shadow) that it does not show
    without the focus; each is photographed with it. The focus must also leave the page once on
    the way round, to the browser's own controls: nothing traps it.
    """
    start = focused(page)
    met: list[str] = []
    rings: dict[str, dict[str, str]] = {}
    plain: dict[str, dict[str, str]] = {}
    left_the_page = False
    for _ in range(12):
        previous = focused(page)
        page.keyboard.press("Tab")
        if previous:
            plain[previous] = page.evaluate(FOCUS_STYLE, previous)
        now = focused(page)
        if not now:
            left_the_page = True
            continue
        rings[now] = page.evaluate(FOCUS_STYLE, now)
        snapshot(page, f"{name}-focus-{now}")
        met.append(now)
        if now == start:
            break
    assert left_the_page, f"the focus never left the page: a trap ({met})"
    assert met and met[-1] == start, f"the focus did not come back to #{start}: {met}"
    for element_id in met:
        ring = rings[element_id]
        assert not ring["outline"].startswith("none") or ring["shadow"] != "none", \
            f"#{element_id} has the focus but shows no focus ring: {ring}"
        assert ring != plain[element_id], f"#{element_id} looks the same with and without the focus"
    return met


def assert_tab_order_is_reading_order(page: Any, name: str) -> None:
    """One round of Tab meets every control once, in the order the eye reads them."""
    controls = in_reading_order(page, page.evaluate(FOCUSABLE_IDS))
    met = tab_round(page, name)
    assert sorted(met) == sorted(controls), f"Tab met {met}; the controls are {controls}"
    first = met.index(controls[0])
    assert met[first:] + met[:first] == controls, f"Tab order {met}, reading order {controls}"


def test_keyboard_only_chatting(start_chat, new_page):
    server = start_chat()
    page = new_page(page_url(server.url, name="alice"))
    connected(page)
    assert focused(page) == "messageText", "a fresh page puts the focus where one types"

    page.keyboard.type("Typed, and sent with Enter")
    page.keyboard.press("Enter")
    expect(log(page).locator(".message.user")).to_contain_text("Typed, and sent with Enter")
    assert focused(page) == "messageText"

    assert_tab_order_is_reading_order(page, "connected")
    assert focused(page) == "messageText"

    page.keyboard.type("Sent with the button, by Space")
    tab_to(page, "sendButton")
    page.keyboard.press("Space")
    expect(log(page).locator(".message.user")).to_have_count(2)
    expect(log(page).locator(".message.user").last).to_contain_text("by Space")
    assert focused(page) == "messageText", "after sending, the focus is back in the input"

    page.keyboard.type("And by Enter")
    tab_to(page, "sendButton")
    page.keyboard.press("Enter")
    expect(log(page).locator(".message.user")).to_have_count(3)
    assert focused(page) == "messageText"
    expect(page.locator("#messageText")).to_have_value("")


def test_keyboard_only_reconnecting(new_page):
    first = BackgroundServer(create_app(), name="a11y-first").start()
    second = None
    try:
        page = new_page(page_url(first.url, name="alice", **SLOW_RETRY))
        connected(page)
        first.stop()
        expect(page.get_by_role("status")).to_contain_text(RETRYING)
        retry = page.get_by_role("button", name="Retry now")
        expect(retry).to_be_visible()
        assert_tab_order_is_reading_order(page, "server-down")

        tab_to(page, "reconnectButton")
        with page.expect_websocket():  # Space on the button: one more try, now
            page.keyboard.press("Space")
        expect(retry).to_be_visible()  # ... which fails: nothing listens yet
        assert focused(page) == "messageText", "hidden while trying, the button passed the focus on"

        second = BackgroundServer(create_app(), name="a11y-second", port=first.port).start()
        tab_to(page, "reconnectButton")
        page.keyboard.press("Enter")
        connected(page)
        assert focused(page) == "messageText"
        page.keyboard.type("back, without a mouse")
        page.keyboard.press("Enter")
        expect(log(page).locator(".message.user")).to_contain_text("back, without a mouse")
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_a_disabled_send_button_hands_the_focus_to_the_input(start_chat, new_page):
    server = start_chat()
    page = new_page(page_url(server.url, name="alice", **SLOW_RETRY))
    connected(page)
    tab_to(page, "sendButton")
    server.stop()
    expect(page.locator("#sendButton")).to_be_disabled()
    assert focused(page) == "messageText"


# -- what a screen reader hears ----------------------------------------------------------------

WATCH_ANNOUNCEMENTS = """() => {
    // What a screen reader is given from the status: each change of its text outside
    // aria-hidden parts is read out, even when the new text is the same as the old.
    const status = document.querySelector('[role=status]');
    const spoken = () => {
        const copy = status.cloneNode(true);
        copy.querySelectorAll('[aria-hidden=true]').forEach(e => e.remove());
        return copy.textContent;
    };
    window.announced = [];
    new MutationObserver(records => {
        const heard = records.some(r => {
            const element = r.target.nodeType === Node.ELEMENT_NODE
                ? r.target : r.target.parentElement;
            return !element.closest('[aria-hidden=true]');
        });
        if (heard) window.announced.push(spoken());
    }).observe(status, {childList: true, subtree: true, characterData: true});
}"""


def test_new_lines_are_announced_in_a_named_log(start_chat, new_page):
    server = start_chat()
    page = new_page(page_url(server.url, name="alice"))
    connected(page)
    messages = log(page)
    expect(messages).to_have_count(1)
    expect(messages).to_have_id("messages")
    expect(messages).to_have_attribute("aria-live", "polite")
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("main").get_by_role("log")).to_have_count(1)
    expect(page.get_by_role("textbox", name="Message")).to_be_focused()
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    expect(page.get_by_role("status")).to_have_id("connectionStatus")

    with connect(f"{server.ws_url}/ws/bob", open_timeout=5) as bob:
        expect(messages).to_contain_text("Client #bob joined the chat")
        bob.send(json.dumps({"message": "Can you hear me?"}))
        line = messages.locator(".message.other")
        expect(line).to_have_count(1)
        expect(line).to_contain_text("Client bob")
        expect(line).to_contain_text("Can you hear me?")


def test_each_change_of_connection_state_is_announced_once(new_page):
    first = BackgroundServer(create_app(), name="a11y-status-first").start()
    second = None
    try:
        page = new_page(page_url(first.url, name="alice", **FAST_RETRY))
        connected(page)
        page.evaluate(WATCH_ANNOUNCEMENTS)
        first.stop()
        expect(page.get_by_role("status")).to_contain_text(RETRYING)
        for _ in range(3):  # three failed tries, each with its countdown
            with page.expect_websocket():
                pass
        second = BackgroundServer(create_app(), name="a11y-status-second", port=first.port).start()
        connected(page)
        assert page.evaluate("window.announced") == [RETRYING, "Connected"]
        expect(log(page).locator(".message.system", has_text="Welcome, alice!")).to_have_count(1)
    finally:
        first.stop()
        if second is not None:
            second.stop()
