"""The session's end: the whole class in one chat, through the notebook's widgets and the page.

A real ``python -m wslab serve --classroom`` process (on loopback, with a token file of its
own); two student kernels, each running core lesson 04's last step as a student does, with the
line the banner printed pasted in place of ``None`` and a name of their own; and the chat page in
headless Chromium, opened at the address the check gave a student, token included. Each of the
three says a line, and every one of them sees the other two's.

Then the ways a student may fail to get in, each in a student's kernel with the lesson's own
check cell: the placeholder name left in the line, a mistyped token, and a name someone else
takes later. Every process started here (the server, the kernels, the browser's pages) is
stopped at the end, also when the test fails.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from browser import require_browser

require_browser()  # skips this module without Chromium or Playwright (fails instead when CI is set)

from playwright.sync_api import expect  # noqa: E402

from wslab.classroom import NAME_PLACEHOLDER  # noqa: E402

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "notebooks" / "04_widget_chat.ipynb"
#: The pasted line replaces this, in the cell of the lesson's last step.
PASTE_HERE = "me = None"
TIMEOUT = 60


def last_step() -> tuple[str, str]:
    """The lesson's last step as a student meets it: the cell to paste into, and its check."""
    notebook = nbformat.read(LESSON, as_version=4)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    paste = next(source for source in code if PASTE_HERE in source)
    check = code[code.index(paste) + 1]
    assert "check_in_class(me)" in check, check
    return paste, check


class Student:
    """A student's kernel, in which cells run one by one, as Shift+Enter runs them."""

    def __init__(self, client: NotebookClient) -> None:
        self.client = client
        self.count = 0

    def run(self, source: str) -> str:
        """Run ``source`` as the next cell; return what it printed. An error fails the test."""
        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.client.nb.cells) - 1)
        self.count += 1
        return "".join(output.get("text", "") for output in cell.outputs
                       if output.get("output_type") == "stream")

    def join(self, line: str, name: str) -> str:
        """Paste the instructor's line with ``name`` into the lesson's cell, run it and its check."""
        paste, check = last_step()
        self.run(paste.replace("None", line.replace(NAME_PLACEHOLDER, name), 1))
        return self.run(check)


@pytest.fixture
def students():
    """Start student kernels (``students()`` gives one more); all are shut down afterwards."""
    with contextlib.ExitStack() as stack:
        def start() -> Student:
            notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {
                "name": "python3", "display_name": "Python 3", "language": "python"}})
            client = NotebookClient(notebook, timeout=TIMEOUT, kernel_name="python3",
                                    resources={"metadata": {"path": str(LESSON.parent)}})
            stack.enter_context(client.setup_kernel())
            return Student(client)

        yield start


def banner_lines(banner: list[str]) -> tuple[str, str]:
    """The two lines the banner gives for notebooks: the import, and the ChatWidget line."""
    text = [line.strip() for line in banner]
    return (next(line for line in text if line.startswith("from wslab")),
            next(line for line in text if line.startswith("ChatWidget(")))


def test_the_whole_class_chats_through_widgets_and_the_page(serve, students, new_page,
                                                             tmp_path):
    process, port, banner = serve("--classroom", "--host", "127.0.0.1", "--token-file",
                                  str(tmp_path / "token"), "--status-every", "0")
    importing, line = banner_lines(banner)
    assert importing == "from wslab.widgets import ChatWidget"

    ada, bo = students(), students()
    said = ada.join(line, "ada")
    assert said.startswith("✅ join the class: you are in the class chat as ada, 1 online."), said
    page_address = re.search(r"The same chat in your browser: (\S+)", said)[1]
    assert page_address.startswith(f"http://127.0.0.1:{port}/chat?token=")

    # The page, opened at the address the check gave: it joins as ada-web.
    page = new_page(page_address)
    expect(page.locator("#participants")).to_have_text("2 online", timeout=15_000)
    said = bo.join(line, "bo")
    assert said.startswith("✅ join the class: you are in the class chat as bo, 3 online."), said
    expect(page.locator("#participants")).to_have_text("3 online", timeout=15_000)

    lines = {"ada": "Hello from ada's notebook", "bo": "Hi all, bo here <b>not bold</b>",
             "ada-web": "And hello from ada's browser"}
    ada.run(f"await me.say({lines['ada']!r})")
    bo.run(f"await me.say({lines['bo']!r})")
    page.locator("#messageText").fill(lines["ada-web"])
    page.locator("#messageText").press("Enter")

    for student, name in ((ada, "ada"), (bo, "bo")):
        heard = student.run(
            f"for sender, text in {[(who, text) for who, text in lines.items() if who != name]!r}:\n"
            "    await me.wait_for_text(text, sender=sender, timeout=15)\n"
            "print(sorted(set(me.chat_lines)))")
        assert heard.strip() == repr(sorted((who, text) for who, text in lines.items())), heard
    messages = page.locator("#messages")
    for text in (lines["ada"], lines["bo"]):
        expect(messages).to_contain_text(text, timeout=15_000)
    expect(messages.locator("b")).to_have_count(0)  # the markup is shown as text

    # The ways of not getting in, each with the lesson's own cell and check.
    carl = students()
    with pytest.raises(Exception, match="cannot use the name 'your_name'"):
        carl.join(line, NAME_PLACEHOLDER)  # the cell raises; nobody else was pushed out
    token = re.search(r'token="([^"]+)"', line)[1]
    said = carl.join(line.replace(token, token[::-1]), "carl")
    assert said.startswith("❌ join the class: not right yet."), said
    assert "The server refused the join token: copy it again" in " ".join(said.split())
    said = carl.join(line, "ada")  # a name somebody already has: carl is refused, not ada
    assert said.startswith("❌ join the class: not right yet."), said
    assert "Someone else is in the chat with the name ada" in " ".join(said.split()), said
    said = ada.run(last_step()[1])
    assert said.startswith("✅ join the class: you are in the class chat as ada"), said
    expect(page.locator("#participants")).to_have_text("3 online", timeout=15_000)
    assert process.poll() is None  # the server is still running: the fixture stops it
