"""Catching up after a reconnect, on the client's side: which messages are new, which are
repeats, when some never came, and what to ask for when connecting again.

The room numbers every chat line, join and leave once: ``seq`` counts 1, 2, 3 ... with no holes
within one ``epoch``, a word the server changes whenever it loses its history. So a client
needs to keep only two things to know where it stands: the epoch, and the highest number it
has shown in it. With them, :class:`CatchUp` sorts each message the server sends:

- a number it has shown already is a **repeat** (a line replayed that had arrived after all,
  a latecomer line seen before a refused resume): dropped silently, so a line shows once;
- a message marked ``known`` is counted and not shown (a join its welcome had told it of);
- a number past the next one expected means lines **never came** (a live gap): the client says
  "you missed some messages", once for the gap;
- the server's own ``history_reset`` and ``gap_too_old`` say the same, for the lines it can no
  longer send again; ``welcome``, ``resumed`` and ``history_reset`` say where the room stands,
  which is where a client that has just come in starts counting;
- a message from another epoch starts the count afresh.

On a reconnect the client asks for what it missed with :meth:`CatchUp.resume_params`
(``epoch=E&after=N``, next to its resume key, ``wslab.resume``).

Pure: no I/O, no clock. ``ChatClient`` (and ``ChatWidget`` through it) use it; the ``/chat``
page does the same in its script, in a few lines of its own (a page cannot import Python), kept
parallel to this module: change one, change the other. The page gets the query parameters'
names and the notices' words from :func:`for_page`, filled in by ``wslab.chat_page``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wslab import envelope
from wslab.resume import AFTER_PARAM, EPOCH_PARAM

__all__ = ["CatchUp", "Take", "for_page", "missed_notice", "numbered",
           "EARLIER", "MISSED", "LOST_HISTORY"]

#: What every client says when lines never reached it.
MISSED = "You missed some messages"
#: Why, after a ``history_reset``.
LOST_HISTORY = "the chat server lost its history"
#: The divider above the lines a latecomer is shown from before it came in.
EARLIER = "earlier messages"

#: The server's messages that say where the room stands, with its ``epoch`` and ``seq``.
_ROOM_AT = ("welcome", "resumed", "history_reset")


def numbered(message: dict[str, Any]) -> tuple[str, int] | None:
    """``(epoch, seq)`` of a message the room numbered (a chat line, a join, a leave), or None.

    The server's own messages that carry an ``epoch`` and ``seq`` to say where the room stands
    (the welcome, ``resumed``, ``history_reset``) are not numbered messages themselves.
    """
    epoch, seq = message.get("epoch"), message.get("seq")
    if not isinstance(epoch, str) or not epoch or not _is_count(seq) or seq < 1:
        return None
    if message.get("client_id") == envelope.SYSTEM and message.get("type") not in (
            "join", "disconnect"):
        return None
    return epoch, seq


def missed_notice(count: int | None = None, why: str = "") -> str:
    """"You missed some messages", with how many lines or why, when known."""
    if why:
        return f"{MISSED}: {why}."
    if count:
        return f"{MISSED} ({count} {'line' if count == 1 else 'lines'})."
    return f"{MISSED}."


def for_page() -> dict[str, str]:
    """The names and words the ``/chat`` page needs, as JSON-ready data (``wslab.chat_page``)."""
    return {"epoch_param": EPOCH_PARAM, "after_param": AFTER_PARAM, "missed": MISSED,
            "lost_history": LOST_HISTORY, "earlier": EARLIER}


@dataclasses.dataclass(frozen=True)
class Take:
    """What to do with one message: show it or not, and a notice to show before it, if any.

    ``show`` is False for a repeat, and for ``history_reset`` / ``gap_too_old``, whose
    ``notice`` says what they say.
    """

    show: bool
    notice: str | None = None


class CatchUp:
    """One client's count of the room's numbered messages: sorts each message it is given.

    Keep one for as long as the client shows the same conversation: across its reconnects.
    """

    def __init__(self) -> None:
        #: The epoch of the messages counted, None before any.
        self.epoch: str | None = None
        #: The highest number shown in :attr:`epoch` (0: none).
        self.shown = 0
        #: How many repeats were dropped.
        self.repeats = 0
        # Where the room stood when this client came into the epoch: what came before was not
        # missed, just before its time (a latecomer may still be shown some of it, as history).
        self._joined_at = 0
        # The server has just said lines were missed (gap_too_old): the gap it leaves is told.
        self._told = False

    @property
    def position(self) -> int:
        """The number this client is caught up to: the next line it expects is one more."""
        return max(self.shown, self._joined_at)

    def resume_params(self) -> dict[str, str]:
        """The query parameters of a resume: ``{epoch, after}``, or none before any epoch."""
        if self.epoch is None:
            return {}
        return {EPOCH_PARAM: self.epoch, AFTER_PARAM: str(self.position)}

    def take(self, message: dict[str, Any]) -> Take:
        """Count ``message`` (parsed, as the server sent it) and say what to do with it."""
        kind = message.get("type") if message.get("client_id") == envelope.SYSTEM else None
        if kind in _ROOM_AT:
            epoch, seq = message.get("epoch"), message.get("seq")
            if isinstance(epoch, str) and epoch and epoch != self.epoch and _is_count(seq):
                self.epoch, self.shown, self._joined_at = epoch, 0, seq
        if kind == "history_reset":
            return Take(False, missed_notice(why=LOST_HISTORY))
        if kind == "gap_too_old":
            self._told = True
            missed = message.get("missed")
            return Take(False, missed_notice(missed if _is_count(missed) else None))
        number = numbered(message)
        if number is None:
            return Take(True)
        epoch, seq = number
        if epoch != self.epoch:  # the history was lost under a live connection
            first = self.epoch is None
            self.epoch, self.shown, self._joined_at = epoch, 0, seq - 1 if first else 0
        if seq <= self.shown:
            self.repeats += 1
            return Take(False)
        gap = seq - self.position - 1
        told, self._told = self._told, False
        self.shown = seq
        return Take(message.get(envelope.KNOWN) is not True,
                    missed_notice(gap) if gap > 0 and not told else None)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
