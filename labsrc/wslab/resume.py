"""Resume keys: what proves that a new connection belongs to the owner of a name in use.

A client id is a claim, not an account, so the server cannot tell the student who chose
``alice`` from another student typing ``alice``. What it can tell is who *was told a secret*:
the welcome gives each connection a fresh resume key, sent to that connection alone. A second
connection with a name in use is let in only with that key (``?resume=KEY``, next to
``?token=``), which is what a page or a notebook reconnecting after a Wi-Fi drop has; anyone
else is refused with ``name_taken``.

The server keeps only a digest of each key (SHA-256), and only digests travel between workers:
whoever reads the broker's channel learns nothing that lets them take a name. Keys are compared
in constant time, so a guess learns nothing from how long the refusal took.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

#: The query parameter a client sends its resume key in.
RESUME_PARAM = "resume"
#: What a key digest looks like (SHA-256, hex): checked on what comes from the broker.
DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}")


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
