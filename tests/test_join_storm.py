"""A join storm: a whole class connects at once, and no healthy client is dropped for it; and
the benchmark of a storm from one address (``python -m wslab.bench.join_storm``).

Every join is announced to everyone already there, so when N people join together each client
is sent about N announcements at once. A client that reads slowly at that moment (a busy
laptop, a slow network) falls behind by all of them. Before announcements got a bound of their
own (``ConnectionManager.announce``), they counted toward the chat lines' ``outbound_queue``,
and such a client was dropped with 4408 although it was reading.

The slow client here is ``wslab.bench.stalled.StalledClient``: a raw socket with a tiny receive
buffer and an Ethernet segment size, which reads nothing until the test says so. A few big
chat lines first fill its buffers, so that the server has to keep what follows in its outbox.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from peers import is_earlier, join, still_chatting
from wslab import protocol
from wslab.bench.stalled import StalledClient
from wslab.settings import DEFAULT_JOIN_RATE

#: Chat lines that may wait for one client in these tests (the default is 256).
QUEUE = 8
#: How many join at once: several times ``QUEUE``.
STORM = 40
#: Big chat lines that fill a stalled client's buffers (about 190 KiB) but not its outbox.
FILL_LINES = 6
BIG = "x" * 50_000


def connection_of(server, client_id: str):
    """The server's WebSocket for ``client_id`` (core lesson 02's demos find them the same way)."""
    for websocket in server.app.state.room.manager.active_connections:
        if websocket.path_params["client_id"] == client_id:
            return websocket
    return None


def read_messages(sock, until, timeout: float) -> tuple[list[dict], tuple[int, str] | None]:
    """Read a raw client's frames until ``until(messages)`` holds or the server closes.

    Returns the text messages (decoded JSON) and the close frame's (code, reason), if one came.
    """
    sock.settimeout(timeout)
    data, messages = b"", []
    while not until(messages):
        chunk = sock.recv(262144)
        if not chunk:
            return messages, None
        data += chunk
        while (decoded := protocol.decode_frame(data)) is not None:
            frame, used = decoded
            data = data[used:]
            if frame.opcode == protocol.Opcode.CLOSE:
                return messages, protocol.parse_close(frame.payload)
            if frame.opcode == protocol.Opcode.TEXT:
                messages.append(json.loads(frame.payload))
    return messages, None


def joins(messages: list[dict]) -> list[str]:
    """Who joined, live (not the room's earlier joins a newcomer is shown after its welcome)."""
    return [m["user"] for m in messages if m.get("type") == "join" and not is_earlier(m)]


async def storm_while_one_client_is_behind(server, name: str):
    """alice and a stalled client ``name`` join; alice fills its buffers with big lines; then
    ``STORM`` clients join at once. Returns alice, the stalled client and the newcomers."""
    alice = await join(server.ws_url, "alice")
    behind = await asyncio.to_thread(StalledClient, "127.0.0.1", server.port, name,
                                     deflate=False)
    await alice.next_of("join")
    for n in range(FILL_LINES):
        await alice.say(f"{n} {BIG}")
        await alice.chat_line()  # the server has queued it for everyone by now
    newcomers = await asyncio.gather(*(join(server.ws_url, f"s{n}") for n in range(STORM)))
    alice.heard = [(await alice.next_of("join"))["user"] for _ in range(STORM)]
    return alice, behind, newcomers


async def test_a_slow_reader_keeps_its_connection_through_a_join_storm(start_chat):
    server = start_chat(outbound_queue=QUEUE, rate_limit=0, max_message_bytes=60_000)
    alice, slow, newcomers = await storm_while_one_client_is_behind(server, "slow")
    try:
        manager = server.app.state.room.manager
        # The storm really left it behind: more waiting than a chat client may have.
        assert manager.waiting(connection_of(server, "slow")) > QUEUE
        assert "slow" in server.app.state.room.online

        # It reads again: every line and every announcement arrives, and no close frame.
        messages, close = await asyncio.to_thread(
            read_messages, slow.sock, lambda got: len(joins(got)) == STORM, 10)
        assert close is None, f"the slow reader was dropped: {close}"
        assert joins(messages) == alice.heard  # all of them, in the order alice heard them
        assert sorted(alice.heard) == sorted(f"s{n}" for n in range(STORM))
        lines = [m["message"] for m in messages if m.get("client_id") == "alice"]
        assert [line.split()[0] for line in lines] == [str(n) for n in range(FILL_LINES)]
        assert "slow" in server.app.state.room.online

        # And it is a member like any other: it hears what is said next.
        await alice.say("still with us?")
        got, close = await asyncio.to_thread(
            read_messages, slow.sock, lambda got: any(m.get("message") == "still with us?"
                                                      for m in got), 5)
        assert close is None
        await alice.chat_line()
        await newcomers[0].chat_line()
        await still_chatting(newcomers[0], alice)
    finally:
        slow.close()


async def test_a_client_that_never_reads_is_still_dropped_when_chat_lines_pile_up(start_chat):
    server = start_chat(outbound_queue=QUEUE, rate_limit=0, max_message_bytes=60_000)
    alice, lazy, newcomers = await storm_while_one_client_is_behind(server, "lazy")
    try:
        assert "lazy" in server.app.state.room.online  # the storm alone did not drop it
        # Chat lines pile up behind the announcements: after QUEUE of them, it is dropped.
        for n in range(FILL_LINES, FILL_LINES + 2 * QUEUE):
            await alice.say(f"{n} {BIG}")
            message = await alice.next_of(None, "disconnect")
            if message.get("type") == "disconnect":
                assert message["user"] == "lazy" and "too slow" in message["message"]
                break
        else:
            raise AssertionError("the client that never reads was never dropped")
        assert "lazy" not in server.app.state.room.online
        for peer in (alice, newcomers[0]):
            await peer.silence()  # the rest of the big lines
        await still_chatting(alice, newcomers[0])

        # Its close frame waited behind its backlog: 4408, once it reads.
        messages, close = await asyncio.to_thread(read_messages, lazy.sock, lambda got: False, 10)
        assert close == (4408, "too slow: stopped reading messages")
    finally:
        lazy.close()


@pytest.mark.slow
def test_the_join_storm_benchmark_runs_both_ways_and_prints_its_figures(tmp_path):
    """``python -m wslab.bench.join_storm``, small: a storm against a server without a join
    pace and one with the default pace, in one run. It asserts what was counted, no timings."""
    from wslab.bench import join_storm

    results = join_storm.run(joins=120, every=0.2, workdir=str(tmp_path))
    report = join_storm.render(results)
    print(report)
    assert [result["join_rate"] for result in results] == [0.0, DEFAULT_JOIN_RATE]
    for result in results:
        # 120 fit in the burst and the line: everyone gets in, and alice's lines all arrive.
        assert (result["joined"], result["refused"], result["failed"]) == (120, 0, 0), report
        assert result["lost"] == 0 and result["during_ms"]["lines"] > 0, report
    assert "join pace off:" in report and f"join pace {DEFAULT_JOIN_RATE:g}/s:" in report
    assert "delay during the storm: p50" in report
