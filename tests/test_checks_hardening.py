"""Elective E6's checks: each wrong answer gets the hint that names its mistake, first; right
answers in other styles pass; the kit's own answers and the stubs are never passed."""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from urllib.parse import urlsplit

import pytest
from fastapi import WebSocketDisconnect
from websockets.asyncio.client import connect

from notebook_run import passes, run_student_notebook
from verdicts import failure, flat, said, stale, verdict
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


def greeting_not_imported(client):
    with client.websocket_connect("/ws/shout") as websocket:
        assert websocket.receive_text() == GREETNG  # noqa: F821  # a typo


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
    (greeting_not_imported, "a name that has no value here",
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
    assert check_shout_test(shout_test_stub) is answers.test_shout
    assert capsys.readouterr().out.startswith("⏳ test_shout: not done yet.")


def test_the_kits_own_shout_test_is_never_passed(capsys):
    assert check_shout_test(answers.test_shout) is answers.test_shout
    out = capsys.readouterr().out
    assert out.startswith("⚠️ test_shout: run your exercise cell first.") and "✅" not in out


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


def _is_the_line(message):
    return isinstance(message, dict) and message.get("message") == "hello bob"


async def no_sync_point(ws_url):
    """Skips Bob's welcome but does not wait for it before Alice speaks: a race."""
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        await alice.send(json.dumps({"message": "hello bob"}))
        await receive_until(bob, _is_the_line)


async def no_deadline(ws_url):
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        await receive_until(alice, _is_welcome)
        await receive_until(bob, _is_welcome)
        await alice.send(json.dumps({"message": "hello bob"}))
        while json.loads(await bob.recv()).get("message") != "hello bob":
            pass


async def no_sender_check(ws_url):
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        await receive_until(alice, _is_welcome)
        await receive_until(bob, _is_welcome)
        await alice.send(json.dumps({"message": "hello bob"}))
        await receive_until(bob, _is_the_line)


async def alice_hears_herself(ws_url):
    """Checks the line at Alice: passes on a server that echoes only to the sender."""
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        await receive_until(alice, _is_welcome)
        await receive_until(bob, _is_welcome)
        await alice.send(json.dumps({"message": "hello bob"}))
        heard = await receive_until(alice, _is_the_line)
        assert heard["client_id"] == "alice"


async def impatient(ws_url):
    """Correct, but gives the line 0.1 s: too little for a slow server."""
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        await receive_until(alice, _is_welcome)
        await receive_until(bob, _is_welcome)
        await alice.send(json.dumps({"message": "hello bob"}))
        heard = await receive_until(bob, _is_the_line, timeout=0.1)
        assert heard["client_id"] == "alice"


async def send_without_await(ws_url):
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        await receive_until(alice, _is_welcome)
        await receive_until(bob, _is_welcome)
        alice.send(json.dumps({"message": "hello bob"}))
        heard = await receive_until(bob, _is_the_line)
        assert heard["client_id"] == "alice"


async def wrong_field(ws_url):
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        await receive_until(alice, _is_welcome)
        await receive_until(bob, _is_welcome)
        await alice.send(json.dumps({"message": "hello bob"}))
        heard = await receive_until(bob, _is_the_line)
        assert heard["sender"] == "alice"


async def text_not_decoded(ws_url):
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        await receive_until(alice, _is_welcome)
        await receive_until(bob, _is_welcome)
        await alice.send(json.dumps({"message": "hello bob"}))
        while (await asyncio.wait_for(bob.recv(), 2))["message"] != "hello bob":
            pass


async def swallows_failures(ws_url):
    try:
        await no_sender_check(ws_url)
        raise AssertionError("unreachable on a broken server, but swallowed anyway")
    except Exception:
        pass


async def wrong_address(ws_url):
    async with connect(f"{ws_url}/alice") as alice, connect(f"{ws_url}/bob") as bob:
        await receive_until(alice, _is_welcome)
        await receive_until(bob, _is_welcome)


async def helper_misspelt(ws_url):
    async with connect(f"{ws_url}/ws/alice") as alice:
        await receive_untill(alice, _is_welcome)  # noqa: F821


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
    (no_sync_point, ["a correct chat server that puts a client in the room 0.3 s",
                     "The line never reached Bob", "wait for both welcomes first"]),
    (no_deadline, ["sends each line back to its sender only", "still running after 6 s",
                   "A wait without a deadline"]),
    (no_sender_check, ["as if 'someone' had said it", "got: it passed",
                       "check the client_id"]),
    (alice_hears_herself, ["sends each line back to its sender only", "it passed",
                           "check that Bob, not Alice, receives"]),
    (impatient, ["relays each line 0.2 s late", "nothing matching arrived within 0.1 s",
                 "Your deadline is too short"]),
    (send_without_await, ["`alice.send(json.dumps({'message': 'hello bob'}))` is a call to an "
                          "async function without await", "the kit's chat server"]),
    (wrong_field, ["raised KeyError: 'sender'", "read the field 'sender'", "'client_id'"]),
    (text_not_decoded, ["string indices must be integers", "decode it with json.loads"]),
    (swallows_failures, ["4 broken chat servers", "it passed every time",
                         "passes whatever the server does", "try/except"]),
    (wrong_address, ["HTTP 403", "check the address", "/ws/<name>"]),
    (plain_def, ["got: a plain def", "Declare the test async def"]),
    (helper_misspelt, ["NameError: name 'receive_untill' is not defined",
                       "a name that has no value here"]),
    (spins_while_waiting_for_bob, ["expected: it finishes", "raised StuckInLoop",
                                   "ran for 5 s without returning or awaiting"]),
    ("test", ["expected: an async def test(ws_url)", "Define test_broadcast as a function"]),
], ids=lambda value: getattr(value, "__name__", None))
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


async def test_a_right_broadcast_test_in_another_style_passes(capsys):
    assert await check_broadcast_test(another_style) is another_style
    assert said(capsys).startswith("✅ test_broadcast: it passes on the kit's server")


async def test_the_kits_own_broadcast_test_is_never_passed(capsys):
    assert await check_broadcast_test(answers.test_broadcast) is answers.test_broadcast
    assert stale(capsys.readouterr().out, "test_broadcast")


async def stub_test(ws_url):
    raise NotImplementedError("exercise: test_broadcast")


async def test_the_broadcast_test_stub_is_not_done_yet(capsys):
    assert await check_broadcast_test(stub_test) is answers.test_broadcast
    assert capsys.readouterr().out.startswith("⏳ test_broadcast: not done yet.")


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
    assert check_origin_allowed(origin_allowed) is origin_allowed
    assert stale(capsys.readouterr().out, "origin_allowed")


def test_the_origin_stub_is_not_done_yet(capsys):
    def origin_stub(origin, host, allowed=()):
        raise NotImplementedError("exercise: origin_allowed")

    check_origin_allowed(origin_stub)
    assert capsys.readouterr().out.startswith("⏳ origin_allowed: not done yet.")


# -- exercise 4: first-message authentication ---------------------------------------------------

async def _first_token(websocket, timeout):
    """The token of the first message, or None; shared by the answers below."""
    try:
        event = await asyncio.wait_for(websocket.receive(), timeout)
        given = json.loads(event.get("text") or "")["token"]
    except (asyncio.TimeoutError, ValueError, TypeError, KeyError):
        return None
    return given if isinstance(given, str) else None


async def compares_with_eq(websocket, token, timeout=1.0):
    await websocket.accept()
    given = await _first_token(websocket, timeout)
    if given != token:
        await websocket.close(code=1008)
        return False
    return True


async def compares_a_copy_with_eq(websocket, token, timeout=1.0):
    await websocket.accept()
    expected = token.strip()
    if await _first_token(websocket, timeout) == expected:
        return True
    await websocket.close(code=1008)
    return False


async def close_without_await(websocket, token, timeout=1.0):
    await websocket.accept()
    given = await _first_token(websocket, timeout)
    if given is None or not secrets.compare_digest(given, token):
        websocket.close(code=1008)
        return False
    return True


async def close_without_code(websocket, token, timeout=1.0):
    await websocket.accept()
    given = await _first_token(websocket, timeout)
    if given is not None and secrets.compare_digest(given, token):
        return True
    await websocket.close()
    return False


async def returns_nothing_when_refusing(websocket, token, timeout=1.0):
    await websocket.accept()
    given = await _first_token(websocket, timeout)
    if given is not None and secrets.compare_digest(given, token):
        return True
    await websocket.close(code=1008)


async def without_deadline(websocket, token, timeout=1.0):
    await websocket.accept()
    try:
        given = json.loads(await websocket.receive_text())["token"]
    except (ValueError, TypeError, KeyError):
        given = None
    if not isinstance(given, str) or not secrets.compare_digest(given, token):
        await websocket.close(code=1008)
        return False
    return True


async def trusting_json(websocket, token, timeout=1.0):
    await websocket.accept()
    event = await asyncio.wait_for(websocket.receive(), timeout)
    if not secrets.compare_digest(json.loads(event["text"])["token"], token):
        await websocket.close(code=1008)
        return False
    return True


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


async def compare_not_imported(websocket, token, timeout=1.0):
    await websocket.accept()
    given = await _first_token(websocket, timeout)
    if given is not None and hmac_module.compare_digest(given, token):  # noqa: F821
        return True
    await websocket.close(code=1008)
    return False


async def _count_attempt(token):
    raise KeyError("attempts")


async def task_that_fails(websocket, token, timeout=1.0):
    """Right for every client, but starts a task that fails: the server logs it."""
    asyncio.get_running_loop().create_task(_count_attempt(token))
    return await answers.first_message_auth(websocket, token, timeout)


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
@pytest.mark.parametrize("wrong, words", [
    (compares_with_eq, ["reading your code: how it compares the token", "`given != token`",
                        "timing attack", "compare_digest"]),
    (compares_a_copy_with_eq, ["`await _first_token(websocket, timeout) == expected`",
                               "timing attack"]),
    (close_without_await, ["`websocket.close(code=1008)` is a call to an async function "
                           "without await", "a wrong token"]),
    (close_without_code, ["got: closed 1000", "not with close code 1008",
                          "close() without a code sends 1000"]),
    (returns_nothing_when_refusing, ["it returned None", "Return False when you refuse"]),
    (without_deadline, ["silence", "no answer within 2 s", "with a deadline"]),
    (trusting_json, ["JSON without a token", "raised KeyError: 'token'",
                     "refuse it like a wrong token"]),
    (refuses_before_accept, ["the handshake was refused (HTTP 403)", "accept the connection first"]),
    (lets_anyone_in, ["a wrong token", "got: welcome", "A wrong token was let in"]),
    (spins_while_waiting, ["raised StuckInLoop", "ran for 5 s without returning or awaiting"]),
    (compare_not_imported, ["the right token", "NameError: name 'hmac_module' is not defined",
                            "an import left out"]),
    (task_that_fails, ["a server log without errors", "Task exception was never retrieved",
                       "… KeyError: 'attempts'",
                       "A task you started that failed"]),
], ids=lambda value: getattr(value, "__name__", None))
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


async def test_a_right_first_message_auth_in_another_style_passes(capsys):
    assert await check_first_message_auth(auth_in_another_style) is auth_in_another_style
    assert said(capsys).startswith("✅ first_message_auth: all 8 first messages")


async def test_the_kits_own_first_message_auth_is_never_passed(capsys):
    assert await check_first_message_auth(answers.first_message_auth) \
        is answers.first_message_auth
    assert stale(capsys.readouterr().out, "first_message_auth")


async def test_the_first_message_auth_stub_is_not_done_yet(capsys):
    async def auth_stub(websocket, token, timeout=1.0):
        raise NotImplementedError("exercise: first_message_auth")

    await check_first_message_auth(auth_stub)
    assert capsys.readouterr().out.startswith("⏳ first_message_auth: not done yet.")


# -- the prediction, the summary, and the lesson in a kernel ------------------------------------

def test_the_prediction_is_judged_on_what_the_page_got(capsys):
    HIJACK.prediction = HIJACK.happened = None
    HIJACK.late = False
    HIJACK.predict("b")
    assert HIJACK.check('{"user":"ada","notes":"exam answers"}') is False
    out = said(capsys)
    assert "you predicted (b)" in out and "what happened was (a) it reads Ada's notes" in out
    assert HIJACK.classify(OSError("connection refused")) == "c"


async def test_the_summary_judges_the_current_code(capsys):
    HIJACK.prediction = HIJACK.happened = None
    HIJACK.late = False
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


def test_in_the_notebook_wrong_answers_never_pass_however_often_their_checks_run():
    outputs = run_student_notebook("E6_testing_and_security", WRONG_ANSWERS, timeout=180)
    assert len(outputs) == 8  # four check cells, each run twice
    for output in outputs:
        assert "❌" in output and not passes(output), output
    hints = ["checks nothing", "is a call to an async function without await",
             "only starts like", "timing attack"]
    for hint, runs in zip(hints, zip(outputs[::2], outputs[1::2])):
        assert all(hint in flat(run) for run in runs), (hint, runs)
