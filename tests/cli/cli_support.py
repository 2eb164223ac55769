"""Helpers of the CLI property tests: field paths of a document and a mutation at one."""

from __future__ import annotations

from typing import Any


def paths(doc: Any) -> list[list[Any]]:
    """Every field path (keys and indices) of ``doc``, the root included."""
    out: list[list[Any]] = [[]]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += [[k, *p] for p in paths(v)]
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += [[i, *p] for p in paths(v)]
    return out


def mutate(doc: Any, path: list[Any], value: Any) -> Any:
    """``doc`` with the element at ``path`` (keys/indices, walked as far as they exist) set."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, key: mutate(doc.get(key), rest, value)}
    if isinstance(doc, list) and isinstance(key, int) and doc:
        i = key % len(doc)
        return [*doc[:i], mutate(doc[i], rest, value), *doc[i + 1 :]]
    return value
