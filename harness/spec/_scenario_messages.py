"""Sharper scenario errors: the field path at the field itself, and the choices of enum fields.

msgspec reports a missing or unknown field and a ``__post_init__`` error at the enclosing object;
this turns them into a path that ends at the field, so ``SpecError`` names exactly what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from harness.errors import SpecError

__all__ = ["sharpen"]

_FIELD_PREFIX: Final = re.compile(r"^(?P<field>[a-z_]+(?:\[\d+\])?): (?P<rest>.*)$", re.DOTALL)
_NAMED_FIELD: Final = re.compile(r"(?:missing required|contains unknown) field `(?P<field>[^`]+)`")


def sharpen(exc: SpecError, choices: Mapping[str, str]) -> SpecError:
    """Point the path at the field itself and list the choices of enum-like fields.

    msgspec reports a missing or unknown field and a ``__post_init__`` error at the enclosing
    object; our ``__post_init__`` messages start with ``field: ``.
    """
    path, expected = exc.path, exc.expected
    if (named := _NAMED_FIELD.search(expected)) is not None:
        path = f"{path}.{named.group('field')}"
    elif (prefixed := _FIELD_PREFIX.match(expected)) is not None:
        path, expected = f"{path}.{prefixed.group('field')}", prefixed.group("rest")
    last = path.rsplit(".", 1)[-1]
    if last in choices and expected.startswith("Invalid"):
        expected = f"one of {choices[last]} ({expected})"
    return SpecError(exc.file, path, expected)
