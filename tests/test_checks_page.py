"""Lesson 03's check names the mistake behind a wrong script, hint first, accepts a right one in
any style, waits for the untouched script, and never passes the kit's own fixed script.

The chat-line script is JavaScript, which a kernel cannot run, so its check reads it. The browser
tests below prove that what the check says is what the page does: right answers, put into the
lecture's page and served by a real server, show mallory's line as text in real Chromium; wrong
ones do what the check's hint says (run mallory's code, show the tags, never connect...).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from pathlib import Path

import jupytext
import nbformat
import pytest

from browser import page_url, require_browser
import notebook_run
from build_notebooks import split_code
from exercises import fresh, judged, none_passed, untouched, wrong_in_the_notebook
from verdicts import failure, said, verdict
from wslab.answers import page as answers
from wslab.checks.page import (INNER_HTML, ScriptError, check_chat_line_js, declared_names,
                               send_as, tokenize)
from wslab.display import LECTURE_CHAT_LINE, lecture_page

LESSON = Path(__file__).resolve().parent.parent / "labsrc" / "lessons" / "03_browser_page.py"


# -- the exercise: chat_line_js ------------------------------------------------------------------

CLASS_LINE = "messageDiv.className = `message ${data.client_id === clientId ? 'user' : 'other'}`;"
WHO = "const who = data.client_id === clientId ? 'You' : 'Client ' + data.client_id;"

#: Right answers, each in another style than the lesson's solution (answers.CHAT_LINE_JS).
SPAN_ELEMENT = f"""
{CLASS_LINE}
{WHO}
messageDiv.textContent = `${{who}}: ${{data.message}} `;
const time = document.createElement('span');
time.className = 'timestamp';
time.textContent = data.timestamp;
messageDiv.appendChild(time);
"""
CONSTANT_MARKUP = f"""
{CLASS_LINE}
// markup of our own, no value in it; the values go in as text afterwards
messageDiv.innerHTML = '<span class="who"></span>: <span class="text"></span> ' +
  '<span class="timestamp"></span>';
messageDiv.querySelector('.who').textContent =
  data.client_id === clientId ? "You" : "Client " + data.client_id;
messageDiv.querySelector('.text').textContent = data.message;
messageDiv.querySelector('.timestamp').textContent = data.timestamp
"""
APPEND_TEXT = f"""
{CLASS_LINE}
{WHO}
const stamp = document.createElement('span');
stamp.className = 'timestamp';
stamp.append(data.timestamp);
messageDiv.append(`${{who}}: `, document.createTextNode(data.message), ' ', stamp);
"""
RIGHT_SCRIPTS = {"span element": SPAN_ELEMENT, "constant markup": CONSTANT_MARKUP,
                 "append text": APPEND_TEXT}

#: Wrong answers: (script, words in the verdict, words in the hint).
WRONG_SCRIPTS = {
    "only the class changed": (
        LECTURE_CHAT_LINE.replace("'user' : 'other'", "'other' : 'user'"),
        ["line 2: messageDiv.innerHTML ="], "Line 2 still puts a value into innerHTML"),
    "innerHTML escaped by hand": (
        f"{CLASS_LINE}\n{WHO}\nmessageDiv.innerHTML = `${{who}}: "
        "${data.message.replace('<', '&lt;')} ${data.timestamp}`;",
        ["line 3: messageDiv.innerHTML"], "still puts a value into innerHTML"),
    "innerHTML +=": (
        f"{CLASS_LINE}\n{WHO}\nmessageDiv.textContent = who + ': ';\n"
        "messageDiv.innerHTML += data.message + ' ' + data.timestamp;",
        ["line 4:"], "Line 4 still puts a value into innerHTML"),
    "insertAdjacentHTML": (
        f"{CLASS_LINE}\n{WHO}\n"
        "messageDiv.insertAdjacentHTML('beforeend', `${who}: ${data.message} ${data.timestamp}`);",
        ["line 3:"], "still puts a value into insertAdjacentHTML"),
    "textContent swapped in, tags kept": (
        LECTURE_CHAT_LINE.replace("innerHTML", "textContent"),
        ["line 2: messageDiv.textContent = `${data.client_id", "<span class=\"timestamp\">${data.timestamp}</span> `;"],
        "gives textContent a string with a tag in it, <span class=\"timestamp\">"),
    "a typo in a name": (
        answers.CHAT_LINE_JS.replace("messageDiv.textContent", "mesageDiv.textContent"),
        ["line 3: mesageDiv.textContent ="], "Line 3 uses mesageDiv, which is never declared"),
    "a backquote never closed": (
        answers.CHAT_LINE_JS.replace("${data.timestamp}\n`;", "${data.timestamp};"),
        ["JavaScript a browser can read"], "a template literal (in `backquotes`) is never closed"),
    "a quote never closed": (
        SPAN_ELEMENT.replace("'timestamp';", "'timestamp;"),
        ["line 6: time.className = 'timestamp;"], "a string that starts with ' is never closed"),
    "one brace too many": (
        SPAN_ELEMENT + "}\n",
        ["JavaScript a browser can read"], "there is one } too many"),
    "the time dropped": (
        f"{CLASS_LINE}\n{WHO}\nmessageDiv.textContent = `${{who}}: ${{data.message}}`;",
        ["nothing in your script shows the time"], "no longer shows the time (data.timestamp)"),
    "the class line dropped": (
        answers.CHAT_LINE_JS.replace(CLASS_LINE, ""),
        ["'message user' or 'message other'"], "no longer shows the line's class"),
    "You dropped": (
        "messageDiv.className = 'message other';\n"
        "messageDiv.textContent = `Client ${data.client_id}: ${data.message} ${data.timestamp}`;",
        ["'You' for your own lines"], "no longer shows 'You' for your own lines"),
}


@pytest.mark.parametrize("name", list(WRONG_SCRIPTS))
def test_wrong_scripts_are_explained(name, capsys):
    script, words, hint = WRONG_SCRIPTS[name]
    assert check_chat_line_js(script) is answers.CHAT_LINE_JS
    failure(verdict(capsys), "chat_line_js", "reading your chat_line_js", *words, hint=hint)


def test_a_script_that_is_not_a_string_is_explained(capsys):
    assert check_chat_line_js(None) is answers.CHAT_LINE_JS
    failure(verdict(capsys), "chat_line_js", "got: None",
            hint="keep the triple quotes around it")


def test_the_untouched_script_is_not_done_yet(capsys):
    for script in (LECTURE_CHAT_LINE, "\n" + LECTURE_CHAT_LINE + "\n"):
        untouched(check_chat_line_js(script), answers.CHAT_LINE_JS, "chat_line_js", capsys)


@pytest.mark.parametrize("script", [answers.CHAT_LINE_JS, *RIGHT_SCRIPTS.values()],
                         ids=["solution", *RIGHT_SCRIPTS])
def test_right_scripts_in_any_style_pass(script, capsys):
    assert check_chat_line_js(script) is script
    out = capsys.readouterr().out
    assert out == ("✅ chat_line_js: your script puts every value in as text, and still shows "
                   "who, message and time.\n")


def test_the_reader_knows_declarations_strings_and_templates():
    tokens = tokenize("const {a, b: c} = x; let [d] = y; function f(e, g = 1) {}\n"
                      "const h = (i, j) => i; k => k; try {} catch (err) {}")
    assert declared_names(tokens) == {"a", "c", "d", "f", "e", "g", "h", "i", "j", "k", "err"}
    template = tokenize("`a ${b + `c ${d}`} e`")[0]
    assert template.kind == "template" and template.text == "a  e"
    assert [token.text for token in template.parts[0]][:2] == ["b", "+"]
    with pytest.raises(ScriptError, match="where the \\( of line 1 is still open"):
        tokenize("f(a]")
    assert tokenize("'it\\'s' // a comment\n/* more */")[0].text == "it\\'s"


def test_the_lesson_starts_from_the_lecture_script_and_solves_it_as_the_answers_do():
    lesson = jupytext.read(LESSON, fmt="py:percent")
    cell = next(cell for cell in lesson.cells if "chat_line_js = " in cell.source)
    student, solution = split_code(cell.source, "the exercise cell")
    scope: dict[str, str] = {}
    exec(student, scope)  # noqa: S102  (two string assignments)
    assert scope["chat_line_js"].strip("\n") == LECTURE_CHAT_LINE
    exec(solution, scope)  # noqa: S102
    assert scope["chat_line_js"] == answers.CHAT_LINE_JS


# -- the prediction, its demo, and the notebook as a student runs it -----------------------------

def test_the_prediction_is_judged_on_what_the_demo_did(capsys):
    right, out = judged(INNER_HTML, "a", "ran", capsys)
    assert right is False
    assert "you predicted (a)" in out and "what happened was (c)" in out
    assert "runs its onerror attribute" in out


async def test_the_demo_waits_for_its_page_and_says_so_when_it_never_comes(chat_server, capsys):
    fresh(INNER_HTML).predict("c")
    capsys.readouterr()
    assert await send_as(chat_server, "mallory", "hi <b>", page="nobody",
                         settles=INNER_HTML) is None
    assert "The page 'nobody' is not connected" in said(capsys)
    assert INNER_HTML.happened is None  # nothing happened: the prediction is not judged


async def test_without_a_page_the_demo_reports_the_line_as_text(chat_server, capsys):
    assert await send_as(chat_server, "py", "hello <b>there</b>") == "text"
    out = said(capsys)
    assert "py sent: hello <b>there</b>" in out and "room heard: py: (that line)" in out


@pytest.mark.slow
def test_in_the_notebook_a_wrong_script_never_passes_however_often_its_check_runs(tmp_path,
                                                                                  monkeypatch):
    """The script is a string, not a stub to replace: the test writes a copy of the notebook
    with a wrong script in its exercise cell, and runs that."""
    script, _, hint = WRONG_SCRIPTS["textContent swapped in, tags kept"]
    notebook = nbformat.read(notebook_run.ROOT / "notebooks" / f"{LESSON.stem}.ipynb",
                             as_version=4)
    cell = next(cell for cell in notebook.cells
                if cell.cell_type == "code" and cell.source.startswith("chat_line_js = "))
    cell.source = f'chat_line_js = """{script}"""\n'
    (tmp_path / "notebooks").mkdir()
    nbformat.write(notebook, tmp_path / "notebooks" / f"{LESSON.stem}.ipynb")
    monkeypatch.setattr(notebook_run, "ROOT", tmp_path)
    outputs = wrong_in_the_notebook(LESSON.stem, None, 2)
    none_passed(outputs, "chat_line_js")
    for output in outputs:
        assert output.startswith("❌ chat_line_js: not right yet.\n   hint:"), output
        assert hint in " ".join(output.split())


# -- in a real browser: the check says what the page does ----------------------------------------

PINK = "rgb(255, 192, 203)"
IMG = ("<img src=x onerror=\"document.body.style.background='pink';"
       " ws.send(JSON.stringify({message: 'I did not write this'}))\">")


@pytest.fixture
def chromium():
    require_browser()  # skips the browser tests without Chromium (fails instead when CI is set)


def serve(server, path, script):
    """Serve the lecture's page with ``script`` for its chat lines at ``path``."""
    from fastapi.responses import HTMLResponse

    server.app.add_api_route(path, lambda: HTMLResponse(lecture_page(script)), methods=["GET"])
    return page_url(server.url, path, name="fixed")


def attack(server, page_name, text=f"Nice page! {IMG}"):
    """mallory's line, sent from a thread of its own (Playwright's sync API owns this one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, send_as(server, "mallory", text,
                                                page=page_name)).result(timeout=20)


@pytest.mark.browser
@pytest.mark.parametrize("script", [answers.CHAT_LINE_JS, *RIGHT_SCRIPTS.values()],
                         ids=["solution", *RIGHT_SCRIPTS])
def test_a_right_script_shows_mallorys_line_as_text_in_chromium(chromium, chat_server, new_page,
                                                                script):
    from playwright.sync_api import expect

    page = new_page(serve(chat_server, "/mine", script))
    expect(page.locator("#connectionStatus")).to_have_text("Connected", timeout=5000)
    assert attack(chat_server, "fixed") == "text"
    line = page.locator("#messages .message.other").filter(has_text="Client mallory")
    expect(line).to_have_count(1)
    text = " ".join(line.inner_text().split())
    assert f"Nice page! {IMG}" in text and re.search(r"\d\d:\d\d:\d\d", text), text
    assert page.locator("#messages img").count() == 0
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != PINK
    page.fill("#messageText", "my own <i>line</i>")
    page.press("#messageText", "Enter")
    mine = page.locator("#messages .message.user")
    expect(mine).to_contain_text("You:")
    expect(mine).to_contain_text("my own <i>line</i>")
    if script is SPAN_ELEMENT:  # the span back: the time in its own element
        expect(mine.locator("span.timestamp")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))


@pytest.mark.browser
def test_the_untouched_script_runs_mallorys_code_as_the_prediction_says(chromium, chat_server,
                                                                       new_page, capsys):
    page = new_page(serve(chat_server, "/lecture", LECTURE_CHAT_LINE))
    page.wait_for_function("document.getElementById('connectionStatus').textContent"
                           " === 'Connected'")
    fresh(INNER_HTML).predict("c")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        seen = pool.submit(asyncio.run, send_as(chat_server, "mallory", f"Nice page! {IMG}",
                                                page="fixed", settles=INNER_HTML)).result(20)
    assert seen == "ran" and INNER_HTML.happened == "c"
    assert "✅ predict: a chat line with an <img>: you predicted it" in capsys.readouterr().out
    page.wait_for_function(f"getComputedStyle(document.body).backgroundColor === '{PINK}'")


@pytest.mark.browser
@pytest.mark.parametrize("name, shows", [
    ("only the class changed", "ran"),
    ("innerHTML escaped by hand", "ran"),
    ("textContent swapped in, tags kept", '<span class="timestamp">'),
    ("a typo in a name", '{"message": "I <3 this page!'),
])
def test_wrong_scripts_do_in_chromium_what_the_check_says(chromium, chat_server, new_page,
                                                          name, shows):
    from playwright.sync_api import expect

    script = WRONG_SCRIPTS[name][0]
    page = new_page(serve(chat_server, "/mine", script))
    expect(page.locator("#connectionStatus")).to_have_text("Connected", timeout=5000)
    # Escaping by hand replaced only the first "<": mallory puts one in front.
    seen = attack(chat_server, "fixed", f"I <3 this page! {IMG}")
    if shows == "ran":  # innerHTML: mallory's code ran
        assert seen == "ran"
        page.wait_for_function(f"getComputedStyle(document.body).backgroundColor === '{PINK}'")
    else:  # the tags as text, or (a ReferenceError) the lecture's catch shows the raw JSON
        assert seen == "text"
        expect(page.locator("#messages")).to_contain_text(shows)
        assert page.locator("#messages img").count() == 0


@pytest.mark.browser
@pytest.mark.parametrize("name", ["a backquote never closed", "a quote never closed",
                                  "one brace too many"])
def test_a_script_that_cannot_be_read_never_connects(chromium, chat_server, browser, name):
    from playwright.sync_api import expect

    context = browser.new_context()
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(serve(chat_server, "/mine", WRONG_SCRIPTS[name][0]))
        page.wait_for_timeout(800)
        expect(page.locator("#connectionStatus")).to_have_text("")  # onopen never ran
        assert "fixed" not in chat_server.app.state.room.online
        assert errors, "the browser refused the script without a word"
    finally:
        context.close()
