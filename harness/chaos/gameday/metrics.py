"""What a game day measured, per step and overall (pure; computed after the run from its intervals).

Definitions (times are run offsets in seconds; ``W`` is the judgement window in intervals):

- a **window ending at interval e** merges intervals e-W+1..e; *breaching* means the hypothesis
  (the game day's SLO) fails on it (:mod:`harness.chaos.gameday.judge`);
- **held** (per step): the step's expectations (``expect``, else the hypothesis) hold on the
  step's intervals merged (every interval overlapping [injection, rollback + W] by half or more)
  *and* on every window lying wholly inside that span. The span reaches one window past the
  rollback because latencies are counted when requests *complete*: a 1 s stall's requests
  complete after it ends, and they belong to the step. None when nothing could be judged;
- **time to detect**: end of the first breaching window that ends after the injection, minus the
  injection time. None when no window breached before the recovery period ended (nothing to detect);
- **time to recover**: after the rollback, the first window end e such that the windows ending at
  e .. e+H-1 all hold (H = the hold in intervals), minus the rollback time (0 when the steady state
  already held at the rollback). Only for steps that deviated; None when it never recovered in the
  run;
- **error budget burned**: failed requests from the injection until recovery (or the end of the run)
  divided by the errors the hypothesis allows over the whole game day (its error-rate threshold, or
  1 - availability target, times every completion from baseline start to the end): 1.0 = the game
  day's whole budget. A shed request (503) is a bad event when the hypothesis has an availability
  objective (OK / sent: a refused request is a decision the caller never got), and not when it
  has only an error-rate objective (whose errors exclude shed by definition); so an HTTP fault
  answering 503 burns the budget of an availability SLO. The **latency budget** is the same with
  "not OK within the hypothesis' latency threshold" as the bad event and 1 - percentile/100 as
  the allowance (p99: 1%);
- **steady state** before (baseline: warm-up end to first injection), after (last rollback plus the
  hold to the end): the hypothesis on the merged period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.chaos.gameday.judge import Check, holds, judge, merge
from harness.chaos.gameday.plan import Plan, PlannedStep
from harness.measure import IntervalSample, distribution
from harness.spec import (
    AvailabilityObjective,
    ErrorRateObjective,
    LatencyObjective,
    Objective,
    SloSpec,
)

__all__ = [
    "Budgets",
    "SteadyState",
    "StepMetrics",
    "budgets_of",
    "measure_step",
    "steady_state",
]

_DEFAULT_ERROR_BUDGET = 0.001


@dataclass(frozen=True, slots=True)
class SteadyState:
    """The hypothesis judged on one merged period."""

    start_s: float
    end_s: float
    held: bool | None
    checks: tuple[Check, ...]


@dataclass(frozen=True, slots=True)
class StepMetrics:
    """What one step measured; see the module docstring."""

    held: bool | None
    checks: tuple[Check, ...]  # the expectations on the step's intervals merged
    detected_after_s: float | None
    recovered_after_s: float | None
    deviated: bool  # some window of the hypothesis breached after the injection
    error_budget_burned: float | None
    latency_budget_burned: float | None
    bad_events: int
    events: int


@dataclass(frozen=True, slots=True)
class Budgets:
    """The allowances the hypothesis implies."""

    error_ratio: float  # allowed failed / completed
    latency_ratio: float | None  # allowed share slower than latency_threshold_ms
    latency_threshold_ms: float | None
    events: int  # completions from baseline start to the end of the run
    shed_is_bad: bool = False  # the hypothesis judges availability: 503s burn the error budget


def budgets_of(hypothesis: SloSpec, samples: Sequence[IntervalSample], plan: Plan) -> Budgets:
    """The error and latency allowances of ``hypothesis`` over the game day's completions."""
    error_ratio: float | None = None
    latency: LatencyObjective | None = None
    shed_is_bad = any(isinstance(o, AvailabilityObjective) for o in hypothesis.objectives)
    for o in hypothesis.objectives:
        if isinstance(o, ErrorRateObjective) and o.threshold > 0 and error_ratio is None:
            error_ratio = o.threshold
        elif isinstance(o, AvailabilityObjective) and o.target < 1.0 and error_ratio is None:
            error_ratio = 1.0 - o.target
        elif isinstance(o, LatencyObjective) and o.percentile.rank is not None and latency is None:
            latency = o
    events = sum(s.completed for s in samples if s.start_s >= plan.warmup_s - 1e-9)
    rank = latency.percentile.rank if latency is not None else None
    return Budgets(
        error_ratio=error_ratio or _DEFAULT_ERROR_BUDGET,
        latency_ratio=None if rank is None else 1.0 - rank / 100.0,
        latency_threshold_ms=None if latency is None else latency.threshold_ms,
        events=events,
        shed_is_bad=shed_is_bad,
    )


def _between(
    samples: Sequence[IntervalSample], start_s: float, end_s: float
) -> list[IntervalSample]:
    """Intervals overlapping [start_s, end_s) by at least half an interval."""
    return [
        s for s in samples if min(s.end_s, end_s) - max(s.start_s, start_s) >= s.length_s / 2 - 1e-9
    ]


def steady_state(
    samples: Sequence[IntervalSample], objectives: Sequence[Objective], start_s: float, end_s: float
) -> SteadyState:
    """``objectives`` on the merged intervals of [start_s, end_s)."""
    inside = _between(samples, start_s, end_s)
    if not inside:
        return SteadyState(start_s, end_s, None, ())
    checks = judge(merge(inside), objectives)
    return SteadyState(start_s, end_s, holds(checks), checks)


def _window_holds(
    samples: Sequence[IntervalSample], end: int, width: int, objectives: Sequence[Objective]
) -> bool | None:
    start = end - width + 1
    if start < 0:
        return None
    return holds(judge(merge(samples[start : end + 1]), objectives))


def measure_step(
    samples: Sequence[IntervalSample],
    step: PlannedStep,
    plan: Plan,
    hypothesis: SloSpec,
    budgets: Budgets,
    injected_at_s: float,
    rolled_back_at_s: float,
) -> StepMetrics:
    """Measure one step from the run's gap-free interval series (see the module docstring)."""
    width = plan.window_intervals(plan.window_s)
    hold = plan.window_intervals(plan.hold_s)
    expect = step.expect or hypothesis.objectives
    slo = hypothesis.objectives
    ends = [s.end_s for s in samples]

    # held: the step plus one window (completions of requests sent during it), merged and windowed
    span_end = rolled_back_at_s + plan.window_s
    inside = [
        e
        for e in range(len(samples))
        if samples[e].end_s <= span_end + 1e-9
        and e - width + 1 >= 0
        and samples[e - width + 1].start_s >= injected_at_s - 1e-9
    ]
    step_samples = _between(samples, injected_at_s, span_end)
    checks = judge(merge(step_samples), expect) if step_samples else ()
    verdicts = [holds(checks), *(_window_holds(samples, e, width, expect) for e in inside)]
    held = False if False in verdicts else (True if True in verdicts else None)

    # detection: the first breaching hypothesis window ending after the injection
    detected: float | None = None
    limit = rolled_back_at_s + plan.hold_s + plan.window_s
    for e, end in enumerate(ends):
        if end <= injected_at_s + 1e-9 or end > limit + 1e-9:
            continue
        if _window_holds(samples, e, width, slo) is False:
            detected = end - injected_at_s
            break

    recovered, recovered_at = _recovery(samples, slo, width, hold, rolled_back_at_s, detected)
    burn_end = (
        recovered_at if recovered_at is not None else (ends[-1] if ends else rolled_back_at_s)
    )
    window = _between(samples, injected_at_s, burn_end)
    bad = sum(s.counts.failed + (s.counts.shed if budgets.shed_is_bad else 0) for s in window)
    events = sum(s.completed for s in window)
    allowed = budgets.error_ratio * budgets.events
    slow = _slow(window, budgets.latency_threshold_ms)
    latency_allowed = (budgets.latency_ratio or 0.0) * budgets.events
    return StepMetrics(
        held=held,
        checks=checks,
        detected_after_s=detected,
        recovered_after_s=recovered,
        deviated=detected is not None,
        error_budget_burned=bad / allowed if allowed > 0 else None,
        latency_budget_burned=slow / latency_allowed if latency_allowed > 0 else None,
        bad_events=bad,
        events=events,
    )


def _recovery(
    samples: Sequence[IntervalSample],
    slo: Sequence[Objective],
    width: int,
    hold: int,
    rolled_back_at_s: float,
    detected: float | None,
) -> tuple[float | None, float | None]:
    """(time to recover, run offset of recovery); (None, None) without deviation or recovery."""
    if detected is None:
        return None, None
    first = next(
        (e for e, s in enumerate(samples) if s.end_s >= rolled_back_at_s - 1e-9), len(samples)
    )
    for e in range(first, len(samples) - hold + 1):
        if all(_window_holds(samples, k, width, slo) is True for k in range(e, e + hold)):
            end = samples[e].end_s
            return max(0.0, end - rolled_back_at_s), end
    return None, None


def _slow(window: Sequence[IntervalSample], threshold_ms: float | None) -> int:
    """Completions that were not OK within ``threshold_ms`` (the latency SLI's bad events).

    Counted on the bucket arrays (``distribution``): ``LatencyHistogram.count_at_or_below`` walks
    every HDR counter up to the largest value in Python, about 0.1 s per interval holding a 900 ms
    sample, once per interval per window."""
    if threshold_ms is None:
        return 0
    limit_us = round(threshold_ms * 1000)
    return sum(
        s.completed - min(distribution(s.latency).count_at_or_below(limit_us), s.counts.ok)
        for s in window
    )
