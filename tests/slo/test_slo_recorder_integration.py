"""evaluate() on a RunResult built by the real Recorder: a 1 s stall fails p99 and burns budget."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from harness.measure.phase import PhaseMeta
from harness.measure.recorder import Recorder
from harness.measure.result import (
    Clock,
    GeneratorHealth,
    Outcome,
    PhaseKind,
    RunResult,
    ScenarioRef,
    TargetInfo,
)
from harness.slo import ObjectiveStatus, VerdictStatus, evaluate
from harness.spec import default_slo, parse_slo

RATE = 200  # requests/s
SECONDS = 30
STALL = (10.0, 11.0)  # nothing could be sent in this second: every request left at its end
MS = 1_000_000


def _recorded_run() -> RunResult:
    """Simulate 200 requests/s where, for 1 s, requests could only leave at the second's end.

    The service clock (actual send to response) sees 2 ms throughout; the intended clock sees the
    wait, as a real client of an open system would (coordinated omission, REFERENCE.md).
    """
    run_start_wall = time.time_ns()
    recorder = Recorder(run_start_wall_ns=run_start_wall, interval_s=1.0, lateness_ns=5 * MS)
    mono0 = time.monotonic_ns() + (run_start_wall - time.time_ns())  # mono instant of run start
    for i in range(RATE * SECONDS):
        intended = mono0 + i * (1_000_000_000 // RATE)
        t = i / RATE
        stalled = STALL[0] <= t < STALL[1]
        sent = mono0 + int(STALL[1] * 1e9) if stalled else intended
        done = sent + 2 * MS
        recorder.offered("steady", run_start_wall + (intended - mono0))
        recorder.record(phase="steady", endpoint="score", outcome=Outcome.OK,
                        intended_ns=intended, sent_ns=sent, done_ns=done)  # fmt: skip
    meta = PhaseMeta("steady", PhaseKind.STEADY, True, 0.0, float(SECONDS), float(RATE))
    phases, intervals = recorder.build([meta])
    health = GeneratorHealth(5.0, 9.0, 0.1, 0.2, 256, 210, 0, True)
    now = datetime.now(UTC)
    return RunResult(
        scenario=ScenarioRef("stall", "stall.yaml", "0" * 64),
        target=TargetInfo("http://127.0.0.1:9", started_by_harness=False),
        started_at=now,
        ended_at=now,
        phases=phases,
        intervals=intervals,
        generator=health,
    )


@pytest.fixture(scope="module")
def stalled() -> RunResult:
    """The simulated run (built once)."""
    return _recorded_run()


def test_stall_fails_p99_from_intended_times(stalled: RunResult) -> None:
    """Intended-clock p99 is about 0.7 s (REFERENCE: coordinated omission), so p99 < 50 ms fails."""
    verdict = evaluate(stalled, default_slo())
    assert verdict.status is VerdictStatus.FAIL
    p99 = verdict.objectives[0]
    assert p99.status is ObjectiveStatus.FAIL
    assert p99.observed == pytest.approx(700, rel=0.02)
    assert stalled.phases[0].latency(clock=Clock.SERVICE).percentile_ms(99) < 3  # blind to it


def test_stall_burns_latency_budget_in_both_windows(stalled: RunResult) -> None:
    """The stall burns the 99%-under-50-ms budget past the workbook's 6x in 10 s and 2 s windows."""
    slo = parse_slo(
        {"name": "burn", "objectives": [{"metric": "burn_rate", "sli": "latency", "target": 0.99,
         "latency_threshold_ms": 50, "windows": [{"long_s": 10, "short_s": 2, "max_burn": 6}]}]},
        "b.yaml",
    )  # fmt: skip
    (row,) = evaluate(stalled, slo).objectives
    assert row.status is ObjectiveStatus.FAIL
    assert row.observed is not None
    # The ~190 responses slower than 50 ms all complete at 11 s: the 10 s window ending at 12 s
    # holds them among ~2,000 events (9.5% bad / 1% budget = 9.5x); the 2 s window ~48x.
    assert row.observed == pytest.approx(9.55, rel=0.02)
    assert row.samples == RATE * SECONDS
