"""Loading the audit chain's HMAC key.

The key is what makes the chain tamper-evident rather than merely checksummed: anyone without it
cannot recompute a MAC after editing a record. It is separate from the PAN tokenisation key
(``SLO_PAN_KEY``), so leaking one does not weaken the other.

Rules (shared with the harness verifier, see docs/AUDIT_FORMAT.md): content is stripped of ASCII
whitespace; if what remains is an even number of hex digits it is decoded as hex, otherwise the
stripped bytes are the key; the resulting key must be at least 32 bytes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from reference_service.audit.errors import AuditKeyError

__all__ = ["AUDIT_KEY_ENV", "MIN_AUDIT_KEY_BYTES", "decode_key", "load_key"]

#: Environment variable the service reads the (hex) audit key from when no key file is given.
AUDIT_KEY_ENV = "SLO_AUDIT_KEY"
#: 256 bits: the full strength of HMAC-SHA256.
MIN_AUDIT_KEY_BYTES = 32

_HEX = re.compile(rb"(?:[0-9a-fA-F]{2})+")


def decode_key(raw: bytes, source: str) -> bytes:
    """Key bytes from file or env content (hex or raw, whitespace stripped); checks the length."""
    text = raw.strip()
    key = bytes.fromhex(text.decode("ascii")) if _HEX.fullmatch(text) else text
    if not key:
        raise AuditKeyError(f"audit key from {source} is empty")
    if len(key) < MIN_AUDIT_KEY_BYTES:
        raise AuditKeyError(
            f"audit key from {source} is {len(key)} bytes; at least {MIN_AUDIT_KEY_BYTES} bytes "
            f"(64 hex digits) are required"
        )
    return key


def load_key(*, path: Path | None, env_var: str = AUDIT_KEY_ENV) -> bytes:
    """The audit key from ``path`` when given, else from ``$env_var``.

    Raises :class:`AuditKeyError` naming the source (never the content) when the file is
    unreadable, the variable is unset, or the key is shorter than 32 bytes.
    """
    if path is not None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise AuditKeyError(f"cannot read audit key file {path}: {exc.strerror}") from None
        return decode_key(raw, str(path))
    value = os.environ.get(env_var)
    if value is None or not value.strip():
        raise AuditKeyError(
            f"no audit key: pass --audit-key-file or set ${env_var} to 64 hex digits"
        )
    return decode_key(value.encode("utf-8"), f"${env_var}")
