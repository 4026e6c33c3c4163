"""The links that open this kit on Binder, in GitHub Codespaces and on a JupyterHub.

They depend on where the kit lives on GitHub, which differs for every instructor who forks it,
so the kit computes them from the checkout's own ``origin`` remote instead of keeping one
author's links in the README::

    python labsrc/launch_links.py [--hub https://hub.example.edu] [--branch main]

prints the Binder and Codespaces buttons (Markdown to paste into a README or a course page) and,
with ``--hub``, the nbgitpuller link that copies the notebooks into each student's home on that
hub and opens lesson 00.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # kit.py, at the top
from kit import FIRST_NOTEBOOK  # noqa: E402

_GITHUB = re.compile(r"^(?:https://github\.com/|git@github\.com:|ssh://git@github\.com/)"
                     r"(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+?)(?:\.git)?/?$")


def github_repository(remote_url: str) -> tuple[str, str] | None:
    """(owner, repository) of a GitHub remote address, or None for any other address."""
    match = _GITHUB.match(remote_url.strip())
    return (match["owner"], match["repo"]) if match else None


def binder_url(owner: str, repo: str, ref: str = "HEAD") -> str:
    return f"https://mybinder.org/v2/gh/{owner}/{repo}/{ref}?urlpath=lab/tree/{FIRST_NOTEBOOK}"


def codespaces_url(owner: str, repo: str) -> str:
    return f"https://codespaces.new/{owner}/{repo}?quickstart=1"


def nbgitpuller_url(hub: str, owner: str, repo: str, branch: str = "main") -> str:
    """A link that pulls the kit into the student's home on ``hub`` and opens lesson 00.

    nbgitpuller clones into a folder named after the repository, hence ``repo/`` in the path.
    """
    query = urlencode({"repo": f"https://github.com/{owner}/{repo}", "branch": branch,
                       "urlpath": f"lab/tree/{repo}/{FIRST_NOTEBOOK}"}, quote_via=quote)
    return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def badges(owner: str, repo: str) -> str:
    """The two buttons, as Markdown."""
    return (f"[![Launch on Binder](https://mybinder.org/badge_logo.svg)]({binder_url(owner, repo)})\n"
            f"[![Open in GitHub Codespaces](https://github.com/codespaces/badge.svg)]"
            f"({codespaces_url(owner, repo)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remote", default=None,
                        help="a GitHub address (default: this checkout's `origin`)")
    parser.add_argument("--hub", help="your JupyterHub's address, for the nbgitpuller link")
    parser.add_argument("--branch", default="main", help="the branch students pull (main)")
    args = parser.parse_args(argv)
    remote = args.remote or subprocess.run(
        ["git", "remote", "get-url", "origin"], capture_output=True, text=True).stdout
    found = github_repository(remote)
    if found is None:
        print("This checkout has no GitHub remote called origin: push the kit to GitHub, or "
              "give its address with --remote https://github.com/<owner>/<repository>.",
              file=sys.stderr)
        return 1
    print(badges(*found))
    if args.hub:
        print(f"\nnbgitpuller: {nbgitpuller_url(args.hub, *found, branch=args.branch)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
