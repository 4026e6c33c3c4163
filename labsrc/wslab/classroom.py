"""The classroom session: one chat server for a whole class, run by the instructor.

``python -m wslab serve --classroom`` (``make classroom``) is ``serve`` with the choices a class
needs made for it, each for a reason:

- **It listens on every network** (``0.0.0.0``) unless ``--host`` says otherwise: the students
  are on other machines.
- **The join token and the strict Origin check are always on**, even with ``--host
  127.0.0.1``: a class server is never a private one, and the tests, which run on loopback,
  then meet the very rules the class meets. A token given with ``--token`` must be at least
  :data:`MIN_TOKEN_LENGTH` characters long. The limits are ``ChatSettings``' defaults (line size, rate limit,
  outbound queue), the same as plain ``serve``.
- **The token survives restarts.** It is kept in a small file in the user's configuration
  folder (:func:`default_token_file`), so after Ctrl-C and the same command again, every page
  and widget reconnects by itself instead of being refused with "wrong join token".
  ``--token`` uses another one for this run (the file is left alone); ``--new-token`` makes a
  new one and keeps it, for when the old one has leaked. The file is private to its owner: the
  token is the only thing that keeps people who are not in the class out.
- **The banner says what to give the students** (:func:`banner`): the page's address with the
  token, on every network this computer is on, and the exact line to paste into a notebook.
- **A live view, not a log.** At the INFO level, every chat line is a log line, which in a
  class of 200 would bury everything else; so the log stays at warning level unless
  ``--log-level`` is given, warnings of one kind come at most a few at a time
  (``wslab.quiet_log``, as in every mode: a student testing the rate limit in a loop would
  otherwise fill the screen), and every few seconds, when something has changed, the server prints a short status
  block (:func:`format_view`): how many are connected and who, who joined and left, how many
  lines were relayed, what was refused, who was dropped as too slow. It is plain lines of
  ASCII, printed one block after another: no cursor movement, no curses, so it reads the same
  on any terminal, on Windows, and in a log file.

The formatting functions are pure (a :class:`~wslab.room.RoomSnapshot` in, text out); the
server side is :class:`ClassroomServer`, uvicorn's server printing the view while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import secrets
import shutil
import socket
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping

import uvicorn

from wslab import signing
from wslab.events import MALFORMED
from wslab.presence import Verdict
from wslab.room import ChatRoom, RoomSnapshot
from wslab.settings import ChatSettings

#: An environment variable naming the token file (what ``--token-file`` defaults to).
TOKEN_FILE_ENV = "WSLAB_TOKEN_FILE"
#: Letters and digits that cannot be mistaken for one another when read off a projector
#: (no 0/o, 1/l/i): ten of them make about 49 bits, far beyond guessing over a network.
TOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
#: What a join token may contain: characters that stand for themselves in an address.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~-]{1,128}")
#: The shortest join token a class may have: as long as the letters of a made-up one. Even
#: slowed down to a few guesses a second (``wslab.admission``), a short word falls in minutes.
MIN_TOKEN_LENGTH = 10
#: Seconds between two looks at the room for the live view.
DEFAULT_STATUS_EVERY = 5.0
#: The name a student replaces with their own in the printed lines.
NAME_PLACEHOLDER = "your_name"

HANDSHAKE_LABELS = {"bad_token": "wrong or no token", "bad_client_id": "bad name",
                    "foreign_origin": "page from another origin",
                    "too_many_attempts": "address locked after wrong tokens",
                    "too_many_joins": "over the join pace", "name_taken": "name in use"}
FRAME_LABELS = {"rate_limited": "over the rate limit", "message_too_long": "too long"}
#: Events from the broker that a worker refused (``ChatRoom.refused_events``): with several
#: workers, someone writing to Redis without the room's secret shows up here.
EVENT_LABELS = {signing.UNSIGNED: "unsigned", signing.BAD_SIGNATURE: "wrong signature",
                MALFORMED: "malformed",
                Verdict.NOT_PUBLISHED_HERE.value: "forged under this server's id",
                Verdict.SEQUENCE_JUMP.value: "absurd sequence jump"}


# -- the join token -----------------------------------------------------------------------------


def default_token_file(environ: Mapping[str, str] = os.environ,
                       platform: str = sys.platform) -> Path:
    """Where the classroom token is kept: ``$WSLAB_TOKEN_FILE``, else the user's config folder.

    That folder is ``%APPDATA%\\wslab`` on Windows, ``$XDG_CONFIG_HOME/wslab`` where that is
    set (an absolute path, as the XDG specification requires), ``~/.config/wslab`` otherwise.
    """
    if environ.get(TOKEN_FILE_ENV):
        return Path(environ[TOKEN_FILE_ENV])
    if platform == "win32" and environ.get("APPDATA"):
        base = Path(environ["APPDATA"])
    elif environ.get("XDG_CONFIG_HOME") and os.path.isabs(environ["XDG_CONFIG_HOME"]):
        base = Path(environ["XDG_CONFIG_HOME"])
    else:
        base = Path(environ.get("HOME") or Path.home()) / ".config"
    return base / "wslab" / "classroom-token"


def shown_path(path: Path) -> str:
    """``path`` as the banner shows it: under the home folder, as ``~/...``."""
    try:
        return str(Path("~") / path.resolve().relative_to(Path.home().resolve()))
    except (ValueError, RuntimeError, OSError):
        return str(path)


def make_token() -> str:
    """A new join token, easy to read aloud and to type: ``k3m9p-x7qtr``."""
    letters = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(10))
    return f"{letters[:5]}-{letters[5:]}"


def token_format_problem(token: str) -> str | None:
    """Why ``token`` cannot be a class's join token, or None.

    It must fit in an address as it is, and be too long to guess: a made-up token (the model
    of a good one) has 10 letters and digits that cannot be misread, about 49 bits.
    """
    if not TOKEN_PATTERN.fullmatch(token):
        return ("a join token is 1 to 128 letters, digits, '.', '_', '~' or '-' (so that it "
                f"fits in an address as it is), not {token!r}")
    if len(token) < MIN_TOKEN_LENGTH:
        return (f"a class's join token must be at least {MIN_TOKEN_LENGTH} characters long, "
                f"or someone can guess it; this one has {len(token)}. Leave --token out to "
                f"use a made-up one such as {make_token()} (about 49 bits)")
    return None


def stored_token(path: Path, *, new: bool = False) -> tuple[str, bool]:
    """The token kept in ``path``, made and kept there first if there is none (or ``new``).

    Returns the token and whether it was made just now. Raises ``ValueError`` when the file
    holds something that cannot be a token, and ``OSError`` when it cannot be read or written.
    """
    if not new:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            pass
        else:
            problem = token_format_problem(token)
            if problem is not None:
                raise ValueError(f"{path}: {problem}; run with --new-token to replace it")
            return token, False
    token = make_token()
    write_private(path, token + "\n")
    return token, True


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only; whole or not at all.

    The text goes to a new file created with mode 0600 (no window in which others may read
    it), which then replaces ``path``. On Windows the mode is not enforced, and the file lives
    under the user's own ``%APPDATA%`` instead.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        scratch.unlink()
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(scratch, path)
    except BaseException:
        with contextlib.suppress(OSError):
            scratch.unlink()
        raise


# -- where students find the server -------------------------------------------------------------


def reachable_hosts(host: str) -> list[str]:
    """The addresses other machines reach this server at, when it listens on ``host``.

    For ``0.0.0.0`` (every network): the address of the network the default route leads to
    (asked of the system by "connecting" a UDP socket, which sends nothing), and every IPv4
    address this computer's name resolves to, loopback aside. Empty when there is none.
    """
    if host not in ("0.0.0.0", "::", ""):
        return [host]
    found: set[str] = set()
    with contextlib.suppress(OSError):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never answers, and nothing is sent
            found.add(probe.getsockname()[0])
    with contextlib.suppress(OSError):
        found.update(info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None,
                                                               socket.AF_INET))
    return sorted((address for address in found if not ipaddress.ip_address(address).is_loopback
                   and not ipaddress.ip_address(address).is_unspecified),
                  key=ipaddress.ip_address)


def netloc(host: str, port: int) -> str:
    """``host:port`` as it goes into an address (an IPv6 host in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def join_address(host: str, port: int, token: str | None) -> str:
    """The chat page's address on ``host``, with the join token if there is one."""
    return f"http://{netloc(host, port)}/chat" + (f"?token={token}" if token else "")


def notebook_line(host: str, port: int, token: str) -> str:
    """The line a student pastes into a notebook: a ``ChatWidget`` on this server."""
    return (f'ChatWidget("ws://{netloc(host, port)}", client_id="{NAME_PLACEHOLDER}", '
            f'token="{token}")')


def banner(settings: ChatSettings, host: str, port: int, hosts: list[str], token_note: str) -> str:
    """What the server prints at start: what students type to join, and how it is set up."""
    assert settings.token is not None, "a classroom always has a join token"
    rate = "no rate limit" if settings.rate_limit == 0 else \
        f"{settings.rate_limit:g} messages/s per student"
    shown = hosts or ["<this computer's address>"]
    where = (f"every network (0.0.0.0), port {port}" if host == "0.0.0.0"
             else netloc(host, port))
    lines = [f"wslab classroom chat, listening on {where}",
             f"  limits: chat lines up to {settings.max_message_bytes} bytes, {rate}, "
             f"dropped after {settings.outbound_queue} unread messages",
             "",
             "Students open in a browser (and may add &name=... to choose their name):"]
    lines += [f"  {join_address(address, port, settings.token)}" for address in shown]
    lines.append(f"or paste into a notebook (with their own name for {NAME_PLACEHOLDER}):")
    lines.append("  from wslab.widgets import ChatWidget")
    lines += [f"  {notebook_line(address, port, settings.token)}" for address in shown]
    if not hosts:
        lines.append("  (no network address found: is this computer on the classroom's network?)")
    lines += ["",
              f"Join token: {settings.token} {token_note}",
              "Only pages served by this server may connect"
              + (f" (and {', '.join(settings.allowed_origins)})." if settings.allowed_origins
                 else "; --allow-origin ORIGIN lets another in."),
              "Press Ctrl-C to stop."]
    return "\n".join(lines)


# -- the live view ------------------------------------------------------------------------------


def client_ids_line(client_ids: Iterable[str], width: int) -> str:
    """``client_ids``, comma-separated, cut to about ``width`` characters with "... and N more"."""
    client_ids = list(client_ids)
    if len(", ".join(client_ids)) <= width:
        return ", ".join(client_ids)
    shown: list[str] = []
    for client_id in client_ids:
        more = len(client_ids) - len(shown) - 1
        if shown and len(", ".join([*shown, client_id]) + f", ... and {more} more") > width:
            break
        shown.append(client_id)
    return ", ".join(shown) + f", ... and {len(client_ids) - len(shown)} more"


def counts_line(counts: Mapping[str, int], labels: Mapping[str, str]) -> str:
    """``{"bad_token": 2, "bad_client_id": 1}`` as "2 wrong or no token, 1 bad name"."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{count:,} {labels.get(code, code.replace('_', ' '))}"
                     for code, count in ordered)


def tally(one: str, many: str, counts: Mapping[str, int], labels: Mapping[str, str]) -> str:
    """A total and its parts: "3 connections (2 wrong or no token, 1 bad name)"."""
    total = sum(counts.values())
    if not total:
        return ""
    parts = counts_line(counts, labels)
    if len(counts) == 1:  # one reason: its count is the total
        parts = parts.split(" ", 1)[1]
    return f"{total:,} {one if total == 1 else many} ({parts})"


#: How many terminal lines the list of who is online may take.
ONLINE_ROWS = 3


def format_view(now: str, snapshot: RoomSnapshot, before: RoomSnapshot | None = None,
                width: int = 100) -> str:
    """The live view's status block for ``snapshot``; changes are since ``before``.

    ``now`` is the clock time to show; ``width`` the terminal's: long lists of names are cut
    to fit ("... and 150 more"), other long lines wrap under their label.
    """
    room = max(30, width - len(_INDENT))
    online = snapshot.online
    head = f"== {now}  {len(online)} connected "
    rows = [head + "=" * max(3, width - len(head))]
    if before is not None:
        for label, group in (("joined", sorted(set(online) - set(before.online))),
                             ("left", sorted(set(before.online) - set(online)))):
            if group:
                rows += _row(label, f"{len(group)}: {client_ids_line(group, room - 6)}", width)
    rows += _online_rows(online, width)
    relayed = f"{snapshot.relayed:,} relayed"
    if before is not None:
        relayed += f" (+{snapshot.relayed - before.relayed:,})"
    silent = sorted(name for name, said in snapshot.said.items() if not said)
    if silent and len(silent) < len(snapshot.said):
        relayed += f"; silent so far: {len(silent)} ({client_ids_line(silent, room)})"
    elif silent:
        relayed += "; nobody has said anything yet"
    rows += _row("lines", relayed, width)
    refused = [tally("connection", "connections", snapshot.refused_handshakes, HANDSHAKE_LABELS),
               tally("line", "lines", snapshot.refused_frames, FRAME_LABELS),
               tally("broker event", "broker events", snapshot.refused_events, EVENT_LABELS)]
    rows += _row("refused", "; ".join(part for part in refused if part) or "none", width)
    rows += _row("dropped", tally("client", "clients", snapshot.dropped, {}) or "none", width)
    return "\n".join(rows)


_INDENT = " " * 11


def _online_rows(online: tuple[str, ...], width: int) -> list[str]:
    """Who is online, in at most ``ONLINE_ROWS`` rows: as many names as fit, then a count."""
    if not online:
        return _row("online", "nobody", width)
    budget = ONLINE_ROWS * (width - len(_INDENT))
    while True:  # wrapping wastes the end of each row: shorten until it fits
        rows = _row("online", client_ids_line(online, budget), width)
        if len(rows) <= ONLINE_ROWS or budget <= width:
            return rows
        budget -= 8


def _row(label: str, text: str, width: int) -> list[str]:
    """``  label:  text``, wrapped under the text at ``width`` ("... and N more" kept whole)."""
    text = re.sub(r"\.\.\. and (\d+) more", "...\xa0and\xa0\\1\xa0more", text)
    return [row.replace("\xa0", " ") for row in textwrap.wrap(
        text, width, initial_indent=f"  {label + ':':<9}", subsequent_indent=_INDENT,
        break_on_hyphens=False)] or [f"  {label}:"]


def terminal_width() -> int:
    """The terminal's width, within reason (100 when it is not a terminal)."""
    return max(60, min(160, shutil.get_terminal_size((100, 24)).columns))


def print_block(text: str) -> None:
    """Print a block of the live view at once; a closed terminal is not the server's problem."""
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.write("\n" + text + "\n")
        sys.stdout.flush()


class ClassroomServer(uvicorn.Server):
    """uvicorn's server, printing the live view of ``room`` while it serves.

    Every ``every`` seconds it takes a :meth:`~wslab.room.ChatRoom.snapshot` of the room, on
    the server's own event loop (so the room never changes halfway through a snapshot), and
    prints a status block when it differs from the last one printed. ``every=0`` turns the
    view off.
    """

    def __init__(self, config: uvicorn.Config, room: ChatRoom, every: float = DEFAULT_STATUS_EVERY,
                 write: Callable[[str], None] = print_block) -> None:
        super().__init__(config)
        self.room = room
        self.every = every
        self.write = write

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if self.every <= 0:
            await super().serve(sockets)
            return
        view = asyncio.get_running_loop().create_task(self._live_view())
        try:
            await super().serve(sockets)
        finally:
            view.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await view

    async def _live_view(self) -> None:
        while not self.started:  # nothing to show before the port is open
            await asyncio.sleep(0.05)
        before: RoomSnapshot | None = None
        while not self.should_exit:
            snapshot = self.room.snapshot()
            if snapshot != before:
                self.write(format_view(time.strftime("%H:%M:%S"), snapshot, before,
                                       terminal_width()))
                before = snapshot
            await asyncio.sleep(self.every)

