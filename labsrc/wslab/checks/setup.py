"""Lesson 00: is this machine ready for the workshop? And a first exercise, to meet the checks."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import re
import sys
import urllib.request

import websockets

from wslab.answers import setup as answers
from wslab.checks.core import Case, Mistake, check_function
from wslab.checks.predictions import Question
from wslab.checks.progress import Exercise
from wslab.errors import describe_exception

FIX_INSTALL = "run `make lab` again from the kit's folder (on Windows: `py kit.py lab`)"

PACKAGES = ("fastapi", "uvicorn", "websockets", "ipywidgets", "jupyterlab_widgets", "wslab")


def _line(ok: bool, what: str, detail: str) -> bool:
    print(f"{'✅' if ok else '❌'} {what}: {detail}")
    return ok


def supported_pythons() -> tuple[tuple[int, int], tuple[int, int]]:
    """The oldest supported Python and the first one that is not, as the kit's package says."""
    requires = importlib.metadata.metadata("wslab")["Requires-Python"]  # such as "<3.15,>=3.11"
    bound = {operator: (int(major), int(minor)) for operator, major, minor
             in re.findall(r"(>=|<)\s*(\d+)\.(\d+)", requires)}
    return bound[">="], bound["<"]


def _python() -> bool:
    version = ".".join(map(str, sys.version_info[:3]))
    low, high = supported_pythons()
    ok = low <= sys.version_info[:2] < high
    wanted = f"{low[0]}.{low[1]} to {high[0]}.{high[1] - 1}"
    return _line(ok, "Python", version if ok else
                 f"{version}; the kit needs {wanted}: install one and run `make lab` again")


def _packages() -> bool:
    missing = []
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return _line(False, "packages", f"missing {', '.join(missing)}: {FIX_INSTALL}")
    return _line(True, "packages", ", ".join(found))


async def _server() -> bool:
    # Imported here so that a missing package is reported by _packages(), not as a traceback.
    from wslab.chat import create_app
    from wslab.runner import BackgroundServer, ServerStartError

    try:
        server = BackgroundServer(create_app(), name="setup-check").start()
    except ServerStartError as exc:
        return _line(False, "background server", str(exc))
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(server.url + "/", timeout=5) as response:
            health = json.load(response)
        async with websockets.connect(server.ws_url + "/ws/setup", open_timeout=5) as ws:
            welcome = json.loads(await ws.recv())
    except Exception as exc:
        return _line(False, "background server",
                     f"started, but did not answer ({describe_exception(exc)}); a firewall or "
                     "proxy may block connections to 127.0.0.1: ask the instructor")
    finally:
        server.stop()
    ok = health == {"message": "WebSocket Server is running"} and welcome.get("type") == "welcome"
    return _line(ok, "background server", "started, answered HTTP and a WebSocket, stopped"
                 if ok else f"answered strangely: {health!r}, {welcome!r}")


async def check_environment() -> bool:
    """Check Python, the packages and a real server round trip; say how to fix what fails."""
    results = [_python(), _packages()]
    if results[-1]:
        results.append(await _server())
    if all(results):
        print("All set: this machine is ready for the workshop.")
    else:
        print("Fix the ❌ lines above, then restart the kernel and run this cell again.")
    return all(results)


def check_greeting(greeting):
    """The warm-up exercise: ``greeting("Ada")`` must return ``"Hello, Ada!"``."""
    return check_function(greeting, [
        Case(("Ada",), "Hello, Ada!",
             "Compare your text with the expected one character by character: spaces, comma "
             "and exclamation mark included."),
        Case(("Grace Hopper",), "Hello, Grace Hopper!",
             "Use the whole name you are given, spaces and all."),
        Case(("",), "Hello, !", "Add nothing to the name, and leave nothing out."),
    ], name="greeting", reference=answers.greeting, fallback="the kit's greeting",
        mistakes=GREETING_MISTAKES)


GREETING_MISTAKES = [
    Mistake("The text shows {name} itself, not the name: a string needs the f in front to be "
            "an f-string.", makes=lambda name: "Hello, {name}!"),
    Mistake("The comma after Hello is missing.", makes=lambda name: f"Hello {name}!"),
    Mistake("The exclamation mark at the end is missing.", makes=lambda name: f"Hello, {name}"),
    Mistake("There is one space too many: an f-string adds nothing between the text and "
            "{name}, so write the space yourself, once.", makes=lambda name: f"Hello,  {name}!"),
    Mistake("Only the first word of the name is used: use the whole name you are given.",
            makes=lambda name: f"Hello, {name.split()[0]}!"),
    Mistake("An empty name has no first letter to change: use the name as it is, without "
            "changing its case.", raises=IndexError),
]


#: The "predict, then run" question of the lesson: what a call of an async function gives
#: when nobody awaits it.
NO_AWAIT = Question(
    "predict: a call without await",
    options={"a": "it waits a second, then the cell shows None",
             "b": "the cell shows a coroutine object at once, and nothing waited",
             "c": "an error: async functions cannot be called from a cell"},
    classify=lambda value: "b" if inspect.iscoroutine(value) else "a" if value is None else "c",
    why="Calling an async function only makes a coroutine: a plan of work that runs when "
        "something awaits it. Without await nothing happens, and Python later warns that the "
        "coroutine was never awaited. A forgotten await is the most common bug in this "
        "workshop; the checks name it when they see it.")


EXERCISES = (
    Exercise("greeting", check_greeting, reads=("greeting",)),
    NO_AWAIT,
)
