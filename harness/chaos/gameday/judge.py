"""SLO objectives judged on a window of 1 s intervals (pure): is the steady state holding *now*?

The release verdict (:func:`harness.slo.evaluate`) judges whole phases and refuses to pass on too
few samples. A game day needs a different, operational question answered every second: does the
hypothesis hold over the last few seconds? So here an objective is judged on the merged intervals
of a short window, like an alert rule: the observed value is what the window shows (its sample
count is kept next to it), a breach is a breach, and a window with nothing to judge is ``None``.

Per objective kind, over the window's completions:
- latency: the exact HDR percentile of OK responses (intended clock) versus the threshold; a
  window in which load was offered but not one OK response came back (a stall, only timeouts)
  breaches;
- error_rate: failed / completed; shed_rate: shed / completed; availability: ok / completed;
- throughput_ratio: completed / offered;
- burn_rate objectives are not judged per window (they are windows themselves): reported as None.

The interval series carries no endpoint split, so an objective's ``endpoint`` is judged over all
endpoints (the label says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.measure import IntervalSample, LatencyHistogram, RequestCounts
from harness.spec import (
    AvailabilityObjective,
    BurnRateObjective,
    ErrorRateObjective,
    LatencyObjective,
    Objective,
    ShedRateObjective,
    ThroughputObjective,
)

__all__ = ["Check", "fill_gaps", "holds", "judge", "merge"]


@dataclass(frozen=True, slots=True)
class Check:
    """One objective on one window."""

    label: str
    observed: float | None  # ms for latency, a ratio otherwise; None: nothing to judge
    threshold: float
    unit: str  # "ms" | "ratio"
    held: bool | None
    samples: int  # completions (OK responses for latency) behind ``observed``


def merge(samples: Sequence[IntervalSample]) -> IntervalSample:
    """One sample covering ``samples`` (consecutive intervals; counts add, histograms merge)."""
    if not samples:
        raise ValueError("merge needs at least one interval")
    latency = LatencyHistogram()
    counts = RequestCounts()
    offered = 0
    for s in samples:
        latency.add(s.latency)
        counts = counts + s.counts
        offered += s.offered
    first, last = samples[0], samples[-1]
    return IntervalSample(
        index=first.index,
        start_s=first.start_s,
        length_s=last.end_s - first.start_s,
        phase=last.phase,
        offered=offered,
        counts=counts,
        latency=latency,
    )


def fill_gaps(samples: Iterable[IntervalSample]) -> list[IntervalSample]:
    """Samples sorted by index with missing intervals as empty ones (nothing offered or done)."""
    ordered = sorted(samples, key=lambda s: s.index)
    out: list[IntervalSample] = []
    for s in ordered:
        while out and out[-1].index + 1 < s.index:
            prev = out[-1]
            out.append(
                IntervalSample(
                    prev.index + 1,
                    prev.end_s,
                    prev.length_s,
                    prev.phase,
                    0,
                    RequestCounts(),
                    LatencyHistogram(),
                )
            )
        if out and out[-1].index == s.index:
            continue  # a duplicate index: keep the first
        out.append(s)
    return out


def judge(window: IntervalSample, objectives: Iterable[Objective]) -> tuple[Check, ...]:
    """Every objective on one (merged) window."""
    return tuple(_check(window, o) for o in objectives)


def holds(checks: Iterable[Check]) -> bool | None:
    """False if any check failed; None if none could be judged; else True."""
    seen = False
    for check in checks:
        if check.held is False:
            return False
        seen = seen or check.held is True
    return True if seen else None


def _check(w: IntervalSample, objective: Objective) -> Check:
    label = objective.label + (" (all endpoints)" if objective.endpoint else "")
    c = w.counts
    done = c.ok + c.failed + c.shed
    if isinstance(objective, LatencyObjective):
        limit = objective.threshold_ms
        if w.unanswered:
            return Check(label, None, limit, "ms", False, 0)
        value = w.percentile_ms(objective.percentile.rank)
        held = None if value is None else objective.op.holds(value, limit)
        return Check(label, value, limit, "ms", held, w.latency.count)
    if isinstance(objective, ThroughputObjective):
        ratio = done / w.offered if w.offered else None
        held = None if ratio is None else objective.op.holds(ratio, objective.threshold)
        return Check(label, ratio, objective.threshold, "ratio", held, w.offered)
    if isinstance(objective, BurnRateObjective):
        return Check(label, None, objective.windows[0].max_burn, "x", None, done)
    if isinstance(objective, ErrorRateObjective | ShedRateObjective):
        bad = c.failed if isinstance(objective, ErrorRateObjective) else c.shed
        ratio = bad / done if done else None
        held = None if ratio is None else objective.op.holds(ratio, objective.threshold)
        if w.silent:
            held = False
        return Check(label, ratio, objective.threshold, "ratio", held, done)
    assert isinstance(objective, AvailabilityObjective)
    ratio = c.ok / done if done else None
    held = None if ratio is None else objective.op.holds(ratio, objective.target)
    if w.silent:
        held = False
    return Check(label, ratio, objective.target, "ratio", held, done)
