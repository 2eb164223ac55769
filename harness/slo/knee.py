"""Capacity: the knee of a ramp or step phase, read from its 1 s interval series (pure).

The knee is the highest offered rate at which the phase still met the SLO's latency percentile;
``scenarios/ramp.yaml`` exists to find it. It is information next to the verdict and never changes
the verdict's status. The rules below are choices, written down so a number can be checked by hand:

1. Series. The intervals of one phase in time order. Per interval: the offered rate is
   ``offered / length_s`` (requests whose *intended* send time fell in it, so a target that falls
   behind does not lower it), and its completions are the OK latencies (intended clock,
   coordinated-omission corrected) plus the failed and shed counts.
2. Windows, for sample sufficiency. A per-second p99 of 100 requests is the 99th of 100 values:
   in effect the maximum, decided by one slow request. So consecutive intervals are pooled into
   windows until a window holds at least ``min_samples`` completed requests (default: the
   project's sufficiency rule, ``ceil(10 / (1 - p/100))`` = 1,000 for p99, as for objectives).
   At 2,000 requests/s a window is one second; at 200 requests/s it is five. A remainder at the
   end with too few completions joins the window before it; a phase without one full window has
   no knee (``INSUFFICIENT``). Windows depend on counts only, never on the threshold.
3. Breach. A window breaches when its percentile of OK latencies fails the threshold (the
   objective's ``<`` or ``<=``), when that percentile lies beyond the histogram's 60 s range, or
   when failed + shed exceed ``max_error_ratio`` (0.1%) of its completions *significantly*: a
   target that keeps its latency by refusing work is past its knee too. Significantly means a
   one-sided binomial test at ``ERROR_ALPHA`` (1%) against the allowance, because counts this
   small are noisy: 2 failures in 1,000 requests (0.2%) is what a target failing exactly 0.1%
   shows about one window in four, so it proves nothing; 5 in 1,000 does. Overload sheds or fails
   far more than that, so the test costs at most a window of delay at a real knee.
4. Confirmation. A noisy second does not end the ramp: a breach is confirmed by ``confirm`` (3)
   consecutive breaching windows, or by breaching windows that run to the end of the phase
   (nothing after them contradicts it, and overstating capacity is the costlier mistake). Why 3:
   on a shared 2-core machine a one- or two-second stall (a pause, a noisy neighbour) recovers,
   while a target past its knee stays breached as the rate keeps rising; a longer confirmation
   does not move the knee, which is read before the first breaching window.
5. Knee. The highest window rate (offered requests / window length) among the windows before the
   first confirmed breach (an unconfirmed noisy window among them still counts as reached).
   Confirmed from the first window: ``FROM_START``, no knee. Never confirmed: ``NOT_REACHED``, the
   knee lies above the highest rate tested and ``knee_rps`` is the highest rate that held.

Where the threshold comes from (:func:`slo_capacity`): the SLO's p99 latency objectives over all
endpoints whose phase is the phase's name or ``"*"``; the strictest one when several apply. An
objective for one endpoint does not give a knee: the interval series merges endpoints.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

from harness.measure import (
    IntervalRecord,
    LatencyHistogram,
    PhaseKind,
    PhaseResult,
    RunResult,
    distribution,
)
from harness.measure import min_samples as sufficient_samples
from harness.slo.verdict import Knee, KneeStatus
from harness.spec import ALL_PHASES, LatencyObjective, Percentile, SloSpec, UpperOp

__all__ = [
    "CONFIRM_WINDOWS",
    "ERROR_ALPHA",
    "KNEE_KINDS",
    "MAX_ERROR_RATIO",
    "find_knee",
    "slo_capacity",
]

#: Phase kinds whose offered rate changes on purpose, so a knee can be read from them.
KNEE_KINDS: Final = frozenset({PhaseKind.RAMP, PhaseKind.STEP})
#: Consecutive breaching windows that confirm a breach (rule 4).
CONFIRM_WINDOWS: Final = 3
#: Failed + shed share of a window's completions above which it breaches (rule 3): 0.1%.
MAX_ERROR_RATIO: Final = 0.001
#: Significance level of the one-sided binomial test of that share (rule 3).
ERROR_ALPHA: Final = 0.01


@dataclass(frozen=True, slots=True)
class _Window:
    """Consecutive intervals pooled until they hold enough completions (rule 2)."""

    records: tuple[IntervalRecord, ...]

    @property
    def start_s(self) -> float:
        return self.records[0].start_s

    @property
    def rate(self) -> float:
        """Offered requests per second over the window."""
        length = sum(r.length_s for r in self.records)
        return sum(r.offered for r in self.records) / length if length > 0 else 0.0

    @property
    def done(self) -> int:
        return sum(r.counts.ok + r.counts.failed + r.counts.shed for r in self.records)

    @property
    def bad(self) -> int:
        return sum(r.counts.failed + r.counts.shed for r in self.records)

    def latency(self) -> LatencyHistogram:
        if len(self.records) == 1:
            return self.records[0].latency
        merged = LatencyHistogram()
        for record in self.records:
            merged.add(record.latency)
        return merged


@dataclass(frozen=True, slots=True)
class _Judged:
    """One window against the threshold."""

    start_s: float
    rate: float
    latency_breach: bool
    error_breach: bool
    observed_ms: float | None  # None: no OK response, or beyond the 60 s range
    error_ratio: float

    @property
    def breach(self) -> bool:
        return self.latency_breach or self.error_breach


def find_knee(
    result: RunResult,
    *,
    threshold_ms: float,
    percentile: float = 99.0,
    min_samples: int | None = None,
    op: UpperOp = UpperOp.LT,
    max_error_ratio: float = MAX_ERROR_RATIO,
    confirm: int = CONFIRM_WINDOWS,
    phases: Collection[str] | None = None,
) -> tuple[Knee, ...]:
    """One :class:`Knee` per ramp/step verdict phase (only those named in ``phases`` if given).

    ``min_samples`` is the completions a window needs (rule 2); None applies the project's
    sufficiency rule for ``percentile``.
    """
    if not 0.0 < percentile < 100.0:
        raise ValueError(f"percentile must lie strictly between 0 and 100, got {percentile}")
    need = sufficient_samples(percentile) if min_samples is None else min_samples
    if need < 1 or confirm < 1 or threshold_ms <= 0 or max_error_ratio < 0:
        raise ValueError("min_samples and confirm must be >= 1, threshold_ms > 0, ratio >= 0")
    rule = _Rule(threshold_ms, percentile, op, max_error_ratio)
    return tuple(
        _phase_knee(result.intervals, phase, rule, need, confirm)
        for phase in result.verdict_phases
        if phase.kind in KNEE_KINDS and (phases is None or phase.name in phases)
    )


def slo_capacity(result: RunResult, slo: SloSpec) -> tuple[Knee, ...]:
    """The knees :func:`harness.slo.evaluate` reports: each ramp/step verdict phase against the
    strictest all-endpoint p99 latency objective scoped to it; none without such an objective."""
    knees: list[Knee] = []
    for phase in result.verdict_phases:
        objective = _p99_objective(slo, phase.name)
        if phase.kind in KNEE_KINDS and objective is not None:
            knees += find_knee(
                result, threshold_ms=objective.threshold_ms, op=objective.op, phases=(phase.name,)
            )
    return tuple(knees)


def _p99_objective(slo: SloSpec, phase: str) -> LatencyObjective | None:
    candidates = [
        o
        for o in slo.objectives
        if isinstance(o, LatencyObjective)
        and o.percentile is Percentile.P99
        and o.endpoint is None
        and o.phase in (ALL_PHASES, phase)
    ]
    # At equal thresholds "<" is stricter than "<=".
    return min(candidates, key=lambda o: (o.threshold_ms, o.op is UpperOp.LE), default=None)


@dataclass(frozen=True, slots=True)
class _Rule:
    threshold_ms: float
    percentile: float
    op: UpperOp
    max_error_ratio: float

    @property
    def stat(self) -> str:
        return f"p{self.percentile:g}"

    def judge(self, window: _Window) -> _Judged:
        done = window.done
        error_ratio = window.bad / done if done else 0.0
        dist = distribution(window.latency())
        observed: float | None = None
        latency_breach = False
        if dist.total:
            value_us = dist.percentile_us(self.percentile)
            observed = None if value_us is None else value_us / 1000.0
            latency_breach = observed is None or not self.op.holds(observed, self.threshold_ms)
        error_breach = error_ratio > self.max_error_ratio and _significant(
            window.bad, done, self.max_error_ratio
        )
        return _Judged(
            window.start_s, window.rate, latency_breach, error_breach, observed, error_ratio
        )


def _significant(bad: int, done: int, allowance: float) -> bool:
    """True when ``bad`` of ``done`` is unlikely (p < ERROR_ALPHA) for a true rate of
    ``allowance``: P(X >= bad) with X ~ Binomial(done, allowance)."""
    from scipy.stats import binom  # lazy: scipy.stats is ~1.6 s of import

    return bool(binom.sf(bad - 1, done, allowance) < ERROR_ALPHA)


def _windows(records: Sequence[IntervalRecord], need: int) -> list[_Window]:
    """Pool intervals into windows of at least ``need`` completions (rule 2)."""
    windows: list[_Window] = []
    pending: list[IntervalRecord] = []
    done = 0
    for record in records:
        pending.append(record)
        done += record.counts.ok + record.counts.failed + record.counts.shed
        if done >= need:
            windows.append(_Window(tuple(pending)))
            pending, done = [], 0
    if pending and windows:  # a short remainder joins the window before it
        windows[-1] = _Window(windows[-1].records + tuple(pending))
    return windows


def _first_confirmed(judged: Sequence[_Judged], confirm: int) -> int | None:
    """Index of the first window of the first confirmed breach run (rule 4)."""
    run_start: int | None = None
    for i, window in enumerate(judged):
        if not window.breach:
            run_start = None
            continue
        run_start = i if run_start is None else run_start
        if i - run_start + 1 >= confirm:
            return run_start
    return run_start  # a breach run still open at the end of the phase counts


def _phase_knee(
    intervals: Sequence[IntervalRecord],
    phase: PhaseResult,
    rule: _Rule,
    need: int,
    confirm: int,
) -> Knee:
    own = sorted((r for r in intervals if r.phase == phase.name), key=lambda r: r.start_s)
    rates = [r.offered / r.length_s for r in own if r.length_s > 0]
    max_offered = max(rates, default=0.0)

    def knee(status: KneeStatus, rps: float | None, first: float | None, reason: str) -> Knee:
        breached = status in (KneeStatus.FOUND, KneeStatus.FROM_START)
        capped = None if rps is None else min(rps, max_offered)  # float rounding of the mean
        return Knee(
            phase.name, rule.threshold_ms, rule.percentile, capped, max_offered, breached,
            first, reason, status,
        )  # fmt: skip

    windows = _windows(own, need)
    if not windows:
        done = sum(r.counts.ok + r.counts.failed + r.counts.shed for r in own)
        return knee(
            KneeStatus.INSUFFICIENT,
            None,
            None,
            f"Phase '{phase.name}' completed {done:,} requests; one {rule.stat} window needs "
            f"{need:,}, so no knee can be located.",
        )
    judged = [rule.judge(w) for w in windows]
    first = _first_confirmed(judged, confirm)
    limit = f"{rule.stat} {rule.op.value} {rule.threshold_ms:g} ms"
    if first is None:
        best = max(w.rate for w in judged)
        return knee(
            KneeStatus.NOT_REACHED,
            best,
            None,
            f"{limit} held in phase '{phase.name}' up to {_rps(best)}: the knee lies above the "
            f"tested range (highest offered {_rps(max_offered)}).{_transients(judged, confirm)}",
        )
    breach = judged[first]
    detail = _breach_detail(breach, rule)
    if first == 0:
        return knee(
            KneeStatus.FROM_START,
            None,
            breach.start_s,
            f"{limit} was breached from the first window of phase '{phase.name}' "
            f"({_rps(breach.rate)}, {detail}): the knee lies below the tested range.",
        )
    best = max(w.rate for w in judged[:first])
    return knee(
        KneeStatus.FOUND,
        best,
        breach.start_s,
        f"{limit} held up to {_rps(best)} in phase '{phase.name}'; from {breach.start_s:g} s "
        f"({_rps(breach.rate)}) it was breached ({detail}) and stayed breached for "
        f"{_run_length(judged, first)} consecutive window(s)."
        + _transients(judged[:first], confirm),
    )


def _run_length(judged: Sequence[_Judged], first: int) -> int:
    length = 0
    for window in judged[first:]:
        if not window.breach:
            break
        length += 1
    return length


def _transients(judged: Sequence[_Judged], confirm: int) -> str:
    """A sentence counting the breach runs too short to confirm (empty when there were none)."""
    runs = sum(1 for i, w in enumerate(judged) if w.breach and (i == 0 or not judged[i - 1].breach))
    if not runs:
        return ""
    return (
        f" {runs} shorter breach(es), fewer than {confirm} windows in a row, recovered and did "
        "not count."
    )


def _breach_detail(window: _Judged, rule: _Rule) -> str:
    parts = []
    if window.latency_breach:
        parts.append(
            f"{rule.stat} beyond the 60 s histogram range"
            if window.observed_ms is None
            else f"{rule.stat} {window.observed_ms:.4g} ms"
        )
    if window.error_breach:
        parts.append(
            f"{window.error_ratio * 100:.3g}% failed or shed, significantly above "
            f"{rule.max_error_ratio * 100:.3g}%"
        )
    return "; ".join(parts)


def _rps(rate: float) -> str:
    text = f"{rate:,.0f}" if rate >= 100 or not math.isfinite(rate) else f"{rate:.3g}"
    return f"{text} requests/s"
