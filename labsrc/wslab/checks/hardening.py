"""Lesson 08's checks: a broadcast test, the Origin check, first-message auth, a percentile.

The broadcast-test check judges the student's *test*, so it needs servers the test can be
wrong about. It runs the test against the kit's chat server and against a slow but correct
one, where it must pass, and against broken ones, where it must fail. The slow and broken
servers are one small app (:func:`toy_chat_app`) with a room per variant, each under a path
prefix of its own, so the student's test reaches a variant through the ``ws_url`` it is given
and all variants are tried at once: a broken server that relays nothing makes a good test wait
for its deadline, and waiting for several deadlines one after another would take too long.

The first-message check serves the student's function inside an endpoint on a real server and
talks to it with the ``websockets`` client, as a page would: a right token, a wrong one, no
token at all, things that are not a token, and silence.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
from typing import Any, Awaitable, Callable

from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wslab import envelope
from wslab.access import origin_allowed
from wslab.chat import create_app
from wslab.checks.core import (Case, Failure, NotDone, check_function, describe_exception,
                               failed, run_async_check, shown)
from wslab.fanoutlab import percentile
from wslab.runner import BackgroundServer
from wslab.testing import receive_until

__all__ = ["test_broadcast", "first_message_auth", "toy_chat_app", "check_broadcast_test",
           "check_origin_allowed", "check_first_message_auth", "check_percentile"]


# -- exercise 1: a broadcast test that does not flake -------------------------------------------


async def test_broadcast(ws_url):
    """Alice's line reaches Bob, from Alice, word for word."""

    def welcome(message):
        return isinstance(message, dict) and message.get("type") == "welcome"

    def from_alice(message):
        return isinstance(message, dict) and message.get("message") == "hello bob"

    async with connect(f"{ws_url}/ws/alice") as alice, connect(f"{ws_url}/ws/bob") as bob:
        # Sync points: a client is in the room once the server has welcomed it.
        await receive_until(alice, welcome)
        await receive_until(bob, welcome)
        await alice.send(json.dumps({"message": "hello bob"}))
        heard = await receive_until(bob, from_alice)
        assert heard["client_id"] == "alice", heard


@dataclasses.dataclass(frozen=True)
class ToyChat:
    """One variant of the toy chat: how slow it is, and what it gets wrong (if anything)."""

    path: str
    does: str
    hint: str = ""
    join_delay: float = 0.0
    relay_delay: float = 0.0
    relay_to: str = "everyone"          # "everyone", "sender" or "nobody"
    relay_as: str | None = None         # a client id to relay every line as, instead
    relay_text: Callable[[str], str] = lambda text: text

    @property
    def correct(self) -> bool:
        return not self.hint


SLOW = ToyChat("slow", "puts a client in the room 0.3 s after its handshake and relays each "
                       "line 0.2 s late (as a busy server may)", join_delay=0.3, relay_delay=0.2)
BROKEN = (
    ToyChat("echo", "sends each line back to its sender only",
            "Check that Bob, not Alice, receives Alice's line.", relay_to="sender"),
    ToyChat("silent", "never relays a line",
            "Wait for the line at Bob with a deadline (receive_until does): a test that waits "
            "for ever cannot fail.", relay_to="nobody"),
    ToyChat("anonymous", "relays every line as if 'someone' had said it",
            "Check the client_id of the line Bob receives.", relay_as="someone"),
    ToyChat("short", "relays only the first 5 characters of a line",
            "Compare the whole text Bob receives with what Alice sent.",
            relay_text=lambda text: text[:5]),
)


def toy_chat_app(variants: tuple[ToyChat, ...] = (SLOW, *BROKEN)) -> FastAPI:
    """A chat that speaks the kit's protocol, once per variant, at ``/<variant>/ws/{client_id}``.

    Enough of the protocol for a broadcast test: a welcome once the client is in the room, a
    join announcement to the others, chat lines relayed as ``{"message", "client_id",
    "timestamp"}`` to everyone in the room. Each variant's room is its own. A variant with a
    ``join_delay`` reads a client's lines at once but puts the client in the room only that
    much later, as a server does that looks something up first: a line said to a client
    that is connected but not yet welcomed does not reach it, which is the kit's promise too.
    """
    app = FastAPI()
    for variant in variants:
        app.add_api_websocket_route(f"/{variant.path}/ws/{{client_id}}", _toy_endpoint(variant))
    return app


def _toy_endpoint(variant: ToyChat) -> Callable[[WebSocket, str], Awaitable[None]]:
    room: dict[str, WebSocket] = {}

    async def deliver(message: str, to: list[WebSocket]) -> None:
        for websocket in to:
            try:
                await websocket.send_text(message)
            except Exception:  # a client that left meanwhile: the others still get it
                pass

    async def register(websocket: WebSocket, client_id: str) -> None:
        await asyncio.sleep(variant.join_delay)
        others = list(room.values())
        room[client_id] = websocket
        await websocket.send_text(envelope.welcome_message(client_id, sorted(room)))
        await deliver(envelope.join_message(client_id, len(room)), others)

    async def endpoint(websocket: WebSocket, client_id: str) -> None:
        await websocket.accept()
        # Reading starts at once, but the client is in the room (and welcomed) only later.
        joining = asyncio.get_running_loop().create_task(register(websocket, client_id))
        try:
            while True:
                event = await websocket.receive()
                if event["type"] == "websocket.disconnect":
                    return
                frame = envelope.read_client_text(event.get("text") or "", 4096)
                if not isinstance(frame, envelope.Chat):
                    continue
                await asyncio.sleep(variant.relay_delay)
                line = envelope.chat_message(variant.relay_as or client_id,
                                             variant.relay_text(frame.text))
                targets = {"everyone": list(room.values()), "sender": [websocket],
                           "nobody": []}[variant.relay_to]
                await deliver(line, targets)
        finally:
            joining.cancel()
            if room.get(client_id) is websocket:
                del room[client_id]

    return endpoint


#: How long one run of the student's test may take before it counts as hanging.
TEST_RUN_TIMEOUT = 6.0


async def _run_test(test: Callable[[str], Awaitable[None]], ws_url: str
                    ) -> tuple[bool, BaseException | None, float]:
    """Run ``test(ws_url)``: (finished in time, what it raised, seconds taken)."""
    began = time.monotonic()
    try:
        await asyncio.wait_for(test(ws_url), TEST_RUN_TIMEOUT)
    except asyncio.TimeoutError:
        return False, None, time.monotonic() - began
    except Exception as exc:  # the test's verdict
        return True, exc, time.monotonic() - began
    return True, None, time.monotonic() - began


def _ran(outcome: tuple[bool, BaseException | None, float]) -> str:
    finished, exc, seconds = outcome
    if not finished:
        return f"it was still running after {TEST_RUN_TIMEOUT:g} s"
    return f"it {describe_exception(exc)}" if exc else f"it passed ({seconds:.1f} s)"


async def check_broadcast_test(test: Any) -> Any:
    """Exercise 1: ``test(ws_url)`` passes on correct chats, slow or not, and fails on broken ones."""
    name = "test_broadcast"
    fallback = "wslab.checks.hardening.test_broadcast"
    if not callable(test):
        failed(name, tried=f"call {shown(test, 60)}", expected="an async def test(ws_url)",
               got=f"a {type(test).__name__}", hint="Pass the function itself.", fallback=fallback)
        return test_broadcast

    async def body() -> str:
        kit = BackgroundServer(create_app(), name="lesson08-check-kit").start()
        toys = BackgroundServer(toy_chat_app(), name="lesson08-check-toys").start()
        try:
            runs = [_run_test(test, kit.ws_url), _run_test(test, f"{toys.ws_url}/{SLOW.path}")]
            runs += [_run_test(test, f"{toys.ws_url}/{toy.path}") for toy in BROKEN]
            kit_run, slow_run, *broken_runs = await asyncio.gather(*runs)
        finally:
            kit.stop()
            toys.stop()
        _must_pass(kit_run, "the kit's chat server")
        _must_pass(slow_run, f"a correct chat server that {SLOW.does}")
        for toy, outcome in zip(BROKEN, broken_runs):
            finished, exc, _ = outcome
            if finished and exc is None:
                raise Failure(tried=f"your test against a chat server that {toy.does}",
                              expected="it fails (an assert or an error)", got="it passed",
                              hint=toy.hint)
            if not finished:
                raise Failure(tried=f"your test against a chat server that {toy.does}",
                              expected=f"it fails within {TEST_RUN_TIMEOUT:g} s",
                              got=_ran(outcome),
                              hint="Give every wait a deadline: receive_until(ws, want, "
                                   "timeout=2) fails the test instead of waiting for ever.")
        return (f"it passes on the kit's server and on a slow one, and fails on "
                f"{len(BROKEN)} broken ones.")

    ok = await run_async_check(name, body, fallback=fallback, timeout=3 * TEST_RUN_TIMEOUT)
    return test if ok else test_broadcast


def _must_pass(outcome: tuple[bool, BaseException | None, float], server: str) -> None:
    finished, exc, _ = outcome
    if isinstance(exc, NotImplementedError):
        raise NotDone()
    if finished and exc is None:
        return
    if not finished:
        hint = ("Something waited for a message that never came. Did Alice speak before Bob "
                "was in the room? A line said then never reaches him: wait for both welcomes "
                "first. And give every receive a deadline (receive_until has one).")
    elif isinstance(exc, AssertionError):
        hint = ("Wait for what you mean, not for 'the next message': the server also sends "
                "welcomes and join announcements, in an order that depends on timing. Wait "
                "for both welcomes before Alice speaks (a client is in the room once it is "
                "welcomed), then receive_until Bob has Alice's line.")
    else:
        hint = ("Read the error: it comes from your test. Connect with "
                "connect(f\"{ws_url}/ws/alice\"), inside async with.")
    raise Failure(tried=f"your test against {server}", expected="it passes", got=_ran(outcome),
                  hint=hint)


# -- exercise 2: the Origin check ---------------------------------------------------------------

SERVER = "127.0.0.1:8000"
ORIGIN_CASES = [
    Case((None, SERVER, ()), True,
         "No Origin header means no browser sent it (a script, a notebook): allow it, and let "
         "the token decide."),
    Case(("http://127.0.0.1:8000", SERVER, ()), True,
         "A page from the server itself has the server's own origin: allow it."),
    Case(("http://evil.example", SERVER, ()), False,
         "A page from any other site must be refused."),
    Case(("http://127.0.0.1:9999", SERVER, ()), False,
         "The port is part of an origin: a page from another port is another origin."),
    Case(("http://LOCALHOST:8000", "localhost:8000", ()), True,
         "Host names do not care about case: compare them in lower case."),
    Case(("http://127.0.0.1:8000.evil.example", SERVER, ()), False,
         "That origin only starts like the server's one: compare the whole host and port "
         "(urllib.parse.urlsplit(origin).netloc), not a prefix."),
    Case(("null", SERVER, ()), False,
         "Sandboxed frames and local files send the origin 'null': refuse it."),
    Case(("https://course.example", SERVER, ("https://course.example",)), True,
         "An origin in the allowed list may connect."),
    Case(("https://course.example.evil", SERVER, ("https://course.example",)), False,
         "The allowed list holds exact origins: compare for equality, not with startswith."),
    Case(("http://127.0.0.1:8000", None, ()), False,
         "Without a Host header there is nothing to compare with: refuse a browser's page."),
]


def check_origin_allowed(student: Callable[..., bool]) -> Callable[..., bool]:
    return check_function(student, ORIGIN_CASES, name="origin_allowed", reference=origin_allowed,
                          fallback="wslab.access.origin_allowed",
                          same=lambda got, want: got is want or (got == want and
                                                                 isinstance(got, bool)))


# -- exercise 3: authentication in the first message --------------------------------------------


async def first_message_auth(websocket, token, timeout=1.0):
    """Accept; let the client in only if its first message, within ``timeout`` s, is the token.

    The first message must be JSON ``{"token": "..."}``. Anything else (a wrong token, no
    token, binary data, silence) is refused with close code 1008 and a reason, and this
    returns False; the endpoint then simply returns.
    """
    await websocket.accept()
    try:
        event = await asyncio.wait_for(websocket.receive(), timeout)
    except asyncio.TimeoutError:
        await websocket.close(code=1008, reason="no token within the time allowed")
        return False
    if event["type"] == "websocket.disconnect":
        return False
    try:
        given = json.loads(event.get("text") or "")["token"]
    except (ValueError, TypeError, KeyError):
        given = None
    if not isinstance(given, str) or not secrets.compare_digest(given.encode(), token.encode()):
        await websocket.close(code=1008, reason="the first message must be the right token")
        return False
    return True


TOKEN = "open-sesame"
AUTH_TIMEOUT = 0.5


@dataclasses.dataclass(frozen=True)
class _AuthCase:
    what: str
    send: str | bytes | None      # None: stay silent
    admitted: bool
    hint: str


AUTH_CASES = (
    _AuthCase("the right token", json.dumps({"token": TOKEN}), True,
              'Return True when the first message is {"token": "<the token>"}, and leave the '
              "connection open."),
    _AuthCase("a wrong token", json.dumps({"token": "guess"}), False,
              "Compare the token; when it differs, close with code 1008 and return False."),
    _AuthCase("JSON without a token", json.dumps({"message": "hi"}), False,
              "A first message without 'token' is refused like a wrong token: close 1008."),
    _AuthCase("a token that is a number", json.dumps({"token": 5}), False,
              "A token must be a string; compare strings only."),
    _AuthCase("JSON that is a list", json.dumps(["token"]), False,
              "json.loads can return a list: data['token'] then raises TypeError. Catch it "
              "and refuse with 1008."),
    _AuthCase("text that is not JSON", "let me in", False,
              "json.loads raises ValueError on text that is not JSON: catch it, close 1008."),
    _AuthCase("binary data", b"\x00\x01", False,
              "receive_text() raises KeyError on a binary message. Use websocket.receive() "
              "and look for 'text' in the event, or catch the KeyError; then close 1008."),
    _AuthCase("silence", None, False,
              "Wait with asyncio.wait_for(..., timeout): a client that never sends must not "
              "hold a connection open for ever. Close 1008 when the time is up."),
)


class _AuthServer:
    """Serves ``endpoint`` wrapped so the check learns what it raised or returned."""

    def __init__(self, student: Callable[..., Awaitable[bool]]) -> None:
        self.raised: BaseException | None = None
        self.returned: list[Any] = []
        app = FastAPI()
        app.add_api_websocket_route("/ws", self._endpoint)
        self.server = BackgroundServer(app, name="lesson08-check-auth")
        self.student = student

    async def _endpoint(self, websocket: WebSocket) -> None:
        try:
            admitted = await self.student(websocket, TOKEN, AUTH_TIMEOUT)
        except Exception as exc:  # the student's bug: reported, and the client told
            self.raised = exc
            await websocket.close(code=1011)
            return
        self.returned.append(admitted)
        if admitted is True:
            await websocket.send_text("welcome")
            await websocket.receive()


async def _try_auth(server: _AuthServer, case: _AuthCase) -> str:
    """What the client saw: "welcome", "closed 1008", "refused 403", "closed N", "nothing"."""
    url = f"{server.server.ws_url}/ws"
    try:
        async with connect(url, open_timeout=3, close_timeout=0.5) as ws:
            if case.send is not None:
                await ws.send(case.send)
            try:
                answer = await asyncio.wait_for(ws.recv(), AUTH_TIMEOUT + 1.5)
            except asyncio.TimeoutError:
                return "nothing, and the connection stayed open"
            except ConnectionClosed as closed:
                return f"closed {closed.rcvd.code}" if closed.rcvd else "closed without a code"
            return answer if isinstance(answer, str) else "binary data"
    except InvalidStatus as exc:
        return f"refused {exc.response.status_code}"


async def check_first_message_auth(student: Any) -> Any:
    """Exercise 3: ``first_message_auth`` admits the right token and refuses everything else."""
    name = "first_message_auth"
    fallback = "wslab.checks.hardening.first_message_auth"

    async def body() -> str:
        server = _AuthServer(student)
        server.server.start()
        try:
            for case in AUTH_CASES:
                server.raised = None
                got = await _try_auth(server, case)
                _judge_auth(case, got, server.raised)
        finally:
            server.server.stop()
        return f"all {len(AUTH_CASES)} first messages were handled right."

    ok = await run_async_check(name, body, fallback=fallback, timeout=20)
    return student if ok else first_message_auth


def _judge_auth(case: _AuthCase, got: str, raised: BaseException | None) -> None:
    if isinstance(raised, NotImplementedError):
        raise NotDone()
    tried = f"a client whose first message is {case.what}"
    expected = "'welcome' (admitted)" if case.admitted else "close code 1008"
    if raised is not None:
        raise Failure(tried=tried, expected=expected, got=f"your function {describe_exception(raised)}",
                      hint=case.hint)
    if got.startswith("refused"):
        raise Failure(tried=tried, expected=expected, got=f"the handshake was {got}",
                      hint="Call await websocket.accept() first: with first-message "
                           "authentication the token comes after the handshake.")
    want = "welcome" if case.admitted else "closed 1008"
    if got != want:
        raise Failure(tried=tried, expected=expected, got=got, hint=case.hint)


# -- exercise 4: a percentile that counts what never arrived ------------------------------------

PERCENTILE_CASES = [
    Case(([10, 20, 30, 40], 0, 0.5), 20, "The median of four values is the 2nd smallest here: "
         "rank = ceil(fraction * total)."),
    Case(([30, 10, 20], 0, 0.5), 20, "Sort the latencies first."),
    Case((list(range(1, 101)), 0, 0.99), 99, "rank = ceil(0.99 * 100) = 99: the 99th smallest."),
    Case(([5.0], 0, 0.99), 5.0, "With one value, every percentile is that value."),
    Case(([1, 2, 3], 1, 0.5), 2, "The total counts the missing ones too: 4 deliveries, rank 2."),
    Case(([1, 2, 3], 1, 0.99), None, "rank = ceil(0.99 * 4) = 4, but only 3 arrived: the 4th "
         "never did. Return None."),
    Case(([], 5, 0.5), None, "Nothing arrived: every percentile is 'never', None."),
    Case(([], 0, 0.5), None, "No deliveries at all: there is no percentile, None."),
]


def check_percentile(student: Callable[..., float | None]) -> Callable[..., float | None]:
    return check_function(student, PERCENTILE_CASES, name="percentile", reference=percentile,
                          fallback="wslab.fanoutlab.percentile")
