"""A free TCP port, for the servers the kit starts on loopback (lessons, benchmarks, tests)."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now, as the system picks it.

    Another process could take it before the caller binds it; the kit's servers are started
    one at a time on loopback, where that race is not seen in practice.
    """
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
