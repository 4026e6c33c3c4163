"""Elective E3's checks: each names the mistake behind a wrong answer, hint first, accepts a right
answer in any style, waits for a stub, and never passes the kit's own function."""

from __future__ import annotations

import asyncio
import html
import json
import random

import pytest

from exercises import judged, never_passed, none_passed, untouched, wrong_in_the_notebook
from verdicts import failure, verdict
from wslab import client
from wslab.backoff import backoff_delay
from wslab.checks.clients import GATHER, check_backoff, check_receive_chat


# -- exercise 1: receive_chat -------------------------------------------------------------------


def lines_from(frame_to_line):
    """A receiver that reads until it has ``count`` lines, each made by ``frame_to_line``."""

    async def receive_chat(ws, count):
        lines = []
        while len(lines) < count:
            line = frame_to_line(await ws.recv())
            if line is not None:
                lines.append(line)
        return lines

    return receive_chat


def keeps_system_messages(frame):
    data = json.loads(frame)
    return data["client_id"], data["message"]


def json_only(frame):
    data = json.loads(frame)
    return None if "type" in data else (data["client_id"], data["message"])


def splits_at_every_colon(frame):
    try:
        return json_only(frame)
    except json.JSONDecodeError:
        sender, text = frame.removeprefix("Client ").split(": ")
        return sender, text


def keeps_the_prefix(frame):
    try:
        return json_only(frame)
    except json.JSONDecodeError:
        return tuple(frame.split(": ", 1))


def wrong_field_names(frame):
    data = json.loads(frame)
    return None if "type" in data else (data["sender"], data["text"])


def sender_last(frame):
    line = client.chat_line(frame)
    return line and (line[1], line[0])


async def reads_one_more(ws, count):
    lines = []
    async for frame in ws:
        if len(lines) == count:
            break
        line = client.chat_line(frame)
        if line is not None:
            lines.append(line)
    return lines


async def escapes_the_text(ws, count):
    lines = await client.receive_chat(ws, count)
    return [(sender, html.escape(text)) for sender, text in lines]


async def returns_dicts(ws, count):
    return [{"sender": s, "text": t} for s, t in await client.receive_chat(ws, count)]


async def returns_lists(ws, count):
    return [[sender, text] for sender, text in await client.receive_chat(ws, count)]


async def prints_them(ws, count):
    print(await client.receive_chat(ws, count))


async def forgets_await(ws, count):
    lines = []
    while len(lines) < count:
        frame = ws.recv()
        line = client.chat_line(frame)
        if line is not None:
            lines.append(line)
    return lines


@pytest.mark.parametrize("wrong, words", [
    (lines_from(keeps_system_messages), ["got: [('system', 'Welcome, alice!",
                                         "is the server's own, not chat: skip it"]),
    (lines_from(json_only), ["'Client bob: plain words'", "raised JSONDecodeError",
                             "json.loads raises json.JSONDecodeError on it"]),
    (lines_from(splits_at_every_colon), ["12:00: lunch!", "raised ValueError",
                                         "split only at the first one"]),
    (lines_from(keeps_the_prefix), ["('Client bob', 'plain words')",
                                    "without 'Client ' in front"]),
    (lines_from(wrong_field_names), ["raised KeyError: 'sender'", "no field 'sender'"]),
    (lines_from(sender_last), ["Sender and text are the wrong way round"]),
    (reads_one_more, ["still waiting for a message after the 2nd chat line",
                      "Return as soon as you have count lines"]),
    (escapes_the_text, ["&lt;b&gt;still", "no html.escape here"]),
    (returns_dicts, ["got: [{'sender': 'bob'", "not a dict"]),
    (returns_lists, ["got: [['bob', 'hi alice']", "a list, where a tuple is due",
                     "('bob', 'hi') == ['bob', 'hi'] is False"]),
    (prints_them, ["got: None", "printed its answer and returned None"]),
    (forgets_await, ["`ws.recv()` is a call to an async function without await"]),
])
async def test_wrong_receivers_are_explained(wrong, words, capsys):
    assert await check_receive_chat(wrong) is client.receive_chat
    failure(verdict(capsys), "receive_chat", *words)


async def test_the_frames_tried_are_shown_whole_and_numbered(capsys):
    await check_receive_chat(lines_from(keeps_system_messages))
    out = failure(verdict(capsys), "receive_chat")
    tried = out[out.index("tried:"):out.index("expected:")]
    assert "(cut)" not in tried and "…" not in tried  # every frame whole
    assert ('(1) {"type": "welcome", "client_id": "system", "message": "Welcome, alice!"} '
            '(2) {"type": "join"') in tried
    assert '(4) {"message": "hi bob", "client_id": "alice", "timestamp": "12:00:00"}' in tried


async def test_a_receiver_that_hangs_is_stopped(capsys):
    async def waits_forever(ws, count):
        await asyncio.Event().wait()

    assert await check_receive_chat(waits_forever) is client.receive_chat
    assert "still running after 1 s" in failure(verdict(capsys), "receive_chat")


async def test_untouched_receiver_is_not_done_yet(capsys):
    async def receive_chat(ws, count):
        raise NotImplementedError("exercise: receive_chat")

    untouched(await check_receive_chat(receive_chat), client.receive_chat, "receive_chat", capsys)


async def test_the_kits_own_receiver_is_never_passed(capsys):
    never_passed(await check_receive_chat(client.receive_chat),
                 client.receive_chat, "receive_chat", capsys)


async def async_for_version(ws, count):
    lines = []
    async for frame in ws:
        try:
            data = json.loads(frame)
        except json.JSONDecodeError:
            sender, _, text = frame[len("Client "):].partition(": ")
            lines.append((sender, text))
        else:
            if data.get("type") is None:
                lines.append((data["client_id"], data["message"]))
        if len(lines) == count:
            return lines


async def test_a_right_receiver_in_another_style_passes(capsys):
    assert await check_receive_chat(async_for_version) is async_for_version
    assert capsys.readouterr().out == "✅ receive_chat: all 5 checks passed.\n"


# -- exercise 2: backoff ------------------------------------------------------------------------

def jittered(ceiling, rand):
    return ceiling / 2 + rand * ceiling / 2


@pytest.mark.parametrize("wrong, words", [
    (lambda attempt, rand, first, cap: rand * min(cap, first * 2 ** attempt),
     ["backoff(0, rand, 1, 30)", "got: 0, 0.5, 0.999 s", "at least half the ceiling"]),
    (lambda attempt, rand, first, cap: min(cap, first * 2 ** attempt),
     ["got: 1, 1, 1 s", "the same whatever rand is", "add the random part"]),
    (lambda attempt, rand, first, cap: min(cap, jittered(first * 2 ** attempt, rand)),
     ["backoff(5, rand, 1, 30)", "got: 16, 24, 30 s", "must still be spread out"]),
    (lambda attempt, rand, first, cap: jittered(first * 2 ** min(attempt, 60), rand),
     ["backoff(5, rand, 1, 30)", "No delay may pass the cap (30 s)"]),
    (lambda attempt, rand, first, cap: jittered(min(cap, first * 1.5 ** attempt), rand),
     ["backoff(1, rand, 1, 30)", "the random part is right, but the ceiling for attempt 1 is 2 s"]),
    (lambda attempt, rand, first, cap: jittered(min(cap, first * 2 ** (attempt + 1)), rand),
     ["backoff(0, rand, 1, 30)", "the ceiling one attempt later: the count is off by one"]),
    (lambda attempt, rand, first, cap: jittered(min(cap, first * 2 * attempt), rand),
     ["backoff(0, rand, 1, 30)", "every delay was 0", "raised to the power attempt"]),
    (lambda attempt, rand, first, cap: jittered(min(30.0, 1.0 * 2 ** min(attempt, 60)), rand),
     ["backoff(3, rand, 1, 6)", "use the arguments first and cap"]),
    (lambda attempt, rand, first, cap: jittered(min(cap, first * 2 ** attempt), rand),
     ["backoff(1100, rand, 1, 30)", "raised OverflowError",
      "A number grew too large for a float (OverflowError): 2 ** attempt is huge"]),
    (lambda attempt, rand, first, cap: jittered(min(cap, first * 2 ** min(attempt, 60)),
                                                random.random()),
     ["backoff(0, rand, 1, 30)", "two different delays", "use rand"]),
    (lambda attempt, rand, first, cap: int(jittered(min(cap, first * 2 ** min(attempt, 60)),
                                                    rand)),
     ["backoff(0, rand, 1, 30)", "whole numbers: int()"]),
    (lambda attempt, rand, first, cap: str(jittered(min(cap, first * 2 ** attempt), rand)),
     ["got: '0.5'", "a number of seconds"]),
    (lambda attempt, rand, first, cap: print(jittered(min(cap, first * 2 ** attempt), rand)),
     ["printed its answer and returned None"]),
])
def test_wrong_backoffs_are_explained(wrong, words, capsys):
    assert check_backoff(wrong) is backoff_delay
    out = failure(verdict(capsys), "backoff", *words)
    assert "min(attempt" not in out  # a hint never spells out the answer


def test_untouched_backoff_is_not_done_yet(capsys):
    def backoff(attempt, rand, first, cap):
        raise NotImplementedError("exercise: backoff")

    untouched(check_backoff(backoff), backoff_delay, "backoff", capsys)


def test_the_kits_own_backoff_is_never_passed(capsys):
    never_passed(check_backoff(backoff_delay), backoff_delay, "backoff", capsys)


def another_style(attempt, rand, first, cap):
    ceiling = min(first * 2 ** attempt if attempt < 40 else cap, cap)
    low = ceiling / 2
    return low + (ceiling - low) * rand


def test_a_right_backoff_in_another_style_passes(capsys):
    assert check_backoff(another_style) is another_style
    assert capsys.readouterr().out.startswith("✅ backoff: all 17 checks passed")


# -- the prediction, and the notebook as a student runs it ---------------------------------------

def test_the_prediction_is_judged_on_what_the_demo_did(capsys):
    right, out = judged(GATHER, "a", "timed out", capsys)
    assert right is False
    assert "you predicted (a)" in out and "what happened was (b)" in out
    assert "gather waits until every one of its coroutines has ended" in out


#: Whole exercise cells, their imports kept, each with a wrong answer.
WRONG_IN_THE_NOTEBOOK = {
    "receive_chat": "async def receive_chat(ws, count):\n"
                    "    return [json.loads(await ws.recv())['message'] for _ in range(count)]",
    "backoff": "import random\n\n"
               "def backoff(attempt, rand, first, cap):\n"
               "    ceiling = min(cap, first * 2 ** attempt)\n"
               "    return ceiling / 2 + rand * ceiling / 2",
}


@pytest.mark.slow
def test_in_the_notebook_wrong_answers_never_pass_however_often_their_checks_run():
    outputs = wrong_in_the_notebook("E3_python_clients", WRONG_IN_THE_NOTEBOOK, 4)
    none_passed(outputs, *WRONG_IN_THE_NOTEBOOK)
    assert "2 ** attempt is huge" in outputs[2]
