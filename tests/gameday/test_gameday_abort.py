"""Abort conditions on rolling windows: a breach that lasts N seconds trips at the N-th second."""

from __future__ import annotations

import math

import numpy as np
from gd_support import sample
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.chaos.gameday import AbortMonitor, ConditionStatus
from harness.slo.burn import window_burn_rates
from harness.spec.gameday import BurnRateAbort, ErrorRateAbort, LatencyAbort
from harness.spec.slo import Percentile

ERR = ErrorRateAbort(above=0.05, for_s=10.0)
LAT = LatencyAbort(above_ms=500.0, for_s=3.0, percentile=Percentile.P99)


def _first_run(flags: list[bool], need: int) -> int | None:
    """Reference: index of the interval that completes the first run of ``need`` True flags."""
    streak = 0
    for i, flag in enumerate(flags):
        streak = streak + 1 if flag else 0
        if streak >= need:
            return i
    return None


@given(st.lists(st.booleans(), min_size=1, max_size=60), st.integers(1, 12))
@settings(max_examples=200, deadline=None)
def test_error_rate_trips_exactly_when_the_breach_has_lasted(flags: list[bool], for_s: int) -> None:
    """The trip is at the end of the interval completing the first run of for_s breaching ones;
    a single good interval resets the streak (unlike k6's whole-run thresholds)."""
    cond = ErrorRateAbort(above=0.05, for_s=float(for_s))
    monitor = AbortMonitor([cond])
    trips = []
    for i, bad in enumerate(flags):
        trip = monitor.feed(sample(i, ok=90 if bad else 99, failed=10 if bad else 1))
        if trip is not None:
            trips.append((i, trip))
    expected = _first_run(flags, for_s)
    if expected is None:
        assert trips == []
        assert monitor.trip is None
    else:
        assert len(trips) == 1  # only the first trip is returned
        i, trip = trips[0]
        assert i == expected
        assert trip.at_s == expected + 1.0
        assert monitor.trip is trip


def test_error_threshold_is_strict_and_counts_shed() -> None:
    """Exactly 5% does not breach; 5% made of shed (503) requests does when above."""
    monitor = AbortMonitor([ErrorRateAbort(above=0.05, for_s=1.0)])
    assert monitor.feed(sample(0, ok=95, failed=5)) is None
    assert monitor.states[0].status is ConditionStatus.OK
    assert monitor.feed(sample(1, ok=94, shed=6)) is not None


def test_silent_intervals_breach_and_idle_ones_reset() -> None:
    """A stall (offered, nothing completed) breaches latency; no load at all resets the streak."""
    monitor = AbortMonitor([LAT])
    stall = sample(0, ok=0, offered=200)
    assert monitor.feed(stall) is None
    assert monitor.states[0].status is ConditionStatus.BREACHING
    assert monitor.feed(sample(1, ok=0, offered=0)) is None
    assert monitor.states[0].status is ConditionStatus.NO_DATA
    for i in range(2, 4):
        assert monitor.feed(sample(i, ok=0, offered=100)) is None
    trip = monitor.feed(sample(4, ok=100, slow=5))  # p99 at 900 ms
    assert trip is not None
    assert trip.at_s == 5.0
    assert "p99" in trip.detail


@given(
    st.lists(st.tuples(st.integers(0, 50), st.integers(0, 200)), min_size=1, max_size=40),
    st.integers(1, 6),
    st.integers(1, 12),
)
@settings(max_examples=150, deadline=None)
def test_live_burn_rates_match_the_batch_computation(
    events: list[tuple[int, int]], short: int, long_extra: int
) -> None:
    """Fed one interval at a time, the burn-rate condition sees exactly the burn rates
    harness.slo.burn computes for the whole series (same windows, same budget), and trips at the
    first interval where both windows exceed the limit."""
    long = short + long_extra
    cond = BurnRateAbort(above=14.4, windows_s=(float(long), float(short)), target=0.999)
    bad = [min(b, t) for b, t in events]
    total = [t for _, t in events]
    long_r = window_burn_rates(bad, total, long, 0.999)
    short_r = window_burn_rates(bad, total, short, 0.999)
    both = [
        i
        for i in range(len(total))
        if not (math.isnan(long_r[i]) or math.isnan(short_r[i]))
        and long_r[i] > 14.4
        and short_r[i] > 14.4
    ]
    monitor = AbortMonitor([cond])
    tripped_at = None
    for i, (b, t) in enumerate(zip(bad, total, strict=True)):
        trip = monitor.feed(sample(i, ok=t - b, failed=b))
        if trip is not None:
            tripped_at = i
    assert tripped_at == (both[0] if both else None)
    if not np.isnan(long_r[-1]) and not np.isnan(short_r[-1]) and tripped_at is None:
        observed = monitor.states[0].observed
        assert f"{long_r[-1]:.3g}x" in observed


def test_the_workbook_rule_needs_both_windows() -> None:
    """A short burst burns the short window only: no trip until the long window burns too."""
    cond = BurnRateAbort(above=14.4, windows_s=(10.0, 2.0), target=0.99)
    monitor = AbortMonitor([cond])
    for i in range(10):
        assert monitor.feed(sample(i, ok=100)) is None
    assert monitor.feed(sample(10, ok=0, failed=100)) is None  # short burns, long (10%/1%) < 14.4
    assert monitor.states[0].status is ConditionStatus.BREACHING
    for i in range(11, 30):
        trip = monitor.feed(sample(i, ok=0, failed=100))
        if trip is not None:
            break
    assert trip is not None
    assert trip.condition == cond.label
