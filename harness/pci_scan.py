"""``slo-harness pci scan PATH...``: find full card numbers in files (PCI DSS 3.3, 3.4.1).

For users' own artifacts (logs, exports, reports, audit directories) and for the project's own
suite, which scans every file it writes. Each line is decoded as UTF-8 (undecodable bytes become
U+FFFD, never hide a digit), put in NFKC and scanned with the document rule of
:func:`harness.pan_scan.find_pan_spans` (plain 12-19 digit runs and 4-4-4-4 / 4-6-4 / 4-6-5 groups
joined by one consistent separator of any class, after blanking UUIDs and 40/64-hex digests),
keeping candidates that pass Luhn and start like an issued card number
(:func:`harness.pan_scan.plausible_iin`: this clears epoch-millisecond timestamps and dates).

Findings name the file, line, column and byte offset of the line start, and the number masked to
its length and last four digits: the scan itself never prints a PAN.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness.pan_scan import find_pan_spans, plausible_iin

__all__ = ["PanFinding", "mask_pan", "scan_paths"]

_MACHINE: Final = re.compile(
    r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
    r"|(?<![A-Za-z0-9])(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{40})(?![A-Za-z0-9])"
)


@dataclass(frozen=True, slots=True)
class PanFinding:
    """One card number found: where, and its masked form (never the digits)."""

    path: str
    line: int  # 1-based
    column: int  # 1-based, in characters of the NFKC line
    line_offset: int  # byte offset of the line's start in the file
    masked: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line}:{self.column}: full PAN {self.masked} "
            f"(line starts at byte {self.line_offset})"
        )


def mask_pan(digits: str) -> str:
    """``digits`` as ``*`` except the last four (PCI DSS 3.4.1 allows at most BIN + last 4)."""
    return "*" * (len(digits) - 4) + digits[-4:]


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and not f.is_symlink())
        elif p.is_file():
            yield p


def scan_file(path: Path) -> Iterator[PanFinding]:
    """Every finding in one file, in order."""
    offset = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            text = raw.decode("utf-8", errors="replace")
            text = _MACHINE.sub(lambda m: "#" * len(m.group()), text)
            for digits, col in find_pan_spans(text):
                if plausible_iin(digits):
                    yield PanFinding(str(path), lineno, col + 1, offset, mask_pan(digits))
            offset += len(raw)


def scan_paths(paths: Iterable[Path]) -> tuple[list[PanFinding], int]:
    """Findings in every file under ``paths`` (directories recursively, symlinks not followed),
    and the number of files scanned."""
    findings: list[PanFinding] = []
    count = 0
    for f in _files(paths):
        count += 1
        findings.extend(scan_file(f))
    return findings, count
