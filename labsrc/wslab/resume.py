"""Resume keys: what proves that a new connection belongs to the owner of a name in use.

A client id is a claim, not an account, so the server cannot tell the student who chose
``alice`` from another student typing ``alice``. What it can tell is who *was told a secret*:
the welcome gives each connection a fresh resume key, sent to that connection alone. A second
connection with a name in use is let in only with that key (``?resume=KEY``, next to
``?token=``), which is what a page or a notebook reconnecting after a Wi-Fi drop has; anyone
else is refused with ``name_taken``.

The same key lets a reconnecting client ask for what it missed (``wslab.history``): next to
it, ``epoch=E&after=N`` says the last message it saw. The key must prove the name, either as the
key of the connection holding it now or as that of its last holder, if it left recently
(:class:`DepartedHolders`); otherwise nobody could read a room's history by claiming a name.

The server keeps only a digest of each key (SHA-256), and only digests travel between workers:
whoever reads the broker's channel learns nothing that lets them take a name. Keys are compared
in constant time, so a guess learns nothing from how long the refusal took.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import hmac
import re
import secrets
from typing import Mapping

#: The query parameter a client sends its resume key in.
RESUME_PARAM = "resume"
#: The query parameters of a resume after a reconnect: the epoch the client last saw, and the
#: last sequence number it saw in that epoch (``?resume=KEY&epoch=E&after=N``).
EPOCH_PARAM = "epoch"
AFTER_PARAM = "after"
#: What a key digest looks like (SHA-256, hex): checked on what comes from the broker.
DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}")

#: What an epoch may look like (the server makes 8 hex characters; ``wslab.history``).
EPOCH_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: What a seq may look like: a count, written in decimal, of reasonable length.
AFTER_PATTERN = re.compile(r"[0-9]{1,18}")
#: Names whose last holder's key digest is kept after it left (:class:`DepartedHolders`): the
#: most recent ones, for at most the history's age limit, or this long without one.
DEPARTED_LIMIT = 1024
DEPARTED_MAX_AGE = 30 * 60.0


def new_key() -> str:
    """A fresh resume key: 128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


def digest(key: str) -> str:
    """The SHA-256 of a key, in hex: what the server keeps and what workers tell each other."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def proves(key: str | None, key_digest: str | None) -> bool:
    """True when ``key`` is the key whose digest is ``key_digest`` (compared in constant time)."""
    if not key or key_digest is None:
        return False
    return hmac.compare_digest(digest(key), key_digest)


@dataclasses.dataclass(frozen=True)
class Request:
    """What a connection's query string asks of the room: its resume key, and, to resume the
    conversation, the ``epoch`` and ``after`` it saw last (both, or neither)."""

    key: str | None = None
    epoch: str | None = None
    after: int | None = None
    #: Why ``epoch``/``after`` cannot be read, when they cannot.
    problem: str | None = None

    @property
    def resuming(self) -> bool:
        """Whether the client asks for what it missed (well formed or not)."""
        return self.epoch is not None or self.problem is not None


def read_request(params: Mapping[str, str]) -> Request:
    """The resume request in a connection's query parameters."""
    key, epoch, after = (params.get(name) for name in (RESUME_PARAM, EPOCH_PARAM, AFTER_PARAM))
    if epoch is None and after is None:
        return Request(key)
    if epoch is None or after is None:
        return Request(key, problem=f"give both {EPOCH_PARAM} and {AFTER_PARAM} to resume, "
                                    "or neither")
    if not EPOCH_PATTERN.fullmatch(epoch):
        return Request(key, problem=f"{EPOCH_PARAM} must be the word the server sent "
                                    "(letters, digits, '_' or '-')")
    if not AFTER_PATTERN.fullmatch(after):
        return Request(key, problem=f"{AFTER_PARAM} must be the last seq you saw, a whole "
                                    "number of 0 or more")
    return Request(key, epoch, int(after))


class DepartedHolders:
    """The key digests of names whose holders left recently: at most ``limit`` names, each
    for ``max_age`` seconds (times are given, as ``now``, on a monotonic clock).

    A client whose Wi-Fi dropped for longer than the keepalive allows has been noticed gone,
    and its name freed, by the time it comes back; its key still proves who it is, for as
    long as resuming can make sense. Bounded, so that a thousand drive-by names cost nothing.
    """

    def __init__(self, limit: int, max_age: float) -> None:
        self.limit = limit
        self.max_age = max_age
        self._left: collections.OrderedDict[str, tuple[str, float]] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._left)

    def remember(self, client_id: str, key_digest: str, now: float) -> None:
        self._left.pop(client_id, None)
        self._left[client_id] = (key_digest, now)
        while len(self._left) > self.limit:
            self._left.popitem(last=False)

    def forget(self, client_id: str) -> None:
        """The name has a holder again: its last holder's key no longer proves anything."""
        self._left.pop(client_id, None)

    def digest_of(self, client_id: str, now: float) -> str | None:
        """The digest of the key of the last holder of ``client_id``, if it left recently."""
        while self._left:
            oldest, (_, left_at) = next(iter(self._left.items()))
            if now - left_at <= self.max_age:
                break
            del self._left[oldest]
        held = self._left.get(client_id)
        return held[0] if held is not None else None
