"""Set up the kit and start it, the same way on Linux, macOS and Windows.

    python kit.py lab       set up what the notebooks need, then open JupyterLab on lesson 00
    python kit.py test      set up everything the tests need, then run them (extra args go to pytest)
    python kit.py test --fast   the fast tier only: no server, browser, kernel or Redis
    python kit.py setup     set up only (``--for test`` for the test tools too)
    python kit.py settings  write the kit's JupyterLab settings into the running Python's
                            environment (Binder and Codespaces run this after their own install)
    python kit.py lock      maintainers: resolve uv.lock again and regenerate requirements*.txt

``make lab`` and ``make test`` call this script; on Windows, ``py kit.py lab`` does the same.
It needs nothing but the Python that runs it, and uses only the standard library, so that it can
tell a student with a Python that is too old or too new what to do instead of failing half way.

The environment is ``.venv`` (``--venv`` for another one). The packages come from the lock:
``requirements.txt`` for the notebooks, ``requirements-test.txt`` for the tests and slides,
both generated from ``uv.lock`` with every version and hash pinned. They are installed with uv
when it is on the PATH, or else after installing uv into the environment (a few seconds, and
then the packages download in parallel; README.md has the figures), and with plain pip when
that fails or ``--installer pip`` says so. An install is done once and remembered: it runs
again only when the lock changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PYPROJECT = ROOT / "pyproject.toml"
#: The notebook `kit.py lab` opens, and every launch link too: the first lesson of the core track.
FIRST_NOTEBOOK = "notebooks/00_setup.ipynb"

#: What each purpose installs: the lock file, generated from uv.lock's dependency group of the
#: same name (pyproject.toml), and the purposes an install for it covers.
LOCKS = {
    "lab": ROOT / "requirements.txt",
    "test": ROOT / "requirements-test.txt",
}
COVERS = {"lab": {"lab"}, "test": {"lab", "test"}}

#: JupyterLab plugins the kit turns off, and why. They go into the environment's own
#: ``etc/jupyter/labconfig/page_config.json``, the file ``jupyter labextension disable
#: --level=sys_prefix`` writes; writing it here takes no time, where that command takes
#: seconds to tens of seconds.
DISABLED_LAB_PLUGINS = {
    "@jupyterlab/apputils-extension:announcements":
        "no news pop-up asking to fetch news from the internet on the first start",
}

STAMP = ".kit-installed.json"


def say(message: str) -> None:
    print(f"kit: {message}", flush=True)


# -- which Python ---------------------------------------------------------------------------------


def supported_pythons(pyproject: Path = PYPROJECT) -> tuple[tuple[int, int], tuple[int, int]]:
    """The lowest supported Python and the first one not supported, from ``requires-python``.

    Read with a pattern, not ``tomllib``, because a Python older than 3.11 has no ``tomllib``
    and is exactly the one that needs the message.
    """
    text = pyproject.read_text(encoding="utf-8")
    found = re.search(r'^requires-python\s*=\s*">=(\d+)\.(\d+),\s*<(\d+)\.(\d+)"', text, re.M)
    if not found:
        raise SystemExit(f"kit: {pyproject.name} has no requires-python of the form '>=X.Y,<X.Z'")
    low_major, low_minor, high_major, high_minor = map(int, found.groups())
    return (low_major, low_minor), (high_major, high_minor)


def python_problem(version: tuple[int, int], pyproject: Path = PYPROJECT) -> str | None:
    """Why this Python cannot run the kit, in words a student can act on; None when it can."""
    low, high = supported_pythons(pyproject)
    newest = f"{high[0]}.{high[1] - 1}"
    wanted = f"Python {low[0]}.{low[1]} to {newest}"
    this = f"Python {version[0]}.{version[1]}"
    run_again = (f"run this again with it (on Windows: py -{newest} kit.py lab; elsewhere: "
                 f"python{newest} kit.py lab, or make lab PYTHON=python{newest})")
    if version < low:
        return (f"{this} is too old for the kit, which needs {wanted}. Install Python {newest} "
                f"from https://www.python.org/downloads/ and {run_again}.")
    if version >= high:
        return (f"{this} is newer than the kit's lock: some of its packages (pydantic-core, "
                "numpy, ...) have no ready-made downloads for it yet, and building them needs "
                f"compilers a laptop rarely has. The kit supports {wanted}: install {newest} "
                f"beside it and {run_again}.")
    return None


# -- the environment ------------------------------------------------------------------------------


class Environment:
    """A virtual environment for the kit, and what has been installed into it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def bin(self) -> Path:
        return self.folder / ("Scripts" if os.name == "nt" else "bin")

    @property
    def python(self) -> Path:
        return self.bin / ("python.exe" if os.name == "nt" else "python")

    def exists(self) -> bool:
        return self.python.exists()

    def create(self) -> None:
        say(f"creating the environment {self.folder.name}/ with Python "
            f"{sys.version_info.major}.{sys.version_info.minor}")
        subprocess.run([sys.executable, "-m", "venv", str(self.folder)], check=True)

    def installed(self) -> dict:
        try:
            return json.loads((self.folder / STAMP).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def remember(self, purpose: str, digest: str, installer: str) -> None:
        record = {"purpose": purpose, "lock": digest, "installer": installer,
                  "python": ".".join(map(str, sys.version_info[:3]))}
        (self.folder / STAMP).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")

    def is_current(self, purpose: str) -> bool:
        """Whether an earlier install covers ``purpose``, its lock unchanged since."""
        record = self.installed()
        done = record.get("purpose")
        return (done in COVERS and purpose in COVERS[done]
                and record.get("lock") == lock_digest(done))

    def python_version(self) -> str | None:
        """The environment's Python as "3.12", or None when it cannot say."""
        result = subprocess.run([str(self.python), "-c", "import sys; print(*sys.version_info[:2], sep='.')"],
                                capture_output=True, text=True)
        return result.stdout.strip() or None


def lock_digest(purpose: str) -> str:
    """A fingerprint of what an install for ``purpose`` depends on: its lock and pyproject."""
    digest = hashlib.sha256()
    for path in (LOCKS[purpose], PYPROJECT):
        digest.update(path.read_bytes())
    return digest.hexdigest()


# -- installing ------------------------------------------------------------------------------------


def locked_block(name: str, lock: Path) -> str | None:
    """The lines that pin ``name`` in a lock file (version and hashes), or None."""
    lines = lock.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if line.split("==")[0].strip().lower() == name:
            block = [line]
            for follow in lines[index + 1:]:
                if not follow.startswith("    --hash"):
                    break
                block.append(follow)
            return "\n".join(block) + "\n"
    return None


def bootstrap_uv(env: Environment) -> Path | None:
    """Install the locked uv into the environment with pip; its path, or None if that failed."""
    block = locked_block("uv", LOCKS["test"])
    if block is None:
        return None
    say("installing uv into the environment first (it installs the rest in parallel)")
    with tempfile.TemporaryDirectory() as scratch:
        pinned = Path(scratch) / "uv.txt"
        pinned.write_text(block, encoding="utf-8")
        result = subprocess.run([str(env.python), "-m", "pip", "install", "--require-hashes",
                                 "--disable-pip-version-check", "-r", str(pinned)])
    uv = env.bin / ("uv.exe" if os.name == "nt" else "uv")
    if result.returncode != 0 or not uv.exists():
        say("could not install uv; carrying on with pip")
        return None
    return uv


def choose_installer(env: Environment, wanted: str) -> tuple[str, list[str]]:
    """The installer's name and the command that starts ``install`` for this environment."""
    pip = ("pip", [str(env.python), "-m", "pip", "install", "--disable-pip-version-check"])
    if wanted == "pip":
        return pip
    uv = shutil.which("uv")
    if uv is None:
        found = bootstrap_uv(env)
        uv = str(found) if found else None
    if uv is None:
        if wanted == "uv":
            raise SystemExit("kit: --installer uv, but uv could not be found or installed")
        return pip
    # --no-config: the lock alone decides; uv would otherwise apply pyproject.toml's [tool.uv].
    return "uv", [uv, "pip", "install", "--no-config", "--python", str(env.python)]


def install(env: Environment, purpose: str, *, installer: str = "auto",
            wheelhouse: Path | None = None) -> None:
    """Install the locked packages for ``purpose`` and the kit itself, then the lab settings."""
    lock = LOCKS[purpose]
    if wheelhouse is not None:
        name, command = "pip", [str(env.python), "-m", "pip", "install",
                                "--disable-pip-version-check", "--no-index",
                                "--find-links", str(wheelhouse)]
    else:
        name, command = choose_installer(env, installer)
    count = sum(1 for line in lock.read_text(encoding="utf-8").splitlines()
                if re.match(r"^[A-Za-z0-9]", line))
    say(f"installing {count} locked packages from {lock.name} with {name}")
    subprocess.run(command + ["--require-hashes", "-r", str(lock)], check=True)
    say("installing the kit's own package (wslab), editable")
    subprocess.run(command + ["--no-deps", "-e", str(ROOT)], check=True)
    write_lab_settings(env.folder)
    env.remember(purpose, lock_digest(purpose), name)


def write_lab_settings(prefix: Path = Path(sys.prefix)) -> Path:
    """Turn off :data:`DISABLED_LAB_PLUGINS` in the environment at ``prefix``; keep the rest."""
    config = prefix / "etc" / "jupyter" / "labconfig" / "page_config.json"
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        settings = {}
    disabled = settings.setdefault("disabledExtensions", {})
    for plugin, why in DISABLED_LAB_PLUGINS.items():
        say(f"JupyterLab setting: {why}")
        disabled[plugin] = True
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return config


def setup(purpose: str, *, venv: Path, installer: str = "auto",
          wheelhouse: Path | None = None) -> Environment:
    """Make sure ``venv`` has what ``purpose`` needs; install only when something changed."""
    problem = python_problem(sys.version_info[:2])
    if problem:
        raise SystemExit(f"kit: {problem}")
    env = Environment(venv)
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if env.exists() and env.python_version() != running:
        say(f"{venv.name}/ was made with Python {env.python_version()}; making it again with "
            f"Python {running}")
        shutil.rmtree(venv)
    if env.exists() and env.is_current(purpose):
        return env
    if not env.exists():
        env.create()
    install(env, purpose, installer=installer, wheelhouse=wheelhouse)
    say(f"ready: {venv.name}/ has everything for '{purpose}'")
    return env


# -- the lock (maintainers) ----------------------------------------------------------------------


def lock(uv: str, *, upgrade: bool = False) -> None:
    """Resolve uv.lock from pyproject.toml, then write each requirements file from it."""
    subprocess.run([uv, "lock", *(["--upgrade"] if upgrade else [])], cwd=ROOT, check=True)
    for group, path in LOCKS.items():
        subprocess.run([uv, "export", *export_arguments(group), "-o", path.name],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        say(f"wrote {path.name}")


def export_arguments(group: str) -> list[str]:
    """How ``uv export`` writes a group's requirements file: hashes, no kit itself, but what its
    ``notebook`` extra needs (students run the notebooks; the tests run them too)."""
    return ["--frozen", "--no-default-groups", "--group", group, "--extra", "notebook",
            "--no-emit-project",
            "--format", "requirements-txt", "--quiet"]


# -- commands ------------------------------------------------------------------------------------


def run_lab(env: Environment, extra: list[str]) -> int:
    """JupyterLab on the notebooks, opening lesson 00."""
    notebook = ROOT / FIRST_NOTEBOOK
    command = [str(env.python), "-m", "jupyter", "lab", notebook.name, *extra]
    # Jupyter refuses to run as root unless told to; containers and some lab machines are root.
    if hasattr(os, "getuid") and os.getuid() == 0:
        command.append("--allow-root")
    return subprocess.call(command, cwd=notebook.parent)


#: pytest's selection of the fast tier: the tests conftest.py does not mark slow (pyproject.toml's
#: markers say what slow means).
FAST_TIER = ["-m", "not slow"]
#: The fast tier on every core, with pytest-xdist when the environment has it: its tests start
#: no server and no process (conftest.py fails one that does), so they cannot collide.
FAST_WORKERS = ["-n", "auto"]
#: The whole suite, with pytest-xdist when the environment has it: one worker more than the
#: machine has cores, since its tests mostly wait on the servers, kernels and browsers they
#: start (on 2 cores: 27 minutes in one process, about 15 in three). Each test file stays on one
#: worker (``loadfile``), so a file's module-wide server, deck or browser is made once.
#: ``-n 0`` after it runs the suite in one process again.
FULL_WORKERS = ["-n", str((os.cpu_count() or 1) + 1), "--dist", "loadfile"]


def has_module(env: Environment, name: str) -> bool:
    return subprocess.call([str(env.python), "-c", f"import {name}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


def run_tests(env: Environment, extra: list[str], *, fast: bool = False) -> int:
    workers = has_module(env, "xdist")
    if fast:
        selection = FAST_TIER + (FAST_WORKERS if workers else [])
    else:
        selection = FULL_WORKERS if workers else []
    return subprocess.call([str(env.python), "-m", "pytest", *selection, *extra], cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kit.py", description="Set up the workshop kit and start it.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("lab", "test", "setup", "settings", "lock"))
    parser.add_argument("--for", dest="purpose", choices=sorted(LOCKS), default=None,
                        help="what `setup` prepares for (default: lab)")
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv",
                        help="the environment's folder (default: .venv)")
    parser.add_argument("--installer", choices=("auto", "uv", "pip"), default="auto",
                        help="auto: uv when on the PATH or when it installs, else pip")
    parser.add_argument("--wheelhouse", type=Path, default=None,
                        help="install offline from this folder of wheels (the instructor's)")
    parser.add_argument("--upgrade", action="store_true",
                        help="with `lock`: take the newest versions pyproject.toml allows")
    parser.add_argument("--fast", action="store_true",
                        help="with `test`: only the fast tier (unit and room-level tests)")
    args, extra = parser.parse_known_args(argv)
    if extra and args.command in ("setup", "settings", "lock"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.fast and args.command != "test":
        parser.error("--fast is for `test` only")
    if args.command == "settings":
        write_lab_settings()
        return 0
    if args.command == "lock":
        uv = shutil.which("uv") or shutil.which("uv", path=str(Environment(args.venv).bin))
        if uv is None:
            raise SystemExit("kit: the lock needs uv: python kit.py setup --for test installs it")
        lock(uv, upgrade=args.upgrade)
        return 0
    purpose = {"lab": "lab", "test": "test"}.get(args.command, args.purpose or "lab")
    env = setup(purpose, venv=args.venv.resolve(), installer=args.installer,
                wheelhouse=args.wheelhouse)
    if args.command == "lab":
        return run_lab(env, extra)
    if args.command == "test":
        return run_tests(env, extra, fast=args.fast)
    return 0


if __name__ == "__main__":
    sys.exit(main())
