"""The close codes a chat connection meets: their numbers, what each means, and which are final.

This is the kit's one table of them. The server closes with these codes, the Python clients
(``ChatClient``, ``ChatWidget``) and the ``/chat`` page describe them with these words and stop
retrying after the final ones, and the deck's table is drawn from it. The page gets the table as
data (:func:`table_for_page`), so nothing here is typed a second time in JavaScript.

The protocol's own codes (1000-2999) are ``wslab.protocol.CloseCode``; the kit adds two of its
own from the range RFC 6455 leaves to applications (4000-4999): :class:`KitCloseCode`.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from wslab.protocol import CloseCode

__all__ = ["CLOSES", "FINAL_ERRORS", "Close", "KitCloseCode", "describe_close",
           "settled_close_code", "table_for_page"]


class KitCloseCode(enum.IntEnum):
    """The kit's own close codes. 44xx echoes the HTTP status with the same meaning."""

    TOO_SLOW = 4408  #: this client stopped reading, and its outbox filled up (HTTP 408)
    #: the same client id connected again with this connection's resume key: its owner
    #: reconnected, and the newer connection took over (HTTP 409)
    REPLACED = 4409


@dataclasses.dataclass(frozen=True)
class Close:
    """One close code as a chat client sees it.

    ``final``: reconnecting by itself would only repeat the problem (a wrong join token, a bad
    name) or fight the newer connection that took this name, so a client stops and lets the
    person decide.
    """

    code: CloseCode | KitCloseCode
    meaning: str
    final: bool = False


#: Every close code a chat client meets, by number, in the order the deck shows them.
CLOSES: dict[int, Close] = {close.code: close for close in (
    Close(CloseCode.NORMAL_CLOSURE, "the connection was closed normally"),
    Close(CloseCode.GOING_AWAY, "the server is going away, or the browser left the page"),
    Close(CloseCode.ABNORMAL_CLOSURE, "the connection was lost without a close frame"),
    Close(CloseCode.POLICY_VIOLATION, "the server refused this connection: a wrong join token, "
                                      "a bad name, or a name in use", final=True),
    Close(CloseCode.MESSAGE_TOO_BIG, "a message was too big for the server"),
    Close(CloseCode.INTERNAL_ERROR, "the server had an internal error, or a ping went "
                                    "unanswered"),
    Close(CloseCode.SERVICE_RESTART, "the server is restarting"),
    Close(CloseCode.TRY_AGAIN_LATER, "the server is busy: try again later"),
    Close(KitCloseCode.TOO_SLOW, "this client could not keep up with the chat"),
    Close(KitCloseCode.REPLACED, "the same name connected again elsewhere, with its key: the "
                                 "newer connection took over", final=True),
)}

#: Error replies the server sends just before a final close, and the close each announces.
#: They count when the close code does not arrive: jupyter-server-proxy, for one, passes a
#: close on without its code.
FINAL_ERRORS: dict[str, int] = {
    "bad_token": CloseCode.POLICY_VIOLATION,
    "bad_client_id": CloseCode.POLICY_VIOLATION,
    "name_taken": CloseCode.POLICY_VIOLATION,
    "replaced": KitCloseCode.REPLACED,
}


def describe_close(code: int | None, reason: str = "") -> str:
    """A close code and reason in words: ``1012 (the server is restarting): bye``."""
    if code is None:
        return "no close code"
    close = CLOSES.get(code)
    text = f"{code} ({close.meaning})" if close else str(code)
    return f"{text}: {reason}" if reason else text


def settled_close_code(code: int | None, error: str | None) -> int | None:
    """The close code to act on: ``code``, unless a final ``error`` reply announced another.

    After ``bad_token`` the server closes with 1008, after ``replaced`` with 4409; when a proxy
    drops that code, the error reply still says which it was.
    """
    close = CLOSES.get(code) if code is not None else None
    if (close is not None and close.final) or error not in FINAL_ERRORS:
        return code
    return FINAL_ERRORS[error]


def table_for_page() -> dict[str, Any]:
    """The table as JSON-ready data for the ``/chat`` page: meanings, final codes and errors."""
    return {
        "meanings": {str(code): close.meaning for code, close in CLOSES.items()},
        "final": [code for code, close in CLOSES.items() if close.final],
        "final_errors": dict(FINAL_ERRORS),
    }
