"""``wslab.display``: where a page's frame points (direct, through jupyter-server-proxy, or the
Codespaces forwarded address), the frames' HTML, and the lecture's page kept for core lesson
03's demonstration.

The rule reads the environment and the info file of the Jupyter server that started the
kernel: the tests set the variables with ``monkeypatch`` and write that file into a runtime
directory of their own, for this test process (``JPY_PARENT_PID``) or its parent, as a real
server writes it. The browser side (the frame through a real proxy, under a hub's base URL,
the lecture's page running injected markup) is in ``test_chat_page_proxy.py``.
"""

from __future__ import annotations

import html
import json
import os
from html.parser import HTMLParser

import pytest

from wslab import display
from wslab.display import (CODESPACES_HINT, LECTURE_PAGE, NO_PROXY_NOTE, PageFrame, chat_frame,
                           codespaces_url, excerpt, html_frame, page_url, proxy_prefix,
                           side_by_side)
from wslab.runner import BackgroundServer

#: The variables GitHub Codespaces sets in a codespace, with a made-up codespace name.
CODESPACE = {"CODESPACES": "true", "CODESPACE_NAME": "fluffy-space-umbrella-q7w9",
             "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN": "app.github.dev"}


class FakeServer:
    def __init__(self, port: int, url: str | None = None) -> None:
        self.port = port
        self.url = url or f"http://127.0.0.1:{port}"


@pytest.fixture
def local(monkeypatch, tmp_path):
    """JupyterLab on this computer: no hub, no codespace, and no Jupyter server info file."""
    for name in ("JUPYTERHUB_SERVICE_PREFIX", "JPY_PARENT_PID", *CODESPACE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    return tmp_path / "runtime"


@pytest.fixture
def hub(local, monkeypatch):
    """JupyterHub with jupyter-server-proxy installed."""
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    monkeypatch.setattr(display, "_has_server_proxy", lambda: True)


@pytest.fixture
def codespace(local, monkeypatch):
    """A codespace, with no Jupyter server around the kernel (VS Code's notebook editor)."""
    for name, value in CODESPACE.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def jupyter_server(local, monkeypatch):
    """Write the info file of the Jupyter server that started "the kernel" (this process).

    ``via="parent"``: the file is this process's parent's, as for a kernel its server started.
    ``via="JPY_PARENT_PID"``: the variable a server passes to its kernels names this process
    itself, a live process that is not the real parent, so only the variable can lead to it.
    ``pid`` overrides the pid written inside the file (a stale file left by another process).
    """
    def write(*, base_url: str = "/", hostname: str = "localhost", via: str = "parent",
              pid: int | None = None) -> None:
        if via == "JPY_PARENT_PID":
            server = os.getpid()
            monkeypatch.setenv("JPY_PARENT_PID", str(server))
        else:
            server = os.getppid()
        info = {"base_url": base_url, "hostname": hostname, "pid": pid or server, "port": 8888,
                "root_dir": "/home/ada", "secure": False, "sock": "", "token": "",
                "url": f"http://{hostname}:8888{base_url}", "version": "2.17.0"}
        local.mkdir(exist_ok=True)
        (local / f"jpserver-{server}.json").write_text(json.dumps(info), encoding="utf-8")

    return write


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


def test_on_a_hub_without_the_proxy_the_frame_says_what_to_install(local, monkeypatch):
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


# -- the kernel's own Jupyter server -------------------------------------------------------------

@pytest.mark.parametrize("base_url, hostname, expected", [
    ("/user/bob/", "localhost", "/user/bob/proxy/8000/chat"),   # behind a reverse proxy
    ("/lab-1", "127.0.0.1", "/lab-1/proxy/8000/chat"),
    ("/", "0.0.0.0", "/proxy/8000/chat"),                      # a container's JupyterLab
    ("/", "10.1.2.3", "/proxy/8000/chat"),
    ("/", "jupyter.example.org", "/proxy/8000/chat"),
    ("/", "localhost", "http://127.0.0.1:8000/chat"),          # a JupyterLab on this computer
    ("/", "127.0.0.1", "http://127.0.0.1:8000/chat"),
    ("/", "::1", "http://127.0.0.1:8000/chat"),
])
def test_a_remote_jupyter_server_is_recognised_from_its_info_file(jupyter_server, base_url,
                                                                  hostname, expected):
    jupyter_server(base_url=base_url, hostname=hostname)
    assert page_url(8000) == expected


@pytest.mark.skipif(os.name != "posix", reason="on Windows JPY_PARENT_PID holds a handle")
def test_the_server_named_by_jpy_parent_pid_is_found(jupyter_server):
    """A kernel started through a wrapper script is not the server's child, but the variable
    the server sets still names it."""
    jupyter_server(base_url="/user/bob/", via="JPY_PARENT_PID")
    assert os.environ["JPY_PARENT_PID"] == str(os.getpid()) != str(os.getppid())
    assert proxy_prefix() == "/user/bob/proxy/"


def test_an_info_file_of_another_process_is_ignored(jupyter_server):
    jupyter_server(base_url="/user/bob/", pid=1)  # a stale file: its pid is not the parent
    assert proxy_prefix() is None
    assert page_url(8000) == "http://127.0.0.1:8000/chat"


def test_a_broken_info_file_is_ignored(local, monkeypatch):
    monkeypatch.setenv("JPY_PARENT_PID", str(os.getpid()))
    local.mkdir()
    (local / f"jpserver-{os.getpid()}.json").write_text("{not json", encoding="utf-8")
    assert page_url(8000) == "http://127.0.0.1:8000/chat"


def test_the_hub_s_prefix_wins_over_the_server_s_base_url(jupyter_server, monkeypatch):
    jupyter_server(base_url="/other/")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    assert proxy_prefix() == "/user/ada/proxy/"


def test_proxy_true_uses_the_server_s_base_url(jupyter_server):
    jupyter_server(base_url="/user/bob/", hostname="127.0.0.1")
    assert page_url(8000, proxy=True, name="x") == "/user/bob/proxy/8000/chat?name=x"
    assert page_url(8000, proxy=False) == "http://127.0.0.1:8000/chat"


def test_a_remote_server_without_the_proxy_says_what_to_install(jupyter_server, monkeypatch):
    jupyter_server(hostname="0.0.0.0")
    monkeypatch.setattr(display, "_has_server_proxy", lambda: False)
    frame = chat_frame(8000, name="alice")
    assert frame.url == "http://127.0.0.1:8000/chat?name=alice"
    assert html.escape(NO_PROXY_NOTE) in frame._repr_html_()


# -- GitHub Codespaces ---------------------------------------------------------------------------

def test_in_a_codespace_without_jupyterlab_the_frame_uses_the_forwarded_address(codespace):
    assert codespaces_url(8000, "/chat") == \
        "https://fluffy-space-umbrella-q7w9-8000.app.github.dev/chat"
    assert page_url(41234, name="alice") == \
        "https://fluffy-space-umbrella-q7w9-41234.app.github.dev/chat?name=alice"
    assert proxy_prefix() is None
    frame = chat_frame(FakeServer(41234), name="alice")
    assert frame.url == page_url(41234, name="alice")
    caption = frame._repr_html_()
    assert html.escape(CODESPACES_HINT) in caption and "pip install" not in caption
    assert caption.index(html.escape(CODESPACES_HINT)) < caption.index("<a href=")
    assert "#a21515" not in caption  # advice, not a warning


def test_in_a_codespace_s_jupyterlab_the_frame_goes_through_its_proxy(codespace, jupyter_server,
                                                                      monkeypatch):
    """JupyterLab in the codespace listens on loopback at ``/``, yet the browser is far away:
    the proxy, on the JupyterLab page's own (signed-in) address."""
    jupyter_server(base_url="/", hostname="localhost")
    monkeypatch.setattr(display, "_has_server_proxy", lambda: True)
    assert page_url(41234, name="alice") == "/proxy/41234/chat?name=alice"
    assert html.escape(CODESPACES_HINT) not in chat_frame(41234)._repr_html_()


def test_in_a_codespace_proxy_false_gives_the_direct_address(codespace):
    """VS Code on the desktop forwards the codespace's ports to the laptop's localhost."""
    assert page_url(41234, proxy=False) == "http://127.0.0.1:41234/chat"
    assert page_url(41234, proxy=True) == "/proxy/41234/chat"


@pytest.mark.parametrize("missing", sorted(CODESPACE))
def test_without_all_three_codespaces_variables_it_is_not_a_codespace(codespace, monkeypatch,
                                                                       missing):
    monkeypatch.delenv(missing)
    assert codespaces_url(8000) is None
    assert page_url(8000) == "http://127.0.0.1:8000/chat"


def test_codespaces_false_is_not_a_codespace(codespace, monkeypatch):
    monkeypatch.setenv("CODESPACES", "false")
    assert codespaces_url(8000) is None


def test_jupyter_server_proxy_is_installed_in_the_kit():
    assert display._has_server_proxy()


@pytest.mark.slow
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
    found = elements(frame._repr_html_())
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


def test_the_frames_template_escapes_every_value_it_fills_in():
    frame = PageFrame(srcdoc="<p>", width='100%" onload="alert(1)', title="<b>t</b>",
                      note='<img src=x onerror="alert(2)">')
    found = elements(frame._repr_html_())
    assert [tag for tag, _ in found] == ["div", "iframe", "div", "span"]  # no <img>
    attrs = found[1][1]
    assert attrs["width"] == '100%" onload="alert(1)' and "onload" not in attrs
    assert attrs["title"] == "<b>t</b>"
    assert 'onerror="alert(2)"' not in frame._repr_html_()
    with pytest.raises(KeyError, match="url"):
        display._fill("link")  # a value left out fails, rather than showing "$url"


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
