"""Find card numbers in text: the check behind "a full PAN never appears in any output".

A candidate is a maximal run of 12-19 digits (not part of a longer digit run), or 4-digit groups
joined by one consistent space or dash (``9999 0012 3456 7893``), that passes the Luhn check.
About one random digit run in ten passes Luhn, so a hit on arbitrary data (epoch milliseconds,
long ids) is a *candidate*; tests that know what was sent intersect the hits with
``PayloadGenerator.pans_in_use()`` or search for those numbers directly.

:func:`pan_columns` is the strict variant for stored records (audit lines, reports), which carry
long digit runs by design (hex digests, UUIDs, float scores): it trades a known blind spot (a PAN
glued to letters) for no false positives on those; the rules are in docs/AUDIT_FORMAT.md.

:func:`identifier_has_pan` is the rule for short free-text identifiers (transaction ids, merchant
ids, tokens: what a client types and the service echoes and audits). It is the reference service's
rule (``reference_service.pan.contains_pan``) written a second time, because the harness must not
import the service; a test holds the two to the same answers. After Unicode NFKC, everything that
is neither a letter nor a digit separates digit groups (commas, plus, pipes, asterisks, hashes,
parentheses, zero-width spaces, any punctuation), and so does a letter O between digits; any
window of whole digit groups holding 12-19 digits that passes Luhn and starts like an issued card
number (:func:`plausible_iin`) is a PAN.

Documents (:func:`find_pans`) are scanned after NFKC too, with the same separator classes, but
only in card-number shapes (4-4-4-4[-1..3], 4-6-4, 4-6-5 with one consistent separator, or a
plain run of 12-19 digits): reports are full of short numbers separated by commas and pipes (CSV
rows such as ``1000,1000,1000,0``, Markdown tables), and the window rule would flag one row in
ten of them. Blind spot, accepted: a 12-15 digit PAN written in groups of four.

Pure and dependency-free; hand-written because DLP libraries scan documents, not 600-byte JSON
lines at 100k lines/s, and the Luhn check is four lines.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Final

__all__ = [
    "find_pan_spans",
    "find_pans",
    "identifier_has_pan",
    "luhn_check_digit",
    "luhn_valid",
    "normalise",
    "pan_columns",
    "plausible_iin",
]

#: One separator between digit groups: one to three characters that are neither letters nor
#: digits nor a line break (so ``", "``, ``")("`` and a zero-width space count), or a letter O.
_SEP: Final = r"(?:[^\w\n\r]{1,3}|_|[Oo])"
_CANDIDATE: Final = re.compile(
    r"(?<![0-9])(?:[0-9]{12,19}"
    rf"|[0-9]{{4}}({_SEP})[0-9]{{4}}\1[0-9]{{4}}\1[0-9]{{4}}(?:\1[0-9]{{1,3}})?"
    rf"|[0-9]{{4}}({_SEP})[0-9]{{6}}\2[0-9]{{4,5}}"
    r")(?![0-9])"
)
_NON_DIGIT: Final = re.compile(r"[^0-9]")


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


def normalise(text: str) -> str:
    """``text`` in Unicode NFKC (fullwidth and other compatibility digits become ASCII digits)."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def find_pans(text: str) -> list[str]:
    """Luhn-valid 12-19 digit candidates in ``text`` (after NFKC), separators removed, in order
    of appearance. Offsets of the candidates: :func:`find_pan_spans`."""
    return [digits for digits, _ in find_pan_spans(text)]


def find_pan_spans(text: str) -> list[tuple[str, int]]:
    """``(digits, character offset in the NFKC text)`` of each candidate of :func:`find_pans`."""
    found: list[tuple[str, int]] = []
    for match in _CANDIDATE.finditer(normalise(text)):
        digits = _NON_DIGIT.sub("", match.group(0))
        if 12 <= len(digits) <= 19 and luhn_valid(digits):
            found.append((digits, match.start()))
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


# ---- the identifier rule (same answers as reference_service.pan.contains_pan) -----------------
_ID_RUN: Final = re.compile(r"\d[\d\W_]*\d")
_ID_GROUP: Final = re.compile(r"\d+")
_ENOUGH_DIGITS: Final = re.compile(r"(?:\d\D*){12}")
_LETTER_O: Final = re.compile(r"(?<=\d)[Oo](?=\d)")
_HEX_ID: Final = re.compile(
    r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
    r"|(?<![0-9A-Za-z])[0-9A-Fa-f]{32,}(?![0-9A-Za-z])"
)


def plausible_iin(number: str) -> bool:
    """False for digit strings no card scheme issues: a leading 0, MII 1 other than 15-digit
    UATP, MII 2 outside Mastercard's 2221-2720 (this clears most dates and times)."""
    first = number[0]
    if first == "0":
        return False
    if first == "1":
        return len(number) == 15
    if first == "2":
        return 2221 <= int(number[:4]) <= 2720
    return True


def _ascii(group: str) -> str:
    return group if group.isascii() else "".join(str(unicodedata.decimal(c)) for c in group)


def _windows_hold_pan(groups: Sequence[str]) -> bool:
    for start in range(len(groups)):
        size = 0
        for end in range(start, len(groups)):
            size += len(groups[end])
            if size > 19:
                break
            if size >= 12:
                number = "".join(groups[start : end + 1])
                if plausible_iin(number) and luhn_valid(number):
                    return True
    return False


def _runs_hold_pan(text: str) -> bool:
    return any(
        _windows_hold_pan([_ascii(g) for g in _ID_GROUP.findall(m.group())])
        for m in _ID_RUN.finditer(text)
    )


def identifier_has_pan(text: str) -> bool:
    """True when the identifier ``text`` may hide a card number (rule in the module docstring;
    canonical UUIDs and hex words of 32+ characters are masked first)."""
    text = normalise(text)
    if text.isascii() and sum(map(text.count, "0123456789")) < 12:
        return False  # fast path, same answer: _ENOUGH_DIGITS needs 12 digits (C-speed count)
    if _ENOUGH_DIGITS.search(text) is None:
        return False
    masked = _HEX_ID.sub("x", text)
    if _runs_hold_pan(masked):
        return True
    if _LETTER_O.search(masked) is None:
        return False
    return _runs_hold_pan(_LETTER_O.sub(" ", masked)) or _runs_hold_pan(_LETTER_O.sub("0", masked))
