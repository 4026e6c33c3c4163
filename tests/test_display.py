"""``wslab.display``: where a page's frame points (direct or through jupyter-server-proxy), the
frames' HTML, and the lecture's page kept for core lesson 03's demonstration.

The browser side (the frame through a real proxy, the lecture's page running injected markup)
is in ``test_chat_page_proxy.py``.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from wslab import display
from wslab.display import (LECTURE_PAGE, PageFrame, chat_frame, excerpt, html_frame, page_url,
                           proxy_prefix, side_by_side)
from wslab.runner import BackgroundServer


class FakeServer:
    def __init__(self, port: int, url: str | None = None) -> None:
        self.port = port
        self.url = url or f"http://127.0.0.1:{port}"


@pytest.fixture
def local(monkeypatch):
    """JupyterLab on this computer: no hub."""
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)


@pytest.fixture
def hub(monkeypatch):
    """JupyterHub with jupyter-server-proxy installed."""
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    monkeypatch.setattr(display, "_has_server_proxy", lambda: True)


def elements(fragment: str) -> list[tuple[str, dict[str, str | None]]]:
    found: list[tuple[str, dict[str, str | None]]] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    Parser().feed(fragment)
    return found


# -- the address rule ----------------------------------------------------------------------------

def test_on_this_computer_the_frame_loads_the_server_directly(local):
    assert proxy_prefix() is None
    assert page_url(8000) == "http://127.0.0.1:8000/chat"
    assert page_url(8000, name="alice") == "http://127.0.0.1:8000/chat?name=alice"
    assert page_url(FakeServer(8001), "lecture", name="a b", token=None) == \
        "http://127.0.0.1:8001/lecture?name=a+b"


def test_a_server_s_own_address_is_used(local):
    assert page_url(FakeServer(9000, "http://[::1]:9000")) == "http://[::1]:9000/chat"


def test_on_a_hub_with_the_proxy_the_frame_goes_through_it(hub):
    assert proxy_prefix() == "/user/ada/proxy/"
    assert page_url(8000, name="alice") == "/user/ada/proxy/8000/chat?name=alice"
    assert chat_frame(8000, name="alice").url == "/user/ada/proxy/8000/chat?name=alice"


@pytest.mark.parametrize("prefix, expected", [
    ("/user/ada/", "/user/ada/proxy/"), ("/user/ada", "/user/ada/proxy/"),
    ("user/ada/", "/user/ada/proxy/"), ("/", "/proxy/"), ("  /hub/u/  ", "/hub/u/proxy/"),
])
def test_the_hub_prefix_is_normalised(hub, monkeypatch, prefix, expected):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", prefix)
    assert proxy_prefix() == expected


def test_on_a_hub_without_the_proxy_the_frame_says_what_to_install(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    monkeypatch.setattr(display, "_has_server_proxy", lambda: False)
    frame = chat_frame(8000, name="alice")
    assert frame.url == "http://127.0.0.1:8000/chat?name=alice"
    assert "pip install jupyter-server-proxy" in frame._repr_html_()


def test_proxy_can_be_forced_either_way(local, monkeypatch):
    assert page_url(8000, proxy=True) == "/proxy/8000/chat"
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    monkeypatch.setattr(display, "_has_server_proxy", lambda: True)
    assert page_url(8000, proxy=False) == "http://127.0.0.1:8000/chat"
    assert page_url(8000, proxy=True) == "/user/ada/proxy/8000/chat"
    assert "pip install" not in chat_frame(8000, proxy=False)._repr_html_()


def test_jupyter_server_proxy_is_installed_in_the_kit():
    assert display._has_server_proxy()


def test_a_running_server_works_and_one_not_started_is_refused(local):
    server = BackgroundServer(lambda scope, receive, send: None, name="display-not-started")
    with pytest.raises(ValueError, match="start"):
        page_url(server)
    with BackgroundServer(display_app(), name="display-started") as started:
        assert page_url(started) == f"{started.url}/chat"


def display_app():
    from fastapi import FastAPI
    return FastAPI()


@pytest.mark.parametrize("bad, error", [(True, TypeError), ("8000", TypeError), (0, ValueError),
                                        (70000, ValueError), (FakeServer(0), ValueError)])
def test_what_is_not_a_server_or_a_port_is_refused(bad, error):
    with pytest.raises(error):
        page_url(bad)


# -- the frames ------------------------------------------------------------------------------------

def test_the_chat_frame_is_one_iframe_and_a_link(local):
    frame = chat_frame(8000, name='x"><script>alert(1)</script>', height=300, retry=0.5)
    html = frame._repr_html_()
    found = elements(html)
    iframes = [attrs for tag, attrs in found if tag == "iframe"]
    assert len(iframes) == 1 and not any(tag == "script" for tag, _ in found)
    assert iframes[0]["src"] == frame.url and iframes[0]["height"] == "300"
    assert frame.url.startswith("http://127.0.0.1:8000/chat?name=x%22%3E%3Cscript%3E")
    assert frame.url.endswith("&retry=0.5")
    links = [attrs for tag, attrs in found if tag == "a"]
    assert links == [{"href": frame.url, "target": "_blank", "rel": "noopener"}]
    assert repr(frame) == f"<PageFrame {frame.url}>"


def test_html_frame_keeps_its_document_whole_and_sandboxed():
    document = '<p title="a &amp; b">x</p></iframe><script>parent.document.body.remove()</script>'
    frame = html_frame(document, height=90)
    found = elements(frame._repr_html_())
    assert [tag for tag, _ in found] == ["div", "iframe"]
    attrs = found[1][1]
    assert attrs["srcdoc"] == document  # the parser undoes the escaping: nothing got lost
    assert attrs["sandbox"] == "allow-scripts"  # no allow-same-origin: JupyterLab is out of reach
    assert attrs["height"] == "90" and "src" not in attrs
    assert repr(frame) == f"<PageFrame HTML of {len(document)} characters>"


def test_a_frame_needs_a_url_or_a_document():
    with pytest.raises(ValueError):
        PageFrame()
    with pytest.raises(ValueError):
        PageFrame("http://x", srcdoc="<p>")


def test_side_by_side_puts_every_frame_in_one_row(local):
    shown = side_by_side(chat_frame(8000, name="a"), chat_frame(8000, name="b"))
    iframes = [attrs["src"] for tag, attrs in elements(shown.data) if tag == "iframe"]
    assert iframes == ["http://127.0.0.1:8000/chat?name=a", "http://127.0.0.1:8000/chat?name=b"]
    assert "display: flex" in shown.data


def test_excerpt_takes_the_lines_between_two_markers_dedented():
    text = "a\n    def f():\n        one\n        two\n    end\nb"
    assert excerpt(text, "def f", "two").data == "def f():\n    one\n    two"
    assert excerpt(text, "def f", "two", after=1).data == "def f():\n    one\n    two\nend"
    assert excerpt(text, "one").data == "one"
    with pytest.raises(ValueError, match="no line contains"):
        excerpt(text, "missing")
    with pytest.raises(ValueError, match="contains 'missing'"):
        excerpt(text, "one", "missing")


# -- the lecture's page ----------------------------------------------------------------------------

def test_the_lecture_page_keeps_its_flaw_and_its_four_events():
    assert "messageDiv.innerHTML =" in LECTURE_PAGE and "${data.message}" in LECTURE_PAGE
    for event in ("ws.onopen", "ws.onmessage", "ws.onclose", "ws.onerror"):
        assert f"{event} = function" in LECTURE_PAGE
    assert "localhost:8000" not in LECTURE_PAGE  # the address comes from the page's own
    ids = {attrs.get("id") for _, attrs in elements(LECTURE_PAGE)}
    assert {"connectionStatus", "messages", "messageText"} <= ids
