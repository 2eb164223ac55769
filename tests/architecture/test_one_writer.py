"""One atomic writer (issue 12): no module under ``harness/`` writes a named file by hand.

Every artifact goes through ``harness.files`` (temp file, fsync, ``os.replace``), so a crash never
leaves a half-written file under its real name. The few places that must write in place say why in
:data:`_IN_PLACE`; anything else that opens a path for writing fails here, with the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: file -> why it writes in place (each is not an artifact, or is crash-safe by construction).
_IN_PLACE = {
    "harness/measure/intervallog.py": "an append-only log, one write per slice, torn tail ignored",
    "harness/audit/repair.py": "truncates a torn audit segment in place (quarantined first)",
    "harness/chaos/cgroups.py": "kernel control files under /sys/fs/cgroup",
    "harness/netns/namespace.py": "a sysctl under /proc inside a namespace",
    "harness/cli/_app.py": "points stdout at /dev/null after a broken pipe",
}
_WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"}


def _mode_writes(call: ast.Call, position: int) -> bool:
    """Whether an ``open`` call's mode (argument ``position`` or ``mode=``) can write."""
    mode: ast.expr | None = call.args[position] if len(call.args) > position else None
    for kw in call.keywords:
        if kw.arg == "mode":
            mode = kw.value
    if mode is None:
        return False
    if not isinstance(mode, ast.Constant) or not isinstance(mode.value, str):
        return True  # a computed mode: assume it writes
    return any(c in mode.value for c in "wax+")


def _hand_writes(tree: ast.AST) -> list[int]:
    """Lines that open a named file for writing without the atomic writer."""
    lines: list[int] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open" and _mode_writes(node, 1):
            lines.append(node.lineno)
        elif isinstance(func, ast.Attribute):
            base = func.value
            is_os = isinstance(base, ast.Name) and base.id == "os"
            if func.attr in ("write_text", "write_bytes"):
                lines.append(node.lineno)
            elif func.attr == "open" and not is_os and _mode_writes(node, 0):
                lines.append(node.lineno)  # Path.open("w"), io.open(...)
            elif func.attr == "open" and is_os and len(node.args) > 1:
                flags = {n.attr for n in ast.walk(node.args[1]) if isinstance(n, ast.Attribute)}
                if flags & _WRITE_FLAGS:
                    lines.append(node.lineno)
    return lines


def _modules() -> list[Path]:
    return sorted((ROOT / "harness").rglob("*.py"))


def test_no_module_writes_a_file_by_hand() -> None:
    """Every write of a named file under harness/ goes through harness.files, or is listed."""
    found = {
        str(p.relative_to(ROOT)): lines
        for p in _modules()
        if (lines := _hand_writes(ast.parse(p.read_text(), filename=str(p))))
    }
    unexplained = {f: lines for f, lines in found.items() if f not in _IN_PLACE}
    assert not unexplained, f"use harness.files.atomic_write_bytes (or list why not): {unexplained}"
    stale = sorted(set(_IN_PLACE) - set(found))
    assert not stale, f"listed as writing in place but no longer do: {stale}"


@pytest.mark.parametrize(
    ("source", "writes"),
    [
        ("open(p, 'w')", True),
        ("open(p)", False),
        ("p.open('rb')", False),
        ("p.open(mode='a')", True),
        ("p.write_text('x')", True),
        ("os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)", True),
        ("os.open(p, os.O_RDONLY)", False),
        ("atomic_write_bytes(p, b'x')", False),
    ],
)
def test_the_check_sees_hand_writes(source: str, writes: bool) -> None:
    """The detector flags writing opens and passes reading ones (so the check can fail)."""
    assert bool(_hand_writes(ast.parse(source))) is writes
