"""One audit record and its canonical, MAC-covered encoding (docs/AUDIT_FORMAT.md).

A record line is the canonical JSON of the record without ``mac`` (orjson, keys sorted, no
whitespace) with ``,"mac":"<64 hex>"`` spliced in before the closing brace, then a newline. Putting
the MAC last means a verifier recovers the exact MAC-covered bytes by cutting a fixed-shape suffix:
it never has to re-serialise JSON (float formatting differs between serialisers), so the harness can
verify without orjson and without trusting this module.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import orjson

__all__ = [
    "FORMAT_VERSION",
    "GENESIS_MAC",
    "AuditRecord",
    "ChainEncoder",
    "feature_hash",
    "utc_timestamp",
]

#: Value of the ``v`` member; bumped on any change to the line format (2: ``thresholds_version``;
#: 3: the model input itself, ``features`` + ``feature_schema`` + ``missing_features``).
FORMAT_VERSION = 3
#: ``prev`` of the first record of every stream.
GENESIS_MAC = "0" * 64

_TS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_LAST4 = re.compile(r"[0-9]{4}")


class AuditRecord(msgspec.Struct, frozen=True):
    """What the service decided and from what: everything an auditor needs to reconstruct it.

    A frozen msgspec Struct (not a frozen dataclass, whose constructor costs one
    ``object.__setattr__`` per field: about 8 us of the request path for these 17 fields on the
    service's VM); it is never serialised by msgspec: :class:`ChainEncoder` writes the line.

    ``ts`` is RFC 3339 UTC with microseconds (:func:`utc_timestamp`); ``card_token`` is the HMAC
    token, never a PAN; ``feature_hash`` is :func:`feature_hash` of the model input; ``latency_ms``
    is the service-side decision latency in milliseconds; ``thresholds_version`` is the version of
    the decision thresholds that mapped ``score`` to ``decision`` (which rule set said "decline").
    ``features`` is the model input exactly as scored (little-endian float32 bytes, column order
    of ``feature_schema``; base64 in the line); ``missing_features`` names its NaN columns, in
    column order (the model imputes them in-graph; the service never fills in a value).
    """

    ts: str
    request_id: str
    transaction_id: str
    card_token: str
    last4: str | None
    model_version: str
    model_sha256: str
    feature_hash: str
    score: float
    decision: str
    thresholds_version: str
    reason_codes: tuple[str, ...]
    degraded: bool
    latency_ms: float
    features: bytes
    feature_schema: str
    missing_features: tuple[str, ...]

    def check(self) -> None:
        """Raise ValueError when a field breaks the format (a service bug, not bad input)."""
        if not _TS.fullmatch(self.ts):
            raise ValueError("audit ts must be RFC 3339 UTC with microseconds (…T…:…:….ffffffZ)")
        if self.last4 is not None and not _LAST4.fullmatch(self.last4):
            raise ValueError("audit last4 must be 4 digits or None")
        if self.card_token.isdigit():
            # A bare digit string is what a PAN looks like; a token never does.
            raise ValueError("audit card_token must be a token, not a digit string")
        if not (_HEX64.fullmatch(self.feature_hash) and _HEX64.fullmatch(self.model_sha256)):
            raise ValueError("audit feature_hash and model_sha256 must be 64 lowercase hex digits")
        if not self.thresholds_version:
            raise ValueError("audit thresholds_version must be a non-empty string")
        if not (math.isfinite(self.score) and math.isfinite(self.latency_ms)):
            raise ValueError("audit score and latency_ms must be finite")
        if not self.features or len(self.features) % 4 or not self.feature_schema:
            raise ValueError("audit features must be float32 bytes with a feature_schema")


def utc_timestamp(now: datetime | None = None) -> str:
    """RFC 3339 UTC timestamp with microseconds, e.g. ``2025-01-31T23:59:59.123456Z``."""
    moment = datetime.now(UTC) if now is None else now.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def feature_hash(vector: npt.ArrayLike) -> str:
    """SHA-256 hex of the model input as little-endian float32, C order (shape not included)."""
    arr = np.ascontiguousarray(vector, dtype="<f4")
    return hashlib.sha256(arr.tobytes()).hexdigest()


class _Hmac:
    """HMAC-SHA256 (RFC 2104) from two precomputed SHA-256 states, the key's inner and outer pads.

    Same digest as ``hmac.new(key, msg, sha256)`` (tests hold them equal for keys of every length
    class); half the cost per record: copying an OpenSSL HMAC context (what ``hmac``'s ``copy``
    does) cost about twice two SHA-256 copies on the service's VM, and the writer MACs every
    record.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _SHA256_BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_SHA256_BLOCK, b"\0")
        self._inner = hashlib.sha256(key.translate(_IPAD))
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def hexdigest(self, msg: bytes) -> str:
        inner = self._inner.copy()
        inner.update(msg)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


_SHA256_BLOCK = 64
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class ChainEncoder:
    """Turns records into chained, MAC'd lines for one stream. Not thread-safe: one owner.

    ``seq`` and ``prev`` advance only through :meth:`encode`, so the chain order is the order of
    the calls; the writer thread is the only caller.

    The line's members are built in sorted order, so orjson writes them as they come: the same
    bytes as ``OPT_SORT_KEYS`` (which sorted the same 21 keys again for every record; a test
    holds the two equal) at less cost.
    """

    __slots__ = ("_hmac", "prev", "seq", "stream")

    def __init__(self, key: bytes, stream: str, *, seq: int = 0, prev: str = GENESIS_MAC) -> None:
        self._hmac = _Hmac(key)
        self.stream = stream
        self.seq = seq
        self.prev = prev

    def encode(self, rec: AuditRecord) -> bytes:
        """The record's line (with trailing newline); advances the chain."""
        body: dict[str, Any] = {  # keys in sorted order (see the class docstring)
            "card_token": rec.card_token,
            "decision": rec.decision,
            "degraded": bool(rec.degraded),
            "feature_hash": rec.feature_hash,
            "feature_schema": rec.feature_schema,
            "features": base64.b64encode(rec.features).decode("ascii"),
            "last4": rec.last4,
            "latency_ms": float(rec.latency_ms),
            "missing_features": list(rec.missing_features),
            "model_sha256": rec.model_sha256,
            "model_version": rec.model_version,
            "prev": self.prev,
            "reason_codes": list(rec.reason_codes),
            "request_id": rec.request_id,
            "score": float(rec.score),
            "seq": self.seq,
            "stream": self.stream,
            "thresholds_version": rec.thresholds_version,
            "transaction_id": rec.transaction_id,
            "ts": rec.ts,
            "v": FORMAT_VERSION,
        }
        canonical = orjson.dumps(body)
        digest = self._hmac.hexdigest(canonical)
        self.seq += 1
        self.prev = digest
        return b"".join((canonical[:-1], b',"mac":"', digest.encode("ascii"), b'"}\n'))
