"""``python -m wslab serve``: the chat server from the shell.

On loopback it runs as the notebooks do: no token, no Origin check. Listening on anything else
means a network full of other people, so it then requires a join token (one is made up and
printed if you give none) and lets browser pages connect only from its own origin (plus any
``--allow-origin``). Ctrl-C stops it: uvicorn closes every client with 1012 (service restart),
which the kit's clients answer by reconnecting once the server is back.

Several processes can serve one room through Redis (``--broker redis://...``): either several
servers on several ports, each started with the same ``--broker``, or ``--workers N`` on one
port. With ``--workers``, uvicorn binds the port in this process and starts N worker processes
that all accept connections from it; each builds its own app with :func:`worker_app`, from the
settings this process passes in the environment (``WSLAB_WORKER``, JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import logging
import os
import secrets
import socket
import sys

import uvicorn
from fastapi import FastAPI

from wslab.broker import DEFAULT_HEARTBEAT, broker_from_url, safe_url
from wslab.chat import create_app
from wslab.serving import uvicorn_config
from wslab.settings import (DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_OUTBOUND_QUEUE,
                            DEFAULT_RATE_LIMIT, ChatSettings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wslab", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the chat server")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (0.0.0.0: every network; default: loopback)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES,
                       metavar="N", help=f"longest chat line (default: {DEFAULT_MAX_MESSAGE_BYTES})")
    serve.add_argument("--rate-limit", type=float, default=DEFAULT_RATE_LIMIT, metavar="R",
                       help=f"messages per second per client, 0 = off (default: {DEFAULT_RATE_LIMIT:g})")
    serve.add_argument("--outbound-queue", type=int, default=DEFAULT_OUTBOUND_QUEUE, metavar="N",
                       help="messages waiting for one client before it is dropped as too slow")
    serve.add_argument("--token", help="join token clients must pass as ?token=... "
                                       "(made up for you when listening beyond loopback)")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="another web origin whose pages may connect (repeatable)")
    serve.add_argument("--broker", metavar="URL",
                       help="join other servers of the same room through Redis, e.g. "
                            "redis://127.0.0.1:6379/0 (default: none, this server is the room)")
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="worker processes on this port (more than 1 needs --broker)")
    serve.add_argument("--heartbeat", type=float, default=DEFAULT_HEARTBEAT, metavar="S",
                       help="with --broker: seconds between the presence heartbeats of a worker; "
                            f"one silent for 3 heartbeats counts as gone (default: "
                            f"{DEFAULT_HEARTBEAT:g})")
    serve.add_argument("--log-level", default="info",
                       choices=["debug", "info", "warning", "error"])
    return parser


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_for(args: argparse.Namespace) -> ChatSettings:
    """Loopback: open, as in the notebooks. Anything else: token and Origin check on."""
    local = is_loopback(args.host)
    token = args.token if args.token or local else secrets.token_urlsafe(6)
    return ChatSettings(max_message_bytes=args.max_message_bytes, rate_limit=args.rate_limit,
                        outbound_queue=args.outbound_queue, token=token,
                        check_origin=not local, allowed_origins=tuple(args.allow_origin))


def join_addresses(host: str, port: int, token: str | None) -> list[str]:
    """The page addresses to give students: every address this machine has on ``host``."""
    if host in ("0.0.0.0", "::", ""):
        names = {socket.gethostname()}
        try:
            hosts = sorted({info[4][0] for name in names
                            for info in socket.getaddrinfo(name, None, socket.AF_INET)
                            if not ipaddress.ip_address(info[4][0]).is_loopback})
        except OSError:
            hosts = []
        hosts = hosts or ["<this computer's address>"]
    else:
        hosts = [host]
    query = f"?token={token}" if token else ""
    return [f"http://{h}:{port}/chat{query}" for h in hosts]


#: The environment variable that carries a worker's settings from ``--workers`` to
#: :func:`worker_app`, as JSON.
WORKER_ENV = "WSLAB_WORKER"


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")


def worker_app() -> FastAPI:
    """The app of one worker process under ``--workers N`` (uvicorn calls it in each worker).

    Every worker gets the same settings and join token from the parent process, and a broker
    of its own with a worker id of its own.
    """
    spec = json.loads(os.environ[WORKER_ENV])
    _setup_logging(spec["log_level"])
    fields = dict(spec["settings"], allowed_origins=tuple(spec["settings"]["allowed_origins"]))
    broker = broker_from_url(spec["broker"], heartbeat=spec["heartbeat"])
    return create_app(ChatSettings(**fields), broker)


def _check_scale_out(args: argparse.Namespace) -> None:
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, not {args.workers}")
    if args.workers > 1 and not args.broker:
        raise ValueError("--workers above 1 needs --broker redis://...: without a broker each "
                         "worker would be a chat room of its own, and clients would not see "
                         "each other")
    if args.heartbeat <= 0:
        raise ValueError(f"--heartbeat must be positive, not {args.heartbeat}")
    broker_from_url(args.broker)  # an unknown scheme fails here, before anything starts


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        settings = settings_for(args)
        _check_scale_out(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wslab chat server on {args.host}:{args.port} "
          f"(messages up to {settings.max_message_bytes} bytes, "
          f"rate limit {'off' if settings.rate_limit == 0 else f'{settings.rate_limit:g}/s'})")
    if args.broker:
        print(f"  broker:     {safe_url(args.broker)}"
              + (f" ({args.workers} workers on this port)" if args.workers > 1 else ""))
    for address in join_addresses(args.host, args.port, settings.token):
        print(f"  chat page:  {address}")
    if settings.token:
        print(f"  join token: {settings.token}")
    print("Press Ctrl-C to stop.", flush=True)
    if args.workers > 1:
        return _run_workers(args, settings)
    broker = broker_from_url(args.broker, heartbeat=args.heartbeat)
    config = uvicorn_config(create_app(settings, broker), host=args.host, port=args.port,
                            log_level=args.log_level)
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        # uvicorn re-raises the Ctrl-C it handled once every client is closed: we are done.
        pass
    return 0 if server.started else 1


def _run_workers(args: argparse.Namespace, settings: ChatSettings) -> int:
    """``--workers N``: uvicorn's supervisor, N processes accepting on one bound socket.

    The supervisor restarts a worker that dies, and on Ctrl-C (or SIGTERM) stops every worker,
    which closes its clients with 1012.
    """
    from uvicorn.supervisors import Multiprocess

    os.environ[WORKER_ENV] = json.dumps({
        "settings": dataclasses.asdict(settings), "broker": args.broker,
        "heartbeat": args.heartbeat, "log_level": args.log_level})
    config = uvicorn_config("wslab.__main__:worker_app", factory=True, host=args.host,
                            port=args.port, log_level=args.log_level, workers=args.workers,
                            ws_max_size=settings.max_frame_bytes)
    try:
        sock = config.bind_socket()
    except SystemExit:  # uvicorn has logged why (the port is in use, say)
        return 1
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
