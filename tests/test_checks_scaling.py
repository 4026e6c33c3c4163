"""Elective E5's checks: each wrong answer gets a hint, first, that names its mistake; right ones
in another style than the solution pass; the kit's own code and the stubs never do."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import sys

import pytest

from exercises import never_passed, none_passed, untouched, wrong_in_the_notebook
from mutants import mutant, mutant_of
from verdicts import failure, hint_of, verdict
import wslab.answers.scaling
from wslab import presence
from wslab.answers.scaling import Worker
from wslab.checks import scaling
from wslab.checks.progress import show_progress
from wslab.checks.scaling import check_sequence_check, check_worker, redis_for_lesson
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


class SkipsOwn(Mine):
    """Delivers locally, skips its own events from the broker: right count, wrong order."""

    async def client_said(self, client_id, text):
        line = chat_message(client_id, text)
        await self.manager.broadcast(line)
        await self.broker.publish({"kind": "chat", "worker": self.worker_id, "text": line})

    async def on_event(self, event):
        if event["worker"] != self.worker_id:
            await self.manager.broadcast(event["text"])


class PublishesTwice(Mine):
    async def client_said(self, client_id, text):
        for _ in range(2):
            await super().client_said(client_id, text)


# The lesson's answer, each with one mistake.
PUBLISH = """await self.broker.publish({"kind": "chat", "worker": self.worker_id,
                                   "text": chat_message(client_id, text)})"""
LINE = "chat_message(client_id, text)"
IF_CHAT = 'if event["kind"] == "chat":'


def worker_mutant(name, *edits):
    """The lesson's Worker with ``edits`` made: a wrong answer named ``name``."""
    return mutant_of(Worker, name, *edits, json=json)


PublishNotAwaited = worker_mutant("PublishNotAwaited", ("await self.broker", "self.broker"))


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited")
@pytest.mark.parametrize("wrong, words", [
    (AlsoLocal, "Deliver only what the broker delivers"),
    (worker_mutant("OnlyLocal", (PUBLISH, f"await self.manager.broadcast({LINE})")),
     "client_said must hand the line to the broker"),
    (PublishNotAwaited, "is a call to an async function without await"),
    (worker_mutant("BroadcastNotAwaited", ("await self.manager", "self.manager")),
     "`self.manager.broadcast(event['text'])` is a call to an async "
                          "function without await"),
    (SkipsOwn, "Deliver only what the broker delivers"),
    (worker_mutant("SkipsOwnOnly", (IF_CHAT, 'if event["worker"] != self.worker_id:')),
     "alice's own worker got the event back"),
    (PublishesTwice, "Publish each line once"),
    (worker_mutant("Untagged", (' "worker": self.worker_id,', "")),
     "The event does not say where it came from"),
    (worker_mutant("TypeForKind", ('{"kind": "chat"', '{"type": "chat"')),
     "The event has no 'kind' (it has 'type')"),
    (worker_mutant("ClientAsWorker", ('"worker": self.worker_id', '"worker": client_id')),
     "The event's 'worker' is alice, a client"),
    (worker_mutant("RawText", (LINE, "text")), "build the line once, on the sender's worker"),
    (worker_mutant("SwappedArguments", (LINE, "chat_message(text, client_id)")),
     "The line says that 'hi' said 'alice'"),
    (worker_mutant("PublishesJsonText", ("publish({", "publish(json.dumps({"),
                   (f"{LINE}}})", f"{LINE}}}))")), "You published text"),
    (worker_mutant("PublishesObjects", (f"{LINE}}}", f'{LINE}, "manager": self.manager}}')),
     "publish a dict of strings and numbers"),
    (worker_mutant("IgnoresKind", (IF_CHAT, "if True:")), "Only a 'chat' event has a 'text'"),
    (worker_mutant("KindlessBroadcast", (IF_CHAT, "if True:"),
                   ('event["text"]', 'event.get("text", "?")')),
     "Only 'chat' events are lines for the clients"),
    (worker_mutant("ReadsType", ('event["kind"]', 'event["type"]')),
     "The event has no 'type': its keys are 'kind', 'worker', 'text'"),
    (worker_mutant("BroadcastsTheEvent", ('broadcast(event["text"])', "broadcast(event)")),
     "deliver event['text'], not the whole event"),
    (worker_mutant("BroadcastsTheEventAsJson",
                   ('broadcast(event["text"])', "broadcast(json.dumps(event))")),
     "The clients were sent the whole event"),
    (worker_mutant("PlainDefOnEvent", ("async def on_event", "def on_event"),
                   ("await self.manager", "self.manager")), "on_event must be an async def"),
    (worker_mutant("PlainDefClientSaid", ("async def client_said", "def client_said"),
                   ("await self.broker", "self.broker")), "client_said must be an async def"),
], ids=lambda value: getattr(value, "__name__", None))
async def test_each_wrong_worker_gets_the_hint_that_names_its_mistake(wrong, words, capsys):
    assert await check_worker(wrong) is Worker
    failure(capsys.readouterr().out, "Worker", hint=words)


@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited")
async def test_a_missing_await_on_publish_is_named_with_the_call(capsys):
    await check_worker(PublishNotAwaited)
    assert "`self.broker.publish({" in hint_of(capsys.readouterr().out)


@pytest.mark.parametrize("stub", [Stub, HalfDone])
async def test_unfinished_worker_is_not_done_yet(stub, capsys):
    untouched(await check_worker(stub), Worker, "Worker", capsys)


async def test_the_kits_own_worker_is_never_passed(capsys):
    never_passed(await check_worker(Worker), Worker, "Worker", capsys)


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
    assert check_sequence_check(wrong) is presence.sequence_check
    failure(verdict(capsys), "sequence_check", hint=words)


def test_every_case_expects_what_the_kits_own_code_says():
    for args, _ in scaling.SEQUENCE_CASES:
        assert right_sequence_check(*args) == presence.sequence_check(*args)


#: The exercises that are functions: each one's check, the kit's own answer, the stub, and a
#: right answer in another style than the kit's.
FUNCTIONS = {
    "sequence_check": (check_sequence_check, presence.sequence_check, sequence_stub,
                       right_sequence_check),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_an_untouched_stub_is_not_done_yet(name, capsys):
    check, kits, stub, _ = FUNCTIONS[name]
    untouched(check(stub), kits, name, capsys)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_kits_own_function_is_never_passed(name, capsys):
    check, kits, _, _ = FUNCTIONS[name]
    never_passed(check(kits), kits, name, capsys)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_a_right_function_in_another_style_passes(name, capsys):
    check, _, _, right = FUNCTIONS[name]
    assert check(right) is right
    assert capsys.readouterr().out == f"✅ {name}: all 7 checks passed.\n"


# -- the summary, and the notebook --------------------------------------------------------------


async def test_the_summary_judges_the_code_the_notebook_holds_now(capsys):
    statuses = await show_progress(scaling.EXERCISES, {
        "Worker": Mine, "sequence_check": sequence_stub})
    assert statuses == {"Worker": "passed", "sequence_check": "not_done"}
    assert "1 of 2 done" in capsys.readouterr().out
    statuses = await show_progress(scaling.EXERCISES, {
        "Worker": Mine, "sequence_check": presence.sequence_check})
    assert statuses == {"Worker": "passed", "sequence_check": "stale"}


#: The answer module as the student's cell, its worker skipping its own events.
WORKER_WRONG = mutant(inspect.getsource(wslab.answers.scaling), IF_CHAT,
                      'if event["worker"] != self.worker_id:')
#: The kit's sequence_check, answering with lists.
SEQUENCE_WRONG = mutant(mutant(mutant(inspect.getsource(presence.sequence_check),
                                      "return True, 0", "return [True, 0]"),
                               "return False, 0", "return [False, 0]"),
                        "return True, seq - last - 1", "return [True, seq - last - 1]")


@pytest.mark.slow
def test_in_the_notebook_wrong_answers_never_pass_however_often_their_checks_run():
    outputs = wrong_in_the_notebook("E5_scaling_out", {
        "Worker.client_said": WORKER_WRONG, "sequence_check": SEQUENCE_WRONG}, 4)
    none_passed(outputs, "Worker", "sequence_check")
    hints = ["alice's own worker got the event back", "a list, where a tuple is due"]
    for output, hint in zip(outputs, [hint for hint in hints for _ in range(2)]):
        assert hint in output, output


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
@pytest.mark.slow
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
