"""The one rank rule for latency percentiles: every benchmark and the fan-out lab report with it.

Nearest rank, counting lost deliveries: the ``fraction`` percentile of ``n`` delivery times is
the one at rank ``ceil(fraction * n)`` (at least 1) in ascending order, and a delivery that
never came is infinitely late, ranked after every one that did. A percentile that falls among
the lost ones is ``None`` ("never"), so a server that stops delivering cannot look fast by the
few lines that got through. One rule everywhere is what makes two tables' p99 comparable.
Elective E7 has students write this function; its check compares their answer with this one.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["percentile", "shown_ms", "summarise"]


def percentile(latencies: list[float], missing: int, fraction: float) -> float | None:
    """The ``fraction`` percentile of ``latencies`` plus ``missing`` infinitely late ones."""
    total = len(latencies) + missing
    if total == 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    if rank > len(latencies):
        return None
    return sorted(latencies)[rank - 1]


def summarise(latencies_us: list[int], missing: int = 0) -> dict[str, Any]:
    """Deliveries, p50, p99 and the slowest delivery, in ms, of latencies measured in µs.

    ``missing`` deliveries count as never arrived (see :func:`percentile`); a figure that
    falls among them, or that has no delivery to describe, is ``None``.
    """
    values = sorted(latencies_us)
    return {"deliveries": len(values), "p50_ms": _in_ms(percentile(values, missing, 0.50)),
            "p99_ms": _in_ms(percentile(values, missing, 0.99)),
            "max_ms": _in_ms(values[-1] if values else None)}


def shown_ms(value: float | None, digits: int = 1) -> str:
    """A latency in ms as a table shows it: ``"12.3 ms"``, or ``"never"`` for ``None``."""
    return "never" if value is None else f"{value:.{digits}f} ms"


def _in_ms(microseconds: float | None) -> float | None:
    return None if microseconds is None else microseconds / 1000
