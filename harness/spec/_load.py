"""Parse a YAML (or JSON) file once, at the edge, into a typed frozen object.

msgspec does the validation (its errors already carry a ``$.a.b[0]`` field path); this module only
turns every way a file can be wrong into one :class:`~harness.errors.SpecError` naming the file, the
field path and what was expected, so the CLI can print it and exit 2 without a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeVar

import msgspec
import yaml

from harness.errors import SpecError

__all__ = ["convert_spec", "load_spec", "read_yaml"]

T = TypeVar("T")

_AT_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)


def read_yaml(path: Path) -> object:
    """Read and parse a YAML file; every failure is a SpecError at ``$``."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(name, "$", "an existing file (not found)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(name, "$", f"a readable UTF-8 file ({exc.__class__.__name__})") from None
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise SpecError(name, "$", f"valid YAML ({exc.problem} at {where})") from None
    except yaml.YAMLError as exc:
        raise SpecError(name, "$", f"valid YAML ({exc})") from None


def convert_spec(data: object, target: type[T], file: str, *, root: str = "$") -> T:
    """Convert parsed YAML into ``target`` (a frozen dataclass or msgspec Struct)."""
    if data is None:
        raise SpecError(file, root, "a non-empty document")
    try:
        return msgspec.convert(data, target, strict=True)
    except msgspec.ValidationError as exc:
        match = _AT_PATH.match(str(exc))
        assert match is not None  # the pattern matches any string
        path = match.group("path") or "$"
        if root != "$":
            path = root + path[1:]
        raise SpecError(file, path, _expected(match.group("msg"))) from None
    except (TypeError, ValueError) as exc:  # raised by __post_init__ checks
        raise SpecError(file, root, str(exc)) from None


def load_spec(path: Path, target: type[T]) -> T:
    """Read ``path`` and convert it to ``target``."""
    return convert_spec(read_yaml(path), target, str(path))


def _expected(message: str) -> str:
    # msgspec says "Expected `int`, got `str`" / "Object missing required field `rate`" /
    # "Object contains unknown field `rat`"; keep its words, they already say what was expected.
    return message.strip() or "a valid value"
