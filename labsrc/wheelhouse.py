"""An offline install for a whole class, built on one machine: ``make wheelhouse``.

Classroom Wi-Fi that 30 laptops share cannot download 130 packages each in the first minutes of a
session. The instructor builds one folder of wheels beforehand, for the students' Linux, macOS
and Windows laptops and the Pythons they may have, copies it to a USB stick or a share, and each
student installs from it with no network::

    python kit.py lab --wheelhouse <folder>          (Windows: py kit.py lab --wheelhouse <folder>)

The wheels are exactly the ones the lock names (``labsrc/locked_wheels.py`` picks, per laptop,
the wheel pip would pick), downloaded from the addresses in ``uv.lock`` and checked against its
hashes, so an install from the folder is the same install as from the network. One folder serves
every laptop: pip takes the wheels that fit and ignores the rest. The build backend that installs
the kit itself (setuptools, from ``[build-system]`` in pyproject.toml) is added too.

    python labsrc/wheelhouse.py [--out wheelhouse] [--python 3.13 ...] [--platform Windows ...]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

import locked_wheels
from locked_wheels import PLATFORMS, ROOT, Target, Wheel, wheels_for

sys.path.insert(0, str(ROOT))  # kit.py, at the top of the repository: the supported Pythons
import kit  # noqa: E402

STUDENTS_LOCK = ROOT / "requirements.txt"


def wanted_wheels(targets: list[Target], lock: Path = STUDENTS_LOCK) -> dict[str, Wheel]:
    """Every wheel some target installs, by file name; fails if a target lacks one."""
    wheels: dict[str, Wheel] = {}
    for target in targets:
        chosen, missing = wheels_for(lock, target)
        if missing:
            names = ", ".join(pin.name for pin in missing)
            raise SystemExit(f"{target}: no wheel in the lock for {names}")
        wheels.update({wheel.filename: wheel for wheel in chosen.values()})
    return wheels


def fetch(wheel: Wheel, folder: Path) -> bool:
    """Download ``wheel`` into ``folder`` unless a good copy is there; True if it downloaded."""
    target = folder / wheel.filename
    if target.exists() and sha256(target) == wheel.sha256:
        return False
    partial = target.with_suffix(".part")
    with urllib.request.urlopen(wheel.url, timeout=60) as response, partial.open("wb") as out:
        while chunk := response.read(1 << 16):
            out.write(chunk)
    if sha256(partial) != wheel.sha256:
        partial.unlink()
        raise SystemExit(f"{wheel.filename}: the download does not match the lock's hash")
    partial.replace(target)
    return True


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_build_backend(folder: Path) -> None:
    """The build backend pip needs to install the kit itself, offline."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--dest", str(folder),
                    *pyproject["build-system"]["requires"]], check=True)


def parse_python(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def main(argv: list[str] | None = None) -> int:
    low, high = kit.supported_pythons()
    every_python = [f"{low[0]}.{minor}" for minor in range(low[1], high[1])]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "wheelhouse",
                        help="the folder to fill (default: wheelhouse/)")
    parser.add_argument("--python", action="append", choices=every_python,
                        help="a Python the students have (default: all of them)")
    parser.add_argument("--platform", action="append", choices=[p.name for p in PLATFORMS],
                        help="a kind of laptop the students have (default: all of them)")
    args = parser.parse_args(argv)
    platforms = [p for p in PLATFORMS if not args.platform or p.name in args.platform]
    pythons = [parse_python(python) for python in args.python or every_python]
    targets = locked_wheels.targets(pythons, tuple(platforms))
    wheels = wanted_wheels(targets)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{len(wheels)} wheels for {len(targets)} kinds of laptop into {args.out}")
    for done, wheel in enumerate(sorted(wheels.values(), key=lambda w: w.filename), 1):
        verb = "downloaded" if fetch(wheel, args.out) else "already there"
        print(f"[{done}/{len(wheels)}] {wheel.filename} ({verb})", flush=True)
    fetch_build_backend(args.out)
    size = sum(path.stat().st_size for path in args.out.iterdir()) / 1e6
    print(f"Done: {size:.0f} MB. Students run: python kit.py lab --wheelhouse {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
