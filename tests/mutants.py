"""Wrong answers made from the right one: the reference answer with one mistake put in.

The checks' tests need many wrong answers, each "the right answer, but with this mistake". Kept
as copies, each would drift from the answer it copies the day the answer changes, and a test
would go on judging an answer nobody teaches any more. So a wrong answer is derived instead: the
source of the right one (``inspect.getsource`` of the answer in :mod:`wslab.answers`, or a
lesson's solution cell), with one piece of text replaced. If that text is no longer in the
answer exactly once, the test fails loudly at collection, naming the text, rather than testing a
mistake the answer cannot make any more.

``mutant(source, old, new)`` works on text (a cell to run in a notebook); ``mutant_of(answer,
name, ...)`` compiles the mutated source of a class or function under a name of its own, the
name a test's id shows. Its source stays readable to ``inspect`` (the checks read a student's
source to name a mistake), as a notebook cell's does.
"""

from __future__ import annotations

import inspect
import linecache
import re
import textwrap
from typing import Any


def mutant(source: str, old: str, new: str) -> str:
    """``source`` with its one occurrence of ``old`` replaced by ``new``; loud unless it is one."""
    found = source.count(old)
    assert found == 1, f"{old!r} stands {found} times in the right answer, not once:\n{source}"
    return source.replace(old, new)


def mutant_of(answer: Any, name: str, *edits: tuple[str, str], **names: Any) -> Any:
    """``answer`` (a class or function) with each ``(old, new)`` of ``edits`` made, named ``name``.

    The mutated source is compiled in a copy of the answer's own module's namespace, so it sees
    the same imports, but as ``__main__``, a notebook cell's module: the checks never pass the
    kit's own code, and this is a student's. The definition is renamed, so a hint that names
    the student's class or function names the mutant (``NoWelcome.handle``). ``names`` are what
    a mistake needs besides the module's own (an exception class it catches instead).
    """
    source = textwrap.dedent(inspect.getsource(answer))
    for old, new in edits:
        source = mutant(source, old, new)
    header = re.search(rf"^((?:async\s+)?def|class)\s+{re.escape(answer.__name__)}\b", source,
                       re.MULTILINE)
    source = f"{source[:header.start()]}{header.group(1)} {name}{source[header.end():]}"
    filename = f"<mutant {name} of {answer.__module__}.{answer.__qualname__}>"
    # As IPython does for a cell: inspect.getsource finds the text in linecache, forever.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    namespace = {**vars(inspect.getmodule(answer)), **names, "__name__": "__main__"}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]
