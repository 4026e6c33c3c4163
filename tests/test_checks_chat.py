"""Elective E2's checks: each names the mistake of a wrong answer, first, and passes a right one.

A wrong hardened endpoint is written as a student would write it: the lesson's answer with one
mistake edited in, saved as a module of its own, so that the check can read its source (a
forgotten ``await`` is found there). The ``reply`` check serves every answer on a real uvicorn
and talks to it with a real client, so these tests do too; its deadlines are shortened where a
wrong answer is one that never answers.
"""

from __future__ import annotations

import inspect
import json

import pytest
from fastapi import APIRouter, FastAPI, WebSocket
from fastapi.testclient import TestClient

from exercises import never_passed, none_passed, untouched, wrong_in_the_notebook
from mutants import mutant, mutant_of
from verdicts import failure, flat, not_done, stale, verdict
from wslab import envelope
from wslab.answers import chat as answers
from wslab.checks import chat
from wslab.checks import endpoint as ep
from wslab.checks.chat import (check_endpoint_tests, check_hardened_endpoint, check_read_message,
                               check_read_strict, check_reply)
from wslab.checks.progress import show_progress
from wslab.envelope import Chat, PlainText, Rejected, read_client_text
from wslab.lecture import create_lecture_app


# Wrong answers that forget an await leave coroutines unawaited, in the server: that is the point.
pytestmark = pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")


@pytest.fixture
def short_deadlines(monkeypatch):
    """The reply check's waits (core lesson 01's endpoint harness), shortened."""
    monkeypatch.setattr(ep, "OPEN_TIMEOUT", 0.5)
    monkeypatch.setattr(ep, "ANSWER_TIMEOUT", 0.5)
    monkeypatch.setattr(ep, "END_TIMEOUT", 0.5)


# -- exercise 1: reply ----------------------------------------------------------------------------


# The lesson's answer, each with one mistake.
NOT_JSON = 'await websocket.send_json({"error": "that was not JSON"})'
CATCH_NOT_JSON = f"""try:
                data = await websocket.receive_json()
            except json.JSONDecodeError:
                {NOT_JSON}
                continue
"""
SHAPE_CHECK = """if not isinstance(data, dict) or not isinstance(data.get("message"), str):
                await websocket.send_json({"error": 'send an object with a text "message"'})
                continue
            message = data["message"]"""
REPLY = 'await websocket.send_json({"reply": message, "length": len(message)})'


def reply_mutant(name, *edits):
    """The lesson's reply with ``edits`` made: a wrong answer named ``name``."""
    return mutant_of(answers.reply, name, *edits)


#: The exercise's stub, as the student's cell holds it before any work.
reply_stub = reply_mutant("reply_stub",
                          (f"{CATCH_NOT_JSON}            {SHAPE_CHECK}\n            {REPLY}",
                           'raise NotImplementedError("exercise: reply")'))


async def replies_to_everything(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        try:
            message = str(json.loads(text).get("message"))
        except (json.JSONDecodeError, AttributeError):
            message = text
        await websocket.send_json({"reply": message, "length": len(message)})


@pytest.mark.parametrize("wrong, hint, words", [
    (reply_mutant("trusts_json", (CATCH_NOT_JSON, "data = await websocket.receive_json()\n")),
     "Text that is not JSON gets an error object",
     ["send 'hello'", "the connection ended (code 1006): the endpoint raised JSONDecodeError"]),
    (reply_mutant("no_shape_check", (SHAPE_CHECK, 'message = data.get("message")')),
     "Valid JSON is not always an object", ["send '[\"hello\"]'", "raised AttributeError"]),
    (reply_mutant("python_repr", (REPLY, 'await websocket.send_text(str({"reply": message, '
                                         '"length": len(message)}))')),
     "str() of a dict writes Python",
     ["text that is not JSON: \"{'reply': 'hello', 'length': 5}\""]),
    (reply_mutant("counts_bytes", ("len(message)", "len(message.encode())")),
     "characters, not bytes",
     ['expected: {"reply": "naïve café", "length": 10}', "'length': 12"]),
    (reply_mutant("wrong_field_name_reply", ('"length": len(message)', '"len": len(message)')),
     "A field name differs: the client looks for ['length']", ["'len': 5"]),
    (reply_mutant("error_in_wrong_field", ('{"error": "that was not JSON"}',
                                           '{"message": "that was not JSON"}')),
     'An error answer is an object with the field "error"',
     ["{'message': 'that was not JSON'}"]),
    (reply_mutant("closes_after_error", (f"{NOT_JSON}\n                continue",
                                         f"{NOT_JSON}\n                break  # that ends it")),
     "keep answering in a while True",
     ["send '[\"hello\"]'", "code 1006", "the endpoint returned"]),
    (reply_mutant("reply_not_awaited", (REPLY, REPLY.removeprefix("await "))),
     "`websocket.send_json({'reply': message, 'length': len(message)})` is a "
     "call to an async function without await", ["got: nothing within 0.5 s"]),
    (reply_mutant("error_as_string", ('{"error": "that was not JSON"}', '"error: not JSON"')),
     "Your answer is JSON, but a str, not an object", ["got: 'error: not JSON'"]),
    (replies_to_everything, "Text that is not JSON gets an error object, not a reply",
     ["expected: an error object", "'reply': 'hello'"]),
    (reply_mutant("uncaught_disconnect", ("except WebSocketDisconnect:", "except KeyError:")),
     "nothing in your endpoint catches it", ["close the connection"]),
], ids=lambda value: getattr(value, "__name__", None))
@pytest.mark.slow
async def test_each_wrong_reply_gets_the_hint_that_names_its_mistake_first(
        wrong, hint, words, short_deadlines, capsys):
    assert await check_reply(wrong) is answers.reply
    failure(verdict(capsys), "reply", *words, hint=hint)


@pytest.mark.slow
async def test_untouched_reply_stub_is_not_done_yet(capsys):
    untouched(await check_reply(reply_stub), answers.reply, "reply", capsys)


async def test_the_kits_own_reply_is_never_passed(capsys):
    never_passed(await check_reply(answers.reply), answers.reply, "reply", capsys)


@pytest.mark.slow
async def test_a_right_reply_in_another_style_passes_as_a_router_too(capsys):
    async def reply(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            try:
                message = json.loads(text)["message"]
            except (ValueError, TypeError, KeyError):  # not JSON, not an object, no message
                message = None
            if isinstance(message, str):
                await websocket.send_json({"reply": message, "length": len(message)})
            else:
                await websocket.send_json({"error": "no text message"})

    assert await check_reply(reply) is reply
    assert capsys.readouterr().out.startswith("✅ reply: 7 messages answered")
    router = APIRouter()
    router.add_api_websocket_route(chat.REPLY_PATH, reply)
    assert await check_reply(router) is router
    assert capsys.readouterr().out.startswith("✅ reply: 7 messages answered")


# -- exercise 2: read_message ---------------------------------------------------------------------

def make_reader(*, nan=True, caught=(ValueError, RecursionError), forged=True, strip=True,
                count="bytes", plain_limit=True, inclusive=True, reason="a reason", wrap=Chat,
                surrogate="invalid_text", codes=None, reserved_first=True):
    """A read_message with the chosen flaws: each keyword turns one rule off or gets it wrong.

    By default it follows every rule, the optional part's edge cases included.
    """
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
        is_forged = forged and any(name in data for name in ("client_id", "timestamp", "type"))
        if reserved_first and is_forged:
            return refused("reserved_field")
        if "message" not in data:
            return refused("missing_message")
        if is_forged:
            return refused("reserved_field")
        if not isinstance(data["message"], str):
            return refused("message_not_text")
        return checked(data["message"], max_bytes, wrap, text)

    return read_message


def naive_reader(text, max_bytes):
    try:
        return Chat(json.loads(text)["message"])
    except json.JSONDecodeError:
        return PlainText(text)


def trusts_json_reader(text, max_bytes):
    data = json.loads(text)
    return Chat(data["message"]) if isinstance(data, dict) else Rejected("not_an_object", "no")


def swapped_reader(text, max_bytes):
    frame = envelope.read_message(text, max_bytes)
    return Rejected(frame.reason, frame.code) if isinstance(frame, Rejected) else frame


def printing_reader(text, max_bytes):
    print(envelope.read_message(text, max_bytes))


def forgets_a_return(text, max_bytes):
    frame = envelope.read_message(text, max_bytes)
    if not isinstance(frame, Chat):
        return frame


@pytest.mark.parametrize("wrong, hint, words", [
    (naive_reader, "anything that is not a dict is not_an_object",
     ["read_message('[1, 2, 3]', 100)", "raised TypeError"]),
    (trusts_json_reader, "makes json.loads raise json.JSONDecodeError: catch it",
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
    (make_reader(reserved_first=False), "Rules 3 and 4 are checked in the wrong order",
     ["read_message('{\"type\": \"disconnect\"}', 100)",
      "expected: Rejected(code='reserved_field', reason=<any text>)",
      "got: Rejected(code='missing_message'"]),
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
    assert check_read_message(wrong) is envelope.read_message
    failure(verdict(capsys), "read_message", *words, hint=hint)


def test_untouched_reader_is_not_done_yet(capsys):
    def read_message(text, max_bytes):
        raise NotImplementedError("exercise: read_message")

    untouched(check_read_message(read_message), envelope.read_message, "read_message", capsys)


@pytest.mark.parametrize("kit", [envelope.read_message, read_client_text])
def test_the_kits_own_reader_is_never_passed(kit, capsys):
    never_passed(check_read_message(kit), envelope.read_message, "read_message", capsys)


@pytest.mark.parametrize("right", [make_reader(), make_reader(nan=False, caught=RecursionError,
                                                              surrogate=None)],
                         ids=["with the edge cases", "without them"])
def test_a_right_reader_in_another_style_passes(right, capsys):
    assert check_read_message(right) is right
    assert capsys.readouterr().out == "✅ read_message: all 23 checks passed.\n"


# -- if you have time: read_strict ----------------------------------------------------------------

def make_strict(*, constants=True, caught=(ValueError, RecursionError), plain_first=True,
                surrogate="invalid_text", delegate=True):
    """A read_strict with the chosen flaws."""

    def refuse(name):
        raise ValueError(name)

    def read_strict(text, max_bytes, read_message):
        parse = (lambda: json.loads(text, parse_constant=refuse)) if constants else \
            (lambda: json.loads(text))
        if plain_first:
            try:
                parse()
            except json.JSONDecodeError:
                pass
            except caught:
                return Rejected("invalid_json", "not safe JSON")
        else:
            try:
                parse()
            except caught:
                return Rejected("invalid_json", "not safe JSON")
        if not delegate:  # its own reading instead of read_message's
            try:
                return Chat(json.loads(text)["message"])
            except json.JSONDecodeError:
                return PlainText(text)
        try:
            return read_message(text, max_bytes)
        except UnicodeEncodeError:
            if surrogate is None:
                raise
            return Rejected(surrogate, "half a character")

    return read_strict


def strict_that_ignores_its_reader(text, max_bytes, read_message):
    return Rejected("invalid_json", "no") if "NaN" in text else None


@pytest.mark.parametrize("wrong, hint, words", [
    (make_strict(plain_first=False), "json.JSONDecodeError is a kind of ValueError",
     ["read_strict('hello everyone', 100)", "got: Rejected(code='invalid_json'"]),
    (make_strict(constants=False), "json.loads reads NaN and Infinity",
     ["read_strict('{\"message\": NaN}', 100)", "message_not_text"]),
    (make_strict(caught=ValueError), "raise RecursionError", ["'[' * 100_000"]),
    (make_strict(caught=RecursionError), "json.loads raised ValueError",
     ["read_strict('{\"message\": NaN}', 100)"]),
    (make_strict(surrogate=None), "read_message raise UnicodeEncodeError",
     ["read_strict('{\"message\": \"\\\\ud800\"}', 100)"]),
    (make_strict(surrogate="invalid_json"), "refused as invalid_text",
     ["got: Rejected(code='invalid_json'"]),
    (make_strict(delegate=False), "read_message's business",
     ["'{\"message\": \"hi\", \"type\": \"disconnect\"}'"]),
    (strict_that_ignores_its_reader, "a return is missing", ["got: None"]),
    (make_strict(), "refuses NaN or Infinity while json.loads is still reading",
     ["read_strict('Infinity war was great', 100)", "got: Rejected(code='invalid_json'"]),
])
def test_each_wrong_strict_reader_gets_the_hint_that_names_its_mistake_first(wrong, hint, words,
                                                                             capsys):
    assert check_read_strict(wrong) is envelope.read_strict
    failure(verdict(capsys), "read_strict", *words, hint=hint)


def test_untouched_strict_reader_is_not_done_yet(capsys):
    def read_strict(text, max_bytes, read_message=None):
        raise NotImplementedError("exercise: read_strict")

    untouched(check_read_strict(read_strict), envelope.read_strict, "read_strict", capsys)


def test_the_kits_own_strict_reader_is_never_passed(capsys):
    never_passed(check_read_strict(envelope.read_strict),
                 envelope.read_strict, "read_strict", capsys)


def test_a_right_strict_reader_in_another_style_passes(capsys):
    def read_strict(text, max_bytes, read_message):
        seen = []
        try:
            json.loads(text, parse_constant=seen.append)
        except json.JSONDecodeError:
            return read_message(text, max_bytes)
        except (ValueError, RecursionError):
            seen.append("unsafe")
        if seen:
            return Rejected("invalid_json", f"not JSON: {seen[0]}")
        try:
            return read_message(text, max_bytes)
        except UnicodeError as exc:
            return Rejected("invalid_text", str(exc))

    assert check_read_strict(read_strict) is read_strict
    assert capsys.readouterr().out == (
        f"✅ read_strict: all {len(chat.READ_STRICT_TABLE)} checks passed.\n")


MORE_FRAMES = ['{"message": "\\udfff and more"}', '{"message": "ok", "extra": [1, {"a": null}]}',
               '{"message": -Infinity}', '{"message": "' + "€" * 34 + '"}', "\t\n", "{",
               '{"message": "x"} trailing', "1e999", '{"message": "' + "😀" * 25 + '"}']


def same_decision(mine, kit):
    return type(mine) is type(kit) and (
        (mine.code == kit.code) if isinstance(kit, Rejected) else (mine == kit))


@pytest.mark.parametrize("text, limit", [(text, limit) for text, limit, _, _ in
                                         chat.READ_MESSAGE_TABLE])
def test_the_lessons_reader_agrees_with_the_kits_on_the_main_rules(text, limit):
    assert same_decision(envelope.read_message(text, limit), read_client_text(text, limit))


@pytest.mark.parametrize("text, limit", [(text, limit) for text, limit, _, _ in
                                         chat.READ_MESSAGE_TABLE]
                         + [(text, 100) for text, _, _ in chat.READ_STRICT_TABLE]
                         + [(text, 100) for text in MORE_FRAMES])
def test_the_lessons_guarded_reader_agrees_with_the_kits_on_everything(text, limit):
    assert same_decision(envelope.read_strict(text, limit), read_client_text(text, limit))


def test_the_tables_cover_every_refusal_and_both_kinds_of_line():
    results = [read_client_text(text, limit) for text, limit, _, _ in chat.READ_MESSAGE_TABLE]
    codes = {result.code for result in results if isinstance(result, Rejected)}
    assert codes == set(chat.CODES)
    assert any(isinstance(result, Chat) for result in results)
    assert any(isinstance(result, PlainText) for result in results)
    strict = [read_client_text(text, 100) for text, _, _ in chat.READ_STRICT_TABLE]
    assert set(chat.STRICT_CODES) <= {result.code for result in strict
                                      if isinstance(result, Rejected)}


def test_the_lessons_plain_reader_lets_the_edge_cases_escape():
    """What read_strict guards against: without it, these raise or slip through."""
    deep = '{"message": "hi", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(RecursionError):
        envelope.read_message(deep, 100)
    with pytest.raises(UnicodeEncodeError):
        envelope.read_message('{"message": "\\ud800"}', 100)
    assert envelope.read_message('{"message": "hi", "n": NaN}', 100) == Chat("hi")


# -- exercise 3: the hardened endpoint ------------------------------------------------------------

ANSWER = inspect.getsource(answers.create_hardened_app)
NO_BREAK = ('                if event["type"] == "websocket.disconnect":\n'
            "                    break\n")


EDITED_MISTAKES = [
    (NO_BREAK, "",
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
@pytest.mark.slow
async def test_each_wrong_endpoint_gets_the_hint_that_names_its_mistake_first(
        old, new, hint, words, capsys):
    factory = mutant_of(answers.create_hardened_app, "create_hardened_app", (old, new))
    assert await check_hardened_endpoint(factory) is answers.create_hardened_app
    failure(verdict(capsys), "hardened endpoint", *words, hint=hint)


RECEIVE = """event = await websocket.receive()  # a dict: text, bytes or a disconnect
                if event["type"] == "websocket.disconnect":
                    break
                if event.get("text") is None:  # a binary frame
                    frame = Rejected("binary_not_supported", "send text, not binary data")
                else:
                    frame = read_message(event["text"], max_message_bytes)"""
READ = 'frame = read_message(event["text"], max_message_bytes)'
TO_THE_SENDER = """await manager.send_personal_message(
                        error_message(frame.code, frame.reason), websocket)"""
LEAVE = "\n            await manager.broadcast(leave_message(client_id, manager.connection_count))"


def endpoint_mutant(name, *edits):
    """The lesson's create_hardened_app with ``edits`` made, named ``name``."""
    return mutant_of(answers.create_hardened_app, name, *edits)


#: The exercise's stub: the endpoint connects, then raises where the loop belongs.
stub_after_accept = endpoint_mutant("stub_after_accept", (
    "        try:\n            while True:",
    '        raise NotImplementedError("exercise: hardened endpoint")\n'
    "        try:\n            while True:"))


def lecture_factory(read_message, max_message_bytes=1000):
    return create_lecture_app()


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
    (endpoint_mutant("text_only", (RECEIVE, "frame = read_message(await websocket.receive_text(), "
                                            "max_message_bytes)")),
     "A binary frame's event has no 'text' key",
     ["eve sends a binary frame", "raised KeyError: 'text'"]),
    (endpoint_mutant("errors_to_all", (TO_THE_SENDER, "await manager.broadcast("
                                                      "error_message(frame.code, frame.reason))")),
     "no error to everyone",
     ["then alice says", "alice received", '"type": "error"']),
    (endpoint_mutant("closes_on_error", (TO_THE_SENDER, "await websocket.close(code=1008)\n"
                                                        "                    break")),
     "goes back to the sender alone",
     ["eve: its connection was closed with code 1008"]),
    (endpoint_mutant("ignores_the_limit", (READ, READ.replace("max_message_bytes", "1000"))),
     "pass that one on to read_message",
     ["max_message_bytes=200", "message_too_long", "eve received {\"message\": \"xxx", "(cut)"]),
    (endpoint_mutant("no_leave_message", (LEAVE, "")),
     "the others hear it",
     ["eve closes her connection", "received nothing", "leave_message"]),
    (endpoint_mutant("cleanup_after_the_loop",
                     ("finally:  # however the loop ended: a disconnect, or a bug that raised\n"
                      "            manager.disconnect(websocket)\n            await",
                      "except WebSocketDisconnect:\n            pass\n"
                      "        manager.disconnect(websocket)\n        await")),
     "Your cleanup did not run when your own code raised",
     ["(a bug the check planted)", "Client #bob left the chat",
      "the server logged: the endpoint raised RuntimeError: a bug in read_message"]),
], ids=["lecture", "receive_text", "errors to all", "closes on error", "ignores the limit",
        "no leave message", "cleanup not in finally"])
@pytest.mark.slow
async def test_each_wrong_loop_gets_the_hint_that_names_its_mistake_first(factory, hint, words,
                                                                          capsys):
    assert await check_hardened_endpoint(factory) is answers.create_hardened_app
    said = failure(verdict(capsys), "hardened endpoint", *words, hint=hint)
    assert "_PlantedBug" not in said and said.count("planted") <= 1, said


@pytest.mark.parametrize("factory", [stub_after_accept, stub_before_accept, stub_factory],
                         ids=["after accept", "before accept", "in the factory"])
@pytest.mark.slow
async def test_untouched_endpoint_is_not_done_yet(factory, capsys):
    untouched(await check_hardened_endpoint(factory),
              answers.create_hardened_app, "hardened endpoint", capsys)


async def test_the_kits_own_endpoint_is_never_passed(capsys):
    never_passed(await check_hardened_endpoint(answers.create_hardened_app),
                 answers.create_hardened_app, "hardened endpoint", capsys)


@pytest.mark.slow
async def test_the_answer_passes_once_it_is_the_students(capsys):
    factory = mutant_of(answers.create_hardened_app, "create_hardened_app")
    assert await check_hardened_endpoint(factory) is factory
    out = capsys.readouterr().out
    assert out.startswith("✅ hardened endpoint: 5 kinds of bad input") and "no ghost" in out


@pytest.mark.slow
async def test_a_right_endpoint_in_another_style_passes(capsys):
    factory = endpoint_mutant("catches_a_bug_in_read_message", (READ, f"""try:
                        {READ}
                    except Exception:  # a bug in read_message: an error reply, not a crash
                        frame = Rejected("internal_error", "something went wrong")"""))
    assert await check_hardened_endpoint(factory) is factory
    out = capsys.readouterr().out
    assert out.startswith("✅ hardened endpoint:") and "got an error reply" in out, out


# -- exercise 4: tests with the TestClient --------------------------------------------------------

FORGED = {"message": "hi", "type": "disconnect"}


# The lesson's two answers, each with one mistake.
FORGED_TEST = answers.test_forged_field_is_refused
BINARY_TEST = answers.test_binary_frame_is_refused
FORGED_CODE = 'assert reply["type"] == "error" and reply["code"] == "reserved_field", reply'
FORGED_NEXT = """
            alice.send_json({"message": "next"})
            assert alice.receive_json()["message"] == "next"  # and not her forged line"""
BINARY_CODE = 'reply["type"] == "error" and reply["code"] == "binary_not_supported"'
BINARY_NEXT = ("\n            alice.send_json({\"message\": \"still here\"})"
               '\n            assert alice.receive_json()["message"] == "still here"')

#: Each wrong test: the lesson's test it is made from, and the edit that makes it wrong. The
#: "only"/"stops"/"checks" ones are the weak tests a student run of the old lesson let through:
#: each stops at "an error came".
EDITED_TESTS = {
    "asserts_nothing": (FORGED_TEST, (f"reply = alice.receive_json()\n            {FORGED_CODE}",
                                      "alice.receive_json()"), (FORGED_NEXT, "")),
    "wrong_code": (FORGED_TEST, ('"reserved_field", reply', '"forged", reply')),
    "wrong_field_name": (FORGED_TEST, ('reply["code"]', 'reply["error"]')),
    "text_for_bytes": (BINARY_TEST, ('alice.send_bytes(b"\\x00\\x01")',
                                     'alice.send_text("\\x00\\x01")')),
    "own_app": (FORGED_TEST, ("TestClient(app)", "TestClient(create_hardened_app())")),
    "async_test": (FORGED_TEST, ("def test_", "async def test_")),
    # The forged field gets some error: the code is never looked at.
    "only_the_type": (FORGED_TEST, (FORGED_CODE, 'assert reply["type"] == "error", reply'),
                      (FORGED_NEXT, "")),
    # The right error, but nothing after it: a relay that follows it goes unseen.
    "forged_stops_at_the_error": (FORGED_TEST, (FORGED_NEXT, "")),
    # Something from alice follows the error, but it may be her forged line.
    "forged_checks_the_sender_only": (FORGED_TEST,
                                      ('alice.receive_json()["message"] == "next"',
                                       'alice.receive_json()["client_id"] == "alice"')),
    # The right error for a binary frame, and the connection never tried again.
    "binary_stops_at_the_error": (BINARY_TEST, (BINARY_NEXT, "")),
    "binary_only_the_type": (BINARY_TEST, (BINARY_CODE, 'reply["type"] == "error"')),
}
edited = {name: mutant_of(test, name, *edits) for name, (test, *edits) in EDITED_TESTS.items()}


def compares_without_assert(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice:
            alice.send_json(FORGED)
            alice.receive_json()["code"] == "reserved_field"
            alice.send_json({"message": "next"})
            alice.receive_json()["message"] == "next"


def waits_for_bob(app):
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice, \
                client.websocket_connect("/ws/bob") as bob:
            alice.send_json(FORGED)
            assert alice.receive_json()["type"] == "error"
            bob.receive_json()  # bob is sent nothing: this waits for ever


def stub_test(app):
    raise NotImplementedError("exercise: endpoint tests")


def right_forged(app):
    with TestClient(app) as client, client.websocket_connect("/ws/bob") as bob:
        bob.send_text(json.dumps({"message": "hi", "client_id": "system"}))
        reply = json.loads(bob.receive_text())
        assert (reply["type"], reply["code"]) == ("error", "reserved_field")
        bob.send_text(json.dumps({"message": "after"}))
        assert json.loads(bob.receive_text())["message"] == "after"


def right_binary(app):
    with TestClient(app) as client, client.websocket_connect("/ws/bob") as bob:
        bob.send_bytes(b"\xff")
        assert bob.receive_json()["code"] == "binary_not_supported"
        bob.send_json({"message": "again"})
        assert bob.receive_json()["message"] == "again"


REFERENCES = (answers.test_forged_field_is_refused, answers.test_binary_frame_is_refused)


@pytest.mark.parametrize("tests, hint, words", [
    ((edited["asserts_nothing"], right_binary), "does not test the fix",
     ["asserts_nothing(app) with the lecture's endpoint", "got: it passed"]),
    ((compares_without_assert, right_binary),
     "`alice.receive_json()['code'] == 'reserved_field'` checks nothing",
     ["compares_without_assert(app) with an endpoint that answers every bad frame"]),
    ((edited["own_app"], right_binary), "never uses the app it is given",
     ["own_app(app) with the lecture's endpoint"]),
    ((edited["wrong_code"], right_binary), "asserts does not hold",
     ["wrong_code(app) with the hardened endpoint", "got: AssertionError"]),
    ((edited["wrong_field_name"], right_binary), "The reply has no field 'error'",
     ["raised KeyError"]),
    ((right_forged, edited["text_for_bytes"]), "send_bytes() sends a binary frame",
     ["raised JSONDecodeError"]),
    ((edited["async_test"], right_binary), "declared async def", ["got: async def"]),
    ((waits_for_bob, right_binary), "receive_json() has no timeout",
     ["waits_for_bob(app) with the hardened endpoint", "still waiting after 3 s"]),
    ((edited["only_the_type"], right_binary), "Your test accepts any error reply",
     ["only_the_type(app) with an endpoint that answers every bad frame with the same error "
      "code, 'bad_input'", "expected: the test fails", "got: it passed"]),
    ((edited["forged_stops_at_the_error"], right_binary), "relays the forged message anyway",
     ["forged_stops_at_the_error(app) with an endpoint that sends alice the right error, then "
      "relays her forged message"]),
    ((edited["forged_checks_the_sender_only"], right_binary), "not her forged one",
     ["forged_checks_the_sender_only(app) with an endpoint that sends alice the right error"]),
    ((right_forged, edited["binary_stops_at_the_error"]),
     "check that alice's connection still works",
     ["binary_stops_at_the_error(app) with an endpoint that answers the binary frame with the "
      "right error, then closes the connection"]),
    ((right_forged, edited["binary_only_the_type"]), "Assert the reply's code as well",
     ["binary_only_the_type(app) with an endpoint that answers every bad frame with the same"]),
    ((), "Pass the test functions themselves", ["no tests"]),
    ((right_forged,), "in this order: check_endpoint_tests(test_forged_field_is_refused, "
                      "test_binary_frame_is_refused)", ["with 1 argument(s)"]),
], ids=["asserts nothing", "no assert", "own app", "wrong code", "wrong field name",
        "text for bytes", "async def", "waits for bob", "only the type", "forged: no follow-up",
        "forged: sender only", "binary: no follow-up", "binary: only the type", "no tests",
        "one test"])
def test_each_wrong_test_gets_the_hint_that_names_its_mistake_first(tests, hint, words,
                                                                    capsys):
    assert check_endpoint_tests(*tests) == REFERENCES
    failure(verdict(capsys), "endpoint tests", *words, hint=hint)


@pytest.mark.parametrize("weak", ["only_the_type", "forged_stops_at_the_error",
                                  "forged_checks_the_sender_only"])
def test_the_weak_forged_tests_pass_on_the_fix_and_fail_on_the_lecture(weak):
    """What makes them weak: the old check, which tried only those two endpoints, passed them."""
    assert chat._run_test(edited[weak], answers.create_hardened_app()).passed
    assert not chat._run_test(edited[weak], create_lecture_app()).passed


def chat_line_reaches_everyone(app):
    """The lesson's first TestClient test: a chat line reaches alice and bob."""
    with TestClient(app) as client:
        with client.websocket_connect("/ws/alice") as alice, \
                client.websocket_connect("/ws/bob") as bob:
            alice.send_json({"message": "hello"})
            for ws in (alice, bob):
                assert ws.receive_json()["message"] == "hello"


@pytest.mark.parametrize("flaw", sorted(chat.FLAWS))
def test_each_flaw_is_only_that_and_the_kits_tests_catch_it(flaw):
    app = chat.flawed_app(flaw)
    assert chat._run_test(chat_line_reaches_everyone, app).passed
    must_catch = [name for name, flaws in chat.TEST_KINDS if flaw in flaws]
    assert must_catch
    for name in must_catch:
        assert not chat._run_test(getattr(answers, name), chat.flawed_app(flaw)).passed, name


def test_untouched_tests_are_not_done_yet(capsys):
    def forged_stub(app):
        raise NotImplementedError("exercise: endpoint tests")

    assert check_endpoint_tests(forged_stub, stub_test) == REFERENCES
    assert not_done(capsys.readouterr().out, "endpoint tests")


@pytest.mark.parametrize("tests", [REFERENCES, (REFERENCES[0],),
                                   (edited["asserts_nothing"], REFERENCES[1])])
def test_the_kits_own_tests_are_never_passed(tests, capsys):
    assert check_endpoint_tests(*tests) == REFERENCES
    assert stale(capsys.readouterr().out, "endpoint tests")


def test_right_tests_in_another_style_pass(capsys):
    assert check_endpoint_tests(right_forged, right_binary) == (right_forged, right_binary)
    out = capsys.readouterr().out
    assert out.startswith("✅ endpoint tests: both tests pass on the hardened endpoint"), out
    assert "\n" not in out.rstrip("\n"), out


# -- the summary, and the notebook ----------------------------------------------------------------

@pytest.mark.slow
async def test_the_summary_judges_the_current_code(capsys):
    namespace = {"reply": reply_stub,
                 "read_message": make_reader(inclusive=False),
                 "create_hardened_app": stub_factory,
                 "test_forged_field_is_refused": stub_test,
                 "test_binary_frame_is_refused": stub_test}
    statuses = await show_progress(chat.EXERCISES, namespace)
    assert {name: statuses[name] for name in namespace if name in statuses} == {
        "reply": "not_done", "read_message": "failed"}
    assert statuses["hardened endpoint"] == "not_done"
    assert statuses["endpoint tests"] == "not_done"
    assert statuses["read_strict"] == "missing"
    namespace["read_message"] = make_reader()  # the exercise cell was run again, never its check
    statuses = await show_progress(chat.EXERCISES, namespace)
    assert statuses["read_message"] == "passed"
    out = flat(capsys.readouterr().out)
    assert "read_strict" in out and "predict: a forged system message" in out


#: What the hardened endpoint's exercise cell imports and defines, besides the function.
NOTEBOOK_IMPORTS = """\
from fastapi import FastAPI


MAX_MESSAGE_BYTES = 1000


"""

def rules_3_and_4_swapped() -> str:
    """The lesson's read_message, with the missing message refused before a reserved field."""
    source = inspect.getsource(envelope.read_message)
    rule_3 = source[source.index("    forged = "):source.index('    if "message" not in data:')]
    rule_5 = '    if not isinstance(data["message"], str):'
    return mutant(mutant(source, rule_3, ""), rule_5, rule_3 + rule_5)


WRONG_IN_THE_NOTEBOOK = {
    "reply": "from fastapi import WebSocket, WebSocketDisconnect\n\n\n" + mutant(
        inspect.getsource(answers.reply), CATCH_NOT_JSON,
        "data = await websocket.receive_json()\n"),
    "read_message": "import json\n\nfrom wslab.envelope import (RESERVED_FIELDS, Chat, PlainText, "
                    "Rejected, checked_line, json_kind)\n\n\n" + rules_3_and_4_swapped(),
    "hardened endpoint": NOTEBOOK_IMPORTS + mutant(ANSWER, NO_BREAK, ""),
    "endpoint tests": mutant(mutant(inspect.getsource(FORGED_TEST), FORGED_CODE,
                                    'assert reply["type"] == "error", reply'), FORGED_NEXT, "")
                      + "\n\n" + mutant(inspect.getsource(BINARY_TEST), BINARY_NEXT, ""),
    "read_strict": """\
def read_strict(text, max_bytes, read_message=read_message):
    try:
        json.loads(text)
    except ValueError:
        return Rejected("invalid_json", "not JSON")
    return read_message(text, max_bytes)""",
}


@pytest.mark.slow
def test_in_the_notebook_wrong_answers_never_pass_however_often_their_checks_run():
    outputs = wrong_in_the_notebook("E2_hardening_the_endpoint", WRONG_IN_THE_NOTEBOOK, 10)
    none_passed(outputs)  # five checks, each run twice
    assert "Rules 3 and 4 are checked in the wrong order" in flat(outputs[2])


@pytest.mark.parametrize("observed, letter", [
    (("message_too_long", '{"type": "error", "code": "message_too_long"}'), "a"),
    (("message_too_long", "(closed by the server with code 1009: too big)"), "b"),
    (("(closed with 1009)", "(closed by the server with code 1009: too big)"), "c"),
])
def test_the_testclient_prediction_reads_what_came_back(observed, letter):
    assert chat.TEST_CLIENT_LIMITS.classify(observed) == letter


@pytest.mark.parametrize("shown_line, letter", [
    ("[system line] Client #alice left the chat", "b"),
    ("Client eve: Client #alice left the chat", "a"),
    ("(nothing)", "c"),
])
def test_the_forged_line_prediction_reads_the_page(shown_line, letter):
    assert chat.FORGED_LINE.classify(shown_line) == letter
