"""Browser code the kit ships from npm packages, pinned, so that nothing loads from the network.

The deck runs on reveal.js, and the accessibility tests run axe-core inside Chromium. Both must
work in a classroom without Wi-Fi and on a CI machine with a closed network, from a fresh clone
with only Python installed. So the few files the kit needs are committed, next to the package's
licence and its ``package.json`` (which says the version), and this table is the one place that
says which package, which version and which files.

Refresh them (needs Node's ``npm`` and the network), after changing a version below::

    python labsrc/vendored.py            # fetch each package with `npm pack`, copy its files
    python labsrc/vendored.py --check    # fail if a committed file differs from its package

The tests check, offline, that every file listed here is committed and that each folder's
``package.json`` has the version pinned here.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Files every vendored folder keeps besides the ones it uses: the version and the licence.
PROVENANCE = ("package.json", "LICENSE")


@dataclass(frozen=True)
class Vendored:
    """One npm package: ``files`` are paths inside the package, copied to ``folder``."""

    package: str
    version: str
    folder: Path
    files: tuple[str, ...]

    @property
    def all_files(self) -> tuple[str, ...]:
        return PROVENANCE + self.files

    def installed_version(self) -> str | None:
        """The version in the committed ``package.json``, or None when it is missing."""
        manifest = self.folder / "package.json"
        if not manifest.is_file():
            return None
        return json.loads(manifest.read_text(encoding="utf-8"))["version"]


VENDORED = (
    Vendored(
        package="reveal.js",
        version="6.0.2",
        folder=ROOT / "slides" / "vendor" / "reveal.js",
        files=(
            "dist/reset.css",
            "dist/reveal.css",
            "dist/reveal.js",
            "dist/plugin/notes.js",
            "dist/plugin/highlight.js",
        ),
    ),
    Vendored(
        package="axe-core",
        version="4.14.1",
        folder=ROOT / "tests" / "vendor" / "axe-core",
        files=("axe.min.js",),
    ),
)


def unpack(entry: Vendored, into: Path) -> Path:
    """Fetch the pinned package with ``npm pack`` and unpack it; return its root folder."""
    spec = f"{entry.package}@{entry.version}"
    result = subprocess.run(["npm", "pack", "--silent", spec], cwd=into, check=True,
                            capture_output=True, text=True)
    tarball = into / result.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        archive.extractall(into, filter="data")
    return into / "package"


def refresh(entry: Vendored, *, check: bool) -> list[str]:
    """Copy the package's files into place (or, with ``check``, list those that differ)."""
    differ = []
    with tempfile.TemporaryDirectory() as scratch:
        package = unpack(entry, Path(scratch))
        for name in entry.all_files:
            source, target = package / name, entry.folder / name
            if check:
                if not target.is_file() or not filecmp.cmp(source, target, shallow=False):
                    differ.append(str(target.relative_to(ROOT)))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    return differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare the committed files with the packages; change nothing")
    args = parser.parse_args(argv)
    if shutil.which("npm") is None:
        print("This needs Node's npm (https://nodejs.org).", file=sys.stderr)
        return 2
    differ = []
    for entry in VENDORED:
        differ += refresh(entry, check=args.check)
        if not args.check:
            print(f"{entry.package} {entry.version} -> {entry.folder.relative_to(ROOT)}")
    for name in differ:
        print(f"differs from its package: {name}", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
