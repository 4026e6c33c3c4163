"""Elective E5's pictures: several workers, with and without a broker, and how long a line takes.

:func:`architecture` draws two worker processes, each with its own clients and its own
``ConnectionManager``. Without a broker (``broker=False``) nothing joins them, and a line from
one worker's client never reaches the other's. With one, the path of a line is numbered: a
client sends it to its worker, the worker publishes it to Redis, Redis sends it to every
subscribed worker (the sender's included), and each worker delivers it to its own clients.

:func:`latency_chart` shows measured delivery times, within one worker and across two, as the
share of lines delivered within a time (a cumulative distribution): the closer the two curves,
the less it matters which worker a client landed on.
"""

from __future__ import annotations

from typing import Sequence

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from wslab.figures.canvas import sheet

CLIENT = "#deebf7"
WORKER = "#fee6ce"
REDIS = "#fcbba1"
PATH = "#08519c"
MISSING = "#a50f15"
INK = "#333333"


def _box(ax, x: float, y: float, w: float, h: float, color: str, title: str,
         body: str = "", *, title_size: float = 11) -> None:
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.008,rounding_size=0.015",
                                facecolor=color, edgecolor=INK, linewidth=1.1))
    ax.text(x + w / 2, y + h - 0.022, title, ha="center", va="top", fontsize=title_size,
            fontweight="bold")
    if body:
        ax.text(x + w / 2, y + h / 2 - 0.022, body, ha="center", va="center", fontsize=9,
                family="monospace", color=INK)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], *, color: str = INK,
           width: float = 1.3, style: str = "-|>", dashed: bool = False, rad: float = 0.0) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=14, color=color,
                                 linewidth=width, linestyle="--" if dashed else "-",
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=2, shrinkB=2))


def _step(ax, x: float, y: float, number: int) -> None:
    ax.text(x, y, str(number), ha="center", va="center", fontsize=9, color="white",
            fontweight="bold", bbox=dict(boxstyle="circle,pad=0.25", facecolor=PATH,
                                         edgecolor="none"))


def architecture(broker: bool = True) -> Figure:
    """Two workers and their clients; with ``broker``, Redis between them and a line's path."""
    title = ("Two workers, one room: a broker between them" if broker
             else "Two workers, no broker: two rooms that know nothing of each other")
    fig, ax = sheet(5.6 if broker else 4.6, title, title_y=0.965,
                    bottom=0.0 if broker else 0.28, title_va="center")

    clients = {"alice": (0.03, 0.75), "dan": (0.03, 0.55), "bob": (0.83, 0.75),
               "carol": (0.83, 0.55)}
    for name, (x, y) in clients.items():
        _box(ax, x, y, 0.14, 0.12, CLIENT, name, "browser" if name != "dan" else "notebook",
             title_size=10.5)
    _box(ax, 0.27, 0.47, 0.18, 0.42, WORKER, "worker 1",
         "uvicorn process\n\nConnectionManager:\n  alice, dan")
    _box(ax, 0.55, 0.47, 0.18, 0.42, WORKER, "worker 2",
         "uvicorn process\n\nConnectionManager:\n  bob, carol")
    for name, (x, y) in clients.items():  # the WebSocket of each client to its worker
        left = x < 0.5
        _arrow(ax, (x + 0.14 if left else x, y + 0.06), (0.27 if left else 0.73, y + 0.06),
               style="<|-|>", width=1.0, color="#777777")
    ax.text(0.22, 0.89, "WebSockets", ha="center", fontsize=8.5, color="#777777")

    if not broker:
        ax.plot([0.5, 0.5], [0.47, 0.89], color=MISSING, linestyle="--", linewidth=1.6)
        ax.text(0.5, 0.40, "alice says hi: worker 1 broadcasts to alice and dan.\n"
                "Worker 2 never hears of it, so bob and carol never see it;\n"
                "and each worker counts only its own clients: 2 online, twice.",
                ha="center", va="top", fontsize=10.5, color=MISSING)
        return fig

    _box(ax, 0.33, 0.12, 0.34, 0.18, REDIS, "Redis",
         "PUBLISH / SUBSCRIBE on one channel\nkeeps nothing: sends each message\n"
         "to whoever is subscribed now")
    # 1: alice -> worker 1
    _step(ax, 0.205, 0.845, 1)
    # 2: worker 1 publishes
    _arrow(ax, (0.36, 0.47), (0.43, 0.30), color=PATH, width=2)
    _step(ax, 0.37, 0.385, 2)
    ax.text(0.26, 0.385, "publish\n{kind: chat,\n worker: 1, seq,\n text}", ha="center",
            va="center", fontsize=8.5, color=PATH)
    # 3: Redis -> every subscribed worker, the sender's own included
    _arrow(ax, (0.47, 0.30), (0.41, 0.47), color=PATH, width=2)
    _arrow(ax, (0.57, 0.30), (0.62, 0.47), color=PATH, width=2)
    _step(ax, 0.50, 0.385, 3)
    ax.text(0.655, 0.385, "to every subscriber,\nworker 1 included", ha="left",
            va="center", fontsize=8.5, color=PATH)
    # 4: each worker delivers to its own clients, alice included
    for x, y in ((0.245, 0.845), (0.22, 0.61), (0.78, 0.81), (0.78, 0.61)):
        _step(ax, x, y, 4)
    ax.text(0.5, 0.01, "1 alice sends a line to her worker   2 it publishes the line, tagged "
            "with the worker   3 Redis sends it to every worker\n4 each worker delivers it to "
            "its own clients (ConnectionManager.broadcast): alice, dan, bob and carol, once each",
            ha="center", va="bottom", fontsize=9.5, color=INK)
    return fig


def latency_chart(same_ms: Sequence[float], cross_ms: Sequence[float]) -> Figure:
    """The share of lines delivered within each time, within one worker and across two."""
    fig = Figure(figsize=(8, 3.8), dpi=100)
    ax = fig.add_axes((0.09, 0.15, 0.86, 0.72))
    for values, label, color in ((same_ms, "same worker (carol, on alice's worker)", "#3182bd"),
                                 (cross_ms, "other worker (bob)", "#e6550d")):
        ordered = sorted(values)
        if not ordered:
            continue
        shares = [(n + 1) / len(ordered) for n in range(len(ordered))]
        ax.step(ordered, shares, where="post", label=label, color=color, linewidth=1.8)
    ax.set_xlabel("delivery time (ms), from alice's send to the line's arrival")
    ax.set_ylabel("share of lines")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.axhline(0.5, color="#bbbbbb", linewidth=0.8, linestyle=":")
    ax.axhline(0.99, color="#bbbbbb", linewidth=0.8, linestyle=":")
    ax.text(ax.get_xlim()[1], 0.5, " p50", va="center", fontsize=8, color="#888888")
    ax.text(ax.get_xlim()[1], 0.99, " p99", va="center", fontsize=8, color="#888888")
    ax.legend(loc="lower right", fontsize=9, frameon=False)
    ax.set_title("How long a line takes, within a worker and across workers", fontsize=11.5,
                 loc="left", fontweight="bold")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig
