"""The audit writer's line encoder against the format's definition: HMAC-SHA256 over orjson with
sorted keys. ``ChainEncoder`` builds members in sorted order and MACs from precomputed pads (both
for speed); these tests hold its lines to the straightforward construction, byte for byte."""

from __future__ import annotations

import base64
import hashlib
import hmac

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_service.audit import AuditRecord
from reference_service.audit.record import FORMAT_VERSION, GENESIS_MAC, ChainEncoder

_text = st.text(max_size=40)


def _reference_line(key: bytes, stream: str, seq: int, prev: str, rec: AuditRecord) -> bytes:
    """The line as docs/AUDIT_FORMAT.md defines it, built the plain way."""
    body = {f: getattr(rec, f) for f in rec.__struct_fields__}
    body.update(
        v=FORMAT_VERSION,
        stream=stream,
        seq=seq,
        prev=prev,
        reason_codes=list(rec.reason_codes),
        missing_features=list(rec.missing_features),
        features=base64.b64encode(rec.features).decode("ascii"),
    )
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    mac = hmac.new(key, canonical, hashlib.sha256).hexdigest()
    return canonical[:-1] + b',"mac":"' + mac.encode() + b'"}\n'


_records = st.builds(
    AuditRecord,
    ts=st.just("2025-01-31T23:59:00.000000Z"),
    request_id=_text,
    transaction_id=_text,
    card_token=_text,
    last4=st.none() | st.just("4242"),
    model_version=_text,
    model_sha256=st.just("ab" * 32),
    feature_hash=st.just("cd" * 32),
    score=st.floats(0, 1),
    decision=st.sampled_from(["approve", "review", "decline"]),
    thresholds_version=_text,
    reason_codes=st.lists(_text, max_size=4).map(tuple),
    degraded=st.booleans(),
    latency_ms=st.floats(0, 1e6),
    features=st.binary(min_size=4, max_size=64),
    feature_schema=_text,
    missing_features=st.lists(_text, max_size=3).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(
    key=st.binary(min_size=32, max_size=200),
    recs=st.lists(_records, min_size=1, max_size=3),
    stream=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True),
)
def test_lines_equal_the_plain_construction(
    key: bytes, recs: list[AuditRecord], stream: str
) -> None:
    """Every line, and the chain's seq/prev, match sorted-key orjson + ``hmac`` for keys shorter
    and longer than SHA-256's 64-byte block."""
    enc = ChainEncoder(key, stream)
    prev = GENESIS_MAC
    for seq, rec in enumerate(recs):
        line = enc.encode(rec)
        assert line == _reference_line(key, stream, seq, prev, rec)
        prev = orjson.loads(line)["mac"]
        assert (enc.seq, enc.prev) == (seq + 1, prev)


def test_block_sized_key_edges() -> None:
    """Keys of exactly 64 and 65 bytes (the pad/hash boundary) MAC as ``hmac`` does."""
    rec = AuditRecord(
        ts="2025-01-31T23:59:00.000000Z", request_id="r", transaction_id="t", card_token="ct_x",
        last4=None, model_version="m", model_sha256="ab" * 32, feature_hash="cd" * 32,
        score=0.5, decision="review", thresholds_version="t1", reason_codes=("A",),
        degraded=False, latency_ms=1.0, features=bytes(60), feature_schema="s",
        missing_features=(),
    )  # fmt: skip
    for n in (63, 64, 65, 128):
        key = bytes(range(n))
        assert ChainEncoder(key, "s").encode(rec) == _reference_line(key, "s", 0, GENESIS_MAC, rec)
