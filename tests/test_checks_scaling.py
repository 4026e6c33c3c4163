"""Elective E5's checks: each wrong answer gets a hint, first, that names its mistake; right ones
in another style than the solution pass; the kit's own code and the stubs never do."""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

from notebook_run import passes, run_student_notebook
from verdicts import failure, hint_of, verdict
from wslab import broker
from wslab.answers.scaling import Worker
from wslab.checks import scaling
from wslab.checks.progress import show_progress
from wslab.checks.scaling import (check_backoff_delay, check_sequence_check, check_worker,
                                  redis_for_lesson)
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


class Mine(Stub):
    """Another style than the solution: the event built step by step, an early return."""

    async def client_said(self, client_id, text):
        event = dict(kind="chat", worker=self.worker_id)
        event["text"] = chat_message(client_id, text)
        return await self.broker.publish(event)

    async def on_event(self, event):
        if event.get("kind") != "chat":
            return
        await self.manager.broadcast(event["text"])


class AlsoLocal(Mine):
    """Delivers its own clients' lines at once, and again when the broker brings them back."""

    async def client_said(self, client_id, text):
        line = chat_message(client_id, text)
        await self.manager.broadcast(line)
        await self.broker.publish({"kind": "chat", "worker": self.worker_id, "text": line})


class OnlyLocal(Mine):
    async def client_said(self, client_id, text):
        await self.manager.broadcast(chat_message(client_id, text))


class PublishNotAwaited(Mine):
    async def client_said(self, client_id, text):
        self.broker.publish({"kind": "chat", "worker": self.worker_id,
                             "text": chat_message(client_id, text)})


class BroadcastNotAwaited(Mine):
    async def on_event(self, event):
        if event["kind"] == "chat":
            self.manager.broadcast(event["text"])


class SkipsOwn(Mine):
    """Delivers locally, skips its own events from the broker: right count, wrong order."""

    async def client_said(self, client_id, text):
        line = chat_message(client_id, text)
        await self.manager.broadcast(line)
        await self.broker.publish({"kind": "chat", "worker": self.worker_id, "text": line})

    async def on_event(self, event):
        if event["worker"] != self.worker_id:
            await self.manager.broadcast(event["text"])


class SkipsOwnOnly(Mine):
    async def on_event(self, event):
        if event["worker"] != self.worker_id:
            await self.manager.broadcast(event["text"])


class PublishesTwice(Mine):
    async def client_said(self, client_id, text):
        for _ in range(2):
            await super().client_said(client_id, text)


class Untagged(Mine):
    async def client_said(self, client_id, text):
        await self.broker.publish({"kind": "chat", "text": chat_message(client_id, text)})


class TypeForKind(Mine):
    async def client_said(self, client_id, text):
        await self.broker.publish({"type": "chat", "worker": self.worker_id,
                                   "text": chat_message(client_id, text)})


class ClientAsWorker(Mine):
    async def client_said(self, client_id, text):
        await self.broker.publish({"kind": "chat", "worker": client_id,
                                   "text": chat_message(client_id, text)})


class RawText(Mine):
    async def client_said(self, client_id, text):
        await self.broker.publish({"kind": "chat", "worker": self.worker_id, "text": text})


class SwappedArguments(Mine):
    async def client_said(self, client_id, text):
        await self.broker.publish({"kind": "chat", "worker": self.worker_id,
                                   "text": chat_message(text, client_id)})


class PublishesJsonText(Mine):
    async def client_said(self, client_id, text):
        await self.broker.publish(json.dumps({"kind": "chat", "worker": self.worker_id,
                                              "text": chat_message(client_id, text)}))


class PublishesObjects(Mine):
    async def client_said(self, client_id, text):
        await self.broker.publish({"kind": "chat", "worker": self.worker_id,
                                   "text": chat_message(client_id, text), "manager": self.manager})


class IgnoresKind(Mine):
    async def on_event(self, event):
        await self.manager.broadcast(event["text"])


class KindlessBroadcast(Mine):
    async def on_event(self, event):
        await self.manager.broadcast(event.get("text", "?"))


class ReadsType(Mine):
    async def on_event(self, event):
        if event["type"] == "chat":
            await self.manager.broadcast(event["text"])


class BroadcastsTheEvent(Mine):
    async def on_event(self, event):
        if event["kind"] == "chat":
            await self.manager.broadcast(event)


class BroadcastsTheEventAsJson(Mine):
    async def on_event(self, event):
        if event["kind"] == "chat":
            await self.manager.broadcast(json.dumps(event))


class PlainDefOnEvent(Mine):
    def on_event(self, event):  # forgot async
        return None


class PlainDefClientSaid(Mine):
    def client_said(self, client_id, text):
        self.broker.publish({"kind": "chat", "worker": self.worker_id,
                             "text": chat_message(client_id, text)})


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited")
@pytest.mark.parametrize("wrong, words", [
    (AlsoLocal, "Deliver only what the broker delivers"),
    (OnlyLocal, "client_said must hand the line to the broker"),
    (PublishNotAwaited, "is a call to an async function without await"),
    (BroadcastNotAwaited, "`self.manager.broadcast(event['text'])` is a call to an async "
                          "function without await"),
    (SkipsOwn, "Deliver only what the broker delivers"),
    (SkipsOwnOnly, "alice's own worker got the event back"),
    (PublishesTwice, "Publish each line once"),
    (Untagged, "The event does not say where it came from"),
    (TypeForKind, "The event has no 'kind' (it has 'type')"),
    (ClientAsWorker, "The event's 'worker' is alice, a client"),
    (RawText, "build the line once, on the sender's worker"),
    (SwappedArguments, "The line says that 'hi' said 'alice'"),
    (PublishesJsonText, "You published text"),
    (PublishesObjects, "publish a dict of strings and numbers"),
    (IgnoresKind, "Only a 'chat' event has a 'text'"),
    (KindlessBroadcast, "Only 'chat' events are lines for the clients"),
    (ReadsType, "The event has no 'type': its keys are 'kind', 'worker', 'text'"),
    (BroadcastsTheEvent, "deliver event['text'], not the whole event"),
    (BroadcastsTheEventAsJson, "The clients were sent the whole event"),
    (PlainDefOnEvent, "on_event must be an async def"),
    (PlainDefClientSaid, "client_said must be an async def"),
])
async def test_each_wrong_worker_gets_the_hint_that_names_its_mistake(wrong, words, capsys):
    assert await check_worker(wrong) is Worker
    failure(capsys.readouterr().out, "Worker", hint=words)


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited")
async def test_a_missing_await_on_publish_is_named_with_the_call(capsys):
    await check_worker(PublishNotAwaited)
    assert "`self.broker.publish({" in hint_of(capsys.readouterr().out)


@pytest.mark.parametrize("stub", [Stub, HalfDone])
async def test_unfinished_worker_is_not_done_yet(stub, capsys):
    assert await check_worker(stub) is Worker
    assert capsys.readouterr().out.startswith("⏳ Worker: not done yet.")


async def test_the_kits_own_worker_is_never_passed(capsys):
    assert await check_worker(Worker) is Worker
    out = capsys.readouterr().out
    assert out.startswith("⚠️ Worker: run your exercise cell first.") and "✅" not in out


async def test_a_right_worker_in_another_style_passes(capsys):
    assert await check_worker(Mine) is Mine
    assert capsys.readouterr().out.startswith("✅ Worker: each line published once")


# -- exercise 2: sequence numbers ---------------------------------------------------------------


def sequence_stub(last, seq):
    raise NotImplementedError("exercise: sequence_check")


def right_sequence_check(last, seq):
    """Another style than the kit's: the repeat first, then the loss as a difference."""
    if last is not None and seq <= last:
        return (False, 0)
    lost = 0 if last is None else seq - (last + 1)
    return True, lost


@pytest.mark.parametrize("wrong, words", [
    (lambda last, seq: list(right_sequence_check(last, seq)),
     "Your answer is a list, where a tuple is due"),
    (lambda last, seq: (True, 0), "Your function never counts a loss"),
    (lambda last, seq: (last is None or seq > last, 0 if last is None or seq <= last
                        else seq - last), "One too many counted as lost"),
    (lambda last, seq: (seq > last, max(0, seq - last - 1)), "`last` is None while nothing has "
                                                             "been seen"),
    (lambda last, seq: (seq > (last or 0), max(0, seq - (last or 0) - 1)),
     "With nothing seen yet, nothing counts as lost"),
    (lambda last, seq: (True, 0) if last is None else (seq > last, seq - last - 1),
     "A repeat is counted as a negative loss"),
    (lambda last, seq: (True, 0) if last is None else (seq >= last, max(0, seq - last - 1)),
     "The same number again is a repeat"),
    (lambda last, seq: (True, 0) if last is None else (seq != last, max(0, seq - last - 1)),
     "An older number than the last one is delivered"),
    (lambda last, seq: right_sequence_check(last, seq)[::-1], "The pair is in the wrong order"),
    (lambda last, seq: last is None or seq > last, "Return both values, as one tuple"),
    (lambda last, seq: print(right_sequence_check(last, seq)), "printed its answer"),
])
def test_each_wrong_sequence_check_gets_the_hint_that_names_its_mistake(wrong, words, capsys):
    assert check_sequence_check(wrong) is broker.sequence_check
    failure(verdict(capsys), "sequence_check", hint=words)


def test_sequence_stub_is_not_done_yet(capsys):
    assert check_sequence_check(sequence_stub) is broker.sequence_check
    assert capsys.readouterr().out.startswith("⏳ sequence_check: not done yet.")


def test_the_kits_own_sequence_check_is_never_passed(capsys):
    assert check_sequence_check(broker.sequence_check) is broker.sequence_check
    out = capsys.readouterr().out
    assert out.startswith("⚠️ sequence_check: run your exercise cell first.") and "✅" not in out


def test_a_right_sequence_check_in_another_style_passes(capsys):
    assert check_sequence_check(right_sequence_check) is right_sequence_check
    assert capsys.readouterr().out == "✅ sequence_check: all 7 checks passed.\n"


def test_every_case_expects_what_the_kits_own_code_says():
    for args, _ in scaling.SEQUENCE_CASES:
        assert right_sequence_check(*args) == broker.sequence_check(*args)


# -- exercise 3: backoff ------------------------------------------------------------------------


def backoff_stub(attempt, rand, base=0.1, cap=5.0):
    raise NotImplementedError("exercise: backoff_delay")


def right_backoff(attempt, rand, base=0.1, cap=5.0):
    """Another style than the kit's: double step by step, and stop at the cap."""
    ceiling = base
    for _ in range(attempt):
        if ceiling >= cap:
            break
        ceiling *= 2
    ceiling = min(ceiling, cap)
    return ceiling * (1 + rand) / 2


def ceiling(attempt, base=0.1, cap=5.0):
    return min(cap, base * 2 ** attempt)


@pytest.mark.parametrize("wrong, words", [
    (lambda a, r, base=0.1, cap=5.0: ceiling(a) / 2 + r * ceiling(a) / 2,
     "too large for a float (OverflowError): 2 ** attempt"),  # right, but overflows
    (lambda a, r, base=0.1, cap=5.0: ceiling(a), "with no random part"),
    (lambda a, r, base=0.1, cap=5.0: r * ceiling(a), "full jitter"),
    (lambda a, r, base=0.1, cap=5.0: min(cap, base * 2 ** a / 2 + r * base * 2 ** a / 2),
     "You capped the wait, not the ceiling"),
    (lambda a, r, base=0.1, cap=5.0: base * 2 ** a / 2 + r * base * 2 ** a / 2,
     "The wait grows past the cap"),
    (lambda a, r, base=0.1, cap=5.0: (lambda c: c / 2 + r * c / 2)(min(cap, base * (a + 1))),
     "it should double"),
    (lambda a, r, base=0.1, cap=5.0: (lambda c: c / 2 + r * c / 2)(ceiling(a + 1)),
     "Attempt 0 is the first retry"),
    (lambda a, r, base=0.1, cap=5.0: ceiling(a) / 2 + r * ceiling(a),
     "rand is multiplied by the whole ceiling"),
    (lambda a, r, base=0.1, cap=5.0: ceiling(a) / 2, "rand is not used"),
    (lambda a, r, base=0.1, cap=5.0: print(right_backoff(a, r)), "printed its answer"),
])
def test_each_wrong_backoff_gets_the_hint_that_names_its_mistake(wrong, words, capsys):
    assert check_backoff_delay(wrong) is broker.backoff_delay
    failure(verdict(capsys), "backoff_delay", hint=words)


def test_the_overflow_is_found_after_hours_of_outage(capsys):
    check_backoff_delay(lambda a, r, base=0.1, cap=5.0: ceiling(a) / 2 + r * ceiling(a) / 2)
    out = capsys.readouterr().out
    assert "tried:    backoff_delay(2000, rand=0.5)" in out
    assert "raised OverflowError" in out


def test_backoff_stub_is_not_done_yet(capsys):
    assert check_backoff_delay(backoff_stub) is broker.backoff_delay
    assert capsys.readouterr().out.startswith("⏳ backoff_delay: not done yet.")


def test_the_kits_own_backoff_is_never_passed(capsys):
    assert check_backoff_delay(broker.backoff_delay) is broker.backoff_delay
    out = capsys.readouterr().out
    assert out.startswith("⚠️ backoff_delay: run your exercise cell first.") and "✅" not in out


def test_a_right_backoff_in_another_style_passes(capsys):
    assert check_backoff_delay(right_backoff) is right_backoff
    assert capsys.readouterr().out == "✅ backoff_delay: all 7 checks passed.\n"


# -- the summary, and the notebook --------------------------------------------------------------


async def test_the_summary_judges_the_code_the_notebook_holds_now(capsys):
    statuses = await show_progress(scaling.EXERCISES, {
        "Worker": Mine, "sequence_check": sequence_stub, "backoff_delay": broker.backoff_delay})
    assert statuses == {"Worker": "passed", "sequence_check": "not_done",
                        "backoff_delay": "stale"}
    assert "1 of 3 done" in capsys.readouterr().out


WORKER_WRONG = '''
from wslab.envelope import chat_message
from wslab.manager import ConnectionManager


class Worker:
    def __init__(self, worker_id: str, broker) -> None:
        self.worker_id = worker_id
        self.broker = broker
        self.manager = ConnectionManager()
        broker.subscribe(self.on_event)

    async def client_said(self, client_id: str, text: str) -> None:
        await self.broker.publish({"kind": "chat", "worker": self.worker_id,
                                   "text": chat_message(client_id, text)})

    async def on_event(self, event: dict) -> None:
        if event["worker"] != self.worker_id:
            await self.manager.broadcast(event["text"])
'''

SEQUENCE_WRONG = '''
def sequence_check(last, seq):
    if last is None:
        return [True, 0]
    return [seq > last, max(0, seq - last - 1)]
'''

BACKOFF_WRONG = '''
def backoff_delay(attempt, rand, base=0.1, cap=5.0):
    ceiling = min(cap, base * 2 ** attempt)
    return ceiling / 2 + rand * ceiling / 2
'''


def test_in_the_notebook_wrong_answers_never_pass_however_often_their_checks_run():
    outputs = run_student_notebook("E5_scaling_out", {
        "Worker.client_said": WORKER_WRONG, "sequence_check": SEQUENCE_WRONG,
        "backoff_delay": BACKOFF_WRONG})
    assert len(outputs) == 6
    for output in outputs:
        assert not passes(output), output
        assert "❌" in output and "hint:" in output, output
    assert "alice's own worker got the event back" in outputs[0]
    assert "a list, where a tuple is due" in outputs[2]
    assert "OverflowError" in outputs[4]


# -- finding Redis for the lesson ---------------------------------------------------------------


def no_redis_and_no_stand_in(monkeypatch):
    """Neither redis-server nor fakeredis (the stand-in the lesson starts without Redis)."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "fakeredis", None)


def test_without_redis_or_its_stand_in_the_lesson_says_how_to_get_either(monkeypatch, capsys):
    no_redis_and_no_stand_in(monkeypatch)
    monkeypatch.delenv("CI", raising=False)
    assert redis_for_lesson() is None
    out = capsys.readouterr().out
    assert "apt-get install redis-server" in out and "say that they skipped" in out
    assert "`make lab` installs it (or `pip install fakeredis`)" in out


def test_without_redis_or_its_stand_in_in_ci_the_lesson_fails(monkeypatch):
    no_redis_and_no_stand_in(monkeypatch)
    monkeypatch.setenv("CI", "1")
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
