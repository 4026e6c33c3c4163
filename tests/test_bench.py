"""Smoke test of ``python -m wslab.bench``: every server runs, delivers and is measured.

First, the load generator's protocol (``wslab.bench.wire``) against the kit's own
``wslab.protocol``, the reference it builds on.

No timing assertions: the benchmark's numbers depend on the machine and on whatever else runs
on it. This only checks that the whole machinery works end to end (servers start, receivers
connect, the sender's lines arrive, the stalled client joins, memory is read, the report is
printed, every process is gone afterwards), in one short ``--quick`` run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import zlib
from pathlib import Path

import pytest

from wslab import protocol
from wslab.bench import wire
from wslab.bench.servers import DEFAULT_SERVERS, SERVERS


@pytest.mark.slow
def test_quick_benchmark_measures_every_server(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    # A marker in the environment, which every process the benchmark starts inherits.
    marker = f"WSLAB_BENCH_SMOKE={uuid.uuid4().hex}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    run = subprocess.run([sys.executable, "-m", "wslab.bench", "--quick", "--json", str(out)],
                         capture_output=True, text=True, timeout=110, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(out.read_text())

    baseline = {row["server"]: row for row in results["fanout"] if not row["stalled"]}
    stalled = {row["server"]: row for row in results["fanout"] if row["stalled"]}
    memory = {row["server"]: row for row in results["memory"]}
    for server in DEFAULT_SERVERS:
        row = baseline[server]
        assert not row["error"], (server, row["error"])
        assert row["deliveries_per_s"] > 0 and row["delivered"] > 0, row
        assert row["p50_ms"] > 0 and row["p99_ms"] > 0, row
        assert row["server_cpu"] > 0, row
        assert not stalled[server]["error"], (server, stalled[server]["error"])
        assert stalled[server]["delivered"] > 0, stalled[server]
        assert not memory[server]["error"], (server, memory[server]["error"])
        assert memory[server]["kib_per_connection"] > 0, memory[server]
        assert SERVERS[server].label in run.stdout
    assert "Targets" in run.stdout

    # No server or receiver outlived the run.
    leftovers = [environ.parent.name for environ in Path("/proc").glob("[0-9]*/environ")
                 if marker.encode() in _read(environ)]
    assert not leftovers, [_read(Path("/proc", pid, "cmdline")) for pid in leftovers]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65535, 65536])
def test_a_client_frame_is_what_the_protocol_module_decodes(length: int) -> None:
    payload = bytes(range(256)) * (length // 256 + 1)
    frame = wire.client_frame(wire.OP_TEXT, payload[:length])
    decoded, used = protocol.decode_frame(frame)
    assert used == len(frame) and frame[1] & 0x80  # masked, as a client's frame must be
    assert decoded.opcode == protocol.Opcode.TEXT and decoded.fin
    assert decoded.payload == payload[:length]


def response_to(request: bytes, *, extensions: str = "", accept: str | None = None) -> bytes:
    key = next(line.split(": ", 1)[1] for line in request.decode().split("\r\n")
               if line.startswith("Sec-WebSocket-Key: "))
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept or protocol.accept_key(key)}"]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return "\r\n".join(lines).encode()


def test_the_handshake_offers_deflate_like_a_browser_and_checks_the_answer() -> None:
    request, key = wire.handshake_request("127.0.0.1", 8000, "/ws/r-1", deflate=True)
    assert request.startswith(b"GET /ws/r-1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n")
    assert b"\r\nOrigin: http://127.0.0.1:8000\r\n" in request
    assert f"Sec-WebSocket-Extensions: {wire.DEFLATE_OFFER}".encode() in request
    assert wire.parse_handshake_response(response_to(request), key) is False
    assert wire.parse_handshake_response(
        response_to(request, extensions="permessage-deflate"), key) is True
    with pytest.raises(wire.HandshakeError, match="Sec-WebSocket-Accept"):
        wire.parse_handshake_response(response_to(request, accept="d3Jvbmc="), key)
    with pytest.raises(wire.HandshakeError, match="403"):
        wire.parse_handshake_response(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0", key)
    plain, _ = wire.handshake_request("127.0.0.1", 8000, "/ws/r-2", deflate=False)
    assert b"Sec-WebSocket-Extensions" not in plain


def test_the_frame_reader_cuts_a_stream_into_messages() -> None:
    deflater = zlib.compressobj(wbits=-15)
    compressed = deflater.compress(b"squeezed") + deflater.flush(zlib.Z_SYNC_FLUSH)
    assert compressed.endswith(b"\x00\x00\xff\xff")
    stream = b"".join([
        protocol.encode_frame(protocol.Opcode.TEXT, b"one"),
        protocol.encode_frame(protocol.Opcode.TEXT, b"tw", fin=False),  # a fragmented message,
        protocol.encode_frame(protocol.Opcode.PING, b"?"),  # a ping in between,
        protocol.encode_frame(protocol.Opcode.CONTINUATION, b"o"),  # and its last piece
        bytes([0x80 | 0x40 | 0x1, len(compressed) - 4]) + compressed[:-4],  # RSV1: compressed
        protocol.encode_frame(protocol.Opcode.TEXT, b"x" * 70_000),
        protocol.encode_frame(protocol.Opcode.CLOSE, protocol.close_payload(1000)),
    ])
    reader = wire.FrameReader(deflate=True)
    got = []
    for start in range(0, len(stream), 7):  # in pieces that cut every frame somewhere
        got.extend(reader.feed(stream[start:start + 7]))
    assert got == [(wire.OP_TEXT, b"one"), (wire.OP_PING, b"?"), (wire.OP_TEXT, b"two"),
                   (wire.OP_TEXT, b"squeezed"), (wire.OP_TEXT, b"x" * 70_000),
                   (wire.OP_CLOSE, protocol.close_payload(1000))]
