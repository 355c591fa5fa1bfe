# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The infinitevggt_ros authors
"""The package's shape: every module says what it owns, no function is too long to read.

Counted with ``ast`` over the source (nothing is imported): a function's length is
``end_lineno - lineno + 1`` of its ``def`` (decorators excluded, docstring included).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "infinitevggt_ros"
MAX_FUNCTION_LINES = 80

#: ``path:qualified.name`` -> why it stays longer than MAX_FUNCTION_LINES (keep this short).
LONG_FUNCTIONS_ALLOWED: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def _functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, node) of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def _long_functions() -> dict[str, int]:
    found = {}
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, node in _functions(tree):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found[f"{_relative(path)}:{name}"] = lines
    return found


@pytest.mark.parametrize("path", _modules(), ids=_relative)
def test_module_has_an_opening_docstring(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstring = ast.get_docstring(tree)
    assert docstring and docstring.strip(), f"{_relative(path)} has no module docstring"


def test_no_function_is_longer_than_the_limit():
    long = _long_functions()
    unexpected = {key: lines for key, lines in long.items() if key not in LONG_FUNCTIONS_ALLOWED}
    assert not unexpected, (
        f"functions longer than {MAX_FUNCTION_LINES} lines (split them): "
        + ", ".join(f"{key} ({lines})" for key, lines in sorted(unexpected.items()))
    )


def test_allowlist_has_no_stale_entries():
    # An entry whose function got short (or was renamed) would hide the next long one.
    stale = sorted(set(LONG_FUNCTIONS_ALLOWED) - set(_long_functions()))
    assert not stale, f"LONG_FUNCTIONS_ALLOWED entries no longer needed: {stale}"
