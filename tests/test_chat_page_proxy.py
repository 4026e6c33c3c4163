"""The pages core lesson 03 shows inside a notebook, in headless Chromium.

- Through jupyter-server-proxy, as on JupyterHub or Binder: a real JupyterLab on a free port,
  the chat server in the background, and the page at ``<base_url>proxy/<port>/chat``,
  chatting with a Python client in the same room. Each browser test runs against two
  JupyterLabs: one at the root (``/``), and one under ``/user/alice/`` with the hub's
  ``JUPYTERHUB_SERVICE_PREFIX``, which is how JupyterHub and Binder serve a user's JupyterLab.
  How the proxy lets a browser in: a request that is not logged in to JupyterLab is sent to
  the login page (HTTP) or refused with 403 (WebSocket); once the browser has visited any
  JupyterLab address with ``?token=``, its login cookie opens the proxy for pages and sockets
  alike, so the page's address carries no Jupyter token, and the chat's own ``?token=`` (the
  join token) passes through to the chat server untouched.
- ``wslab.display.chat_frame`` in a notebook cell of that JupyterLab: with the hub's variable
  the frame goes through the proxy under the hub's prefix; without it, the kernel finds its
  server's base URL in the server's info file and still goes through the proxy, and in a
  JupyterLab at the root on this computer the frame loads the server directly. Each chats.
- The lecture's page (``wslab.display.LECTURE_PAGE``): a chat message with markup runs script
  in it, as core lesson 03 shows, while the kit's page shows the same message as text.

JupyterLab, its kernels and the chat servers are stopped at the end, also when a test fails.
Screenshots land in ``test-artifacts/chat-page/`` and ``test-artifacts/jupyterlab/``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import httpx2
import pytest

from browser import require_browser

require_browser()  # skips this module without Chromium or Playwright (fails instead when CI is set)

from playwright.sync_api import expect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

import labdriver  # noqa: E402
from browser import page_url, screenshot  # noqa: E402
from fastapi.responses import HTMLResponse  # noqa: E402
from wslab.display import LECTURE_PAGE  # noqa: E402

pytestmark = pytest.mark.browser

expect.set_options(timeout=10_000)

PINK = "<img src=x onerror=\"document.body.style.background='pink'\">"
PUPPET = "<img src=x onerror=\"ws.send(JSON.stringify({message: 'I did not write this'}))\">"
#: Markup that asks JupyterLab's own API for the notebooks' folder and shows the answer's status
#: in the page's title: harmless, but what any script in JupyterLab's origin could do.
JUPYTER_API = ("<img src=x onerror=\"fetch(location.pathname.split('proxy/')[0] + 'api/contents')"
               ".then(r => document.title = 'api ' + r.status)\">")


# -- helpers ---------------------------------------------------------------------------------

def connected(page_or_frame: Any) -> None:
    expect(page_or_frame.locator("#connectionStatus")).to_have_text("Connected")


def chats_both_ways(view: Any, peer: Any, peer_name: str, *, as_name: str, typed: str,
                    answered: str) -> None:
    """The page (``as_name``) and a Python client (``peer_name``): a line each way, both seen."""
    expect(view.locator("#participants")).to_have_text("2 online")
    say(view, typed)
    assert next_chat_line(peer) == (as_name, typed)
    peer.send(json.dumps({"message": answered}))
    shows_chat(view, f"Client {peer_name}", answered)


def say(page_or_frame: Any, text: str) -> None:
    page_or_frame.locator("#messageText").fill(text)
    page_or_frame.locator("#messageText").press("Enter")
    expect(page_or_frame.locator("#messageText")).to_have_value("")


def shows_chat(page_or_frame: Any, sender: str, text: str) -> None:
    """The kit's page shows ``text`` as one chat line from ``sender`` ("You" or "Client x")."""
    line = page_or_frame.locator("#messages .message").filter(
        has=page_or_frame.locator(".text", has_text=re.compile(f"^{re.escape(text)}$")))
    expect(line).to_have_count(1)
    expect(line.locator(".sender")).to_have_text(sender)


def next_chat_line(client: Any) -> tuple[str, str]:
    """The next chat line a Python client hears, system messages skipped."""
    while True:
        message = json.loads(client.recv(timeout=5))
        if "type" not in message:
            return message["client_id"], message["message"]


def login_cookie(lab: labdriver.JupyterLab) -> str:
    """The Cookie header of a client that has logged in to ``lab`` with its token."""
    with httpx2.Client(trust_env=False) as client:
        client.get(lab.url("api/status")).raise_for_status()
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


#: The base URL JupyterHub (and so Binder) serves a user's JupyterLab under.
HUB_BASE_URL = "/user/alice/"


def start_lab(factory: pytest.TempPathFactory, name: str, base_url: str
              ) -> Iterator[labdriver.JupyterLab]:
    """A JupyterLab started as a hub starts a user's: under ``base_url``, with the hub's
    ``JUPYTERHUB_SERVICE_PREFIX`` (equal to it) set for the server and every kernel."""
    server = labdriver.JupyterLab(factory.mktemp(f"{name}-root"), factory.mktemp(f"{name}-home"),
                                   base_url=base_url,
                                   env={"JUPYTERHUB_SERVICE_PREFIX": base_url})
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labdriver.JupyterLab]:
    """A JupyterLab at the root, as a hub would start it for a user whose prefix is ``/``."""
    yield from start_lab(tmp_path_factory, "lab", "/")


@pytest.fixture(scope="module")
def hub_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labdriver.JupyterLab]:
    """A JupyterLab under ``/user/alice/``, as JupyterHub and Binder serve it."""
    yield from start_lab(tmp_path_factory, "hub-lab", HUB_BASE_URL)


@pytest.fixture(params=["lab", "hub_lab"])
def any_lab(request: pytest.FixtureRequest) -> labdriver.JupyterLab:
    """Each of the two JupyterLabs in turn."""
    return request.getfixturevalue(request.param)


# -- through the proxy -----------------------------------------------------------------------

def test_the_chat_page_chats_through_jupyter_server_proxy(any_lab, start_chat, new_page):
    lab = any_lab
    server = start_chat()
    proxied = f"{lab.base}/proxy/{server.port}"
    page = new_page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))

    # Not logged in to JupyterLab: the proxy sends the browser to the login page.
    page.goto(page_url(proxied, name="browser"))
    assert f"{lab.base_url}login" in page.url, page.url
    assert sockets == []

    # Any JupyterLab address with the token logs the browser in (a cookie); the proxied page
    # then needs no token in its address, and neither does its socket, which the page finds
    # next to its own address, base URL and all.
    page.goto(lab.url("api/status"))
    page.goto(page_url(proxied, name="browser"))
    connected(page)
    assert sockets == [f"ws://127.0.0.1:{lab.port}{lab.base_url}proxy/{server.port}/ws/browser"]

    with connect(f"{server.ws_url}/ws/py", open_timeout=5) as py:
        chats_both_ways(page, py, "py", as_name="browser",
                        typed="hello through the proxy",
                        answered="hello from Python, straight to the server")
        shows_chat(page, "You", "hello through the proxy")
        screenshot(page, f"proxy-chat-{'root' if lab.base_url == '/' else 'hub-base-url'}")


def test_a_join_token_in_the_page_address_reaches_the_chat_server(lab, start_chat, new_page):
    """The chat's ?token= and JupyterLab's share a name: with the login cookie, the proxy lets
    the chat's token through to the chat server, which decides."""
    server = start_chat(token="s3cret")
    proxied = f"{lab.base}/proxy/{server.port}"
    page = new_page()
    page.goto(lab.url("api/status"))

    page.goto(page_url(proxied, name="carol", token="s3cret"))
    connected(page)

    page.goto(page_url(proxied, name="dave", token="wrong", retry="0.2"))
    expect(page.locator("#messages .message.error").first).to_contain_text(
        "wrong join token", ignore_case=True)
    # The proxy drops the close code (1008), but the error reply says it all: no retrying.
    expect(page.locator("#connectionStatus")).to_contain_text("Disconnected")
    page.wait_for_timeout(1500)
    assert page.locator("#messages .message.error").count() == 1
    screenshot(page, "proxy-wrong-join-token")


def test_the_classroom_server_s_checks_pass_through_a_student_s_proxy(hub_lab, start_chat,
                                                                       new_page):
    """On a one-machine hub, the class chat can run on the hub itself, and each student opens
    it through their own JupyterLab's proxy. The proxy passes the browser's ``Host`` and
    ``Origin`` on, so the classroom's Origin check sees the page's own address and lets it in;
    the join token still decides."""
    server = start_chat(token="s3cret", local_pages=False)  # what --classroom does
    proxied = f"{hub_lab.base}/proxy/{server.port}"
    page = new_page()
    page.goto(hub_lab.url("api/status"))
    page.goto(page_url(proxied, name="student", token="s3cret"))
    connected(page)
    with connect(f"{server.ws_url}/ws/teacher?token=s3cret", open_timeout=5) as teacher:
        chats_both_ways(page, teacher, "teacher", as_name="student",
                        typed="hello class",
                        answered="welcome, through your own proxy")
        screenshot(page, "proxy-classroom-checks")


def test_a_socket_that_is_not_logged_in_is_refused_by_the_proxy(lab, start_chat):
    server = start_chat()
    with pytest.raises(InvalidStatus) as refused:
        with connect(f"ws://127.0.0.1:{lab.port}/proxy/{server.port}/ws/eve", open_timeout=5):
            pass
    assert refused.value.response.status_code == 403
    with connect(f"ws://127.0.0.1:{lab.port}/proxy/{server.port}/ws/py", open_timeout=5,
                 additional_headers={"Authorization": f"token {lab.token}"}) as py:
        assert json.loads(py.recv(timeout=5))["type"] == "welcome"


def test_the_proxy_does_not_pass_the_chat_server_s_close_codes_on(lab, start_chat):
    """A known limit of jupyter-server-proxy 4.6: when the server closes a socket, the proxy
    closes the browser's side without a status code, so a client behind it sees 1005 where
    the server sent 1008 (refused) or 1012 (restarting). The in-band error reply before a
    refusal does get through. If this test fails, the proxy has learnt to pass codes on:
    then clients behind it can rely on the close codes again (see core lesson 03)."""
    server = start_chat(token="s3cret")
    # Logged in by cookie: with a ?token= of its own in the address, JupyterLab would read
    # that one as its token and ignore an Authorization header.
    auth = {"Cookie": login_cookie(lab)}
    with connect(f"ws://127.0.0.1:{lab.port}/proxy/{server.port}/ws/dave?token=wrong",
                 open_timeout=5, additional_headers=auth) as dave:
        assert json.loads(dave.recv(timeout=5))["code"] == "bad_token"
        with pytest.raises(ConnectionClosed) as closed:
            dave.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1005
    with connect(f"{server.ws_url}/ws/dave?token=wrong", open_timeout=5) as direct:
        direct.recv(timeout=5)
        with pytest.raises(ConnectionClosed) as closed:
            direct.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


# -- chat_frame inside JupyterLab ----------------------------------------------------------------

def frame_notebook(path: Any, before: str = "") -> None:
    """A notebook that starts a chat server and shows its page with ``chat_frame``, running
    ``before`` first (in the kernel: what a student's environment would hold)."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                       "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell(
            f"{before}\n"
            "from wslab.chat import create_app\n"
            "from wslab.display import chat_frame\n"
            "from wslab.runner import BackgroundServer\n\n"
            'server = BackgroundServer(create_app(), name="proxy-frame-test").start()'),
        nbformat.v4.new_code_cell('frame = chat_frame(server, name="browser", height=380)\n'
                                  "frame"),
    ]
    nbformat.write(notebook, path)


WITHOUT_HUB_VARIABLE = 'import os\nos.environ.pop("JUPYTERHUB_SERVICE_PREFIX")'


@pytest.mark.parametrize("which, before, expected", [
    # JupyterHub and Binder: the hub's variable names the prefix.
    ("hub_lab", "", f"{HUB_BASE_URL}proxy/{{port}}/chat?name=browser"),
    ("lab", "", "/proxy/{port}/chat?name=browser"),
    # No hub variable: the kernel reads its server's base URL from the server's info file.
    ("hub_lab", WITHOUT_HUB_VARIABLE, f"{HUB_BASE_URL}proxy/{{port}}/chat?name=browser"),
    # A JupyterLab at the root on this computer: the server directly.
    ("lab", WITHOUT_HUB_VARIABLE, "http://127.0.0.1:{port}/chat?name=browser"),
], ids=["hub-base-url", "hub-root", "base-url-from-info-file", "local"])
def test_chat_frame_in_jupyterlab_chats_where_the_rule_points(request, new_page, which, before,
                                                               expected):
    lab = request.getfixturevalue(which)
    shot = f"chat-frame-{request.node.callspec.id}"
    notebook = f"chat_frame_{request.node.callspec.id}.ipynb"
    frame_notebook(lab.root_dir / notebook, before)
    page = new_page()
    try:
        labdriver.open_notebook(page, lab, notebook, workspace=request.node.callspec.id)
        labdriver.run_cells(page)
        port = int(labdriver.execute_in_kernel(page, "print(server.port)"))
        url = expected.format(port=port)
        assert labdriver.execute_in_kernel(page, "print(frame.url)").strip() == url

        iframe = page.locator(f'iframe[src="{url}"]')
        expect(iframe).to_have_count(1)
        chat = page.frame_locator(f'iframe[src="{url}"]')
        connected(chat)
        with connect(f"ws://127.0.0.1:{port}/ws/py", open_timeout=5) as py:
            chats_both_ways(chat, py, "py", as_name="browser",
                            typed="typed in the frame inside JupyterLab",
                            answered="and answered from Python")
            iframe.scroll_into_view_if_needed()
            labdriver.screenshot(page, shot)
    except Exception:
        labdriver.screenshot(page, f"{shot}-failed")
        print(f"JupyterLab's log:\n{lab.log_tail()}")
        raise
    finally:
        try:
            labdriver.execute_in_kernel(page, "server.stop()")
        except Exception:  # noqa: BLE001  (the kernel is shut down with JupyterLab anyway)
            pass


# -- the lecture's page and the kit's page, with markup in a message --------------------------

def test_markup_runs_in_the_lecture_page_and_stays_text_in_the_kit_page(start_chat, new_page):
    server = start_chat()

    @server.app.get("/lecture", response_class=HTMLResponse)
    async def lecture_page() -> str:
        return LECTURE_PAGE

    victim = new_page(page_url(server.url, "/lecture", name="victim"))
    connected(victim)
    bystander = new_page(page_url(server.url, name="bystander"))
    connected(bystander)

    with connect(f"{server.ws_url}/ws/mallory", open_timeout=5) as mallory:
        mallory.send(json.dumps({"message": f"Look at this picture: {PINK}"}))
        victim.wait_for_function(
            "getComputedStyle(document.body).backgroundColor === 'rgb(255, 192, 203)'")
        shows_chat(bystander, "Client mallory", f"Look at this picture: {PINK}")
        expect(bystander.locator("#messages img")).to_have_count(0)
        assert bystander.evaluate("getComputedStyle(document.body).backgroundColor") != \
            "rgb(255, 192, 203)"

        mallory.send(json.dumps({"message": f"Nice page! {PUPPET}"}))
        heard = [next_chat_line(mallory) for _ in range(3)]
        assert ("victim", "I did not write this") in heard, heard
        shows_chat(bystander, "Client victim", "I did not write this")
        shows_chat(bystander, "Client mallory", f"Nice page! {PUPPET}")
        screenshot(victim, "lecture-page-pink")
        screenshot(bystander, "kit-page-shows-markup-as-text")


def test_through_the_proxy_the_lecture_page_s_flaw_reaches_jupyterlab(hub_lab, start_chat,
                                                                       new_page):
    """Why the instructor guide warns about lesson 03 on a one-machine hub. Through the proxy the
    lecture's page comes from JupyterLab's own address, so markup that someone else sends into
    it runs with the student's JupyterLab login: here it reads the student's files through
    JupyterLab's API. (Directly, at ``127.0.0.1:<port>``, the page is another origin than
    JupyterLab, and the same script gets nowhere.) If this test fails, the frame no longer
    shares JupyterLab's origin, and the guide's warning can go."""
    server = start_chat()

    @server.app.get("/lecture", response_class=HTMLResponse)
    async def lecture_page() -> str:
        return LECTURE_PAGE

    victim = new_page()
    victim.goto(hub_lab.url("api/status"))
    victim.goto(page_url(f"{hub_lab.base}/proxy/{server.port}", "/lecture", name="victim"))
    connected(victim)
    with connect(f"{server.ws_url}/ws/mallory", open_timeout=5) as mallory:
        mallory.send(json.dumps({"message": f"Nice page! {JUPYTER_API}"}))
        expect(victim).to_have_title("api 200")
