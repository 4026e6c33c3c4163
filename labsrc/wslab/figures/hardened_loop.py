"""Elective E2's picture: where one frame goes in the hardened chat endpoint."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

EVERYONE = "#d8f0d2"  # green: broadcast to every connection
SENDER = "#fde2c4"    # orange: an answer to the sender only
CLEANUP = "#e4e4e4"   # grey: the cleanup that always runs
NEUTRAL = "#dce8f7"   # blue: reading and deciding
EDGE = "#444444"


def _box(ax, x: float, y: float, text: str, color: str, width: float = 2.9,
         height: float = 0.62) -> None:
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.04,rounding_size=0.12",
                                facecolor=color, edgecolor=EDGE, linewidth=1.1))
    ax.text(x, y, text, ha="center", va="center", fontsize=9.2, family="monospace")


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], label: str = "",
           label_at: tuple[float, float] | None = None, style: str = "-|>",
           connection: str = "arc3", dashed: bool = False) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=13,
                                 connectionstyle=connection, color=EDGE, linewidth=1.1,
                                 linestyle="--" if dashed else "-", shrinkA=2, shrinkB=2))
    if label:
        x, y = label_at or ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        ax.text(x, y, label, ha="center", va="center", fontsize=8.6, style="italic",
                color="#222222", bbox=dict(facecolor="white", edgecolor="none", pad=1.2))


def hardened_loop() -> Figure:
    """The hardened endpoint's loop: each kind of frame, and who hears about it."""
    fig = Figure(figsize=(10.4, 5.6))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 13)
    ax.set_ylim(0, 7)
    ax.axis("off")

    _box(ax, 6.2, 6.3, "event = await websocket.receive()", NEUTRAL, width=4.4)
    _box(ax, 1.6, 4.6, "break", CLEANUP, width=1.4)
    _box(ax, 5.6, 4.6, "Rejected('binary_not_supported')", NEUTRAL, width=4.0)
    _box(ax, 10.1, 4.6, "read_message(text, max_bytes)", NEUTRAL, width=3.5)
    _box(ax, 1.9, 1.0, "finally:\n  manager.disconnect(websocket)\n  broadcast the leave message",
         CLEANUP, width=3.5, height=1.25)
    _box(ax, 5.6, 2.75, "error reply to the sender only", SENDER, width=3.6)
    _box(ax, 10.1, 2.75, "broadcast chat_message(...)\nor plain_text_message(...)", EVERYONE,
         width=3.5, height=0.95)

    _arrow(ax, (4.6, 6.0), (1.6, 4.95), '"websocket.disconnect"', label_at=(2.55, 5.65))
    _arrow(ax, (5.6, 5.98), (5.6, 4.93), "bytes", label_at=(5.6, 5.45))
    _arrow(ax, (7.5, 6.0), (10.1, 4.93), "text", label_at=(9.0, 5.6))
    _arrow(ax, (5.6, 4.28), (5.6, 3.08))
    _arrow(ax, (9.5, 4.28), (6.9, 3.08), "Rejected", label_at=(8.2, 3.7))
    _arrow(ax, (10.1, 4.28), (10.1, 3.25), "Chat or\nPlainText", label_at=(10.85, 3.78))
    _arrow(ax, (1.6, 4.28), (1.6, 1.65))
    # Both answers lead back to the top of the loop, round the outside: the next frame.
    loop = dict(color=EDGE, linewidth=1.1, linestyle="--")
    ax.plot([5.6, 5.6], [2.43, 1.85], **loop)
    ax.plot([10.1, 10.1], [2.27, 1.85], **loop)
    ax.plot([5.6, 12.6, 12.6], [1.85, 1.85, 6.3], **loop)
    _arrow(ax, (12.6, 6.3), (8.42, 6.3), dashed=True)
    ax.text(12.45, 4.0, "next frame", rotation=90, ha="center", va="center", fontsize=8.6,
            style="italic", bbox=dict(facecolor="white", edgecolor="none", pad=1.2))
    ax.text(3.9, 1.0, "also when the loop body raises:\nthe cleanup lives in finally,\n"
            "so no ghost is left behind", fontsize=8.6, color="#333333", va="center")

    for n, (color, text) in enumerate([(EVERYONE, "to everyone"), (SENDER, "to the sender only"),
                                       (CLEANUP, "cleanup: always runs")]):
        x, y = 8.3, 1.3 - n * 0.42
        ax.add_patch(FancyBboxPatch((x, y - 0.14), 0.5, 0.28, boxstyle="round,pad=0.02",
                                    facecolor=color, edgecolor=EDGE, linewidth=0.8))
        ax.text(x + 0.7, y, text, va="center", fontsize=9)
    return fig
