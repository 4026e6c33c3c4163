# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · Setup: is everything ready?
#
# **Time:** 20 minutes (12 teaching, 8 exercises) · **Builds on:** nothing: start here.
#
# This workshop builds a real-time chat with FastAPI and WebSockets, step by step, in notebooks
# like this one. Before the first lesson, this notebook checks that your machine has what the
# workshop needs, shows you how the kit works, and lets you try one small exercise.
#
# ## Questions
#
# - Is my machine ready for the workshop?
# - How do the notebooks, their self-checks and the `wslab` package fit together?
#
# ## Learning objectives
#
# - Check that Python, the packages and a local server work on this machine, and fix what does not.
# - Know the parts of the kit: `notebooks/`, `solutions/`, and the `wslab` package.
# - Do an exercise and run its self-check; predict what a piece of code does, then run it.

# %% [markdown]
# ## 1. Check the machine
#
# Run the next cell (click into it and press **Shift+Enter**). It checks your Python, the
# packages, and then starts a small chat server *inside this notebook*, talks to it over HTTP and
# over a WebSocket, and stops it again. Every line should start with ✅. A ❌ line says how to fix it.
#
# The `await` at the start of the line is allowed here: Jupyter runs every cell inside an
# event loop that is already running, so a cell can wait for network answers directly. You
# will use this all the time.
#
# If a cell ever keeps running (the `[*]` beside it never turns into a number) and the
# **Interrupt** button (■) does not stop it, use **Kernel → Restart Kernel**, then run the
# cells from the top again. The checks stop most runaway loops by themselves after a few
# seconds, but not every one.

# %% tags=["nbval-check-output"]
from wslab.checks.setup import check_environment

ready = await check_environment()

# %% [markdown]
# ## 2. Check the widgets
#
# Lesson 04 builds a chat window out of *widgets*: buttons, text boxes and labels drawn by
# JupyterLab and driven by Python. Run the cell below: you should see a slider and, under it, a
# line that changes when you move the slider.
#
# If you see `Loading widget...` or a line of text such as `IntSlider(value=3, ...)` instead,
# the widget extension is missing from JupyterLab: close JupyterLab, run `make lab` again, and
# reload the page.

# %%
import ipywidgets as widgets

slider = widgets.IntSlider(value=3, min=1, max=10, description="Clients:")
label = widgets.HTML()


def show_clients(change=None):
    label.value = f"<b>{slider.value}</b> clients would be connected."


slider.observe(show_clients, names="value")
show_clients()
widgets.VBox([slider, label])

# %% [markdown]
# ## 3. How the kit works
#
# | where | what it holds |
# |---|---|
# | `notebooks/` | the lessons, with exercises for you to complete (this is where you work) |
# | `solutions/` | the same lessons, completed: look there when you are stuck, or afterwards |
# | `wslab` | a Python package with the reference chat server, helpers and the self-checks |
#
# Each lesson states its objectives and time at the top, and ends with key points.
# Exercises look like the cell below: a function with a `# TODO`, a hint, and
# `raise NotImplementedError`. Replace that line with your code. The cell after each exercise is
# a **self-check**: it runs your code on a few inputs and says either ✅, or a hint that names
# the mistake, then exactly what it tried, what it expected and what it got.
#
# Stuck? Leave it. An unfinished exercise prints "not done yet", and the notebook carries on with
# the kit's own version, so the next steps still work. Come back to it later.
#
# The check gives back what the rest of the notebook uses: your code once it passes, the kit's
# until then. The notebook keeps that under a name of its own (below, `checked_greeting`), so
# your `greeting` always stays yours, and running the check again always checks *your* code.
# If you edit an exercise, run its cell again before its check: the check sees what the kernel
# holds, not what the cell shows.
#
# ## 4. Exercise: your first self-check
#
# Write `greeting(name)` so that it **returns** the text `Hello, <name>!`, for example
# `greeting("Ada")` returns `"Hello, Ada!"`.

# %%
def greeting(name: str) -> str:
    ### BEGIN SOLUTION
    return f"Hello, {name}!"
    ### END SOLUTION
    ### BEGIN STUB
    # TODO: return the greeting for `name`. Hint: an f-string, f"...{name}...".
    raise NotImplementedError("exercise: greeting")
    ### END STUB


# %% tags=["nbval-check-output"]
from wslab.checks.setup import check_greeting

checked_greeting = check_greeting(greeting)

# %% [markdown]
# Try it: change your function so that it prints the greeting instead of returning it, run the
# function cell and then the check again, and read what the check tells you. Then fix it back.
#
# ## 5. Predict, then run
#
# Some cells ask you to **predict** what a piece of code will do before you run it. Writing your
# guess down first makes the surprise, if there is one, stick.
#
# The `await` you met in section 1 waits for an *async function*. What happens when you call
# one **without** `await`? `asyncio.sleep(1)` is an async function that waits one second.
#
# - (a) it waits a second, then the cell shows None
# - (b) the cell shows a coroutine object at once, and nothing waited
# - (c) an error: async functions cannot be called from a cell
#
# Put your letter between the quotes and run the cell. Then run the demo under it.

# %%
from wslab.checks.setup import NO_AWAIT

### BEGIN SOLUTION
my_prediction = "b"
### END SOLUTION
### BEGIN STUB
my_prediction = ""  # "a", "b" or "c"
### END STUB
NO_AWAIT.predict(my_prediction)

# %%
import asyncio

what_a_call_gives = asyncio.sleep(1)  # no await
print(what_a_call_gives)
NO_AWAIT.check(what_a_call_gives)
what_a_call_gives.close()  # we never run it: say so, and Python does not warn about it

# %% [markdown]
#
# ## Key points
#
# - Run cells top to bottom with **Shift+Enter**; a cell may use `await` directly.
# - Work in `notebooks/`; the answers are in `solutions/`, and the package `wslab` has the
#   reference code.
# - Every exercise has a self-check. "Not done yet" is fine: the notebook carries on without you.
# - Calling an async function without `await` only makes a coroutine: nothing runs.
# - A cell that never ends and ignores Interrupt: restart the kernel.
#
# **Next:** [01 · A first endpoint](01_first_endpoint.ipynb): a WebSocket server of your own.
#
# The last cell of every notebook sums up your exercises, judged on your code as it is now.

# %% tags=["nbval-check-output"]
from wslab.checks.progress import show_progress
from wslab.checks.setup import EXERCISES

progress = await show_progress(EXERCISES, globals())
