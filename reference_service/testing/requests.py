"""Request bodies and key files for driving the service from tests and benchmarks.

PAN-free by construction: a body carries a random letters-only card token unless the caller
passes a ``pan`` (a transaction id of hex characters never holds 12 digits in a row, so the
service never refuses it as PAN-like).
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path
from typing import Any

__all__ = ["transaction", "write_key"]


def transaction(**over: Any) -> dict[str, Any]:
    """A valid score request (card token unless ``pan`` is given); fields overridable, a field
    set to ``None`` is left out."""
    body: dict[str, Any] = {
        # 10 hex characters: never 12 digits in a row, so never refused as a possible PAN.
        "transaction_id": "tx-" + secrets.token_hex(5),
        "amount": 42.5,
        "currency": "USD",
        "merchant_id": "m-1",
        "merchant_category_code": "5411",
        "merchant_country": "US",
        "billing_country": "US",
        "ip_country": "US",
        "card_present": True,
        "timestamp": "2024-06-01T12:00:00Z",
    }
    if "pan" not in over:
        # Letters only: a token with 12+ consecutive digits is (rightly) refused as PAN-like.
        body["card_token"] = "tok_" + "".join(
            secrets.choice(string.ascii_letters) for _ in range(16)
        )
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def write_key(path: Path) -> Path:
    """A fresh random 32-byte key, hex, mode 0600 (the service's ``--*-key-file`` format)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private from the start
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path
