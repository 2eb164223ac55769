"""Every decision the service answers has exactly one audit record, and no record holds a PAN."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from svc_support import ServiceFactory, make_pan, transaction


def test_one_record_per_decision(services: ServiceFactory) -> None:
    """Concurrent PAN and token decisions: records match responses one to one, field by field."""
    svc = services.start()
    pans = [make_pan() for _ in range(10)]
    bodies = [transaction(pan=p) for p in pans] + [transaction() for _ in range(10)]
    with ThreadPoolExecutor(8) as pool, httpx.Client(base_url=svc.base, timeout=10) as c:
        responses = list(pool.map(lambda b: c.post("/v1/score", json=b), bodies))
    assert all(r.status_code == 200 for r in responses)
    records = {rec["request_id"]: rec for rec in svc.audit_lines()}
    assert len(records) == len(svc.audit_lines()) == len(bodies)
    model = svc.client.get("/v2/models/fraud").json()
    for body, r in zip(bodies, responses, strict=True):
        out = r.json()
        rec = records[out["request_id"]]
        assert rec["transaction_id"] == body["transaction_id"] == out["transaction_id"]
        assert rec["card_token"] == out["card_token"]
        assert rec["decision"] == out["decision"]
        assert rec["score"] == out["score"]
        assert rec["reason_codes"] == out["reason_codes"]
        assert rec["degraded"] is out["degraded"] is False
        assert rec["model_version"] == out["model_version"] == model["versions"][0]
        assert rec["thresholds_version"] == out["thresholds_version"] == "default-1"
        assert len(rec["model_sha256"]) == len(rec["feature_hash"]) == 64
        assert rec["last4"] == (body["pan"][-4:] if "pan" in body else None)
    seqs = sorted(rec["seq"] for rec in records.values())
    assert seqs == list(range(len(bodies)))
    raw = b"".join(p.read_bytes() for p in svc.audit_dir.glob("*.jsonl"))
    assert not [p for p in pans if p.encode() in raw]


def test_record_carries_the_configured_thresholds_version(
    services: ServiceFactory, tmp_path: Path
) -> None:
    """With a --thresholds file, the record names that file's version, as the response does,
    carries the model input (format 3), and `audit replay` with that file reproduces it."""
    from click.testing import CliRunner

    from harness.cli import cli

    th = tmp_path / "thresholds.yaml"
    th.write_text("version: risk-2025-07-b\nreview: 0.4\ndecline: 0.9\n")
    svc = services.start("--thresholds", str(th))
    out = svc.score().json()
    (rec,) = svc.audit_lines()
    assert rec["request_id"] == out["request_id"]
    assert rec["decision"] == out["decision"]
    assert rec["thresholds_version"] == out["thresholds_version"] == "risk-2025-07-b"
    assert rec["v"] == 3
    assert rec["feature_schema"] == "fraud-features-1"
    assert rec["reason_codes"] == out["reason_codes"]
    svc.stop()  # durable: the record was on disk before the answer; the lock is released
    replay = CliRunner().invoke(
        cli,
        ["audit", "replay", str(svc.audit_dir), "--key-file", str(svc.workdir / "audit.key"),
         "--thresholds", str(th)],
    )  # fmt: skip
    assert replay.exit_code == 0, replay.output
    assert "1 of 1 decisions reproduce" in replay.output


def test_async_mode_flushes_on_sigterm(services: ServiceFactory) -> None:
    """In async mode records are written after the answer; SIGTERM still flushes all of them."""
    svc = services.start("--audit-mode", "async", "--audit-batch-delay-ms", "50")
    n = 25
    with httpx.Client(base_url=svc.base, timeout=10) as c:
        ids = {c.post("/v1/score", json=transaction()).json()["request_id"] for _ in range(n)}
    svc.stop(signal.SIGTERM)
    assert {rec["request_id"] for rec in svc.audit_lines()} == ids
