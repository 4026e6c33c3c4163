"""An exception in words, the same way wherever the kit reports one to a person."""

from __future__ import annotations

__all__ = ["describe_exception"]


def describe_exception(exc: BaseException) -> str:
    """``ConnectionRefusedError: [Errno 111] Connection refused``, or just the type's name.

    The type comes first because many messages mean little without it (``KeyError: 'x'``),
    and an exception with no message (``TimeoutError()``) is named rather than shown as ``: ``.
    """
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
