"""Honest facades (issue 12): a package's ``__all__`` names only what exists and is used.

Callers import a package through its ``__init__`` (the facade contract in ``.importlinter``), so
``__all__`` is the package's promise. Every name in it must resolve, and must be used: named by
code outside the package (another package, the CLI, tests, benchmarks, tools), or be part of the
interface of another exported name (a return, parameter or field type a caller receives). A name
nothing uses stays importable from its module for the package's own code, not promised.
"""

from __future__ import annotations

import importlib
import inspect
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
_CALLER_FOLDERS = ("harness", "tests", "benchmarks", "tools", "scripts")
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PACKAGES = sorted(
    ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "harness").rglob("__init__.py")
)


@cache
def _identifiers() -> dict[Path, frozenset[str]]:
    """Every source file of the callers, as the set of identifiers it spells."""
    return {
        p: frozenset(_TOKEN.findall(p.read_text(encoding="utf-8")))
        for folder in _CALLER_FOLDERS
        for p in (ROOT / folder).rglob("*.py")
    }


def _annotation_tokens(func: Any) -> set[str]:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return set()
    notes = [p.annotation for p in sig.parameters.values()] + [sig.return_annotation]
    return {t for a in notes if a is not inspect.Parameter.empty for t in _TOKEN.findall(str(a))}


def interface_tokens(obj: Any) -> set[str]:
    """Names appearing in an exported object's signatures, fields and bases."""
    if not inspect.isclass(obj):
        return _annotation_tokens(obj) if callable(obj) else set()
    tokens = {base.__name__ for base in obj.__mro__[1:]}
    for cls in obj.__mro__[:-1]:
        tokens |= {
            t for a in vars(cls).get("__annotations__", {}).values() for t in _TOKEN.findall(str(a))
        }
        for name, member in vars(cls).items():
            if name.startswith("_") and name != "__init__":
                continue
            func = (
                member.fget if isinstance(member, property) else getattr(member, "__func__", member)
            )
            if callable(func):
                tokens |= _annotation_tokens(func)
    return tokens


def unused_exports(package: str) -> list[str]:
    """Names in ``package.__all__`` used neither outside the package nor in its interface."""
    module = importlib.import_module(package)
    names: list[str] = list(module.__all__)
    folder = ROOT.joinpath(*package.split("."))
    outside = set().union(
        *(ids for p, ids in _identifiers().items() if not p.is_relative_to(folder))
    )
    interface = set().union(*(interface_tokens(getattr(module, n)) for n in names))
    return [n for n in names if n not in interface and n not in outside]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_exists(package: str) -> None:
    """Each package has an __all__ and every name in it resolves on the package."""
    module = importlib.import_module(package)
    assert hasattr(module, "__all__"), f"{package}: no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{package}.__all__ names what it does not define: {missing}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_is_used(package: str) -> None:
    """Each name a package exports is used by a caller or is part of its interface."""
    assert not unused_exports(package), (
        f"{package}.__all__ promises names nothing outside uses: {unused_exports(package)} "
        "(drop them from __all__ and the __init__ imports; modules inside import them directly)"
    )


def test_the_check_sees_an_unused_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name added to a facade that no caller uses is reported (the check can fail)."""
    module = importlib.import_module("harness.testing")
    name = "zz" + "never_used"  # built here so that no source file spells it
    monkeypatch.setattr(module, name, object(), raising=False)
    monkeypatch.setattr(module, "__all__", [*module.__all__, name])
    assert name in unused_exports("harness.testing")
