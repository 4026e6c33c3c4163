"""Lesson 05's checks: a receiver of chat lines, the backoff delay, and a chat line as safe HTML.

Also the reference a stuck student carries on with for the third exercise,
:func:`message_line`; the references of the first two are the kit's own, in ``wslab.client``.
"""

from __future__ import annotations

import asyncio
import html
import math
import re
from datetime import datetime
from html.parser import HTMLParser
from typing import Any, Callable

from wslab import client, envelope
from wslab.checks.core import (Failure, NotDone, describe_exception, run_async_check,
                               run_check, shown)

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


#: (frames, count, hint). The expected lines are what the kit's ``wslab.client.chat_line``
#: makes of the frames; each script ends with the count-th chat line, so a receiver that
#: asks for one frame more waits forever (the check stops it and says so).
RECEIVE_CASES: list[tuple[list[str], int, str]] = [
    ([envelope.welcome_message("alice", ["alice"], _NOON),
      envelope.join_message("bob", 2, _NOON),
      _chat("bob", "hi alice"), _chat("alice", "hi bob")], 2,
     'Skip the server\'s own messages: a JSON object with a "type" (welcome, join, ...) is '
     'not chat. A chat line is an object without "type": keep its "client_id" and '
     '"message".'),
    (["Client bob: plain words"], 1,
     "Text that is not JSON is the lecture's plain-text relay, 'Client bob: plain words': "
     "json.loads raises json.JSONDecodeError, so catch it and take the sender and the text "
     "apart."),
    (["Client bob: the time is 12:00: lunch!"], 1,
     "Split only at the first ': ', the one after the sender: the text may contain ': ' "
     "itself. text.split(': ', 1) splits once."),
    ([envelope.pong_message(_NOON),
      envelope.error_message("rate_limited", "slow down", _NOON),
      envelope.leave_message("dave", 2, _NOON),
      _chat("carol", "<b>still</b> here & there")], 1,
     'pong, error and disconnect messages have a "type" too: skip them all. Keep the text '
     "exactly as it came: no html.escape here (that is for whoever draws it as HTML, "
     "exercise 3)."),
    ([_chat("bob", "one"), "Client carol: two", envelope.join_message("dave", 3, _NOON),
      _chat("dave", "three")], 3,
     "Keep the lines in the order they arrive, chat lines and plain-text relays together, as "
     "(sender, text) tuples."),
]


def _as_pairs(value: Any) -> Any:
    """Lists of pairs compare equal whether the pairs are tuples or lists."""
    if isinstance(value, list) and all(isinstance(item, (list, tuple)) for item in value):
        return [tuple(item) for item in value]
    return value


def _ordinal(number: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(number, f"{number}th")


async def check_receive_chat(receive_chat: Callable[[Any, int], Any]) -> Callable[[Any, int], Any]:
    """Exercise 1: run ``receive_chat`` on scripted connections; return what to carry on with."""

    async def body() -> str:
        for frames, count, hint in RECEIVE_CASES:
            expected = [line for line in map(client.chat_line, frames) if line is not None]
            socket = ScriptedSocket(frames)
            tried = (f"receive_chat(ws, {count}), where ws receives "
                     + ", ".join(shown(frame, 70) for frame in frames))
            try:
                got = await asyncio.wait_for(receive_chat(socket, count), RECEIVE_WAIT)
            except (NotImplementedError, NotDone):
                raise
            except asyncio.TimeoutError:
                if socket.received >= len(frames):
                    got_text = (f"it was still waiting for a message after the "
                                f"{_ordinal(count)} chat line")
                    hint = ("Return as soon as you have `count` lines: another message may not "
                            "come for a long time (here: never). Check the count right after "
                            "you add a line, or loop `while len(lines) < count:`.")
                else:
                    got_text = f"it was still running after {RECEIVE_WAIT:g} s"
                raise Failure(tried=tried, expected=shown(expected), got=got_text,
                              hint=hint) from None
            except Exception as exc:
                raise Failure(tried=tried, expected=shown(expected),
                              got=describe_exception(exc), hint=hint) from None
            if _as_pairs(got) != expected:
                raise Failure(tried=tried, expected=shown(expected), got=shown(got), hint=hint)
        return f"all {len(RECEIVE_CASES)} checks passed."

    passed = await run_async_check("receive_chat", body, fallback="wslab.client.receive_chat",
                                   timeout=RECEIVE_WAIT * (len(RECEIVE_CASES) + 1))
    return receive_chat if passed else client.receive_chat


# -- exercise 2: backoff ------------------------------------------------------------------------

#: How often the check calls ``backoff`` with each argument (it is random).
DRAWS = 300


def _ceiling(attempt: int, first: float = 0.5, cap: float = 10.0) -> float:
    return min(cap, first * 2 ** min(attempt, 60))


def _draws(backoff: Callable[..., float], args: tuple[Any, ...], call: str,
           expected: str, hint: str) -> list[float]:
    """``DRAWS`` results of ``backoff(*args)``; a Failure if one is not a number of seconds."""
    values = []
    for _ in range(DRAWS):
        try:
            value = backoff(*args)
        except (NotImplementedError, NotDone):
            raise
        except Exception as exc:
            raise Failure(tried=call, expected=expected, got=describe_exception(exc),
                          hint=hint) from None
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value)):
            raise Failure(tried=call, expected=expected, got=shown(value),
                          hint="Return the delay as a number of seconds (a float).")
        values.append(float(value))
    return values


def _check_delays(backoff: Callable[..., float], attempt: int, first: float | None = None,
                  cap: float | None = None) -> None:
    """Draw ``backoff`` many times for one argument list; Failure unless the spread is right."""
    args: tuple[Any, ...] = (attempt,) if first is None else (attempt, first, cap)
    first_, cap_ = (0.5, 10.0) if first is None or cap is None else (first, cap)
    ceiling = _ceiling(attempt, first_, cap_)
    call = f"backoff({', '.join(map(repr, args))}), {DRAWS} times"
    expected = (f"every delay between {ceiling / 2:g} and {ceiling:g} s (the ceiling is "
                f"min(cap, first * 2 ** attempt) = min({cap_:g}, {first_:g} * 2 ** {attempt}) "
                f"= {ceiling:g}), spread out at random")
    # The default arguments are checked first: a formula wrong only here ignores the arguments.
    arguments_hint = ("Use the arguments first and cap, not fixed numbers: the ceiling is "
                      "min(cap, first * 2 ** attempt).") if first is not None else None
    if attempt > 100:
        error_hint = ("2 ** attempt grows without end: a float cannot hold 2 ** 1100, so the "
                      "multiplication raises OverflowError (a client that has been retrying "
                      "for hours gets there). Stop the exponent growing once it is past the "
                      "cap: first * 2 ** min(attempt, 60).")
    else:
        error_hint = "Read the exception: it comes from your function."
    draws = _draws(backoff, args, call, expected, error_hint)
    low, high = min(draws), max(draws)
    if low < ceiling / 2 - 1e-9:
        raise Failure(tried=call, expected=expected,
                      got=f"{low:.4g} s (the shortest of the {DRAWS} delays)",
                      hint=arguments_hint or
                      "Wait at least half the ceiling: ceiling / 2 + random.random() * "
                      "ceiling / 2. A delay near 0 sends a client straight back to a server "
                      "that has just gone away.")
    if high > ceiling + 1e-9:
        if arguments_hint:
            hint = arguments_hint
        elif ceiling == cap_:
            hint = (f"No delay may pass the cap ({cap_:g} s): take min(cap, first * 2 ** "
                    f"attempt) as the ceiling, then add the jitter below it.")
        else:
            hint = ("The ceiling starts at first (0.5 s) for attempt 0 and doubles with each "
                    "attempt: first * 2 ** attempt, then at most cap. The delay is at most the "
                    "ceiling.")
        raise Failure(tried=call, expected=expected,
                      got=f"{high:.4g} s (the longest of the {DRAWS} delays)", hint=hint)
    if high - low < ceiling / 8:
        if arguments_hint:
            hint = arguments_hint
        elif ceiling == cap_ and attempt > 0:
            hint = ("Once the cap is reached, the delays must still be random: cap the "
                    "ceiling first, min(cap, first * 2 ** attempt), and add the jitter after "
                    "that, not the other way round. Otherwise every client waits exactly the "
                    "cap, and they all come back together.")
        else:
            hint = ("Add random jitter: ceiling / 2 + random.random() * ceiling / 2. Without it "
                    "every client that lost the server at the same moment retries at the same "
                    "moments, all together.")
        raise Failure(tried=call, expected=expected,
                      got=f"{DRAWS} delays, all between {low:.4g} and {high:.4g} s: "
                          f"(almost) the same every time", hint=hint)


#: (attempt, first, cap) beyond the defaults: the arguments are used, and a huge attempt works.
BACKOFF_ARGUMENTS = [(3, 1.0, 6.0), (0, 2.0, 30.0), (6, 0.1, 5.0)]
HUGE_ATTEMPT = 1100


def check_backoff(backoff: Callable[..., float]) -> Callable[..., float]:
    """Exercise 2: draw ``backoff`` many times for each attempt; check bounds and spread."""

    def body() -> str:
        checks = 0
        for attempt in range(13):
            _check_delays(backoff, attempt)
            checks += 1
        for attempt, first, cap in BACKOFF_ARGUMENTS:
            _check_delays(backoff, attempt, first, cap)
            checks += 1
        _check_delays(backoff, HUGE_ATTEMPT)
        checks += 1
        return (f"all {checks} checks passed ({DRAWS} draws each): the delays double from "
                f"first up to the cap, and are spread between half the ceiling and the ceiling.")

    passed = run_check("backoff", body, fallback="wslab.client.backoff")
    return backoff if passed else client.backoff


# -- exercise 3: message_line -------------------------------------------------------------------

def message_line(data: dict, me: str) -> str:
    """One message from the server as a line of HTML, as the lecture's page builds it, with
    every value escaped."""
    text = html.escape(str(data.get("message", "")))
    if "type" in data:                              # a message from the server itself
        return f'<div class="message system">{text}</div>'
    sender = str(data.get("client_id", ""))
    mine = sender == me
    who = html.escape("You" if mine else f"Client {sender}")
    timestamp = html.escape(str(data.get("timestamp", "")))
    return (f'<div class="message {"user" if mine else "other"}">{who}: {text} '
            f'<span class="timestamp">{timestamp}</span></div>')


reference_message_line = message_line


class _Structure(HTMLParser):
    """What a browser builds from a piece of HTML: elements, attributes, and the text shown."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[Any, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, tuple(sorted((k, v or "") for k, v in attrs))))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.events.append(("end", tag))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_data(self, data: str) -> None:
        if self.events and self.events[-1][0] == "text":
            self.events[-1] = ("text", self.events[-1][1] + data)
        else:
            self.events.append(("text", data))

    def handle_comment(self, data: str) -> None:
        self.events.append(("comment", data))

    def handle_decl(self, decl: str) -> None:
        self.events.append(("decl", decl))

    def handle_pi(self, data: str) -> None:
        self.events.append(("pi", data))


def structure(fragment: str) -> list[tuple[Any, ...]]:
    """The elements and text a browser makes of ``fragment``; whitespace runs count as one."""
    parser = _Structure()
    parser.feed(fragment)
    parser.close()
    events = []
    for event in parser.events:
        if event[0] == "text":
            text = " ".join(event[1].split())
            if text:
                events.append(("text", text))
        else:
            events.append(event)
    return events


def shown_text(fragment: str) -> str:
    """The text a browser shows for ``fragment``."""
    return " ".join(event[1] for event in structure(fragment) if event[0] == "text")


SAFE_TAGS = {"div", "span"}
_PAYLOADS = {
    "image": "<img src=x onerror=\"document.body.style.background='pink'\">",
    "script": "</div><script>stealToken()</script>",
}

#: (message, me, hint)
LINE_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"message": "hi", "client_id": "bob", "timestamp": "12:00:00"}, "alice",
     "A chat line from someone else: <div class=\"message other\">Client bob: hi <span "
     "class=\"timestamp\">12:00:00</span></div>."),
    ({"message": "hi", "client_id": "alice", "timestamp": "12:00:01"}, "alice",
     "Your own line says You instead of Client alice, and its class is \"message user\"."),
    ({"client_id": "system", "type": "join", "message": "Client #bob joined the chat (2 online)",
      "timestamp": "12:00:02"}, "alice",
     "A message with a \"type\" is the server's own: <div class=\"message system\">, and "
     "inside it only the escaped message."),
    ({"message": _PAYLOADS["image"], "client_id": "mallory", "timestamp": "12:00:03"}, "alice",
     "Pass the message through html.escape() before it goes into the HTML: then the browser "
     "shows <img ...> as text instead of making an image whose onerror runs."),
    ({"message": _PAYLOADS["script"], "client_id": "mallory", "timestamp": "12:00:04"}, "alice",
     "Escape the message: unescaped, </div> closes your line early and <script> starts a "
     "script."),
    ({"message": "hello", "client_id": '<b onmouseover="stealToken()">mallory</b>',
      "timestamp": "12:00:05"}, "alice",
     "Escape the sender's name too: the lecture's server takes any client id from the URL, "
     "markup included."),
    ({"message": "I am the server now <img src=x onerror=stealToken()>", "client_id": "mallory",
      "timestamp": "12:00:06", "type": "disconnect"}, "alice",
     "Escape the text of a system line as well: on the lecture's server a client can send "
     "\"type\": \"disconnect\" itself (lesson 04)."),
    ({"message": "Tom &amp; Jerry: &lt;3 <3", "client_id": "bob", "timestamp": "12:00:07"},
     "alice",
     "Someone typed the characters &amp; and &lt; themselves, and the page must show exactly "
     "what they typed. html.escape turns & into &amp; first, then < and >: replacing < and > "
     "alone would show &lt;3 as <3."),
    ({"message": "hi", "client_id": "bob", "timestamp": "<img src=x onerror=stealToken()>"},
     "alice",
     "Escape the timestamp too: it came over the network like every other value."),
]


def _call_text(data: dict[str, Any], me: str) -> str:
    return f"message_line({shown(data, 200)}, me={me!r})"


def check_message_line(message_line: Callable[[dict[str, Any], str], str],
                       ) -> Callable[[dict[str, Any], str], str]:
    """Exercise 3: compare what a browser would make of each line with the safe reference's."""
    reference = reference_message_line

    def body() -> str:
        for data, me, hint in LINE_CASES:
            want = reference(dict(data), me)
            tried = _call_text(data, me)
            try:
                got = message_line(dict(data), me)
            except (NotImplementedError, NotDone):
                raise
            except Exception as exc:
                raise Failure(tried=tried, expected=shown(want, 400),
                              got=describe_exception(exc), hint=hint) from None
            if not isinstance(got, str):
                raise Failure(tried=tried, expected=shown(want, 400), got=shown(got),
                              hint="Return the line of HTML as a string.")
            events = structure(got)
            unsafe = [event for event in events if event[0] in ("start", "end")
                      and event[1] not in SAFE_TAGS]
            extra_attrs = [name for event in events if event[0] == "start"
                           for name, _ in event[2] if name != "class"]
            if unsafe or extra_attrs:
                what = (f"a <{unsafe[0][1]}> element" if unsafe
                        else f"an attribute {extra_attrs[0]!r}")
                raise Failure(tried=tried, expected=shown(want, 400), got=shown(got, 400),
                              hint=f"A browser would make {what} out of that: text from the "
                                   f"network became HTML. {hint}")
            if events != structure(want):
                if (re.search(r"&(amp|lt|gt|quot|#x?[0-9a-f]+);", shown_text(got))
                        and not re.search(r"&(amp|lt|gt|quot|#x?[0-9a-f]+);", shown_text(want))):
                    hint = ("The page would show entities such as &amp;lt; instead of the "
                            "characters: is something escaped twice? Escape each value once, "
                            "right where it goes into the HTML.")
                raise Failure(tried=tried, expected=shown(want, 400), got=shown(got, 400),
                              hint=hint)
        return (f"all {len(LINE_CASES)} checks passed: markup from the network is shown as "
                f"text, and ordinary text as it was typed.")

    passed = run_check("message_line", body, fallback="the kit's message_line")
    return message_line if passed else reference
