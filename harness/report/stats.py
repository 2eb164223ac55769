"""The numbers every report format quotes, computed once and the same way everywhere.

Percentiles come from :func:`harness.measure.distribution`, the function the verdict uses,
so ``report.json``, ``summary.md``, ``report.html`` and the objectives they sit next to quote the
same value for the same histogram (nearest rank rounded up as the
Java reference implementation, bucket upper edges: :mod:`harness.measure.rank`).

Units: latencies in **milliseconds** with three decimals (the histograms hold whole microseconds,
so nothing is lost); rates in requests per second rounded to six significant digits. Rounding is
deliberate beyond readability: a float printed with all 17 digits (``199.93333333333334``) is a long
digit run that the PAN guard would have to treat as a card-number candidate.

``None`` for a percentile means either "no samples" (``count == 0``) or "beyond the histogram's
60 s range" (the rank falls among the ``out_of_range`` samples); ``count`` and ``out_of_range``
tell the two apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from harness.measure import (
    Clock,
    Distribution,
    IntervalRecord,
    LatencyHistogram,
    Outcome,
    PhaseResult,
    RequestCounts,
    RunResult,
    distribution,
    in_time_order,
)

__all__ = [
    "PERCENTILES",
    "IntervalRow",
    "LatencySummary",
    "endpoint_counts",
    "interval_row",
    "interval_rows",
    "main_phase",
    "round_sig",
    "summarise",
    "summarise_distribution",
    "us_to_ms",
]

#: (field name, percentile 0-100) of every percentile the reports quote.
PERCENTILES: Final = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p99_9", 99.9))


def round_sig(value: float, digits: int = 6) -> float:
    """``value`` rounded to ``digits`` significant digits (non-finite values unchanged)."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


def us_to_ms(value_us: int | None) -> float | None:
    """Microseconds to milliseconds (exact to three decimals), ``None`` passes through."""
    return None if value_us is None else round(value_us / 1000.0, 3)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Percentiles of one histogram in milliseconds; see the module docstring for ``None``."""

    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p99_9: float | None
    max: float | None
    count: int  # samples inside the histogram's range
    out_of_range: int  # samples beyond it (slower than 60 s)

    def get(self, key: str) -> float | None:
        """The percentile named ``key`` (``p50`` ... ``p99_9``, ``max``)."""
        value: float | None = getattr(self, key)
        return value


def summarise(hist: LatencyHistogram) -> LatencySummary:
    """Percentile summary of ``hist`` (exact HDR values, the verdict's rank rule)."""
    dist = distribution(hist)
    return summarise_distribution(dist)


def summarise_distribution(dist: Distribution) -> LatencySummary:
    """Percentile summary of an already-computed :class:`Distribution`."""
    if dist.total == 0:
        return LatencySummary(None, None, None, None, None, None, 0, 0)
    value = {name: us_to_ms(dist.percentile_us(p)) for name, p in PERCENTILES}
    return LatencySummary(
        p50=value["p50"],
        p90=value["p90"],
        p95=value["p95"],
        p99=value["p99"],
        p99_9=value["p99_9"],
        max=us_to_ms(dist.max_us()),
        count=dist.recorded,
        out_of_range=dist.out_of_range,
    )


def endpoint_counts(phase: PhaseResult, endpoint: str) -> RequestCounts:
    """(sent, ok, failed, shed) of one endpoint, from its intended-clock histograms.

    Late and unsent requests are only counted per phase, so they are 0 here; out-of-range
    samples are counted as responses (they did complete, only slower than 60 s).
    """
    per = dict.fromkeys(Outcome, 0)
    for key, hist in phase.histograms.items():
        if key.endpoint == endpoint and key.clock is Clock.INTENDED:
            per[key.outcome] += hist.count + hist.out_of_range
    ok, failed, shed = per[Outcome.OK], per[Outcome.FAILED], per[Outcome.SHED]
    return RequestCounts(sent=ok + failed + shed, ok=ok, failed=failed, shed=shed)


def main_phase(result: RunResult) -> PhaseResult | None:
    """The phase a one-number summary quotes: the longest verdict phase (first on a tie)."""
    best: PhaseResult | None = None
    for phase in result.verdict_phases:
        if best is None or phase.duration_s > best.duration_s:
            best = phase
    return best


@dataclass(frozen=True, slots=True)
class IntervalRow:
    """One interval of the time series as the CSV and the plots use it."""

    start_s: float
    length_s: float
    phase: str
    offered: int
    counts: RequestCounts
    latency: LatencySummary

    @property
    def achieved_rps(self) -> float:
        """Responses completed in the interval per second."""
        done = self.counts.ok + self.counts.failed + self.counts.shed
        return round_sig(done / self.length_s) if self.length_s > 0 else 0.0

    @property
    def offered_rps(self) -> float:
        """Requests whose intended send time fell in the interval, per second."""
        return round_sig(self.offered / self.length_s) if self.length_s > 0 else 0.0


def interval_row(
    start_s: float,
    length_s: float,
    phase: str,
    offered: int,
    counts: RequestCounts,
    latency: Distribution,
) -> IntervalRow:
    """One interval's row (times rounded to the millisecond) from its latency distribution."""
    return IntervalRow(
        start_s=round(start_s, 3),
        length_s=round(length_s, 3),
        phase=phase,
        offered=offered,
        counts=counts,
        latency=summarise_distribution(latency),
    )


def interval_rows(intervals: Sequence[IntervalRecord]) -> list[IntervalRow]:
    """Every interval summarised, ordered by start then phase (the in-memory form of what
    :class:`harness.report.series.ReportSeries` writes in its pass)."""
    return [
        interval_row(r.start_s, r.length_s, r.phase, r.offered, r.counts, distribution(r.latency))
        for r in in_time_order(intervals)
    ]
