"""Bucket arrays of HDR histograms: hdrh's own buckets, nearest-rank percentiles."""

from __future__ import annotations

import numpy as np
import pytest

from harness.measure.distribution import Distribution, _from_counters, distribution, min_samples
from harness.measure.histogram import HIGHEST_US, LatencyHistogram
from harness.testing import hist, lognormal_us


def test_fast_path_equals_hdrh_recorded_iterator() -> None:
    """Values and counts read from hdrh's counters equal LatencyHistogram.buckets()."""
    h = hist(np.concatenate([lognormal_us(20_000, seed=3), [0, 1, 2047, 2048, 59_999_999]]))
    dist = distribution(h)
    buckets = list(h.buckets())
    assert dist.values_us.tolist() == [b.value_us for b in buckets]
    assert dist.counts.tolist() == [b.count for b in buckets]
    assert dist.total == h.count


def test_fast_path_works_on_decoded_histograms() -> None:
    """A histogram that went through the wire encoding (truncated counters) reads identically."""
    h = hist(lognormal_us(5000, seed=4))
    decoded = LatencyHistogram.decode(h.encode())
    assert _from_counters(decoded) is not None  # the fast path, not the iterator fallback
    assert distribution(decoded).values_us.tolist() == distribution(h).values_us.tolist()
    assert distribution(decoded).counts.tolist() == distribution(h).counts.tolist()


@pytest.mark.parametrize("percentile", [0.1, 1.0, 25.0, 50.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100])
def test_distribution_and_histogram_percentiles_agree(percentile: float) -> None:
    """Distribution percentiles equal LatencyHistogram.percentile_us (one rank rule for both)."""
    h = hist(lognormal_us(12_345, sigma=0.8, seed=5))
    assert distribution(h).percentile_us(percentile) == h.percentile_us(percentile)


def test_max_is_the_histograms_max() -> None:
    """max is the upper edge of the highest populated bucket, as hdrh reports it."""
    h = hist(lognormal_us(1000, seed=6))
    assert distribution(h).max_us() == h.max_us


def test_out_of_range_samples_rank_above_everything() -> None:
    """Samples beyond 60 s make a percentile whose rank falls among them 'beyond range' (None)."""
    h = hist([10_000] * 98)
    h.record(HIGHEST_US * 2)  # refused by HDR, counted as out of range
    h.record(HIGHEST_US * 3)
    dist = distribution(h)
    assert (dist.recorded, dist.out_of_range, dist.total) == (98, 2, 100)
    assert dist.percentile_us(98.0) == h.percentile_us(100)
    assert dist.percentile_us(99.0) is None
    assert dist.max_us() is None


def test_count_at_or_below_uses_bucket_upper_edges() -> None:
    """Good-event counts agree with LatencyHistogram.count_at_or_below."""
    h = hist(lognormal_us(3000, seed=7))
    dist = distribution(h)
    for threshold in (1, 5_000, 19_990, 20_000, 50_000, HIGHEST_US):
        assert dist.count_at_or_below(threshold) == h.count_at_or_below(threshold)


def test_empty_distribution_refuses_percentiles() -> None:
    """An empty histogram has no percentile (callers check sufficiency first)."""
    dist = distribution(LatencyHistogram())
    assert dist.total == 0
    with pytest.raises(ValueError, match="empty"):
        dist.percentile_us(50)
    with pytest.raises(ValueError, match="empty"):
        dist.max_us()


def test_fallback_when_counters_are_unreadable() -> None:
    """A histogram whose raw counters cannot be read falls back to the bucket iterator."""

    class Opaque(LatencyHistogram):
        __slots__ = ()

        @property
        def raw(self) -> object:
            return object()

    h = Opaque()
    h.record(1234, 5)
    dist = distribution(h)
    assert dist.counts.tolist() == [5]
    assert dist.values_us.tolist() == [h.percentile_us(50)]


@pytest.mark.parametrize(
    ("percentile", "needed"),
    [(50.0, 20), (90.0, 100), (95.0, 200), (99.0, 1_000), (99.9, 10_000), (None, 1)],
)
def test_min_samples_table(percentile: float | None, needed: int) -> None:
    """Sufficiency is ceil(10 / (1 - p/100)) samples, exactly (no float rounding), 1 for max."""
    assert min_samples(percentile) == needed


def test_min_samples_rejects_p100() -> None:
    """p100 has no tail to estimate; asking for it is a programming error."""
    with pytest.raises(ValueError, match="below 100"):
        min_samples(100.0)


def test_distribution_is_built_from_arrays() -> None:
    """A Distribution can be built directly (used by the comparison's out-of-range capping)."""
    dist = Distribution(np.array([10, 20], dtype=np.int64), np.array([3, 1], dtype=np.int64))
    assert dist.percentile_us(75) == 10
    assert dist.percentile_us(76) == 20  # nearest rank ceil(3.04) = 4 (hdrh rounded it to 3)
    assert dist.percentile_us(87) == 20
