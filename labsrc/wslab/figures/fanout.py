"""One broadcast, two ways: the lecture's loop of sends, and one outbox per connection.

:func:`fanout_timelines` draws both on the same clock, with the same four clients, one of
which (``lazy``) has stopped reading. In the lecture's loop every send waits for the one
before it, so ``lazy``'s send, which never finishes, holds up everyone after it in the list and
every later broadcast. With outboxes, ``broadcast`` only drops the message into each outbox;
each connection's writer sends on its own, and ``lazy``'s outbox fills until it is dropped.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

CLIENTS = ("ann", "bob", "lazy", "cat")
HEALTHY = "#74c476"
STUCK = "#fb6a4a"
QUEUED = "#fdd0a2"
NEVER = "#bdbdbd"
BROADCAST = "#6baed6"
END = 10.0  # the right edge of the clock: "and so on, for ever"
#: Behind a note written over a hatched bar, so the hatching does not cross the words.
LABEL_BOX = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
             "alpha": 0.85}


def _bar(ax, row: float, start: float, width: float, color: str, label: str = "",
         *, hatch: str | None = None, dashed: bool = False) -> None:
    ax.add_patch(Rectangle((start, row - 0.32), width, 0.64, facecolor=color,
                           edgecolor="#555555", linewidth=0.8, hatch=hatch,
                           linestyle="--" if dashed else "-"))
    if label:
        ax.text(start + width / 2, row, label, ha="center", va="center", fontsize=8.5)


def _frame(ax, title: str, rows: list[str]) -> None:
    ax.set_xlim(0, END)
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows, fontsize=9.5)
    ax.set_xticks([])
    ax.set_xlabel("time →", fontsize=9, loc="right")
    ax.set_title(title, fontsize=11, loc="left", fontweight="bold")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def draw_sequential(ax) -> None:
    """The lecture's broadcast on ``ax``: each send waits for the one before."""
    rows = ["ann's handler", "bob's handler", *CLIENTS]
    _frame(ax, "The lecture's broadcast: one loop, each send waits for the one before", rows)
    # ann says m1 at t=0.3; bob says m2 at t=2.5. Each handler runs its own broadcast loop.
    for handler, start, message in ((0, 0.3, "m1"), (1, 2.5, "m2")):
        _bar(ax, handler, start, 1.0, BROADCAST, f"send {message}")
        _bar(ax, handler, start + 1.0, END - start - 1.0, STUCK, hatch="//")
        _bar(ax, 2, start, 0.5, HEALTHY, message)
        _bar(ax, 3, start + 0.5, 0.5, HEALTHY, message)
        _bar(ax, 5, start + 1.0, 1.2, NEVER, f"{message}?", dashed=True)
    ax.text(1.45, 0, "stuck in send(m1) to lazy: ann's next message is not even read",
            va="center", fontsize=8.5, bbox=LABEL_BOX)
    ax.text(3.65, 1, "stuck too, behind lazy", va="center", fontsize=8.5, bbox=LABEL_BOX)
    _bar(ax, 4, 1.3, END - 1.3, STUCK, hatch="//")
    ax.text(1.45, 4, "send(m1) never finishes: lazy's buffers are full, and it does not read",
            va="center", fontsize=8.5, bbox=LABEL_BOX)
    ax.text(5.0, 5, "cat comes after lazy in the list: nothing is ever sent to it",
            va="center", fontsize=8.5)


def draw_outboxes(ax) -> None:
    """Per-connection outboxes on ``ax``: broadcast only queues; the lazy client is dropped."""
    rows = ["broadcast", *CLIENTS]
    _frame(ax, "One outbox and one writer per connection: broadcast only queues", rows)
    times = (0.3, 2.5, 4.3, 5.1, 5.9, 6.7)
    for n, start in enumerate(times, 1):
        _bar(ax, 0, start, 0.5, BROADCAST, f"m{n}")
        for row in (1, 2, 4):
            _bar(ax, row, start + 0.1, 0.5, HEALTHY, f"m{n}")
    ax.text(7.35, 0, "each broadcast returns at once", va="center", fontsize=8.5)
    _bar(ax, 3, 0.4, times[-1] - 0.4, STUCK, hatch="//")
    ax.text(0.5, 3, "writer waits on send(m1)", va="center", fontsize=8.5, bbox=LABEL_BOX)
    # lazy's outbox (bound: 4) takes m2 to m5 while its writer waits; m6 does not fit.
    for n, start in enumerate(times[1:5], 2):
        _bar(ax, 3, start, 0.5, QUEUED, f"m{n}")
    _bar(ax, 3, times[-1], 0.25, "#252525")
    ax.text(times[-1] + 0.4, 3, "m6: outbox full\n→ lazy dropped, close 4408", va="center",
            fontsize=8.5)
    ax.text(2.5, 3.5, "outbox: m2 … m5 waiting (bound 4)", va="top", fontsize=8,
            color="#8c2d04")


def fanout_timelines() -> Figure:
    """The lecture's sequential broadcast above, per-connection outboxes below."""
    fig = Figure(figsize=(9.5, 7.0), layout="constrained")
    top, bottom = fig.subplots(2, 1)
    draw_sequential(top)
    draw_outboxes(bottom)
    legend = [Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="#555555", hatch=h, linestyle=ls)
              for c, h, ls in ((BROADCAST, None, "-"), (HEALTHY, None, "-"),
                               (STUCK, "//", "-"), (NEVER, None, "--"), (QUEUED, None, "-"))]
    fig.legend(legend, ["broadcast running", "a send that completes", "waiting for a send",
                        "never sent", "a message waiting in an outbox"],
               loc="outside lower center", ncols=5, fontsize=8.5, frameon=False)
    return fig
