"""kit.py, the set-up script behind `make lab` and `make test` (and Windows' `py kit.py lab`).

The install itself is exercised for real by every CI run (`make test` on a fresh clone, then a
smoke run on each other supported Python); these tests pin the decisions around it: which
Pythons it takes, what it tells a student whose Python is wrong, where a venv keeps its
programs on Windows, when an install is skipped, and the JupyterLab settings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import kit

ROOT = Path(__file__).resolve().parent.parent


def test_the_supported_pythons_come_from_pyproject(tmp_path):
    assert kit.supported_pythons() == ((3, 11), (3, 15))
    other = tmp_path / "pyproject.toml"
    other.write_text('[project]\nrequires-python = ">=3.12,<3.16"\n', encoding="utf-8")
    assert kit.supported_pythons(other) == ((3, 12), (3, 16))


@pytest.mark.parametrize("version", [(3, 11), (3, 12), (3, 13), (3, 14)])
def test_every_supported_python_is_taken(version):
    assert kit.python_problem(version) is None


def test_an_old_python_is_told_which_to_install_and_how_to_run_again():
    problem = kit.python_problem((3, 10))
    assert "Python 3.10 is too old" in problem
    assert "Python 3.11 to 3.14" in problem
    assert "py -3.14 kit.py lab" in problem and "make lab PYTHON=python3.14" in problem


def test_a_python_newer_than_the_lock_is_told_why_and_what_to_do():
    problem = kit.python_problem((3, 15))
    assert "Python 3.15 is newer than the kit's lock" in problem
    assert "no ready-made downloads" in problem and "install 3.14" in problem


def test_a_wrong_python_stops_before_anything_is_made(tmp_path, monkeypatch):
    monkeypatch.setattr(kit.sys, "version_info", (3, 15, 0, "final", 0))
    with pytest.raises(SystemExit, match="newer than the kit's lock"):
        kit.setup("lab", venv=tmp_path / "venv")
    assert not (tmp_path / "venv").exists()


def test_windows_venvs_keep_their_programs_in_scripts(monkeypatch, tmp_path):
    env = kit.Environment(tmp_path)
    assert env.python == tmp_path / "bin" / "python"
    monkeypatch.setattr(kit.os, "name", "nt")
    assert env.python == tmp_path / "Scripts" / "python.exe"


def test_the_locked_uv_is_installed_with_its_hashes():
    block = kit.locked_block("uv", kit.LOCKS["test"])
    lines = block.splitlines()
    assert lines[0].startswith("uv==") and lines[0].endswith("\\")
    assert len(lines) > 2 and all(line.startswith("    --hash=sha256:") for line in lines[1:])
    assert block in kit.LOCKS["test"].read_text(encoding="utf-8")
    assert kit.locked_block("uv", kit.LOCKS["lab"]) is None  # students do not get uv itself


def test_an_install_is_remembered_until_the_lock_changes(tmp_path, monkeypatch):
    env = kit.Environment(tmp_path)
    assert not env.is_current("lab")
    env.remember("lab", kit.lock_digest("lab"), "uv")
    assert env.is_current("lab")
    assert not env.is_current("test"), "the notebooks' install lacks the test tools"
    env.remember("test", kit.lock_digest("test"), "pip")
    assert env.is_current("test") and env.is_current("lab"), "the tests' install covers both"
    assert json.loads((tmp_path / kit.STAMP).read_text())["installer"] == "pip"
    changed = tmp_path / "requirements-test.txt"
    changed.write_text(kit.LOCKS["test"].read_text() + "# a change\n")
    monkeypatch.setitem(kit.LOCKS, "test", changed)
    assert not env.is_current("test") and not env.is_current("lab")


def test_the_test_install_covers_the_notebooks():
    assert kit.COVERS["test"] >= kit.COVERS["lab"]


@pytest.mark.slow
def test_setup_refuses_arguments_meant_for_pytest():
    result = subprocess.run([sys.executable, str(ROOT / "kit.py"), "setup", "-k", "x"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "unrecognized arguments: -k x" in result.stderr


@pytest.mark.parametrize("fast, xdist, selection", [
    (False, False, []), (False, True, kit.FULL_WORKERS), (True, False, ["-m", "not slow"]),
    (True, True, ["-m", "not slow", "-n", "auto"])])
def test_the_tests_run_with_the_fast_tier_selected_or_not(monkeypatch, fast, xdist, selection):
    ran = []
    monkeypatch.setattr(kit, "has_module", lambda env, name: name == "xdist" and xdist)
    monkeypatch.setattr(kit.subprocess, "call", lambda command, cwd: ran.append(command) or 0)
    assert kit.run_tests(kit.Environment(ROOT / ".venv"), ["-x"], fast=fast) == 0
    assert ran == [[str(kit.Environment(ROOT / ".venv").python), "-m", "pytest", *selection, "-x"]]


def test_fast_is_refused_for_other_commands(capsys):
    with pytest.raises(SystemExit) as refused:
        kit.main(["setup", "--fast"])
    assert refused.value.code == 2 and "--fast is for `test` only" in capsys.readouterr().err


@pytest.mark.parametrize("purpose", ["test", "lab"])
@pytest.mark.slow
def test_setup_does_nothing_when_nothing_changed(purpose):
    """The environment these tests run in was made by kit.py: setting it up again, for the
    tests or for the notebooks (`make lab` after `make test`), installs nothing."""
    venv = Path(sys.prefix)
    if not (venv / kit.STAMP).exists():
        pytest.skip("this environment was not made by kit.py (python kit.py test makes one)")
    result = subprocess.run([sys.executable, str(ROOT / "kit.py"), "setup", "--for", purpose,
                             "--venv", str(venv)], capture_output=True, text=True, check=True)
    assert result.stdout == ""


def test_the_lab_settings_land_in_the_environment_and_keep_others(tmp_path):
    config = tmp_path / "etc" / "jupyter" / "labconfig" / "page_config.json"
    config.parent.mkdir(parents=True)
    config.write_text('{"disabledExtensions": {"other:plugin": true}, "x": 1}', encoding="utf-8")
    assert kit.write_lab_settings(tmp_path) == config
    settings = json.loads(config.read_text(encoding="utf-8"))
    assert settings["x"] == 1 and settings["disabledExtensions"] == {
        "other:plugin": True, "@jupyterlab/apputils-extension:announcements": True}


@pytest.mark.slow
def test_jupyterlab_reads_the_settings_kit_py_writes():
    """JupyterLab's own reader of its sys-prefix page config sees the plugin as disabled."""
    from jupyterlab_server.config import get_static_page_config

    subprocess.run([sys.executable, str(ROOT / "kit.py"), "settings"], check=True,
                   capture_output=True)
    page = get_static_page_config(level="sys_prefix")
    assert page["disabledExtensions"]["@jupyterlab/apputils-extension:announcements"] is True
