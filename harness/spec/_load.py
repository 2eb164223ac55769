"""Parse a YAML (or JSON) file once, at the edge, into a typed frozen object.

msgspec does the validation (its errors already carry a ``$.a.b[0]`` field path); this module only
turns every way a file can be wrong into one :class:`~harness.errors.SpecError` naming the file, the
field path and what was expected, so the CLI can print it and exit 2 without a traceback.

YAML traps are closed before any value is built, each cheaply, so that a hostile file is refused in
milliseconds, never after seconds of parsing:

- a key repeated in one mapping (PyYAML keeps the last one silently, so ``rate: 100`` followed by
  ``rate: 1000`` would run the second) is an error at its field path;
- nesting deeper than :data:`MAX_DEPTH` is refused (no input file of ours nests beyond about 6).
  The scanner itself stops at the first bracket or indentation level past the bound
  (:class:`_BoundedLoader`): PyYAML keeps one possible simple key per open flow level and walks
  them all at every token, so ``a: [[[[...`` cost time quadratic in the depth (5.8 s for 100,000
  brackets, measured) before the recursion limit ended it. The node walk then gives the exact
  field path for anything the scanner let through;
- aliases that expand to more than :data:`MAX_NODES` nodes ("billion laughs": 8 levels of 9
  aliases took 74 s to walk) are refused after one pass over the distinct nodes;
- files larger than :data:`MAX_BYTES` are refused before they are read.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, TypeVar

import msgspec
import yaml

from harness.errors import SpecError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "convert_spec",
    "load_spec",
    "parse_yaml",
    "parse_yaml_all",
    "read_yaml",
]

#: Deepest nesting accepted in an input file (mappings and sequences).
MAX_DEPTH: Final = 64
#: Largest input file read, bytes (PyYAML parses about 1 MB/s; ours are kilobytes).
MAX_BYTES: Final = 8 * 2**20
#: Most nodes a document may stand for once its aliases are expanded (each use counts).
MAX_NODES: Final = 1_000_000

T = TypeVar("T")

_AT_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)


def read_yaml(path: Path) -> object:
    """Read and parse a YAML file; every failure is a SpecError at ``$``."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SpecError(name, "$", f"a file of at most {MAX_BYTES} bytes (it has {size})")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(name, "$", "an existing file (not found)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(name, "$", f"a readable UTF-8 file ({exc.__class__.__name__})") from None
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> object:
    """Parse YAML ``text`` (from file ``name``): duplicate keys and deep nesting are SpecErrors."""
    docs = _parse(text, name, single=True)
    return docs[0] if docs else None


def parse_yaml_all(text: str, name: str) -> list[object]:
    """Every document of a multi-document YAML ``text`` (``---``), checked like :func:`parse_yaml`;
    the field paths of a later document start with ``doc[i] $``."""
    return _parse(text, name, single=False)


class _TooDeep(Exception):
    """Raised by the scanner at the first level past the bound (caught in :func:`_parse`)."""

    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__(f"line {mark.line + 1}, column {mark.column + 1}")


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose scanner refuses to open a flow or block level past the bound.

    One level of slack over MAX_DEPTH: the node walk decides the exact limit (with a path)."""

    def fetch_flow_collection_start(self, TokenClass: type) -> None:  # noqa: N803 (PyYAML's name)
        if self.flow_level + len(self.indents) > MAX_DEPTH + 1:
            raise _TooDeep(self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column: int) -> bool:
        if len(self.indents) > MAX_DEPTH + 1:
            raise _TooDeep(self.get_mark())
        return bool(super().add_indent(column))


def _parse(text: str, name: str, *, single: bool) -> list[object]:
    loader = _BoundedLoader(text)
    try:
        if single:
            node = loader.get_single_node()
            nodes = [] if node is None else [node]
        else:
            nodes = []
            while loader.check_node():
                node = loader.get_node()
                if node is not None:
                    nodes.append(node)
        docs: list[object] = []
        for index, node in enumerate(nodes):
            root = "$" if single else f"doc[{index}] $"
            _check_size(node, name, root)
            _check_nodes(node, name, root)
            docs.append(loader.construct_document(node))
        return docs
    except _TooDeep as exc:
        raise SpecError(
            name, "$", f"at most {MAX_DEPTH} levels of nesting (deeper at {exc})"
        ) from None
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


def _check_size(root: yaml.Node, name: str, path: str) -> None:
    """Refuse a document whose aliases expand past MAX_NODES: one pass over distinct nodes
    (post-order, sizes memoised by identity, so a shared node is counted, not walked, again)."""
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in size:
            continue
        kids = _children(node)
        if children_done:
            total = 1 + sum(size[id(k)] for k in kids)
            if total > MAX_NODES:
                raise SpecError(
                    name, path, f"at most {MAX_NODES:,} nodes once aliases are expanded"
                )
            size[id(node)] = total
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_nodes(root: yaml.Node, name: str, path: str = "$") -> None:
    """Walk the node tree (iteratively): no key twice in a mapping, no deeper than MAX_DEPTH."""
    stack: list[tuple[yaml.Node, str, int]] = [(root, path, 0)]
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
