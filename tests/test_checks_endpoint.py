"""Lesson 02's checks: each names the mistake of a wrong answer, first, and passes a right one.

The endpoint checks serve every answer on a real uvicorn and talk to it with a real client, so
these tests do too. The deadlines are shortened where a wrong answer is one that never answers.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect

from notebook_run import passes, run_student_notebook
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


async def forgets_accept(websocket: WebSocket) -> None:
    await websocket.send_text(GREETING)
    try:
        while True:
            await websocket.send_text((await websocket.receive_text()).upper())
    except WebSocketDisconnect:
        pass


async def accept_not_awaited(websocket: WebSocket) -> None:
    websocket.accept()
    await websocket.send_text(GREETING)
    try:
        while True:
            await websocket.send_text((await websocket.receive_text()).upper())
    except WebSocketDisconnect:
        pass


async def greeting_not_awaited(websocket: WebSocket) -> None:
    await websocket.accept()
    websocket.send_text(GREETING)
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(text.upper())
    except WebSocketDisconnect:
        pass


async def receive_not_awaited(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    try:
        while True:
            text = websocket.receive_text()
            await websocket.send_text(text.upper())
    except WebSocketDisconnect:
        pass


async def no_greeting(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text((await websocket.receive_text()).upper())
    except WebSocketDisconnect:
        pass


def greeter(greet, answer):
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        await greet(websocket)
        try:
            while True:
                await answer(websocket, await websocket.receive_text())
        except WebSocketDisconnect:
            pass
    return endpoint


async def greet(websocket):
    await websocket.send_text(GREETING)


async def greet_loudly(websocket):
    await websocket.send_text(GREETING.upper())


async def greet_in_bytes(websocket):
    await websocket.send_text(GREETING.encode())


async def send_greeting_json(websocket):
    await websocket.send_json(GREETING)


async def shout_back(websocket, text):
    await websocket.send_text(text.upper())


async def echo_unchanged(websocket, text):
    await websocket.send_text(text)


async def shout_bytes(websocket, text):
    await websocket.send_bytes(text.upper().encode())


async def answers_once(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    await websocket.send_text((await websocket.receive_text()).upper())


async def crashes_on_second(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    await websocket.send_text((await websocket.receive_text()).upper())
    await websocket.receive_text()
    raise ValueError("boom")


async def no_disconnect_handling(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    while True:
        await websocket.send_text((await websocket.receive_text()).upper())


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
    (forgets_accept, "used the connection before accepting it", ["HTTP 500"]),
    (accept_not_awaited, "`websocket.accept()` is a call to an async function without await",
     []),
    (greeting_not_awaited,
     "`websocket.send_text(GREETING)` is a call to an async function without await",
     ["got: nothing within 0.5 s"]),
    (receive_not_awaited,
     "`websocket.receive_text()` is a call to an async function without await",
     ["'coroutine' object has no attribute 'upper'"]),
    (no_greeting, "the greeting is the endpoint's first message",
     [f"expected: the greeting {GREETING!r}", "got: nothing within 0.5 s"]),
    (greeter(lambda ws: ws.send_text("Hello"), shout_back), "exactly GREETING", ["got: 'Hello'"]),
    (greeter(greet_loudly, shout_back), "greeting went out upper-cased", []),
    (greeter(greet_in_bytes, shout_back), "handed send_text() bytes", []),
    (greeter(send_greeting_json, shout_back), "That is JSON", []),
    (greeter(greet, echo_unchanged), "not upper-cased", ["expected: 'HELLO'", "got: 'hello'"]),
    (greeter(greet, shout_bytes), "arrived as a binary frame", []),
    (answers_once, "keep answering in a while True", ["code 1006", "the endpoint returned"]),
    (crashes_on_second, "Read the exception",
     ["the connection ended (code 1006): the endpoint raised ValueError: boom"]),
    (no_disconnect_handling, "nothing in your endpoint catches it",
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
async def test_each_wrong_shout_gets_the_hint_that_names_its_mistake_first(
        wrong, hint, words, short_deadlines, capsys):
    carried_on = await ep.check_shout(wrong)
    failure(verdict(capsys), "shout", *words, hint=hint)
    if isinstance(wrong, (APIRouter, FastAPI)):
        assert type(carried_on) is type(wrong) and carried_on is not wrong
    else:
        assert carried_on is answers.shout


async def test_an_endless_loop_without_await_is_stopped_and_named(short_deadlines, capsys):
    async def spins(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(GREETING)
        while True:  # never awaits: the server's thread would spin for ever
            text = websocket.receive_text()

    assert await ep.check_shout(spins) is answers.shout
    failure(verdict(capsys), "shout",
            hint="`websocket.receive_text()` is a call to an async function without await")


async def test_untouched_shout_stub_is_not_done_yet(capsys):
    assert await ep.check_shout(shout_stub) is answers.shout
    assert capsys.readouterr().out.startswith("⏳ shout: not done yet.")


async def test_the_kits_own_shout_is_never_passed(capsys):
    assert await ep.check_shout(answers.shout) is answers.shout
    out = capsys.readouterr().out
    assert out.startswith("⚠️ shout: run your exercise cell first.") and "✅" not in out


async def iterating_shout(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(GREETING)
    async for text in websocket.iter_text():  # ends quietly when the client leaves
        await websocket.send_text(text.upper())


@pytest.mark.parametrize("form", ["function", "router", "app"])
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


# -- exercise 2: reply ----------------------------------------------------------------------------


async def reply_stub(websocket: WebSocket) -> None:
    raise NotImplementedError("exercise: reply")


def replier(answer):
    """An endpoint that answers each text message with ``answer(websocket, text)``."""
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await answer(websocket, await websocket.receive_text())
        except WebSocketDisconnect:
            pass
    return endpoint


async def trusts_json(websocket, text):
    message = json.loads(text)["message"]
    await websocket.send_json({"reply": message, "length": len(message)})


async def no_shape_check(websocket, text):
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        await websocket.send_json({"error": "not JSON"})
        return
    message = data.get("message")
    await websocket.send_json({"reply": message, "length": len(message)})


async def python_repr(websocket, text):
    await websocket.send_text(str({"reply": "hello", "length": 5}))


async def counts_bytes(websocket, text):
    message = json.loads(text)["message"]
    await websocket.send_json({"reply": message, "length": len(message.encode())})


async def wrong_field_name(websocket, text):
    message = json.loads(text)["message"]
    await websocket.send_json({"reply": message, "len": len(message)})


async def error_in_wrong_field(websocket, text):
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        await websocket.send_json({"message": "that was not JSON"})
        return
    await websocket.send_json({"reply": data["message"], "length": len(data["message"])})


async def closes_after_error(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            try:
                data = await websocket.receive_json()
            except json.JSONDecodeError:
                await websocket.send_json({"error": "not JSON"})
                break  # a bad message ends the conversation
            message = data["message"]
            await websocket.send_json({"reply": message, "length": len(message)})
    except WebSocketDisconnect:
        pass


async def reply_not_awaited(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            data = await websocket.receive_json()
            websocket.send_json({"reply": data["message"], "length": len(data["message"])})
    except WebSocketDisconnect:
        pass


async def error_as_string(websocket, text):
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        await websocket.send_json("error: not JSON")
        return
    await websocket.send_json({"reply": data["message"], "length": len(data["message"])})


async def replies_to_everything(websocket, text):
    try:
        message = str(json.loads(text).get("message"))
    except (json.JSONDecodeError, AttributeError):
        message = text
    await websocket.send_json({"reply": message, "length": len(message)})


@pytest.mark.parametrize("wrong, hint, words", [
    (replier(trusts_json), "Text that is not JSON gets an error object",
     ["send 'hello'", "the connection ended (code 1006): the endpoint raised JSONDecodeError"]),
    (replier(no_shape_check), "Valid JSON is not always an object",
     ["send '[\"hello\"]'", "raised AttributeError"]),
    (replier(python_repr), "str() of a dict writes Python",
     ["text that is not JSON: \"{'reply': 'hello', 'length': 5}\""]),
    (replier(counts_bytes), "characters, not bytes",
     ['expected: {"reply": "naïve café", "length": 10}', "'length': 12"]),
    (replier(wrong_field_name), "A field name differs: the client looks for ['length']",
     ["'len': 5"]),
    (replier(error_in_wrong_field), 'An error answer is an object with the field "error"',
     ["{'message': 'that was not JSON'}"]),
    (closes_after_error, "keep answering in a while True",
     ["send '[\"hello\"]'", "code 1006", "the endpoint returned"]),
    (reply_not_awaited,
     "`websocket.send_json({'reply': data['message'], 'length': len(data['message'])})` is a "
     "call to an async function without await", ["got: nothing within 0.5 s"]),
    (replier(error_as_string), "Your answer is JSON, but a str, not an object",
     ["got: 'error: not JSON'"]),
    (replier(replies_to_everything), "Text that is not JSON gets an error object, not a reply",
     ["expected: an error object", "'reply': 'hello'"]),
], ids=["trusts_json", "no_shape_check", "python_repr", "counts_bytes", "wrong_field_name",
        "error_in_wrong_field", "closes_after_error", "reply_not_awaited", "error_as_string",
        "replies_to_everything"])
async def test_each_wrong_reply_gets_the_hint_that_names_its_mistake_first(
        wrong, hint, words, short_deadlines, capsys):
    assert await ep.check_reply(wrong) is answers.reply
    failure(verdict(capsys), "reply", *words, hint=hint)


async def test_untouched_reply_stub_is_not_done_yet(capsys):
    assert await ep.check_reply(reply_stub) is answers.reply
    assert capsys.readouterr().out.startswith("⏳ reply: not done yet.")


async def test_the_kits_own_reply_is_never_passed(capsys):
    assert await ep.check_reply(answers.reply) is answers.reply
    out = capsys.readouterr().out
    assert out.startswith("⚠️ reply: run your exercise cell first.") and "✅" not in out


async def test_a_right_reply_in_another_style_passes(capsys):
    async def reply(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                try:
                    data = await websocket.receive_json()
                except json.JSONDecodeError:
                    await websocket.send_json({"error": "not JSON"})
                    continue
                message = data.get("message") if isinstance(data, dict) else None
                if isinstance(message, str):
                    await websocket.send_json({"reply": message, "length": len(message)})
                else:
                    await websocket.send_json({"error": "no text message"})
        except WebSocketDisconnect:
            pass

    assert await ep.check_reply(reply) is reply
    assert capsys.readouterr().out.startswith("✅ reply: 7 messages answered")


# -- exercise 3: a TestClient test --------------------------------------------------------------


def shout_test_stub(client):
    raise NotImplementedError("exercise: test_shout")


def checks_nothing(client):
    with client.websocket_connect("/ws/shout"):
        pass


def compares_without_assert(client):
    with client.websocket_connect("/ws/shout") as websocket:
        websocket.receive_text() == GREETING
        websocket.send_text("hello")
        websocket.receive_text() == "HELLO"


def prints_the_comparison(client):
    with client.websocket_connect("/ws/shout") as websocket:
        print(websocket.receive_text() == GREETING)


async def async_test(client):
    with client.websocket_connect("/ws/shout") as websocket:
        assert websocket.receive_text() == GREETING


def ignores_greeting_text(client):
    with client.websocket_connect("/ws/shout") as websocket:
        websocket.receive_text()
        for text in ("hello", "again"):
            websocket.send_text(text)
            assert websocket.receive_text() == text.upper()


def sends_upper_case(client):
    with client.websocket_connect("/ws/shout") as websocket:
        assert websocket.receive_text() == GREETING
        for text in ("HELLO", "AGAIN"):
            websocket.send_text(text)
            assert websocket.receive_text() == text.upper()


def sends_once(client):
    with client.websocket_connect("/ws/shout") as websocket:
        assert websocket.receive_text() == GREETING
        websocket.send_text("hello")
        assert websocket.receive_text() == "HELLO"


def swallows_errors_on_leaving(client):
    session = client.websocket_connect("/ws/shout")
    websocket = session.__enter__()
    try:
        assert websocket.receive_text() == GREETING
        for text in ("hello", "again"):
            websocket.send_text(text)
            assert websocket.receive_text() == text.upper()
    finally:
        try:
            session.__exit__(None, None, None)
        except WebSocketDisconnect:
            pass


def wrong_path(client):
    with client.websocket_connect("/ws/echo") as websocket:
        assert websocket.receive_text() == GREETING


def expects_echo(client):
    with client.websocket_connect("/ws/shout") as websocket:
        assert websocket.receive_text() == GREETING
        websocket.send_text("hello")
        assert websocket.receive_text() == "hello"


def no_argument():
    pass


def one_receive_too_many(client):
    with client.websocket_connect("/ws/shout") as websocket:
        assert websocket.receive_text() == GREETING
        websocket.send_text("hello")
        websocket.receive_text()
        websocket.receive_text()


def sleeps(client):
    import time
    time.sleep(2)


@pytest.mark.parametrize("wrong, hint, words", [
    (checks_nothing, "does not check the greeting",
     ["an endpoint that never sends the greeting", "got: it passed"]),
    (compares_without_assert, "`websocket.receive_text() == GREETING` checks nothing",
     ["got: it passed"]),
    (prints_the_comparison, "print only shows it", ["got: it passed"]),
    (async_test, "declared async def", ["got: async def test_shout(client)"]),
    (ignores_greeting_text, "not that it is the right one", ["greets with 'Hello.' instead"]),
    (sends_upper_case, "does not show that the answers are upper-cased",
     ["sends the text back unchanged"]),
    (sends_once, "stops after one text", ["answers the first text only"]),
    (swallows_errors_on_leaving, "does not see the endpoint crash",
     ["crashes with WebSocketDisconnect when the client leaves"]),
    (wrong_path, "Connect to '/ws/shout'",
     ["a correct shout endpoint", "raised WebSocketDisconnect (code 1000)"]),
    (expects_echo, "asserts does not hold",
     ["raised AssertionError", 'at: assert websocket.receive_text() == "hello"']),
    (no_argument, "one argument, client", ["raised TypeError"]),
    (one_receive_too_many, "silent for 1 s", ["raised WebSocketDisconnect"]),
    (42, "the function itself", ["got: a int"]),
], ids=lambda value: getattr(value, "__name__", None) if callable(value) else None)
def test_each_wrong_shout_test_gets_the_hint_that_names_its_mistake_first(
        wrong, hint, words, capsys):
    assert ep.check_shout_test(wrong) is answers.test_shout
    failure(verdict(capsys), "test_shout", *words, hint=hint)


def test_a_test_that_hangs_is_reported(monkeypatch, capsys):
    monkeypatch.setattr(ep, "TEST_TIMEOUT", 0.3)
    assert ep.check_shout_test(sleeps) is answers.test_shout
    failure(verdict(capsys), "test_shout", "it was still running", hint="a loop that never ends")


def test_untouched_test_stub_is_not_done_yet(capsys):
    assert ep.check_shout_test(shout_test_stub) is answers.test_shout
    assert capsys.readouterr().out.startswith("⏳ test_shout: not done yet.")


def test_the_kits_own_test_is_never_passed(capsys):
    assert ep.check_shout_test(answers.test_shout) is answers.test_shout
    out = capsys.readouterr().out
    assert out.startswith("⚠️ test_shout: run your exercise cell first.") and "✅" not in out


def test_a_right_shout_test_in_another_style_passes(capsys):
    def test_shout(client):
        with client.websocket_connect("/ws/shout") as websocket:
            assert websocket.receive_text() == GREETING
            for text in ("hello", "Two words"):
                websocket.send_text(text)
                assert websocket.receive_text() == text.upper()

    assert ep.check_shout_test(test_shout) is test_shout
    assert capsys.readouterr().out == (
        "✅ test_shout: it passes on a correct endpoint and fails on 5 broken ones.\n")


# -- the prediction, the summary, and the notebook ----------------------------------------------


@pytest.mark.parametrize("observed, letter", [(b"\x00", "a"), ("\x00", "b"), (None, "c")])
def test_the_prediction_is_judged_on_what_came_back(observed, letter, capsys):
    question = ep.BINARY_TO_ECHO
    question.prediction = question.happened = None
    question.late = False
    question.predict("c")
    assert question.check(observed) is (letter == "c")
    assert question.happened == letter
    assert "why:" in capsys.readouterr().out


async def test_the_summary_judges_the_current_code(capsys):
    ep.BINARY_TO_ECHO.prediction = ep.BINARY_TO_ECHO.happened = None
    namespace = {"shout": shout_stub, "reply": reply_stub, "test_shout": shout_test_stub}
    statuses = await show_progress(ep.EXERCISES, namespace)
    assert statuses == {"predict: bytes to the echo endpoint": "no_prediction",
                        "shout": "not_done", "reply": "not_done", "test_shout": "not_done"}
    namespace["shout"] = iterating_shout  # the exercise cell was run again, never its check
    statuses = await show_progress(ep.EXERCISES, namespace)
    assert statuses["shout"] == "passed"
    assert "1 of 4 done" in capsys.readouterr().out


WRONG_IN_THE_NOTEBOOK = {
    "shout": '''GREETING = "Welcome! I shout back."


async def shout(websocket: WebSocket) -> None:
    await websocket.accept()
    websocket.send_text(GREETING)
    try:
        while True:
            await websocket.send_text((await websocket.receive_text()).upper())
    except WebSocketDisconnect:
        pass''',
    "reply": '''async def reply(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            data = await websocket.receive_json()
            await websocket.send_json({"reply": data["message"], "len": len(data["message"])})
    except WebSocketDisconnect:
        pass''',
    "test_shout": '''def test_shout(client):
    with client.websocket_connect("/ws/shout") as websocket:
        websocket.receive_text() == GREETING''',
}


def test_in_the_notebook_wrong_answers_never_pass_however_often_their_checks_run():
    outputs = run_student_notebook("02_first_endpoint", WRONG_IN_THE_NOTEBOOK)
    assert len(outputs) == 6  # three checks, each run twice
    for output in outputs:
        assert passes(output) == [] and "❌" in output, output
