"""Lesson 07's checks: each rejects plausible wrong answers with a precise report, accepts the
lesson's solutions (which are wslab's own code), and says "not done yet" to the stubs."""

from __future__ import annotations

import os
import shutil

import pytest

from wslab import broker
from wslab.checks import scaling
from wslab.checks.scaling import (Worker, check_backoff_delay, check_sequence_check,
                                  check_worker, redis_for_lesson)
from wslab.envelope import chat_message
from wslab.manager import ConnectionManager

# -- exercise 1: a worker's two halves ----------------------------------------------------------


class Stub:
    def __init__(self, worker_id, broker):
        self.worker_id = worker_id
        self.broker = broker
        self.manager = ConnectionManager()
        broker.subscribe(self.on_event)

    async def client_said(self, client_id, text):
        raise NotImplementedError("exercise: Worker.client_said")

    async def on_event(self, event):
        raise NotImplementedError("exercise: Worker.on_event")


class HalfDone(Stub):
    async def client_said(self, client_id, text):
        await self.broker.publish({"kind": "chat", "worker": self.worker_id,
                                   "text": chat_message(client_id, text)})


class AlsoLocal(Worker):
    """Delivers its own clients' lines at once, and again when the broker brings them back."""

    async def client_said(self, client_id, text):
        line = chat_message(client_id, text)
        await self.manager.broadcast(line)
        await self.broker.publish({"kind": "chat", "worker": self.worker_id, "text": line})


class OnlyLocal(Worker):
    async def client_said(self, client_id, text):
        await self.manager.broadcast(chat_message(client_id, text))


class SkipsOwn(Worker):
    """Delivers locally, skips its own events from the broker: right count, wrong order."""

    async def client_said(self, client_id, text):
        line = chat_message(client_id, text)
        await self.manager.broadcast(line)
        await self.broker.publish({"kind": "chat", "worker": self.worker_id, "text": line})

    async def on_event(self, event):
        if event["worker"] != self.worker_id:
            await self.manager.broadcast(event["text"])


class SkipsOwnOnly(Worker):
    async def on_event(self, event):
        if event["worker"] != self.worker_id:
            await self.manager.broadcast(event["text"])


class PublishesTwice(Worker):
    async def client_said(self, client_id, text):
        for _ in range(2):
            await super().client_said(client_id, text)


class Untagged(Worker):
    async def client_said(self, client_id, text):
        await self.broker.publish({"kind": "chat", "text": chat_message(client_id, text)})


class RawText(Worker):
    async def client_said(self, client_id, text):
        await self.broker.publish({"kind": "chat", "worker": self.worker_id, "text": text})


class PublishesObjects(Worker):
    async def client_said(self, client_id, text):
        await self.broker.publish({"kind": "chat", "worker": self.worker_id,
                                   "text": chat_message(client_id, text), "manager": self.manager})


class IgnoresKind(Worker):
    async def on_event(self, event):
        await self.manager.broadcast(event["text"])


class KindlessBroadcast(Worker):
    async def on_event(self, event):
        await self.manager.broadcast(event.get("text", "?"))


class PlainDefOnEvent(Worker):
    def on_event(self, event):  # forgot async: never awaited, never delivers
        return None


@pytest.mark.parametrize("wrong, words", [
    (AlsoLocal, "already got it"),
    (OnlyLocal, "nothing was published"),
    (SkipsOwn, "already got it"),
    (SkipsOwnOnly, "alice's own worker got the event back"),
    (PublishesTwice, "2 events"),
    (Untagged, "'worker': 'worker-1'"),
    (RawText, "Build the line once"),
    (PublishesObjects, "JSON values"),
    (IgnoresKind, "presence event"),
    (KindlessBroadcast, "Only 'chat' events are lines"),
    (PlainDefOnEvent, "async def on_event"),
])
async def test_wrong_workers_are_explained(wrong, words, capsys):
    assert await check_worker(wrong) is Worker
    out = capsys.readouterr().out
    assert "❌ Worker: not right yet." in out and words in out and "hint:" in out, out


@pytest.mark.parametrize("stub", [Stub, HalfDone])
async def test_unfinished_worker_is_not_done_yet(stub, capsys):
    assert await check_worker(stub) is Worker
    assert capsys.readouterr().out.startswith("⏳ Worker: not done yet.")


async def test_the_solution_worker_passes(capsys):
    class Mine(Worker):
        pass

    assert await check_worker(Mine) is Mine
    assert capsys.readouterr().out.startswith("✅ Worker: each line published once")


# -- exercise 2: sequence numbers ---------------------------------------------------------------


def sequence_stub(last, seq):
    raise NotImplementedError("exercise: sequence_check")


@pytest.mark.parametrize("wrong, words", [
    (lambda last, seq: (True, 0), "3 lost"),
    (lambda last, seq: (seq > (last or 0), seq - (last or 0) - 1 if seq > (last or 0) else 0),
     "can be its 41st"),
    (lambda last, seq: (seq > last, max(0, seq - last - 1)), "raised TypeError"),
    (lambda last, seq: (last is None or seq > last, 0 if last is None else seq - last),
     "expected: (True, 0)"),
    (lambda last, seq: (last is None or seq != last,
                        0 if last is None or seq <= last else seq - last - 1), "older"),
    (lambda last, seq: [last is None or seq > last,
                        0 if last is None or seq <= last else seq - last - 1], "got:      [True"),
])
def test_wrong_sequence_checks_are_explained(wrong, words, capsys):
    assert check_sequence_check(wrong) is broker.sequence_check
    out = capsys.readouterr().out
    assert "❌ sequence_check: not right yet." in out and words in out, out


def test_sequence_stub_is_not_done_yet(capsys):
    assert check_sequence_check(sequence_stub) is broker.sequence_check
    assert capsys.readouterr().out.startswith("⏳ sequence_check: not done yet.")


def test_the_solution_sequence_check_passes(capsys):
    def mine(last, seq):
        return broker.sequence_check(last, seq)

    assert check_sequence_check(mine) is mine
    assert capsys.readouterr().out == "✅ sequence_check: all 7 checks passed.\n"


# -- exercise 3: backoff ------------------------------------------------------------------------


def backoff_stub(attempt, rand, base=0.1, cap=5.0):
    raise NotImplementedError("exercise: backoff_delay")


@pytest.mark.parametrize("wrong, words", [
    (lambda a, r, base=0.1, cap=5.0: base * 2 ** a, "expected: 0.05"),  # no jitter, no cap
    (lambda a, r, base=0.1, cap=5.0: r * min(cap, base * 2 ** a), "at least half of"),  # full
    (lambda a, r, base=0.1, cap=5.0: min(cap, base * 2 ** a / 2 + r * base * 2 ** a / 2),
     "cap the ceiling"),  # capped after the jitter: 5.0, not 2.5
    (lambda a, r, base=0.1, cap=5.0: (lambda c: c / 2 + r * c / 2)(min(cap, base * 2 ** a)),
     "2 ** 2000"),  # right, but overflows after hours of outage
    (lambda a, r, base=0.1, cap=5.0: (lambda c: c / 2 + r * c / 2)(min(cap, base * (a + 1))),
     "ceiling 0.8 s"),  # grows linearly, not exponentially
    (lambda a, r, base=0.1, cap=5.0: print(0.05), "got:      None"),
])
def test_wrong_backoffs_are_explained(wrong, words, capsys):
    assert check_backoff_delay(wrong) is broker.backoff_delay
    out = capsys.readouterr().out
    assert "❌ backoff_delay: not right yet." in out and words in out, out


def test_backoff_stub_is_not_done_yet(capsys):
    assert check_backoff_delay(backoff_stub) is broker.backoff_delay
    assert capsys.readouterr().out.startswith("⏳ backoff_delay: not done yet.")


def test_the_solution_backoff_passes(capsys):
    def mine(attempt, rand, base=0.1, cap=5.0):
        return broker.backoff_delay(attempt, rand, base, cap)

    assert check_backoff_delay(mine) is mine
    assert capsys.readouterr().out == "✅ backoff_delay: all 7 checks passed.\n"


# -- finding Redis for the lesson ---------------------------------------------------------------


def test_without_redis_the_lesson_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert redis_for_lesson() is None
    out = capsys.readouterr().out
    assert "apt-get install redis-server" in out and "say that they skipped" in out


def test_without_redis_in_ci_the_lesson_fails(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("CI", "1")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="CI is set"):
        redis_for_lesson()


def test_a_redis_url_where_nothing_answers_is_reported(monkeypatch, capsys):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.delenv("CI", raising=False)
    assert redis_for_lesson() is None
    assert "no Redis answers there" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("redis-server") is None and not os.environ.get("CI"),
                    reason="needs redis-server: apt-get install redis-server")
def test_with_redis_server_the_lesson_starts_its_own(monkeypatch, capsys):
    monkeypatch.delenv("REDIS_URL", raising=False)
    redis = redis_for_lesson()
    try:
        assert redis is not None and redis.owned and redis.ping()
        assert f"port {redis.port}" in capsys.readouterr().out
    finally:
        redis.close()
    assert not redis.running


def test_every_run_of_the_lesson_gets_a_channel_of_its_own():
    assert scaling.lesson_channel() != scaling.lesson_channel()
