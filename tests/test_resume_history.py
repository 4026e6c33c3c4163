"""Nothing lost on a Wi-Fi drop: the room's numbered history, resume, and latecomers.

A real uvicorn server (in a thread) and real ``websockets`` clients. A Wi-Fi drop is a
:class:`~wslab.wifi.WifiLink` going dark between a client and the server: the client's TCP
connection is cut without a close (its transport aborted), and the server, which hears nothing
of it, still holds the name, as it would until its keepalive gave up.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from deadlines import eventually
from peers import TIMEOUT, Peer, is_earlier, join, lecture_fields, still_chatting
from wslab.chat import create_app
from wslab.envelope import CHAT_FIELDS
from wslab.runner import BackgroundServer
from wslab.settings import ChatSettings
from wslab.wifi import WifiLink


def numbered(message: Any) -> bool:
    return isinstance(message, dict) and "seq" in message


async def until_type(peer: Peer, kind: str) -> list[Any]:
    """Every message ``peer`` reads up to and including the next one of type ``kind``."""
    got = []
    while True:
        message = await peer.next()
        got.append(message)
        if isinstance(message, dict) and message.get("type") == kind:
            return got


async def hears(peer: Peer, *texts: str) -> list[dict[str, Any]]:
    """Read ``peer``'s chat lines until ``texts`` came, in order; return them."""
    return [await peer.chat_line() for _ in texts]


async def test_a_wifi_drop_replays_the_three_lines_said_while_away_then_resumes(start_chat):
    server = start_chat()
    async with WifiLink(server.port) as wifi:
        alice = await join(wifi.ws_url, "alice")
        bob = await join(server.ws_url, "bob")
        seen = (await alice.next_of("join"))["seq"]
        epoch = alice.welcome["epoch"]
        wifi.drop(alice.ws)
        said = ["are you there?", "the demo starts now", "look at slide 4"]
        for text in said:
            await bob.say(text)
        await hears(bob, *said)

        back = await join(server.ws_url, "alice", resume=alice.welcome["resume"], epoch=epoch,
                          after=seen)
        caught_up = await until_type(back, "resumed")
        replayed, resumed = caught_up[:-1], caught_up[-1]
        assert [line["message"] for line in replayed] == said
        assert [line["seq"] for line in replayed] == [seen + 1, seen + 2, seen + 3]
        assert all(line["replay"] is True and line["epoch"] == epoch and
                   line["client_id"] == "bob" for line in replayed)
        assert resumed["replayed"] == 3 and resumed["epoch"] == epoch
        assert resumed["seq"] == seen + 3 == back.welcome["seq"]
        assert resumed["message"] == "caught up: 3 missed lines"
        # Then live lines, numbered on; and the room saw nobody leave or come.
        await bob.say("welcome back")
        live = await back.chat_line()
        assert live["message"] == "welcome back" and live["seq"] == seen + 4
        assert "replay" not in live and "history" not in live
        assert [m for m in await bob.silence() if m.get("type") in ("join", "disconnect")] == []
        await still_chatting(back, bob)


async def test_a_holder_the_server_saw_leave_resumes_with_its_key(start_chat):
    server = start_chat()
    alice = await join(server.ws_url, "alice")
    bob = await join(server.ws_url, "bob")
    seen = (await alice.next_of("join"))["seq"]
    await alice.ws.close()
    assert (await bob.next_of("disconnect"))["user"] == "alice"
    await bob.say("she left")
    await hears(bob, "she left")
    back = await join(server.ws_url, "alice", resume=alice.welcome["resume"],
                      epoch=alice.welcome["epoch"], after=seen)
    caught_up = await until_type(back, "resumed")
    assert [(m.get("type"), m["message"]) for m in caught_up[:-1]] == [
        ("disconnect", "Client #alice left the chat"), (None, "she left")]
    assert caught_up[-1]["replayed"] == 2
    # Its name was free: the others hear it come back.
    assert (await bob.next_of("join"))["user"] == "alice"


async def test_a_latecomer_gets_the_last_20_lines_marked_history_then_live(start_chat):
    server = start_chat(rate_limit=0)
    alice = await join(server.ws_url, "alice")
    said = [f"line {n}" for n in range(1, 31)]
    for text in said:
        await alice.say(text)
    await hears(alice, *said)
    carol = await join(server.ws_url, "carol")
    earlier = [await carol.next() for _ in range(20)]
    assert all(is_earlier(m) for m in earlier)
    assert [m["message"] for m in earlier] == said[-20:]
    assert [m["seq"] for m in earlier] == list(range(12, 32))  # alice's join was 1
    assert carol.welcome["seq"] == 32  # her own join, which the others hear
    await alice.say("hi carol")
    live = await carol.chat_line()
    assert live["message"] == "hi carol" and live["seq"] == 33 and "history" not in live


async def test_history_on_join_0_shows_a_newcomer_nothing_earlier(start_chat):
    server = start_chat(history_on_join=0)
    alice = await join(server.ws_url, "alice")
    await alice.say("before carol")
    await hears(alice, "before carol")
    carol = await join(server.ws_url, "carol")
    assert await carol.silence(earlier=True) == []


async def test_after_a_server_restart_a_resume_hears_history_reset(start_chat):
    first = start_chat()
    alice = await join(first.ws_url, "alice")
    await alice.say("before the restart")
    seen = (await alice.chat_line())["seq"]
    old_epoch = alice.welcome["epoch"]
    port = first.port
    first.stop()
    with BackgroundServer(create_app(ChatSettings()), port=port, name="restarted") as again:
        bob = await join(again.ws_url, "bob")
        await bob.say("after the restart")
        await hears(bob, "after the restart")
        back = await join(again.ws_url, "alice", resume=alice.welcome["resume"],
                          epoch=old_epoch, after=seen)
        assert back.welcome["epoch"] != old_epoch
        reset = await back.next()
        assert reset["type"] == "history_reset"
        assert reset["epoch"] == back.welcome["epoch"] and reset["seq"] == back.welcome["seq"]
        assert "lost its history" in reset["message"]
        # Then what a newcomer gets: the new room's last lines.
        earlier = [await back.next() for _ in range(2)]
        assert [(m.get("type"), m["message"]) for m in earlier] == [
            ("join", "Client #bob joined the chat (1 online)"), (None, "after the restart")]
        assert all(is_earlier(m) for m in earlier)
        await still_chatting(back, bob)


async def test_a_gap_older_than_the_history_says_how_much_is_gone_then_replays_the_rest(
        start_chat):
    server = start_chat(history=5, rate_limit=0)
    async with WifiLink(server.port) as wifi:
        alice = await join(wifi.ws_url, "alice")
        bob = await join(server.ws_url, "bob")
        seen = (await alice.next_of("join"))["seq"]  # 2
        wifi.drop(alice.ws)
        said = [f"while away {n}" for n in range(10)]  # numbered 3..12; 8..12 are kept
        for text in said:
            await bob.say(text)
        await hears(bob, *said)
        back = await join(server.ws_url, "alice", resume=alice.welcome["resume"],
                          epoch=alice.welcome["epoch"], after=seen)
        gap = await back.next()
        assert gap["type"] == "gap_too_old" and gap["missed"] == 5
        assert "5 messages" in gap["message"]
        rest = [await back.next() for _ in range(5)]
        assert [m["message"] for m in rest] == said[5:]
        assert [m["seq"] for m in rest] == list(range(8, 13))
        assert all(m["replay"] is True for m in rest)
        resumed = await back.next()  # the end of the replay, a partial one too
        assert resumed["type"] == "resumed" and resumed["replayed"] == 5, resumed
        await still_chatting(bob, back)


@pytest.mark.parametrize("key", [None, "not-the-key"], ids=["no key", "wrong key"])
async def test_a_resume_without_the_key_is_refused_and_treated_as_a_newcomer(start_chat, key):
    server = start_chat()
    alice = await join(server.ws_url, "alice")
    await alice.say("for alice's eyes")
    await hears(alice, "for alice's eyes")
    await alice.ws.close()
    mallory = await join(server.ws_url, "alice", resume=key, epoch=alice.welcome["epoch"],
                         after=0)
    refused = await mallory.next()
    assert refused["type"] == "error" and refused["code"] == "resume_refused"
    assert "resume key" in refused["message"]
    # A newcomer's share of the history, no more: nothing marked replay, no resumed.
    rest = await mallory.silence(earlier=True)
    assert rest and all(is_earlier(m) for m in rest)
    assert any("Refused a resume: resume_refused" in line for line in server.logs(None))


@pytest.mark.parametrize("query, why", [
    (dict(epoch="EPOCH", after="abc"), "after must be"),
    (dict(epoch="EPOCH", after="-1"), "after must be"),
    (dict(epoch="EPOCH"), "both epoch and after"),
    (dict(after="3"), "both epoch and after"),
    (dict(epoch="not a word", after="1"), "epoch must be"),
    (dict(epoch="EPOCH", after="999"), "past the last message"),
])
async def test_a_malformed_resume_gets_bad_resume_and_the_newcomers_share(start_chat, query,
                                                                          why):
    server = start_chat()
    alice = await join(server.ws_url, "alice")
    bob = await join(server.ws_url, "bob")
    await bob.say("hello")
    await hears(alice, "hello")
    await hears(bob, "hello")
    if query.get("epoch") == "EPOCH":
        query["epoch"] = alice.welcome["epoch"]
    again = await join(server.ws_url, "alice", resume=alice.welcome["resume"], **query)
    bad = await again.next()
    assert bad["type"] == "error" and bad["code"] == "bad_resume" and why in bad["message"]
    earlier = [await again.next() for _ in range(3)]  # the two joins, and bob's line
    assert all(is_earlier(m) for m in earlier)
    assert earlier[-1]["message"] == "hello"
    # Never a crash, never a close: the key still took the name over.
    assert (await alice.closed())[0] == 4409
    await still_chatting(again, bob)


async def test_a_replay_while_lines_keep_coming_loses_none_and_doubles_none(start_chat):
    server = start_chat(rate_limit=0)
    count = 400
    async with WifiLink(server.port) as wifi:
        alice = await join(wifi.ws_url, "alice")
        bob = await join(server.ws_url, "bob")
        received: list[dict[str, Any]] = [await alice.next_of("join")]

        async def talk() -> None:
            for n in range(count):
                await bob.say(f"n{n}")
                await asyncio.sleep(0.001)

        talker = asyncio.get_running_loop().create_task(talk())
        try:
            while len(received) < 50:  # some lines in, then the Wi-Fi drops mid-stream
                received.append(await alice.chat_line())
            wifi.drop(alice.ws)
            back = await join(server.ws_url, "alice", resume=alice.welcome["resume"],
                              epoch=alice.welcome["epoch"], after=received[-1]["seq"])
            while not (received[-1].get("message") == f"n{count - 1}"):
                message = await back.next()
                if message.get("type") == "resumed":
                    assert message["replayed"] >= 0
                else:
                    received.append(message)
        finally:
            await talker
    lines = received[1:]
    assert [m["message"] for m in lines] == [f"n{n}" for n in range(count)]
    seqs = [m["seq"] for m in received]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


async def test_numbered_messages_are_the_lectures_with_extra_fields_only(start_chat):
    """The lecture's page reads ``message``, ``client_id``, ``timestamp`` (and ``type``): each
    is there, with its value and in its place; what the history adds comes after."""
    server = start_chat()
    alice = await join(server.ws_url, "alice")
    bob = await join(server.ws_url, "bob")
    joined = await alice.next_of("join")
    await bob.say("hi")
    line = await alice.chat_line()
    await bob.ws.close()
    left = await alice.next_of("disconnect")
    assert list(line)[:3] == list(CHAT_FIELDS)
    assert set(line) - set(CHAT_FIELDS) == {"seq", "epoch"}
    assert lecture_fields(line) == {"message": "hi", "client_id": "bob",
                                    "timestamp": line["timestamp"]}
    for announcement in (joined, left):
        assert set(announcement) - {"seq", "epoch"} == {
            "client_id", "type", "message", "timestamp", "user", "participants"}
    carol = await join(server.ws_url, "carol")
    copies = [await carol.next() for _ in range(4)]  # two joins, a line, a leave
    assert copies[1:] == [{**message, "history": True} for message in (joined, line, left)]


async def test_a_history_of_200_holds_200_after_10000_lines(start_chat):
    server = start_chat(history=200, rate_limit=0, history_on_join=0)
    alice = await join(server.ws_url, "alice")
    room = server.app.state.room

    async def send() -> None:
        for n in range(10_000):
            await alice.say(f"line {n}")

    sender = asyncio.get_running_loop().create_task(send())
    last = None
    while last != "line 9999":
        last = (await alice.chat_line())["message"]
    await sender
    assert len(room.history) == 200 and room.history.last_seq == 10_001  # and alice's join
    assert [entry.seq for entry in room.history][0] == 9802
    assert json.loads(list(room.history)[-1].text)["message"] == "line 9999"


async def test_resuming_at_the_last_seq_replays_nothing_and_says_so(start_chat):
    server = start_chat()
    alice = await join(server.ws_url, "alice")
    back = await join(server.ws_url, "alice", resume=alice.welcome["resume"],
                      epoch=alice.welcome["epoch"], after=alice.welcome["seq"])
    resumed = await back.next()
    assert resumed["type"] == "resumed" and resumed["replayed"] == 0
    assert resumed["message"] == "caught up: 0 missed lines"
    await eventually(lambda: server.app.state.room.online == ["alice"], "alice alone, again",
                     TIMEOUT)
