"""Judge a measured run against its SLO: ``evaluate(RunResult, SloSpec) -> Verdict`` (pure).

Every objective is evaluated once per phase in scope (``phase: "*"`` = each verdict phase,
separately) and per endpoint when it names one. What is measured:
- latency: exact HDR percentiles of intended-clock latencies of OK responses (coordinated-omission
  corrected), merged over the scope; see :mod:`harness.measure.distribution` for the rank rule, the
  out-of-range handling and the sufficiency rule (p99.9 needs 10,000 OK responses);
- error_rate = failed / sent, availability = ok / sent, shed_rate = shed / sent: the phase's
  request counts, or for one endpoint the counts of its intended-clock histograms;
- throughput_ratio = achieved / offered requests per second of the phase;
- burn_rate: see :mod:`harness.slo.burn`.

Rates and sufficiency: an observed breach is a FAIL whatever the sample size (those failures
happened); a *pass* needs enough requests that one bad request would have registered at the
threshold's resolution: ``ceil(1 / budget)`` requests, where the budget is the threshold of an
upper-bounded rate or ``1 - target`` of availability (1,000 requests for "error rate < 0.1%").
Fewer is INSUFFICIENT: 200 requests without a failure do not show an error rate below 0.1%.

Verdict: FAIL if any objective failed; else INVALID if any objective was insufficient, the load
generator was unhealthy, a verdict phase sent no requests or the run has no verdict phase; else
PASS. Every reason is a sentence a release manager can read.

Capacity: ramp and step phases also get their knee (:mod:`harness.slo.knee`) in
``Verdict.capacity``; it is information and never changes the status.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace

from harness.measure import (
    HIGHEST_US,
    Clock,
    Outcome,
    PhaseResult,
    RunResult,
    distribution,
    min_samples,
    scan_series,
)
from harness.slo.burn import event_series, peak_multiwindow_burn
from harness.slo.knee import slo_capacity
from harness.slo.series import SloSeries, burn_key
from harness.slo.verdict import ObjectiveResult, ObjectiveStatus, Verdict, VerdictStatus
from harness.spec import (
    ALL_PHASES,
    AvailabilityObjective,
    BurnRateObjective,
    ErrorRateObjective,
    LatencyObjective,
    Objective,
    ShedRateObjective,
    Sli,
    SloSpec,
    ThroughputObjective,
)

__all__ = ["evaluate"]

_PASS, _FAIL, _INSUFFICIENT = (
    ObjectiveStatus.PASS,
    ObjectiveStatus.FAIL,
    ObjectiveStatus.INSUFFICIENT,
)
_BEYOND_MS = HIGHEST_US / 1000.0


def evaluate(result: RunResult, slo: SloSpec, *, series: SloSeries | None = None) -> Verdict:
    """Evaluate every objective of ``slo`` on ``result``; a breach is a value, not an exception.

    ``series``: the SLO's per-interval consumers, already fed in a pass over ``result.intervals``
    the caller shared (with the reports); else one pass is made here when the SLO needs one."""
    if series is None:
        series = SloSeries(result.phases, slo)
        if series.needed:
            scan_series(result.intervals, [series])
    objectives = tuple(
        r for obj in slo.objectives for r in _evaluate_objective(result, obj, series)
    )
    verdict = _verdict(result, objectives + _audit_objective(result))
    return replace(verdict, capacity=slo_capacity(result, slo, series.knees))


def _audit_objective(result: RunResult) -> tuple[ObjectiveResult, ...]:
    """When the harness ran the service itself, its audit trail is judged too (PCI DSS 10.3):
    an unverifiable chain, an OK decision without its record, or a decision that does not
    reproduce from its record (``harness.audit.check_audit_trail`` replays them) fails the
    run."""
    audit = result.audit
    if audit is None:
        return ()
    reason = (
        f"{audit.records} records in {audit.streams} chain(s) verified; every OK decision has one "
        "and every decision reproduces from its record."
        if audit.intact
        else "; ".join(audit.problems)
    )
    return (
        ObjectiveResult(
            name="audit trail intact, decisions reproducible",
            phase=ALL_PHASES,
            endpoint=None,
            metric="audit_trail_problems",
            op="<=",
            threshold=0.0,
            unit="problems",
            observed=float(len(audit.problems)),
            status=ObjectiveStatus.PASS if audit.intact else _FAIL,
            reason=reason,
            samples=audit.records,
        ),
    )


def _verdict(result: RunResult, objectives: tuple[ObjectiveResult, ...]) -> Verdict:
    failed = [o for o in objectives if o.status is _FAIL]
    invalid = [_named(o) for o in objectives if o.status is _INSUFFICIENT]
    if not result.verdict_phases:
        invalid.append("The run has no verdict phase (only warm-up), so nothing was judged.")
    invalid += [
        f"Phase '{p.name}' sent no requests, so it cannot be judged."
        for p in result.verdict_phases
        if p.counts.sent == 0
    ]
    if not result.generator.valid:
        invalid += list(result.generator.reasons) or [
            "The load generator was unhealthy, so its latencies cannot be trusted."
        ]
    # A saturated generator polluted every latency, breaches included: its run is INVALID (exit 3)
    # even when an objective failed, so nobody debugs a service for the generator's stall.
    if not result.generator.valid:
        status = VerdictStatus.INVALID
    elif failed:
        status = VerdictStatus.FAIL
    elif invalid:
        status = VerdictStatus.INVALID
    else:
        status = VerdictStatus.PASS
    reasons = [_named(o) for o in failed] if result.generator.valid else []
    return Verdict(status, objectives, tuple(reasons + _unique(invalid)))


def _named(row: ObjectiveResult) -> str:
    return f"{row.name} ({_where(row.phase, row.endpoint)}): {row.reason}"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# -- scope -----------------------------------------------------------------------------------
def _phases(result: RunResult, objective: Objective) -> Iterator[PhaseResult | str]:
    """Phases in scope, or the reason a named phase cannot be judged."""
    if objective.phase == ALL_PHASES:
        yield from result.verdict_phases
        return
    for phase in result.phases:
        if phase.name == objective.phase:
            yield (
                phase
                if phase.in_verdict
                else f"Phase '{phase.name}' is a warm-up phase, which never counts towards a "
                "verdict."
            )
            return
    names = ", ".join(p.name for p in result.verdict_phases) or "none"
    yield f"The run has no phase named '{objective.phase}' (verdict phases: {names})."


def _evaluate_objective(
    result: RunResult, objective: Objective, series: SloSeries
) -> Iterator[ObjectiveResult]:
    for phase in _phases(result, objective):
        if isinstance(phase, str):
            yield from _unjudgeable(objective, phase)
        elif isinstance(objective, LatencyObjective):
            yield _latency(phase, objective)
        elif isinstance(objective, ErrorRateObjective | ShedRateObjective | AvailabilityObjective):
            yield _rate(phase, objective)
        elif isinstance(objective, ThroughputObjective):
            yield _throughput(phase, objective)
        else:
            yield from _burn(result, phase, objective, series)


def _unjudgeable(objective: Objective, reason: str) -> Iterator[ObjectiveResult]:
    for metric, op, threshold, unit in _shape(objective):
        yield ObjectiveResult(
            objective.label, objective.phase, objective.endpoint, metric, op, threshold, unit,
            None, _INSUFFICIENT, reason,
        )  # fmt: skip


def _shape(objective: Objective) -> list[tuple[str, str, float, str]]:
    """(metric, op, threshold, unit) of every result row an objective produces."""
    if isinstance(objective, LatencyObjective):
        key = f"latency_{objective.percentile.key}"
        return [(key, objective.op.value, objective.threshold_ms, "ms")]
    if isinstance(objective, ErrorRateObjective | ShedRateObjective):
        return [(_rate_metric(objective), objective.op.value, objective.threshold, "ratio")]
    if isinstance(objective, AvailabilityObjective):
        return [("availability", objective.op.value, objective.target, "ratio")]
    if isinstance(objective, ThroughputObjective):
        return [("throughput_ratio", objective.op.value, objective.threshold, "ratio")]
    return [(f"burn_rate_{w.key}", "<=", w.max_burn, "x") for w in objective.windows]


def _rate_metric(objective: ErrorRateObjective | ShedRateObjective) -> str:
    return "error_rate" if isinstance(objective, ErrorRateObjective) else "shed_rate"


# -- latency ---------------------------------------------------------------------------------
def _latency(phase: PhaseResult, objective: LatencyObjective) -> ObjectiveResult:
    [(metric, op, threshold, unit)] = _shape(objective)
    where = _where(phase.name, objective.endpoint)
    stat = objective.percentile.value
    dist = distribution(phase.latency(endpoint=objective.endpoint, outcomes=(Outcome.OK,)))

    def row(observed: float | None, status: ObjectiveStatus, reason: str) -> ObjectiveResult:
        return ObjectiveResult(
            objective.label, phase.name, objective.endpoint, metric, op, threshold, unit,
            observed, status, reason, samples=dist.total,
        )  # fmt: skip

    need = min_samples(objective.percentile.rank)
    if dist.total < need:
        return row(
            None,
            _INSUFFICIENT,
            f"{stat} needs at least {need:,} OK responses to be judged; {where} had "
            f"{dist.total:,}.",
        )
    rank = objective.percentile.rank
    value_us = dist.max_us() if rank is None else dist.percentile_us(rank)
    if value_us is None:
        beyond = f"{stat} lies beyond the histogram's {_BEYOND_MS:g} ms range"
        detail = f"{dist.out_of_range:,} of {dist.total:,} OK responses in {where} took longer"
        if threshold < _BEYOND_MS:
            return row(_BEYOND_MS, _FAIL, f"{beyond}, above the {threshold:g} ms limit ({detail}).")
        return row(None, _INSUFFICIENT, f"{beyond}, so it cannot be compared ({detail}).")
    observed = value_us / 1000.0
    ok = objective.op.holds(observed, threshold)
    side = "within" if ok else "above"
    return row(
        observed,
        _PASS if ok else _FAIL,
        f"{stat} was {_ms(observed)} over {dist.total:,} OK responses in {where}, {side} the "
        f"{op} {threshold:g} ms limit.",
    )


# -- request rates ---------------------------------------------------------------------------
def _counts(phase: PhaseResult, endpoint: str | None) -> tuple[int, int, int, int]:
    """(sent, ok, failed, shed) of the phase, or of one endpoint from its histograms."""
    if endpoint is None:
        c = phase.counts
        return c.sent, c.ok, c.failed, c.shed
    per: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
    for key, hist in phase.histograms.items():
        if key.endpoint == endpoint and key.clock is Clock.INTENDED:
            per[key.outcome] += hist.count + hist.out_of_range
    ok, failed, shed = per[Outcome.OK], per[Outcome.FAILED], per[Outcome.SHED]
    return ok + failed + shed, ok, failed, shed


def _rate(
    phase: PhaseResult, objective: ErrorRateObjective | ShedRateObjective | AvailabilityObjective
) -> ObjectiveResult:
    [(metric, op, threshold, unit)] = _shape(objective)
    where = _where(phase.name, objective.endpoint)
    sent, ok, failed, shed = _counts(phase, objective.endpoint)
    if isinstance(objective, AvailabilityObjective):
        what, part, budget = "availability", ok, 1.0 - objective.target
    elif isinstance(objective, ErrorRateObjective):
        what, part, budget = "error rate", failed, objective.threshold
    else:
        what, part, budget = "shed rate", shed, objective.threshold

    def row(observed: float | None, status: ObjectiveStatus, reason: str) -> ObjectiveResult:
        return ObjectiveResult(
            objective.label, phase.name, objective.endpoint, metric, op, threshold, unit,
            observed, status, reason, samples=sent,
        )  # fmt: skip

    if sent == 0:
        return row(None, _INSUFFICIENT, f"{where} sent no requests, so its {what} is unknown.")
    observed = part / sent
    holds = objective.op.holds(observed, threshold)
    summary = f"{what} was {_pct(observed)} ({part:,} of {sent:,} requests) in {where}"
    if not holds:
        return row(observed, _FAIL, f"{summary}, beyond the {op} {_pct(threshold)} limit.")
    need = 1 if budget <= 0 else math.ceil(1.0 / budget - 1e-9)
    if sent < need:
        return row(
            observed,
            _INSUFFICIENT,
            f"{summary}; judging {op} {_pct(threshold)} needs at least {need:,} requests "
            "(one bad request in fewer would already breach it).",
        )
    return row(observed, _PASS, f"{summary}, within the {op} {_pct(threshold)} limit.")


def _throughput(phase: PhaseResult, objective: ThroughputObjective) -> ObjectiveResult:
    [(metric, op, threshold, unit)] = _shape(objective)
    where = _where(phase.name, None)
    if phase.offered_rps <= 0:
        return ObjectiveResult(
            objective.label, phase.name, None, metric, op, threshold, unit, None, _INSUFFICIENT,
            f"{where} offered no load, so its throughput ratio is undefined.",
        )  # fmt: skip
    # Goodput: a service answering everything with a fast 503 must not meet a throughput target.
    good_rps = phase.counts.ok / phase.duration_s if phase.duration_s > 0 else 0.0
    observed = good_rps / phase.offered_rps
    ok = objective.op.holds(observed, threshold)
    reason = (
        f"{where} answered {good_rps:.1f} of {phase.offered_rps:.1f} offered requests/s OK "
        f"({_pct(observed)}), {'meeting' if ok else 'short of'} the {op} {_pct(threshold)} target."
    )
    return ObjectiveResult(
        objective.label, phase.name, None, metric, op, threshold, unit, observed,
        _PASS if ok else _FAIL, reason, samples=phase.counts.sent,
    )  # fmt: skip


# -- burn rate -------------------------------------------------------------------------------
def _burn(
    result: RunResult, phase: PhaseResult, objective: BurnRateObjective, feeds: SloSeries
) -> Iterator[ObjectiveResult]:
    key = burn_key(phase.name, objective)
    counter = feeds.counters.get(key)
    series = (
        counter.series()
        if counter is not None
        else event_series(result.intervals, phase.name, objective.sli, key[2])
    )
    sli = "failed requests" if objective.sli is Sli.ERRORS else "requests not answered OK in time"
    for window, (metric, op, threshold, unit) in zip(
        objective.windows, _shape(objective), strict=True
    ):
        pair = f"{window.long_s:g} s / {window.short_s:g} s windows"
        peak = (
            None
            if series is None
            else peak_multiwindow_burn(series, window.long_s, window.short_s, objective.target)
        )
        if series is None or peak is None:
            length = 0.0 if series is None else series.duration_s
            yield ObjectiveResult(
                objective.label, phase.name, None, metric, op, threshold, unit, None,
                _INSUFFICIENT,
                f"Phase '{phase.name}' has {length:g} s of intervals with requests; the "
                f"{pair} need at least {window.long_s:g} s.",
            )  # fmt: skip
            continue
        ok = peak.burn <= threshold
        reason = (
            f"Peak burn rate of the {_pct(objective.target)} budget ({sli}) was "
            f"{peak.long_burn:.3g}x over {window.long_s:g} s and {peak.short_burn:.3g}x over "
            f"{window.short_s:g} s, both ending at {peak.end_s:g} s; "
            + (
                f"at least one stayed within {threshold:g}x."
                if ok
                else f"both exceeded {threshold:g}x."
            )
        )
        yield ObjectiveResult(
            objective.label, phase.name, None, metric, op, threshold, unit, peak.burn,
            _PASS if ok else _FAIL, reason, samples=sum(series.total),
        )  # fmt: skip


# -- wording ---------------------------------------------------------------------------------
def _where(phase: str, endpoint: str | None) -> str:
    return f"phase '{phase}'" + (f", endpoint '{endpoint}'" if endpoint else "")


def _ms(value: float) -> str:
    return f"{value:.4g} ms"


def _pct(ratio: float) -> str:
    return f"{ratio * 100:.4g}%"
