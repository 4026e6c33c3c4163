"""The Binder, Codespaces and nbgitpuller links, computed from the checkout's GitHub remote."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

import kit
import launch_links
from build_notebooks import lesson_paths

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("remote", [
    "https://github.com/jdoe/ws-kit", "https://github.com/jdoe/ws-kit.git",
    "git@github.com:jdoe/ws-kit.git", "ssh://git@github.com/jdoe/ws-kit.git\n",
])
def test_a_github_remote_gives_owner_and_repository(remote):
    assert launch_links.github_repository(remote) == ("jdoe", "ws-kit")


@pytest.mark.parametrize("remote", ["", "/srv/git/kit", "https://gitlab.com/jdoe/ws-kit.git",
                                    "https://github.com/jdoe"])
def test_any_other_remote_gives_none(remote):
    assert launch_links.github_repository(remote) is None


def test_every_link_opens_the_first_lesson():
    first = lesson_paths([])[0]
    assert kit.FIRST_NOTEBOOK == f"notebooks/{first.stem}.ipynb"
    assert launch_links.binder_url("jdoe", "ws-kit").endswith(
        f"/v2/gh/jdoe/ws-kit/HEAD?urlpath=lab/tree/{kit.FIRST_NOTEBOOK}")
    devcontainer = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert devcontainer["customizations"]["codespaces"]["openFiles"] == [kit.FIRST_NOTEBOOK]


def test_the_nbgitpuller_link_pulls_the_branch_and_opens_lesson_00_in_the_clone():
    url = launch_links.nbgitpuller_url("https://hub.example.edu/", "jdoe", "ws-kit", "spring")
    parts = urlsplit(url)
    assert parts.netloc == "hub.example.edu" and parts.path == "/hub/user-redirect/git-pull"
    assert parse_qs(parts.query) == {
        "repo": ["https://github.com/jdoe/ws-kit"], "branch": ["spring"],
        "urlpath": [f"lab/tree/ws-kit/{kit.FIRST_NOTEBOOK}"]}


def test_the_command_prints_both_buttons(capsys):
    assert launch_links.main(["--remote", "https://github.com/jdoe/ws-kit"]) == 0
    out = capsys.readouterr().out
    assert "mybinder.org/badge_logo.svg" in out and "codespaces.new/jdoe/ws-kit" in out


def test_the_command_says_what_to_do_without_a_github_remote(capsys):
    assert launch_links.main(["--remote", "/srv/git/kit"]) == 1
    assert "--remote https://github.com/" in capsys.readouterr().err
