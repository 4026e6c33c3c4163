"""The events the workers of one room send each other through a broker, and their checks.

One uvicorn process holds its own clients; several processes (workers) make one room by
publishing what happens on each to a broker (``wslab.brokers``). What travels is an *event*: a
small JSON object (never pickle: anyone who can publish on the channel could otherwise run code
in every worker), tagged with the worker that published it, a sequence number, and its kind::

    {"v": 1, "worker": "host-4242-1a2b", "seq": 17, "kind": "chat", "text": "<the wire message>"}

``kind`` is ``chat`` (a line: ``text`` is exactly what clients are sent), ``join`` and
``leave`` (``client``, whether to ``announce`` it, and for a leave ``why``: each worker writes
the announcement itself, with the count as it sees it; a join also carries the digest of the
connection's resume ``key``, never the key, and whether it ``resumed`` a name with one),
``presence`` (a worker's whole list of ``clients``, with their ``keys``' digests, sent as a
heartbeat; ``ask`` asks the others for theirs) and ``bye`` (a worker shutting down).

An event is a plain dict inside a process. Only where it crosses to another process (Redis)
is it turned into text: :func:`encode_event` and :func:`decode_event` are the only way out and
in, and :func:`decode_event` refuses anything malformed, so a stray publisher cannot crash a
worker. On the way, the broker signs the text with the workers' shared secret and checks the
signature before :func:`decode_event` reads anything (``wslab.signing``), so a stray publisher
cannot speak for a worker either.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from typing import Any

from wslab.envelope import CLIENT_ID_PATTERN
from wslab.resume import DIGEST_PATTERN

logger = logging.getLogger(__name__)

#: The event format's version: a worker ignores events of a version it does not know.
EVENT_VERSION = 1
KINDS = ("chat", "join", "leave", "presence", "bye")
#: Longest event a worker accepts from the broker (a chat line is at most a few kB).
MAX_EVENT_BYTES = 1 << 20

Event = dict[str, Any]


#: Why an event that passed the signature check was dropped all the same: it is not one.
MALFORMED = "malformed"


def new_worker_id() -> str:
    """A name for this worker that no other process, now or later, will have."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


def make_event(worker: str, seq: int, kind: str, **fields: Any) -> Event:
    """An event of ``kind`` from ``worker``, its ``seq``-th, with the kind's ``fields``."""
    return {"v": EVENT_VERSION, "worker": worker, "seq": seq, "kind": kind, **fields}


def encode_event(event: Event) -> str:
    """An event as JSON text: what goes over Redis. ``allow_nan=False``: plain JSON only."""
    return json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def event_problem(event: Any) -> str | None:
    """What is wrong with an event that came from the broker, or None when it is well formed."""
    if not isinstance(event, dict):
        return "not a JSON object"
    if event.get("v") != EVENT_VERSION:
        return f"unknown event version {event.get('v')!r}"
    worker, seq, kind = event.get("worker"), event.get("seq"), event.get("kind")
    if not isinstance(worker, str) or not 0 < len(worker) <= 200:
        return "no worker id"
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return "no sequence number"
    if kind not in KINDS:
        return f"unknown kind {kind!r}"
    if kind == "chat" and not isinstance(event.get("text"), str):
        return "a chat event without text"
    if kind in ("join", "leave"):
        client_id = event.get("client")
        if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.fullmatch(client_id):
            return "a presence change without a valid client id"
        if not isinstance(event.get("announce"), bool):
            return "'announce' is not true or false"
        participants = event.get("participants", 0)
        if not isinstance(participants, int) or isinstance(participants, bool) \
                or participants < 0:
            return "'participants' is not a count"
        if kind == "leave" and (not isinstance(event.get("why"), str) or len(event["why"]) > 200):
            return "a leave without a short 'why'"
        if not _is_digest(event.get("key", "")):
            return "a presence change whose 'key' is not a key digest"
        if kind == "join" and not isinstance(event.get("resumed", False), bool):
            return "a join whose 'resumed' is not true or false"
    if kind == "presence":
        client_ids = event.get("clients")
        if not isinstance(client_ids, list) or not all(
                isinstance(c, str) and CLIENT_ID_PATTERN.fullmatch(c) for c in client_ids):
            return "a presence event without a valid list of clients"
        if not isinstance(event.get("ask"), bool):
            return "'ask' is not true or false"
        key_digests = event.get("keys", {})
        if not isinstance(key_digests, dict) or not all(
                isinstance(c, str) and _is_digest(d) for c, d in key_digests.items()):
            return "a presence event whose 'keys' are not key digests by client id"
    return None


def _is_digest(value: Any) -> bool:
    """A resume key's digest (``wslab.resume``), or "" for a connection that has none."""
    return isinstance(value, str) and (value == "" or DIGEST_PATTERN.fullmatch(value) is not None)


def decode_event(data: str | bytes) -> Event | None:
    """Read one event from the broker; None (and a log line) for anything malformed."""
    if len(data) > MAX_EVENT_BYTES:
        logger.warning("Ignored an event of %d bytes from the broker", len(data))
        return None
    try:
        event = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        logger.warning("Ignored an event from the broker that is not JSON (%s)",
                       type(exc).__name__)
        return None
    problem = event_problem(event)
    if problem is not None:
        logger.warning("Ignored an event from the broker: %s", problem)
        return None
    return event


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
