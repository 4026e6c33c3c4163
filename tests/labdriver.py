"""JupyterLab in a test: a real server on a free port, driven by headless Chromium.

A plain module, like ``browser.py``: a test imports what it uses from here. (Not named
``jupyterlab.py``: the tests folder is on ``sys.path``, and it would hide the real package.)

- :class:`JupyterLab` starts ``jupyter lab`` on loopback with a fixed token, a root directory
  and settings of its own (no news toast, no autosave), waits until it answers, and stops it,
  and every kernel it started, even when the test fails. ``base_url`` and ``env`` start it as
  JupyterHub and Binder do: under ``/user/<name>/``, with the hub's variables.
- :func:`open_notebook`, :func:`run_cells` and :func:`wait_for_kernel` drive the notebook
  through JupyterLab's own commands (the server exposes its app to the page for this), which
  is steadier than clicking through menus.
- :func:`check_widget_chat` is the whole browser check of the chat widgets, taking the notebook
  as a parameter: the test runs it on core lesson 04's solution notebook, so that the lesson itself
  is what is tested in the browser.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import httpx2
import nbformat

from browser import ARTIFACTS
from deadlines import scaled, wait_until
from wslab.ports import free_port

#: Where this module's screenshots go.
SCREENSHOTS = ARTIFACTS / "jupyterlab"

#: JupyterLab settings for the test's own settings directory: no "news?" toast and no request
#: for news or updates, no autosave (a lesson's notebook must not change under the test).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}

#: How long JupyterLab may take to answer, and to stop (both scaled).
START_TIMEOUT = 30.0
STOP_TIMEOUT = scaled(10.0)


class JupyterLab:
    """``jupyter lab`` in a subprocess, isolated from the user's own Jupyter files.

    Its config, data, runtime, settings and workspace directories (and IPython's) all live
    under ``home``, so the test neither reads nor writes anything of the person running it.
    """

    def __init__(self, root_dir: Path, home: Path, *, base_url: str = "/",
                 env: dict[str, str] | None = None) -> None:
        self.root_dir = root_dir
        self.home = home
        self.port = free_port()
        self.token = secrets.token_hex(16)
        #: The path the server is served under: ``/`` here, ``/user/<name>/`` on JupyterHub
        #: and Binder (``--ServerApp.base_url``).
        self.base_url = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
        #: The server's address, base URL included, without the trailing slash.
        self.base = f"http://127.0.0.1:{self.port}{self.base_url}".rstrip("/")
        #: Variables set for the server and so for its kernels (a hub's, for instance).
        self.env = dict(env or {})
        self.log_path = home / "jupyterlab.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._http = httpx2.Client(trust_env=False, timeout=5)

    def start(self) -> JupyterLab:
        settings = self.home / "lab-settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), encoding="utf-8")
        env = dict(os.environ,
                   JUPYTER_CONFIG_DIR=str(self.home / "config"),
                   JUPYTER_DATA_DIR=str(self.home / "data"),
                   JUPYTER_RUNTIME_DIR=str(self.home / "runtime"),
                   JUPYTERLAB_SETTINGS_DIR=str(settings),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.home / "workspaces"),
                   IPYTHONDIR=str(self.home / "ipython"), **self.env)
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser",
                   "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
                   f"--ServerApp.base_url={self.base_url}",
                   "--ServerApp.port_retries=0", f"--ServerApp.token={self.token}",
                   f"--ServerApp.root_dir={self.root_dir}",
                   "--ServerApp.terminals_enabled=False",
                   # window.jupyterapp: run cells and read the kernel's state by command.
                   "--LabApp.expose_app_in_browser=True"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(command, env=env, stdout=log,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_until_it_answers(self._process)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_it_answers(self, process: subprocess.Popen[bytes]) -> None:
        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                return self._http.get(f"{self.base}/api", params={"token": self.token}).is_success
            except httpx2.TransportError:
                return False

        # Every 0.2 s: each look is an HTTP request to a server busy starting.
        wait_until(answers, lambda: f"JupyterLab to answer:\n{self.log_tail()}", START_TIMEOUT,
                   interval=0.2)

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}?token={self.token}"

    def kernels(self) -> list[dict[str, Any]]:
        return self._http.get(f"{self.base}/api/kernels", params={"token": self.token}).json()

    def stop(self) -> None:
        """Shut down every kernel, then the server; kill whatever is left. Safe to repeat."""
        process, self._process = self._process, None
        if process is None:
            return
        leftovers = _descendants(process.pid)
        if process.poll() is None:
            try:
                for kernel in self.kernels():
                    self._http.delete(f"{self.base}/api/kernels/{kernel['id']}",
                                      params={"token": self.token})
            except (httpx2.HTTPError, ValueError):
                pass
            process.send_signal(signal.SIGTERM)  # the server also shuts down its kernels
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)
        for child in leftovers:  # kernels run in sessions of their own: not in the group
            _kill(child)
        self._http.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> JupyterLab:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def _descendants(pid: int) -> list[Any]:
    import psutil  # a dependency of ipykernel

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _kill(process: Any) -> None:
    import psutil

    try:
        if process.is_running():
            process.kill()
            process.wait(STOP_TIMEOUT)
    except psutil.Error:
        pass


# -- the notebook in the browser -----------------------------------------------------------------

def open_notebook(page: Any, lab: JupyterLab, name: str, *, workspace: str | None = None) -> None:
    """Open ``name`` (relative to the root dir) and wait until its kernel is idle.

    ``workspace``: open it in a JupyterLab workspace of that name, a new one for each notebook
    when one JupyterLab opens several. In the default workspace, JupyterLab would reopen the
    notebooks of earlier tests next to it, and any of them could end up in front.
    """
    where = f"lab/workspaces/{workspace}/tree/{name}" if workspace else f"lab/tree/{name}"
    page.goto(lab.url(where))
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext",
                           timeout=scaled(30) * 1000)
    wait_for_kernel(page)
    dismiss_toasts(page)


def wait_for_kernel(page: Any, timeout: float = 30.0) -> None:
    """Wait until the notebook's kernel is idle (the status bar's "Python 3 (ipykernel) | Idle")."""
    page.wait_for_function(
        """() => {
            const panel = window.jupyterapp.shell.currentWidget;
            const kernel = panel && panel.sessionContext.session
                && panel.sessionContext.session.kernel;
            return kernel && kernel.status === 'idle';
        }""", timeout=scaled(timeout) * 1000)


def run_cells(page: Any, *, before: str | None = None, from_: str | None = None,
              timeout: float = 40.0) -> None:
    """Run the notebook's cells, all of them or those above/below a marker, and wait for them.

    ``before``: run every cell above the first cell whose source contains this text.
    ``from_``: run that cell and every cell below it. Neither: run all cells. Waits until each
    cell that was run has an execution count and the kernel is idle again.
    """
    marker = before if before is not None else from_
    result = page.evaluate(
        """async ([marker, above]) => {
            const app = window.jupyterapp;
            const panel = app.shell.currentWidget;
            const cells = panel.content.widgets;
            let first = 0, last = cells.length;
            if (marker !== null) {
                const index = cells.findIndex(
                    c => c.model.sharedModel.getSource().includes(marker));
                if (index < 0) return {error: `no cell contains ${JSON.stringify(marker)}`};
                panel.content.activeCellIndex = index;
                if (above) { last = index; } else { first = index; }
            }
            const command = marker === null ? 'notebook:run-all-cells'
                : above ? 'notebook:run-all-above' : 'notebook:run-all-below';
            await app.commands.execute(command);
            return {first, last};
        }""", [marker, before is not None])
    if "error" in result:
        raise AssertionError(result["error"])
    _wait_for_cells(page, result["first"], result["last"], timeout)


def start_cell(page: Any, marker: str) -> int:
    """Start running the first cell whose source contains ``marker``; return its index.

    Returns as soon as the cell shows that it runs (``[*]``), so it suits a cell that takes a
    while: a test can click while it runs. Wait for its end with :func:`wait_for_cell`.
    """
    index = page.evaluate(
        """async (marker) => {
            const app = window.jupyterapp;
            const panel = app.shell.currentWidget;
            const index = panel.content.widgets.findIndex(
                c => c.model.sharedModel.getSource().includes(marker));
            if (index < 0) return -1;
            panel.content.activeCellIndex = index;
            app.commands.execute('notebook:run-cell');
            return index;
        }""", marker)
    if index < 0:
        raise AssertionError(f"no cell contains {marker!r}")
    page.wait_for_function(
        """(index) => {
            const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
            return cell.node.querySelector('.jp-InputPrompt').textContent.includes('*');
        }""", arg=index, timeout=scaled(10) * 1000)
    return index


def wait_for_cell(page: Any, index: int, timeout: float = 40.0) -> str:
    """Wait until the cell at ``index`` has run; return the text of its output."""
    _wait_for_cells(page, index, index + 1, timeout)
    return page.evaluate(
        """(index) => {
            const cell = window.jupyterapp.shell.currentWidget.content.widgets[index];
            const area = cell.node.querySelector('.jp-Cell-outputArea');
            return area ? area.innerText : '';
        }""", index)


def _wait_for_cells(page: Any, first: int, last: int, timeout: float) -> None:
    page.wait_for_function(
        """([first, last]) => {
            const panel = window.jupyterapp.shell.currentWidget;
            const cells = panel.content.widgets.slice(first, last)
                .filter(c => c.model.type === 'code');
            const kernel = panel.sessionContext.session.kernel;
            return kernel.status === 'idle'
                && cells.every(c => c.model.executionCount !== null
                                    && !c.node.querySelector('.jp-InputPrompt')
                                          .textContent.includes('*'));
        }""", arg=[first, last], timeout=scaled(timeout) * 1000)


def execute_in_kernel(page: Any, code: str, timeout: float = 20.0) -> str:
    """Run ``code`` in the notebook's kernel, outside any cell; return what it printed.

    For a test's own steps (stop a server, look at a variable) that are not the notebook's.
    Raises AssertionError with the traceback's last line when the code fails.
    """
    result = page.evaluate(
        """async (code) => {
            const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
            const future = kernel.requestExecute({code, store_history: false});
            let out = '', error = null;
            future.onIOPub = (msg) => {
                if (msg.header.msg_type === 'stream') out += msg.content.text;
                if (msg.header.msg_type === 'error')
                    error = `${msg.content.ename}: ${msg.content.evalue}`;
            };
            await future.done;
            return {out, error};
        }""", code)
    if result["error"]:
        raise AssertionError(f"kernel code failed with {result['error']}:\n{code}")
    return result["out"]


def dismiss_toasts(page: Any) -> None:
    """Close any notification toast (such as "get notified about Jupyter news?")."""
    for close in page.locator(".jp-toast-button, .Toastify__close-button").all():
        try:
            close.click(timeout=1000)
        except Exception:  # noqa: BLE001  (a toast that went by itself)
            pass


def screenshot(page: Any, name: str, element: Any = None) -> Path:
    """Save a screenshot (of the page, or of one element) as ``test-artifacts/jupyterlab/``."""
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    (element or page).screenshot(path=str(path))
    return path


# -- the chat widgets ----------------------------------------------------------------------------

CLEAN_UP_MARKER = "## Clean up"


def fresh_copy(notebook: Path, target: Path) -> Path:
    """Copy ``notebook`` without its outputs and saved widget state.

    An executed notebook (a lesson's solution) keeps the widgets it showed; JupyterLab would
    draw them again from that saved state, next to the live ones the test is looking for.
    """
    content = nbformat.read(notebook, as_version=4)
    content.metadata.pop("widgets", None)
    for cell in content.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(content, target)
    return target


def check_widget_chat(new_page: Any, notebook: Path, work_dir: Path, *,
                      sender: str = "alice", receiver: str = "bob", online: int = 2,
                      clean_up: str | None = CLEAN_UP_MARKER, prefix: str = "widget-chat",
                      more: Callable[[Any], None] | None = None) -> None:
    """The browser check of the chat widgets, on any notebook that shows two of them.

    Copies ``notebook`` into ``work_dir`` without outputs (nothing is saved into the original),
    opens it in a fresh JupyterLab, runs every cell above the ``clean_up`` marker (every cell
    when None), waits until both widgets say ``online`` are online (everyone the notebook put
    in the room), types into ``sender``'s text box, presses Enter, and expects the line exactly
    once in ``receiver``'s log; then ``receiver`` answers with the Send button. ``more(page)``
    runs next, for checks of the caller's own. With a ``clean_up`` marker, the remaining cells
    run last and both widgets must say "closed".
    Screenshots: ``test-artifacts/jupyterlab/<prefix>-*.png``.
    """
    from playwright.sync_api import expect

    root = work_dir / "root"
    root.mkdir(parents=True, exist_ok=True)
    fresh_copy(notebook, root / notebook.name)
    with JupyterLab(root, work_dir / "home") as lab:
        page = new_page()
        try:
            open_notebook(page, lab, notebook.name)
            run_cells(page, before=clean_up)
            mine = page.locator(f".wslab-chat-{sender}")
            theirs = page.locator(f".wslab-chat-{receiver}")
            for chat in (mine, theirs):
                expect(chat.locator(".wslab-status")).to_have_text("connected")
                expect(chat.locator(".wslab-count")).to_have_text(f"{online} online")
            mine.scroll_into_view_if_needed()
            screenshot(page, f"{prefix}-1-connected")

            # Enter in the sender's box: the line reaches the receiver, exactly once.
            text = "Hello from the browser <b>not bold</b> & done"
            box = mine.locator(".widget-text input")
            box.click()
            box.press_sequentially(text, delay=20)
            # The browser sends keystrokes to the kernel one at a time, each after the last was
            # acknowledged; on a busy machine the last ones can still be on their way when a
            # script presses Enter in the same millisecond, and the widget can then only repair
            # the line afterwards (tests/test_widgets.py covers that). A person pauses, and so
            # does this test: it presses Enter once the kernel is idle and has had time to catch up.
            wait_for_kernel(page)
            page.wait_for_timeout(1000)
            box.press("Enter")
            expect(box).to_have_value("")
            heard = theirs.locator(".wslab-other").filter(has_text=text)
            expect(heard).to_have_count(1)
            expect(heard.locator(".wslab-who")).to_have_text(sender)
            expect(heard.locator(".wslab-time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
            expect(mine.locator(".wslab-own").filter(has_text=text)).to_have_count(1)
            expect(theirs.locator(".wslab-log b")).to_have_count(0)  # shown as text, not markup

            # Leaving the box, or Enter in an empty box, sends nothing.
            box.press("Enter")
            theirs.locator(".wslab-log").click()
            reply = "Hi, got it!"
            other_box = theirs.locator(".widget-text input")
            other_box.fill(reply)
            theirs.locator(".widget-button").click()
            expect(other_box).to_have_value("")
            expect(mine.locator(".wslab-other").filter(has_text=reply)).to_have_count(1)
            expect(heard).to_have_count(1)
            expect(theirs.locator(".wslab-own").filter(has_text=reply)).to_have_count(1)

            # The receive loop prints nothing into the notebook.
            expect(page.locator(".jp-OutputArea-output[data-mime-type="
                                "'application/vnd.jupyter.stderr']")).to_have_count(0)
            screenshot(page, f"{prefix}-2-chatted")
            screenshot(page, f"{prefix}-3-widgets", mine.locator("xpath=.."))
            if more is not None:
                more(page)

            if clean_up is not None:
                run_cells(page, from_=clean_up)
                for chat in (mine, theirs):
                    expect(chat.locator(".wslab-status")).to_have_text(re.compile("^closed"))
                    expect(chat.locator(".widget-text input")).to_be_disabled()
                screenshot(page, f"{prefix}-9-closed", mine.locator("xpath=.."))
        except Exception:
            screenshot(page, f"{prefix}-failed")
            print(f"JupyterLab's log:\n{lab.log_tail()}")
            raise
