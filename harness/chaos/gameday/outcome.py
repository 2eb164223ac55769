"""A game day's results as documents: ``journal.json`` from the controller and the run's
intervals, and the ``--dry-run`` timeline text (pure: no I/O, no load)."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime

from harness.chaos.gameday.controller import GameDayController, Outcome
from harness.chaos.gameday.journal import (
    AbortDoc,
    Journal,
    condition_docs,
    plan_blast,
    rollback_doc,
    steady_doc,
    step_doc,
)
from harness.chaos.gameday.metrics import budgets_of, measure_step, steady_state
from harness.chaos.gameday.plan import Plan
from harness.measure import IntervalSample
from harness.spec import GameDay

__all__ = ["build_journal", "render_timeline"]


def build_journal(
    gameday: GameDay,
    ctl: GameDayController,
    samples: Sequence[IntervalSample],
    status: Outcome,
    reason: str | None,
    started: datetime,
    ended: datetime,
) -> Journal:
    """The journal of a game day from the controller's records and the run's interval series
    (``samples`` empty: the run was interrupted and has no measurements)."""
    plan = ctl.plan
    slo = gameday.hypothesis
    steps = []
    budgets = budgets_of(slo, samples, plan) if samples else None
    end_s = samples[-1].end_s if samples else plan.end_s
    for step in plan.steps:
        record = ctl.record_of(step.name)
        metrics = None
        if record is not None and record.injected_at_s is not None and samples and budgets:
            rolled = record.rolled_back_at_s if record.rolled_back_at_s is not None else end_s
            metrics = measure_step(samples, step, plan, slo, budgets, record.injected_at_s, rolled)
        degraded = ctl.degraded_of(step) if record is not None else None
        steps.append(step_doc(step, record, metrics, degraded))
    before = after = during = None
    injected = [r for r in ctl.guard.records if r.injected_at_s is not None]
    if samples:
        first = (
            min((r.injected_at_s or end_s) for r in injected) if injected else plan.baseline_end_s
        )
        before = steady_state(samples, slo.objectives, plan.warmup_s, first)
        last = max((r.rolled_back_at_s or end_s) for r in injected) if injected else end_s
        after = steady_state(samples, slo.objectives, min(last + plan.hold_s, end_s), end_s + 1e-9)
        if injected:
            during = steady_state(samples, slo.objectives, first, last)
    deviated = any(d.held is False for d in steps) or any(
        s is not None and s.held is False for s in (before, after)
    )
    trip = ctl.trip
    return Journal(
        title=plan.title,
        owner=gameday.spec.owner,
        description=gameday.spec.description,
        gameday_file=str(gameday.path),
        status=status,
        deviated=deviated or status is Outcome.ABORTED,
        reason=reason,
        start=started,
        end=ended,
        duration=round((ended - started).total_seconds(), 3),
        time_scale=plan.time_scale,
        warmup_s=plan.warmup_s,
        hypothesis=slo.name,
        blast_radius=plan_blast(plan),
        steady_states={
            "before": steady_doc(before),
            "during": steady_doc(during),
            "after": steady_doc(after),
        },
        steps=steps,
        abort=AbortDoc(
            conditions=condition_docs(ctl.monitor.states),
            tripped=None if trip is None else trip.condition,
            tripped_at_s=None if trip is None else round(trip.at_s, 3),
            detail=None if trip is None else trip.detail,
        ),
        rollbacks=[rollback_doc(r, started) for r in ctl.guard.records],
    )


def render_timeline(gameday: GameDay, plan: Plan, available: AbstractSet[str]) -> str:
    """The dry-run text: what would happen when, and whether this build can do it."""
    spec = gameday.spec
    lines = [
        f"game day: {spec.title} (owner: {spec.owner})",
        f"hypothesis: {gameday.hypothesis.name}: "
        + "; ".join(o.label for o in gameday.hypothesis.objectives),
        f"load: {gameday.scenario.name} at {gameday.scenario.main.mean_rate:g} requests/s, "
        f"warm-up {plan.warmup_s:g} s, then {plan.gameday_s:g} s"
        + (f" (time scale {plan.time_scale:g})" if plan.time_scale != 1 else ""),
        f"blast radius: {', '.join(t.value for t in spec.blast_radius.targets)}; "
        f"at most {spec.blast_radius.max_concurrent_faults} fault(s) at once",
        "timeline (seconds after the warm-up):",
        f"  {0:>8.1f}  baseline starts",
    ]
    base = plan.warmup_s
    for step in plan.steps:
        flags = []
        if step.fault.requires_root:
            flags.append("needs root")
        if step.fault.kind not in available:
            flags.append("NOT AVAILABLE in this build")
        extra = f"  [{', '.join(flags)}]" if flags else ""
        lines.append(
            f"  {step.start_s - base:>8.1f}  inject  {step.name}: {step.fault.summary} "
            f"for {step.duration_s:g} s{extra}"
        )
        expect = "; ".join(o.label for o in step.expect) or "the hypothesis"
        degraded = " (degraded decisions allowed)" if step.degraded_allowed else ""
        lines.append(f"  {'':>8}  expect  {expect}{degraded}")
        lines.append(f"  {step.end_s - base:>8.1f}  rollback {step.name}")
    lines.append(f"  {plan.end_s - base:>8.1f}  end of recovery; load stops")
    lines.append(
        f"judgement: rolling {plan.window_s:g} s windows; recovered after {plan.hold_s:g} s holding"
    )
    if plan.aborts:
        lines.append("abort when: " + "; ".join(a.label for a in plan.aborts))
    else:
        lines.append("abort when: (no abort conditions)")
    return "\n".join(lines)
