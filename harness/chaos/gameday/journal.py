"""``journal.json``: what happened during a game day, in Chaos Toolkit's journal vocabulary.

Shape (Chaos Toolkit's keys where they exist: ``status``, ``deviated``, ``steady_states`` with
``before``/``during``/``after``, ``rollbacks`` entries with ``activity``/``status``/``start``/
``end``/``duration``/``output``; the rest is ours). Times: ``*_s`` are offsets in seconds from
the run start (the schedule's t = 0, warm-up included, the same clock as ``report.json``'s
intervals and fault windows); ``start``/``end`` are UTC RFC 3339.

Unlike Chaos Toolkit, a rollback entry exists for every fault that was injected, whatever ended
the game day (completed, aborted, failed, interrupted), and its ``status`` says whether the fault
was verified gone afterwards (``succeeded``) or not (``failed``).
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import msgspec

from harness.chaos.gameday.abort import ConditionState
from harness.chaos.gameday.controller import Outcome
from harness.chaos.gameday.degraded import DEGRADED_CHECK, DegradedCount
from harness.chaos.gameday.guard import FaultRecord, RollbackStatus
from harness.chaos.gameday.judge import Check
from harness.chaos.gameday.metrics import SteadyState, StepMetrics
from harness.chaos.gameday.plan import Plan, PlannedStep

__all__ = [
    "JOURNAL_SCHEMA",
    "AbortDoc",
    "AuditTrailDoc",
    "CheckDoc",
    "ConditionDoc",
    "Journal",
    "RollbackDoc",
    "SteadyStateDoc",
    "StepDoc",
    "StepStatus",
    "check_doc",
    "degraded_check",
    "rollback_doc",
    "steady_doc",
    "step_doc",
]

JOURNAL_SCHEMA = "slo-harness/gameday-journal/v1"


def _r(value: float | None, digits: int = 3) -> float | None:
    """Round for the document: ms for times, a few decimals elsewhere. Unrounded floats print
    16-17 digits, which the PAN guard rightly refuses (one Luhn-valid run is a matter of time)."""
    return None if value is None else round(value, digits)


class StepStatus(enum.Enum):
    """What happened to a step's fault."""

    SUCCEEDED = "succeeded"  # injected, active for its time, rolled back and verified gone
    FAILED = "failed"  # could not be injected, or its rollback failed
    CUT_SHORT = "cut_short"  # rolled back early because the game day stopped
    SKIPPED = "skipped"  # its time never came (the game day stopped before)


class _Doc(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=False):
    """Base of the journal's structs."""


class CheckDoc(_Doc, frozen=True, kw_only=True):
    """One objective on one period."""

    objective: str
    observed: float | None
    threshold: float
    unit: str
    held: bool | None
    samples: int


class SteadyStateDoc(_Doc, frozen=True, kw_only=True):
    """The hypothesis on one period."""

    start_s: float
    end_s: float
    held: bool | None
    checks: list[CheckDoc]


class StepDoc(_Doc, frozen=True, kw_only=True):
    """One step of the timeline and what it measured."""

    name: str
    kind: str
    fault: str  # one-line summary
    spec: dict[str, object]  # the fault spec as written
    status: StepStatus
    planned_start_s: float
    planned_end_s: float
    injected_at_s: float | None
    rolled_back_at_s: float | None
    degraded_allowed: bool
    held: bool | None
    deviated: bool
    checks: list[CheckDoc]
    detected_after_s: float | None
    recovered_after_s: float | None
    error_budget_burned: float | None
    latency_budget_burned: float | None
    bad_events: int
    events: int
    # the service's own counters between the readings before the injection and one judgement
    # window after the rollback (harness.chaos.gameday.degraded); null: not reported
    # (degraded_note says why)
    degraded_decisions: int | None = None
    decisions_scored: int | None = None
    degraded_note: str | None = None
    # a kill (one worker or the whole service): seconds from the kill until the target was
    # ready again (all workers up / the readiness probe answers); null: not a kill, or never back
    restored_after_s: float | None = None


class RollbackDoc(_Doc, frozen=True, kw_only=True):
    """One injected fault's rollback (Chaos Toolkit's ``rollbacks[]``)."""

    activity: str
    step: str
    kind: str
    status: RollbackStatus
    injected_at_s: float | None
    start_s: float | None
    end_s: float | None
    start: datetime | None
    end: datetime | None
    duration: float | None
    verified_gone: bool
    trigger: str | None  # why it came off: scheduled, abort, interrupt, inject_failed, end...
    output: str


class ConditionDoc(_Doc, frozen=True, kw_only=True):
    """One abort condition at the end of the game day."""

    condition: str
    status: str
    observed: str


class AbortDoc(_Doc, frozen=True, kw_only=True):
    """The abort conditions and the one that tripped, if any."""

    conditions: list[ConditionDoc]
    tripped: str | None
    tripped_at_s: float | None
    detail: str | None


class AuditTrailDoc(_Doc, frozen=True, kw_only=True):
    """The embedded service's audit trail, verified after it stopped (as ``run`` does)."""

    intact: bool
    records: int
    streams: int
    problems: list[str]


class Journal(_Doc, frozen=True, kw_only=True):
    """The whole journal."""

    schema: str = JOURNAL_SCHEMA
    title: str
    owner: str
    description: str
    gameday_file: str
    status: Outcome
    deviated: bool
    reason: str | None
    start: datetime
    end: datetime
    duration: float
    time_scale: float
    warmup_s: float
    hypothesis: str
    blast_radius: list[str]
    steady_states: dict[str, SteadyStateDoc | None]
    steps: list[StepDoc]
    abort: AbortDoc
    rollbacks: list[RollbackDoc]
    generator_valid: bool = True  # False: the load generator could not keep its schedule
    generator_reasons: list[str] = msgspec.field(default_factory=list)
    # the embedded service's trail (harness.audit.check_audit_trail); null: --target, or the
    # game day was interrupted before the service stopped
    audit: AuditTrailDoc | None = None


def check_doc(check: Check) -> CheckDoc:
    """A :class:`Check` as a document."""
    return CheckDoc(
        objective=check.label,
        observed=_r(check.observed, 6),
        threshold=check.threshold,
        unit=check.unit,
        held=check.held,
        samples=check.samples,
    )


def steady_doc(state: SteadyState | None) -> SteadyStateDoc | None:
    """A steady-state judgement as a document."""
    if state is None:
        return None
    return SteadyStateDoc(
        start_s=round(state.start_s, 3),
        end_s=round(state.end_s, 3),
        held=state.held,
        checks=[check_doc(c) for c in state.checks],
    )


def degraded_check(count: DegradedCount) -> CheckDoc | None:
    """The "no degraded decisions" expectation of a step that does not allow them."""
    if count.allowed:
        return None
    return CheckDoc(
        objective=DEGRADED_CHECK,
        observed=None if count.degraded is None else float(count.degraded),
        threshold=0.0,
        unit="decisions",
        held=count.held,
        samples=count.decisions or 0,
    )


def step_doc(
    step: PlannedStep,
    record: FaultRecord | None,
    metrics: StepMetrics | None,
    degraded: DegradedCount | None = None,
) -> StepDoc:
    """One step as a document (``metrics`` None: the step never ran; ``degraded`` None: no
    counters were read)."""
    if record is None:
        status = StepStatus.SKIPPED
    elif record.inject_error is not None or record.status is RollbackStatus.FAILED:
        status = StepStatus.FAILED
    elif (record.rollback_started_s or 0.0) < step.end_s - 0.5:
        status = StepStatus.CUT_SHORT
    else:
        status = StepStatus.SUCCEEDED
    checks = [] if metrics is None else [check_doc(c) for c in metrics.checks]
    held = None if metrics is None else metrics.held
    extra = degraded_check(degraded) if degraded is not None and metrics is not None else None
    if extra is not None:
        checks.append(extra)
        if extra.held is False:
            held = False
    return StepDoc(
        name=step.name,
        kind=step.fault.kind,
        fault=step.fault.summary,
        spec=msgspec.to_builtins(step.fault),
        status=status,
        planned_start_s=round(step.start_s, 3),
        planned_end_s=round(step.end_s, 3),
        injected_at_s=None if record is None else _r(record.injected_at_s),
        rolled_back_at_s=None if record is None else _r(record.rolled_back_at_s),
        degraded_allowed=step.degraded_allowed,
        held=held,
        deviated=False if metrics is None else metrics.deviated,
        checks=checks,
        detected_after_s=None if metrics is None else _r(metrics.detected_after_s),
        recovered_after_s=None if metrics is None else _r(metrics.recovered_after_s),
        error_budget_burned=None if metrics is None else _r(metrics.error_budget_burned, 6),
        latency_budget_burned=None if metrics is None else _r(metrics.latency_budget_burned, 6),
        bad_events=0 if metrics is None else metrics.bad_events,
        events=0 if metrics is None else metrics.events,
        degraded_decisions=None if degraded is None else degraded.degraded,
        decisions_scored=None if degraded is None else degraded.decisions,
        degraded_note=("no counters were read" if degraded is None else degraded.note),
        restored_after_s=None if record is None else _r(record.restored_after_s),
    )


def rollback_doc(record: FaultRecord, run_start: datetime) -> RollbackDoc:
    """One fault's rollback as a document."""
    start, end = record.rollback_started_s, record.rolled_back_at_s
    return RollbackDoc(
        activity=record.name,
        step=record.step,
        kind=record.kind,
        status=record.status,
        injected_at_s=_r(record.injected_at_s),
        start_s=_r(start),
        end_s=_r(end),
        start=None if start is None else run_start + timedelta(seconds=round(start, 3)),
        end=None if end is None else run_start + timedelta(seconds=round(end, 3)),
        duration=None if start is None or end is None else round(end - start, 3),
        verified_gone=record.verified_gone,
        trigger=record.trigger,
        output=record.detail or (record.inject_error or ""),
    )


def condition_docs(states: list[ConditionState]) -> list[ConditionDoc]:
    """The abort conditions' final states."""
    return [
        ConditionDoc(condition=s.label, status=s.status.value, observed=s.observed) for s in states
    ]


def plan_blast(plan: Plan) -> list[str]:
    """Blast targets touched by the plan's faults (for the journal header)."""
    return sorted({s.fault.blast_target.value for s in plan.steps})
