"""The servers under test, each run the way its users would run it, in a process of its own.

- ``lecture``: the lecture's app (``wslab.lecture``) started with ``uvicorn.run(app)`` and
  nothing else, as a student runs it: uvicorn's defaults, so permessage-deflate is on whenever
  the browser offers it. Its ``print()`` lines go to /dev/null, not to a terminal.
- ``wslab``: the kit's ``create_app()`` started with ``wslab.serving.uvicorn_config()``, the
  configuration every wslab server uses (deflate off). The rate limit is off, since one sender
  plays a whole room, and the message limit fits the benchmark's lines.
- ``reference`` / ``reference-nodeflate``: the same protocol on bare ``websockets`` with its
  ``broadcast()`` (``wslab.bench.reference``), with the library's defaults, and then without
  compression, which is how the library's own docs say to compare servers.

``python -m wslab.bench.servers <name> --port P`` runs one of them; the coordinator does that.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from wslab.bench import procs


@dataclasses.dataclass(frozen=True)
class ServerKind:
    name: str
    label: str
    #: What is run, for the table's footnotes.
    how: str


SERVERS = {
    kind.name: kind for kind in (
        ServerKind("lecture", "(a) lecture",
                   "lecture's ConnectionManager, uvicorn.run(app) defaults (deflate on)"),
        ServerKind("wslab", "(b) wslab",
                   "wslab.chat.create_app, wslab.serving.uvicorn_config (deflate off), "
                   "rate limit off"),
        ServerKind("reference", "(c) websockets",
                   "bare websockets, broadcast(), library defaults (deflate on)"),
        ServerKind("reference-nodeflate", "(c') websockets, no deflate",
                   "bare websockets, broadcast(), compression=None"),
        ServerKind("lecture-nodeflate", "(a') lecture, no deflate",
                   "lecture's ConnectionManager, uvicorn.run(app, ws_per_message_deflate=False)"),
    )
}

#: What ``python -m wslab.bench`` runs unless told otherwise; (a') is there for analysis:
#: it separates what the lecture's design costs from what uvicorn's compression costs.
DEFAULT_SERVERS = ["lecture", "wslab", "reference", "reference-nodeflate"]


def server_args(name: str, port: int, max_message_bytes: int) -> list[str]:
    """The command line (after the interpreter) that runs server ``name`` on ``port``."""
    return ["-m", "wslab.bench.servers", name, "--port", str(port),
            "--max-message-bytes", str(max_message_bytes)]


def _run_lecture(host: str, port: int, deflate: bool = True) -> None:
    import uvicorn

    from wslab.lecture import create_lecture_app

    if deflate:
        uvicorn.run(create_lecture_app(), host=host, port=port)
    else:
        uvicorn.run(create_lecture_app(), host=host, port=port, ws_per_message_deflate=False)


def _run_wslab(host: str, port: int, max_message_bytes: int) -> None:
    import uvicorn

    from wslab.chat import create_app
    from wslab.serving import uvicorn_config
    from wslab.settings import ChatSettings

    settings = ChatSettings(rate_limit=0, max_message_bytes=max_message_bytes)
    config = uvicorn_config(create_app(settings), host=host, port=port, log_level="warning")
    uvicorn.Server(config).run()


def _run_reference(host: str, port: int, compression: bool) -> None:
    import asyncio

    from wslab.bench.reference import run

    asyncio.run(run(host, port, "deflate" if compression else None))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", choices=sorted(SERVERS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-message-bytes", type=int, default=4096)
    args = parser.parse_args(argv)
    procs.raise_fd_limit()
    procs.exit_when_parent_goes()
    if args.name in ("lecture", "lecture-nodeflate"):
        _run_lecture(args.host, args.port, deflate=args.name == "lecture")
    elif args.name == "wslab":
        _run_wslab(args.host, args.port, args.max_message_bytes)
    else:
        _run_reference(args.host, args.port, compression=args.name == "reference")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
