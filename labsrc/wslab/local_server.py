"""What every server the kit starts for a notebook has: its addresses, a ``with`` block, its log.

A notebook's server (:class:`~wslab.runner.BackgroundServer`, a thread) and ``uvicorn main:app``
run as a process of its own (:class:`~wslab.app_process.AppProcess`) are used the same way from
a cell, so both build on :class:`LocalServer`, which holds what they share.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["LocalServer", "connectable_host"]


def connectable_host(host: str) -> str:
    """The address a client uses to reach a server listening on ``host``, for URLs.

    A server listening on every interface (``0.0.0.0``, ``::``) is reached on loopback, and an
    IPv6 address is bracketed, as a URL wants it.
    """
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class LocalServer:
    """``url``, ``ws_url``, a ``with`` block and :meth:`print_logs`, for a server on this machine.

    The class that builds on it has a ``host``, a ``name``, a ``port`` (0 until the server has
    one), ``running``, and the methods ``start()`` (which returns the server), ``stop()`` and
    ``logs(last)``.
    """

    host: str
    name: str
    port: int
    running: bool

    @property
    def url(self) -> str:
        """The server's address for HTTP, such as ``http://127.0.0.1:54321``."""
        return f"http://{self._host_and_port()}"

    @property
    def ws_url(self) -> str:
        """The server's address for WebSockets, such as ``ws://127.0.0.1:54321``: add the path."""
        return f"ws://{self._host_and_port()}"

    def _host_and_port(self) -> str:
        port = self.port
        if not port:
            raise RuntimeError(f"server {self.name!r} has no port yet: call start() first")
        return f"{connectable_host(self.host)}:{port}"

    def print_logs(self, last: int | None = 50) -> None:
        """Print the server's last ``last`` log lines (all it kept when None)."""
        lines = self.logs(last)
        print("\n".join(lines) if lines else f"(server {self.name!r} has logged nothing yet)")

    def __enter__(self) -> Self:
        return self if self.running else self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
