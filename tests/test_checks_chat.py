"""Lesson 04's checks: each names the mistake of a wrong answer, first, and passes a right one.

A wrong hardened endpoint is written as a student would write it: the lesson's answer with one
mistake edited in, saved as a module of its own, so that the check can read its source (a
forgotten ``await`` is found there).
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import json

import pytest
from fastapi import FastAPI, WebSocket
from fastapi.testclient import TestClient

from notebook_run import passes, run_student_notebook
from verdicts import failure, verdict
from wslab.answers import chat as answers
from wslab.checks import chat
from wslab.checks.chat import check_endpoint_tests, check_hardened_endpoint, check_read_message
from wslab.checks.progress import show_progress
from wslab.envelope import (Chat, PlainText, Rejected, chat_message, error_message, leave_message,
                            plain_text_message, read_client_text)
from wslab.lecture import create_lecture_app
from wslab.manager import ConnectionManager


# Wrong answers that forget an await leave coroutines unawaited, in the server: that is the point.
pytestmark = pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")


# -- exercise 1: read_message -------------------------------------------------------------------

def make_reader(*, nan=True, caught=(ValueError, RecursionError), forged=True, strip=True,
                count="bytes", plain_limit=True, inclusive=True, reason="a reason", wrap=Chat,
                surrogate="invalid_text", codes=None):
    """A read_message with the chosen flaws: each keyword turns one rule off or gets it wrong."""
    codes = codes or {}

    def refused(code):
        return Rejected(codes.get(code, code), reason)

    def refuse(name):
        raise ValueError(name)

    def checked(text, max_bytes, kind, frame):
        if not (text.strip() if strip else text):
            return refused("empty_message")
        try:
            size = {"bytes": lambda: len(text.encode("utf-8")), "chars": lambda: len(text),
                    "frame": lambda: len(frame.encode("utf-8"))}[count]()
        except UnicodeEncodeError:
            if surrogate is None:
                raise
            return refused(surrogate)
        if size > max_bytes or (not inclusive and size == max_bytes):
            return refused("message_too_long")
        return kind(text)

    def read_message(text, max_bytes):
        try:
            data = json.loads(text, parse_constant=refuse) if nan else json.loads(text)
        except json.JSONDecodeError:
            return checked(text, max_bytes, PlainText, text) if plain_limit else PlainText(text)
        except caught:
            return refused("invalid_json")
        if not isinstance(data, dict):
            return refused("not_an_object")
        if forged and any(name in data for name in ("client_id", "timestamp", "type")):
            return refused("reserved_field")
        if "message" not in data:
            return refused("missing_message")
        if not isinstance(data["message"], str):
            return refused("message_not_text")
        return checked(data["message"], max_bytes, wrap, text)

    return read_message


def naive_reader(text, max_bytes):
    try:
        return Chat(json.loads(text)["message"])
    except json.JSONDecodeError:
        return PlainText(text)


def trusts_json(text, max_bytes):
    data = json.loads(text)
    return Chat(data["message"]) if isinstance(data, dict) else Rejected("not_an_object", "no")


def swapped_reader(text, max_bytes):
    frame = answers.read_message(text, max_bytes)
    return Rejected(frame.reason, frame.code) if isinstance(frame, Rejected) else frame


def printing_reader(text, max_bytes):
    print(answers.read_message(text, max_bytes))


def forgets_a_return(text, max_bytes):
    frame = answers.read_message(text, max_bytes)
    if not isinstance(frame, Chat):
        return frame


@pytest.mark.parametrize("wrong, hint, words", [
    (naive_reader, "anything that is not a dict is not_an_object",
     ["read_message('[1, 2, 3]', 100)", "raised TypeError"]),
    (trusts_json, "makes json.loads raise json.JSONDecodeError: catch it",
     ["read_message('hello everyone', 100)", "raised JSONDecodeError"]),
    (make_reader(count="chars"), "You counted characters, not bytes", ["'é' * 51"]),
    (make_reader(count="frame"), "You measured the whole frame",
     ["json.dumps({'message': 'é' * 50})", "got: Rejected"]),
    (make_reader(inclusive=False), "Off by one at the limit", ["read_message('x' * 100, 100)"]),
    (make_reader(strip=False), "A message of only spaces is empty too",
     ["read_message('{\"message\": \" \"}', 100)"]),
    (make_reader(plain_limit=False), "Plain text (not JSON) gets the same checks",
     ["read_message(' ', 100)", "PlainText(text=' ')"]),
    (make_reader(forged=False), "Only the server may set",
     ['"type": "disconnect"', "Chat(text='hi')"]),
    (make_reader(nan=False), "json.loads reads NaN and Infinity",
     ["read_message('{\"message\": NaN}', 100)", "message_not_text"]),
    (make_reader(caught=ValueError), "raise RecursionError", ["'[' * 100_000"]),
    (make_reader(caught=RecursionError), "json.loads raised ValueError",
     ["read_message('{\"message\": NaN}', 100)"]),
    (make_reader(surrogate=None), "encoding it raises UnicodeEncodeError",
     ["read_message('{\"message\": \"\\\\ud800\"}', 100)"]),
    (make_reader(surrogate="invalid_json"), "refused as invalid_text",
     ["got: Rejected(code='invalid_json'"]),
    (make_reader(reason=""), "The refusal has no reason",
     ["expected: Rejected(code='not_an_object', reason=<any text>)",
      "got: Rejected(code='not_an_object', reason='')"]),
    (make_reader(codes={"message_too_long": "too_long"}), "not one of the table's",
     ["got: Rejected(code='too_long'"]),
    (swapped_reader, "The code and the reason are swapped", []),
    (make_reader(wrap=lambda text: {"message": text}), "returns one of the three classes",
     ["got: {'message': 'hi'}"]),
    (forgets_a_return, "a return is missing", ["got: None"]),
    (printing_reader, "printed its answer and returned None", []),
])
def test_each_wrong_reader_gets_the_hint_that_names_its_mistake_first(wrong, hint, words,
                                                                      capsys):
    assert check_read_message(wrong) is answers.read_message
    failure(verdict(capsys), "read_message", *words, hint=hint)


def test_untouched_reader_is_not_done_yet(capsys):
    def read_message(text, max_bytes):
        raise NotImplementedError("exercise: read_message")

    assert check_read_message(read_message) is answers.read_message
    assert capsys.readouterr().out.startswith("⏳ read_message: not done yet.")


@pytest.mark.parametrize("kit", [answers.read_message, read_client_text])
def test_the_kits_own_reader_is_never_passed(kit, capsys):
    assert check_read_message(kit) is answers.read_message
    out = capsys.readouterr().out
    assert out.startswith("⚠️ read_message: run your exercise cell first.") and "✅" not in out


def test_a_right_reader_in_another_style_passes(capsys):
    right = make_reader()
    assert check_read_message(right) is right
    assert capsys.readouterr().out == "✅ read_message: all 27 checks passed.\n"


MORE_FRAMES = ['{"message": "\\udfff and more"}', '{"message": "ok", "extra": [1, {"a": null}]}',
               '{"message": -Infinity}', '{"message": "' + "€" * 34 + '"}', "\t\n", "{",
               '{"message": "x"} trailing', "1e999", '{"message": "' + "😀" * 25 + '"}']


@pytest.mark.parametrize("text, limit", [(text, limit) for text, limit, _, _ in
                                         chat.READ_MESSAGE_TABLE]
                         + [(text, 100) for text in MORE_FRAMES])
def test_the_lessons_answer_agrees_with_the_kits_reader(text, limit):
    mine, kit = answers.read_message(text, limit), read_client_text(text, limit)
    assert type(mine) is type(kit)
    assert (mine.code == kit.code) if isinstance(kit, Rejected) else (mine == kit)


def test_the_table_covers_every_refusal_and_both_kinds_of_line():
    results = [read_client_text(text, limit) for text, limit, _, _ in chat.READ_MESSAGE_TABLE]
    codes = {result.code for result in results if isinstance(result, Rejected)}
    assert codes == set(chat.CODES)
    assert any(isinstance(result, Chat) for result in results)
    assert any(isinstance(result, PlainText) for result in results)


# -- exercise 2: the hardened endpoint ---------------------------------------------------------

ANSWER = inspect.getsource(answers.create_hardened_app)
IMPORTS = """\
from fastapi import FastAPI, WebSocket

from wslab.answers.chat import MAX_MESSAGE_BYTES, read_message
from wslab.envelope import (Chat, PlainText, Rejected, chat_message, error_message, leave_message,
                            plain_text_message)
from wslab.manager import ConnectionManager


"""
_modules = itertools.count()


@pytest.fixture
def student_factory(tmp_path):
    """The lesson's answer with ``old`` edited into ``new``, as a module of its own."""

    def edited(old: str, new: str):
        assert old in ANSWER, old
        path = tmp_path / f"student_answer_{next(_modules)}.py"
        path.write_text(IMPORTS + ANSWER.replace(old, new))
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.create_hardened_app

    return edited


EDITED_MISTAKES = [
    ('                if event["type"] == "websocket.disconnect":\n                    break\n', "",
     "The loop needs a break on that event",
     ["the whole conversation above, then everyone leaving",
      'Cannot call "receive" once a disconnect message has been received']),
    ('"websocket.disconnect"', '"websocket.disconnected"', "its type spelled exactly", []),
    ("await manager.broadcast(chat_message(", "manager.broadcast(chat_message(",
     "`manager.broadcast(chat_message(client_id, frame.text))` is a call to an async function "
     "without await", ["received nothing"]),
    ("await manager.send_personal_message(", "manager.send_personal_message(",
     "`manager.send_personal_message(error_message(frame.code, frame.reason), websocket)` is a "
     "call to an async function without await", ["eve sends the JSON list [1, 2, 3]"]),
    ("await manager.send_personal_message(\n                        error_message(frame.code, "
     "frame.reason), websocket)", "websocket.close(code=1008)",
     "`websocket.close(code=1008)` is a call to an async function without await", []),
    ('read_message(event["text"], max_message_bytes)',
     'read_message(event["message"], max_message_bytes)', "The event has no key 'message'",
     ["raised KeyError: 'message'"]),
    ("chat_message(client_id, frame.text)", "chat_message(client_id, frame.message)",
     "A field name is wrong: Chat and PlainText keep their text in .text",
     ["'Chat' object has no attribute 'message'"]),
    ("    return app\n", "", "must return it", ["got: None"]),
    ("def create_hardened_app(", "async def create_hardened_app(", "returned a coroutine", []),
    ("                        max_message_bytes=MAX_MESSAGE_BYTES)", ")",
     "Keep the signature", ["raised TypeError"]),
]


@pytest.mark.parametrize("old, new, hint, words", EDITED_MISTAKES,
                         ids=["no break", "misspelt disconnect", "broadcast not awaited",
                              "error not awaited", "close not awaited", "wrong event key",
                              "wrong frame field", "no return", "async factory",
                              "no max_message_bytes"])
async def test_each_wrong_endpoint_gets_the_hint_that_names_its_mistake_first(
        old, new, hint, words, student_factory, capsys):
    factory = student_factory(old, new)
    assert await check_hardened_endpoint(factory) is answers.create_hardened_app
    failure(verdict(capsys), "hardened endpoint", *words, hint=hint)


def make_factory(loop):
    """A create_hardened_app whose endpoint body is ``loop(websocket, client_id, ...)``."""

    def factory(read_message=answers.read_message, max_message_bytes=1000):
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


@pytest.mark.parametrize("factory, hint, words", [
    (lecture_factory, "what it refuses goes back to the sender alone",
     ["eve sends the JSON list [1, 2, 3]", "without a close frame",
      "the server logged: the endpoint raised AttributeError"]),
    (make_factory(loop_with(text_only=True)), "A binary frame's event has no 'text' key",
     ["eve sends a binary frame", "raised KeyError: 'text'"]),
    (make_factory(loop_with(errors_to_all=True)), "no error to everyone",
     ["then alice says", "alice received", '"type": "error"']),
    (make_factory(loop_with(close=True)), "goes back to the sender alone",
     ["eve: its connection was closed with code 1008"]),
    (make_factory(loop_with(limit=1000)), "pass that one on to read_message",
     ["max_message_bytes=200", "message_too_long", "eve received {\"message\": \"xxx", "(cut)"]),
    (make_factory(loop_with(leave=False)), "the others hear it",
     ["eve closes her connection", "received nothing", "leave_message"]),
    (make_factory(loop_with(cleanup="after the loop")),
     "Your cleanup did not run when your own code raised",
     ["planted by the check", "Client #bob left the chat"]),
], ids=["lecture", "receive_text", "errors to all", "closes on error", "ignores the limit",
        "no leave message", "cleanup not in finally"])
async def test_each_wrong_loop_gets_the_hint_that_names_its_mistake_first(factory, hint, words,
                                                                          capsys):
    assert await check_hardened_endpoint(factory) is answers.create_hardened_app
    failure(verdict(capsys), "hardened endpoint", *words, hint=hint)


@pytest.mark.parametrize("factory", [make_factory(stub_loop), stub_before_accept, stub_factory],
                         ids=["after accept", "before accept", "in the factory"])
async def test_untouched_endpoint_is_not_done_yet(factory, capsys):
    assert await check_hardened_endpoint(factory) is answers.create_hardened_app
    assert capsys.readouterr().out.startswith("⏳ hardened endpoint: not done yet.")


async def test_the_kits_own_endpoint_is_never_passed(capsys):
    assert await check_hardened_endpoint(answers.create_hardened_app) \
        is answers.create_hardened_app
    out = capsys.readouterr().out
    assert out.startswith("⚠️ hardened endpoint: run your exercise cell first.")
    assert "✅" not in out


async def test_the_answer_passes_once_it_is_the_students(student_factory, capsys):
    factory = student_factory("", "")
    assert await check_hardened_endpoint(factory) is factory
    out = capsys.readouterr().out
    assert out.startswith("✅ hardened endpoint: 5 kinds of bad input") and "no ghost" in out


async def test_a_right_endpoint_in_another_style_passes(capsys):
    factory = make_factory(loop_with(catch_all=True))
    assert await check_hardened_endpoint(factory) is factory
    out = capsys.readouterr().out
    assert out.startswith("✅ hardened endpoint:") and "got an error reply" in out, out


# -- exercise 3: tests with the TestClient -----------------------------------------------------

def asserts_nothing(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_json({"message": "hi", "type": "disconnect"})
            alice.receive_json()


def compares_without_assert(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_json({"message": "hi", "type": "disconnect"})
            alice.receive_json()["code"] == "reserved_field"


def wrong_code(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_json({"message": "hi", "type": "disconnect"})
            assert alice.receive_json()["code"] == "forged"


def wrong_field_name(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_json({"message": "hi", "type": "disconnect"})
            assert alice.receive_json()["error"] == "reserved_field"


def text_for_bytes(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_text("\x00\x01")
            assert alice.receive_json()["code"] == "binary_not_supported"


def own_app(app):
    with TestClient(answers.create_hardened_app()) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_json({"message": "hi", "type": "disconnect"})
            assert alice.receive_json()["code"] == "reserved_field"


async def async_test(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_json({"message": "hi", "type": "disconnect"})
            assert alice.receive_json()["code"] == "reserved_field"


def waits_for_bob(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice, \
                client.websocket_connect("/ws/bob") as bob:
            alice.send_json({"message": "hi", "type": "disconnect"})
            assert alice.receive_json()["type"] == "error"
            bob.receive_json()  # bob is sent nothing: this waits for ever


def stub_test(app):
    raise NotImplementedError("exercise: endpoint tests")


def right_forged(app):
    with TestClient(app) as client, client.websocket_connect("/ws/bob") as bob:
        bob.send_text(json.dumps({"message": "hi", "client_id": "system"}))
        reply = json.loads(bob.receive_text())
        assert (reply["type"], reply["code"]) == ("error", "reserved_field")


def right_binary(app):
    with TestClient(app) as client, client.websocket_connect("/ws/bob") as bob:
        bob.send_bytes(b"\xff")
        assert bob.receive_json()["code"] == "binary_not_supported"
        bob.send_json({"message": "again"})
        assert bob.receive_json()["message"] == "again"


REFERENCES = (answers.test_forged_field_is_refused, answers.test_binary_frame_is_refused)


@pytest.mark.parametrize("tests, hint, words", [
    ((asserts_nothing,), "does not test the fix",
     ["asserts_nothing(app) with the lecture's endpoint", "got: it passed"]),
    ((compares_without_assert,), "`alice.receive_json()['code'] == 'reserved_field'` checks "
                                 "nothing", ["read the code of compares_without_assert(app)"]),
    ((right_binary, own_app), "never uses the app it is given",
     ["own_app(app) with the lecture's endpoint"]),
    ((right_forged, wrong_code), "asserts does not hold",
     ["wrong_code(app) with the hardened endpoint", "got: AssertionError"]),
    ((wrong_field_name,), "The reply has no field 'error'", ["raised KeyError"]),
    ((text_for_bytes,), "send_bytes() sends a binary frame", ["raised JSONDecodeError"]),
    ((async_test,), "declared async def", ["got: async def"]),
    ((waits_for_bob,), "receive_json() has no timeout",
     ["waits_for_bob(app) with the hardened endpoint", "still waiting after 3 s"]),
    ((), "Pass the test functions themselves", ["no tests"]),
], ids=["asserts nothing", "no assert", "own app", "wrong code", "wrong field name",
        "text for bytes", "async def", "waits for bob", "no tests"])
def test_each_wrong_test_gets_the_hint_that_names_its_mistake_first(tests, hint, words,
                                                                    capsys):
    assert check_endpoint_tests(*tests) == REFERENCES
    failure(verdict(capsys), "endpoint tests", *words, hint=hint)


def test_untouched_tests_are_not_done_yet(capsys):
    def forged_stub(app):
        raise NotImplementedError("exercise: endpoint tests")

    assert check_endpoint_tests(forged_stub, stub_test) == REFERENCES
    assert capsys.readouterr().out.startswith("⏳ endpoint tests: not done yet.")


@pytest.mark.parametrize("tests", [REFERENCES, (REFERENCES[0],),
                                   (asserts_nothing, REFERENCES[1])])
def test_the_kits_own_tests_are_never_passed(tests, capsys):
    assert check_endpoint_tests(*tests) == REFERENCES
    out = capsys.readouterr().out
    assert out.startswith("⚠️ endpoint tests: run your exercise cell first.")
    assert "✅" not in out


def test_right_tests_in_another_style_pass(capsys):
    assert check_endpoint_tests(right_forged, right_binary) == (right_forged, right_binary)
    assert capsys.readouterr().out == (
        "✅ endpoint tests: both tests pass on the hardened endpoint and fail on the lecture's.\n")


# -- the summary, and the notebook ---------------------------------------------------------------

async def test_the_summary_judges_the_current_code(capsys):
    namespace = {"read_message": make_reader(inclusive=False),
                 "create_hardened_app": stub_factory,
                 "test_forged_field_is_refused": stub_test,
                 "test_binary_frame_is_refused": stub_test}
    statuses = await show_progress(chat.EXERCISES, namespace)
    assert statuses == {"read_message": "failed", "hardened endpoint": "not_done",
                        "endpoint tests": "not_done"}
    namespace["read_message"] = make_reader()  # the exercise cell was run again, never its check
    statuses = await show_progress(chat.EXERCISES, namespace)
    assert statuses["read_message"] == "passed"
    assert "1 of 3 done" in capsys.readouterr().out


#: What the hardened endpoint's exercise cell imports and defines, besides the function.
NOTEBOOK_IMPORTS = """\
from fastapi import FastAPI, WebSocket

from wslab.manager import ConnectionManager

MAX_MESSAGE_BYTES = 1000


"""

WRONG_IN_THE_NOTEBOOK = {
    "read_message": """\
import json

from wslab.envelope import Chat, PlainText, Rejected


def read_message(text, max_bytes):
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return PlainText(text)
    if not isinstance(data, dict):
        return Rejected("not_an_object", "send an object")
    if "message" not in data:
        return Rejected("missing_message", "no message")
    if len(data["message"].encode()) >= max_bytes:
        return Rejected("message_too_long", "too long")
    return Chat(data["message"])""",
    "hardened endpoint": NOTEBOOK_IMPORTS + ANSWER.replace(
        '                if event["type"] == "websocket.disconnect":\n                    break\n',
        ""),
    "endpoint tests": """\
def test_forged_field_is_refused(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_json({"message": "hi", "type": "disconnect"})
            alice.receive_json()["code"] == "reserved_field"


def test_binary_frame_is_refused(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_bytes(b"\\x00\\x01")
            assert alice.receive_json()['type'] == 'error'""",
}


def test_in_the_notebook_wrong_answers_never_pass_however_often_their_checks_run():
    outputs = run_student_notebook("04_chat_endpoint", WRONG_IN_THE_NOTEBOOK)
    assert len(outputs) == 6  # three checks, each run twice
    for output in outputs:
        assert passes(output) == [] and "❌" in output, output
