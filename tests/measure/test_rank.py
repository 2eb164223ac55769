"""Nearest-rank percentiles (rounded up, the Java reference rule) wherever one is read."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.measure import LatencyHistogram, distribution
from harness.measure.rank import nearest_rank
from harness.testing import hist
from harness.testing import nearest_rank as brute_force

_PERCENTILES = st.sampled_from([0.1, 1.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.99])


def test_rank_rounds_up_not_half_up() -> None:
    """p99 of 76 samples is rank 76 (ceil 75.24), where hdrh's rule took rank 75."""
    assert nearest_rank(99.0, 76) == 76
    assert nearest_rank(99.0, 100) == 99  # exact products stay exact (no float 99.00000001)
    assert nearest_rank(99.9, 1000) == 999
    assert nearest_rank(50.0, 1) == 1
    assert nearest_rank(0.0, 10) == 1
    assert nearest_rank(100.0, 10) == 10


@pytest.mark.parametrize("bad", [-0.1, 100.5, float("nan")])
def test_rank_refuses_percentiles_outside_0_100(bad: float) -> None:
    """A percentile outside 0..100 is a programming error, not a silent clamp."""
    with pytest.raises(ValueError, match="percentile"):
        nearest_rank(bad, 10)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(min_value=1, max_value=2047), min_size=1, max_size=300),
    percentile=_PERCENTILES,
)
def test_histogram_and_distribution_match_brute_force(values: list[int], percentile: float) -> None:
    """Below 2,048 us every value has its own bucket, so the percentile is the exact sample."""
    h = hist(values)
    expected = brute_force(values, percentile)
    assert h.percentile_us(percentile) == expected
    assert h.percentiles_us([percentile, 50.0])[percentile] == expected
    assert distribution(h).percentile_us(percentile) == expected


def test_small_sample_p99_covers_the_slowest_percent() -> None:
    """75 fast samples and one slow one: p99 is the slow one (what nearest rank guarantees)."""
    h = hist([1_700] * 75 + [2_041])
    assert h.percentile_us(99.0) == 2_041
    assert distribution(h).percentile_us(99.0) == 2_041


def test_percentile_zero_is_the_lowest_edge_and_empty_is_zero() -> None:
    """p0 reads the lower bucket edge (as Java); an empty histogram reads 0."""
    assert LatencyHistogram().percentile_us(99.0) == 0
    h = hist([100_000])
    assert h.percentile_us(0.0) <= 100_000 <= h.percentile_us(100.0)
