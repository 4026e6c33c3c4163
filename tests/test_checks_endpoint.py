"""Lesson 01's checks: each names the mistake of a wrong answer, first, and passes a right one.

The main.py check starts ``uvicorn main:app`` as a process for every answer, and the endpoint
check serves every answer on a real uvicorn and talks to it with a real client, so these tests
do too. The deadlines are shortened where a wrong answer is one that never answers.
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest
from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect

from exercises import fresh, judged, never_passed, none_passed, untouched, wrong_in_the_notebook
from mutants import mutant, mutant_of
from verdicts import failure, verdict
from wslab.answers import endpoint as answers
from wslab.checks import endpoint as ep
from wslab.checks.progress import show_progress

GREETING = ep.GREETING


@pytest.fixture
def short_deadlines(monkeypatch):
    monkeypatch.setattr(ep, "OPEN_TIMEOUT", 0.5)
    monkeypatch.setattr(ep, "ANSWER_TIMEOUT", 0.5)
    monkeypatch.setattr(ep, "END_TIMEOUT", 0.5)


# Wrong answers that forget an await leave coroutines unawaited, in the server: that is the point.
pytestmark = pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")


# -- exercise 1: main.py, served by uvicorn main:app --------------------------------------------

IMPORTS = """from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()

"""
#: The lecture's echo endpoint, as main.py holds it below the health check.
ECHO = "\n\n" + inspect.getsource(answers.echo)
STUB = """# TODO: the health check, GET / (see the exercise above)
def health():
    raise NotImplementedError("exercise: main.py")
"""
#: The health check, the exercise's answer.
RIGHT = inspect.getsource(answers.health)
RESPONSE = '{"message": "WebSocket Server is running"}'


def health(*edits: tuple[str, str]) -> str:
    """The health check with ``edits`` made: a wrong answer."""
    source = RIGHT
    for old, new in edits:
        source = mutant(source, old, new)
    return source


def main_py(folder: Path, health: str, *, imports: str = IMPORTS, echo: str = ECHO) -> Path:
    """Write ``main.py`` in ``folder`` as the exercise's cell does, with ``health`` in its place."""
    file = folder / "main.py"
    file.write_text(imports + health + echo, encoding="utf-8")
    return file


WRONG_MAINS = {
    "returns_the_text": (health((RESPONSE, '"WebSocket Server is running"')),
                         "answered a JSON string, not an object",
                         ['got: 200 OK, "WebSocket Server is running"']),
    "prints_the_answer": (health((f"return {RESPONSE}", f"print({RESPONSE})")),
                          "printed its answer and returned None", ["got: 200 OK, null"]),
    "returns_nothing": (health((f"return {RESPONSE}", RESPONSE)),
                        "answered null, JSON's None", ["got: 200 OK, null"]),
    "other_path": (health(('@app.get("/")', '@app.get("/health")')),
                   "Nothing answers GET /", ["404 Not Found", "['/health']"]),
    "no_decorator": (health(('@app.get("/")\n', "")),
                     "Nothing answers GET /", ["404 Not Found", "routes of your app: none"]),
    "websocket_decorator": (health(("@app.get", "@app.websocket")),
                            "@app.websocket is for WebSocket connections only", ["404 Not Found"]),
    "post_not_get": (health(("@app.get", "@app.post")), "does not take GET",
                     ["405 Method Not Allowed"]),
    "other_words": (health(("async def", "def"), ("WebSocket Server", "Websocket server")),
                    "differs from the lecture's", ['{"message": "Websocket server is running"}']),
    "other_field": (health(('"message"', '"status"')), "A field name differs", ["['status']"]),
    "a_list": (health((RESPONSE, '["WebSocket Server is running"]')),
               "a JSON list, not an object", []),
    "raises": (health(('running"}', 'running", "load": 1 / 0}')),
               "raised an exception, so the server answered 500",
               ["500 Internal Server Error", "ZeroDivisionError: division by zero"]),
    "syntax_error": (health(("health():", "health()")), "Python cannot read main.py",
                     ["SyntaxError at line 6"]),
    "runs_a_server": (RIGHT + """
import uvicorn

uvicorn.run(app, port=8000)
""", "starts a server itself as it is imported", ["line 11: uvicorn.run(app, port=8000)"]),
    "fails_on_import": (RIGHT + """
app.add_route("/", Health)
""", "raised an exception as it was imported", ["NameError", "at line 9: app.add_route"]),
    "kits_app": (RIGHT + """
from wslab.answers.endpoint import app
""", "imports the kit's answer", []),
}


@pytest.mark.parametrize("name", WRONG_MAINS)
@pytest.mark.slow
async def test_each_wrong_main_py_gets_the_hint_that_names_its_mistake_first(
        name, tmp_path, capsys):
    health, hint, words = WRONG_MAINS[name]
    carried_on = await ep.check_main_py(main_py(tmp_path, health))
    failure(verdict(capsys), "main.py", *words, hint=hint)
    assert carried_on is answers.app


async def test_an_app_under_another_name_is_named(tmp_path, capsys):
    file = main_py(tmp_path, RIGHT.replace("@app", "@application"),
                   imports=IMPORTS.replace("app =", "application ="),
                   echo=ECHO.replace("@app", "@application"))
    assert await ep.check_main_py(file) is answers.app
    failure(verdict(capsys), "main.py", "no variable app in main.py",
            hint="serves the variable named app in main.py")


async def test_a_file_never_written_is_named(tmp_path, capsys):
    assert await ep.check_main_py(tmp_path / "main.py") is answers.app
    failure(verdict(capsys), "main.py", "got: no such file",
            hint="Run the cell that starts with %%writefile main.py")


@pytest.mark.slow
async def test_a_broken_echo_is_named_too(tmp_path, short_deadlines, capsys):
    unawaited = mutant(ECHO, "await websocket.send_text(text)", "websocket.send_text(text)")
    assert await ep.check_main_py(main_py(tmp_path, RIGHT, echo=unawaited)) is answers.app
    failure(verdict(capsys), "main.py", "nothing within 0.5 s",
            hint="`websocket.send_text(text)` is a call to an async function without await")


@pytest.mark.parametrize("stub", [STUB, '@app.get("/")\n' + STUB],
                         ids=["untouched", "decorated_stub"])
@pytest.mark.slow
async def test_the_untouched_main_py_stub_is_not_done_yet(stub, tmp_path, capsys):
    untouched(await ep.check_main_py(main_py(tmp_path, stub)), answers.app, "main.py", capsys)


@pytest.mark.slow
async def test_a_right_main_py_in_another_style_passes_and_is_carried_on(tmp_path, capsys):
    other_style = """@app.api_route("/", methods=["GET"])
def health() -> dict[str, str]:
    answer = dict(message="WebSocket Server is running")
    return answer
"""
    app = await ep.check_main_py(main_py(tmp_path, other_style))
    assert capsys.readouterr().out == (
        "✅ main.py: served by uvicorn main:app, it answered GET / and echoed at /ws/echo.\n")
    assert isinstance(app, FastAPI) and app is not answers.app
    assert {route.path for route in app.routes} >= {"/", "/ws/echo"}


@pytest.mark.slow
async def test_the_summary_checks_the_file_as_it_is_now(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exercise = ep.MainFileExercise()
    assert await exercise.status({}) == "failed"  # no file yet
    main_py(tmp_path, STUB)
    assert await exercise.status({}) == "not_done"
    main_py(tmp_path, RIGHT)
    assert await exercise.status({}) == "passed"

    async def not_again(path):
        raise AssertionError("the same file was checked again")

    monkeypatch.setattr(ep, "check_main_py", not_again)
    assert await exercise.status({}) == "passed"  # the same text: the verdict stands
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    main_py(tmp_path, WRONG_MAINS["other_path"][0])  # written again after its check passed
    assert await exercise.status({}) == "failed"
    assert capsys.readouterr().out == ""  # the summary prints its own lines, not the check's


# -- exercise 1: shout ----------------------------------------------------------------------------


async def shout_stub(websocket: WebSocket) -> None:
    raise NotImplementedError("exercise: shout")


def plain_def(websocket: WebSocket) -> None:
    pass


async def no_annotation(ws) -> None:
    await ws.accept()


async def never_accepts(websocket: WebSocket) -> None:
    await asyncio.sleep(30)


async def crashes_before_accept(websocket: WebSocket) -> None:
    raise KeyError("client_id")


async def returns_without_accept(websocket: WebSocket) -> None:
    return


async def closes_before_accept(websocket: WebSocket) -> None:
    await websocket.close()


# The lesson's answer, each with one mistake.
ACCEPT = "await websocket.accept()"
GREET = "await websocket.send_text(GREETING)"
SHOUT = "send_text(text.upper())"


def shout_mutant(name, *edits):
    """The lesson's shout with ``edits`` made: a wrong answer named ``name``."""
    return mutant_of(answers.shout, name, *edits)


async def crashes_on_second(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    await websocket.send_text((await websocket.receive_text()).upper())
    await websocket.receive_text()
    raise ValueError("boom")


async def carries_on_after_disconnect(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    while True:
        try:
            await websocket.send_text((await websocket.receive_text()).upper())
        except WebSocketDisconnect:
            continue


def router_at(path: str, endpoint) -> APIRouter:
    router = APIRouter()
    router.add_api_websocket_route(path, endpoint)
    return router


WRONG_SHOUTS = [
    (plain_def, "only an async def can await", ["got: a plain def"]),
    (no_annotation, "annotated with WebSocket", ["parameters: ws"]),
    ("shout", "the function itself", ["got: a str"]),
    (never_accepts, "until the endpoint accepts", ["no answer to the handshake"]),
    (crashes_before_accept, "Read the exception",
     ["HTTP 500: the endpoint raised KeyError: 'client_id' before accepting"]),
    (returns_without_accept, "never accepted the connection", ["returned without accepting"]),
    (closes_before_accept, "closed the connection before accepting", ["HTTP 403"]),
    (shout_mutant("forgets_accept", (f"{ACCEPT}\n    ", "")),
     "used the connection before accepting it", ["HTTP 500"]),
    (shout_mutant("accept_not_awaited", (ACCEPT, "websocket.accept()")),
     "`websocket.accept()` is a call to an async function without await",
     []),
    (shout_mutant("greeting_not_awaited", (GREET, "websocket.send_text(GREETING)")),
     "`websocket.send_text(GREETING)` is a call to an async function without await",
     ["got: nothing within 0.5 s"]),
    (shout_mutant("receive_not_awaited", ("= await websocket.receive_text()",
                                          "= websocket.receive_text()")),
     "`websocket.receive_text()` is a call to an async function without await",
     ["'coroutine' object has no attribute 'upper'"]),
    (shout_mutant("no_greeting", (f"\n    {GREET}", "")),
     "the greeting is the endpoint's first message",
     [f"expected: the greeting {GREETING!r}", "got: nothing within 0.5 s"]),
    (shout_mutant("greets_otherwise", ("send_text(GREETING)", 'send_text("Hello")')),
     "exactly GREETING", ["got: 'Hello'"]),
    (shout_mutant("greet_loudly", ("send_text(GREETING)", "send_text(GREETING.upper())")),
     "greeting went out upper-cased", []),
    (shout_mutant("greet_in_bytes", ("send_text(GREETING)", "send_text(GREETING.encode())")),
     "handed send_text() bytes", []),
    (shout_mutant("send_greeting_json", ("send_text(GREETING)", "send_json(GREETING)")),
     "That is JSON", []),
    (shout_mutant("echo_unchanged", (SHOUT, "send_text(text)")),
     "not upper-cased", ["expected: 'HELLO'", "got: 'hello'"]),
    (shout_mutant("shout_bytes", (SHOUT, "send_bytes(text.upper().encode())")),
     "arrived as a binary frame", []),
    (shout_mutant("answers_once", ("while True:", "if True:")), "keep answering in a while True",
     ["code 1006", "the endpoint returned"]),
    (crashes_on_second, "Read the exception",
     ["the connection ended (code 1006): the endpoint raised ValueError: boom"]),
    (shout_mutant("no_disconnect_handling", ("except WebSocketDisconnect:", "except KeyError:")),
     "nothing in your endpoint catches it",
     ["raised WebSocketDisconnect (code 1000) when the client left"]),
    (carries_on_after_disconnect, "went on receiving after the client had left",
     ["raised WebSocketDisconnected"]),
    (router_at("/ws/shoot", answers.shout),
     "declare the endpoint at that path", ["WebSocket routes ['/ws/shoot']"]),
    (FastAPI(), "declare the endpoint at that path", ["no WebSocket route at all"]),
]


@pytest.mark.parametrize("wrong, hint, words", WRONG_SHOUTS,
                         ids=lambda value: getattr(value, "__name__", None)
                         if callable(value) else None)
@pytest.mark.slow
async def test_each_wrong_shout_gets_the_hint_that_names_its_mistake_first(
        wrong, hint, words, short_deadlines, capsys):
    carried_on = await ep.check_shout(wrong)
    failure(verdict(capsys), "shout", *words, hint=hint)
    if isinstance(wrong, (APIRouter, FastAPI)):
        assert type(carried_on) is type(wrong) and carried_on is not wrong
    else:
        assert carried_on is answers.shout


@pytest.mark.slow
async def test_an_endless_loop_without_await_is_stopped_and_named(short_deadlines, capsys):
    async def spins(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(GREETING)
        while True:  # never awaits: the server's thread would spin for ever
            text = websocket.receive_text()

    assert await ep.check_shout(spins) is answers.shout
    failure(verdict(capsys), "shout",
            hint="`websocket.receive_text()` is a call to an async function without await")


@pytest.mark.slow
async def test_untouched_shout_stub_is_not_done_yet(capsys):
    untouched(await ep.check_shout(shout_stub), answers.shout, "shout", capsys)


async def test_the_kits_own_shout_is_never_passed(capsys):
    never_passed(await ep.check_shout(answers.shout), answers.shout, "shout", capsys)


async def iterating_shout(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    async for text in websocket.iter_text():  # ends quietly when the client leaves
        await websocket.send_text(text.upper())


@pytest.mark.parametrize("form", ["function", "router", "app"])
@pytest.mark.slow
async def test_a_right_shout_in_another_style_passes_in_every_form(form, capsys):
    if form == "function":
        answer = iterating_shout
    elif form == "router":
        answer = router_at(ep.SHOUT_PATH, iterating_shout)
    else:
        answer = FastAPI()
        answer.add_api_websocket_route(ep.SHOUT_PATH, iterating_shout)
    assert await ep.check_shout(answer) is answer
    assert capsys.readouterr().out == (
        "✅ shout: it greeted, shouted 3 texts back and ended quietly.\n")


# -- the prediction, the summary, and the notebook ----------------------------------------------


@pytest.mark.parametrize("observed, letter", [(b"\x00", "a"), ("\x00", "b"), (None, "c")])
def test_the_prediction_is_judged_on_what_came_back(observed, letter, capsys):
    right, out = judged(ep.BINARY_TO_ECHO, "c", observed, capsys)
    assert right is (letter == "c")
    assert ep.BINARY_TO_ECHO.happened == letter
    assert "why:" in out


@pytest.mark.slow
async def test_the_summary_judges_the_current_code(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main_py(tmp_path, STUB)
    fresh(ep.BINARY_TO_ECHO)
    namespace = {"shout": shout_stub}
    statuses = await show_progress(ep.EXERCISES, namespace)
    assert statuses == {"main.py": "not_done", "predict: bytes to the echo endpoint":
                        "no_prediction", "shout": "not_done"}
    namespace["shout"] = iterating_shout  # the exercise cell was run again, never its check
    main_py(tmp_path, RIGHT)  # and the file written again, never checked
    statuses = await show_progress(ep.EXERCISES, namespace)
    assert statuses["shout"] == statuses["main.py"] == "passed"
    assert "2 of 3 done" in capsys.readouterr().out


WRONG_IN_THE_NOTEBOOK = {
    "main.py": "%%writefile main.py\n" + IMPORTS + WRONG_MAINS["returns_the_text"][0] + ECHO,
    "shout": (f"from fastapi import WebSocket, WebSocketDisconnect\n\nGREETING = {GREETING!r}\n\n\n"
              + mutant(inspect.getsource(answers.shout), GREET, "websocket.send_text(GREETING)")),
}


@pytest.mark.slow
def test_in_the_notebook_wrong_answers_never_pass_however_often_their_checks_run():
    outputs = wrong_in_the_notebook("01_first_endpoint", WRONG_IN_THE_NOTEBOOK, 4)
    none_passed(outputs, "main.py", "shout")
