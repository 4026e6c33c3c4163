"""The secret the workers of one room share, and the signature it puts on every event.

Anyone who can reach Redis can publish on the room's channel, and Redis passwords are often
absent, shared, or leaked in a notebook. So a worker does not take an event for a worker's
word because of where it came from: every event that leaves a worker (``wslab.brokers``)
carries an HMAC-SHA256 of its exact text, keyed with a secret only the workers know, and a
worker acts on nothing whose signature does not match. Whoever lacks the secret can neither
forge an event nor change one in transit; what they publish is dropped and counted.

On the channel an event is ``<64 hex digits of signature>.<the event's JSON>``. The channel's
name is signed too, so that an event of one room cannot be replayed into another room whose
workers happen to share the secret. Signatures are compared with :func:`hmac.compare_digest`,
whose time does not depend on how many leading characters match.

Where the secret comes from (``--broker-secret``, :data:`SECRET_ENV`, or one made up per run
for ``--workers N``) is ``wslab.__main__``'s to decide; this module only requires it to be
long enough to be a secret (:func:`secret_problem`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: The environment variable that gives every server of a room the same secret.
SECRET_ENV = "WSLAB_BROKER_SECRET"
#: The shortest secret accepted: anyone subscribed sees events and their signatures, and can
#: try guesses offline as fast as their computer goes, so a short word is no secret.
MIN_SECRET_CHARS = 16
#: What a signed event starts with: the signature as hexadecimal digits, then a dot.
SIGNATURE_CHARS = hashlib.sha256().digest_size * 2
SEPARATOR = "."

#: Why an event from the broker was refused before it was even read.
UNSIGNED = "unsigned"
BAD_SIGNATURE = "bad_signature"


def new_secret() -> str:
    """A secret no one will guess: 32 random bytes, as 43 URL-safe characters."""
    return secrets.token_urlsafe(32)


def secret_problem(secret: str) -> str | None:
    """Why ``secret`` cannot be used to sign events, or None when it can."""
    if len(secret) < MIN_SECRET_CHARS:
        return (f"the broker secret must be at least {MIN_SECRET_CHARS} characters long "
                f"(this one has {len(secret)}): make one with `python -c \"import secrets; "
                "print(secrets.token_urlsafe(32))\"`")
    return None


class EventSigner:
    """Signs the events a worker publishes on ``channel`` and checks the ones it receives."""

    def __init__(self, secret: str, channel: str) -> None:
        problem = secret_problem(secret)
        if problem is not None:
            raise ValueError(problem)
        self._key = secret.encode("utf-8")
        self._channel = channel.encode("utf-8")

    def sign(self, data: str) -> str:
        """``data`` (an encoded event) with its signature in front: what goes on the channel."""
        return self._signature(data.encode("utf-8")) + SEPARATOR + data

    def open(self, message: bytes) -> tuple[bytes | None, str]:
        """The event text inside a signed ``message``, and ``""``; or None and why not.

        The signature is checked before anything of the event is read: what a stranger
        publishes is never parsed.
        """
        head = message[:SIGNATURE_CHARS + 1]
        if len(head) <= SIGNATURE_CHARS or head[-1:] != SEPARATOR.encode():
            return None, UNSIGNED
        data = message[SIGNATURE_CHARS + 1:]
        expected = self._signature(data).encode("ascii")
        if not hmac.compare_digest(expected, head[:SIGNATURE_CHARS]):
            return None, BAD_SIGNATURE
        return data, ""

    def _signature(self, data: bytes) -> str:
        mac = hmac.new(self._key, self._channel, hashlib.sha256)
        mac.update(b"\n")
        mac.update(data)
        return mac.hexdigest()
