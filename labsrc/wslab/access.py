"""Who may open a chat connection: the join token, the browser Origin check, and tokens kept
out of the logs.

On a network, a join token keeps out people who are not in the room. The Origin check keeps
out *pages* that are not the chat, everywhere: without it, any web site a student visits could
open a WebSocket to the class server, or to the student's own server on 127.0.0.1, in the
student's name (cross-site WebSocket hijacking). Browsers always send ``Origin`` on a WebSocket
handshake and scripts cannot change it; non-browser clients usually send none, so a missing
Origin is allowed and left to the token.

A server for this machine alone (``ChatSettings.local_pages``, the default, for notebooks) also
lets in the pages of this machine: other loopback origins, such as JupyterLab's, and
``Origin: null``, which is what a page opened from a file sends (the lecture's page, as the
lecture opens it). ``null`` is also what a sandboxed frame on any web site sends, so such a
frame can still reach a loopback server: the risk is kept small because only sockets that come
from this machine itself count as local, a loopback server holds only its own user's room, and
a join token, when one is set, still applies. A server on a network (and every classroom
server) lets in no page but its own and the ``--allow-origin`` ones.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
from urllib.parse import urlsplit

from wslab.resume import RESUME_PARAM


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


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a name or an address, IPv6 in brackets or not) is this machine."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def codespace() -> tuple[str, str] | None:
    """``(CODESPACE_NAME, forwarding domain)`` in a GitHub codespace; None elsewhere."""
    name = os.environ.get("CODESPACE_NAME", "").strip()
    domain = os.environ.get("GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN", "").strip().strip(".")
    if os.environ.get("CODESPACES") == "true" and name and domain:
        return name, domain
    return None


def forwarded_page(origin: str) -> bool:
    """Whether ``origin`` is one of this codespace's forwarded addresses
    (``https://<codespace>-<port>.<domain>``): this machine's pages, reached through GitHub."""
    here = codespace()
    if here is None:
        return False
    name, domain = here
    parts = urlsplit(origin)
    host = parts.hostname or ""
    return (parts.scheme == "https" and host.endswith(f".{domain}")
            and re.fullmatch(rf"{re.escape(name)}-\d+", host[:-len(domain) - 1]) is not None)


def local_page(origin: str, peer: str | None) -> bool:
    """Whether a page with ``origin`` is one of this machine's, with its socket coming from this
    machine (``peer``): opened from a file (``null``), served on a loopback address, or this
    codespace's forwarded address."""
    return is_loopback(peer) and (origin == "null" or is_loopback(urlsplit(origin).hostname)
                                  or forwarded_page(origin))


def page_allowed(origin: str | None, host: str | None, peer: str | None,
                 allowed: tuple[str, ...] = (), *, local_pages: bool) -> bool:
    """The chat server's Origin rule: :func:`origin_allowed`, and with ``local_pages`` (a
    server for this machine) :func:`local_page` too. ``peer`` is the socket's client address."""
    return origin_allowed(origin, host, allowed) or (
        local_pages and origin is not None and local_page(origin, peer))


#: The query parameters that hold a secret: the join token, and a connection's resume key.
SECRET_PARAMETERS = ("token", RESUME_PARAM)
#: A secret parameter in an address, up to the next parameter: what :class:`HideTokens` blanks.
TOKEN_IN_ADDRESS = re.compile(rf"\b((?:{'|'.join(SECRET_PARAMETERS)})=)[^&\s\"']*")


class HideTokens(logging.Filter):
    """Blank out ``token=...`` and ``resume=...`` in a log record: the join token (or a guess at
    it) and a connection's resume key (``wslab.resume``).

    uvicorn logs every WebSocket handshake with its address, query included
    (``"WebSocket /ws/alice?token=..." [accepted]``): a log that anyone may read, or paste into
    a question, must not hold the key to the room.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if TOKEN_IN_ADDRESS.search(message):  # otherwise the record keeps its template and args
            record.msg, record.args = TOKEN_IN_ADDRESS.sub(r"\1***", message), None
        return True


#: The loggers that write request addresses: uvicorn's server log and its access log.
ADDRESS_LOGGERS = ("uvicorn.error", "uvicorn.access")


def hide_tokens_in_logs() -> None:
    """Put a :class:`HideTokens` on uvicorn's loggers, once per process."""
    for name in ADDRESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(one, HideTokens) for one in logger.filters):
            logger.addFilter(HideTokens())
