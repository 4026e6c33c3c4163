"""Lesson 08's checks: each rejects plausible wrong answers with a precise report, accepts the
lesson's solutions (wslab's own code), and says "not done yet" to the stubs."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

from websockets.asyncio.client import connect

from wslab.access import origin_allowed
from wslab.checks import hardening
from wslab.checks.hardening import (BROKEN, SLOW, check_broadcast_test, check_first_message_auth,
                                    check_origin_allowed, check_percentile, first_message_auth,
                                    toy_chat_app)
from wslab.fanoutlab import percentile
from wslab.runner import BackgroundServer
from wslab.testing import receive_until


def said(capsys) -> str:
    """What the check printed, with its wrapped lines joined again."""
    out = capsys.readouterr().out
    return " ".join(out.split())


# -- exercise 1: a broadcast test ---------------------------------------------------------------

#: The lesson's solution (named so that pytest does not collect it as a test of its own).
solution = hardening.test_broadcast


def _is_welcome(message):
    return isinstance(message, dict) and message.get("type") == "welcome"


async def no_sync_point(ws_url):
    """Skips Bob's welcome but does not wait for it before Alice speaks: a race."""
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        await alice.send(json.dumps({"message": "hello bob"}))
        await receive_until(bob, lambda m: isinstance(m, dict) and m.get("message") == "hello bob")


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
        await receive_until(bob, lambda m: isinstance(m, dict) and m.get("message") == "hello bob")


async def alice_hears_herself(ws_url):
    """Checks the line at Alice: passes on a server that echoes only to the sender."""
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        await receive_until(alice, _is_welcome)
        await receive_until(bob, _is_welcome)
        await alice.send(json.dumps({"message": "hello bob"}))
        heard = await receive_until(alice, lambda m: isinstance(m, dict)
                                    and m.get("message") == "hello bob")
        assert heard["client_id"] == "alice"


async def impatient(ws_url):
    """Correct, but gives the line 0.1 s: too little for a slow server."""
    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        await receive_until(alice, _is_welcome)
        await receive_until(bob, _is_welcome)
        await alice.send(json.dumps({"message": "hello bob"}))
        heard = await receive_until(bob, lambda m: isinstance(m, dict)
                                    and m.get("message") == "hello bob", timeout=0.1)
        assert heard["client_id"] == "alice"


async def stub_test(ws_url):
    raise NotImplementedError("exercise: test_broadcast")


async def test_broadcast_check_accepts_the_solution(capsys):
    assert await check_broadcast_test(solution) is solution
    assert "✅ test_broadcast" in said(capsys)


async def test_broadcast_check_says_not_done_to_the_stub(capsys):
    assert await check_broadcast_test(stub_test) is solution
    assert "not done yet" in said(capsys)


async def test_broadcast_check_catches_the_race(capsys):
    """No sync point: passes on the kit's fast server, fails on the slow one."""
    assert await check_broadcast_test(no_sync_point) is solution
    out = said(capsys)
    assert "a correct chat server that puts a client in the room 0.3 s" in out
    assert "for both welcomes" in out


async def test_broadcast_check_catches_a_test_without_deadline(capsys):
    await check_broadcast_test(no_deadline)
    out = said(capsys)
    assert "sends each line back to its sender only" in out
    assert "still running after 6 s" in out


async def test_broadcast_check_catches_a_test_that_ignores_the_sender(capsys):
    await check_broadcast_test(no_sender_check)
    out = said(capsys)
    assert "as if 'someone' had said it" in out and "got: it passed" in out


async def test_broadcast_check_catches_a_test_that_listens_at_the_sender(capsys):
    await check_broadcast_test(alice_hears_herself)
    out = said(capsys)
    assert "sends each line back to its sender only" in out and "it passed" in out


async def test_broadcast_check_catches_a_test_too_impatient_for_a_slow_server(capsys):
    await check_broadcast_test(impatient)
    out = said(capsys)
    assert "relays each line 0.2 s late" in out and "nothing matching arrived within 0.1 s" in out


async def test_broadcast_check_refuses_what_is_not_a_function(capsys):
    assert await check_broadcast_test("test") is solution
    assert "expected: an async def test(ws_url)" in said(capsys)


async def test_toy_chat_variants_do_what_they_say():
    """The check's servers: the slow one is correct, each broken one breaks the solution."""
    server = BackgroundServer(toy_chat_app(), name="test-toy-chat").start()
    try:
        await solution(f"{server.ws_url}/{SLOW.path}")
        outcomes = await asyncio.gather(
            *(solution(f"{server.ws_url}/{toy.path}") for toy in BROKEN),
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
        try:
            await receive_until(ann, lambda m: False, timeout=0.2)
        except AssertionError as failure:
            assert "nothing matching arrived within 0.2 s" in str(failure)
        else:
            raise AssertionError("receive_until returned without a match")


async def test_receive_until_fails_when_the_connection_closes(chat_server):
    async with connect(f"{chat_server.ws_url}/ws/a%20b") as bad:  # refused: a bad client id
        try:
            await receive_until(bad, lambda m: False, timeout=2)
        except AssertionError as failure:
            assert "the connection closed (1008)" in str(failure)
            assert "bad_client_id" in str(failure)
        else:
            raise AssertionError("receive_until returned without a match")


# -- exercise 2: the Origin check ---------------------------------------------------------------


def origin_startswith(origin, host, allowed=()):
    return (origin is None or origin in allowed
            or origin.lower().startswith(f"http://{host}".lower()))


def origin_case_sensitive(origin, host, allowed=()):
    if origin is None or origin in allowed:
        return True
    return host is not None and urlsplit(origin).netloc == host


def origin_prefix_allowed(origin, host, allowed=()):
    if origin is None or any(origin.startswith(a) for a in allowed):
        return True
    return host is not None and urlsplit(origin).netloc.lower() == host.lower()


def origin_refuses_missing(origin, host, allowed=()):
    return origin is not None and origin_allowed(origin, host, allowed)


def origin_stub(origin, host, allowed=()):
    raise NotImplementedError("exercise: origin_allowed")


def test_origin_check_accepts_the_solution(capsys):
    assert check_origin_allowed(origin_allowed) is origin_allowed
    assert "✅ origin_allowed: all 10 checks passed" in said(capsys)


def test_origin_check_rejects_wrong_answers(capsys):
    expectations = {origin_startswith: "only starts like the server's one",
                    origin_case_sensitive: "do not care about case",
                    origin_prefix_allowed: "compare for equality",
                    origin_refuses_missing: "No Origin header"}
    for wrong, hint in expectations.items():
        assert check_origin_allowed(wrong) is origin_allowed
        out = said(capsys)
        assert "❌ origin_allowed" in out and hint in out, (wrong.__name__, out)


def test_origin_check_says_not_done_to_the_stub(capsys):
    check_origin_allowed(origin_stub)
    assert "not done yet" in said(capsys)


# -- exercise 3: first-message authentication ---------------------------------------------------


async def auth_without_deadline(websocket, token, timeout=1.0):
    await websocket.accept()
    try:
        given = json.loads(await websocket.receive_text())["token"]
    except (ValueError, TypeError, KeyError):
        given = None
    if given != token:
        await websocket.close(code=1008)
        return False
    return True


async def auth_trusting_json(websocket, token, timeout=1.0):
    await websocket.accept()
    event = await asyncio.wait_for(websocket.receive(), timeout)
    if json.loads(event["text"])["token"] != token:
        await websocket.close(code=1008)
        return False
    return True


async def auth_before_accept(websocket, token, timeout=1.0):
    await websocket.close(code=1008)
    return False


async def auth_lets_anyone_in(websocket, token, timeout=1.0):
    await websocket.accept()
    await asyncio.wait_for(websocket.receive(), timeout)
    return True


async def auth_wrong_code(websocket, token, timeout=1.0):
    return await _closing_with(websocket, token, timeout, 1000)


async def _closing_with(websocket, token, timeout, code):
    await websocket.accept()
    try:
        event = await asyncio.wait_for(websocket.receive(), timeout)
        ok = json.loads(event.get("text") or "")["token"] == token
    except (asyncio.TimeoutError, ValueError, TypeError, KeyError):
        ok = False
    if not ok:
        await websocket.close(code=code)
    return ok


async def auth_stub(websocket, token, timeout=1.0):
    raise NotImplementedError("exercise: first_message_auth")


async def test_first_message_check_accepts_the_solution(capsys):
    assert await check_first_message_auth(first_message_auth) is first_message_auth
    assert "✅ first_message_auth: all 8" in said(capsys)


async def test_first_message_check_rejects_wrong_answers(capsys):
    expectations = {
        auth_without_deadline: ("silence", "asyncio.wait_for"),
        auth_trusting_json: ("JSON without a token", "raised KeyError"),
        auth_before_accept: ("the right token", "Call await websocket.accept() first"),
        auth_lets_anyone_in: ("a wrong token", "got: welcome"),
        auth_wrong_code: ("a wrong token", "closed 1000"),
    }
    for wrong, (case, detail) in expectations.items():
        assert await check_first_message_auth(wrong) is first_message_auth
        out = said(capsys)
        assert "❌ first_message_auth" in out and case in out and detail in out, \
            (wrong.__name__, out)


async def test_first_message_check_says_not_done_to_the_stub(capsys):
    await check_first_message_auth(auth_stub)
    assert "not done yet" in said(capsys)


# -- exercise 4: the percentile -----------------------------------------------------------------


def percentile_ignoring_missing(latencies, missing, fraction):
    return percentile(latencies, 0, fraction)


def percentile_unsorted(latencies, missing, fraction):
    total = len(latencies) + missing
    rank = max(1, -(-fraction * total // 1))
    return None if total == 0 or rank > len(latencies) else latencies[int(rank) - 1]


def percentile_stub(latencies, missing, fraction):
    raise NotImplementedError("exercise: percentile")


def test_percentile_check(capsys):
    assert check_percentile(percentile) is percentile
    assert "✅ percentile: all 8" in said(capsys)
    for wrong, hint in ((percentile_ignoring_missing, "only 3 arrived"),
                        (percentile_unsorted, "Sort the latencies first")):
        check_percentile(wrong)
        out = said(capsys)
        assert "❌ percentile" in out and hint in out, out
    check_percentile(percentile_stub)
    assert "not done yet" in said(capsys)
