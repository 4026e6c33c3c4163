"""``python -m wslab serve``: the chat server from the shell.

On loopback it runs as the notebooks do: no token, and the pages of this machine may connect
(``wslab.access``), but no other web site's. Listening on anything else means a network full of
other people, so it then requires a join token (one is made up and printed if you give none)
and lets browser pages connect only from its own origin (plus any ``--allow-origin``). Either
way, joins from one address are paced (``--join-rate``, ``wslab.admission``). Ctrl-C stops it: uvicorn closes every client with 1012 (service restart),
which the kit's clients answer by reconnecting once the server is back.

``--classroom`` serves a whole class (``wslab.classroom``): on every network, always with a
join token that stays the same across restarts, and with a live view for the instructor of who
is connected and what flows, instead of a log line per chat message.

Several processes can serve one room through Redis (``--broker redis://...``): either several
servers on several ports, each started with the same ``--broker``, or ``--workers N`` on one
port. With ``--workers``, uvicorn binds the port in this process and starts N worker processes
that all accept connections from it; each builds its own app with :func:`worker_app`, from the
settings this process passes in the environment (``WSLAB_WORKER``, JSON).

The servers of one room sign their events with a secret they share (``wslab.signing``):
``--broker-secret`` or ``WSLAB_BROKER_SECRET``, the same for every server. ``--workers N``
alone needs none: this process makes one up for the run and hands it to its workers. A lone
server with ``--broker`` and no secret is refused: one made up for it would leave it deaf to the
other servers (and them to it), and none at all would let anyone who reaches Redis speak for it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from wslab import classroom
from wslab.access import is_loopback
from wslab.brokers import broker_from_url, is_redis_url
from wslab.chat import create_app
from wslab.presence import DEFAULT_HEARTBEAT
from wslab.quiet_log import quieten
from wslab.redis_server import credentials_problem, safe_url
from wslab.serving import uvicorn_config
from wslab.settings import (DEFAULT_HISTORY, DEFAULT_HISTORY_ON_JOIN, DEFAULT_JOIN_RATE,
                            DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_OUTBOUND_QUEUE,
                            DEFAULT_RATE_LIMIT, ChatSettings)
from wslab.signing import SECRET_ENV, new_secret, secret_problem

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wslab", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the chat server")
    serve.add_argument("--host",
                       help="address to listen on (0.0.0.0: every network; default: loopback; "
                            "--classroom: every network)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument("--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES,
                       metavar="N", help=f"longest chat line (default: {DEFAULT_MAX_MESSAGE_BYTES})")
    serve.add_argument("--rate-limit", type=float, default=DEFAULT_RATE_LIMIT, metavar="R",
                       help=f"messages per second per client, 0 = off (default: {DEFAULT_RATE_LIMIT:g})")
    serve.add_argument("--outbound-queue", type=int, default=DEFAULT_OUTBOUND_QUEUE, metavar="N",
                       help="messages waiting for one client before it is dropped as too slow")
    serve.add_argument("--token", help="join token clients must pass as ?token=... (made up "
                                       "beyond loopback)")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="another web origin whose pages may connect (repeatable)")
    serve.add_argument("--join-rate", type=float, default=DEFAULT_JOIN_RATE, metavar="R",
                       help="joins per second let in from one address, the rest wait in line; "
                            f"0 = off (default: {DEFAULT_JOIN_RATE:g})")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                       help="default: info, or warning with --classroom")
    history = serve.add_argument_group(
        "history and resume", "the last messages, for reconnects and newcomers")
    history.add_argument("--history", type=int, default=DEFAULT_HISTORY, metavar="N",
                         help="numbered messages kept for clients that reconnect; 0 keeps "
                              f"none (default: {DEFAULT_HISTORY})")
    history.add_argument("--history-minutes", type=float, metavar="T",
                         help="keep messages at most T minutes (default: no age limit)")
    history.add_argument("--history-on-join", type=int, default=DEFAULT_HISTORY_ON_JOIN,
                         metavar="N", help="last lines shown to a newcomer after its welcome; "
                                           f"0 = off (default: {DEFAULT_HISTORY_ON_JOIN})")
    redis = serve.add_argument_group(
        "several workers, one room (Redis)", "--broker joins servers into one room through "
        "Redis; every event between them is signed with the room's secret")
    redis.add_argument("--broker", metavar="URL",
                       help="join other servers of the same room through Redis, e.g. "
                            "redis://127.0.0.1:6379/0 (default: none, this server is the room)")
    redis.add_argument("--broker-secret", metavar="S",
                       help=f"with --broker: the room's signing secret (default: ${SECRET_ENV})")
    redis.add_argument("--workers", type=int, default=1, metavar="N",
                       help="worker processes on this port (more than 1 needs --broker)")
    redis.add_argument("--heartbeat", type=float, default=DEFAULT_HEARTBEAT, metavar="S",
                       help="with --broker: seconds between the presence heartbeats of a worker; "
                            f"one silent for 3 heartbeats counts as gone (default: "
                            f"{DEFAULT_HEARTBEAT:g})")
    room = serve.add_argument_group(
        "classroom mode", "--classroom serves a whole class: on every network, always with a "
        "join token (kept across restarts) and the Origin check, and with a live view of who "
        "is connected instead of a log line per message")
    room.add_argument("--classroom", action="store_true", help="serve a whole class")
    room.add_argument("--token-file", metavar="PATH", type=Path,
                      help="where the classroom's join token is kept (default: "
                           f"${classroom.TOKEN_FILE_ENV}, or classroom-token in the user's "
                           "config folder, under wslab)")
    room.add_argument("--new-token", action="store_true",
                      help="make a new join token and keep it (when the old one has leaked)")
    room.add_argument("--status-every", type=float, default=classroom.DEFAULT_STATUS_EVERY,
                      metavar="S", help="seconds between looks at the room for the live view; "
                                        f"0 turns it off (default: {classroom.DEFAULT_STATUS_EVERY:g})")
    return parser


def resolve_defaults(args: argparse.Namespace) -> None:
    """Fill in the defaults that depend on ``--classroom``; refuse what does not go with it."""
    if args.host is None:
        args.host = "0.0.0.0" if args.classroom else "127.0.0.1"
    if args.log_level is None:
        args.log_level = "warning" if args.classroom else "info"
    if args.classroom:
        if args.workers > 1:
            raise ValueError("--classroom runs one server process, whose room its live view "
                             "shows: for several workers, use serve --workers N --broker ... "
                             "--host 0.0.0.0 --token ... instead")
        if args.new_token and args.token:
            raise ValueError("--new-token makes a token and --token gives one: choose one")
    elif args.new_token or args.token_file:
        raise ValueError("--new-token and --token-file go with --classroom")


def settings_for(args: argparse.Namespace, token: str | None = None) -> ChatSettings:
    """Loopback: no token, and this machine's pages may connect, as in the notebooks. Anything
    else, or a classroom: a token, and no page but the server's own and ``--allow-origin``'s.
    ``token`` is the classroom's stored one, unless ``--token`` gives another."""
    guarded = args.classroom or not is_loopback(args.host)
    token = args.token or token or (secrets.token_urlsafe(6) if guarded else None)
    return ChatSettings(max_message_bytes=args.max_message_bytes, rate_limit=args.rate_limit,
                        outbound_queue=args.outbound_queue, token=token,
                        local_pages=not guarded, allowed_origins=tuple(args.allow_origin),
                        join_rate=args.join_rate, history=args.history,
                        history_minutes=args.history_minutes,
                        history_on_join=args.history_on_join)


def classroom_token(args: argparse.Namespace) -> tuple[str, str]:
    """The classroom's join token, and a note for the banner on where it comes from."""
    if args.token:
        problem = classroom.token_format_problem(args.token)
        if problem is not None:
            raise ValueError(f"--token: {problem}")
        return args.token, "(from --token, for this run only)"
    path = args.token_file or classroom.default_token_file()
    try:
        token, made = classroom.stored_token(path, new=args.new_token)
    except OSError as exc:
        raise ValueError(f"cannot keep the join token in {path} ({exc.strerror or exc}): give "
                         "another place with --token-file, or a token with --token") from None
    kept = f"kept in {classroom.shown_path(path)}"
    if made:
        return token, f"(new, {kept}; the same at the next start)"
    return token, f"({kept}; --new-token makes a new one)"


def join_addresses(host: str, port: int, token: str | None) -> list[str]:
    """The page addresses to give students: every address this machine has on ``host``."""
    hosts = classroom.reachable_hosts(host) or ["<this computer's address>"]
    return [classroom.join_address(h, port, token) for h in hosts]


#: The environment variable that carries a worker's settings from ``--workers`` to
#: :func:`worker_app`, as JSON.
WORKER_ENV = "WSLAB_WORKER"


def _setup_logging(level: str) -> None:
    """The log of every mode: warnings of one kind come a few at a time (``wslab.quiet_log``),
    so one student flooding the server cannot fill the screen."""
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    quieten(logging.getLogger().handlers)


def worker_app() -> FastAPI:
    """The app of one worker process under ``--workers N`` (uvicorn calls it in each worker).

    Every worker gets the same settings and join token from the parent process, and a broker
    of its own with a worker id of its own.
    """
    spec = json.loads(os.environ[WORKER_ENV])
    _setup_logging(spec["log_level"])
    # The supervisor's id comes from the supervisor itself: a worker that is still starting
    # when the supervisor dies already has another parent, so asking os.getppid() here would
    # watch the wrong process and never stop.
    _stop_when_orphaned(spec["supervisor"])
    fields = dict(spec["settings"], allowed_origins=tuple(spec["settings"]["allowed_origins"]))
    settings = ChatSettings(**fields)
    return create_app(settings, broker_from_url(
        spec["broker"], heartbeat=spec["heartbeat"], secret=spec["broker_secret"],
        history=settings.history, history_minutes=settings.history_minutes))


def _stop_when_orphaned(parent: int, every: float = 0.5) -> None:
    """Shut this worker down (as on SIGTERM: clients closed with 1012) once ``parent`` is gone.

    uvicorn's supervisor stops its workers on Ctrl-C or SIGTERM, but when it is killed outright
    (SIGKILL, the out-of-memory killer) nothing tells them: they would serve on without a
    supervisor, holding the port, until someone finds them. A worker whose parent has died is
    handed to another process, so its parent process id changes. (On Windows it does not
    change, and this watch never fires.)
    """
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        logger.warning(
            "The supervising process %s is gone: this worker stops too", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="wslab orphan watch", daemon=True).start()


def _check_scale_out(args: argparse.Namespace) -> None:
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, not {args.workers}")
    if args.workers > 1 and not args.broker:
        raise ValueError("--workers above 1 needs --broker redis://...: without a broker each "
                         "worker would be a chat room of its own, and clients would not see "
                         "each other")
    if args.heartbeat <= 0:
        raise ValueError(f"--heartbeat must be positive, not {args.heartbeat}")
    if not is_redis_url(args.broker):
        broker_from_url(args.broker)  # an unknown scheme fails here, before anything starts
        if args.broker_secret:
            raise ValueError("--broker-secret goes with --broker redis://...")
        return
    args.broker_secret, args.secret_note = broker_secret(args)
    problem = credentials_problem(args.broker)
    if problem is not None:
        raise ValueError(problem)


def broker_secret(args: argparse.Namespace) -> tuple[str, str]:
    """The secret this server signs its events with, and a note for the banner on whence."""
    if args.broker_secret:
        secret, note = args.broker_secret, "from --broker-secret"
    elif os.environ.get(SECRET_ENV):
        secret, note = os.environ[SECRET_ENV], f"from ${SECRET_ENV}"
    elif args.workers > 1:
        return new_secret(), ("made up for this run: only this port's workers share it; for "
                              f"servers on other ports too, give them all ${SECRET_ENV}")
    else:
        raise ValueError(
            f"--broker needs the secret that every server of the room signs its events with, "
            f"the same for all: set the environment variable {SECRET_ENV} (or pass "
            f"--broker-secret), for example to the output of `python -c \"import secrets; "
            f"print(secrets.token_urlsafe(32))\"`. Without it, anyone who can reach Redis "
            f"could speak for the servers. (--workers N on one port makes one up for you.)")
    problem = secret_problem(secret)
    if problem is not None:
        raise ValueError(problem)
    return secret, note


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        resolve_defaults(args)
        token, token_note = classroom_token(args) if args.classroom else (None, "")
        settings = settings_for(args, token)
        _check_scale_out(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _setup_logging(args.log_level)
    if args.classroom:
        _classroom_banner(args, settings, token_note)
    else:
        _banner(args, settings)
    if args.workers > 1:
        return _run_workers(args, settings)
    app = create_app(settings, broker_from_url(
        args.broker, heartbeat=args.heartbeat, secret=args.broker_secret,
        history=settings.history, history_minutes=settings.history_minutes))
    config = uvicorn_config(app, host=args.host, port=args.port, log_level=args.log_level)
    server = (classroom.ClassroomServer(config, app.state.room, every=args.status_every)
              if args.classroom else uvicorn.Server(config))
    try:
        server.run()
    except KeyboardInterrupt:
        # uvicorn re-raises the Ctrl-C it handled once every client is closed: we are done.
        pass
    if args.classroom and server.started:
        relayed = app.state.room.messages_relayed
        print(f"\nStopped. {relayed:,} chat {'line' if relayed == 1 else 'lines'} relayed.",
              flush=True)
    return 0 if server.started else 1


def _banner(args: argparse.Namespace, settings: ChatSettings) -> None:
    print(f"wslab chat server on {args.host}:{args.port} "
          f"(messages up to {settings.max_message_bytes} bytes, "
          f"rate limit {'off' if settings.rate_limit == 0 else f'{settings.rate_limit:g}/s'})")
    if args.broker:
        print(f"  broker:     {safe_url(args.broker)}"
              + (f" ({args.workers} workers on this port)" if args.workers > 1 else ""))
        if args.broker_secret:
            print(f"  events signed with a secret {args.secret_note}")
    for address in join_addresses(args.host, args.port, settings.token):
        print(f"  chat page:  {address}")
    if settings.token:
        print(f"  join token: {settings.token}")
    print("Press Ctrl-C to stop.", flush=True)


def _classroom_banner(args: argparse.Namespace, settings: ChatSettings, token_note: str) -> None:
    """What students need to join."""
    if args.broker:
        signed = f"; events signed with a secret {args.secret_note}" if args.broker_secret else ""
        print(f"Broker: {safe_url(args.broker)} (the live view counts this server's lines{signed})")
    print(classroom.banner(settings, args.host, args.port,
                           classroom.reachable_hosts(args.host), token_note), flush=True)


def _run_workers(args: argparse.Namespace, settings: ChatSettings) -> int:
    """``--workers N``: uvicorn's supervisor, N processes accepting on one bound socket.

    The supervisor restarts a worker that dies, and on Ctrl-C (or SIGTERM) stops every worker,
    which closes its clients with 1012.
    """
    from uvicorn.supervisors import Multiprocess

    os.environ[WORKER_ENV] = json.dumps({
        "settings": dataclasses.asdict(settings), "broker": args.broker,
        "broker_secret": args.broker_secret,
        "heartbeat": args.heartbeat, "log_level": args.log_level, "supervisor": os.getpid()})
    config = uvicorn_config("wslab.__main__:worker_app", factory=True, host=args.host,
                            port=args.port, log_level=args.log_level, workers=args.workers,
                            settings=settings)
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
