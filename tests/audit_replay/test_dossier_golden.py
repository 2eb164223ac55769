"""Golden file of the text dossier (``audit show``): its layout is a format auditors file away.

The trail holds two decisions built exactly as the service builds them (the shared encoder, the
packaged ONNX model, the service's decide and reason codes), with fixed times and ids, written by
the real writer under a test key; one is degraded. After a deliberate layout change, regenerate
with ``python tests/audit_replay/test_dossier_golden.py --regenerate-golden``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
from pathlib import Path

from harness.audit import build_dossiers, dossier_text, replay_inputs
from reference_service.audit import AuditRecord, AuditTrail
from reference_service.decision import DEFAULT_THRESHOLDS, decide, reason_codes
from reference_service.model import FEATURE_NAMES, FEATURE_SCHEMA, OnnxScorer, RawFeatures, Velocity
from reference_service.model.features import encode

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "dossier" / "dossier.txt"
KEY = bytes.fromhex("5a" * 32)

_RAW = (
    RawFeatures(amount=2450.0, currency="EUR", merchant_category_code="7995", card_present=False,
                merchant_country="GB", billing_country="DE", ip_country="NG", hour_utc=3,
                account_age_days=4.0, device_known=False,
                velocity=Velocity(count_1h=6, count_24h=21, amount_1h=900.0, amount_24h=3100.0)),
    RawFeatures(amount=61.2, currency="USD", merchant_category_code="5411", card_present=True,
                merchant_country="US", billing_country="US", ip_country="US", hour_utc=17,
                account_age_days=None, device_known=None, velocity=None),
)  # fmt: skip


def _record(i: int, raw: RawFeatures, scorer: OnnxScorer) -> AuditRecord:
    x = encode(raw).reshape(1, -1)
    score = float(scorer.score(x)[0])
    decision = decide(score, DEFAULT_THRESHOLDS)
    values = x[0].tolist()
    data = x[0].astype("<f4").tobytes()
    return AuditRecord(
        ts=f"2026-11-29T21:00:0{i}.000001Z",
        request_id=f"req{i}x",
        transaction_id=f"tx-golden-{i}",
        card_token=f"ct_goldenCardToken{i}",
        last4="4242" if i == 0 else None,
        model_version=scorer.info.version,
        model_sha256=scorer.info.sha256,
        feature_hash=hashlib.sha256(data).hexdigest(),
        score=score,
        decision=decision.value,
        thresholds_version=DEFAULT_THRESHOLDS.version,
        reason_codes=tuple(reason_codes(values, decision, DEFAULT_THRESHOLDS)),
        degraded=raw.velocity is None,
        latency_ms=1.25,
        features=data,
        feature_schema=FEATURE_SCHEMA,
        missing_features=tuple(n for n, v in zip(FEATURE_NAMES, values, strict=True) if v != v),
    )


def render(directory: Path) -> str:
    """Write the two-decision trail into ``directory`` and return both dossiers as text."""
    scorer = OnnxScorer.load()

    async def write() -> None:
        trail = AuditTrail(directory, KEY, stream_id="golden")
        await trail.start()
        for i, raw in enumerate(_RAW):
            await trail.append(_record(i, raw, scorer))
        await trail.close()

    asyncio.run(asyncio.wait_for(write(), timeout=20))
    models, rules = replay_inputs((), ())
    out = []
    for i in range(len(_RAW)):
        audit, dossiers = build_dossiers(directory, KEY, f"tx-golden-{i}", models, rules, 1e-6)
        assert audit.ok
        out += [dossier_text(d) for d in dossiers]
    return "\n".join(out)


def test_text_dossier_matches_the_golden_file(tmp_path: Path) -> None:
    """The text dossier of a flagged decision and of a degraded one is byte-identical to the
    committed golden file."""
    assert render(tmp_path / "audit") == GOLDEN.read_text(encoding="utf-8")


if __name__ == "__main__":
    import tempfile

    parser = argparse.ArgumentParser(description="regenerate the golden text dossier")
    parser.add_argument("--regenerate-golden", action="store_true", required=True)
    parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(render(Path(tmp) / "audit"), encoding="utf-8")
    print(f"wrote {GOLDEN}")
