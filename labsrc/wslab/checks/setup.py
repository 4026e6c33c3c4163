"""Lesson 00: is this machine ready for the workshop? And a first exercise, to meet the checks."""

from __future__ import annotations

import importlib.metadata
import json
import sys
import urllib.request

import websockets

from wslab.checks.core import Case, check_function

FIX_INSTALL = ("run `make lab` again from the kit's folder (on Windows: "
               r"`.venv\Scripts\python -m pip install -r requirements.txt -e .`)")

PACKAGES = ("fastapi", "uvicorn", "websockets", "ipywidgets", "jupyterlab_widgets", "wslab")


def _line(ok: bool, what: str, detail: str) -> bool:
    print(f"{'✅' if ok else '❌'} {what}: {detail}")
    return ok


def _python() -> bool:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = (3, 10) <= sys.version_info[:2] <= (3, 13)
    return _line(ok, "Python", version if ok else
                 f"{version}; the kit needs 3.10 to 3.13: install one and run `make lab` again")


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
                     f"started, but did not answer ({type(exc).__name__}: {exc}); a firewall or "
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


def reference_greeting(name: str) -> str:
    return f"Hello, {name}!"


def check_greeting(greeting):
    """The warm-up exercise: ``greeting("Ada")`` must return ``"Hello, Ada!"``."""
    return check_function(greeting, [
        Case(("Ada",), "Hello, Ada!", "Use an f-string: f\"Hello, {name}!\"."),
        Case(("Grace Hopper",), "Hello, Grace Hopper!",
             "Use the whole name you are given, spaces and all."),
        Case(("",), "Hello, !", "Return the text, do not print it; and add nothing else."),
    ], name="greeting", reference=reference_greeting,
        fallback="wslab.checks.setup.reference_greeting")
