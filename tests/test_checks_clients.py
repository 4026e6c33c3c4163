"""Lesson 05's checks: each rejects plausible wrong answers, says why, and accepts solutions."""

from __future__ import annotations

import asyncio
import html
import json
import random

import pytest

from wslab import client
from wslab.checks.clients import (check_backoff, check_message_line, check_receive_chat,
                                  reference_message_line, shown_text, structure)

# -- exercise 1: receive_chat -------------------------------------------------------------------


async def keeps_system_messages(ws, count):
    lines = []
    while len(lines) < count:
        data = json.loads(await ws.recv())
        lines.append((data["client_id"], data["message"]))
    return lines


async def json_only(ws, count):
    lines = []
    while len(lines) < count:
        data = json.loads(await ws.recv())
        if "type" not in data:
            lines.append((data["client_id"], data["message"]))
    return lines


async def splits_at_every_colon(ws, count):
    lines = []
    while len(lines) < count:
        frame = await ws.recv()
        try:
            data = json.loads(frame)
        except json.JSONDecodeError:
            sender, text = frame.removeprefix("Client ").split(": ")
            lines.append((sender, text))
            continue
        if "type" not in data:
            lines.append((data["client_id"], data["message"]))
    return lines


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


async def keeps_the_prefix(ws, count):
    lines = []
    while len(lines) < count:
        frame = await ws.recv()
        try:
            data = json.loads(frame)
        except json.JSONDecodeError:
            sender, text = frame.split(": ", 1)
            lines.append((sender, text))
            continue
        if "type" not in data:
            lines.append((data["client_id"], data["message"]))
    return lines


async def returns_dicts(ws, count):
    return [{"sender": s, "text": t} for s, t in await client.receive_chat(ws, count)]


@pytest.mark.parametrize("wrong, words", [
    (keeps_system_messages, ["got:      [('system', 'Welcome, alice!", "not chat"]),
    (json_only, ["'Client bob: plain words'", "raised JSONDecodeError", "plain-text relay"]),
    (splits_at_every_colon, ["12:00: lunch!", "raised ValueError", "split(': ', 1)"]),
    (reads_one_more, ["still waiting for a message after the 2nd chat line",
                      "Return as soon as you have"]),
    (escapes_the_text, ["&lt;b&gt;still", "no html.escape here"]),
    (keeps_the_prefix, ["('Client bob', 'plain words')", "plain-text relay"]),
    (returns_dicts, ["got:      [{'sender': 'bob'", "not chat"]),
])
async def test_wrong_receivers_are_explained(wrong, words, capsys):
    assert await check_receive_chat(wrong) is client.receive_chat
    out = capsys.readouterr().out
    assert out.startswith("❌ receive_chat: not right yet.") and "hint:" in out, out
    for word in words:
        assert word in out, (word, out)


async def test_a_receiver_that_hangs_is_stopped(capsys):
    async def waits_forever(ws, count):
        await asyncio.Event().wait()

    assert await check_receive_chat(waits_forever) is client.receive_chat
    assert "still running after 1 s" in capsys.readouterr().out


async def test_untouched_receiver_is_not_done_yet(capsys):
    async def receive_chat(ws, count):
        raise NotImplementedError("exercise: receive_chat")

    assert await check_receive_chat(receive_chat) is client.receive_chat
    assert capsys.readouterr().out.startswith("⏳ receive_chat: not done yet.")


async def async_for_version(ws, count):
    lines = []
    async for frame in ws:
        try:
            data = json.loads(frame)
        except json.JSONDecodeError:
            sender, text = frame[len("Client "):].split(": ", 1)
            lines.append([sender, text])  # lists instead of tuples: accepted
        else:
            if "type" not in data:
                lines.append((data["client_id"], data["message"]))
        if len(lines) == count:
            return lines
    return lines


@pytest.mark.parametrize("solution", [client.receive_chat, async_for_version])
async def test_solutions_pass(solution, capsys):
    assert await check_receive_chat(solution) is solution
    assert capsys.readouterr().out == "✅ receive_chat: all 5 checks passed.\n"


# -- exercise 2: backoff ------------------------------------------------------------------------

def jittered(ceiling):
    return ceiling / 2 + random.random() * ceiling / 2


@pytest.mark.parametrize("wrong, words", [
    (lambda attempt, first=0.5, cap=10.0: random.random() * min(cap, first * 2 ** attempt),
     ["backoff(0), 300 times", "(the shortest of the 300 delays)", "at least half the ceiling"]),
    (lambda attempt, first=0.5, cap=10.0: min(cap, first * 2 ** attempt),
     ["all between 0.5 and 0.5 s", "Add random jitter"]),
    (lambda attempt, first=0.5, cap=10.0: min(cap, jittered(first * 2 ** attempt)),
     ["backoff(6), 300 times", "all between 10 and 10 s", "must still be random"]),
    (lambda attempt, first=0.5, cap=10.0: jittered(first * 2 ** attempt),
     ["backoff(5)", "(the longest of the 300 delays)", "No delay may pass the cap"]),
    (lambda attempt, first=0.5, cap=10.0: jittered(min(cap, first * 1.5 ** attempt)),
     ["backoff(1), 300 times", "between 0.5 and 1 s", "the shortest"]),
    (lambda attempt, first=0.5, cap=10.0: jittered(min(cap, first * 2 ** (attempt + 1))),
     ["backoff(0)", "the longest", "The ceiling starts at first"]),
    (lambda attempt, first=0.5, cap=10.0: jittered(min(10.0, 0.5 * 2 ** min(attempt, 60))),
     ["backoff(3, 1.0, 6.0)", "Use the arguments first and cap"]),
    (lambda attempt, first=0.5, cap=10.0: jittered(min(cap, first * 2 ** attempt)),
     ["backoff(1100), 300 times", "raised OverflowError", "min(attempt, 60)"]),
    (lambda attempt, first=0.5, cap=10.0: str(jittered(min(cap, first * 2 ** attempt))),
     ["got:      '0.", "a number of seconds"]),
    (lambda attempt, first=0.5, cap=10.0: random.randint(1, 2),
     ["backoff(0), 300 times", "the longest"]),
])
def test_wrong_backoffs_are_explained(wrong, words, capsys):
    assert check_backoff(wrong) is client.backoff
    out = capsys.readouterr().out
    assert out.startswith("❌ backoff: not right yet.") and "hint:" in out, out
    for word in words:
        assert word in out, (word, out)


def test_untouched_backoff_is_not_done_yet(capsys):
    def backoff(attempt, first=0.5, cap=10.0):
        raise NotImplementedError("exercise: backoff")

    assert check_backoff(backoff) is client.backoff
    assert capsys.readouterr().out.startswith("⏳ backoff: not done yet.")


def uniform_backoff(attempt, first=0.5, cap=10.0):
    ceiling = first * 2 ** attempt if attempt < 40 else cap
    return random.uniform(min(ceiling, cap) / 2, min(ceiling, cap))


@pytest.mark.parametrize("solution", [client.backoff, uniform_backoff])
def test_backoff_solutions_pass(solution, capsys):
    assert check_backoff(solution) is solution
    assert capsys.readouterr().out.startswith("✅ backoff: all 17 checks passed")


# -- exercise 3: message_line -------------------------------------------------------------------

def layout(data, me, escape):
    """The lecture's layout, with ``escape`` applied to (text, sender, timestamp)."""
    text = escape(str(data["message"]), "text")
    if "type" in data:
        return f'<div class="message system">{text}</div>'
    mine = data["client_id"] == me
    who = "You" if mine else f"Client {escape(data['client_id'], 'sender')}"
    return (f'<div class="message {"user" if mine else "other"}">{who}: {text} '
            f'<span class="timestamp">{escape(data["timestamp"], "timestamp")}</span></div>')


def escaping(*which, how=html.escape):
    return lambda data, me: layout(data, me, lambda value, what: how(value)
                                   if what in which else value)


def replace_angles(value):
    return value.replace("<", "&lt;").replace(">", "&gt;")


@pytest.mark.parametrize("wrong, words", [
    (escaping(), ["<img src=x onerror", "make a <img> element", "html.escape()"]),
    (escaping("text"), ["<b onmouseover", "make a <b> element", "sender's name"]),
    (escaping("text", "sender"), ["'timestamp': '<img", "Escape the timestamp too"]),
    (escaping("text", "sender", "timestamp", how=replace_angles),
     ["Tom &amp; Jerry", "& into &amp; first"]),
    (escaping("text", "sender", "timestamp", how=lambda v: html.escape(html.escape(v))),
     ["escaped twice"]),
    (lambda data, me: reference_message_line(data, me).replace("message user", "message other"),
     ["'client_id': 'alice'", "message user"]),
    (lambda data, me: reference_message_line(data, me).replace(
        '<span class="timestamp">', "(").replace("</span>", ")"),
     ["expected: '<div class=\"message other\">Client bob: hi <span",
      "got:      '<div class=\"message other\">Client bob: hi (12:00:00)"]),
    (lambda data, me: print(reference_message_line(data, me)), ["got:      None",
                                                                "Return the line of HTML"]),
    (lambda data, me: data["message"], ["got:      'hi'"]),
])
def test_wrong_lines_are_explained(wrong, words, capsys):
    assert check_message_line(wrong) is reference_message_line
    out = capsys.readouterr().out
    assert "❌ message_line: not right yet." in out and "hint:" in out, out
    for word in words:
        assert word in out, (word, out)


def test_untouched_line_is_not_done_yet(capsys):
    def message_line(data, me):
        raise NotImplementedError("exercise: message_line")

    assert check_message_line(message_line) is reference_message_line
    assert capsys.readouterr().out.startswith("⏳ message_line: not done yet.")


def lecture_whitespace(data, me):
    """The lecture's template literal kept its newlines and indentation: a browser does not mind."""
    line = escaping("text", "sender", "timestamp", how=lambda v: html.escape(v, quote=False))
    return line(data, me).replace(": ", ":\n          ", 1).replace(" <span", "\n  <span")


@pytest.mark.parametrize("solution", [reference_message_line,
                                      escaping("text", "sender", "timestamp"),
                                      lecture_whitespace])
def test_line_solutions_pass(solution, capsys):
    assert check_message_line(solution) is solution
    assert capsys.readouterr().out.startswith("✅ message_line: all 9 checks passed")


def test_structure_sees_what_a_browser_builds():
    assert structure('<div class="a">x &amp;  y<img src=x></div>') == [
        ("start", "div", (("class", "a"),)), ("text", "x & y"),
        ("start", "img", (("src", "x"),)), ("end", "div")]
    assert shown_text("<b>a</b>\n  b &lt;") == "a b <"
