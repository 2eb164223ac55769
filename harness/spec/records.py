"""Data files of template bodies: CSV with a header row, or JSONL with one JSON object per line.

Read whole, once, when a run's requests are prepared (the hot path then only indexes a list).
Values stay as read: CSV gives strings, JSONL keeps JSON types. Bounded: at most
:data:`MAX_RECORDS` records and :data:`MAX_BYTES` of file, so a wrong path (a disk image) fails
with a message instead of exhausting memory.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Final

import orjson

__all__ = ["MAX_BYTES", "MAX_RECORDS", "RecordsError", "read_bounded_text", "read_records"]

MAX_RECORDS: Final = 1_000_000
MAX_BYTES: Final = 256 * 1024 * 1024


class RecordsError(ValueError):
    """A data file that cannot be used; the message says what was expected."""


def read_bounded_text(path: Path, max_bytes: int, what: str) -> str:
    """A UTF-8 file of at most ``max_bytes``; ValueError says what was expected (``what``: "data
    file", "secret file", ...)."""
    try:
        if path.stat().st_size > max_bytes:
            raise ValueError(f"a {what} of at most {max_bytes:,} bytes ({path})")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"an existing {what} (not found: {path})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"a readable UTF-8 {what} ({exc.__class__.__name__}: {path})") from None


def read_records(path: Path) -> tuple[dict[str, Any], ...]:
    """The records of a ``.csv`` or ``.jsonl`` file (at least one)."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise RecordsError(f"a .csv or .jsonl data file, got {path.name!r}")
    try:
        text = read_bounded_text(path, MAX_BYTES, "data file")
    except ValueError as exc:
        raise RecordsError(str(exc)) from None
    records = _csv(text) if suffix == ".csv" else _jsonl(text)
    if not records:
        raise RecordsError(f"at least one record in {path.name}")
    return records


def _csv(text: str) -> tuple[dict[str, Any], ...]:
    reader = csv.DictReader(io.StringIO(text))
    out: list[dict[str, Any]] = []
    for i, rec in enumerate(reader):
        if i >= MAX_RECORDS:
            raise RecordsError(f"at most {MAX_RECORDS} records")
        if None in rec or any(v is None for v in rec.values()):
            raise RecordsError(f"every CSV line with as many fields as the header (line {i + 2})")
        out.append(dict(rec))
    return tuple(out)


def _jsonl(text: str) -> tuple[dict[str, Any], ...]:
    out: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(out) >= MAX_RECORDS:
            raise RecordsError(f"at most {MAX_RECORDS} records")
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise RecordsError(f"one JSON object per line (line {n} is not JSON)") from None
        if not isinstance(rec, dict):
            raise RecordsError(f"one JSON object per line (line {n} is not an object)")
        out.append(rec)
    return tuple(out)
