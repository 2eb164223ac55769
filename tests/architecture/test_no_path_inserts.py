"""Benchmarks and tools import what they use as packages (issue 12): none puts a folder on
``sys.path`` by hand (the helpers they share with tests live in ``harness.testing`` and
``reference_service.testing``)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _path_edits(source: str) -> list[int]:
    """Lines that call ``sys.path.insert/append/extend``."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("insert", "append", "extend")
        and ast.unparse(node.func.value) == "sys.path"
    ]


def test_benchmarks_and_tools_do_not_edit_sys_path() -> None:
    """No script under benchmarks/, tools/ or scripts/ edits sys.path."""
    found = {
        str(p.relative_to(ROOT)): lines
        for folder in ("benchmarks", "tools", "scripts")
        for p in sorted((ROOT / folder).rglob("*.py"))
        if (lines := _path_edits(p.read_text()))
    }
    assert not found, f"import from a package instead of editing sys.path: {found}"


def test_the_check_sees_an_insert() -> None:
    """The detector flags sys.path.insert and ignores other inserts."""
    assert _path_edits("import sys\nsys.path.insert(0, 'tests')\n") == [2]
    assert _path_edits("xs.insert(0, 1)\n") == []
