"""Card numbers in, tokens out: the PCI DSS 3.3-3.5 boundary of the service.

A PAN exists only inside :meth:`PanTokenizer.tokenize`, for the few microseconds it takes to check
it and compute its keyed hash. What leaves is a :class:`CardRef`: an HMAC-SHA256 token (stable per
card, so velocity features and the audit trail can link a card's transactions without holding its
number) and at most the last four digits (PCI DSS 3.4.1 allows BIN + last 4 for display; we keep
less). The tokenisation key is separate from the audit key, so a leaked audit key does not make
tokens reversible by brute force over the PAN space, and vice versa.

Error messages say *what* is wrong ("fails the Luhn check") and never echo the number, not even
partially: a rejected PAN is still a PAN.

:func:`contains_pan` guards the other door: free-text fields (transaction id, merchant id, card
token...) are echoed and audited verbatim, so a card number typed into one of them, formatted with
separators or glued to letters, would land in the audit trail. The request path pays one
precompiled regex search per field; the Luhn check runs only on the rare candidate runs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MIN_KEY_BYTES",
    "CardRef",
    "PanError",
    "PanKeyError",
    "PanTokenizer",
    "contains_pan",
    "generate_key_hex",
    "load_key_material",
    "luhn_valid",
    "normalise_identifier",
    "plausible_iin",
]

#: Keys shorter than this are refused: 256 bits, the full strength of HMAC-SHA256 (same rule as
#: the audit key, so one key-generation recipe serves both).
MIN_KEY_BYTES = 32
#: Token prefix; tells a reader this is a keyed hash, not a card number.
TOKEN_PREFIX = "ct_"
_HEX = re.compile(rb"(?:[0-9a-fA-F]{2})+")


class PanError(ValueError):
    """A PAN failed validation. The message never contains the PAN or any part of it."""


class PanKeyError(ValueError):
    """Key material missing, unreadable or too short (message names the source, not the key)."""


@dataclass(frozen=True, slots=True)
class CardRef:
    """What the service keeps of a card: a keyed token and, for PANs, the last four digits."""

    token: str
    last4: str | None


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (ASCII digits only) passes the Luhn mod-10 check."""
    total = 0
    # Walk right to left; every second digit is doubled (and 9 subtracted when it exceeds 9).
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


#: The identifier rule (decided from what people and attackers put between digit groups): after
#: Unicode NFKC (fullwidth, superscript and circled digits become ASCII digits), every character
#: that is neither a letter nor a digit is a separator (whitespace, ``-._:/,+|*#()``, zero-width
#: spaces and other format characters, any punctuation or symbol), and so is a letter O between
#: two digits (it is tried both as a separator and as the digit 0 it imitates). Other letters end
#: a run: treating every letter as a separator would make most hex ids look like card numbers.
#: A candidate is a run from a digit to a digit over digits and separators.
_RUN_RE = re.compile(r"\d[\d\W_]*\d")
_GROUP_RE = re.compile(r"\d+")
#: Fast exit: fewer than 12 digits in the whole text means no PAN (the usual case on the request
#: path, about 0.3 us on a short id).
_ENOUGH_DIGITS = re.compile(r"(?:\d\D*){12}")
_LETTER_O = re.compile(r"(?<=\d)[Oo](?=\d)")
#: Canonical UUIDs and long hex words (digests, ``uuid.hex``): by chance about one in a few hundred
#: holds a Luhn-valid 12-19 digit run, and refusing that share of ordinary ids would be an error
#: rate of its own. They are masked (with a letter, which ends a run) before the runs are judged,
#: as the harness's scanners do (harness/pan_scan.py); a card number does not plausibly arrive
#: dressed as one.
_HEX_ID_RE = re.compile(
    r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
    r"|(?<![0-9A-Za-z])[0-9A-Fa-f]{32,}(?![0-9A-Za-z])"
)
_PAN_MIN_DIGITS = 12
_PAN_MAX_DIGITS = 19


def _ascii_digits(group: str) -> str:
    """``group`` (decimal digits of any script) as ASCII digits, so a PAN in e.g. Arabic-Indic
    digits (which NFKC leaves alone) is still recognised."""
    if group.isascii():
        return group
    return "".join(chr(48 + unicodedata.decimal(ch)) for ch in group)


def _groups_hold_pan(groups: Sequence[str]) -> bool:
    """True when consecutive digit groups, concatenated, form a Luhn-valid 12-19 digit number.

    Every window of whole groups is tried, not only the whole run, so a PAN after other numbers
    ("2024-06-01 <PAN>") is found too. A PAN glued to further digits *without* a separator is out
    of reach: about one in ten of all digit strings passes Luhn, so testing every substring of a
    long number would refuse most ordinary numeric ids.
    """
    for start in range(len(groups)):
        digits = 0
        for end in range(start, len(groups)):
            digits += len(groups[end])
            if digits > _PAN_MAX_DIGITS:
                break
            if digits >= _PAN_MIN_DIGITS:
                number = "".join(groups[start : end + 1])
                if plausible_iin(number) and luhn_valid(number):
                    return True
    return False


def plausible_iin(number: str) -> bool:
    """False for digit strings no card scheme issues (ISO/IEC 7812 major industry identifiers).

    Cards never start with 0; MII 1 is UATP only (15 digits); MII 2 is only Mastercard's
    2221-2720. This removes the commonest false positives, numbers made of dates and times
    ("2024-06-01 12:30:00...", "1999-..."), at no cost in recall for issued card ranges.
    """
    first = number[0]
    if first == "0":
        return False
    if first == "1":
        return len(number) == 15
    if first == "2":
        return 2221 <= int(number[:4]) <= 2720
    return True


def _runs_hold_pan(text: str) -> bool:
    for match in _RUN_RE.finditer(text):
        groups = [_ascii_digits(g) for g in _GROUP_RE.findall(match.group())]
        if _groups_hold_pan(groups):
            return True
    return False


def normalise_identifier(text: str) -> str:
    """``text`` in Unicode NFKC (identity, and free, for ASCII text)."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def contains_pan(text: str) -> bool:
    """True when ``text`` contains something that may be a card number.

    That is a Luhn-valid run of 12-19 digits once separators (see ``_RUN_RE``) are removed,
    wherever it sits: alone, inside a word ("tx4111..."), or after other digit groups. Canonical
    UUIDs and hex words of 32+ characters are not searched (see ``_HEX_ID_RE``). Cheap for
    ordinary identifiers: one regex search that fails unless 12 digits are present.
    """
    text = normalise_identifier(text)
    if _ENOUGH_DIGITS.search(text) is None:
        return False  # the request path's usual case
    masked = _HEX_ID_RE.sub("x", text)
    if _runs_hold_pan(masked):
        return True
    if _LETTER_O.search(masked) is None:
        return False
    return _runs_hold_pan(_LETTER_O.sub(" ", masked)) or _runs_hold_pan(_LETTER_O.sub("0", masked))


class PanTokenizer:
    """Validates PANs and turns them into :class:`CardRef` with HMAC-SHA256 under one key."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise PanKeyError(f"PAN tokenisation key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def tokenize(self, pan: str) -> CardRef:
        """Check ``pan`` (12-19 ASCII digits, Luhn) and return its token and last four digits.

        Raises :class:`PanError` with a message that does not contain the PAN.
        """
        if not (12 <= len(pan) <= 19) or not (pan.isascii() and pan.isdigit()):
            raise PanError("pan must be 12 to 19 digits")
        if not luhn_valid(pan):
            raise PanError("pan fails the Luhn check")
        return CardRef(token=self.token_of(pan), last4=pan[-4:])

    def token_of(self, pan: str) -> str:
        """Keyed token of an already validated PAN (base64url, no padding, 43 characters)."""
        digest = hmac.new(self._key, pan.encode("ascii"), hashlib.sha256).digest()
        return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _decode_key(raw: bytes, source: str) -> bytes:
    """Key bytes from file/env content: whitespace stripped; an even run of hex digits is hex,
    anything else is the raw bytes (the audit key's rule, reference_service.audit.keys)."""
    text = raw.strip()
    key = bytes.fromhex(text.decode("ascii")) if _HEX.fullmatch(text) else text
    if len(key) < MIN_KEY_BYTES:
        raise PanKeyError(f"key from {source} is shorter than {MIN_KEY_BYTES} bytes")
    return key


def load_key_material(path: str | None, env_var: str) -> bytes | None:
    """Key bytes from ``path`` if given, else from ``$env_var``; None when neither is set.

    Content is hex (preferred; whitespace ignored) or raw bytes. Raises :class:`PanKeyError` naming
    the source (never the content) when it is unreadable or too short.
    """
    if path:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise PanKeyError(f"cannot read key file {path}: {exc.strerror}") from None
        return _decode_key(raw, path)
    value = os.environ.get(env_var)
    if value:
        return _decode_key(value.encode("utf-8"), f"${env_var}")
    return None


def generate_key_hex() -> str:
    """A fresh random 256-bit key, hex encoded (for ephemeral dev/demo runs)."""
    return secrets.token_hex(32)
