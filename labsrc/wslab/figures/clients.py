"""Elective E3's pictures: why a chat client needs two tasks, and why reconnects need jitter.

:func:`taking_turns` puts a client that takes turns (send what you type, then wait for one
message) next to one that sends and receives in two tasks: the first shows other people's
messages late, whenever you happen to finish typing. :func:`reconnect_storm` simulates a class
of clients that lose the server at the same moment: without jitter their retries hit the
server in bursts, all at the same instants; with jitter they spread out.
"""

from __future__ import annotations

import random
from typing import Callable

from matplotlib.figure import Figure

YOU = "#3182bd"
OTHERS = "#e6550d"
SHOWN = "#31a354"
DOWN = "#fde0dd"


def _timeline(ax, title: str, typed: list[tuple[float, float]], arrivals: list[float],
              shown_at: list[float | None]) -> None:
    lanes = {"you type and send": 2, "bob's messages arrive": 1, "shown on your screen": 0}
    for start, end in typed:
        ax.broken_barh([(start, end - start)], (1.75, 0.5), facecolors="#c6dbef",
                       edgecolors=YOU)
        ax.text((start + end) / 2, 2, "typing…", ha="center", va="center", fontsize=9)
        ax.plot([end], [2], marker="^", color=YOU, markersize=9)
    for at, shown in zip(arrivals, shown_at):
        ax.plot([at], [1], marker="o", color=OTHERS, markersize=8)
        if shown is None:  # not before the next turn, off the picture
            ax.annotate("", xy=(6.0, 0.3), xytext=(at, 0.88),
                        arrowprops=dict(arrowstyle="-|>", color="#777777", linewidth=1.2,
                                        linestyle="--"))
            ax.text(6.0, -0.45, "not shown yet", ha="right", fontsize=9, color="#a50f15")
            continue
        ax.plot([shown], [0], marker="s", color=SHOWN, markersize=8)
        ax.annotate("", xy=(shown, 0.12), xytext=(at, 0.88),
                    arrowprops=dict(arrowstyle="-|>", color="#777777", linewidth=1.2,
                                    linestyle="--" if shown - at > 0.2 else "-"))
        late = shown - at
        if late > 0.2:
            ax.text((at + shown) / 2 + 0.05, 0.5, f"{late:.1f} s late", fontsize=9,
                    color="#a50f15", va="center")
    ax.set_yticks(list(lanes.values()), list(lanes.keys()), fontsize=10)
    ax.set_ylim(-0.6, 2.6)
    ax.set_xlim(0, 6)
    ax.set_title(title, loc="left", fontsize=11.5, fontweight="bold")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#eeeeee")


def taking_turns() -> Figure:
    """One client taking turns versus two tasks, on the same six seconds of chat."""
    fig = Figure(figsize=(11, 5.6), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True)
    typed = [(0.0, 2.4), (2.6, 5.2)]
    arrivals = [0.7, 1.3, 3.1]
    # Taking turns: a message is shown only by the recv() after a send, one per turn.
    _timeline(top, "One loop that takes turns: send what you typed, then wait for one message",
              typed, arrivals, [2.45, 5.25, None])
    _timeline(bottom, "Two tasks: the receiver shows each message as it arrives; "
                      "the sender sends when you are done", typed, arrivals,
              [at + 0.05 for at in arrivals])
    bottom.set_xlabel("seconds")
    fig.subplots_adjust(left=0.2, right=0.97, top=0.93, bottom=0.1, hspace=0.45)
    return fig


def _attempt_times(clients: int, down: float, delay: Callable[[int], float],
                   horizon: float) -> list[list[float]]:
    """When each client tries to connect: first at once, then after each delay."""
    times = []
    for _ in range(clients):
        at, attempt, mine = 0.0, 0, []
        while at < horizon:
            at += delay(attempt)
            attempt += 1
            mine.append(at)
            if at >= down:  # the server is back: this attempt succeeds
                break
        times.append(mine)
    return times


def reconnect_storm(backoff: Callable[[int], float] | None = None, *, clients: int = 40,
                    down: float = 6.0, seed: int = 5) -> Figure:
    """A class of ``clients`` loses the server for ``down`` seconds: when do they retry?

    Left: every client waits exactly the ceiling (0.5, 1, 2, 4 ... s). Right: the same ceilings
    with jitter, from ``backoff`` (the kit's rule, ``wslab.backoff``, with those numbers, by
    default).
    """
    if backoff is None:
        from wslab.backoff import Backoff
        backoff = Backoff(first=0.5, cap=10.0).delay
    rng_state = random.getstate()
    random.seed(seed)
    try:
        plain = _attempt_times(clients, down, lambda a: min(10.0, 0.5 * 2 ** a), 20)
        jittered = _attempt_times(clients, down, backoff, 20)
    finally:
        random.setstate(rng_state)

    fig = Figure(figsize=(11, 5.2), dpi=100)
    axes = fig.subplots(2, 2, sharex=True, sharey="row",
                        gridspec_kw={"height_ratios": [3, 1.3]})
    horizon = max(max(times) for times in plain + jittered) + 0.5
    for column, (title, times) in enumerate((("Without jitter: everyone waits the same", plain),
                                             ("With jitter: backoff(attempt)", jittered))):
        dots, counts = axes[0][column], axes[1][column]
        for ax in (dots, counts):
            ax.axvspan(0, down, color=DOWN, zorder=0)
            for side in ("top", "right"):
                ax.spines[side].set_visible(False)
        for row, mine in enumerate(times):
            dots.plot(mine[:-1], [row] * (len(mine) - 1), "o", color="#9e9ac8", markersize=3.5)
            dots.plot(mine[-1:], [row], "o", color=SHOWN, markersize=4.5)
        dots.set_title(title, fontsize=11.5, fontweight="bold", loc="left")
        dots.set_ylabel("client")
        dots.set_yticks([])
        dots.text(down / 2, clients + 0.8, "server down", ha="center", fontsize=9.5,
                  color="#a50f15")
        dots.set_ylim(-1, clients + 3)
        every = [at for mine in times for at in mine]
        bins = [i * 0.1 for i in range(int(horizon * 10) + 2)]
        heights, _, _ = counts.hist(every, bins=bins, color="#756bb1")
        counts.set_ylabel("tries per\n0.1 s", fontsize=9)
        counts.set_xlabel("seconds since the server went away")
        counts.text(horizon, max(heights) * 0.9, f"busiest 0.1 s: {int(max(heights))} tries",
                    ha="right", fontsize=9.5)
        counts.set_xlim(0, horizon)
    fig.text(0.5, 0.005, "purple: a refused try · green: the try that got back in",
             ha="center", fontsize=9.5, color="#555555")
    fig.subplots_adjust(left=0.06, right=0.98, top=0.93, bottom=0.14, hspace=0.12, wspace=0.15)
    return fig
