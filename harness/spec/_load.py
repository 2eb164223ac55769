"""Parse a YAML (or JSON) file once, at the edge, into a typed frozen object.

msgspec does the validation (its errors already carry a ``$.a.b[0]`` field path); this module only
turns every way a file can be wrong into one :class:`~harness.errors.SpecError` naming the file, the
field path and what was expected, so the CLI can print it and exit 2 without a traceback.

Two YAML traps are closed before any value is built: a key repeated in one mapping (PyYAML keeps the
last one silently, so ``rate: 100`` followed by ``rate: 1000`` would run the second) is an error at
its field path, and nesting deeper than :data:`MAX_DEPTH` is refused (no input file of ours nests
beyond about 6; thousands of levels would exhaust the parser's recursion).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, TypeVar

import msgspec
import yaml

from harness.errors import SpecError

__all__ = ["MAX_DEPTH", "convert_spec", "load_spec", "parse_yaml", "read_yaml"]

#: Deepest nesting accepted in an input file (mappings and sequences).
MAX_DEPTH: Final = 64

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
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> object:
    """Parse YAML ``text`` (from file ``name``): duplicate keys and deep nesting are SpecErrors."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, name)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise SpecError(name, "$", f"valid YAML ({exc.problem} at {where})") from None
    except yaml.YAMLError as exc:
        raise SpecError(name, "$", f"valid YAML ({exc})") from None
    except RecursionError:
        raise SpecError(name, "$", f"at most {MAX_DEPTH} levels of nesting") from None
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node, name: str) -> None:
    """Walk the node tree (iteratively): no key twice in a mapping, no deeper than MAX_DEPTH."""
    stack: list[tuple[yaml.Node, str, int]] = [(root, "$", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise SpecError(name, path, f"at most {MAX_DEPTH} levels of nesting")
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                label = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
                if isinstance(key, yaml.ScalarNode) and label in seen and label != "<<":
                    line = key.start_mark.line + 1
                    raise SpecError(
                        name,
                        f"{path}.{label}",
                        f"each key once per mapping (repeated at line {line})",
                    )
                seen.add(label)
                stack.append((value, f"{path}.{label}", depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node.value))


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
    except RecursionError:
        raise SpecError(file, root, f"at most {MAX_DEPTH} levels of nesting") from None


def load_spec(path: Path, target: type[T]) -> T:
    """Read ``path`` and convert it to ``target``."""
    return convert_spec(read_yaml(path), target, str(path))


def _expected(message: str) -> str:
    # msgspec says "Expected `int`, got `str`" / "Object missing required field `rate`" /
    # "Object contains unknown field `rat`"; keep its words, they already say what was expected.
    return message.strip() or "a valid value"
