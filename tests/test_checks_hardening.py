"""Elective E6's checks: each wrong answer gets the hint that names its mistake, first; right
answers in other styles pass; the kit's own answers and the stubs are never passed."""

from __future__ import annotations

import asyncio
import hmac
import json
from urllib.parse import urlsplit

import pytest
from fastapi import WebSocketDisconnect
from websockets.asyncio.client import connect

from exercises import fresh, judged, never_passed, none_passed, untouched, wrong_in_the_notebook
from mutants import mutant_of
from verdicts import failure, flat, said, verdict
from wslab.access import origin_allowed
from wslab.answers import hardening as answers
from wslab.answers.endpoint import GREETING
from wslab.checks import hardening
from wslab.checks.hardening import (BROKEN, HIJACK, SLOW, check_broadcast_test,
                                    check_first_message_auth, check_origin_allowed,
                                    check_shout_test, toy_chat_app)
from wslab.checks.progress import show_progress
from wslab.runner import BackgroundServer
from wslab.testing import receive_until


# -- exercise 1: a TestClient test of the shouting endpoint -------------------------------------


SECOND_TEXT = """
        websocket.send_text("Shout with me!")
        assert websocket.receive_text() == "SHOUT WITH ME!\""""


def shout_mutant(name, *edits):
    """The lesson's test_shout with ``edits`` made: a wrong answer named ``name``."""
    return mutant_of(answers.test_shout, name, *edits)


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


def no_argument():
    pass


def sleeps(client):
    import time
    time.sleep(2)


@pytest.mark.parametrize("wrong, hint, words", [
    (checks_nothing, "does not check the greeting",
     ["an endpoint that never sends the greeting", "got: it passed"]),
    (compares_without_assert, "`websocket.receive_text() == GREETING` checks nothing",
     ["got: it passed"]),
    (prints_the_comparison, "print only shows it", ["got: it passed"]),
    (shout_mutant("async_test", ("def test_shout", "async def test_shout")),
     "declared async def", ["got: async def test_shout(client)"]),
    (shout_mutant("ignores_greeting_text", ("assert websocket.receive_text() == GREETING",
                                            "websocket.receive_text()")),
     "not that it is the right one", ["greets with 'Hello.' instead"]),
    (shout_mutant("sends_upper_case", ('send_text("hello")', 'send_text("HELLO")'),
                  ('send_text("Shout with me!")', 'send_text("SHOUT WITH ME!")')),
     "does not show that the answers are upper-cased", ["sends the text back unchanged"]),
    (shout_mutant("sends_once", (SECOND_TEXT, "")),
     "stops after one text", ["answers the first text only"]),
    (swallows_errors_on_leaving, "does not see the endpoint crash",
     ["crashes with WebSocketDisconnect when the client leaves"]),
    (shout_mutant("wrong_path", ('"/ws/shout"', '"/ws/echo"')), "Connect to '/ws/shout'",
     ["a correct shout endpoint", "raised WebSocketDisconnect (code 1000)"]),
    (shout_mutant("expects_echo", ('== "HELLO"', '== "hello"')), "asserts does not hold",
     ["raised AssertionError", 'at: assert websocket.receive_text() == "hello"']),
    (no_argument, "one argument, client", ["raised TypeError"]),
    (shout_mutant("one_receive_too_many", ('assert websocket.receive_text() == "HELLO"',
                                           "websocket.receive_text()\n"
                                           "        websocket.receive_text()")),
     "silent for 1 s", ["raised WebSocketDisconnect"]),
    (shout_mutant("greeting_not_imported", ("== GREETING", "== GREETNG")),
     "a name that has no value here",
     ["raised NameError: name 'GREETNG' is not defined"]),
    (42, "the function itself", ["got: a int"]),
], ids=lambda value: getattr(value, "__name__", None) if callable(value) else None)
def test_each_wrong_shout_test_gets_the_hint_that_names_its_mistake_first(
        wrong, hint, words, capsys):
    assert check_shout_test(wrong) is answers.test_shout
    failure(verdict(capsys), "test_shout", *words, hint=hint)


def test_a_shout_test_that_hangs_is_reported(monkeypatch, capsys):
    monkeypatch.setattr(hardening, "SHOUT_TEST_TIMEOUT", 0.3)
    assert check_shout_test(sleeps) is answers.test_shout
    failure(verdict(capsys), "test_shout", "it was still running", hint="a loop that never ends")


def test_the_shout_test_stub_is_not_done_yet(capsys):
    untouched(check_shout_test(shout_test_stub), answers.test_shout, "test_shout", capsys)


def test_the_kits_own_shout_test_is_never_passed(capsys):
    never_passed(check_shout_test(answers.test_shout), answers.test_shout, "test_shout", capsys)


def test_a_right_shout_test_in_another_style_passes(capsys):
    def test_shout(client):
        with client.websocket_connect("/ws/shout") as websocket:
            assert websocket.receive_text() == GREETING
            for text in ("hello", "Two words"):
                websocket.send_text(text)
                assert websocket.receive_text() == text.upper()

    assert check_shout_test(test_shout) is test_shout
    assert capsys.readouterr().out == (
        "✅ test_shout: it passes on a correct endpoint and fails on 5 broken ones.\n")


# -- exercise 2: a broadcast test ---------------------------------------------------------------

def _is_welcome(message):
    return isinstance(message, dict) and message.get("type") == "welcome"


WELCOMES = """        # Sync points: a client is in the room once the server has welcomed it.
        await receive_until(alice, welcome)
        await receive_until(bob, welcome)
"""
HEARD = ("heard = await receive_until(bob, from_alice)\n"
         '        assert heard["client_id"] == "alice", heard')


def broadcast_mutant(name, *edits):
    """The lesson's test_broadcast with ``edits`` made: a wrong answer named ``name``."""
    return mutant_of(answers.test_broadcast, name, *edits)


no_sender_check = broadcast_mutant("no_sender_check",
                                   (HEARD, "await receive_until(bob, from_alice)"))


async def swallows_failures(ws_url):
    try:
        await no_sender_check(ws_url)
        raise AssertionError("unreachable on a broken server, but swallowed anyway")
    except Exception:
        pass


def plain_def(ws_url):
    return None


async def spins_while_waiting_for_bob(ws_url):
    """Waits for the line in a loop that never awaits: the loop guard stops every run."""
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        heard = []
        await alice.send(json.dumps({"message": "hello bob"}))
        while not heard:
            pass
        assert heard and await bob.recv()


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
@pytest.mark.parametrize("wrong, words", [
    (broadcast_mutant("no_sync_point", (WELCOMES, "")),
     ["a correct chat server that puts a client in the room 0.3 s",
                     "The line never reached Bob", "wait for both welcomes first"]),
    (broadcast_mutant("no_deadline", (HEARD, 'while json.loads(await bob.recv()).get("message") '
                                            '!= "hello bob":\n            pass')),
     ["sends each line back to its sender only", "still running after 6 s",
                   "A wait without a deadline"]),
    (no_sender_check, ["as if 'someone' had said it", "got: it passed",
                       "check the client_id"]),
    (broadcast_mutant("alice_hears_herself", ("receive_until(bob, from_alice)",
                                              "receive_until(alice, from_alice)")),
     ["sends each line back to its sender only", "it passed",
                           "check that Bob, not Alice, receives"]),
    (broadcast_mutant("impatient", ("receive_until(bob, from_alice)",
                                    "receive_until(bob, from_alice, timeout=0.1)")),
     ["relays each line 0.2 s late", "nothing matching arrived within 0.1 s",
                 "Your deadline is too short"]),
    (broadcast_mutant("send_without_await", ("await alice.send(", "alice.send(")),
     ["`alice.send(json.dumps({'message': 'hello bob'}))` is a call to an "
                          "async function without await", "the kit's chat server"]),
    (broadcast_mutant("wrong_field", ('heard["client_id"]', 'heard["sender"]')),
     ["raised KeyError: 'sender'", "read the field 'sender'", "'client_id'"]),
    (broadcast_mutant("text_not_decoded",
                      (HEARD, 'while (await asyncio.wait_for(bob.recv(), 2))["message"] != '
                              '"hello bob":\n            pass')),
     ["string indices must be integers", "decode it with json.loads"]),
    (swallows_failures, ["4 broken chat servers", "it passed every time",
                         "passes whatever the server does", "try/except"]),
    (broadcast_mutant("wrong_address", ('/ws/alice"', '/alice"'), ('/ws/bob"', '/bob"')),
     ["HTTP 403", "check the address", "/ws/<name>"]),
    (plain_def, ["got: a plain def", "Declare the test async def"]),
    (broadcast_mutant("helper_misspelt", ("receive_until(alice, welcome)",
                                          "receive_untill(alice, welcome)")),
     ["NameError: name 'receive_untill' is not defined",
                       "a name that has no value here"]),
    (spins_while_waiting_for_bob, ["expected: it finishes", "raised StuckInLoop",
                                   "ran for 5 s without returning or awaiting"]),
    ("test", ["expected: an async def test(ws_url)", "Define test_broadcast as a function"]),
], ids=lambda value: getattr(value, "__name__", None))
@pytest.mark.slow
async def test_each_wrong_broadcast_test_gets_the_hint_that_names_its_mistake(wrong, words,
                                                                                capsys):
    assert await check_broadcast_test(wrong) is answers.test_broadcast
    failure(verdict(capsys), "test_broadcast", *words)


async def another_style(ws_url):
    """Right, without async with and with a helper of its own."""
    alice = await connect(f"{ws_url}/ws/alice")
    bob = await connect(f"{ws_url}/ws/bob")
    try:
        for client in (alice, bob):
            await receive_until(client, lambda m: m.get("type") == "welcome", timeout=3)
        await alice.send('{"message": "hello bob"}')
        line = await receive_until(bob, lambda m: m.get("client_id") == "alice", timeout=3)
        assert line["message"] == "hello bob", line
    finally:
        await alice.close()
        await bob.close()


@pytest.mark.slow
async def test_a_right_broadcast_test_in_another_style_passes(capsys):
    assert await check_broadcast_test(another_style) is another_style
    assert said(capsys).startswith("✅ test_broadcast: it passes on the kit's server")


async def test_the_kits_own_broadcast_test_is_never_passed(capsys):
    never_passed(await check_broadcast_test(answers.test_broadcast),
                 answers.test_broadcast, "test_broadcast", capsys)


async def stub_test(ws_url):
    raise NotImplementedError("exercise: test_broadcast")


@pytest.mark.slow
async def test_the_broadcast_test_stub_is_not_done_yet(capsys):
    untouched(await check_broadcast_test(stub_test),
              answers.test_broadcast, "test_broadcast", capsys)


@pytest.mark.slow
async def test_toy_chat_variants_do_what_they_say():
    """The check's servers: the slow one is correct, each broken one breaks the solution."""
    server = BackgroundServer(toy_chat_app(), name="test-toy-chat").start()
    try:
        await answers.test_broadcast(f"{server.ws_url}/{SLOW.path}")
        outcomes = await asyncio.gather(
            *(answers.test_broadcast(f"{server.ws_url}/{toy.path}") for toy in BROKEN),
            return_exceptions=True)
    finally:
        server.stop()
    assert all(isinstance(outcome, AssertionError) for outcome in outcomes), outcomes


# -- receive_until ------------------------------------------------------------------------------


async def test_receive_until_skips_what_does_not_match_and_fails_with_a_reason(chat_server):
    async with connect(f"{chat_server.ws_url}/ws/ann") as ann:
        welcome = await receive_until(ann, _is_welcome)
        assert welcome["user"] == "ann"
        await ann.send("plain words")
        assert await receive_until(ann, lambda m: m == "Client ann: plain words") \
            == "Client ann: plain words"
        with pytest.raises(AssertionError, match="nothing matching arrived within 0.2 s"):
            await receive_until(ann, lambda m: False, timeout=0.2)


async def test_receive_until_fails_when_the_connection_closes(chat_server):
    async with connect(f"{chat_server.ws_url}/ws/a%20b") as bad:  # refused: a bad client id
        with pytest.raises(AssertionError, match=r"the connection closed \(1008\)") as failure:
            await receive_until(bad, lambda m: False, timeout=2)
    assert "bad_client_id" in str(failure.value)


# -- exercise 3: the Origin check ---------------------------------------------------------------


@pytest.mark.parametrize("wrong, words", [
    (lambda origin, host, allowed=(): origin is None or origin in allowed
     or origin.lower().startswith(f"http://{host}".lower()),
     ["'http://127.0.0.1:8000.evil.example'", "only starts like the server's own"]),
    (lambda origin, host, allowed=(): origin is None or origin in allowed
     or origin.lower() == f"http://{host}".lower(),
     ["'https://127.0.0.1:8000'", "the Host header has no scheme"]),
    (lambda origin, host, allowed=(): origin is None or origin in allowed
     or (host is not None and urlsplit(origin).hostname == host.split(":")[0]),
     ["'http://127.0.0.1:9999'", "Only the host names were compared, not the ports"]),
    (lambda origin, host, allowed=(): origin is None or origin in allowed
     or (host is not None and urlsplit(origin).netloc == host),
     ["'http://LOCALHOST:8000'", "Host names do not care about case"]),
    (lambda origin, host, allowed=(): origin is not None and origin_allowed(origin, host,
                                                                            allowed),
     ["origin_allowed(None, '127.0.0.1:8000', ())", "without an Origin header was refused"]),
    (lambda origin, host, allowed=(): origin in (None, "null") or origin_allowed(origin, host),
     ["origin_allowed('null'", "The origin 'null'", "was let in"]),
    (lambda origin, host, allowed=(): origin_allowed(origin, host)
     or any(origin.startswith(one) for one in allowed),
     ["'https://course.example.evil'", "compare for equality, not with startswith"]),
    (lambda origin, host, allowed=(): origin_allowed(origin, host)
     or urlsplit(origin).netloc in [urlsplit(one).netloc for one in allowed],
     ["'http://course.example'", "compared by host only, without their scheme"]),
    (lambda origin, host, allowed=(): origin is None or origin in allowed
     or (host and urlsplit(origin).netloc.lower() == host.lower()),
     ["origin_allowed('http://127.0.0.1:8000', None, ())", "got: None",
      "not True or False"]),
    (lambda origin, host, allowed=(): origin is None or origin in allowed
     or urlsplit(origin).netloc.lower() == host.lower(),
     ["raised AttributeError", "Without a Host header (host is None)"]),
    (lambda origin, host, allowed=(): print(origin_allowed(origin, host, allowed)),
     ["printed its answer and returned None"]),
    (lambda origin, host, allowed=(): origin is None or origin in allowed
     or url_split(origin).netloc.lower() == (host or "").lower(),  # noqa: F821
     ["raised NameError: name 'url_split' is not defined", "an import left out"]),
], ids=["prefix", "http-only", "no-port", "case", "refuses-missing", "null", "allowed-prefix",
        "allowed-without-scheme", "not-a-bool", "host-none", "print", "name-error"])
def test_each_wrong_origin_check_gets_the_hint_that_names_its_mistake(wrong, words, capsys):
    assert check_origin_allowed(wrong) is origin_allowed
    failure(verdict(capsys), "origin_allowed", *words)


def origin_in_another_style(origin, host, allowed=()):
    if origin is None or origin in set(allowed):
        return True
    parts = urlsplit(origin)
    return bool(host) and bool(parts.netloc) and parts.netloc.casefold() == host.casefold()


def test_a_right_origin_check_in_another_style_passes(capsys):
    assert check_origin_allowed(origin_in_another_style) is origin_in_another_style
    assert capsys.readouterr().out == "✅ origin_allowed: all 13 checks passed.\n"


def test_the_cases_are_what_the_lesson_asks():
    """The expected answers come from wslab.access; here is what they are, read plainly."""
    assert [origin_allowed(*args) for args, _ in hardening.ORIGIN_CASES] == [
        True, True, False, False, True, False, True, False, True, True, False, False, False]


def test_the_kits_own_origin_check_is_never_passed(capsys):
    never_passed(check_origin_allowed(origin_allowed), origin_allowed, "origin_allowed", capsys)


def test_the_origin_stub_is_not_done_yet(capsys):
    def origin_stub(origin, host, allowed=()):
        raise NotImplementedError("exercise: origin_allowed")

    untouched(check_origin_allowed(origin_stub), origin_allowed, "origin_allowed", capsys)


# -- exercise 4: first-message authentication ---------------------------------------------------

async def _first_token(websocket, timeout):
    """The token of the first message, or None; shared by the answers below."""
    try:
        event = await asyncio.wait_for(websocket.receive(), timeout)
        given = json.loads(event.get("text") or "")["token"]
    except (asyncio.TimeoutError, ValueError, TypeError, KeyError):
        return None
    return given if isinstance(given, str) else None


async def compares_a_copy_with_eq(websocket, token, timeout=1.0):
    await websocket.accept()
    expected = token.strip()
    if await _first_token(websocket, timeout) == expected:
        return True
    await websocket.close(code=1008)
    return False


async def refuses_before_accept(websocket, token, timeout=1.0):
    await websocket.close(code=1008)
    return False


async def lets_anyone_in(websocket, token, timeout=1.0):
    await websocket.accept()
    await asyncio.wait_for(websocket.receive(), timeout)
    return True


async def spins_while_waiting(websocket, token, timeout=1.0):
    await websocket.accept()
    while True:  # waits for the token without ever awaiting
        pass


REFUSE = 'await websocket.close(code=1008, reason="the first message must be the right token")'
COMPARE = "not secrets.compare_digest(given.encode(), token.encode())"


def auth_mutant(name, *edits):
    """The lesson's first_message_auth with ``edits`` made: a wrong answer named ``name``."""
    return mutant_of(answers.first_message_auth, name, *edits)


async def _count_attempt(token):
    raise KeyError("attempts")


async def task_that_fails(websocket, token, timeout=1.0):
    """Right for every client, but starts a task that fails: the server logs it."""
    asyncio.get_running_loop().create_task(_count_attempt(token))
    return await answers.first_message_auth(websocket, token, timeout)


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
@pytest.mark.parametrize("wrong, words", [
    (auth_mutant("compares_with_eq", (COMPARE, "given != token")),
     ["reading your code: how it compares the token", "`given != token`",
                        "timing attack", "compare_digest"]),
    (compares_a_copy_with_eq, ["`await _first_token(websocket, timeout) == expected`",
                               "timing attack"]),
    (auth_mutant("close_without_await", (REFUSE, REFUSE.removeprefix("await "))),
     ["`websocket.close(code=1008, reason='the first message must be the right token')` is a "
      "call to an async function without await", "a wrong token"]),
    (auth_mutant("close_without_code", (REFUSE, "await websocket.close()")),
     ["got: closed 1000", "not with close code 1008", "close() without a code sends 1000"]),
    (auth_mutant("returns_nothing_when_refusing", (f"{REFUSE}\n        return False",
                                                   f"{REFUSE}\n        return None")),
     ["it returned None", "Return False when you refuse"]),
    (auth_mutant("without_deadline", ("await asyncio.wait_for(websocket.receive(), timeout)",
                                      "await websocket.receive()")),
     ["silence", "no answer within 2 s", "with a deadline"]),
    (auth_mutant("trusting_json", ("except (ValueError, TypeError, KeyError):",
                                   "except (ValueError, TypeError):")),
     ["JSON without a token", "raised KeyError: 'token'", "refuse it like a wrong token"]),
    (refuses_before_accept, ["the handshake was refused (HTTP 403)", "accept the connection first"]),
    (lets_anyone_in, ["a wrong token", "got: welcome", "A wrong token was let in"]),
    (spins_while_waiting, ["raised StuckInLoop", "ran for 5 s without returning or awaiting"]),
    (auth_mutant("compare_not_imported", ("secrets.compare_digest",
                                          "hmac_module.compare_digest")),
     ["the right token", "NameError: name 'hmac_module' is not defined", "an import left out"]),
    (task_that_fails, ["a server log without errors", "Task exception was never retrieved",
                       "… KeyError: 'attempts'",
                       "A task you started that failed"]),
], ids=lambda value: getattr(value, "__name__", None))
@pytest.mark.slow
async def test_each_wrong_first_message_auth_gets_the_hint_that_names_its_mistake(wrong, words,
                                                                                    capsys):
    assert await check_first_message_auth(wrong) is answers.first_message_auth
    failure(verdict(capsys), "first_message_auth", *words)


async def auth_in_another_style(websocket, token, timeout=1.0):
    await websocket.accept()
    try:
        async with asyncio.timeout(timeout):
            event = await websocket.receive()
    except TimeoutError:
        event = {}
    try:
        data = json.loads(event.get("text") or "null")
    except json.JSONDecodeError:
        data = None
    given = data.get("token") if isinstance(data, dict) else None
    ok = isinstance(given, str) and hmac.compare_digest(given.encode(), token.encode())
    if not ok and event.get("type") != "websocket.disconnect":
        await websocket.close(code=1008, reason="who are you?")
    return ok


@pytest.mark.slow
async def test_a_right_first_message_auth_in_another_style_passes(capsys):
    assert await check_first_message_auth(auth_in_another_style) is auth_in_another_style
    assert said(capsys).startswith("✅ first_message_auth: all 8 first messages")


async def test_the_kits_own_first_message_auth_is_never_passed(capsys):
    never_passed(await check_first_message_auth(answers.first_message_auth),
                 answers.first_message_auth, "first_message_auth", capsys)


@pytest.mark.slow
async def test_the_first_message_auth_stub_is_not_done_yet(capsys):
    async def auth_stub(websocket, token, timeout=1.0):
        raise NotImplementedError("exercise: first_message_auth")

    untouched(await check_first_message_auth(auth_stub), answers.first_message_auth,
              "first_message_auth", capsys)


# -- the prediction, the summary, and the lesson in a kernel ------------------------------------

def test_the_prediction_is_judged_on_what_the_page_got(capsys):
    right, out = judged(HIJACK, "b", '{"user":"ada","notes":"exam answers"}', capsys)
    assert right is False
    assert "you predicted (b)" in out and "what happened was (a) it reads Ada's notes" in out
    assert HIJACK.classify(OSError("connection refused")) == "c"


async def test_the_summary_judges_the_current_code(capsys):
    fresh(HIJACK)
    namespace = {"test_shout": shout_test_stub, "origin_allowed": origin_in_another_style}
    statuses = await show_progress(hardening.EXERCISES, namespace)
    assert statuses == {"test_shout": "not_done", "test_broadcast": "missing",
                        "predict: the page from another port": "no_prediction",
                        "origin_allowed": "passed", "first_message_auth": "missing"}
    assert "1 of 5 done" in capsys.readouterr().out


WRONG_ANSWERS = {
    "test_shout": '''
def test_shout(client):
    with client.websocket_connect("/ws/shout") as websocket:
        websocket.receive_text() == GREETING
        websocket.send_text("hello")
        assert websocket.receive_text() == "HELLO"
''',
    "test_broadcast": '''
async def test_broadcast(ws_url):
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        alice.send(json.dumps({"message": "hello bob"}))
        await receive_until(bob, lambda m: m.get("message") == "hello bob")
''',
    "origin_allowed": '''
def origin_allowed(origin, host, allowed=()):
    return origin is None or origin in allowed or \
        origin.lower().startswith(("http://" + host).lower())
''',
    "first_message_auth": '''
async def first_message_auth(websocket, token, timeout=1.0):
    await websocket.accept()
    try:
        event = await asyncio.wait_for(websocket.receive(), timeout)
        given = json.loads(event.get("text") or "")["token"]
    except (asyncio.TimeoutError, ValueError, TypeError, KeyError):
        given = None
    if given == token:
        return True
    await websocket.close(code=1008)
    return False
''',
}


@pytest.mark.slow
def test_in_the_notebook_wrong_answers_never_pass_however_often_their_checks_run():
    outputs = wrong_in_the_notebook("E6_testing_and_security", WRONG_ANSWERS, 8, timeout=180)
    none_passed(outputs, *WRONG_ANSWERS)
    hints = ["checks nothing", "is a call to an async function without await",
             "only starts like", "timing attack"]
    for hint, runs in zip(hints, zip(outputs[::2], outputs[1::2])):
        assert all(hint in flat(run) for run in runs), (hint, runs)
