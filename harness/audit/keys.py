"""The audit key for verification: ``--key-file``, else ``$SLO_AUDIT_KEY_FILE``, else
``$SLO_AUDIT_KEY``.

Same decoding rules as the writer (docs/AUDIT_FORMAT.md), implemented again here on purpose: the
harness is an independent auditor and imports nothing from reference_service.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from harness.errors import UsageError

__all__ = ["KEY_ENV", "KEY_FILE_ENV", "MIN_KEY_BYTES", "load_audit_key"]

KEY_ENV = "SLO_AUDIT_KEY"
KEY_FILE_ENV = "SLO_AUDIT_KEY_FILE"
MIN_KEY_BYTES = 32
_HEX = re.compile(rb"(?:[0-9a-fA-F]{2})+")


def _decode(raw: bytes, source: str) -> bytes:
    text = raw.strip()
    key = bytes.fromhex(text.decode("ascii")) if _HEX.fullmatch(text) else text
    if len(key) < MIN_KEY_BYTES:
        raise UsageError(
            f"audit key from {source} is {len(key)} bytes; need at least {MIN_KEY_BYTES} "
            f"(64 hex digits)"
        )
    return key


def _read(path: Path) -> bytes:
    try:
        return _decode(path.read_bytes(), str(path))
    except OSError as exc:
        raise UsageError(f"cannot read audit key file {path}: {exc.strerror}") from None


def load_audit_key(path: Path | None = None) -> bytes:
    """The audit key; raises UsageError (exit 2) naming the source, never the key."""
    if path is not None:
        return _read(path)
    file_env = os.environ.get(KEY_FILE_ENV, "").strip()
    if file_env:
        return _read(Path(file_env))
    value = os.environ.get(KEY_ENV, "")
    if value.strip():
        return _decode(value.encode("utf-8"), f"${KEY_ENV}")
    raise UsageError(f"no audit key: pass --key-file or set ${KEY_FILE_ENV} or ${KEY_ENV}")
