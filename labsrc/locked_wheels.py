"""Which ready-made wheel of each locked package a given laptop installs, read from the lock alone.

A student's laptop can be Linux, macOS or Windows, with any Python the kit supports, and it
should never have to compile a package: that needs compilers a laptop rarely has, and it takes
minutes on classroom Wi-Fi. ``uv.lock`` lists every wheel of every locked version, with its
address and hash, and the requirements files say, with environment markers, which packages a
given platform needs. Together they answer, offline and without that Python at hand: does the
lock install from wheels on Python 3.14 on Windows? The tests ask that for every supported
Python and the common platforms, and the instructor's offline wheelhouse downloads exactly the
wheels named here.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from packaging.markers import Marker
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parent.parent
UV_LOCK = ROOT / "uv.lock"


@dataclass(frozen=True)
class Platform:
    """An operating system and processor, as wheel tags and environment markers see them."""

    name: str
    sys_platform: str
    os_name: str
    platform_system: str
    platform_machine: str
    #: Wheel platform tags this platform accepts, the most specific first.
    tags: tuple[str, ...]


def _manylinux(machine: str) -> tuple[str, ...]:
    """Tags a current Linux accepts (glibc 2.39 and older), newest first, with the old aliases."""
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(39, 4, -1)]
    aliases = [f"manylinux2014_{machine}", f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    return tuple(tags + aliases)


def _macos(machine: str) -> tuple[str, ...]:
    """Tags macOS 15 accepts on this processor, universal2 builds included."""
    return tuple(mac_platforms((15, 0), machine))


PLATFORMS = (
    Platform("Linux x86_64", "linux", "posix", "Linux", "x86_64", _manylinux("x86_64")),
    Platform("Linux ARM", "linux", "posix", "Linux", "aarch64", _manylinux("aarch64")),
    Platform("macOS Apple silicon", "darwin", "posix", "Darwin", "arm64", _macos("arm64")),
    Platform("macOS Intel", "darwin", "posix", "Darwin", "x86_64", _macos("x86_64")),
    Platform("Windows", "win32", "nt", "Windows", "AMD64", ("win_amd64",)),
)


#: Patch releases a target stands for: the first and the newest. The lock splits a package by
#: patch release at most once (``python_full_version < '3.11.5'``), so these two cover all.
PATCH_RELEASES = (0, 99)


@dataclass(frozen=True)
class Target:
    """A laptop: a CPython version on a platform."""

    python: tuple[int, int]
    platform: Platform
    patch: int = 0

    def __str__(self) -> str:
        patch = "newest patch release" if self.patch else f"{self.python[0]}.{self.python[1]}.0"
        return f"Python {self.python[0]}.{self.python[1]} ({patch}) on {self.platform.name}"

    @cached_property
    def environment(self) -> dict[str, str]:
        """The environment markers of this laptop, for evaluating requirement lines."""
        version = f"{self.python[0]}.{self.python[1]}"
        return {
            "python_version": version, "python_full_version": f"{version}.{self.patch}",
            "implementation_name": "cpython", "platform_python_implementation": "CPython",
            "sys_platform": self.platform.sys_platform, "os_name": self.platform.os_name,
            "platform_system": self.platform.platform_system,
            "platform_machine": self.platform.platform_machine,
        }

    @cached_property
    def tags(self) -> list[Tag]:
        """The wheel tags this laptop's pip accepts, in pip's order of preference."""
        platforms = list(self.platform.tags)
        return (list(cpython_tags(self.python, platforms=platforms))
                + list(compatible_tags(self.python, f"cp{self.python[0]}{self.python[1]}",
                                       platforms)))


@dataclass(frozen=True)
class Wheel:
    filename: str
    url: str
    sha256: str


@dataclass(frozen=True)
class Pin:
    """One line of a requirements file: a package at a version, on the laptops its marker says."""

    name: str
    version: str
    marker: Marker | None

    def applies_to(self, target: Target) -> bool:
        return self.marker is None or self.marker.evaluate(target.environment)


_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)"
                  r"\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$")


@cache
def pins(requirements: Path) -> list[Pin]:
    """The pinned packages of a requirements file written by ``uv export`` (read once)."""
    found = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            marker = match["marker"]
            found.append(Pin(canonicalize_name(match["name"]), match["version"],
                             Marker(marker) if marker else None))
    return found


@cache
def locked_wheels(lock: Path = UV_LOCK) -> dict[tuple[str, str], list[Wheel]]:
    """Every wheel the lock lists, by (package, version) (read once)."""
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    wheels = {}
    for package in data["package"]:
        key = (canonicalize_name(package["name"]), package["version"])
        wheels[key] = [Wheel(entry["url"].rsplit("/", 1)[1], entry["url"],
                             entry["hash"].removeprefix("sha256:"))
                       for entry in package.get("wheels", ())]
    return wheels


def best_wheel(candidates: list[Wheel], target: Target) -> Wheel | None:
    """The wheel pip would pick on ``target``, or None when none installs there."""
    rank = {tag: index for index, tag in enumerate(target.tags)}
    best, best_rank = None, len(rank)
    for wheel in candidates:
        for tag in parse_wheel_filename(wheel.filename)[3]:
            if rank.get(tag, best_rank) < best_rank:
                best, best_rank = wheel, rank[tag]
    return best


def wheels_for(requirements: Path, target: Target, lock: Path = UV_LOCK
               ) -> tuple[dict[str, Wheel], list[Pin]]:
    """The wheel ``target`` installs for each package it needs, and the packages without one."""
    available = locked_wheels(lock)
    chosen, missing = {}, []
    for pin in pins(requirements):
        if not pin.applies_to(target):
            continue
        wheel = best_wheel(available.get((pin.name, pin.version), []), target)
        if wheel is None:
            missing.append(pin)
        else:
            chosen[pin.name] = wheel
    return chosen, missing


def targets(pythons: list[tuple[int, int]], platforms: tuple[Platform, ...] = PLATFORMS
            ) -> list[Target]:
    """Every laptop with one of these Pythons, at its first and newest patch release."""
    return [Target(python, platform, patch) for python in pythons for platform in platforms
            for patch in PATCH_RELEASES]
