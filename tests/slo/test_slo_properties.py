"""Hypothesis tests of the SLO math: percentiles, monotonicity, rates, burn windows, sufficiency."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.measure import min_samples
from harness.slo import ObjectiveResult, ObjectiveStatus, evaluate
from harness.slo.burn import (
    EventSeries,
    peak_multiwindow_burn,
    window_burn_rates,
    window_intervals,
)
from harness.spec import parse_slo
from harness.spec.slo import SloSpec
from harness.testing import lognormal_us, nearest_rank, phase
from harness.testing import run_result as run

PCTS = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9}
FAST = settings(deadline=None, max_examples=100)
_PASS, _FAIL, _INSUFF = ObjectiveStatus.PASS, ObjectiveStatus.FAIL, ObjectiveStatus.INSUFFICIENT


def _slo(**objective: object) -> SloSpec:
    return parse_slo({"name": "t", "objectives": [objective]}, "t.yaml")


def _latency_row(
    values: Sequence[int] | npt.NDArray[np.int64], stat: str, threshold_ms: float, op: str = "<"
) -> ObjectiveResult:
    slo = _slo(metric="latency", percentile=stat, op=op, threshold_ms=threshold_ms)
    return evaluate(run(phase("steady", ok=values)), slo).objectives[0]


def _check_against_brute_force(values: list[int], stat: str, threshold_ms: float) -> None:
    row = _latency_row(values, stat, threshold_ms)
    brute = nearest_rank(values, PCTS[stat])
    assert row.observed is not None
    hdr = round(row.observed * 1000)
    # HDR reports the upper edge of the value's bucket: never below, at most 0.1% above.
    assert brute <= hdr <= brute + brute / 1000
    threshold_us = threshold_ms * 1000
    if brute >= threshold_us:
        assert row.status is _FAIL
    elif brute * 1.001 < threshold_us:
        assert row.status is _PASS


@FAST
@given(
    values=st.lists(st.integers(1, 59_000_000), min_size=100, max_size=300),
    stat=st.sampled_from(["p50", "p90"]),
    threshold_ms=st.floats(0.01, 60_000),
)
def test_percentile_matches_sorted_list_within_hdr_precision(
    values: list[int], stat: str, threshold_ms: float
) -> None:
    """Arbitrary latencies: the objective's percentile is the brute-force one within 0.1%."""
    _check_against_brute_force(values, stat, threshold_ms)


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    stat=st.sampled_from(list(PCTS)),
    extra=st.integers(0, 2_000),
    median_ms=st.floats(0.05, 5_000),
    sigma=st.floats(0.05, 2.0),
    threshold_ms=st.floats(0.01, 60_000),
)
def test_tail_percentiles_match_sorted_list_within_hdr_precision(
    seed: int, stat: str, extra: int, median_ms: float, sigma: float, threshold_ms: float
) -> None:
    """Log-normal latencies of sufficient size: p50..p99.9 agree with brute force within 0.1%."""
    n = min_samples(PCTS[stat]) + extra
    values = lognormal_us(n, median_ms=median_ms, sigma=sigma, seed=seed)
    values = np.minimum(values, 59_000_000)
    _check_against_brute_force(values.tolist(), stat, threshold_ms)


@FAST
@given(
    seed=st.integers(0, 2**32 - 1),
    stat=st.sampled_from([*PCTS, "max"]),
    low=st.floats(0.1, 500),
    factor=st.floats(1.0, 10.0),
    n=st.integers(0, 1_500),
)
def test_raising_a_latency_threshold_never_turns_pass_into_fail(
    seed: int, stat: str, low: float, factor: float, n: int
) -> None:
    """Monotonicity: if p < t1 passes then p < t2 passes for every t2 >= t1."""
    values = lognormal_us(n, median_ms=20, sigma=1.0, seed=seed)
    first = _latency_row(values, stat, low)
    second = _latency_row(values, stat, low * factor)
    if first.status is _PASS:
        assert second.status is _PASS
    assert (first.status is _INSUFF) == (second.status is _INSUFF)


@FAST
@given(
    ok=st.integers(0, 5_000),
    failed=st.integers(0, 60),
    shed=st.integers(0, 60),
    metric=st.sampled_from(["error_rate", "shed_rate"]),
    op=st.sampled_from(["<", "<="]),
    low=st.floats(0.0001, 0.5),
    factor=st.floats(1.0, 2.0),
)
def test_raising_a_rate_threshold_never_turns_pass_into_fail(
    ok: int, failed: int, shed: int, metric: str, op: str, low: float, factor: float
) -> None:
    """Monotonicity for error and shed rates (pass stays pass; fail may become pass)."""
    result = run(phase("steady", ok=[1_000] * ok, failed=failed, shed=shed))
    rows = [
        evaluate(result, _slo(metric=metric, op=op, threshold=min(t, 1.0))).objectives[0]
        for t in (low, low * factor)
    ]
    if rows[0].status is _PASS:
        assert rows[1].status is _PASS
    if rows[1].status is _FAIL:
        assert rows[0].status is _FAIL


@FAST
@given(
    ok=st.integers(0, 5_000),
    failed=st.integers(0, 60),
    shed=st.integers(0, 60),
    op=st.sampled_from(["<", "<="]),
    threshold=st.floats(0.0001, 1.0),
)
def test_error_rate_math(ok: int, failed: int, shed: int, op: str, threshold: float) -> None:
    """error_rate = failed / sent; fail iff the bound is broken; pass needs ceil(1/t) requests."""
    result = run(phase("steady", ok=[1_000] * ok, failed=failed, shed=shed))
    (row,) = evaluate(result, _slo(metric="error_rate", op=op, threshold=threshold)).objectives
    sent = ok + failed + shed
    if sent == 0:
        assert row.status is _INSUFF
        return
    rate = failed / sent
    assert row.observed == rate
    holds = rate < threshold if op == "<" else rate <= threshold
    if not holds:
        assert row.status is _FAIL
    elif sent >= math.ceil(1 / threshold - 1e-9):
        assert row.status is _PASS
    else:
        assert row.status is _INSUFF


@FAST
@given(
    stat=st.sampled_from(list(PCTS)),
    below=st.booleans(),
    latency_us=st.integers(1_000, 100_000),
)
def test_sufficiency_boundary(stat: str, below: bool, latency_us: int) -> None:
    """ceil(10 / (1 - p/100)) samples are judged; one fewer is INSUFFICIENT, never a pass."""
    need = min_samples(PCTS[stat])
    n = need - 1 if below else need
    row = _latency_row(np.full(n, latency_us, dtype=np.int64), stat, 50.0)
    if below:
        assert row.status is _INSUFF
        assert row.observed is None
    else:
        assert row.status is (_PASS if latency_us < 49_950 else _FAIL)


# -- burn rates ------------------------------------------------------------------------------
counts = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 300)), min_size=1, max_size=90)


def _brute_rates(bad: list[int], total: list[int], window: int, target: float) -> list[float]:
    out = []
    for end in range(len(total)):
        if end + 1 < window:
            out.append(math.nan)
            continue
        b = sum(bad[end + 1 - window : end + 1])
        t = sum(total[end + 1 - window : end + 1])
        out.append(b / t / (1 - target) if t else math.nan)
    return out


@FAST
@given(series=counts, window=st.integers(1, 40), target=st.floats(0.5, 0.9999))
def test_window_burn_rates_match_brute_force(
    series: list[tuple[int, int]], window: int, target: float
) -> None:
    """Sliding-window burn rates equal a direct sum over each window."""
    bad = [min(b, t) for b, t in series]
    total = [t for _, t in series]
    got = window_burn_rates(bad, total, window, target).tolist()
    want = _brute_rates(bad, total, window, target)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (math.isnan(g) and math.isnan(w)) or math.isclose(g, w, rel_tol=1e-9)


@FAST
@given(
    series=counts,
    long_n=st.integers(2, 40),
    short_frac=st.floats(0.05, 0.95),
    target=st.floats(0.9, 0.9999),
    limit=st.floats(0.5, 50),
)
def test_multiwindow_peak_is_the_alert_condition(
    series: list[tuple[int, int]], long_n: int, short_frac: float, target: float, limit: float
) -> None:
    """The peak exceeds the limit iff some second has both windows above it (brute force)."""
    bad = [min(b, t) for b, t in series]
    total = [t for _, t in series]
    short_n = max(1, min(long_n - 1, round(long_n * short_frac)))
    peak = peak_multiwindow_burn(
        EventSeries(0.0, 1.0, tuple(bad), tuple(total)), float(long_n), float(short_n), target
    )
    longs = _brute_rates(bad, total, long_n, target)
    shorts = _brute_rates(bad, total, short_n, target)
    both = [
        (lo, sh)
        for lo, sh in zip(longs, shorts, strict=True)
        if not (math.isnan(lo) or math.isnan(sh))
    ]
    if not both:
        assert peak is None
        return
    assert peak is not None
    fires = any(lo > limit and sh > limit for lo, sh in both)
    assert (peak.burn > limit) == fires
    assert math.isclose(peak.burn, max(min(lo, sh) for lo, sh in both), rel_tol=1e-9)


def test_window_length_rounds_up_to_whole_intervals() -> None:
    """A window spans ceil(window / interval) intervals (5 s of 2 s intervals: 3)."""
    assert window_intervals(5.0, 1.0) == 5
    assert window_intervals(5.0, 2.0) == 3
    assert window_intervals(0.5, 1.0) == 1
