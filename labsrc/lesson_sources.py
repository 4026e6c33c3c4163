"""The kit's code read by name: one reader for the notebook builder, the slide builder and the
lesson timer.

A lesson's solution (``### SOURCE module:name`` in ``build_notebooks.py``) and a slide
(``@code module:name`` in ``slides/build.py``) both show a function or class of the kit as it
is *now*, so that neither keeps a second copy that can drift. Both find it here, the same way:
by its qualified name (``Class.method``, ``outer.inner``) in the syntax tree of its file. The
file is read, never imported, so a lesson source (top-level ``await`` and all) can be read like
a module of the package.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["Definition", "SourceError", "definition", "docstring_lines", "module_file",
           "source_of"]


class SourceError(LookupError):
    """A name or module that is not where a lesson or slide says: the code moved or was renamed."""


@dataclasses.dataclass(frozen=True)
class Definition:
    """One function or class as its file has it: its lines, decorators included, and where."""

    lines: list[str]
    #: Line numbers in the file, from 1: the first (its first decorator) and the last.
    first: int
    last: int
    #: The line numbers of its docstring (empty when it has none).
    docstring: range

    @property
    def code(self) -> str:
        """The definition's text, dedented: as it would be written at the top of a module."""
        return textwrap.dedent("\n".join(self.lines)).strip("\n")


def module_file(module: str) -> Path:
    """The file of an importable module (``wslab.lecture``), found without running it."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise SourceError(f"no module {module}")
    return Path(spec.origin)


def definition(file: Path, qualname: str) -> Definition:
    """The definition of ``qualname`` in ``file``.

    Each part of the name is looked for among the direct children of the part before it
    first, then anywhere inside it, so ``create_app.websocket_endpoint`` finds an endpoint
    defined in a function's body, under a decorator or an ``if``.
    """
    source = file.read_text(encoding="utf-8")
    tree = compile(source, str(file), "exec",
                   flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    node: ast.AST = tree
    for name in qualname.split("."):
        inside = [child for child in ast.walk(node) if child is not node and isinstance(
            child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and child.name == name]
        direct = [child for child in getattr(node, "body", []) if child in inside]
        if not inside:
            raise SourceError(f"{_shown(file)} has no {qualname} (no {name!r}): the code moved "
                              "or was renamed")
        node = (direct or inside)[0]
    first = min([decorator.lineno for decorator in node.decorator_list] + [node.lineno])
    return Definition(source.splitlines()[first - 1: node.end_lineno], first, node.end_lineno,
                      docstring_lines(node))


def docstring_lines(node: ast.AST) -> range:
    """The line numbers of the docstring of a module, class or function node (empty if none)."""
    body = getattr(node, "body", None)
    if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
        return range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1)
    return range(0)


def source_of(module: str, qualname: str) -> str:
    """The dedented source of ``qualname`` in an importable ``module``."""
    return definition(module_file(module), qualname).code


def _shown(file: Path) -> str:
    """A file as a message names it: from the repository's root when it is in it."""
    return str(file.relative_to(ROOT)) if file.is_relative_to(ROOT) else str(file)
