"""Every connection of one server, by client address: who may come in, and whom to drop.

A connection holds a file descriptor from the moment it is accepted, long before the app sees
it. A process has a limited number of them (256 on a macOS laptop by default); once they are
used up, ``accept()`` fails and nobody can join, whoever they are. So the table keeps the
count below the limit (:func:`~wslab.transport_limits.max_connections`), and when it is full
it makes room by dropping the oldest connection that has not yet sent a complete request
head: a half-open handshake is the cheapest connection to lose (a real client that lost one
connects again at once) and the likeliest to be an attack. A newcomer is therefore never
turned away by half-open connections, not even from the same address: a student joining
behind the same NAT as the attacker still gets in.

Connections whose head has been read are counted per address and in total; past their caps
(:data:`~wslab.transport_limits.MAX_OPEN_PER_ADDRESS`, and the table's size), a new request
is refused with an answer that says why (429 or 503), instead of being accepted and starved.

``wslab.http_protocol`` registers each connection and its head; ``wslab.uvicorn_protocol``
tells the table when an upgraded connection ends. One table per uvicorn server
(:func:`table_for`), so servers in one process (tests, notebooks) do not share their counts.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from typing import Any, Callable

from wslab.transport_limits import (MAX_INCOMPLETE_PER_ADDRESS, MAX_OPEN_PER_ADDRESS,
                                    max_connections)

#: What :meth:`ConnectionTable.head_read` answers for a request it refuses: status, reason.
Refusal = tuple[int, str]


class ConnectionTable:
    """The connections of one server: incomplete ones (oldest first) and open ones, by address."""

    def __init__(self, capacity: int | None = None,
                 open_per_address: int = MAX_OPEN_PER_ADDRESS,
                 incomplete_per_address: int = MAX_INCOMPLETE_PER_ADDRESS) -> None:
        self.capacity = capacity if capacity is not None else max_connections()
        self.open_per_address = open_per_address
        self.incomplete_per_address = incomplete_per_address
        #: transport -> (address, how to drop it), oldest first (dicts keep their order).
        self._incomplete: dict[asyncio.BaseTransport, tuple[str, Callable[[], None]]] = {}
        self._incomplete_at: Counter[str] = Counter()
        #: transport -> address, for connections whose head was read.
        self._open: dict[asyncio.BaseTransport, str] = {}
        self._open_at: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._incomplete) + len(self._open)

    def incomplete(self, address: str | None = None) -> int:
        """Connections without a complete head yet: from ``address``, or all of them."""
        return len(self._incomplete) if address is None else self._incomplete_at[address]

    def open(self, address: str | None = None) -> int:
        """Connections whose head was read: from ``address``, or all of them."""
        return len(self._open) if address is None else self._open_at[address]

    def arrived(self, transport: asyncio.BaseTransport, address: str,
                drop: Callable[[], None]) -> None:
        """A new connection from ``address``; ``drop()`` closes it if room must be made.

        Room is made first: the oldest incomplete connection of ``address`` goes when that
        address is at its cap, the oldest of all when the table is full.
        """
        if self._incomplete_at[address] >= self.incomplete_per_address:
            self._drop(next(t for t, (a, _) in self._incomplete.items() if a == address))
        if len(self) >= self.capacity and self._incomplete:
            self._drop(next(iter(self._incomplete)))
        self._incomplete[transport] = (address, drop)
        self._incomplete_at[address] += 1

    def head_read(self, transport: asyncio.BaseTransport) -> Refusal | None:
        """The connection's request head is complete: admit it, or say why not (and forget it)."""
        address = self._forget_incomplete(transport)
        if address is None:
            return None
        if self._open_at[address] >= self.open_per_address:
            return 429, (f"too many connections from your address ({self.open_per_address}): "
                         "close some, then try again")
        if len(self._open) >= self.capacity:
            return 503, "the server is full: try again later"
        self._open[transport] = address
        self._open_at[address] += 1
        return None

    def left(self, transport: asyncio.BaseTransport) -> None:
        """The connection is gone (or is going): it no longer counts. Unknown ones are ignored."""
        self._forget_incomplete(transport)
        address = self._open.pop(transport, None)
        if address is not None:
            self._forget(self._open_at, address)

    def _drop(self, transport: asyncio.BaseTransport) -> None:
        _, drop = self._incomplete[transport]
        self._forget_incomplete(transport)
        drop()

    def _forget_incomplete(self, transport: asyncio.BaseTransport) -> str | None:
        entry = self._incomplete.pop(transport, None)
        if entry is None:
            return None
        self._forget(self._incomplete_at, entry[0])
        return entry[0]

    @staticmethod
    def _forget(counts: Counter[str], address: str) -> None:
        counts[address] -= 1
        if counts[address] <= 0:
            del counts[address]


def peer_name(client: tuple[str, int] | None) -> str:
    """A client's address as a log line names it: ``host:port``."""
    return "%s:%d" % client if client else "an unknown client"


_tables: weakref.WeakKeyDictionary[Any, ConnectionTable] = weakref.WeakKeyDictionary()


def table_for(server_state: Any) -> ConnectionTable:
    """The connection table of the uvicorn server whose shared state is ``server_state``."""
    table = _tables.get(server_state)
    if table is None:
        table = _tables[server_state] = ConnectionTable()
    return table
