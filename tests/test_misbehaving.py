"""The misbehaving clients of lesson 02 do to a real server what the lesson says they do.

Each demo runs the lecture's app on a real server, once with the lecture's manager (it must
fail as the lesson describes) and once with the lesson's safe manager (it must survive), so a
change in uvicorn, Starlette or websockets that would make the lesson's story false fails here.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from wslab import lecture, misbehaving
from wslab.answers.manager import SafeConnectionManager
from wslab.lecture import create_lecture_app
from wslab.misbehaving import (Demo, flood, ghost_demo, inbox, laptop_lid_demo, short,
                               stall_demo, stalled_client, who)
from wslab.runner import BackgroundServer


@pytest.fixture
def demos():
    """Run demos; the last one's server is stopped after the test (each replaces the one
    before)."""
    ran: list[Demo] = []

    async def run(demo, manager, **options) -> Demo:
        ran.append(await demo(manager, **options))
        return ran[-1]

    yield run
    for demo in ran:
        demo.server.stop()


@pytest.mark.slow
async def test_a_dead_handler_leaves_a_ghost_that_takes_the_next_speaker_down(demos, capsys):
    demo = await demos(ghost_demo, lecture.ConnectionManager())
    assert demo.seen["cat"] == ["nothing"]
    assert demo.seen["bob"] == ["(connection closed: no close frame)"]
    assert demo.seen["registered"] == ["ann", "cat"]
    out = capsys.readouterr().out
    assert "ann sent a binary frame, and the server hung up on her." in out
    assert "cat hears:  ['nothing']" in out


@pytest.mark.slow
async def test_the_safe_manager_outlives_the_ghost(demos):
    demo = await demos(ghost_demo, SafeConnectionManager(outbound_queue=64))
    assert demo.seen["bob"] == ["bob: anyone there?"]
    assert demo.seen["cat"] == ["bob: anyone there?"]
    assert demo.seen["registered"] == ["bob", "cat"]


@pytest.mark.slow
async def test_the_log_shows_the_story_without_traceback_frames(demos, capsys):
    demo = await demos(ghost_demo, lecture.ConnectionManager())
    capsys.readouterr()
    demo.show_log(width=60)
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("KeyError: 'text'") for line in lines)
    assert not any(line.startswith((" ", "Traceback")) for line in lines)
    assert all(len(line) <= 62 for line in lines)


@pytest.mark.slow
async def test_a_client_that_never_reads_freezes_the_lectures_room(demos, capsys):
    demo = await demos(stall_demo, lecture.ConnectionManager())
    flooded = demo.seen["flood"]
    assert flooded.heard["bob"] < flooded.messages
    assert flooded.heard["ann"] < flooded.messages
    assert "lazy" in demo.seen["registered"]
    assert "lazy" not in demo.seen["after"]
    out = capsys.readouterr().out
    assert "bob received" in out and "then nothing for" in out


@pytest.mark.slow
async def test_the_safe_manager_drops_the_client_that_never_reads_and_only_it(demos, capsys):
    demo = await demos(stall_demo, SafeConnectionManager(outbound_queue=64))
    flooded = demo.seen["flood"]
    assert flooded.heard == {"ann": flooded.messages, "bob": flooded.messages}
    assert demo.seen["registered"] == ["ann", "bob"] == demo.seen["after"]
    assert "bob received all 400" in capsys.readouterr().out


@pytest.mark.slow
async def test_a_cut_connection_is_handled_well_by_the_lectures_endpoint(demos):
    demo = await demos(laptop_lid_demo, lecture.ConnectionManager())
    assert demo.seen["bob"] == ["system: Client #ann left the chat"]
    assert demo.seen["registered"] == ["bob"]


@pytest.mark.slow
async def test_each_demo_replaces_the_previous_server(demos):
    first = await demos(laptop_lid_demo, lecture.ConnectionManager())
    second = await demos(laptop_lid_demo, lecture.ConnectionManager())
    assert first.server is not second.server
    assert not first.server.running and second.server.running
    assert second.server.name == misbehaving.SERVER_NAME


@pytest.mark.slow
async def test_the_stalled_client_is_registered_and_never_reads():
    manager = lecture.ConnectionManager()
    with BackgroundServer(create_lecture_app(manager), name="test-stalled-client") as server:
        lazy = stalled_client(server.port, "lazy")
        try:
            assert await misbehaving.wait_until(lambda: who(manager) == ["lazy"])
            with pytest.raises(ConnectionError, match="refused the handshake"):
                stalled_client(server.port, "x/not/a/route")
        finally:
            lazy.close()
        assert await misbehaving.wait_until(lambda: who(manager) == [])


@pytest.mark.slow
async def test_flood_counts_what_reaches_each_reader():
    with BackgroundServer(create_lecture_app(), name="test-flood") as server:
        async with websockets.connect(f"{server.ws_url}/ws/ann") as ann, \
                websockets.connect(f"{server.ws_url}/ws/bob") as bob:
            seen = await flood(ann, {"ann": ann, "bob": bob}, messages=20, size=100,
                               seconds=3)
    assert seen.sent == 20 and seen.heard == {"ann": 20, "bob": 20}
    assert seen.report("bob").startswith("received all 20, within")


@pytest.mark.slow
async def test_inbox_says_what_came_and_how_the_connection_ended():
    with BackgroundServer(create_lecture_app(), name="test-inbox") as server:
        async with websockets.connect(f"{server.ws_url}/ws/ann") as ann:
            assert await inbox(ann, quiet=0.1) == ["nothing"]
            await ann.send(json.dumps({"message": "hi"}))
            assert await inbox(ann, quiet=0.3) == ["ann: hi"]
            server.stop()
            heard = await inbox(ann, quiet=2)
    assert heard[-1].startswith("(connection closed: ")


def test_short_tells_who_said_what():
    assert short(json.dumps({"client_id": "ann", "message": "x" * 50})) == "ann: " + "x" * 40
    assert short("Client ann: plain text") == "Client ann: plain text"
    assert short(json.dumps([1, 2])) == "[1, 2]"


@pytest.mark.slow
async def test_no_demo_hangs_on_a_manager_that_never_sends():
    class Silent(lecture.ConnectionManager):
        async def broadcast(self, message):
            await asyncio.sleep(3600)

    demo = await asyncio.wait_for(ghost_demo(Silent()), 15)
    try:
        assert demo.seen["cat"] == ["nothing"]
    finally:
        demo.server.stop()
