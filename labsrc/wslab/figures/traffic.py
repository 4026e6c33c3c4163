"""Polling against push, side by side: what each way of getting updates cost on the wire.

:func:`traffic_chart` takes one row per way of getting the same updates (elective E1 measures
them) and draws three bar charts: how many HTTP requests it took, how many bytes crossed the
wire each way, and how long after an update the client had it.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from matplotlib.figure import Figure

UP_COLOR = "#6baed6"
DOWN_COLOR = "#fd8d3c"
DELAY_COLOR = "#74c476"


def traffic_chart(rows: Sequence[Mapping[str, float | str]], *, updates: int | None = None
                  ) -> Figure:
    """Three bar charts, one bar per row.

    Each row needs ``how`` (its label), ``requests`` (HTTP requests, the WebSocket handshake
    counting as one), ``up`` and ``down`` (bytes from client to server and back, headers
    included) and ``delay_ms`` (the average time from an update's publication to its arrival).
    """
    labels = [str(row["how"]) for row in rows]
    positions = list(range(len(rows)))[::-1]  # the first row on top
    fig = Figure(figsize=(11, 1.2 + 0.55 * len(rows)), dpi=100)
    axes = fig.subplots(1, 3, sharey=True, gridspec_kw={"wspace": 0.08})
    title = "Getting the same updates by polling and by push"
    if updates:
        title += f" ({updates} updates)"
    fig.suptitle(title, fontsize=13, fontweight="bold")

    requests = [float(row["requests"]) for row in rows]
    axes[0].barh(positions, requests, color="#9e9ac8")
    _label_bars(axes[0], positions, requests, "{:.0f}")
    axes[0].set_title("HTTP requests", fontsize=11)
    axes[0].set_yticks(positions, labels, fontsize=10)

    up = [float(row["up"]) for row in rows]
    down = [float(row["down"]) for row in rows]
    axes[1].barh(positions, up, color=UP_COLOR, label="client → server")
    axes[1].barh(positions, down, left=up, color=DOWN_COLOR, label="server → client")
    _label_bars(axes[1], positions, [a + b for a, b in zip(up, down)], "{:,.0f} B")
    axes[1].set_title("bytes on the wire, headers included", fontsize=11)
    axes[1].legend(loc="lower right", fontsize=8, frameon=False)

    delays = [float(row["delay_ms"]) for row in rows]
    axes[2].barh(positions, delays, color=DELAY_COLOR)
    _label_bars(axes[2], positions, delays, "{:.0f} ms")
    axes[2].set_title("average delay of an update", fontsize=11)

    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_xlim(0, max(ax.get_xlim()[1], 1) * 1.25)
    fig.subplots_adjust(left=0.17, right=0.98, top=0.78, bottom=0.12)
    return fig


def _label_bars(ax, positions: list[int], values: list[float], fmt: str) -> None:
    for position, value in zip(positions, values):
        ax.text(value, position, " " + fmt.format(value), va="center", ha="left", fontsize=9)
