"""The one-click environments: Binder (``binder/``) and GitHub Codespaces (``.devcontainer/``).

- Binder builds its image with repo2docker. ``jupyter-repo2docker --no-build --debug`` writes
  the Dockerfile it would build without needing Docker, so the test runs it on a copy of the
  repository as a commit would hold it (tracked files and new ones that are not ignored; no
  ``.venv``, no test artifacts) and reads the Dockerfile: the Python of ``runtime.txt``,
  ``redis-server`` from ``apt.txt``, the students' requirements and the kit's package, then
  ``postBuild`` writing the JupyterLab settings. The platform is fixed to ``linux/amd64``, the
  one mybinder.org builds for, so the answer does not depend on this machine.
- Codespaces reads ``.devcontainer/devcontainer.json``: plain JSON, the same Python as Binder,
  the ports the kit's commands listen on forwarded and labelled, and ``make setup`` as the setup.

What a browser sees behind JupyterHub's and Binder's base URL is in ``test_chat_page_proxy.py``;
the Codespaces address of a page is in ``test_display.py``. Nothing here can build the image
or start a codespace: that needs Docker and GitHub.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_server import DEFAULT_JUPYTER_SERVER_PORT

from kit import DISABLED_LAB_PLUGINS
from wslab.__main__ import build_parser

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
DEVCONTAINER = ROOT / ".devcontainer" / "devcontainer.json"

MISSING_REPO2DOCKER = "the Binder test needs repo2docker: pip install jupyter-repo2docker"
NOT_A_CHECKOUT = "the Binder test copies the repository with git: run it in a git checkout"

#: The serve command's default port (``make serve``), from the kit's own command line.
SERVE_PORT = build_parser().parse_args(["serve"]).port


def required(problem: str) -> None:
    """Skip the calling test with ``problem``, or fail when CI is set (as the browser tests do:
    CI must run everything)."""
    if os.environ.get("CI"):
        pytest.fail(f"{problem} (required when CI is set)", pytrace=False)
    pytest.skip(problem)


def binder_python() -> str:
    """The Python version ``binder/runtime.txt`` asks for (``python-3.13`` gives ``3.13``)."""
    name, _, version = (BINDER / "runtime.txt").read_text(encoding="utf-8").strip().partition("-")
    assert name == "python", name
    return version


# -- Binder ----------------------------------------------------------------------------------------

def committed_copy(target: Path) -> Path:
    """Copy what a commit of the working tree would hold into ``target``."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True, check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        required(NOT_A_CHECKOUT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not copied
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="module")
def repo2docker(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """repo2docker's answer for a copy of the repository: the ``dockerfile`` it prints, its
    ``log``, and where the ``copy`` is."""
    if importlib.util.find_spec("repo2docker") is None:
        required(MISSING_REPO2DOCKER)
    copy = committed_copy(tmp_path_factory.mktemp("repository"))
    # The user Binder builds with (repo2docker's default is whoever runs it: root, in CI).
    result = subprocess.run(
        [sys.executable, "-m", "repo2docker", "--no-build", "--debug",
         "--user-id", "1000", "--user-name", "jovyan",
         "--Repo2Docker.platform=linux/amd64", str(copy)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return {"dockerfile": result.stdout, "log": result.stderr, "copy": str(copy)}


def build_step(dockerfile: str, pattern: str) -> int:
    """Where in the Dockerfile the one line matching ``pattern`` is (its offset)."""
    found = [match.start() for match in re.finditer(pattern, dockerfile, re.MULTILINE)]
    assert len(found) == 1, f"{len(found)} lines match {pattern!r} in:\n{dockerfile}"
    return found[0]


@pytest.mark.slow
def test_binder_builds_the_python_of_runtime_txt(repo2docker):
    """repo2docker's own default is 3.10; ``runtime.txt`` asks for 3.13, and repo2docker
    builds its conda environment from the lock file of that version."""
    import escapism

    version = binder_python()
    assert version == "3.13"
    assert f"Building conda environment for python={version}" in repo2docker["log"]
    dockerfile = repo2docker["dockerfile"]
    source = re.search(r"^COPY --chown=\S+ build_script_files/(\S+)-[0-9a-f]+ "
                       r"/tmp/env/environment\.lock$", dockerfile, re.MULTILINE)
    assert source, dockerfile
    lock = Path(escapism.unescape(source.group(1), escape_char="-"))
    assert lock.name == f"environment.py-{version}-linux-64.lock"


@pytest.mark.slow
def test_binder_installs_redis_server_with_apt(repo2docker):
    install = build_step(repo2docker["dockerfile"],
                         r"^apt-get install --yes --no-install-recommends .*\bredis-server\b")
    assert install < build_step(repo2docker["dockerfile"], r"^COPY --chown=1000:1000 src/ ")


@pytest.mark.slow
def test_binder_installs_the_locked_requirements_after_copying_the_repository(repo2docker):
    """``binder/requirements.txt`` is ``-r ../requirements.txt``, the students' lock: a local
    reference, so repo2docker installs it once the whole repository is in the image, from the
    repository's root, as the student's user (``jovyan``)."""
    dockerfile = repo2docker["dockerfile"]
    copied = build_step(dockerfile, r"^COPY --chown=1000:1000 src/ \$\{REPO_DIR\}/$")
    user = dockerfile.index("USER ${NB_USER}", copied)
    pip = build_step(dockerfile,
                     r'^RUN \$\{KERNEL_PYTHON_PREFIX\}/bin/pip install --no-cache-dir '
                     r'-r "binder/requirements\.txt"$')
    assert copied < user < pip
    lines = [line.split("#")[0].strip()
             for line in (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines()]
    assert [line for line in lines if line] == ["-r ../requirements.txt"]
    assert (ROOT / "requirements.txt").is_file()


@pytest.mark.slow
def test_binder_installs_the_kit_and_writes_the_jupyterlab_settings_last(repo2docker, tmp_path):
    """``postBuild`` runs after the locked packages, as the student's user: it installs the kit
    without dependencies (the lock has them; pip refuses an unhashed requirement in a hashed
    file, so it cannot go into ``requirements.txt``), then writes the JupyterLab settings with
    the same step as a local install, into the environment of the ``python`` it runs."""
    dockerfile = repo2docker["dockerfile"]
    pip = build_step(dockerfile, r'^RUN .*pip install .*-r "binder/requirements\.txt"$')
    post_build = build_step(dockerfile, r"^RUN \./binder/postBuild$")
    assert pip < post_build < build_step(dockerfile, r"^ENTRYPOINT ")
    assert dockerfile.rindex("USER ${NB_USER}", 0, post_build) > pip
    script = (BINDER / "postBuild").read_text(encoding="utf-8")
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    commands = [line for line in script.splitlines() if line and not line.startswith(("#", "set "))]
    assert commands == ["python -m pip install --no-cache-dir --no-deps -e .",
                        "python kit.py settings"]

    # The settings step, run as postBuild runs it (from the repository's root) with the
    # Python of a fresh environment, writes that environment's JupyterLab settings.
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    ran = subprocess.run([str(python), "kit.py", "settings"], cwd=repo2docker["copy"],
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    page_config = json.loads((env / "etc" / "jupyter" / "labconfig" / "page_config.json")
                             .read_text(encoding="utf-8"))
    assert page_config["disabledExtensions"] == {plugin: True for plugin in DISABLED_LAB_PLUGINS}


# -- Codespaces ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def devcontainer() -> dict:
    """``devcontainer.json``, read as plain JSON (no comments, no trailing commas)."""
    return json.loads(DEVCONTAINER.read_text(encoding="utf-8"))


def test_codespaces_uses_the_same_python_as_binder(devcontainer):
    image, _, tag = devcontainer["image"].rpartition(":")
    assert image == "mcr.microsoft.com/devcontainers/python"
    assert tag == binder_python()


def test_codespaces_forwards_the_kit_s_ports_with_labels(devcontainer):
    """JupyterLab's default port and ``make serve``'s, each labelled in the Ports view. The
    notebooks' servers listen on free ports, so they cannot be listed: they are forwarded when
    VS Code sees them (the frame's Codespaces address needs that), without a pop-up each."""
    ports = [DEFAULT_JUPYTER_SERVER_PORT, SERVE_PORT]
    assert devcontainer["forwardPorts"] == ports
    for port in ports:
        assert devcontainer["portsAttributes"][str(port)]["label"]
    assert devcontainer["otherPortsAttributes"]["onAutoForward"] == "silent"


def test_codespaces_sets_up_the_kit_as_the_makefile_does(devcontainer):
    steps = devcontainer["postCreateCommand"]
    assert steps["kit"] == "make setup"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^setup:", makefile, re.MULTILINE)
    assert re.search(r"\bapt-get install\b.*\bredis-server\b", steps["redis"])
    # VS Code's notebooks and terminals use the environment ``make setup`` made.
    scripts = re.search(r"^BIN\s*:?=\s*(\S+)", makefile, re.MULTILINE)
    assert scripts, "the Makefile names the environment's scripts folder in BIN"
    python = devcontainer["customizations"]["vscode"]["settings"]["python.defaultInterpreterPath"]
    assert python == f"${{containerWorkspaceFolder}}/{scripts.group(1)}/python"
    assert devcontainer["remoteEnv"]["PATH"].startswith(
        f"${{containerWorkspaceFolder}}/{scripts.group(1)}:")
    for name in devcontainer["customizations"]["codespaces"]["openFiles"]:
        assert (ROOT / name).is_file(), name
