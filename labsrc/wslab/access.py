"""Who may open a chat connection: the join token and the browser Origin check.

On loopback (a student's own notebook) both are off. On a network, a join token keeps out
people who are not in the room, and the Origin check keeps out *pages* that are not the chat:
without it, any web site a student visits could open a WebSocket to the class server in the
student's name (cross-site WebSocket hijacking). Browsers always send ``Origin`` on a WebSocket
handshake and scripts cannot change it; non-browser clients usually send none, so a missing
Origin is allowed and left to the token.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit


def given_token_problem(given: str | None, expected: str | None) -> str | None:
    """Say why ``given`` does not match the join token, or None when it does (or none is set)."""
    if expected is None:
        return None
    if not given:
        return "this chat needs a join token: add ?token=... to the address"
    if not secrets.compare_digest(given.encode(), expected.encode()):
        return "wrong join token: ask the instructor for the current one"
    return None


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...] = ()) -> bool:
    """Whether a handshake's ``Origin`` may connect.

    Allowed: no Origin (not a browser); an origin listed in ``allowed``; or the server's own
    origin, meaning the page came from the same host and port the socket is opened to.
    """
    if origin is None:
        return True
    if origin in allowed:
        return True
    netloc = urlsplit(origin).netloc
    return bool(netloc) and host is not None and netloc.lower() == host.lower()
