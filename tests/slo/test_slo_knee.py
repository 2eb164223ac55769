"""The knee of ramp and step phases: find_knee's rules and the capacity evaluate() reports."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.measure.histogram import LatencyHistogram
from harness.measure.result import IntervalRecord, PhaseKind, RequestCounts, RunResult
from harness.slo import Knee, KneeStatus, VerdictStatus, evaluate, find_knee
from harness.spec import parse_slo
from harness.spec.slo import SloSpec, UpperOp
from harness.testing import intervals, lognormal_us, phase
from harness.testing import run_result as run

FAST_MS, SLOW_MS = 10, 80
FAST_US, SLOW_US = FAST_MS * 1000, SLOW_MS * 1000


def _ramp_run(
    records: Sequence[IntervalRecord], *, kind: PhaseKind = PhaseKind.RAMP, name: str = "ramp"
) -> RunResult:
    warm = phase("warmup", ok=[FAST_US] * 50, in_verdict=False, kind=PhaseKind.WARMUP)
    main = phase(name, ok=lognormal_us(5000, median_ms=10, seed=3), kind=kind, start_s=10.0)
    warm_intervals = intervals("warmup", ok=[50] * 3, start_s=7.0)
    return run(warm, main, intervals=warm_intervals + tuple(records))


def _ramp(rates: Sequence[int], slow_from: int, *, start_s: float = 10.0) -> RunResult:
    """One interval per rate, every OK response fast below ``slow_from`` requests/s, slow above."""
    latencies = [SLOW_US if r >= slow_from else FAST_US for r in rates]
    return _ramp_run(intervals("ramp", ok=rates, latency_us=latencies, start_s=start_s))


def _mixed(start_s: float, fast: int, slow: int, *, name: str = "ramp") -> IntervalRecord:
    """One second with ``fast`` responses at 10 ms and ``slow`` at 80 ms."""
    h = LatencyHistogram()
    h.record(FAST_US, fast)
    if slow:
        h.record(SLOW_US, slow)
    n = fast + slow
    return IntervalRecord(start_s, 1.0, name, n, RequestCounts(sent=n, ok=n), h)


def _one(result: RunResult, threshold_ms: float = 50.0, **kwargs: object) -> Knee:
    [knee] = find_knee(result, threshold_ms=threshold_ms, **kwargs)  # type: ignore[arg-type]
    return knee


RATES = list(range(1000, 2100, 100))  # 1000 .. 2000 requests/s, one second each


def test_knee_is_the_last_rate_before_p99_crosses_the_threshold() -> None:
    """A ramp whose per-second p99 crosses 50 ms at 1,500/s has its knee at 1,400/s."""
    knee = _one(_ramp(RATES, slow_from=1500))
    assert knee.status is KneeStatus.FOUND
    assert knee.breached
    assert knee.knee_rps == 1400.0
    assert knee.max_offered_rps == 2000.0
    assert knee.first_breach_s == 15.0  # the 1,500/s second starts 5 s into the phase
    assert knee.phase == "ramp"
    assert (knee.threshold_ms, knee.percentile) == (50.0, 99.0)
    assert "1,400 requests/s" in knee.reason
    assert "p99 80.06 ms" in knee.reason  # 80 ms reads as its HDR bucket's upper edge


def test_never_breached_says_the_knee_is_above_the_range() -> None:
    """A ramp that meets the threshold throughout is NOT_REACHED, breached False."""
    knee = _one(_ramp(RATES, slow_from=10_000))
    assert knee.status is KneeStatus.NOT_REACHED
    assert not knee.breached
    assert knee.knee_rps == 2000.0
    assert knee.first_breach_s is None
    assert "above the tested range" in knee.reason


def test_breached_from_the_start_has_no_knee() -> None:
    """A ramp slow from its first second has knee None and says the knee lies below the range."""
    knee = _one(_ramp(RATES, slow_from=0))
    assert knee.status is KneeStatus.FROM_START
    assert knee.knee_rps is None
    assert knee.breached
    assert knee.first_breach_s == 10.0
    assert "below the tested range" in knee.reason


def _stalled(seconds: int) -> RunResult:
    """The 1 s ramp with every response slow for ``seconds`` seconds from 1,300/s on."""
    records = list(intervals("ramp", ok=RATES, start_s=10.0))
    for i in range(3, 3 + seconds):
        records[i] = _mixed(10.0 + i, 0, RATES[i])
    return _ramp_run(records)


@pytest.mark.parametrize("seconds", [1, 2])
def test_a_short_stall_does_not_end_the_ramp(seconds: int) -> None:
    """One or two slow seconds among fast ones are not a confirmed breach, but are mentioned."""
    knee = _one(_stalled(seconds))
    assert knee.status is KneeStatus.NOT_REACHED
    assert knee.knee_rps == 2000.0
    assert "1 shorter breach(es), fewer than 3 windows in a row, recovered" in knee.reason


def test_three_slow_seconds_in_a_row_confirm_the_breach() -> None:
    """Three consecutive slow seconds confirm a breach even if the ramp recovers afterwards."""
    knee = _one(_stalled(3))
    assert knee.status is KneeStatus.FOUND
    assert knee.knee_rps == 1200.0
    assert knee.first_breach_s == 13.0
    assert "shorter breach" not in knee.reason


def test_a_breach_in_the_last_second_counts() -> None:
    """A breach in the final window cannot be contradicted, so it is confirmed (conservative)."""
    knee = _one(_ramp(RATES, slow_from=2000))
    assert knee.status is KneeStatus.FOUND
    assert knee.knee_rps == 1900.0
    assert knee.first_breach_s == 20.0


def test_confirm_window_count_is_a_parameter() -> None:
    """With confirm=1 a single slow second already ends the ramp."""
    assert _one(_stalled(1), confirm=1).knee_rps == 1200.0


def test_failed_and_shed_above_one_per_mille_breach() -> None:
    """From 1,500/s 1% of requests fail: the knee is at 1,400/s although latency stays fast."""
    failed = [r // 100 if r >= 1500 else 0 for r in RATES]
    records = intervals("ramp", ok=RATES, failed=failed, start_s=10.0)
    knee = _one(_ramp_run(records))
    assert knee.knee_rps == 1400.0
    assert "failed or shed" in knee.reason


def test_errors_at_or_below_one_per_mille_do_not_breach() -> None:
    """One failure per 1,000 completions is within the 0.1% allowance."""
    records = intervals("ramp", ok=[999] * 5, failed=[1] * 5, start_s=10.0)
    assert _one(_ramp_run(records)).status is KneeStatus.NOT_REACHED


def test_a_few_failures_are_not_evidence_of_overload() -> None:
    """2 failures in 1,000 (0.2%) is within noise of a 0.1% allowance; 5 in 1,000 breaches."""
    for bad, status in ((2, KneeStatus.NOT_REACHED), (5, KneeStatus.FROM_START)):
        records = intervals("ramp", ok=[1000 - bad] * 4, failed=[bad] * 4, start_s=10.0)
        assert _one(_ramp_run(records)).status is status, bad


def test_low_rate_seconds_are_pooled_to_enough_samples() -> None:
    """Per-second p99 of 100 requests is their second-largest value; windows of 1,000 pool them.

    Three consecutive seconds with 2 slow of 100 each would breach second by second, but the
    10 s window holding them has 6 slow of 1,000 and its p99 is fast.
    """
    noisy = (3, 4, 5)
    records = [
        _mixed(10.0 + i, 98 if i in noisy else 100, 2 if i in noisy else 0) for i in range(20)
    ]
    pooled = _one(_ramp_run(records))
    assert pooled.status is KneeStatus.NOT_REACHED
    per_second = _one(_ramp_run(records), min_samples=100)
    assert per_second.status is KneeStatus.FOUND
    assert per_second.first_breach_s == 13.0


def test_too_few_samples_is_insufficient() -> None:
    """A phase with fewer completions than one window needs reports no knee, explicitly."""
    knee = _one(_ramp(list(range(10, 60, 10)), slow_from=40))  # 150 completions
    assert knee.status is KneeStatus.INSUFFICIENT
    assert knee.knee_rps is None
    assert not knee.breached
    assert "1,000" in knee.reason


def test_short_remainder_joins_the_last_window() -> None:
    """A final second too small for its own window is pooled into the one before it."""
    records = intervals("ramp", ok=[1000, 1000, 200], latency_us=[FAST_US, FAST_US, SLOW_US])
    knee = _one(_ramp_run(records))
    assert knee.status is KneeStatus.FOUND  # [1000] ok, [1000 + 200] breaches at the end
    assert knee.knee_rps == 1000.0
    assert knee.first_breach_s == 1.0


def test_less_or_equal_op_accepts_the_threshold_itself() -> None:
    """p99 exactly at the threshold breaches '<' but not '<='."""
    records = intervals("ramp", ok=RATES, latency_us=50_000, start_s=10.0)
    at = 50.015  # 50 ms reads as the upper edge of its HDR bucket
    assert _one(_ramp_run(records), at).status is KneeStatus.FROM_START
    assert _one(_ramp_run(records), at, op=UpperOp.LE).status is KneeStatus.NOT_REACHED


def test_step_phases_get_a_knee_and_steady_ones_do_not() -> None:
    """Only verdict phases of kind ramp or step are searched."""
    records = intervals("step", ok=RATES, start_s=10.0)
    assert _one(_ramp_run(records, kind=PhaseKind.STEP, name="step")).phase == "step"
    steady = intervals("steady", ok=RATES, start_s=10.0)
    steady_run = _ramp_run(steady, kind=PhaseKind.STEADY, name="steady")
    assert find_knee(steady_run, threshold_ms=50.0) == ()


def test_invalid_arguments_are_refused() -> None:
    """A percentile outside (0, 100) or a zero window size is a programming error."""
    result = _ramp(RATES, slow_from=1500)
    with pytest.raises(ValueError, match="percentile"):
        find_knee(result, threshold_ms=50.0, percentile=100.0)
    with pytest.raises(ValueError, match="min_samples"):
        find_knee(result, threshold_ms=50.0, min_samples=0)


# -- evaluate() ---------------------------------------------------------------------------
def _slo(*objectives: dict[str, object]) -> SloSpec:
    return parse_slo({"name": "t", "objectives": list(objectives)}, "t.yaml")


P99_50 = {"metric": "latency", "percentile": "p99", "threshold_ms": 50}


def test_evaluate_reports_the_knee_without_changing_the_status() -> None:
    """The whole ramp passes p99 < 50 ms; its late breach shows in capacity, status stays PASS."""
    result = _ramp(RATES, slow_from=1900)
    verdict = evaluate(result, _slo(P99_50))
    assert verdict.status is VerdictStatus.PASS
    [knee] = verdict.capacity
    assert knee.knee_rps == 1800.0
    assert verdict.objectives == evaluate(result, _slo(P99_50)).objectives


def test_evaluate_uses_the_strictest_p99_objective_in_scope() -> None:
    """A phase-scoped 40 ms objective beats the '*' 100 ms one; other phases' do not apply."""
    rates = list(range(1000, 2000, 100))
    latencies = [30_000 + 2_000 * i for i in range(len(rates))]  # 30, 32, ... 48 ms
    result = _ramp_run(intervals("ramp", ok=rates, latency_us=latencies, start_s=10.0))
    slo = _slo(
        {**P99_50, "threshold_ms": 100},
        {**P99_50, "threshold_ms": 40, "phase": "ramp"},
        {**P99_50, "threshold_ms": 31, "phase": "warmup"},
    )
    [knee] = evaluate(result, slo).capacity
    assert knee.threshold_ms == 40.0
    assert knee.knee_rps == 1400.0  # 38 ms at 1,400/s, 40 ms at 1,500/s breaches '<'


@pytest.mark.parametrize(
    "objective",
    [
        {"metric": "latency", "percentile": "p90", "threshold_ms": 50},
        {**P99_50, "endpoint": "score"},
        {"metric": "error_rate", "threshold": 0.001},
    ],
    ids=["p90-only", "endpoint-scoped", "no-latency"],
)
def test_no_all_endpoint_p99_objective_means_no_knee(objective: dict[str, object]) -> None:
    """Without a p99 objective over all endpoints there is no threshold, so no knee."""
    assert evaluate(_ramp(RATES, slow_from=1500), _slo(objective)).capacity == ()


# -- properties ---------------------------------------------------------------------------
_second = st.tuples(
    st.integers(0, 40),  # offered (= sent)
    st.integers(0, 3),  # failed
    st.sampled_from([1_000, 20_000, 45_000, 60_000, 120_000, 70_000_000]),  # latency us
)


def _random_run(seconds: list[tuple[int, int, int]]) -> RunResult:
    ok = [max(0, n - f) for n, f, _ in seconds]
    failed = [min(n, f) for n, f, _ in seconds]
    records = intervals(
        "ramp", ok=ok, failed=failed, latency_us=[lat for *_, lat in seconds], start_s=10.0
    )
    return _ramp_run(records)


@settings(deadline=None, max_examples=100)
@given(
    seconds=st.lists(_second, min_size=1, max_size=30),
    thresholds=st.tuples(st.floats(0.5, 200.0), st.floats(0.5, 200.0)),
    need=st.integers(1, 60),
    confirm=st.integers(1, 3),
)
def test_knee_is_bounded_and_monotone_in_the_threshold(
    seconds: list[tuple[int, int, int]],
    thresholds: tuple[float, float],
    need: int,
    confirm: int,
) -> None:
    """The knee never exceeds the highest offered rate and never drops as the threshold rises."""
    result = _random_run(seconds)
    low, high = sorted(thresholds)
    knees = [_one(result, t, min_samples=need, confirm=confirm) for t in (low, high)]
    for knee in knees:
        assert knee.knee_rps is None or knee.knee_rps <= knee.max_offered_rps
        assert knee.breached == (knee.first_breach_s is not None)
        assert knee.breached is (knee.status in (KneeStatus.FOUND, KneeStatus.FROM_START))
    strict, loose = knees
    assert (strict.status is KneeStatus.INSUFFICIENT) == (loose.status is KneeStatus.INSUFFICIENT)
    as_number = [-1.0 if k.knee_rps is None else k.knee_rps for k in knees]
    assert as_number[0] <= as_number[1]
    if not strict.breached:
        assert not loose.breached
