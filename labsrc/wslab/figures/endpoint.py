"""Core lesson 01's pictures: one echo connection from start to end, and where the server runs.

:func:`connection_life` is a sequence diagram: the notebook's client on the left, the endpoint
on the right, each call next to the frame it sends or waits for. :func:`two_loops` shows the
kernel's process with its two threads, each running its own event loop, which is why
``uvicorn.run()`` cannot run in a cell and a :class:`~wslab.runner.BackgroundServer` can.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from wslab.figures.canvas import sheet

CLIENT = "#deebf7"   # the notebook's side
SERVER = "#fee6ce"   # the server's side
WIRE = "#555555"
CODE = dict(family="monospace", fontsize=9.5)


def _step(ax, y: float, *, left: str = "", right: str = "", wire: str = "",
          to_right: bool = True, color: str = WIRE) -> None:
    """One row: the client's call, an arrow carrying ``wire``, the endpoint's call."""
    start, end = (0.30, 0.70) if to_right else (0.70, 0.30)
    ax.annotate("", xy=(end, y), xytext=(start, y),
                arrowprops=dict(arrowstyle="-|>", color=color, linewidth=1.6))
    ax.text(0.5, y + 0.012, wire, ha="center", va="bottom", fontsize=9.5, color="#333333")
    ax.text(0.285, y, left, ha="right", va="center", **CODE)
    ax.text(0.715, y, right, ha="left", va="center", **CODE)


def connection_life() -> Figure:
    """The life of one connection to the echo endpoint, call by call and frame by frame."""
    fig, ax = sheet(5.4, "One connection to /ws/echo, call by call", title_y=0.965,
                    bottom=0.06)
    for x, title, color in ((0.30, "the client (a notebook cell)", CLIENT),
                            (0.70, "the endpoint (in the server)", SERVER)):
        ax.add_patch(FancyBboxPatch((x - 0.13, 0.87), 0.26, 0.05, boxstyle="round,pad=0.005",
                                    facecolor=color, edgecolor="#333333"))
        ax.text(x, 0.895, title, ha="center", va="center", fontsize=11)
        ax.plot([x, x], [0.16, 0.87], color="#999999", linestyle="--", linewidth=1)

    _step(ax, 0.80, left="websockets.connect(url)", wire="HTTP GET, Upgrade: websocket",
          right="echo(websocket) is called")
    _step(ax, 0.71, left="connect() returns", wire="HTTP 101 Switching Protocols",
          right="await websocket.accept()", to_right=False)
    _step(ax, 0.60, left='await ws.send("hi")', wire='text frame "hi"',
          right='await websocket.receive_text()\n  returns "hi"')
    _step(ax, 0.49, left='await ws.recv()\n  returns "hi"', wire='text frame "hi"',
          right='await websocket.send_text("hi")', to_right=False)
    ax.text(0.5, 0.405, "… the same again, for every message …", ha="center", va="center",
            fontsize=10, style="italic", color="#666666")
    _step(ax, 0.31, left="the async with block ends", wire="close frame (code 1000)",
          right="receive_text() raises\n  WebSocketDisconnect")
    _step(ax, 0.21, left="the connection is closed", wire="close frame (the server's answer)",
          right="except WebSocketDisconnect:\n  the endpoint returns", to_right=False)

    ax.text(0.5, 0.11, "Each await waits for the other side: receive_text() sleeps until a frame "
            "arrives, recv() likewise.\nA frame can go either way at any time; this echo simply "
            "answers each one.", ha="center", va="center", fontsize=10, color="#333333")
    return fig


def _lane(ax, y: float, height: float, title: str, color: str) -> None:
    ax.add_patch(FancyBboxPatch((0.06, y), 0.88, height, boxstyle="round,pad=0.01",
                                facecolor=color, edgecolor="#333333"))
    ax.text(0.08, y + height - 0.035, title, ha="left", va="top", fontsize=11.5,
            fontweight="bold")


def two_loops() -> Figure:
    """The kernel's process: the main thread's loop runs cells, the server's thread runs uvicorn."""
    fig, ax = sheet(5.0, "Inside the Jupyter kernel: one process, two threads, two event loops",
                    title_y=0.945, bottom=0.02)
    ax.add_patch(FancyBboxPatch((0.02, 0.04), 0.96, 0.84, boxstyle="round,pad=0.01",
                                facecolor="white", edgecolor="#333333", linestyle="--"))
    ax.text(0.04, 0.855, "the kernel process", fontsize=10, color="#666666", va="top")

    _lane(ax, 0.53, 0.28, "main thread: the kernel's event loop, already running", CLIENT)
    ax.text(0.09, 0.69, "runs your cells, so a cell can await:\n"
            "    async with websockets.connect(...) as ws: ...", va="top", **CODE)
    ax.text(0.09, 0.585, "uvicorn.run(app) here would start a second loop in this thread:\n"
            "RuntimeError: ... cannot be called from a running event loop", va="top",
            color="#a50f15", **CODE)

    _lane(ax, 0.09, 0.30, "server thread (BackgroundServer): an event loop of its own", SERVER)
    ax.text(0.09, 0.27, "uvicorn and your endpoints:\n"
            "    await websocket.receive_text() ...", va="top", **CODE)
    ax.text(0.09, 0.165, "its log and print() go to a buffer:  server.print_logs()", va="top",
            **CODE)

    ax.annotate("", xy=(0.80, 0.39), xytext=(0.80, 0.53),
                arrowprops=dict(arrowstyle="<|-|>", color=WIRE, linewidth=2))
    ax.text(0.815, 0.46, "real TCP connections\non 127.0.0.1:port", va="center", fontsize=10)
    return fig
