# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # E7 · The fan-out lab: what one client that never reads costs everyone
#
# **Time:** 30 minutes (15 teaching, 15 exercises) · **Builds on:**
# [02 · The chat room](02_chat_room.ipynb) (the lecture's `ConnectionManager`, the safe manager,
# and the client that never reads). An elective: take it any time after the core track.
#
# Lesson 02 showed that one client that stops reading freezes the lecture's broadcast for
# everyone. This lab measures it: how long a chat line takes to reach 10 to 500 clients, with
# the lecture's manager and with a safe one, with and without one client that never reads.
#
# ## Questions
#
# - How long does a chat line take to reach everyone, as the room grows?
# - What does one client that never reads cost the others, with each manager?
# - How do you report latency honestly when some lines never arrive?
#
# ## Learning objectives
#
# - Run a fan-out experiment on real sockets and read its table.
# - Compute a percentile that counts lost deliveries as infinitely late, and say why a median
#   alone, or a percentile of what arrived, hides a server that stopped delivering.
# - Plot p50 and p99 latency against the number of clients for two managers, and explain the
#   difference.

# %% [markdown]
# ## 1. The experiment
#
# `fanout_sweep` from `wslab.fanoutlab` starts a real server whose endpoint hands every line it
# receives to the manager you give it, and does nothing else. It connects a crowd of 10, 50, 200
# and then 500 clients, and at each size a sender says 10 lines, 5 ms apart, each stamped with
# the time it was sent. Each client notes when each line arrives; a line's *latency* is arrival
# minus sending. With `stalled=True`, a client that never reads joins before the crowd, and its
# buffers are full by the time the crowd arrives. A line still missing when nothing has arrived
# for 0.3 s counts as *missing*: it is not coming.
#
# The two managers are the lecture's (`wslab.lecture`), which awaits each client's send in turn,
# and the kit's safe manager (`wslab.manager`, a hardened relative of lesson 02's), which gives
# every client an outbox of its own and drops a client whose outbox overflows.
#
# Everything runs in this notebook's process (the server in its thread, 500 clients on the
# kernel's loop), so the absolute numbers depend on your machine: compare the managers within
# one run.
#
# ## 2. Predict, then run
#
# In the run with the lecture's manager, 10 clients and one client that never reads, what do
# the 10 clients get of the 10 lines?
#
# - (a) every line reaches the other clients, a little later
# - (b) some lines reach them, then delivery stops
# - (c) no line reaches anyone
#
# Put your letter between the quotes and run the cell; then run the sweep under it. It takes
# about 10 seconds.

# %%
from wslab.checks.fanout import STALLED

### BEGIN SOLUTION
my_prediction = "c"
### END SOLUTION
### BEGIN STUB
my_prediction = ""  # "a", "b" or "c"
### END STUB
STALLED.predict(my_prediction)

# %%
from wslab.fanoutlab import fanout_sweep
from wslab.lecture import ConnectionManager as LectureManager
from wslab.manager import ConnectionManager as SafeManager

SIZES = (10, 50, 200, 500)
results = {}
for stalled in (False, True):
    for label, factory in (("lecture", LectureManager), ("safe", SafeManager)):
        results[label, stalled] = await fanout_sweep(factory, SIZES, stalled=stalled, lines=10,
                                                     name=label)
for runs in results.values():
    for run in runs:
        print(run.summary())

predicted_it = STALLED.check(results["lecture", True][0])

# %% [markdown]
# ## 3. Read the table
#
# - **Without a stalled client**, both managers deliver every line. The times grow with the
#   room, and which manager is faster, and by how much, changes from run to run: here the
#   server shares one process, and one CPU, with 500 clients. (`make bench`, with the clients
#   in other processes and a steady stream of lines, measures it properly; the README has its
#   table.)
# - **With a stalled client**, the lecture's manager delivers *nothing* to anyone, at every
#   size: its loop is stuck in a send to the client that never reads. The safe manager delivers
#   every line to everyone else: the stalled client's lines pile up in its own outbox, and when
#   that holds more than its limit, that client alone is dropped with 4408.
#
# A **percentile** is the honest way to report latency: the median (p50) says what a typical
# line waits; the 99th percentile (p99) says what the unluckiest 1 in 100 waits, which is what
# users notice. But lines that never arrive must count, as infinitely late, or a server that
# stops delivering would look fast: a percentile of only the lines that arrived describes the
# few that got through.
#
# ## 4. Exercise: a percentile that counts what never arrived
#
# Write `percentile(latencies, missing, fraction)`: `latencies` are the delivery times that were
# measured (in any order), `missing` how many deliveries never happened, and `fraction` the
# percentile as a fraction (0.5 for p50, 0.99 for p99).
#
# Rank all deliveries from fastest to slowest, the missing ones last (infinitely late). The
# percentile is the delivery at rank ⌈fraction × total⌉, where rank 1 is the fastest and the
# rank is at least 1. Return its latency; return `None` ("never") when that rank falls among
# the missing ones, or when there are no deliveries at all.

# %%
import math


### BEGIN SOLUTION
### SOURCE wslab.bench.latency:percentile
### END SOLUTION
### BEGIN STUB
def percentile(latencies, missing, fraction):
    # TODO: the rule above; None for "never".
    raise NotImplementedError("exercise: percentile")
### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.fanout import check_percentile

checked_percentile = check_percentile(percentile)

# %% [markdown]
# ## 5. The plot
#
# Now plot p99 against the number of clients, with `checked_percentile` (yours once it passes).
# A run whose percentile is "never" is drawn as a cross at the top edge of its panel.

# %%
import matplotlib.pyplot as plt

STYLE = {"lecture": ("#d62728", "o"), "safe": ("#1f77b4", "s")}


def plot_fanout(results, fraction):
    """p(fraction) latency against clients; left without, right with a client that never reads."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    measured = [checked_percentile(run.latencies_ms, 0, fraction) or 0
                for runs in results.values() for run in runs]
    never_line = max(measured) * 1.2 or 1.0  # where "never arrived" is drawn
    for ax, stalled in zip(axes, (False, True)):
        for label in ("lecture", "safe"):
            color, marker = STYLE[label]
            runs = results[label, stalled]
            sizes = [run.clients for run in runs]
            values = [checked_percentile(run.latencies_ms, run.missing, fraction) for run in runs]
            ax.plot(sizes, [v if v is not None else float("nan") for v in values],
                    color=color, marker=marker, label=label)
            never = [size for size, v in zip(sizes, values) if v is None]
            ax.plot(never, [never_line] * len(never), linestyle="none", marker="x",
                    markersize=11, markeredgewidth=2.5, color=color)
        ax.axhline(never_line, color="#888888", linestyle=":", linewidth=1)
        ax.annotate("never arrived", (0.02, never_line), xycoords=("axes fraction", "data"),
                    xytext=(0, 9), textcoords="offset points", fontsize=9, color="#555555")
        ax.set_xscale("log")
        ax.set_xticks(SIZES, [str(size) for size in SIZES])
        ax.set_ylim(0, never_line * 1.15)
        ax.set_xlabel("clients")
        ax.set_title("with one client that never reads" if stalled else "every client reads")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"p{round(fraction * 100)} latency (ms)")
    axes[0].legend(loc="center left", fontsize=9)
    fig.tight_layout()
    return fig


plot_fanout(results, 0.99);

# %% [markdown]
# Try `plot_fanout(results, 0.5)` for the median, or run the sweep again with other sizes. What
# would you expect for 1000 clients? (`make bench` measures 100, 500 and 1000, with the clients
# in processes of their own.)
#
# ## Clean up
#
# Each sweep stopped the servers it started; close the figures.

# %% tags=["nbval-check-output"]
plt.close("all")
print("figures closed")

# %% [markdown]
# ## Key points
#
# - One client that never reads stops the lecture's broadcast for everyone, at any size: its
#   loop waits in one send. The safe manager, with an outbox per client, keeps everyone's
#   latency where it was, and drops the client that cannot keep up.
# - Report latency as percentiles (p50 for the typical line, p99 for the unlucky one), and count
#   lines that never arrive as infinitely late, or a stalled server looks fast.
# - Measured in one process, absolute numbers depend on the machine: compare within one run.
#
# The last cell sums up your exercises, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.fanout import EXERCISES
from wslab.checks.progress import show_progress

progress = await show_progress(EXERCISES, globals())
