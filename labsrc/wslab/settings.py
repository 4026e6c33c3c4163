"""The knobs of one chat server, in one immutable object.

``create_app()`` takes a :class:`ChatSettings`; the command line builds one from its flags.
Keeping them together means the app, the uvicorn configuration (which must agree with the app
on the largest frame) and the tests all read the same numbers.
"""

from __future__ import annotations

import dataclasses

#: A chat line longer than this many bytes (UTF-8) is refused with an error reply.
DEFAULT_MAX_MESSAGE_BYTES = 4096
#: Messages per second one client may send, on average (0 turns the limit off).
DEFAULT_RATE_LIMIT = 10.0
#: Messages waiting for one client before it counts as "not reading" and is disconnected.
DEFAULT_OUTBOUND_QUEUE = 256
#: Joins per second let in from one client address by the command line's servers (0: no
#: limit, the default of a notebook's server); ``wslab.admission`` says how the rest wait.
DEFAULT_JOIN_RATE = 20.0
#: Numbered messages the room keeps for clients that reconnect (``wslab.history``).
DEFAULT_HISTORY = 200
#: Of those, how many a newcomer is shown after its welcome (0: none).
DEFAULT_HISTORY_ON_JOIN = 20


@dataclasses.dataclass(frozen=True)
class ChatSettings:
    """Limits and access rules of a chat server.

    ``token`` is the join token: when set, every client must pass ``?token=...`` in the
    WebSocket URL. The browser Origin check is always on: a page may connect from the server's
    own origin or from one listed in ``allowed_origins``, and, while ``local_pages`` is true
    (a notebook's server on loopback), from this machine's other pages too: loopback origins
    and pages opened from a file (``wslab.access`` says why, and what that risks). The command
    line sets a token and turns ``local_pages`` off when it listens on a network, and always in
    classroom mode. ``join_rate`` is the pace of joins from one address (``wslab.admission``;
    0: none).

    ``history`` is how many numbered messages the room keeps (``wslab.history``; 0: none, but
    messages are still numbered), ``history_minutes``, when set, how long it keeps them at
    most; ``history_on_join`` how many of the last ones a newcomer gets after its welcome.
    """

    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    rate_limit: float = DEFAULT_RATE_LIMIT
    outbound_queue: int = DEFAULT_OUTBOUND_QUEUE
    token: str | None = None
    local_pages: bool = True
    allowed_origins: tuple[str, ...] = ()
    join_rate: float = 0.0
    history: int = DEFAULT_HISTORY
    history_minutes: float | None = None
    history_on_join: int = DEFAULT_HISTORY_ON_JOIN

    def __post_init__(self) -> None:
        if self.max_message_bytes < 1:
            raise ValueError(f"max_message_bytes must be at least 1, not {self.max_message_bytes}")
        if self.rate_limit < 0:
            raise ValueError(f"rate_limit must be 0 (off) or positive, not {self.rate_limit}")
        if self.outbound_queue < 1:
            raise ValueError(f"outbound_queue must be at least 1, not {self.outbound_queue}")
        if self.join_rate < 0:
            raise ValueError(f"join_rate must be 0 (off) or positive, not {self.join_rate}")
        if self.history < 0:
            raise ValueError(f"history must be 0 (keep none) or more, not {self.history}")
        if self.history_minutes is not None and self.history_minutes <= 0:
            raise ValueError("history_minutes must be positive (or None: no age limit), not "
                             f"{self.history_minutes}")
        if self.history_on_join < 0:
            raise ValueError(f"history_on_join must be 0 (off) or more, not "
                             f"{self.history_on_join}")
        if self.token == "":
            raise ValueError("token must not be empty: pass None to turn the token check off")

    @property
    def max_frame_bytes(self) -> int:
        """The largest WebSocket message the server reads at all; bigger ones close with 1009.

        JSON may escape one byte of text as six (``\\u0001``), so the frame limit leaves room
        for a chat line at the size limit to arrive and be refused politely with an error
        reply, while a frame far beyond any chat line is cut off by the protocol layer before
        the app ever holds it in memory.
        """
        return max(65536, 6 * self.max_message_bytes + 1024)
