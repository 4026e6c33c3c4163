"""The instructor's offline install (``make wheelhouse``): the right wheels, checked on arrival.

A whole wheelhouse is hundreds of megabytes, so CI fetches one small wheel for real and checks
the choice of wheels offline.
"""

from __future__ import annotations

import urllib.error

import pytest

import locked_wheels
import wheelhouse

LINUX = next(p for p in locked_wheels.PLATFORMS if p.name == "Linux x86_64")
WINDOWS = next(p for p in locked_wheels.PLATFORMS if p.name == "Windows")


def test_one_folder_serves_every_patch_release_of_a_python():
    """Python 3.11.0 to 3.11.4 and 3.11.5 onwards lock different soupsieves: both are there."""
    wheels = wheelhouse.wanted_wheels(locked_wheels.targets([(3, 11)], (LINUX,)))
    soupsieves = sorted(name for name in wheels if name.startswith("soupsieve-"))
    assert len(soupsieves) == 2, soupsieves


def test_windows_gets_its_own_wheels_and_linux_does_not():
    linux = wheelhouse.wanted_wheels(locked_wheels.targets([(3, 13)], (LINUX,)))
    both = wheelhouse.wanted_wheels(locked_wheels.targets([(3, 13)], (LINUX, WINDOWS)))
    assert not any(name.startswith("pywinpty-") for name in linux)
    assert any(name.startswith("pywinpty-") and name.endswith("win_amd64.whl") for name in both)
    assert set(linux) < set(both)


def smallest_wheel() -> locked_wheels.Wheel:
    wheels = wheelhouse.wanted_wheels(locked_wheels.targets([(3, 13)], (LINUX,)))
    return min(wheels.values(), key=lambda wheel: len(wheel.filename))


def test_a_wheel_is_downloaded_and_checked_against_the_lock(tmp_path):
    wheel = smallest_wheel()
    try:
        assert wheelhouse.fetch(wheel, tmp_path) is True
    except urllib.error.URLError as problem:
        pytest.skip(f"needs the network to reach files.pythonhosted.org: {problem}")
    assert wheelhouse.sha256(tmp_path / wheel.filename) == wheel.sha256
    assert wheelhouse.fetch(wheel, tmp_path) is False, "a good copy is not fetched again"


def test_a_download_that_does_not_match_the_hash_is_refused(tmp_path):
    wheel = smallest_wheel()
    forged = locked_wheels.Wheel(wheel.filename, wheel.url, "0" * 64)
    try:
        with pytest.raises(SystemExit, match="does not match the lock's hash"):
            wheelhouse.fetch(forged, tmp_path)
    except urllib.error.URLError as problem:
        pytest.skip(f"needs the network to reach files.pythonhosted.org: {problem}")
    assert list(tmp_path.iterdir()) == []
