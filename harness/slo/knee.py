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
from typing import Final, Protocol

from harness.measure import (
    CountersSum,
    IntervalView,
    PhaseKind,
    RunResult,
    scan_series,
)
from harness.measure import min_samples as sufficient_samples
from harness.slo.verdict import Knee, KneeStatus
from harness.spec import ALL_PHASES, LatencyObjective, Percentile, SloSpec, UpperOp

__all__ = [
    "CONFIRM_WINDOWS",
    "ERROR_ALPHA",
    "KNEE_KINDS",
    "MAX_ERROR_RATIO",
    "KneeFeed",
    "PhaseLike",
    "find_knee",
    "slo_capacity",
    "slo_knee_feeds",
]

#: Phase kinds whose offered rate changes on purpose, so a knee can be read from them.
KNEE_KINDS: Final = frozenset({PhaseKind.RAMP, PhaseKind.STEP})
#: Consecutive breaching windows that confirm a breach (rule 4).
CONFIRM_WINDOWS: Final = 3
#: Failed + shed share of a window's completions above which it breaches (rule 3): 0.1%.
MAX_ERROR_RATIO: Final = 0.001
#: Significance level of the one-sided binomial test of that share (rule 3).
ERROR_ALPHA: Final = 0.01


class _Window:
    """Consecutive intervals pooled until they hold enough completions (rule 2), added up as
    they stream by (rate: offered over length, summed in interval order)."""

    __slots__ = ("bad", "done", "latency", "length_s", "offered", "start_s")

    def __init__(self, start_s: float) -> None:
        self.start_s = start_s
        self.offered = 0
        self.length_s = 0.0
        self.done = 0
        self.bad = 0
        self.latency = CountersSum()

    def add(self, view: IntervalView) -> None:
        c = view.counts
        self.offered += view.offered
        self.length_s += view.length_s
        self.done += c.ok + c.failed + c.shed
        self.bad += c.failed + c.shed
        self.latency.add(view.latency)

    def absorb(self, other: _Window) -> None:
        """A short remainder joins this window (rule 2)."""
        self.offered += other.offered
        self.length_s += other.length_s
        self.done += other.done
        self.bad += other.bad
        self.latency.absorb(other.latency)

    @property
    def rate(self) -> float:
        """Offered requests per second over the window."""
        return self.offered / self.length_s if self.length_s > 0 else 0.0


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


class PhaseLike(Protocol):
    """What the knee needs of a phase (a :class:`PhaseResult` or a log's :class:`PhaseMeta`)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> PhaseKind: ...
    @property
    def in_verdict(self) -> bool: ...


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
    feeds = [
        KneeFeed(phase.name, rule, need)
        for phase in result.verdict_phases
        if phase.kind in KNEE_KINDS and (phases is None or phase.name in phases)
    ]
    scan_series(result.intervals, feeds)
    return tuple(_phase_knee(feed, confirm) for feed in feeds)


def slo_knee_feeds(phases: Sequence[PhaseLike], slo: SloSpec) -> list[KneeFeed]:
    """The knee consumers :func:`slo_capacity` feeds: each ramp/step verdict phase against the
    strictest all-endpoint p99 latency objective scoped to it; none without such an objective."""
    feeds = []
    for phase in phases:
        objective = _p99_objective(slo, phase.name)
        if phase.in_verdict and phase.kind in KNEE_KINDS and objective is not None:
            rule = _Rule(objective.threshold_ms, 99.0, objective.op, MAX_ERROR_RATIO)
            feeds.append(KneeFeed(phase.name, rule, sufficient_samples(99.0)))
    return feeds


def slo_capacity(
    result: RunResult, slo: SloSpec, feeds: Sequence[KneeFeed] | None = None
) -> tuple[Knee, ...]:
    """The knees :func:`harness.slo.evaluate` reports (see :func:`slo_knee_feeds`); ``feeds``:
    those consumers already fed in a pass shared with others, else one pass is made here."""
    if feeds is None:
        feeds = slo_knee_feeds(result.phases, slo)
        scan_series(result.intervals, feeds)
    return tuple(_phase_knee(feed, CONFIRM_WINDOWS) for feed in feeds)


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
        dist = window.latency.distribution()
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


class KneeFeed:
    """An :class:`harness.measure.IntervalConsumer` for one phase's knee: pools its intervals
    into windows (rule 2) and judges each once the next one shows it is not the last (a short
    remainder joins the last window), keeping one small record per window, never the series."""

    def __init__(self, phase: str, rule: _Rule, need: int) -> None:
        self.phase = phase
        self.rule = rule
        self.need = need
        self.judged: list[_Judged] = []
        self.max_offered = 0.0
        self.done = 0  # completions of the phase
        self._last: _Window | None = None  # complete, not judged yet
        self._pending: _Window | None = None  # filling

    def feed(self, view: IntervalView) -> None:
        """Take one record of the phase (others ignored)."""
        if view.phase != self.phase:
            return
        if view.length_s > 0:
            self.max_offered = max(self.max_offered, view.offered / view.length_s)
        self.done += view.done
        if self._pending is None:
            self._pending = _Window(view.start_s)
        self._pending.add(view)
        if self._pending.done >= self.need:
            if self._last is not None:
                self.judged.append(self.rule.judge(self._last))
            self._last, self._pending = self._pending, None

    def finish(self) -> list[_Judged]:
        """Every window judged (call once, after the pass)."""
        if self._last is not None:
            if self._pending is not None:
                self._last.absorb(self._pending)
            self.judged.append(self.rule.judge(self._last))
            self._last = self._pending = None
        return self.judged


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


def _phase_knee(feed: KneeFeed, confirm: int) -> Knee:
    rule, need, name = feed.rule, feed.need, feed.phase
    max_offered = feed.max_offered

    def knee(status: KneeStatus, rps: float | None, first: float | None, reason: str) -> Knee:
        breached = status in (KneeStatus.FOUND, KneeStatus.FROM_START)
        capped = None if rps is None else min(rps, max_offered)  # float rounding of the mean
        return Knee(
            name, rule.threshold_ms, rule.percentile, capped, max_offered, breached,
            first, reason, status,
        )  # fmt: skip

    judged = feed.finish()
    if not judged:
        done = feed.done
        return knee(
            KneeStatus.INSUFFICIENT,
            None,
            None,
            f"Phase '{name}' completed {done:,} requests; one {rule.stat} window needs "
            f"{need:,}, so no knee can be located.",
        )
    first = _first_confirmed(judged, confirm)
    limit = f"{rule.stat} {rule.op.value} {rule.threshold_ms:g} ms"
    if first is None:
        best = max(w.rate for w in judged)
        return knee(
            KneeStatus.NOT_REACHED,
            best,
            None,
            f"{limit} held in phase '{name}' up to {_rps(best)}: the knee lies above the "
            f"tested range (highest offered {_rps(max_offered)}).{_transients(judged, confirm)}",
        )
    breach = judged[first]
    detail = _breach_detail(breach, rule)
    if first == 0:
        return knee(
            KneeStatus.FROM_START,
            None,
            breach.start_s,
            f"{limit} was breached from the first window of phase '{name}' "
            f"({_rps(breach.rate)}, {detail}): the knee lies below the tested range.",
        )
    best = max(w.rate for w in judged[:first])
    return knee(
        KneeStatus.FOUND,
        best,
        breach.start_s,
        f"{limit} held up to {_rps(best)} in phase '{name}'; from {breach.start_s:g} s "
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
