"""The one reader of the kit's code by name, shared by the notebook and slide builders."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

import pytest

from lesson_sources import SourceError, definition, module_file, source_of
from wslab import envelope, lecture
from wslab.answers import manager as manager_answers

LESSONS = Path(__file__).resolve().parents[1] / "labsrc" / "lessons"


@pytest.mark.parametrize("module, qualname, obj", [
    ("wslab.envelope", "read_message", envelope.read_message),
    ("wslab.lecture", "ConnectionManager", lecture.ConnectionManager),
    ("wslab.lecture", "ConnectionManager.broadcast", lecture.ConnectionManager.broadcast),
    ("wslab.answers.manager", "SafeConnectionManager.connection_count",
     manager_answers.SafeConnectionManager.connection_count.fget),
])
def test_the_source_is_what_python_itself_finds(module, qualname, obj):
    assert source_of(module, qualname) == textwrap.dedent(inspect.getsource(obj)).rstrip("\n")


def test_a_definition_keeps_its_decorators_and_knows_its_lines_and_docstring():
    found = definition(module_file("wslab.answers.manager"),
                       "SafeConnectionManager.connection_count")
    assert found.lines[0].strip() == "@property"
    assert found.code.startswith("@property\ndef connection_count(self)")
    assert found.last - found.first + 1 == len(found.lines)


def test_a_docstring_is_found_by_its_lines():
    found = definition(module_file("wslab.envelope"), "read_message")
    assert found.docstring == range(found.first + 1, found.first + 2)


def test_a_function_inside_a_function_is_found_by_its_path():
    found = definition(module_file("wslab.lecture"), "create_lecture_app.websocket_endpoint")
    assert found.lines[0].lstrip().startswith("@app.websocket")
    assert "def websocket_endpoint" in found.code


def test_a_lesson_is_read_as_a_file_top_level_await_and_all():
    stub = definition(LESSONS / "E2_hardening_the_endpoint.py", "reply")
    assert 'raise NotImplementedError("exercise: reply")' in stub.code


def test_a_definition_without_a_docstring_has_an_empty_docstring_range():
    assert definition(module_file("wslab.answers.chat"), "reply").docstring == range(0)


@pytest.mark.parametrize("module, qualname, words", [
    ("wslab.lecture", "NoSuchManager", "labsrc/wslab/lecture.py has no NoSuchManager"),
    ("wslab.lecture", "ConnectionManager.nothing", "(no 'nothing')"),
    ("wslab.no_such_module", "x", "no module wslab.no_such_module"),
])
def test_a_name_that_moved_is_named_in_the_error(module, qualname, words):
    with pytest.raises(SourceError, match=re.escape(words)):
        source_of(module, qualname)
