"""Card numbers in, tokens out: the PCI DSS 3.3-3.5 boundary of the service.

A PAN exists only inside :meth:`PanTokenizer.tokenize`, for the few microseconds it takes to check
it and compute its keyed hash. What leaves is a :class:`CardRef`: an HMAC-SHA256 token (stable per
card, so velocity features and the audit trail can link a card's transactions without holding its
number) and at most the last four digits (PCI DSS 3.4.1 allows BIN + last 4 for display; we keep
less). The tokenisation key is separate from the audit key, so a leaked audit key does not make
tokens reversible by brute force over the PAN space, and vice versa.

Error messages say *what* is wrong ("fails the Luhn check") and never echo the number, not even
partially: a rejected PAN is still a PAN.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MIN_KEY_BYTES",
    "CardRef",
    "PanError",
    "PanKeyError",
    "PanTokenizer",
    "generate_key_hex",
    "load_key_material",
    "luhn_valid",
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
