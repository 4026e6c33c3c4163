"""Elective E3's checks: a receiver of chat lines, and the backoff delay before a reconnect.

Both exercises are the kit's own code, ``wslab.client.receive_chat`` and
``wslab.backoff.backoff_delay``: their checks compare the student's answer with it on every case, so
there is no copy in :mod:`wslab.answers`.
"""

from __future__ import annotations

import ast
import asyncio
import html
import inspect
import json
import math
from datetime import datetime
from typing import Any, Callable

from wslab import client, envelope
from wslab.backoff import backoff_ceiling, backoff_delay
from wslab.checks.core import (PRINT_NOT_RETURN, Failure, NotDone, call, carry_on,
                               common_exception, common_mistake, describe_exception,
                               missing_await_hint, missing_field_hint, run_async_check,
                               run_check, shown, source_of, unawaited_calls)
from wslab.checks.predictions import Question
from wslab.checks.progress import Exercise
from wslab.reconnect import CHAT_POLICY



def _calls_print(function: Any) -> bool:
    """Whether the function's source calls print(): a None it returned was meant as its answer."""
    try:
        tree = ast.parse(source_of(function))
    except SyntaxError:
        return False
    return any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
               and node.func.id == "print" for node in ast.walk(tree))


# -- exercise 1: receive_chat -------------------------------------------------------------------

_NOON = datetime(2026, 1, 1, 12, 0, 0)
#: How long the check lets one call of ``receive_chat`` take before it says it is stuck.
RECEIVE_WAIT = 1.0


class ScriptedSocket:
    """Stands in for a connection: ``recv()`` returns the scripted frames, in order, and then
    waits forever, like a server with nothing more to say. ``async for`` works too."""

    def __init__(self, frames: list[str]) -> None:
        self._frames = list(frames)
        self.received = 0
        self.sent: list[Any] = []

    async def recv(self, decode: bool | None = None) -> str:
        if not self._frames:
            await asyncio.Event().wait()  # nothing more is coming
        self.received += 1
        return self._frames.pop(0)

    def __aiter__(self) -> ScriptedSocket:
        return self

    async def __anext__(self) -> str:
        return await self.recv()

    async def send(self, message: Any) -> None:
        self.sent.append(message)


def _chat(sender: str, text: str) -> str:
    return envelope.chat_message(sender, text, _NOON)


def _system(kind: str, text: str) -> str:
    """A message of the server's own, cut down to the fields that matter here, so that a
    verdict can show a whole script of frames in a few lines (the real ones say more: who is
    online, how many...)."""
    return json.dumps({"type": kind, "client_id": "system", "message": text})


#: (frames, count, hint). Each script ends with the count-th chat line, so a receiver that
#: asks for one frame more waits forever (the check stops it and says so). The hint is the
#: last resort, for a wrong answer no recognised mistake explains.
RECEIVE_CASES: list[tuple[list[str], int, str]] = [
    ([_system("welcome", "Welcome, alice!"), _system("join", "bob joined"),
      _chat("bob", "hi alice"), _chat("alice", "hi bob")], 2,
     'Keep the chat lines, JSON objects without a "type": each as (its "client_id", its '
     '"message").'),
    ([envelope.plain_text_message("bob", "plain words")], 1,
     "Text that is not JSON is the lecture's plain-text relay, 'Client bob: plain words': "
     "the sender is the name after 'Client ', the text what follows ': '."),
    ([envelope.plain_text_message("bob", "the time is 12:00: lunch!")], 1,
     "In the plain-text relay, the text may contain ': ' itself: only the first one ends "
     "the sender's name."),
    ([_system("pong", ""), _system("error", "slow down"), _system("disconnect", "dave left"),
      _chat("carol", "<b>still</b> here & there")], 1,
     'pong, error and disconnect messages have a "type" too: they are not chat. The text '
     "is kept exactly as it came."),
    ([_chat("bob", "one"), envelope.plain_text_message("carol", "two"),
      _system("join", "dave joined"), _chat("dave", "three")], 3,
     "Keep the lines in the order they arrive, chat lines and plain-text relays together, as "
     "(sender, text) tuples."),
]

SKIP_SERVER = ('A message with a "type" (welcome, join, disconnect, error, pong) is the '
               "server's own, not chat: skip it.")


def _ordinal(number: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(number, f"{number}th")


def _receive_exception_hint(exc: BaseException, frame: str | None) -> str | None:
    """Name the mistake behind an exception raised while ``frame`` was being handled."""
    if frame is None:
        return None
    try:
        data = json.loads(frame)
    except ValueError:
        data = None
    if data is None:
        if not isinstance(exc, ValueError):
            return None
        if "unpack" in str(exc):
            return ("The plain-text relay was split at every ': ', and this text contains "
                    "': ' itself: split only at the first one, the one after the sender.")
        return ("Text that is not JSON is the lecture's plain-text relay, 'Client bob: plain "
                "words': json.loads raises json.JSONDecodeError on it, so catch that and take "
                "the sender and the text apart.")
    if isinstance(exc, KeyError) and "type" in data:
        return SKIP_SERVER
    if isinstance(exc, TypeError) and "indices must be integers" in str(exc):
        return ("A message arrives as text, a str: json.loads() turns it into a dict before "
                "you can look up its fields.")
    return missing_field_hint(exc, data)


def _receive_mistake(receive_chat: Any, frames: list[str], got: Any,
                     expected: list[tuple[str, str]]) -> str | None:
    """Name the mistake that turns the right lines into ``got``, or None."""
    if got is None:
        return (PRINT_NOT_RETURN if _calls_print(receive_chat) else
                "Your function returned None: return the list of lines it collected.")
    if common_mistake(got, expected):
        return common_mistake(got, expected)
    if not isinstance(got, list):
        return "Return a list of (sender, text) tuples."
    for item, want in zip(got, expected):
        if isinstance(item, dict):
            return "Each line is a (sender, text) tuple, not a dict."
        if common_mistake(item, want):
            return (f"{common_mistake(item, want)} It matters: ('bob', 'hi') == ['bob', 'hi'] "
                    "is False, so code that looks for a line would not find yours.")
        if not (isinstance(item, tuple) and len(item) == 2):
            return "Each line is a pair: (sender, text)."
    server_texts = {data["message"] for data in map(json.loads, filter(_is_json, frames))
                    if "type" in data}
    if any(item[1] in server_texts for item in got):
        return SKIP_SERVER
    if len(got) != len(expected):
        return (f"You returned {len(got)} lines where {len(expected)} were asked for: keep "
                "receiving until you have count chat lines, then return them.")
    if any(str(sender).startswith("Client ") for sender, _ in got):
        return ("The plain-text relay reads 'Client bob: ...': the sender is bob, without "
                "'Client ' in front.")
    if [(text, sender) for sender, text in got] == expected:
        return "Sender and text are the wrong way round: the sender comes first."
    if [(sender, html.unescape(str(text))) for sender, text in got] == expected:
        return ("Keep the text exactly as it came: no html.escape here. Escaping is for "
                "whoever puts the text into HTML (lesson 03); anyone else would show &lt;b&gt;.")
    if sorted(map(repr, got)) == sorted(map(repr, expected)):
        return "Keep the lines in the order they arrived."
    return None


def shown_frames(frames: list[str]) -> str:
    """Scripted frames, readably: JSON as it is, text that is not JSON in quotes, numbered."""
    return "  ".join(f"({number}) {frame if _is_json(frame) else repr(frame)}"
                     for number, frame in enumerate(frames, 1))


def _is_json(frame: str) -> bool:
    try:
        json.loads(frame)
    except ValueError:
        return False
    return True


def _socket_name(receive_chat: Callable[..., Any]) -> str:
    """What the student called the connection: the first parameter of their function."""
    try:
        return next(iter(inspect.signature(receive_chat).parameters), "ws")
    except (TypeError, ValueError):
        return "ws"


async def _receive_once(receive_chat: Callable[[Any, int], Any], frames: list[str], count: int,
                        hint: str) -> None:
    """Run ``receive_chat`` on one scripted connection; a Failure if it is wrong."""
    expected = await client.receive_chat(ScriptedSocket(frames), count)
    socket = ScriptedSocket(frames)
    tried = f"receive_chat(ws, {count}), where ws receives {shown_frames(frames)}"
    unawaited = unawaited_calls(receive_chat, ["recv"])

    def failure(got: str, said: str | None) -> Failure:
        if unawaited:  # a coroutine where a message was due explains any later surprise
            said = missing_await_hint(unawaited)
        return Failure(tried=tried, expected=shown(expected), got=got, hint=said or hint)

    try:
        running = receive_chat(socket, count)
        if not inspect.isawaitable(running):
            raise failure(shown(running), "receive_chat waits for messages, so it is an async "
                                          "def, and the code that calls it awaits it.")
        got = await asyncio.wait_for(running, RECEIVE_WAIT)
    except (NotImplementedError, NotDone):
        raise NotDone from None
    except Failure:
        raise
    except asyncio.TimeoutError:
        if socket.received >= len(frames):
            raise failure(f"it was still waiting for a message after the {_ordinal(count)} "
                          "chat line",
                          "Return as soon as you have count lines: another message may not "
                          "come for a long time (here: never).") from None
        raise failure(f"it was still running after {RECEIVE_WAIT:g} s", None) from None
    except Exception as exc:  # the student's bug, reported as what the code did
        frame = frames[socket.received - 1] if socket.received else None
        if "coroutine" in str(exc):  # a message was due: name the call that made a coroutine
            said = missing_await_hint([f"{_socket_name(receive_chat)}.recv()"])
        else:
            said = common_exception(exc) or _receive_exception_hint(exc, frame)
        raise failure(describe_exception(exc), said) from None
    if got != expected:
        raise failure(shown(got), _receive_mistake(receive_chat, frames, got, expected))


async def check_receive_chat(receive_chat: Callable[[Any, int], Any]) -> Callable[[Any, int], Any]:
    """Exercise 1: run ``receive_chat`` on scripted connections; return what to carry on with."""

    async def body() -> str:
        for frames, count, hint in RECEIVE_CASES:
            await _receive_once(receive_chat, frames, count, hint)
        return f"all {len(RECEIVE_CASES)} checks passed."

    passed = await run_async_check("receive_chat", body, fallback="wslab.client.receive_chat",
                                   timeout=RECEIVE_WAIT * (len(RECEIVE_CASES) + 1),
                                   student=receive_chat)
    return carry_on(passed, receive_chat, client.receive_chat)


# -- exercise 2: backoff ------------------------------------------------------------------------

#: The exercise's numbers: the kit's chat policy's (``wslab.reconnect.CHAT_POLICY``).
FIRST, CAP = CHAT_POLICY.first, CHAT_POLICY.cap
#: The random numbers the check gives: the bottom, the middle and almost the top of [0, 1).
RANDS = (0.0, 0.5, 0.999)
#: ``(attempt, first, cap)``: the policy's numbers for 13 attempts, then other numbers (the
#: arguments are used), then a client that has been retrying for hours.
BACKOFF_CASES = [(attempt, FIRST, CAP) for attempt in range(13)] + [
    (3, 1.0, 6.0), (0, 2.0, 30.0), (6, 0.1, 5.0), (1100, FIRST, CAP)]


def _delay(backoff: Callable[..., float], args: tuple[Any, ...], tried: str,
           expected: str) -> float:
    """``backoff(*args)``; a Failure if it is not a number of seconds."""
    value = call(backoff, args, tried=tried, expected=expected,
                 hint="The exception comes from your function: read its last line, and try "
                      "the same call in a cell of its own.")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Failure(tried=tried, expected=expected, got=shown(value),
                      hint="Return the delay as a number of seconds (a float).")
    return value


def _close(got: list[float], want: list[float]) -> bool:
    return all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in zip(got, want))


def _delays_mistake(got: list[float], again: float, attempt: int, first: float,
                    cap: float) -> str:
    """Name the mistake behind ``got``, the delays for :data:`RANDS` (``again``: the middle
    one asked a second time)."""
    def fits(other: int, first: float = first, cap: float = cap) -> bool:
        return _close(got, [backoff_delay(other, rand, first, cap) for rand in RANDS])

    ceiling = backoff_ceiling(attempt, first, cap)
    if not math.isclose(again, got[1]):
        return ("The same call gave two different delays: use rand, the random number your "
                "function is given, not random.random() or a random number of its own. The "
                "caller draws it (and a test can choose it).")
    if (first, cap) != (FIRST, CAP) and fits(attempt, FIRST, CAP):
        return (f"Your delays fit first={FIRST:g} and cap={CAP:g}, not the ones given: use the "
                "arguments first and cap, not fixed numbers.")
    if all(isinstance(value, int) for value in got):
        return ("Your delays are whole numbers: int(), round() or // cut off the fraction of a "
                "second. Return the float as it is.")
    if attempt == 0 and max(got) == 0:
        return ("For the first reconnect (attempt 0) every delay was 0: the ceiling starts at "
                "first, and doubles with each attempt, so 2 is raised to the power attempt, "
                "not multiplied by it.")
    for other in (attempt - 1, attempt + 1):
        if other >= 0 and backoff_ceiling(other, first, cap) != ceiling and fits(other):
            which = "earlier" if other < attempt else "later"
            return (f"Your delays fit the ceiling one attempt {which}: the count is off by one. "
                    "Attempt 0 is the first reconnect, and its ceiling is first.")
    if max(got) > cap + 1e-9:
        return (f"No delay may pass the cap ({cap:g} s): cap the ceiling first, then take the "
                "delay below it.")
    if ceiling == cap and math.isclose(got[-1], cap):
        return ("Once the cap is reached the delays must still be spread out: cap the ceiling "
                "first and add the random part after that, not the other way round. Otherwise "
                "most clients wait exactly the cap, and they all come back together.")
    if math.isclose(got[0], got[-1]):
        return ("The delay is the same whatever rand is: add the random part, rand times half "
                "the ceiling. Without it every client that lost the server at the same moment "
                "retries at the same moments, all together.")
    implied = 2 * got[0]
    if _close(got, [implied / 2 + rand * implied / 2 for rand in RANDS]):
        return (f"Your delays lie between half of {implied:.4g} s and {implied:.4g} s: the "
                f"random part is right, but the ceiling for attempt {attempt} is {ceiling:g} s. "
                "It starts at first and doubles with each attempt, up to the cap.")
    if got[0] < ceiling / 2 - 1e-9:
        return ("Every delay must be at least half the ceiling: only the upper half is random, "
                "so rand = 0 gives half the ceiling. A delay near 0 sends a client straight "
                "back to a server that has just gone away.")
    return ("The delay is half the ceiling plus rand times the other half: rand = 0 gives half "
            "the ceiling, and rand close to 1 almost the whole ceiling.")


def _check_delays(backoff: Callable[..., float], attempt: int, first: float, cap: float) -> None:
    """A Failure unless ``backoff`` gives the kit's delays for every rand in :data:`RANDS`."""
    want = [backoff_delay(attempt, rand, first, cap) for rand in RANDS]
    ceiling = backoff_ceiling(attempt, first, cap)
    tried = f"backoff({attempt}, rand, {first:g}, {cap:g}) for rand = 0, 0.5 and 0.999"
    expected = (", ".join(f"{value:.4g}" for value in want) + f" s: from half the ceiling "
                f"({ceiling / 2:g} s) up to almost the ceiling ({ceiling:g} s)")
    got = [_delay(backoff, (attempt, rand, first, cap), tried, expected) for rand in RANDS]
    again = _delay(backoff, (attempt, RANDS[1], first, cap), tried, expected)
    if _close(got, want) and math.isclose(again, got[1]):
        return
    raise Failure(tried=tried, expected=expected,
                  got=", ".join(f"{value:.4g}" for value in got) + " s",
                  hint=_delays_mistake(got, again, attempt, first, cap))


def check_backoff(backoff: Callable[..., float]) -> Callable[..., float]:
    """Exercise 2: ``backoff(attempt, rand, first, cap)`` against the kit's rule, every case."""
    def body() -> str:
        for attempt, first, cap in BACKOFF_CASES:
            _check_delays(backoff, attempt, first, cap)
        return (f"all {len(BACKOFF_CASES)} checks passed: the ceiling doubles from first up to "
                "the cap, and rand spreads the delays between half the ceiling and the ceiling.")

    passed = run_check("backoff", body, fallback="wslab.backoff.backoff_delay", student=backoff)
    return carry_on(passed, backoff, backoff_delay)


# -- the lesson's prediction, and its exercises --------------------------------------------------

#: Section 3's demo runs a sender, a receiver and bob with asyncio.gather, under a time limit.
GATHER = Question(
    "predict: gather a sender and a receiver",
    options={"a": "gather returns once the sender has sent its line, after about 0.6 s",
             "b": "gather is still waiting when the 1.5 s time limit runs out",
             "c": "gather raises an error at once: a receiver cannot run beside a sender"},
    classify=lambda ended: {"returned": "a", "timed out": "b"}.get(ended, "c"),
    why="gather waits until every one of its coroutines has ended. The sender ends, but a "
        "receiver ends only when its connection closes, and the connection closes only when "
        "the async with block ends, which waits for gather: without the time limit the cell "
        "would wait forever.")

EXERCISES = (
    GATHER,
    Exercise("receive_chat", check_receive_chat, reads=("receive_chat",)),
    Exercise("backoff", check_backoff, reads=("backoff",)),
)
