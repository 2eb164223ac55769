"""Find card numbers in text: the check behind "a full PAN never appears in any output".

A candidate is a maximal run of 12-19 digits (not part of a longer digit run), or 4-digit groups
joined by one consistent space or dash (``9999 0012 3456 7893``), that passes the Luhn check.
About one random digit run in ten passes Luhn, so a hit on arbitrary data (epoch milliseconds,
long ids) is a *candidate*; tests that know what was sent intersect the hits with
``PayloadGenerator.pans_in_use()`` or search for those numbers directly.

:func:`pan_columns` is the strict variant for stored records (audit lines, reports), which carry
long digit runs by design (hex digests, UUIDs, float scores): it trades a known blind spot (a PAN
glued to letters) for no false positives on those; the rules are in docs/AUDIT_FORMAT.md.

Pure and dependency-free; hand-written because DLP libraries scan documents, not 600-byte JSON
lines at 100k lines/s, and the Luhn check is four lines.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["find_pans", "luhn_check_digit", "luhn_valid", "pan_columns"]

_CANDIDATE: Final = re.compile(
    r"(?<![0-9])(?:[0-9]{12,19}|[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}(?:\1[0-9]{1,7})?)(?![0-9])"
)


def luhn_valid(digits: str) -> bool:
    """True if ``digits`` (ASCII digits only, at least 2) passes the Luhn mod-10 check."""
    if len(digits) < 2 or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_check_digit(payload: str) -> str:
    """The digit that makes ``payload + digit`` Luhn-valid."""
    if not payload or not payload.isascii() or not payload.isdigit():
        raise ValueError("payload must be ASCII digits")
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = ord(ch) - 48
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def find_pans(text: str) -> list[str]:
    """Luhn-valid 12-19 digit candidates in ``text``, separators removed, in order of appearance."""
    found: list[str] = []
    for match in _CANDIDATE.finditer(text):
        digits = match.group(0).replace(" ", "").replace("-", "")
        if 12 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(digits)
    return found


# Blanked before a strict scan: UUIDs (their 12-hex last group is often all digits) and decimal
# fractions (a float's 17 significant digits are a digit run).
_MASK: Final = re.compile(
    rb"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    rb"|\d+\.\d+(?:[eE][+-]?\d+)?"
)
_STRICT: Final = re.compile(
    rb"(?<![0-9A-Za-z])(?:"
    rb"[1-9]\d{11,18}"  # plain run
    rb"|[1-9]\d{3}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"  # 4-4-4-4[-1..3]
    rb"|[1-9]\d{3}([ -])\d{6}\2\d{4,5}"  # 4-6-4 (Diners), 4-6-5 (Amex)
    rb")(?![0-9A-Za-z])"
)


def pan_columns(line: bytes) -> list[int]:
    """0-based byte columns of PAN-like numbers in ``line`` (never the digits themselves)."""
    blanked = _MASK.sub(lambda m: b" " * len(m.group()), line)
    hits: list[int] = []
    for match in _STRICT.finditer(blanked):
        digits = re.sub(rb"[ -]", b"", match.group()).decode("ascii")
        if 12 <= len(digits) <= 19 and luhn_valid(digits):
            hits.append(match.start())
    return hits
