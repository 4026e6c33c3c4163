"""Lesson 02's checks: each rejects plausible wrong answers, says why, and accepts the solution.

The endpoint checks serve every answer on a real uvicorn and talk to it with a real client, so
these tests do too. The deadlines are shortened where a wrong answer is one that never answers.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect

from wslab.checks import endpoint as ep  # a module, so pytest does not collect ep.test_shout

GREETING = ep.GREETING


@pytest.fixture
def short_deadlines(monkeypatch):
    monkeypatch.setattr(ep, "OPEN_TIMEOUT", 0.5)
    monkeypatch.setattr(ep, "ANSWER_TIMEOUT", 0.5)
    monkeypatch.setattr(ep, "END_TIMEOUT", 0.5)


def assert_failed(out: str, name: str, *words: str) -> None:
    assert out.startswith(f"❌ {name}: not right yet."), out
    for part in ("tried:", "expected:", "got:", "hint:", *words):
        assert part in out, f"{part!r} not in:\n{out}"
    assert "Traceback" not in out


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


async def shout_back(websocket, text):
    await websocket.send_text(text.upper())


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


async def send_greeting_json(websocket):
    await websocket.send_json(GREETING)


async def echo_unchanged(websocket, text):
    await websocket.send_text(text)


async def shout_bytes(websocket, text):
    await websocket.send_bytes(text.upper().encode())


def router_at(path: str, endpoint) -> APIRouter:
    router = APIRouter()
    router.add_api_websocket_route(path, endpoint)
    return router


@pytest.mark.parametrize("wrong, words", [
    (plain_def, ["got:      a plain def", "async def"]),
    (no_annotation, ["parameters: ws", "annotated"]),
    ("shout", ["got:      a str"]),
    (never_accepts, ["no answer to the handshake", "accept()"]),
    (crashes_before_accept,
     ["HTTP 500: the endpoint raised KeyError: 'client_id' before accepting"]),
    (returns_without_accept, ["returned without accepting"]),
    (closes_before_accept, ["HTTP 403"]),
    (no_greeting, [f"expected: the greeting {GREETING!r}", "got:      nothing within 0.5 s"]),
    (greeter(lambda ws: ws.send_text("Hello"), shout_back), ["got:      'Hello'"]),
    (greeter(send_greeting_json, shout_back), ["That is JSON"]),
    (greeter(greet, echo_unchanged), ["expected: 'HELLO'", "got:      'hello'", "text.upper()"]),
    (greeter(greet, shout_bytes), ["binary frame", "send_text()"]),
    (answers_once, ["code 1006", "the endpoint returned", "keep answering"]),
    (crashes_on_second, ["the connection ended (code 1006): the endpoint raised ValueError: boom"]),
    (no_disconnect_handling, ["raised WebSocketDisconnect (code 1000) when the client left",
                              "except WebSocketDisconnect"]),
    (carries_on_after_disconnect, ["it raised WebSocketDisconnected", "once a disconnect"]),
    (router_at("/ws/shoot", ep.shout), ["WebSocket routes ['/ws/shoot']"]),
    (FastAPI(), ["no WebSocket route at all"]),
], ids=lambda value: getattr(value, "__name__", None) if callable(value) else None)
async def test_wrong_shouts_are_explained(wrong, words, short_deadlines, capsys):
    started = time.monotonic()
    carried_on = await ep.check_shout(wrong)
    assert time.monotonic() - started < 5
    assert_failed(capsys.readouterr().out, "shout", *words)
    if isinstance(wrong, (APIRouter, FastAPI)):
        assert type(carried_on) is type(wrong) and carried_on is not wrong
    else:
        assert carried_on is ep.shout


async def test_untouched_shout_stub_is_not_done_yet(capsys):
    assert await ep.check_shout(shout_stub) is ep.shout
    assert capsys.readouterr().out.startswith("⏳ shout: not done yet.")


@pytest.mark.parametrize("form", ["function", "router", "app"])
async def test_shout_solution_passes_in_every_form(form, capsys):
    async def shout(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(GREETING)
        try:
            while True:
                text = await websocket.receive_text()
                await websocket.send_text(text.upper())
        except WebSocketDisconnect:
            pass

    if form == "function":
        answer = shout
    elif form == "router":
        answer = router_at(ep.SHOUT_PATH, shout)
    else:
        answer = FastAPI()
        answer.add_api_websocket_route(ep.SHOUT_PATH, shout)
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


@pytest.mark.parametrize("wrong, words", [
    (replier(trusts_json), ["send 'hello'", "the connection ended (code 1006): the endpoint "
                            "raised JSONDecodeError", "catch it"]),
    (replier(no_shape_check), ["send '[\"hello\"]'", "raised AttributeError", "isinstance"]),
    (replier(python_repr), ["text that is not JSON: \"{'reply': 'hello', 'length': 5}\"",
                            "send_json"]),
    (replier(counts_bytes), ['expected: {"reply": "naïve café", "length": 10}',
                             "'length': 12", "characters, not bytes"]),
    (closes_after_error, ["send '[\"hello\"]'", "code 1006", "the endpoint returned"]),
    (replier(error_as_string), ["got:      'error: not JSON'", "continue"]),
    (replier(replies_to_everything), ["expected: an error object", "'reply': 'hello'"]),
], ids=["trusts_json", "no_shape_check", "python_repr", "counts_bytes", "closes_after_error",
        "error_as_string", "replies_to_everything"])
async def test_wrong_replies_are_explained(wrong, words, short_deadlines, capsys):
    assert await ep.check_reply(wrong) is ep.reply
    assert_failed(capsys.readouterr().out, "reply", *words)


async def test_untouched_reply_stub_is_not_done_yet(capsys):
    assert await ep.check_reply(reply_stub) is ep.reply
    assert capsys.readouterr().out.startswith("⏳ reply: not done yet.")


async def test_reply_solution_passes(capsys):
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


async def test_the_references_pass(capsys):
    assert await ep.check_shout(ep.shout) is ep.shout
    assert await ep.check_reply(ep.reply) is ep.reply
    assert ep.check_shout_test(ep.test_shout) is ep.test_shout
    assert capsys.readouterr().out.count("✅") == 3


# -- exercise 3: a TestClient test --------------------------------------------------------------


def shout_test_stub(client):
    raise NotImplementedError("exercise: test_shout")


def checks_nothing(client):
    with client.websocket_connect("/ws/shout"):
        pass


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
    time.sleep(2)


@pytest.mark.parametrize("wrong, words", [
    (checks_nothing, ["an endpoint that never sends the greeting", "got:      it passed"]),
    (ignores_greeting_text, ["greets with 'Hello.' instead", "== GREETING"]),
    (sends_upper_case, ["sends the text back unchanged", "lower-case"]),
    (sends_once, ["answers the first text only", "two texts"]),
    (swallows_errors_on_leaving,
     ["crashes with WebSocketDisconnect when the client leaves", "with client"]),
    (wrong_path, ["a correct shout endpoint", "raised WebSocketDisconnect (code 1000)",
                  "'/ws/shout'"]),
    (expects_echo, ["raised AssertionError", 'at: assert websocket.receive_text() == "hello"',
                    "asserts does not hold"]),
    (no_argument, ["raised TypeError", "one argument, client"]),
    (one_receive_too_many, ["raised WebSocketDisconnect", "silent for 1 s"]),
    (42, ["got:      a int"]),
], ids=lambda value: getattr(value, "__name__", None) if callable(value) else None)
def test_wrong_shout_tests_are_explained(wrong, words, capsys):
    assert ep.check_shout_test(wrong) is ep.test_shout
    assert_failed(capsys.readouterr().out, "test_shout", *words)


def test_a_test_that_hangs_is_reported(monkeypatch, capsys):
    monkeypatch.setattr(ep, "TEST_TIMEOUT", 0.3)
    assert ep.check_shout_test(sleeps) is ep.test_shout
    assert_failed(capsys.readouterr().out, "test_shout", "it was still running")


def test_untouched_test_stub_is_not_done_yet(capsys):
    assert ep.check_shout_test(shout_test_stub) is ep.test_shout
    assert capsys.readouterr().out.startswith("⏳ test_shout: not done yet.")


def test_shout_test_solution_passes(capsys):
    def test_shout(client):
        with client.websocket_connect("/ws/shout") as websocket:
            assert websocket.receive_text() == GREETING
            for text in ("hello", "Two words"):
                websocket.send_text(text)
                assert websocket.receive_text() == text.upper()

    assert ep.check_shout_test(test_shout) is test_shout
    assert capsys.readouterr().out == (
        "✅ test_shout: it passes on a correct endpoint and fails on 5 broken ones.\n")
