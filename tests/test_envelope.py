"""The wire format, as pure functions: what a client may send and what the server answers."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from wslab import envelope, resume
from wslab.envelope import Chat, Ping, PlainText, Rejected, read_client_text
from wslab.ratelimit import TokenBucket

NOON = datetime(2026, 1, 1, 12, 0, 5)


def test_chat_message_is_exactly_the_lecture_s():
    assert json.loads(envelope.chat_message("7w8cwb", "Hi", NOON)) == {
        "message": "Hi", "client_id": "7w8cwb", "timestamp": "12:00:05"}
    assert list(json.loads(envelope.chat_message("a", "b", NOON))) == [
        "message", "client_id", "timestamp"]


def test_leave_message_is_the_lecture_s_plus_the_count():
    message = json.loads(envelope.leave_message("ab", 3, NOON))
    assert message == {"client_id": "system", "type": "disconnect", "timestamp": "12:00:05",
                       "message": "Client #ab left the chat", "user": "ab", "participants": 3}


@pytest.mark.parametrize("text, expected", [
    ('{"message": "hi"}', Chat("hi")),
    ('{"message": "hi", "mood": "happy"}', Chat("hi")),
    ("hello there", PlainText("hello there")),
    ("Infinity war was great", PlainText("Infinity war was great")),
    ("NaN is not a number", PlainText("NaN is not a number")),
    ('{"type": "ping"}', Ping()),
])
def test_accepted_frames(text, expected):
    assert read_client_text(text, 100) == expected


@pytest.mark.parametrize("text, code", [
    ("[]", "not_an_object"), ("{}", "missing_message"), ('{"message": 1}', "message_not_text"),
    ('{"message": " "}', "empty_message"), ("   ", "empty_message"),
    ('{"message": "' + "a" * 101 + '"}', "message_too_long"),
    ('{"message": "hi", "type": "system"}', "reserved_field"),
    ('{"type": "ping", "message": "x"}', "reserved_field"),
    ('{"message": NaN}', "invalid_json"), ("[" * 50_000, "invalid_json"),
    ('{"message": "x", "n": -Infinity}', "invalid_json"), ("NaN", "invalid_json"),
    ('{"message": "\\ud800"}', "invalid_text"), ('{"message": "a\\udfff b"}', "invalid_text"),
])
def test_refused_frames(text, code):
    result = read_client_text(text, 100)
    assert isinstance(result, Rejected) and result.code == code, result
    assert result.reason  # always something a person can read


def test_size_is_counted_in_utf8_bytes():
    assert read_client_text('{"message": "' + "é" * 50 + '"}', 100) == Chat("é" * 50)
    assert isinstance(read_client_text('{"message": "' + "é" * 51 + '"}', 100), Rejected)


def test_server_output_never_contains_nan():
    with pytest.raises(ValueError):
        envelope.encode({"x": float("nan")})


@pytest.mark.parametrize("client_id, ok", [
    ("alice", True), ("a" * 64, True), ("A-b_9", True), ("", False), ("a" * 65, False),
    ("a b", False), ("<script>", False), ("ø", False), ("system", False), ("System", False),
])
def test_client_id_rules(client_id, ok):
    assert (envelope.client_id_problem(client_id) is None) == ok


def test_token_bucket_allows_a_burst_then_the_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=4, clock=lambda: now[0])
    assert [bucket.allow() for _ in range(5)] == [True] * 4 + [False]
    assert bucket.retry_after() == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.allow() and not bucket.allow()


def test_token_bucket_off():
    bucket = TokenBucket(rate=0)
    assert all(bucket.allow() for _ in range(1000))


def test_the_welcome_carries_the_resume_key_only_when_given():
    now = datetime(2026, 12, 3, 10, 42, 13)
    plain = json.loads(envelope.welcome_message("ada", ["ada", "bo"], now))
    keyed = json.loads(envelope.welcome_message("ada", ["ada", "bo"], now, resume_key="k" * 22))
    assert "resume" not in plain and keyed["resume"] == "k" * 22
    assert {**keyed, "resume": None} == {**plain, "resume": None}


def test_a_resume_key_proves_only_its_own_digest():
    key, other = resume.new_key(), resume.new_key()
    assert len(key) == 22 and key != other
    held = resume.digest(key)
    assert resume.DIGEST_PATTERN.fullmatch(held) and key not in held
    assert resume.proves(key, held)
    assert not resume.proves(other, held)
    assert not resume.proves(None, held) and not resume.proves("", held)
    assert not resume.proves(key, None)
    assert not resume.proves("\ud800", held)  # half a character from a query: refused, no crash
