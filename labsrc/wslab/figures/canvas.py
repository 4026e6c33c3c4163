"""The blank sheet the lessons' diagrams are drawn on: one set of axes filling the figure.

A diagram places its boxes and arrows by hand, so its axes are a plain coordinate system (0 to
1 across, ``bottom`` to 1 up) with no lines, ticks or labels, and its title sits at the top.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["sheet"]


def sheet(height: float, title: str, *, title_y: float, bottom: float = 0.0,
          title_va: str = "baseline") -> tuple[Figure, Axes]:
    """A figure 11 inches wide and ``height`` high, and its axes, with ``title`` drawn."""
    fig = Figure(figsize=(11, height), dpi=100)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom, 1)
    ax.axis("off")
    ax.text(0.5, title_y, title, ha="center", va=title_va, fontsize=14, fontweight="bold")
    return fig, ax
