"""Drive the real scoring pipeline in-process into a real durable audit trail, quickly.

The service's own ``ScorePipeline`` (PAN tokenisation, budgeted feature store, ONNX scorer,
thresholds, reason codes, audit trail with group-committed fsync) runs on one event loop with 64
concurrent requests: a few thousand decisions take a few seconds, without a server process. A
feature store that stalls for a fixed set of cards makes their lookups time out against the
budget (degraded decisions, ``FEATURES_UNAVAILABLE``), exactly as a hung Redis would.

Transactions are seeded and mixed so every decision class appears: ordinary card-present grocery
purchases, risky card-not-present ones (high-risk MCC, foreign IP, new account, unknown device),
and cards reused often enough to trip the velocity flags. PANs are synthetic (test BIN 999999,
Luhn digit computed) and recorded in ``SENT_PANS`` so outputs can be scanned for them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from reference_service.audit import AuditTrail
from reference_service.decision import Thresholds
from reference_service.featurestore import BudgetedFeatures, InProcessStore
from reference_service.model import OnnxScorer, Velocity
from reference_service.pan import PanTokenizer
from reference_service.pipeline import ScorePipeline

AUDIT_KEY = bytes.fromhex("a5" * 32)
PAN_KEY = bytes.fromhex("3c" * 32)
#: Low cut-offs (a non-default version), so review and decline are common in a few thousand.
THRESHOLDS = Thresholds(version="replay-test-2", review=0.05, decline=0.2)
SENT_PANS: set[str] = set()
BUDGET_S = 0.005


def luhn_pan(rng: random.Random, length: int = 16) -> str:
    """A synthetic Luhn-valid PAN in the unissued test range 999999."""
    body = "999999" + "".join(rng.choice("0123456789") for _ in range(length - 7))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    pan = body + str((10 - total % 10) % 10)
    SENT_PANS.add(pan)
    return pan


class StallingStore(InProcessStore):
    """In-process velocity, except that lookups of ``stalled`` cards hang (a hung store)."""

    in_memory = False  # go through the budget and the timeout like a remote store

    def __init__(self, stalled: set[str]) -> None:
        super().__init__()
        self.stalled = stalled

    async def velocity(self, token: str, now: float) -> Velocity:
        if token in self.stalled:
            await asyncio.sleep(BUDGET_S * 20)  # cancelled by the budget's timeout
        return await super().velocity(token, now)


def _request(rng: random.Random, i: int, pan: str) -> dict[str, Any]:
    risky = rng.random() < 0.35
    when = datetime(2026, 11, 29, 12, 0, tzinfo=UTC) + timedelta(minutes=rng.randrange(1440))
    body: dict[str, Any] = {
        "transaction_id": f"tx-{i:05d}q{rng.getrandbits(20):05x}",
        "amount": round(rng.uniform(900, 5000) if risky else rng.uniform(3, 120), 2),
        "currency": rng.choice(["USD", "EUR", "GBP"]),
        "merchant_id": f"m-{rng.randrange(50)}",
        "merchant_category_code": rng.choice(["7995", "6051", "4829"]) if risky else "5411",
        "merchant_country": "US",
        "billing_country": "US" if not risky else rng.choice(["US", "GB"]),
        "ip_country": rng.choice(["NG", "RU"]) if risky else "US",
        "card_present": not risky,
        "timestamp": when.isoformat(),
        "pan": pan,
    }
    if rng.random() < 0.8:
        body["account_age_days"] = rng.uniform(0, 15) if risky else rng.uniform(30, 3000)
    if rng.random() < 0.8:
        body["device_known"] = not risky
    return body


@dataclass(frozen=True, slots=True)
class DrivenTrail:
    """A trail written by the pipeline and what the clients were answered."""

    directory: Path
    responses: list[dict[str, Any]]
    decisions: Counter[str]
    degraded: int


def drive(
    directory: Path,
    n: int,
    *,
    seed: int = 14,
    concurrency: int = 64,
    thresholds: Thresholds = THRESHOLDS,
    stream_id: str = "replay-test",
) -> DrivenTrail:
    """Score ``n`` seeded transactions through the real pipeline into ``directory``."""
    rng = random.Random(seed)
    tokenizer = PanTokenizer(PAN_KEY)
    cards = [luhn_pan(rng) for _ in range(max(20, n // 12))]
    stalled = {tokenizer.token_of(p) for p in cards[: len(cards) // 10]}
    bodies = [json.dumps(_request(rng, i, rng.choice(cards))).encode() for i in range(n)]

    async def body() -> list[dict[str, Any]]:
        trail = AuditTrail(directory, AUDIT_KEY, stream_id=stream_id)
        await trail.start()
        features = BudgetedFeatures(StallingStore(stalled), BUDGET_S, failure_threshold=10**9)
        pipeline = ScorePipeline(
            tokenizer=tokenizer,
            features=features,
            scorer=OnnxScorer.load(),
            thresholds=thresholds,
            audit=trail,
            on_decision=lambda _d: None,
            on_cpu=lambda _s: None,
        )
        queue = list(enumerate(bodies))
        out: list[dict[str, Any]] = [{} for _ in bodies]

        async def worker() -> None:
            while queue:
                i, raw = queue.pop()
                out[i] = json.loads(await pipeline.handle(raw, f"rq{i:05d}z", time.perf_counter()))

        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            await features.close()
            await trail.close()
        return out

    responses = asyncio.run(asyncio.wait_for(body(), timeout=120))
    return DrivenTrail(
        directory=directory,
        responses=responses,
        decisions=Counter(r["decision"] for r in responses),
        degraded=sum(r["degraded"] for r in responses),
    )


def rechain(
    trail: Path, seq: int, change: Callable[[dict[str, Any]], None], stream: str = "replay-test"
) -> None:
    """Apply ``change`` to record ``seq`` and re-MAC it and every later record with the key, as
    a forger holding the key would: the chain verifies afterwards."""
    (segment,) = sorted(trail.glob(f"audit-{stream}-*.jsonl"))
    lines = segment.read_bytes().splitlines()
    prev: str | None = None
    out: list[bytes] = []
    for raw in lines:
        rec = json.loads(raw)
        if rec["seq"] == seq:
            change(rec)
        if rec["seq"] >= seq:
            if prev is not None:
                rec["prev"] = prev
            del rec["mac"]
            canonical = orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)
            mac = hmac.new(AUDIT_KEY, canonical, hashlib.sha256).hexdigest()
            raw = canonical[:-1] + b',"mac":"' + mac.encode() + b'"}'
            prev = mac
        out.append(raw)
    segment.write_bytes(b"\n".join(out) + b"\n")


def thresholds_file(path: Path) -> Path:
    """Write :data:`THRESHOLDS` as a thresholds file the service and the harness both read."""
    path.write_text(
        json.dumps({"version": THRESHOLDS.version, "review": THRESHOLDS.review,
                    "decline": THRESHOLDS.decline})
    )  # fmt: skip
    return path


def key_file(path: Path) -> Path:
    path.write_text(AUDIT_KEY.hex())
    return path
