"""Per-step game-day metrics on rolling windows: held, time to detect, time to recover, budget."""

from __future__ import annotations

import pytest
from gd_support import sample
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harness.chaos.gameday import (
    Plan,
    PlannedStep,
    budgets_of,
    fill_gaps,
    holds,
    judge,
    measure_step,
    merge,
    steady_state,
)
from harness.measure import IntervalSample
from harness.spec.faults import PauseFault
from harness.spec.slo import (
    ErrorRateObjective,
    LatencyObjective,
    Percentile,
    SloSpec,
    ThroughputObjective,
    default_slo,
)

SLO = default_slo()  # p99 < 50 ms, error rate < 0.1%, availability >= 99.9%
ERROR_RATE_ONLY = SloSpec(name="errors", objectives=(ErrorRateObjective(threshold=0.001),))


def _plan(start: float, end: float, *, window: float, hold: float, total: float) -> Plan:
    step = PlannedStep("stall", PauseFault(), start, end, (), False)
    return Plan("t", 1.0, 1.0, 0.0, (step,), total, (), window, hold)


def _series(n: int, slow: range, per_second: int = 5) -> list[IntervalSample]:
    return [sample(i, ok=100, slow=per_second if i in slow else 0) for i in range(n)]


def test_a_stall_is_detected_held_false_and_recovered() -> None:
    """5% of responses at 900 ms during [10, 15): detected 1 s after injection (the first window
    containing a slow second), expectations not held, recovered once the 2 s window has slid past
    the last slow second and held for 3 s; the latency budget burned is counted exactly."""
    samples = _series(30, range(10, 15))
    plan = _plan(10.0, 15.0, window=2.0, hold=3.0, total=30.0)
    budgets = budgets_of(SLO, samples, plan)
    assert (budgets.error_ratio, budgets.events) == (0.001, 3000)
    assert budgets.latency_ratio == pytest.approx(0.01)
    m = measure_step(samples, plan.steps[0], plan, SLO, budgets, 10.0, 15.0)
    assert m.held is False
    assert m.deviated
    assert m.detected_after_s == 1.0
    assert m.recovered_after_s == 2.0
    assert m.error_budget_burned == 0.0
    assert m.bad_events == 0
    assert m.events == 700
    assert m.latency_budget_burned == pytest.approx(25 / 30)
    failed = [c for c in m.checks if c.held is False]
    assert failed
    assert failed[0].observed is not None
    assert failed[0].observed > 50


def test_a_harmless_fault_holds_and_has_nothing_to_detect() -> None:
    """No breach: held, no detection, no recovery time, nothing burned."""
    samples = _series(20, range(0))
    plan = _plan(5.0, 10.0, window=2.0, hold=2.0, total=20.0)
    m = measure_step(samples, plan.steps[0], plan, SLO, budgets_of(SLO, samples, plan), 5.0, 10.0)
    assert m.held is True
    assert not m.deviated
    assert m.detected_after_s is None
    assert m.recovered_after_s is None
    assert m.latency_budget_burned == 0.0


@given(
    st.integers(2, 20), st.integers(1, 8), st.integers(1, 5), st.integers(1, 5), st.integers(0, 5)
)
@settings(max_examples=80, deadline=None)
def test_detection_and_recovery_follow_the_window_definitions(
    start: int, length: int, window: int, hold: int, slack: int
) -> None:
    """Slow seconds exactly during [start, start+length): time to detect is one interval (the
    first window ending after the injection contains a slow second); time to recover is exactly
    the window length (the window must slide past the last slow second), whatever the hold."""
    assume(start >= window)  # a full window of baseline before the injection
    end = start + length
    n = end + window + hold + slack + 1
    samples = _series(n, range(start, end), per_second=20)  # > 1% slow in any window
    plan = _plan(float(start), float(end), window=float(window), hold=float(hold), total=float(n))
    m = measure_step(samples, plan.steps[0], plan, SLO, budgets_of(SLO, samples, plan), start, end)
    assert m.detected_after_s == 1.0
    assert m.recovered_after_s == float(window)
    assert m.held is False


def test_no_recovery_within_the_run_is_none() -> None:
    """Slow until the end: detected, never recovered."""
    samples = _series(15, range(5, 15))
    plan = _plan(5.0, 8.0, window=2.0, hold=2.0, total=15.0)
    m = measure_step(samples, plan.steps[0], plan, SLO, budgets_of(SLO, samples, plan), 5.0, 8.0)
    assert m.detected_after_s == 1.0
    assert m.recovered_after_s is None


def test_errors_burn_the_error_budget() -> None:
    """Failed requests during the step burn the error budget as a share of the whole game day's."""
    samples = [
        sample(i, ok=90 if 5 <= i < 7 else 100, failed=10 if 5 <= i < 7 else 0) for i in range(20)
    ]
    plan = _plan(5.0, 7.0, window=1.0, hold=2.0, total=20.0)
    budgets = budgets_of(SLO, samples, plan)
    m = measure_step(samples, plan.steps[0], plan, SLO, budgets, 5.0, 7.0)
    assert m.bad_events == 20
    assert m.error_budget_burned == pytest.approx(20 / (0.001 * 2000))


def test_shed_requests_burn_the_budget_of_an_availability_hypothesis_only() -> None:
    """503s during the step burn the error budget when availability is judged, not otherwise."""
    samples = [
        sample(i, ok=90 if 5 <= i < 7 else 100, shed=10 if 5 <= i < 7 else 0) for i in range(20)
    ]
    plan = _plan(5.0, 7.0, window=1.0, hold=2.0, total=20.0)
    burned = {}
    for label, slo in (("availability", SLO), ("error rate only", ERROR_RATE_ONLY)):
        budgets = budgets_of(slo, samples, plan)
        burned[label] = measure_step(
            samples, plan.steps[0], plan, slo, budgets, 5.0, 7.0
        ).bad_events
    assert burned == {"availability": 20, "error rate only": 0}


def test_judge_on_a_window() -> None:
    """Objectives on merged intervals; a stall fails latency and error objectives alike."""
    window = merge([sample(0, ok=100), sample(1, ok=100, slow=3)])
    assert window.length_s == 2.0
    assert window.completed == 200
    checks = judge(window, SLO.objectives)
    assert holds(checks) is False
    stall = sample(2, ok=0, offered=50)
    assert all(c.held is False for c in judge(stall, SLO.objectives))
    idle = sample(3, ok=0, offered=0)
    assert holds(judge(idle, SLO.objectives)) is None
    thr = ThroughputObjective(threshold=0.99)
    assert judge(sample(4, ok=90, offered=100), [thr])[0].held is False


def test_steady_state_and_gaps() -> None:
    """Missing intervals count as empty; the steady state merges its period."""
    filled = fill_gaps([sample(0), sample(3)])
    assert [s.index for s in filled] == [0, 1, 2, 3]
    assert filled[1].completed == 0
    assert filled[1].start_s == 1.0
    slo = SloSpec(
        name="x",
        objectives=(
            LatencyObjective(percentile=Percentile.P50, threshold_ms=10),
            ErrorRateObjective(threshold=0.5),
        ),
    )
    state = steady_state(filled, slo.objectives, 0.0, 4.0)
    assert state.held is True
    assert len(state.checks) == 2
    assert steady_state(filled, slo.objectives, 10.0, 12.0).held is None
