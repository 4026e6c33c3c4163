"""The reference: the lecture's chat protocol on the bare ``websockets`` library.

Same wire protocol as ``wslab.lecture`` (path ``/ws/<client_id>``, ``{"message": ...}`` in,
``{"message", "client_id", "timestamp"}`` out, plain text relayed as ``Client <id>: <text>``,
a ``disconnect`` line when someone leaves), but fanned out with ``websockets.broadcast()``: one
synchronous loop that frames the message for each connection and hands it to the transport,
with no task per connection and no waiting for anyone. That is the fastest fan-out the library
offers, and the one its documentation recommends, so it is the bar for "fast enough".

It has no backpressure at all: a client that stops reading gets its messages piled up in
memory until the keepalive ping times out. The benchmark keeps it honest in the other
direction too: with ``websockets``' defaults it negotiates permessage-deflate when the client
offers it (as browsers do) and so compresses every message once per connection; the
``--no-compression`` variant shows the same server without that cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from datetime import datetime

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed


def _timestamp() -> str:
    return datetime.now().strftime("%H:%M:%S")


class ReferenceChat:
    """Everyone connected, and the lecture's protocol on top of ``broadcast()``."""

    def __init__(self) -> None:
        self.connections: set[ServerConnection] = set()

    async def handler(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else ""
        if not path.startswith("/ws/") or len(path) == 4:
            await connection.close(1008, "use /ws/<client_id>")
            return
        client_id = path[4:]
        self.connections.add(connection)
        try:
            async for data in connection:
                if not isinstance(data, str):
                    continue
                try:
                    incoming = json.loads(data)
                    message = incoming["message"]
                except (ValueError, TypeError, KeyError):
                    broadcast(self.connections, f"Client {client_id}: {data}")
                    continue
                broadcast(self.connections, json.dumps(
                    {"message": message, "client_id": client_id, "timestamp": _timestamp()}))
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(connection)
            broadcast(self.connections, json.dumps({
                "client_id": "system",
                "message": f"Client #{client_id} left the chat",
                "timestamp": _timestamp(),
                "type": "disconnect",
            }))


async def run(host: str, port: int, compression: str | None) -> None:
    """Serve until SIGTERM or SIGINT; everything else is ``websockets``' defaults."""
    chat = ReferenceChat()
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
    async with serve(chat.handler, host, port, compression=compression):
        try:
            await stop
        except asyncio.CancelledError:
            pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-compression", action="store_true",
                        help="decline permessage-deflate (websockets' compression=None)")
    args = parser.parse_args(argv)
    asyncio.run(run(args.host, args.port, None if args.no_compression else "deflate"))


if __name__ == "__main__":
    main()
