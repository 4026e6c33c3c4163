"""Lesson 04's checks: each rejects plausible wrong answers, says why, and accepts the solution.

The test functions the lesson asks for live in ``wslab.checks.chat`` as references; they are
reached through the module (``chat.test_...``) so that pytest does not collect them here.
"""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient

from wslab.checks import chat
from wslab.checks.chat import (check_endpoint_tests, check_hardened_endpoint, check_read_message,
                               create_hardened_app)
from wslab.envelope import (Chat, PlainText, Rejected, chat_message, error_message, leave_message,
                            plain_text_message, read_client_text)
from wslab.lecture import create_lecture_app
from wslab.manager import ConnectionManager


# -- exercise 1: read_message -------------------------------------------------------------------

def make_reader(*, nan=True, recursion=True, forged=True, strip=True, count="bytes",
                plain_limit=True, inclusive=True, reason="a reason", wrap=Chat):
    """A read_message with the chosen flaws: each keyword turns one rule off or gets it wrong."""

    def refuse(name):
        raise ValueError(name)

    def checked(text, max_bytes, kind, frame):
        if not (text.strip() if strip else text):
            return Rejected("empty_message", reason)
        size = {"bytes": len(text.encode("utf-8")), "chars": len(text),
                "frame": len(frame.encode("utf-8"))}[count]
        if size > max_bytes or (not inclusive and size == max_bytes):
            return Rejected("message_too_long", reason)
        return kind(text)

    def read_message(text, max_bytes):
        errors = (ValueError, RecursionError) if recursion else ValueError
        try:
            data = json.loads(text, parse_constant=refuse) if nan else json.loads(text)
        except json.JSONDecodeError:
            return checked(text, max_bytes, PlainText, text) if plain_limit else PlainText(text)
        except errors:
            return Rejected("invalid_json", reason)
        if not isinstance(data, dict):
            return Rejected("not_an_object", reason)
        if forged and any(name in data for name in ("client_id", "timestamp", "type")):
            return Rejected("reserved_field", reason)
        if "message" not in data:
            return Rejected("missing_message", reason)
        if not isinstance(data["message"], str):
            return Rejected("message_not_text", reason)
        return checked(data["message"], max_bytes, wrap, text)

    return read_message


def naive_reader(text, max_bytes):
    try:
        return Chat(json.loads(text)["message"])
    except json.JSONDecodeError:
        return PlainText(text)


@pytest.mark.parametrize("wrong, words", [
    (naive_reader, ["read_message('[1, 2, 3]', 100)", "raised TypeError", "not_an_object"]),
    (make_reader(count="chars"), ["'é' * 51", "Count bytes, not characters"]),
    (make_reader(count="frame"), ["json.dumps({'message': 'é' * 50})", "got:      Rejected",
                                  "Measure the message, not the frame"]),
    (make_reader(strip=False), ["read_message('{\"message\": \"   \"}', 100)", "text.strip()"]),
    (make_reader(plain_limit=False), ["read_message('   ', 100)", "PlainText(text='   ')"]),
    (make_reader(inclusive=False), ["json.dumps({'message': 'é' * 50})", "inclusive"]),
    (make_reader(forged=False), ['"type": "disconnect"', "reserved_field", "Chat(text='hi')"]),
    (make_reader(nan=False), ["read_message('{\"message\": NaN}', 100)", "message_not_text",
                              "parse_constant"]),
    (make_reader(recursion=False), ["'[' * 100_000", "raised RecursionError"]),
    (make_reader(reason=""), ["expected: Rejected(code='not_an_object', reason=<any text>)",
                              "got:      Rejected(code='not_an_object', reason='')"]),
    (make_reader(wrap=lambda text: {"message": text}), ["got:      {'message': 'hi'}"]),
])
def test_wrong_readers_are_explained(wrong, words, capsys):
    assert check_read_message(wrong) is read_client_text
    out = capsys.readouterr().out
    assert out.startswith("❌ read_message: not right yet.") and "hint:" in out, out
    for word in words:
        assert word in out, (word, out)


def test_untouched_reader_is_not_done_yet(capsys):
    def read_message(text, max_bytes):
        raise NotImplementedError("exercise: read_message")

    assert check_read_message(read_message) is read_client_text
    assert capsys.readouterr().out.startswith("⏳ read_message: not done yet.")


@pytest.mark.parametrize("solution", [chat.read_message, read_client_text, make_reader()])
def test_solutions_pass(solution, capsys):
    assert check_read_message(solution) is solution
    assert capsys.readouterr().out == "✅ read_message: all 26 checks passed.\n"


def test_the_table_covers_every_refusal_and_both_kinds_of_line():
    results = [read_client_text(text, limit) for text, limit, _, _ in chat.READ_MESSAGE_TABLE]
    codes = {result.code for result in results if isinstance(result, Rejected)}
    assert codes == {"not_an_object", "missing_message", "message_not_text", "empty_message",
                     "message_too_long", "reserved_field", "invalid_json"}
    assert any(isinstance(result, Chat) for result in results)
    assert any(isinstance(result, PlainText) for result in results)


def test_the_lesson_s_reader_refuses_a_lone_surrogate():
    # The kit's read_client_text lets '\ud800' through (it cannot be sent as UTF-8 afterwards);
    # the lesson's version refuses it, so it is not in the table the check compares.
    assert chat.read_message('{"message": "\\ud800"}', 100).code == "invalid_json"


# -- exercise 2: the hardened endpoint ---------------------------------------------------------

def make_factory(loop):
    """A create_hardened_app whose endpoint body is ``loop(websocket, client_id, ...)``."""

    def factory(read_message=chat.read_message, max_message_bytes=1000):
        app = FastAPI()
        manager = ConnectionManager()
        app.state.manager = manager

        @app.websocket("/ws/{client_id}")
        async def websocket_endpoint(websocket: WebSocket, client_id: str):
            await manager.connect(websocket)
            await loop(websocket, client_id, manager, read_message, max_message_bytes)

        return app

    return factory


async def relay(frame, websocket, client_id, manager, *, errors_to_all=False, close=False):
    """What the correct loop does with one classified frame (or a chosen mistake)."""
    if isinstance(frame, Rejected):
        if close:
            await websocket.close(code=1008)
        elif errors_to_all:
            await manager.broadcast(error_message(frame.code, frame.reason))
        else:
            await manager.send_personal_message(error_message(frame.code, frame.reason),
                                                websocket)
    elif isinstance(frame, Chat):
        await manager.broadcast(chat_message(client_id, frame.text))
    elif isinstance(frame, PlainText):
        await manager.broadcast(plain_text_message(client_id, frame.text))


def loop_with(*, text_only=False, errors_to_all=False, close=False, limit=None, leave=True,
              cleanup="finally", catch_all=False):
    async def loop(websocket, client_id, manager, read_message, max_message_bytes):
        async def cleanup_now():
            manager.disconnect(websocket)
            if leave:
                await manager.broadcast(leave_message(client_id, manager.connection_count))

        async def body():
            while True:
                if text_only:
                    frame = read_message(await websocket.receive_text(), limit or max_message_bytes)
                else:
                    event = await websocket.receive()
                    if event["type"] == "websocket.disconnect":
                        break
                    if event.get("text") is None:
                        frame = Rejected("binary_not_supported", "no binary")
                    else:
                        try:
                            frame = read_message(event["text"], limit or max_message_bytes)
                        except Exception:
                            if not catch_all:
                                raise
                            frame = Rejected("internal_error", "something went wrong")
                await relay(frame, websocket, client_id, manager, errors_to_all=errors_to_all,
                            close=close)
                if close and isinstance(frame, Rejected):
                    break

        if cleanup == "finally":
            try:
                await body()
            finally:
                await cleanup_now()
        else:  # after the loop: skipped when the body raises
            await body()
            await cleanup_now()

    return loop


def lecture_factory(read_message, max_message_bytes=1000):
    return create_lecture_app()


async def stub_loop(websocket, client_id, manager, read_message, max_message_bytes):
    raise NotImplementedError("exercise: hardened endpoint")


def stub_before_accept(read_message=None, max_message_bytes=1000):
    app = FastAPI()

    @app.websocket("/ws/{client_id}")
    async def websocket_endpoint(websocket: WebSocket, client_id: str):
        raise NotImplementedError("exercise: hardened endpoint")

    return app


def stub_factory(read_message=None, max_message_bytes=1000):
    raise NotImplementedError("exercise: hardened endpoint")


@pytest.mark.parametrize("factory, words", [
    (lecture_factory, ["eve sends the JSON list [1, 2, 3]", "without a close frame",
                       "the server logged AttributeError"]),
    (make_factory(loop_with(text_only=True)), ["eve sends a binary frame",
                                               "the server logged KeyError: 'text'"]),
    (make_factory(loop_with(errors_to_all=True)), ["then alice says", "alice received",
                                                   '"type": "error"', "no error to everyone"]),
    (make_factory(loop_with(close=True)), ["eve: its connection was closed with code 1008"]),
    (make_factory(loop_with(limit=1000)), ["max_message_bytes=200", "message_too_long",
                                           "eve received {\"message\": \"xxx", "(cut)",
                                           "read_message(text, max_message_bytes)"]),
    (make_factory(loop_with(leave=False)), ["eve closes her connection", "received nothing",
                                            "leave_message"]),
    (make_factory(loop_with(cleanup="after the loop")),
     ["planted by the check", "Client #bob left the chat", "Put the cleanup in `finally:`"]),
], ids=["lecture", "receive_text", "errors to all", "closes on error", "ignores the limit",
        "no leave message", "cleanup not in finally"])
async def test_wrong_endpoints_are_explained(factory, words, capsys):
    assert await check_hardened_endpoint(factory, chat.read_message) is create_hardened_app
    out = capsys.readouterr().out
    assert out.startswith("❌ hardened endpoint: not right yet.") and "hint:" in out, out
    for word in words:
        assert word in out, (word, out)


@pytest.mark.parametrize("factory", [make_factory(stub_loop), stub_before_accept, stub_factory],
                         ids=["after accept", "before accept", "in the factory"])
async def test_untouched_endpoint_is_not_done_yet(factory, capsys):
    assert await check_hardened_endpoint(factory, chat.read_message) is create_hardened_app
    assert capsys.readouterr().out.startswith("⏳ hardened endpoint: not done yet.")


async def test_solution_passes(capsys):
    assert await check_hardened_endpoint(create_hardened_app, read_client_text) \
        is create_hardened_app
    out = capsys.readouterr().out
    assert out.startswith("✅ hardened endpoint: 5 kinds of bad input") and "no ghost" in out


async def test_an_endpoint_that_answers_its_own_bugs_passes_too(capsys):
    factory = make_factory(loop_with(catch_all=True))
    assert await check_hardened_endpoint(factory, chat.read_message) is factory
    out = capsys.readouterr().out
    assert out.startswith("✅ hardened endpoint:") and "got an error reply" in out, out


# -- exercise 3: tests with the TestClient -----------------------------------------------------

def asserts_nothing(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_json({"message": "hi", "type": "disconnect"})
            alice.receive_json()


def wrong_code(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_json({"message": "hi", "type": "disconnect"})
            assert alice.receive_json()["code"] == "forged"


def waits_for_bob(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice, \
                client.websocket_connect("/ws/bob") as bob:
            alice.send_json({"message": "hi", "type": "disconnect"})
            assert alice.receive_json()["type"] == "error"
            bob.receive_json()  # bob is sent nothing: this waits for ever


def stub_test(app):
    raise NotImplementedError("exercise: endpoint tests")


REFERENCES = (chat.test_forged_field_is_refused, chat.test_binary_frame_is_refused)


@pytest.mark.parametrize("tests, words", [
    ((asserts_nothing,), ["asserts_nothing(app) with the lecture's endpoint",
                          "got:      it passed"]),
    ((chat.test_forged_field_is_refused, wrong_code),
     ["wrong_code(app) with the hardened endpoint", "got:      AssertionError"]),
    ((waits_for_bob,), ["waits_for_bob(app) with the hardened endpoint", "still waiting after 3 s",
                        "receive_json() has no timeout"]),
    ((), ["no tests"]),
])
def test_wrong_tests_are_explained(tests, words, capsys):
    assert check_endpoint_tests(*tests) == REFERENCES
    out = capsys.readouterr().out
    assert out.startswith("❌ endpoint tests: not right yet.") and "hint:" in out, out
    for word in words:
        assert word in out, (word, out)


def test_untouched_tests_are_not_done_yet(capsys):
    assert check_endpoint_tests(chat.test_forged_field_is_refused, stub_test) == REFERENCES
    assert capsys.readouterr().out.startswith("⏳ endpoint tests: not done yet.")


def test_reference_tests_pass(capsys):
    assert check_endpoint_tests(*REFERENCES) == REFERENCES
    assert capsys.readouterr().out == (
        "✅ endpoint tests: both tests pass on the hardened endpoint and fail on the lecture's.\n")


def test_a_single_good_test_passes(capsys):
    tests = (chat.test_binary_frame_is_refused,)
    assert check_endpoint_tests(*tests) == tests
    assert capsys.readouterr().out.startswith("✅ endpoint tests: your test passes on")
