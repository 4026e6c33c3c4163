"""Core lesson 04's and elective E4's pictures: what a widget is, and how cells, clicks and tasks share one loop.

:func:`widget_sync` shows one widget as two objects, the Python object in the kernel and its
view in the browser, kept in step by messages. :func:`one_loop` shows the kernel's event loop
over time: a cell that ``await``s lets frames and clicks in between; a cell that blocks makes
them wait.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle

from wslab.figures.canvas import sheet

KERNEL = "#deebf7"     # Python's side
BROWSER = "#e5f5e0"    # the browser's side
MIDDLE = "#f0f0f0"     # JupyterLab's server
CELL = "#6baed6"       # a cell running
WAITING = "#c6dbef"    # a cell at an await
TASK = "#fdae6b"       # an asyncio task (a receive loop, a send)
COMM = "#74c476"       # a message from the browser (a click, Enter, a typed value)
BLOCKED = "#fb6a4a"    # a cell that blocks the loop
WIRE = "#555555"
CODE = dict(family="monospace", fontsize=9)


def _box(ax, x: float, y: float, w: float, h: float, color: str, **kwargs) -> None:
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.008", facecolor=color,
                                edgecolor="#333333", **kwargs))


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], color: str = WIRE) -> None:
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle="-|>", color=color, linewidth=1.6))


def widget_sync() -> Figure:
    """One widget, two objects: the model in the kernel, the view in the browser."""
    fig, ax = sheet(4.9, "A widget is two objects, kept in step by messages", title_y=0.95)

    _box(ax, 0.02, 0.22, 0.28, 0.62, KERNEL)
    ax.text(0.035, 0.815, "the kernel (Python)", fontsize=11.5, fontweight="bold", va="top")
    ax.text(0.035, 0.73, 'alice.text_box\n  Text(value="hi Bob")', va="top", **CODE)
    ax.text(0.035, 0.56, 'alice.log_html\n  HTML(value="<div ...>")', va="top", **CODE)
    ax.text(0.035, 0.40, "callbacks: on_click, observe,\non_msg (Enter)", va="top",
            fontsize=9.5, color="#333333")

    _box(ax, 0.445, 0.22, 0.11, 0.62, MIDDLE)
    ax.text(0.5, 0.815, "JupyterLab's\nserver", fontsize=10, fontweight="bold", va="top",
            ha="center")
    ax.text(0.5, 0.60, "passes\nthe\nmessages\non", ha="center", va="top", fontsize=9.5,
            color="#333333")

    _box(ax, 0.70, 0.22, 0.28, 0.62, BROWSER)
    ax.text(0.715, 0.815, "your browser (the page)", fontsize=11.5, fontweight="bold",
            va="top")
    ax.add_patch(Rectangle((0.715, 0.645), 0.175, 0.055, facecolor="white",
                           edgecolor="#888888"))
    ax.text(0.722, 0.672, "hi Bob", va="center", fontsize=10)
    ax.add_patch(Rectangle((0.90, 0.645), 0.06, 0.055, facecolor="#1976d2",
                           edgecolor="#1976d2"))
    ax.text(0.93, 0.672, "Send", va="center", ha="center", fontsize=9, color="white")
    ax.add_patch(Rectangle((0.715, 0.33), 0.245, 0.27, facecolor="#fafbfc",
                           edgecolor="#bbbbbb"))
    ax.text(0.725, 0.56, "the view of log_html:\nthe log you see", va="top", fontsize=9.5,
            color="#555555")

    # browser -> kernel, on top; kernel -> browser, below
    _arrow(ax, (0.695, 0.70), (0.56, 0.70), COMM)
    _arrow(ax, (0.44, 0.70), (0.305, 0.70), COMM)
    ax.text(0.6275, 0.72, "you type,\nclick, or\npress Enter", ha="center", va="bottom",
            fontsize=9)
    ax.text(0.3725, 0.72, '{"value":\n  "hi Bob"}\n{"event":\n  "submit"}', ha="center",
            va="bottom", family="monospace", fontsize=8.5)
    _arrow(ax, (0.305, 0.40), (0.44, 0.40), TASK)
    _arrow(ax, (0.56, 0.40), (0.695, 0.40), TASK)
    ax.text(0.3725, 0.42, 'log_html.value\n= "<div ...>"', ha="center", va="bottom",
            family="monospace", fontsize=8.5)
    ax.text(0.6275, 0.42, "the view\nredraws", ha="center", va="bottom", fontsize=9)

    ax.text(0.5, 0.13, "Both directions are comm messages. Between the page and JupyterLab's "
            "server they travel over a WebSocket\n(/api/kernels/<id>/channels); the server "
            "passes them to the kernel over ZeroMQ.", ha="center", va="center", fontsize=10,
            color="#333333")
    return fig


def _bar(ax, y: float, start: float, end: float, color: str, label: str = "",
         *, hatch: str | None = None, text_color: str = "#111111") -> None:
    ax.add_patch(Rectangle((start, y), end - start, 0.6, facecolor=color, edgecolor="#333333",
                           linewidth=0.8, hatch=hatch))
    if label:
        ax.text((start + end) / 2, y + 0.3, label, ha="center", va="center", fontsize=8.6,
                color=text_color)


def one_loop() -> Figure:
    """The kernel's loop over time: a cell that awaits shares it; a cell that blocks does not."""
    fig = Figure(figsize=(11, 5.0), dpi=100)
    ax = fig.add_axes((0.02, 0.03, 0.96, 0.85))
    ax.set_xlim(-0.2, 10.2)
    ax.set_ylim(-0.45, 4.9)
    ax.axis("off")
    fig.text(0.5, 0.945, "One thread, one event loop: everything takes turns", ha="center",
             fontsize=14, fontweight="bold")

    # Top: a cell that awaits.
    ax.text(0, 4.55, "A cell that awaits: the loop runs other work while the cell waits",
            fontsize=11, fontweight="bold")
    y = 3.3
    _bar(ax, y, 0.0, 1.5, CELL, "cell:\nawait alice.submit()")
    _bar(ax, y, 1.5, 2.3, TASK, "send\ntask")
    _bar(ax, y, 2.3, 3.0, CELL, "cell\nresumes")
    _bar(ax, y, 3.0, 6.6, WAITING, "", hatch="//")
    ax.text(4.8, y + 0.85, "the cell waits:  await bob.wait_for_text(...)", ha="center",
            fontsize=9, **{"family": "monospace"})
    _bar(ax, y + 0.05, 3.3, 4.4, TASK, "bob's receive\nloop: a frame")
    _bar(ax, y + 0.05, 4.8, 5.9, COMM, "a click:\non_click()")
    _bar(ax, y, 6.6, 7.6, CELL, "cell ends:\nprint(...)")
    _bar(ax, y, 8.0, 9.1, TASK, "a receive\nloop")
    ax.text(8.55, y - 0.28, "between cells", ha="center", va="top", fontsize=8.6,
            color="#555555")

    # Bottom: a cell that blocks.
    ax.text(0, 2.35, "A cell that blocks (no await): nothing else runs until it ends",
            fontsize=11, fontweight="bold")
    y = 0.8
    _bar(ax, y, 0.0, 6.0, BLOCKED, "cell: time.sleep(3), or a while loop waiting for a click",
         text_color="white")
    _bar(ax, y, 6.0, 7.1, TASK, "the frame,\nlate")
    _bar(ax, y, 7.1, 8.2, COMM, "the click,\nlate")
    for x, what in ((1.6, "a frame arrives"), (3.6, "you click")):
        ax.annotate(what, xy=(x, y + 0.62), xytext=(x, y + 1.05), ha="center", fontsize=8.6,
                    arrowprops=dict(arrowstyle="-|>", color=WIRE, linewidth=1.2))

    ax.annotate("", xy=(10.1, 0.45), xytext=(0.0, 0.45),
                arrowprops=dict(arrowstyle="-|>", color="#888888", linewidth=1.2))
    ax.text(10.1, 0.35, "time", ha="right", va="top", fontsize=9, color="#666666")
    legend = [(CELL, "your cell"), (WAITING, "a cell at an await"),
              (TASK, "an asyncio task"), (COMM, "a message from the browser"),
              (BLOCKED, "a cell that blocks")]
    x = 0.0
    for color, label in legend:
        ax.add_patch(Rectangle((x, -0.3), 0.25, 0.22, facecolor=color, edgecolor="#333333",
                               linewidth=0.8, hatch="//" if color == WAITING else None))
        ax.text(x + 0.33, -0.19, label, va="center", fontsize=8.8)
        x += 0.55 + 0.085 * len(label)
    return fig
