"""The pages core lesson 03 shows inside a notebook, in headless Chromium.

- Through jupyter-server-proxy, as on JupyterHub or Binder: a real JupyterLab on a free port,
  the chat server in the background, and the page at ``/proxy/<port>/chat``, chatting with a
  Python client in the same room. How the proxy lets a browser in: a request that is not logged
  in to JupyterLab is sent to the login page (HTTP) or refused with 403 (WebSocket); once the
  browser has visited any JupyterLab address with ``?token=``, its login cookie opens the proxy
  for pages and sockets alike, so the page's address carries no Jupyter token, and the chat's
  own ``?token=`` (the join token) passes through to the chat server untouched.
- ``wslab.display.chat_frame`` in a notebook cell of that JupyterLab, with
  ``JUPYTERHUB_SERVICE_PREFIX`` set as a hub sets it: the frame goes through the proxy and
  chats.
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
from browser import browser, new_page, page_url, screenshot  # noqa: E402,F401
from fastapi.responses import HTMLResponse  # noqa: E402
from wslab.display import LECTURE_PAGE  # noqa: E402

pytestmark = pytest.mark.browser

expect.set_options(timeout=10_000)

PINK = "<img src=x onerror=\"document.body.style.background='pink'\">"
PUPPET = "<img src=x onerror=\"ws.send(JSON.stringify({message: 'I did not write this'}))\">"


# -- helpers ---------------------------------------------------------------------------------

def connected(page_or_frame: Any) -> None:
    expect(page_or_frame.locator("#connectionStatus")).to_have_text("Connected")


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


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[labdriver.JupyterLab]:
    """One JupyterLab for the module, started as a hub would start it for a user whose prefix
    is the root: ``JUPYTERHUB_SERVICE_PREFIX=/`` reaches the server and every kernel."""
    server = labdriver.JupyterLab(tmp_path_factory.mktemp("lab-root"),
                                   tmp_path_factory.mktemp("lab-home"))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/")
            server.start()
        yield server
    finally:
        server.stop()


# -- through the proxy -----------------------------------------------------------------------

def test_the_chat_page_chats_through_jupyter_server_proxy(lab, start_chat, new_page):
    server = start_chat()
    proxied = f"{lab.base}/proxy/{server.port}"
    page = new_page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))

    # Not logged in to JupyterLab: the proxy sends the browser to the login page.
    page.goto(page_url(proxied, name="browser"))
    assert "/login" in page.url, page.url
    assert sockets == []

    # Any JupyterLab address with the token logs the browser in (a cookie); the proxied page
    # then needs no token in its address, and neither does its socket.
    page.goto(lab.url("api/status"))
    page.goto(page_url(proxied, name="browser"))
    connected(page)
    assert sockets == [f"ws://127.0.0.1:{lab.port}/proxy/{server.port}/ws/browser"]

    with connect(f"{server.ws_url}/ws/py", open_timeout=5) as py:
        expect(page.locator("#participants")).to_have_text("2 online")
        say(page, "hello through the proxy")
        assert next_chat_line(py) == ("browser", "hello through the proxy")
        py.send(json.dumps({"message": "hello from Python, straight to the server"}))
        shows_chat(page, "Client py", "hello from Python, straight to the server")
        shows_chat(page, "You", "hello through the proxy")
        screenshot(page, "proxy-chat")


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

def frame_notebook(path: Any) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                       "language": "python"}
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from wslab.chat import create_app\n"
            "from wslab.display import chat_frame\n"
            "from wslab.runner import BackgroundServer\n\n"
            'server = BackgroundServer(create_app(), name="proxy-frame-test").start()'),
        nbformat.v4.new_code_cell('frame = chat_frame(server, name="browser", height=380)\n'
                                  "frame"),
    ]
    nbformat.write(notebook, path)


def test_chat_frame_in_a_hub_jupyterlab_goes_through_the_proxy(lab, new_page):
    frame_notebook(lab.root_dir / "chat_frame.ipynb")
    page = new_page()
    try:
        labdriver.open_notebook(page, lab, "chat_frame.ipynb")
        labdriver.run_cells(page)
        port = int(labdriver.execute_in_kernel(page, "print(server.port)"))
        assert labdriver.execute_in_kernel(page, "print(frame.url)").strip() == \
            f"/proxy/{port}/chat?name=browser"

        iframe = page.locator(f'iframe[src="/proxy/{port}/chat?name=browser"]')
        expect(iframe).to_have_count(1)
        chat = page.frame_locator(f'iframe[src="/proxy/{port}/chat?name=browser"]')
        connected(chat)
        with connect(f"ws://127.0.0.1:{port}/ws/py", open_timeout=5) as py:
            expect(chat.locator("#participants")).to_have_text("2 online")
            say(chat, "typed in the frame inside JupyterLab")
            assert next_chat_line(py) == ("browser", "typed in the frame inside JupyterLab")
            py.send(json.dumps({"message": "and answered from Python"}))
            shows_chat(chat, "Client py", "and answered from Python")
            iframe.scroll_into_view_if_needed()
            labdriver.screenshot(page, "chat-frame-through-proxy")
    except Exception:
        labdriver.screenshot(page, "chat-frame-through-proxy-failed")
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
