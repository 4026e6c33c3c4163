"""The browser code the kit ships from npm is there, complete, at the version pinned.

``labsrc/vendored.py`` is the one table of vendored packages; ``python labsrc/vendored.py
--check`` compares the files with the packages themselves (it needs npm and the network), and
this test checks, offline, that nobody updated a file without the table or the table without
the files.
"""

from __future__ import annotations

import pytest

from vendored import VENDORED


@pytest.mark.parametrize("entry", VENDORED, ids=lambda entry: entry.package)
def test_every_vendored_file_is_committed_at_the_pinned_version(entry):
    missing = [name for name in entry.all_files if not (entry.folder / name).is_file()]
    assert not missing, f"run `python labsrc/vendored.py`: missing {missing}"
    assert entry.installed_version() == entry.version
    assert entry.folder.joinpath("LICENSE").stat().st_size > 500


@pytest.mark.parametrize("entry", VENDORED, ids=lambda entry: entry.package)
def test_no_stray_files_beside_the_vendored_ones(entry):
    present = {str(path.relative_to(entry.folder)) for path in entry.folder.rglob("*")
               if path.is_file()}
    assert present == set(entry.all_files)
