"""Abort conditions judged live on rolling windows of 1 s intervals (pure; one interval at a time).

Unlike k6's thresholds (judged on everything since the start), a condition here trips on a breach
that *lasts*: ``error rate > 5% for 10 s`` trips at the end of the 10th consecutive interval whose
error ratio exceeds 5%; one good interval resets the streak. The rules per interval:

- ``error_rate``: (failed + shed) / completed > ``above``. Shed requests count: a cardholder whose
  authorisation got a 503 saw no decision.
- ``latency``: the interval's percentile (intended clock, OK responses) > ``above_ms``.
- A *silent* interval (load offered, nothing completed: a stall) breaches both: no answer at all
  is worse than any threshold; an interval with completions but not one OK response (only
  timeouts and errors) breaches the latency condition too. An interval without offered load and
  without completions neither breaches nor holds; it resets the streak (nothing to judge).
- ``burn_rate``: for each window W of the condition, the burn rate bad / total / (1 - target) over
  the last ceil(W / interval) intervals (only complete windows with events count); the condition
  trips when *every* window burns faster than ``above`` at the same interval (the SRE workbook's
  multi-window rule). Bad events are counted as :mod:`harness.slo.burn` counts them (errors: failed;
  latency: not OK within the threshold), so a live trip and the post-run burn rate agree.

Trip time: the end of the interval that completed the breach, as an offset from the run start.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.measure import IntervalSample, distribution
from harness.spec import AbortCondition, BurnRateAbort, ErrorRateAbort, LatencyAbort, Sli

__all__ = ["AbortMonitor", "ConditionState", "ConditionStatus", "Trip", "interval_breaches"]


class ConditionStatus(enum.Enum):
    """Where one condition stands after the latest interval."""

    OK = "ok"
    BREACHING = "breaching"  # breached now, not for long enough yet
    TRIPPED = "tripped"
    NO_DATA = "no_data"


@dataclass(frozen=True, slots=True)
class Trip:
    """An abort condition that tripped."""

    condition: str  # its label, e.g. "error rate > 0.05 for 10 s"
    at_s: float  # run offset of the end of the interval that tripped it
    detail: str  # what was observed


@dataclass(slots=True)
class ConditionState:
    """Live state of one condition (read by the dashboard)."""

    condition: AbortCondition
    status: ConditionStatus = ConditionStatus.NO_DATA
    streak: int = 0  # consecutive breaching intervals
    observed: str = ""  # the latest value, for display
    _bad: collections.deque[int] = field(default_factory=collections.deque)
    _total: collections.deque[int] = field(default_factory=collections.deque)

    @property
    def label(self) -> str:
        """The condition's label."""
        return self.condition.label


def interval_breaches(
    condition: ErrorRateAbort | LatencyAbort, sample: IntervalSample
) -> bool | None:
    """Whether one interval breaches a streak condition; None when there is nothing to judge."""
    if sample.silent:
        return True
    if isinstance(condition, ErrorRateAbort):
        ratio = sample.error_ratio
        return None if ratio is None else ratio > condition.above
    if sample.unanswered:
        return True
    value = sample.percentile_ms(condition.percentile.rank)
    return None if value is None else value > condition.above_ms


def _burn_events(condition: BurnRateAbort, sample: IntervalSample) -> tuple[int, int]:
    """(bad, total) events of one interval for a burn-rate condition."""
    c = sample.counts
    total = c.ok + c.failed + c.shed
    if condition.sli is Sli.ERRORS:
        return c.failed, total
    assert condition.latency_threshold_ms is not None
    # The bucket arrays, not LatencyHistogram's Python walk of every counter (tens of ms on the
    # load process's hub, every second).
    fast = distribution(sample.latency).count_at_or_below(
        round(condition.latency_threshold_ms * 1000)
    )
    return total - min(fast, c.ok), total


class AbortMonitor:
    """Feeds intervals to every condition; remembers the first trip."""

    def __init__(self, conditions: Iterable[AbortCondition], interval_s: float = 1.0) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be > 0")
        self.interval_s = interval_s
        self.states = [ConditionState(c) for c in conditions]
        self.trip: Trip | None = None

    def _intervals(self, seconds: float) -> int:
        return max(1, round(seconds / self.interval_s + 0.4999999))

    def feed(self, sample: IntervalSample) -> Trip | None:
        """Judge one interval (in order); return the first trip when this interval caused it."""
        first: Trip | None = None
        for state in self.states:
            trip = self._feed_one(state, sample)
            if trip is not None and first is None:
                first = trip
        if first is not None and self.trip is None:
            self.trip = first
            return first
        return None

    def _feed_one(self, state: ConditionState, sample: IntervalSample) -> Trip | None:
        cond = state.condition
        if isinstance(cond, BurnRateAbort):
            return self._feed_burn(state, cond, sample)
        verdict = interval_breaches(cond, sample)
        state.observed = _observed(cond, sample)
        if verdict is None:
            state.streak = 0
            state.status = ConditionStatus.NO_DATA
            return None
        state.streak = state.streak + 1 if verdict else 0
        need = self._intervals(cond.for_s)
        if state.streak >= need:
            state.status = ConditionStatus.TRIPPED
            return Trip(cond.label, sample.end_s, f"{state.observed} for {state.streak} intervals")
        state.status = ConditionStatus.BREACHING if verdict else ConditionStatus.OK
        return None

    def _feed_burn(
        self, state: ConditionState, cond: BurnRateAbort, sample: IntervalSample
    ) -> Trip | None:
        bad, total = _burn_events(cond, sample)
        longest = max(self._intervals(w) for w in cond.windows_s)
        state._bad.append(bad)
        state._total.append(total)
        while len(state._bad) > longest:
            state._bad.popleft()
            state._total.popleft()
        burns: list[float] = []
        for window in cond.windows_s:
            n = self._intervals(window)
            if len(state._total) < n:
                break
            events = sum(list(state._total)[-n:])
            if events == 0:
                break
            burns.append(sum(list(state._bad)[-n:]) / events / (1.0 - cond.target))
        if len(burns) < len(cond.windows_s):
            state.status = ConditionStatus.NO_DATA
            state.observed = "windows not complete" if not burns else f"burn {burns[0]:.3g}x"
            return None
        state.observed = "burn " + " / ".join(f"{b:.3g}x" for b in burns)
        if all(b > cond.above for b in burns):
            state.status = ConditionStatus.TRIPPED
            return Trip(cond.label, sample.end_s, state.observed)
        breaching = any(b > cond.above for b in burns)
        state.status = ConditionStatus.BREACHING if breaching else ConditionStatus.OK
        return None


def _observed(cond: ErrorRateAbort | LatencyAbort, sample: IntervalSample) -> str:
    if sample.silent:
        return "no responses"
    if isinstance(cond, LatencyAbort) and sample.unanswered:
        return "no OK responses"
    if isinstance(cond, ErrorRateAbort):
        ratio = sample.error_ratio
        return "no responses" if ratio is None else f"errors {ratio:.2%}"
    value = sample.percentile_ms(cond.percentile.rank)
    return "no OK responses" if value is None else f"{cond.percentile.value} {value:.1f} ms"
