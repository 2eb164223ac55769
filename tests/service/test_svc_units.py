"""Unit behaviour of the service's pieces: PAN tokens, velocity windows, breaker, admission."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import pytest
from svc_support import bad_luhn, make_pan, scan_for_pans, transaction

from reference_service.admission import Admission
from reference_service.app import ServiceApp
from reference_service.audit import AuditError, AuditRecord
from reference_service.config import ServiceConfig
from reference_service.decision import DEFAULT_THRESHOLDS, Thresholds, decide
from reference_service.featurestore import BudgetedFeatures, InProcessStore
from reference_service.model.features import Velocity
from reference_service.model.scorer import FakeScorer
from reference_service.pan import PanError, PanKeyError, PanTokenizer, luhn_valid
from reference_service.pipeline import ScorePipeline
from reference_service.resources import Keys
from reference_service.schema import Decision

KEY = bytes(range(32))


def test_generated_pans_pass_luhn_and_corrupted_ones_fail() -> None:
    """The runtime PAN generator and the service's Luhn check agree."""
    for length in (12, 15, 16, 19):
        pan = make_pan(length)
        assert luhn_valid(pan)
        assert not luhn_valid(bad_luhn(pan))


def test_tokenizer_errors_never_contain_the_pan() -> None:
    """Every PAN rejection message is free of the PAN and of its first digits."""
    tok = PanTokenizer(KEY)
    good = make_pan()
    for bad in (bad_luhn(good), good[:11], good + "1234", good[:6] + "x" * 10):
        with pytest.raises(PanError) as info:
            tok.tokenize(bad)
        assert bad not in str(info.value)
        assert bad[:6] not in str(info.value)


def test_tokens_are_keyed_and_stable() -> None:
    """Same key + PAN -> same token; another key -> another token; last4 is kept."""
    pan = make_pan()
    a = PanTokenizer(KEY).tokenize(pan)
    assert a == PanTokenizer(KEY).tokenize(pan)
    assert a.token != PanTokenizer(bytes(32)).tokenize(pan).token
    assert a.last4 == pan[-4:]
    assert pan not in a.token


def test_short_key_is_refused() -> None:
    """Keys under 32 bytes are refused."""
    with pytest.raises(PanKeyError):
        PanTokenizer(b"short")


def test_inprocess_windows_slide() -> None:
    """Counts and amounts cover 1 h / 24 h before ``now``, excluding older events."""
    store = InProcessStore()

    async def run() -> list[Velocity]:
        t = 1_000_000.0
        await store.record("c", t, 10.0)
        await store.record("c", t + 1800, 20.0)
        out = [await store.velocity("c", t + 1801)]
        out.append(await store.velocity("c", t + 3601))  # first event left the 1 h window
        out.append(await store.velocity("c", t + 86400 + 1801))  # everything left 24 h
        out.append(await store.velocity("other", t))
        return out

    v = asyncio.run(run())
    assert v[0] == Velocity(2, 2, 30.0, 30.0)
    assert v[1] == Velocity(1, 2, 20.0, 30.0)
    assert v[2] == Velocity(0, 0, 0.0, 0.0)
    assert v[3] == Velocity(0, 0, 0.0, 0.0)


class _SlowStore:
    """A store whose lookups take ``delay`` seconds (fake for budget tests)."""

    in_memory = False  # goes through the budget like Redis

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0

    async def velocity(self, token: str, now: float) -> Velocity:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return Velocity(1, 1, 1.0, 1.0)

    async def record(self, token: str, now: float, amount_usd: float) -> None:
        return None

    async def close(self) -> None:
        return None


def test_budget_and_breaker() -> None:
    """Slow lookups time out at the budget; after 3 failures the breaker skips the store until
    its cool-down ends, then one probe closes it again."""
    clock = [0.0]
    store = _SlowStore(delay=1.0)
    causes: list[str] = []
    feats = BudgetedFeatures(
        store,
        0.01,
        failure_threshold=3,
        cooldown_s=5.0,
        on_degraded=causes.append,
        clock=lambda: clock[0],
    )

    async def run() -> list[Velocity | None]:
        out = [await feats.velocity("c", 0.0) for _ in range(5)]
        store.delay = 0.0
        clock[0] = 6.0  # cool-down over: the next call probes and succeeds
        out.append(await feats.velocity("c", 0.0))
        out.append(await feats.velocity("c", 0.0))
        return out

    v = asyncio.run(run())
    assert v[:5] == [None] * 5
    assert causes == ["timeout"] * 3 + ["circuit_open"] * 2
    assert store.calls == 3 + 2  # 3 timed out, breaker skipped 2, then probe + normal
    assert v[5] == v[6] == Velocity(1, 1, 1.0, 1.0)


def _saturate(
    adm: Admission, cpu: list[float], now: float, rate_per_s: float, seconds: float
) -> float:
    """Drive ``adm`` at its limit (every slot busy, extra arrivals shed) as a CPU-bound worker
    completing ``rate_per_s`` requests per second (its thread's CPU clock ``cpu[0]`` runs with
    wall time); returns the clock at the end."""
    step = 1.0 / rate_per_s
    end = now + seconds
    while now < end:
        while adm.try_enter():
            pass  # fill every slot; the refused attempt marks the window saturated
        now += step
        cpu[0] += step
        adm.leave(now)
    return now


def test_admission_limit_follows_wall_time_capacity() -> None:
    """Under saturation the limit is budget/4 x measured completions per wall second (Little's
    law), whatever the CPU time the handler reports; slower wall time means a lower limit."""
    cpu = [0.0]
    adm = Admission(latency_budget_s=0.05, now=0.0, cpu_clock=lambda: cpu[0])
    for _ in range(500):
        adm.observe(10e-6)  # tiny CPU time must not raise the limit: it is not what queues
    now = _saturate(adm, cpu, 0.0, rate_per_s=1000.0, seconds=5.0)
    assert abs(adm.capacity_per_s - 1000.0) / 1000.0 < 0.05
    assert adm.limit == pytest.approx(0.0125 * 1000.0, abs=1)
    _saturate(adm, cpu, now, rate_per_s=4000.0, seconds=5.0)
    assert adm.limit == pytest.approx(0.0125 * 4000.0, abs=2)


def test_admission_thin_traffic_never_lowers_the_limit() -> None:
    """Windows without saturation or spanning idle gaps do not shrink the capacity estimate."""
    adm = Admission(latency_budget_s=0.05, now=0.0)
    before = adm.limit
    now = 0.0
    for _ in range(200):  # 10 requests/s, never saturated
        assert adm.try_enter()
        now += 0.1
        adm.leave(now)
    assert adm.limit == before
    assert adm.try_enter()
    adm.leave(now + 60.0)  # one completion after a minute of silence
    assert adm.limit == before


def test_admission_fixed_limit_holds() -> None:
    """--max-in-flight pins the limit; refusals are counted."""
    fixed = Admission(latency_budget_s=0.05, max_in_flight=2)
    assert fixed.try_enter()
    assert fixed.try_enter()
    assert not fixed.try_enter()
    assert fixed.shed_total == 1
    fixed.leave()
    assert fixed.try_enter()


def test_decision_bands() -> None:
    """Scores map to approve/review/decline at the configured cut-offs; NaN declines."""
    th = Thresholds(version="t", review=0.5, decline=0.85)
    assert decide(0.49, th) is Decision.APPROVE
    assert decide(0.5, th) is Decision.REVIEW
    assert decide(0.85, th) is Decision.DECLINE
    assert decide(float("nan"), th) is Decision.DECLINE
    assert DEFAULT_THRESHOLDS.version


def test_pan_scan_detects_a_pan(tmp_path: Path) -> None:
    """The end-of-session PAN scan finds a PAN written into a file (so it can fail)."""
    pan = make_pan()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "leak.log").write_text(f"noise {secrets.token_hex(4)} {pan} noise")
    hits = scan_for_pans([tmp_path], {pan})
    (tmp_path / "sub" / "leak.log").unlink()  # keep the session scan clean
    assert len(hits) == 1
    assert pan not in hits[0]


def test_audit_failure_answers_503_without_a_decision(tmp_path: Path) -> None:
    """Audit append fails -> 503 without a decision, and velocity is not updated."""

    class FailingTrail:
        async def append(self, rec: AuditRecord) -> None:
            raise AuditError("disk gone")

    store = InProcessStore()
    app = ServiceApp(ServiceConfig(audit_dir=str(tmp_path)), Keys(pan=KEY, audit=bytes(32)))
    app.pipeline = ScorePipeline(
        tokenizer=PanTokenizer(KEY),
        features=BudgetedFeatures(store, 0.01),
        scorer=FakeScorer(),
        thresholds=DEFAULT_THRESHOLDS,
        audit=FailingTrail(),
        on_decision=lambda _: None,
        on_cpu=lambda _: None,
    )
    app.ready = True
    body = json.dumps(transaction(card_token="tok_failingaudit")).encode()
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(msg: dict[str, object]) -> None:
        sent.append(msg)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/score",
        "headers": [(b"content-type", b"application/json")],
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 503
    payload = json.loads(sent[1]["body"])  # type: ignore[arg-type]
    assert "decision" not in payload
    assert "audit" in payload["error"]
    assert asyncio.run(store.velocity("tok_failingaudit", 0.0)) == Velocity(0, 0, 0.0, 0.0)


def test_admission_queueing_lowers_the_limit_without_refusals() -> None:
    """Admitted requests that start spending far longer in the worker than their no-queue time
    (5 ms -> 60 ms at 100 completions/s, the loop thread busy all the time) are queueing even if
    the limit was never reached: the limit drops to (no-queue time + budget/4) x completions
    per second."""
    cpu = [0.0]
    adm = Admission(latency_budget_s=0.05, now=0.0, cpu_clock=lambda: cpu[0])
    assert adm.limit > 30  # the optimistic start: 2,500/s assumed
    now = 0.0
    for wall_s in [0.005] * 100 + [0.060] * 400:
        assert adm.try_enter()
        now += 0.01
        cpu[0] += min(wall_s, 0.01)  # 5 ms of CPU each, then the thread never idle
        adm.leave(now, wall_s=wall_s)
    assert adm.limit <= 3


def test_admission_slow_io_handler_is_not_queueing() -> None:
    """A handler that awaits I/O for 48 ms (constant, never at the limit) keeps its limit: its
    no-queue time is high, its queueing delay is nil (the e2e 'slowed target' case)."""
    adm = Admission(latency_budget_s=0.05, now=0.0)
    before = adm.limit
    now = 0.0
    for _ in range(1000):  # 250 completions/s, 48 ms each
        assert adm.try_enter()
        now += 0.004
        adm.leave(now, wall_s=0.048)
    assert adm.limit >= before
    assert adm.limit >= 12  # 250/s x 48 ms are in flight at once
