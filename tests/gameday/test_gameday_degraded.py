"""Degraded decisions per game-day step: the service's counters parsed from /metrics, read at each
step's boundaries by the controller, judged against ``degraded_allowed`` and shown in the journal
and the per-step table; "not reported" (never 0) when they cannot be read."""

from __future__ import annotations

import time
from pathlib import Path

from gd_support import series

from harness.chaos import FakeFault
from harness.chaos.gameday import (
    GameDayController,
    Plan,
    PlannedStep,
    ScheduledFault,
    StepGuard,
    build_journal,
    count_degraded,
)
from harness.chaos.gameday import Outcome as GameDayOutcome
from harness.ledger import Ledger
from harness.report.gameday import step_rows
from harness.spec import load_gameday
from harness.spec.faults import LatencyFault
from harness.target import DecisionCounters, parse_decision_counters

ROOT = Path(__file__).resolve().parents[2]
FEATURE_STORE = ROOT / "scenarios" / "gamedays" / "feature-store-latency.yaml"

EXPOSITION = """\
# HELP slo_decisions_total Decisions by outcome
# TYPE slo_decisions_total counter
slo_decisions_total{decision="approve"} 900.0
slo_decisions_total{decision="decline"} 100.0
# HELP slo_degraded_decisions_total Decisions scored without velocity features, by cause
# TYPE slo_degraded_decisions_total counter
slo_degraded_decisions_total{cause="timeout"} 7.0
slo_degraded_decisions_total{cause="circuit_open"} 5.0
slo_degraded_decisions_created{cause="timeout"} 1.7e9
slo_http_requests_total{route="score",status="200"} 1000.0
"""


def test_counters_are_summed_over_labels_and_other_series_ignored() -> None:
    """Both families are summed over their label values; ``_created`` and other metrics are not
    counted."""
    assert parse_decision_counters(EXPOSITION) == DecisionCounters(decisions=1000.0, degraded=12.0)


def test_a_declared_family_without_samples_is_zero_and_a_missing_one_is_none() -> None:
    """A family with its TYPE line but no sample counted nothing yet (0); a family the
    exposition does not have is not reported (None), never 0."""
    declared = "# TYPE slo_degraded_decisions_total counter\nslo_decisions_total 3\n"
    assert parse_decision_counters(declared) == DecisionCounters(decisions=3.0, degraded=0.0)
    other = "# TYPE http_requests_total counter\nhttp_requests_total 5\n"
    assert parse_decision_counters(other) == DecisionCounters(decisions=None, degraded=None)


def test_the_reference_service_declares_its_degraded_counter_at_zero() -> None:
    """The service's metrics carry the degraded family (at 0) before anything degraded, so a
    scrape tells "none" from "not counted"."""
    from reference_service.featurestore import LookupOutcome
    from reference_service.metrics import Metrics

    metrics = Metrics()
    metrics.declare_degraded(LookupOutcome.ALL)
    text = metrics.render()[0].decode()
    assert parse_decision_counters(text).degraded == 0.0


def _counts(decisions: float | None, degraded: float | None) -> DecisionCounters:
    return DecisionCounters(decisions=decisions, degraded=degraded)


def test_count_rules() -> None:
    """A failed reading, a missing family, a reset counter or a restart of the service is not
    reported (with the reason);
    otherwise the difference; judged only when degraded decisions are not allowed."""
    ok = count_degraded(_counts(100, 2), _counts(600, 2), allowed=False)
    assert (ok.degraded, ok.decisions, ok.held) == (0, 500, True)
    bad = count_degraded(_counts(100, 2), _counts(600, 40), allowed=False)
    assert (bad.degraded, bad.held) == (38, False)
    allowed = count_degraded(_counts(100, 2), _counts(600, 40), allowed=True)
    assert (allowed.degraded, allowed.held) == (38, None)
    failed = count_degraded(_counts(1, 0), None, allowed=False, why_missing="GET /metrics: 404")
    assert (failed.degraded, failed.held, failed.note) == (None, None, "GET /metrics: 404")
    missing = count_degraded(_counts(1, None), _counts(2, None), allowed=False)
    assert missing.degraded is None
    assert "does not expose" in (missing.note or "")
    reset = count_degraded(_counts(900, 10), _counts(50, 0), allowed=True)
    assert reset.degraded is None
    assert "restarted" in (reset.note or "")
    killed = count_degraded(_counts(100, 0), _counts(900, 0), allowed=False, restarted=True)
    assert (killed.degraded, killed.held) == (None, None)  # a kill of the service resets them


class _Reader:
    """Counters that grow by a scripted amount per reading (or fail)."""

    def __init__(self, readings: list[DecisionCounters | None]) -> None:
        self.readings = readings
        self.calls = 0
        self.last_error: str | None = None

    def __call__(self) -> DecisionCounters | None:
        reading = self.readings[self.calls]
        self.calls += 1
        self.last_error = None if reading is not None else "GET /metrics: ConnectError"
        return reading


def _controller(tmp_path: Path, reader: _Reader, *steps: PlannedStep) -> GameDayController:
    plan = Plan("t", 1.0, 1.0, 2.0, steps, 30.0, (), 2.0, 2.0)
    ledger = Ledger(tmp_path / "state")
    ctl = GameDayController(
        plan,
        [ScheduledFault(s, FakeFault(s.name)) for s in steps],
        lambda clock: StepGuard(ledger, clock),
        counters=reader,
    )
    ctl.started(time.time_ns(), 2.0)
    return ctl


def test_the_controller_reads_before_injection_and_after_rollback(tmp_path: Path) -> None:
    """One reading just before the fault goes on and one a judgement window (2 s) after its
    rollback; a step cut short by the end of the run gets its second reading from rollback_all;
    the journal's steps carry the counts, a disallowed degraded decision fails the step, and the
    table shows each."""
    slow = PlannedStep("slow", LatencyFault(latency_ms=200), 5.0, 8.0, (), False)
    outage = PlannedStep("outage", LatencyFault(latency_ms=900), 10.0, 40.0, (), True)
    reader = _Reader([_counts(100, 0), _counts(400, 3), _counts(500, 3), _counts(900, 300)])
    ctl = _controller(tmp_path, reader, slow, outage)
    ctl.tick(5.0)
    assert reader.calls == 1  # before the injection
    ctl.tick(8.0)
    ctl.tick(9.9)
    assert reader.calls == 1  # the stalled requests are decided after the rollback
    ctl.tick(10.0)
    assert reader.calls == 3  # "slow" one window after its rollback, then before "outage"
    ctl.rollback_all()  # the run ended during "outage"
    assert reader.calls == 4
    gameday = load_gameday(FEATURE_STORE)
    samples = series([{"ok": 100}] * 14)
    started = ctl.guard.records[0]
    assert started.injected_at_s is not None
    journal = build_journal(gameday, ctl, samples, GameDayOutcome.COMPLETED, None, _now(), _now())
    first, second = journal.steps
    assert (first.degraded_decisions, first.decisions_scored) == (3, 300)
    assert first.held is False  # degraded decisions were not allowed here
    assert first.checks[-1].objective == "no degraded decisions"
    assert (second.degraded_decisions, second.decisions_scored) == (297, 400)
    assert second.degraded_allowed
    rows = step_rows(journal.steps)
    assert rows[0][-2] == "3 of 300 (NOT ALLOWED)"
    assert rows[1][-2] == "297 of 400 (allowed)"


def test_an_unreadable_counter_is_not_reported_never_zero(tmp_path: Path) -> None:
    """A failed reading leaves the step "not reported", with the error, and does not decide the
    step's expectations."""
    step = PlannedStep("slow", LatencyFault(latency_ms=200), 5.0, 8.0, (), False)
    ctl = _controller(tmp_path, _Reader([_counts(100, 0), None]), step)
    ctl.tick(5.0)
    ctl.tick(8.0)
    ctl.tick(10.0)
    journal = build_journal(
        load_gameday(FEATURE_STORE),
        ctl,
        series([{"ok": 100}] * 14),
        GameDayOutcome.COMPLETED,
        None,
        _now(),
        _now(),
    )
    (doc,) = journal.steps
    assert doc.degraded_decisions is None
    assert doc.degraded_note == "GET /metrics: ConnectError"
    assert doc.held is True  # the load's checks held; the count is unknown, not a failure
    assert step_rows(journal.steps)[0][-2] == "not reported"


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)
