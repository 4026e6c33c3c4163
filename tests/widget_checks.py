"""What the tests of the two widget lessons' checks share.

A fast reconnect policy; a guard that no check leaves a widget open; and what a widget check
says besides its verdict: that the notebook carries on with the kit's class.

The guard is a fixture, declared for every test by the root ``conftest.py``; a test module puts
it around all its tests with ``pytestmark = pytest.mark.usefixtures("no_widget_left_open")``.
"""

from __future__ import annotations

from typing import Any

import pytest

from verdicts import failure, verdict
from wslab.reconnect import ReconnectPolicy
from wslab.widgets import _live

#: Fast reconnects, so that the tests need not wait for the real delays.
FAST_POLICY = ReconnectPolicy(first=0.05, cap=0.2)


@pytest.fixture
def no_widget_left_open():
    """Whatever the verdict, a check closes every widget it made."""
    before = set(_live)
    yield
    assert set(_live) == before


def carries_on(name: str, kept: type) -> str:
    """All a widget check prints for an untouched stub: not done, and the kit's class goes on."""
    return (f"⏳ {name}: not done yet.\n"
            f"   The notebook carries on with the kit's {kept.__name__} for now.\n")


def wrong_widget(given_back: Any, kept: type, name: str, capsys, *words: str) -> str:
    """Assert the widget check ``name`` failed with ``words``, and the notebook kept ``kept``."""
    assert given_back is kept, given_back
    out = failure(verdict(capsys), name, *words)
    assert f"carries on with the kit's {kept.__name__}" in out
    return out
