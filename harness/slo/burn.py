"""Error-budget burn rates over sliding windows of a run's interval series (pure functions).

Definitions (Google SRE workbook, "Alerting on SLOs"):
- an SLO target t (0.999) leaves an error budget of 1 - t of all events;
- the burn rate of a window is its bad fraction divided by the budget: 1x spends the budget exactly
  over the SLO period, 14.4x spends a 30-day budget's 2% in one hour;
- a multi-window alert fires at a moment when the long window AND the short window ending then
  both burn faster than the limit: the long window says it is significant, the short one that it
  is still happening.

For a load test the workbook's 1 h / 5 min pair is scaled to the run (e.g. 30 s / 5 s for a
one-minute phase). The single number reported per window pair is the *peak multi-window burn*:
the largest, over every second at which both windows are complete, of min(long, short). The alert
fires exactly when that peak exceeds the limit.

Time axis: the interval series (normally 1 s intervals) of one phase, placed on a dense grid from
the phase's first interval, missing intervals counted as empty. Events are counted when they
complete (ok, failed, shed), so the numerator and denominator share one clock. A window of W
seconds spans ceil(W / interval) intervals; only complete windows count, and a window with no
events has no burn rate (it neither passes nor fails).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from harness.measure import HIGHEST_US, IntervalRecord, IntervalView, scan_series
from harness.spec import Sli

__all__ = [
    "BurnPeak",
    "EventCounter",
    "EventSeries",
    "event_series",
    "peak_multiwindow_burn",
    "window_burn_rates",
    "window_intervals",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class EventSeries:
    """Bad and total events per interval of one phase, on a dense time grid."""

    start_s: float  # offset of the first interval from the run's start
    interval_s: float
    bad: tuple[int, ...]
    total: tuple[int, ...]

    @property
    def duration_s(self) -> float:
        """Length of the series in seconds."""
        return len(self.total) * self.interval_s


@dataclass(frozen=True, slots=True)
class BurnPeak:
    """The worst moment of a window pair: both windows end at ``end_s``."""

    burn: float  # min(long_burn, short_burn): the alert fires when this exceeds the limit
    long_burn: float
    short_burn: float
    end_s: float  # offset from the run's start of the end of both windows


class EventCounter:
    """An :class:`harness.measure.IntervalConsumer` counting bad/total events per interval of one
    phase (what :func:`event_series` returns), so the counts can come from a pass over the series
    shared with other consumers."""

    def __init__(self, phase: str, sli: Sli, latency_threshold_us: int | None = None) -> None:
        if sli is Sli.LATENCY and latency_threshold_us is None:
            raise ValueError("a latency SLI needs latency_threshold_us")
        self.phase = phase
        self.sli = sli
        self.threshold_us = latency_threshold_us
        # (start, length, done, bad) per interval: a day-long series never holds a histogram.
        self._own: list[tuple[float, float, int, int]] = []

    def feed(self, view: IntervalView) -> None:
        """Count one record (others' phases ignored)."""
        if view.phase != self.phase:
            return
        counts = view.counts
        done = counts.ok + counts.failed + counts.shed
        if self.sli is Sli.ERRORS:
            bad_here = counts.failed
        else:
            assert self.threshold_us is not None
            good = 0
            if view.latency.count:
                limit = min(self.threshold_us, HIGHEST_US)
                good = view.latency.distribution().count_at_or_below(limit)
            bad_here = done - min(good, counts.ok)
        self._own.append((view.start_s, view.length_s, done, bad_here))

    def series(self) -> EventSeries | None:
        """The counts on a dense grid from the phase's first interval; None without intervals."""
        own = self._own
        if not own:
            return None
        step = own[0][1]
        start = min(r[0] for r in own)
        slots = max(round((r[0] - start) / step) for r in own) + 1
        bad = [0] * slots
        total = [0] * slots
        for start_s, _, done, bad_here in own:
            i = round((start_s - start) / step)
            total[i] += done
            bad[i] += bad_here
        return EventSeries(start, step, tuple(bad), tuple(total))


def event_series(
    intervals: Sequence[IntervalRecord],
    phase: str,
    sli: Sli,
    latency_threshold_us: int | None = None,
) -> EventSeries | None:
    """Count bad/total events per interval of ``phase``; None when the phase has no intervals.

    ``Sli.ERRORS``: bad = failed. ``Sli.LATENCY``: bad = failed + shed + OK responses slower than
    ``latency_threshold_us`` (judged by bucket upper edge, so a response in the threshold's own
    bucket may count as slow: conservative by at most 0.1%).
    """
    counter = EventCounter(phase, sli, latency_threshold_us)
    scan_series(intervals, [counter])
    return counter.series()


def window_intervals(window_s: float, interval_s: float) -> int:
    """Intervals a window of ``window_s`` spans (rounded up, at least one)."""
    if window_s <= 0 or interval_s <= 0:
        raise ValueError("window and interval lengths must be > 0")
    return max(1, math.ceil(window_s / interval_s - 1e-9))


def window_burn_rates(
    bad: Sequence[int], total: Sequence[int], window: int, target: float
) -> FloatArray:
    """Burn rate of every complete window of ``window`` intervals, indexed by its last interval.

    Entries before the first complete window, and windows without events, are NaN.
    """
    if len(bad) != len(total):
        raise ValueError("bad and total must have the same length")
    if window < 1:
        raise ValueError("window must span at least one interval")
    if not 0.0 < target < 1.0:
        raise ValueError("target must lie strictly between 0 and 1")
    out = np.full(len(total), np.nan)
    if len(total) < window:
        return out
    bad_sum = _window_sums(np.asarray(bad, dtype=np.int64), window)
    total_sum = _window_sums(np.asarray(total, dtype=np.int64), window)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(total_sum > 0, bad_sum / total_sum / (1.0 - target), np.nan)
    out[window - 1 :] = rates
    return out


def _window_sums(values: npt.NDArray[np.int64], window: int) -> npt.NDArray[np.int64]:
    cumulative = np.concatenate(([0], np.cumsum(values)))
    return cumulative[window:] - cumulative[:-window]


def peak_multiwindow_burn(
    series: EventSeries, long_s: float, short_s: float, target: float
) -> BurnPeak | None:
    """The worst second of a long/short window pair; None when no second has both windows."""
    long_n = window_intervals(long_s, series.interval_s)
    short_n = window_intervals(short_s, series.interval_s)
    long_rates = window_burn_rates(series.bad, series.total, long_n, target)
    short_rates = window_burn_rates(series.bad, series.total, short_n, target)
    both = np.fmin(long_rates, short_rates)  # NaN only where both are NaN
    both[np.isnan(long_rates) | np.isnan(short_rates)] = np.nan
    if np.all(np.isnan(both)):
        return None
    worst = int(np.nanargmax(both))
    return BurnPeak(
        burn=float(both[worst]),
        long_burn=float(long_rates[worst]),
        short_burn=float(short_rates[worst]),
        end_s=series.start_s + (worst + 1) * series.interval_s,
    )
