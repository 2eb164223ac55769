"""What the recorder shows while a run goes: the last intervals for a progress view or a game day.

Both readers look at the recorder's slots in memory only, never at the interval log: the open
ones and the last :data:`~harness.measure.logdrain.RECENT_KEEP` written ones (a written interval
that got a late part is in both maps; the readers add them). They merge at most a few interval
histograms per call (well under 1 ms), so they can run every second next to the scheduler.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.measure.histogram import LatencyHistogram
from harness.measure.observe import IntervalSample
from harness.measure.slots import (
    FAILED,
    LATE,
    N_SLOT_COUNTS,
    OFFERED,
    OK,
    SHED,
    Slot,
    add_counts,
    request_counts,
)

__all__ = ["LiveStats", "interval_sample", "live_stats"]


@dataclass(frozen=True, slots=True)
class LiveStats:
    """Numbers for a progress view over the last complete intervals (all phases together)."""

    start_s: float  # offset of the window from the run start
    window_s: float
    phase: str | None  # the phase with the most completions in the window
    completed_rps: float
    errors_per_s: float  # failed + shed
    late: int
    p50_ms: float  # OK responses, intended clock
    p99_ms: float


Slots = Mapping[tuple[int, str], Slot]


def interval_sample(
    maps: Sequence[Slots],
    phases: Iterable[str],
    index: int,
    interval_s: float,
    scheduled_phase: str,
) -> IntervalSample:
    """Interval ``index`` across ``phases`` (:meth:`harness.measure.Recorder.interval_sample`)."""
    merged = LatencyHistogram()
    counts = [0] * N_SLOT_COUNTS
    per_phase: dict[str, int] = {}
    for phase in phases:
        for slots in maps:
            slot = slots.get((index, phase))
            if slot is None:
                continue
            add_counts(counts, slot.counts)
            done = slot.counts[OK] + slot.counts[FAILED] + slot.counts[SHED]
            per_phase[phase] = per_phase.get(phase, 0) + done
            merged.add(slot.peek())
    busiest = max(per_phase, key=lambda p: per_phase[p]) if per_phase else None
    return IntervalSample(
        index=index,
        start_s=index * interval_s,
        length_s=interval_s,
        phase=busiest if busiest is not None and per_phase[busiest] else scheduled_phase,
        offered=counts[OFFERED],
        counts=request_counts(counts, merged.out_of_range),
        latency=merged,
    )


def live_stats(maps: Sequence[Slots], first: int, last: int, interval_s: float) -> LiveStats:
    """Stats over the slots of intervals ``first`` .. ``last`` (inclusive)."""
    merged = LatencyHistogram()
    completed = errors = late = 0
    per_phase: dict[str, int] = {}
    for (index, phase), slot in (item for slots in maps for item in slots.items()):
        if first <= index <= last:
            c = slot.counts
            completed += c[OK] + c[FAILED] + c[SHED]
            errors += c[FAILED] + c[SHED]
            late += c[LATE]
            per_phase[phase] = per_phase.get(phase, 0) + c[OK] + c[FAILED] + c[SHED]
            merged.add(slot.peek())
    span = (last - first + 1) * interval_s
    pct = merged.percentiles_us((50.0, 99.0))
    return LiveStats(
        start_s=max(first, 0) * interval_s,
        window_s=span,
        phase=max(per_phase, key=lambda p: per_phase[p]) if per_phase else None,
        completed_rps=completed / span,
        errors_per_s=errors / span,
        late=late,
        p50_ms=pct[50.0] / 1000.0,
        p99_ms=pct[99.0] / 1000.0,
    )
