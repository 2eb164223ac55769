"""Finding full PANs in audit lines (PCI DSS 3.3/3.4.1: a trail must never hold one).

Hand-written: DLP libraries scan documents, not 600-byte JSON lines at 100k lines/s, and their
false-positive rates on hex digests would fail intact trails. The rules (docs/AUDIT_FORMAT.md) trade
a known blind spot (a PAN glued to letters) for no false positives on digests, tokens, UUIDs,
timestamps and float scores, which carry long digit runs by design.
"""

from __future__ import annotations

import re

__all__ = ["find_pans", "luhn_ok"]

# Blanked before scanning: UUIDs (their 12-hex last group is often all digits) and decimal
# fractions (a float's 17 significant digits are a digit run).
_MASK = re.compile(
    rb"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    rb"|\d+\.\d+(?:[eE][+-]?\d+)?"
)
_CANDIDATE = re.compile(
    rb"(?<![0-9A-Za-z])(?:"
    rb"[1-9]\d{11,18}"  # plain run
    rb"|[1-9]\d{3}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"  # 4-4-4-4[-1..3]
    rb"|[1-9]\d{3}([ -])\d{6}\2\d{4,5}"  # 4-6-4 (Diners), 4-6-5 (Amex)
    rb")(?![0-9A-Za-z])"
)


def luhn_ok(digits: bytes) -> bool:
    """Luhn mod-10 check over ASCII digits (rightmost is the check digit)."""
    total = 0
    for pos, byte in enumerate(reversed(digits)):
        d = byte - 48
        if pos % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def find_pans(line: bytes) -> list[int]:
    """0-based byte columns of PAN-like numbers in ``line`` (never the digits themselves)."""
    blanked = _MASK.sub(lambda m: b" " * len(m.group()), line)
    hits: list[int] = []
    for m in _CANDIDATE.finditer(blanked):
        digits = re.sub(rb"[ -]", b"", m.group())
        if 12 <= len(digits) <= 19 and luhn_ok(digits):
            hits.append(m.start())
    return hits
