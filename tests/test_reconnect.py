"""The kit's one reconnect policy (``wslab.reconnect``), rule by rule, without a socket or a clock.

``now`` is any number of seconds; ``rand`` is fixed, so every delay is known exactly.
"""

from __future__ import annotations

import json

import pytest

from wslab import close_codes
from wslab.backoff import backoff_delay
from wslab.close_codes import Close
from wslab.reconnect import CHAT_POLICY, ReconnectPolicy, Reconnects, Step, handshake_is_final

#: Short numbers, so that the delays are easy to read: 1, 2, 4, 8, 8... times rand's factor.
POLICY = ReconnectPolicy(first=1.0, cap=8.0, stable=10.0)


def reconnects(rand: float = 0.5, policy: ReconnectPolicy = POLICY) -> Reconnects:
    return Reconnects(policy, rand=lambda: rand)


def test_the_chat_policy_keeps_the_page_s_numbers():
    assert (CHAT_POLICY.first, CHAT_POLICY.cap, CHAT_POLICY.stable,
            CHAT_POLICY.open_timeout) == (1.0, 30.0, 10.0, 5.0)
    assert Reconnects().policy is CHAT_POLICY


def test_delays_follow_the_kit_s_backoff_and_count_the_attempts():
    client = reconnects(rand=0.5)
    steps = [client.after_failure() for _ in range(6)]
    assert steps == [Step(stop=False, delay=backoff_delay(n, 0.5, 1.0, 8.0), attempt=n + 1)
                     for n in range(6)]
    assert [step.delay for step in steps] == [0.75, 1.5, 3.0, 6.0, 6.0, 6.0]
    assert client.attempt == 6


def test_the_policy_s_backoff_has_its_numbers():
    backoff = POLICY.backoff(rand=lambda: 0.0)
    assert (backoff.first, backoff.cap, backoff.delay(10)) == (1.0, 8.0, 4.0)


def test_a_close_that_is_not_final_is_retried():
    client = reconnects()
    client.opened(now=100.0)
    assert client.after_close(now=101.0, code=1012) == Step(stop=False, delay=0.75, attempt=1)
    client.opened(now=102.0)
    assert client.after_close(now=103.0, code=None) == Step(stop=False, delay=1.5, attempt=2)


@pytest.mark.parametrize("code", [1008, 4409])
def test_a_final_close_stops_for_good(code):
    client = reconnects()
    client.opened(now=0.0)
    assert client.after_close(now=60.0, code=code) == Step(stop=True, code=code)
    assert client.attempt == 0


@pytest.mark.parametrize("error, code", [("bad_token", 1008), ("bad_client_id", 1008),
                                         ("replaced", 4409)])
def test_a_final_error_reply_stops_when_a_proxy_dropped_the_code(error, code):
    client = reconnects()
    client.opened(now=0.0)
    assert client.after_close(now=0.1, code=1005, error=error) == Step(stop=True, code=code)


def test_an_error_reply_that_announces_nothing_is_retried():
    client = reconnects()
    client.opened(now=0.0)
    assert not client.after_close(now=0.1, code=1005, error="message_too_long").stop


def test_a_final_close_added_to_the_table_is_honoured(monkeypatch):
    monkeypatch.setitem(close_codes.CLOSES, 4403, Close(4403, "banned for today", final=True))
    client = reconnects()
    client.opened(now=0.0)
    assert client.after_close(now=1.0, code=4403) == Step(stop=True, code=4403)


@pytest.mark.parametrize("closed_at, step", [
    (110.0, Step(stop=False, delay=0.75, attempt=1)),  # open `stable` seconds: start afresh
    (109.9, Step(stop=False, delay=6.0, attempt=4)),   # shorter: the delays keep growing
])
def test_only_a_stable_connection_starts_the_delays_afresh(closed_at, step):
    client = reconnects()
    for _ in range(3):
        client.after_failure()
    client.opened(now=100.0)
    assert client.after_close(now=closed_at, code=1012) == step


def test_a_close_without_an_open_does_not_count_as_stable():
    client = reconnects()
    client.after_failure()
    client.opened(now=0.0)
    client.after_close(now=1.0, code=1012)
    # The same connection cannot end twice: its opening is forgotten with its first close.
    assert client.after_close(now=100.0, code=1012).attempt == 3


@pytest.mark.parametrize("status, final", [(400, True), (401, True), (403, True), (404, True),
                                           (408, False), (429, False), (499, True),
                                           (500, False), (502, False), (503, False),
                                           (301, False), (200, False)])
def test_a_refused_handshake_is_final_when_asking_again_would_get_the_same(status, final):
    assert handshake_is_final(status) is final
    client = reconnects()
    step = client.after_refusal(status)
    assert step == (Step(stop=True) if final else Step(stop=False, delay=0.75, attempt=1))


def test_the_page_s_data_is_the_policy_and_the_table_as_json():
    data = POLICY.for_page()
    assert json.loads(json.dumps(data)) == data
    assert data == {"first": 1.0, "cap": 8.0, "stable": 10.0, "open_timeout": 5.0,
                    "closes": close_codes.table_for_page()}
