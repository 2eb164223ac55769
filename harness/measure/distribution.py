"""An HDR histogram's populated buckets as numpy arrays: exact percentiles, fast statistics.

Why not ``LatencyHistogram.buckets()`` alone: it walks every HDR counter in Python (about 30 ms per
histogram here), and the SLO code needs bucket data per interval (burn rates, up to thousands per
run) and per scope (bootstrap). Reading hdrh's counter array once and mapping counter indices to
values through a table built with hdrh's own index->value functions gives the same data in a
fraction of the time; a test pins it to ``buckets()``, and anything unexpected falls back to it.

Percentiles follow the reference implementation's nearest-rank rule (Java HdrHistogram,
hdr-histogram-js; :mod:`harness.measure.rank`), so a verdict, a report and any HDR reader of the
run's ``latency.hlog`` quote the same number: the rank of percentile p among n samples is
``max(1, ceil(p * n / 100))`` and the value is the *upper* edge of the bucket holding that rank
(at most 0.1% above the recorded value, never below).

Out-of-range samples (beyond the 60 s histogram ceiling) are counted in ``out_of_range`` and ranked
above every recorded value: a percentile whose rank falls among them is reported as "beyond the
range" (None), never as the largest recorded value.

Sufficiency: a percentile p needs at least ``ceil(K / (1 - p/100))`` samples with K = 10, i.e. at
least ten samples expected above it (p50: 20, p90: 100, p95: 200, p99: 1,000, p99.9: 10,000); with
fewer, its value is decided by a handful of samples and is reported as insufficient, not judged.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from hdrh.histogram import HdrHistogram

from harness.measure.histogram import LatencyHistogram
from harness.measure.rank import nearest_rank

__all__ = ["SUFFICIENCY_K", "Distribution", "distribution", "min_samples", "value_table"]

#: Samples expected above a percentile before it may be judged (see module docstring).
SUFFICIENCY_K: Final = 10

IntArray = npt.NDArray[np.int64]


def min_samples(percentile: float | None) -> int:
    """Samples needed to judge ``percentile`` (0..100); ``None`` (the max) needs one."""
    if percentile is None:
        return 1
    # Exact arithmetic: 10 / (1 - 0.999) is 10000.000000000002 in floats.
    tail = 1 - Fraction(str(percentile)) / 100
    if tail <= 0:
        raise ValueError(f"percentile must be below 100, got {percentile}")
    return math.ceil(SUFFICIENCY_K / tail)


@dataclass(frozen=True, slots=True, eq=False)
class Distribution:
    """Populated buckets in increasing value order plus the samples beyond the range.

    ``values_us[i]`` is the upper edge (highest equivalent value) of a bucket holding
    ``counts[i] > 0`` samples.
    """

    values_us: IntArray
    counts: IntArray
    out_of_range: int = 0
    # the count sum and cumulative counts, computed once (several percentiles per interval)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def recorded(self) -> int:
        """Samples inside the histogram's range."""
        recorded = self._memo.get("recorded")
        if recorded is None:
            recorded = self._memo["recorded"] = int(self.counts.sum())
        return int(recorded)

    @property
    def total(self) -> int:
        """Every sample, including those beyond the range."""
        return self.recorded + self.out_of_range

    def rank(self, percentile: float) -> int:
        """Nearest rank (1-based, rounded up) of ``percentile`` among :attr:`total` samples."""
        return nearest_rank(percentile, self.total)

    def percentile_us(self, percentile: float) -> int | None:
        """Value at ``percentile`` in us; None when beyond the range. Empty -> ValueError."""
        if self.total == 0:
            raise ValueError("percentile of an empty distribution")
        return self._value_at_rank(self.rank(percentile))

    def max_us(self) -> int | None:
        """Largest value (bucket upper edge); None when any sample lies beyond the range."""
        if self.total == 0:
            raise ValueError("max of an empty distribution")
        return None if self.out_of_range else int(self.values_us[-1])

    def count_at_or_below(self, value_us: int) -> int:
        """Samples whose bucket upper edge is <= ``value_us`` (a conservative good-event count)."""
        return int(self.counts[self.values_us <= value_us].sum())

    def _value_at_rank(self, rank: int) -> int | None:
        cumulative = self._memo.get("cumulative")
        if cumulative is None:
            cumulative = self._memo["cumulative"] = np.cumsum(self.counts)
        index = int(np.searchsorted(cumulative, rank, side="left"))
        return None if index >= len(cumulative) else int(self.values_us[index])


def distribution(hist: LatencyHistogram) -> Distribution:
    """The bucket arrays of ``hist`` (no copy of the histogram is kept)."""
    fast = _from_counters(hist)
    if fast is not None:
        return fast
    buckets = list(hist.buckets())
    return Distribution(
        np.array([b.value_us for b in buckets], dtype=np.int64),
        np.array([b.count for b in buckets], dtype=np.int64),
        hist.out_of_range,
    )


def _from_counters(hist: LatencyHistogram) -> Distribution | None:
    raw = hist.raw
    try:
        table = value_table(
            int(raw.lowest_trackable_value),
            int(raw.highest_trackable_value),
            int(raw.significant_figures),
        )
        counters = np.ctypeslib.as_array(raw.counts).astype(np.int64)
    except (AttributeError, TypeError, ValueError):  # not the hdrh layout this was written for
        return None
    if counters.ndim != 1 or len(counters) > len(table) or int(counters.sum()) != hist.count:
        return None
    populated = np.flatnonzero(counters)
    return Distribution(table[populated], counters[populated], hist.out_of_range)


@functools.lru_cache(maxsize=4)
def value_table(lowest: int, highest: int, figures: int) -> IntArray:
    """Upper bucket edge of every counter index, exactly as hdrh's iterators report it."""
    h = HdrHistogram(lowest, highest, figures)
    return np.array(
        [
            h.get_highest_equivalent_value(h.get_value_from_index(i))
            for i in range(int(h.counts_len))
        ],
        dtype=np.int64,
    )
