"""Game days: scripted faults under live load, judged on rolling windows of the harness's signals.

Pure parts (no Locust, no gevent, no I/O beyond the guard's ledger and the faults themselves):

- ``plan``: the game-day file laid onto the run's clock, time-scaled;
- ``abort``: abort conditions on rolling 1 s windows (a breach that lasts N seconds);
- ``judge``: SLO objectives on a window of intervals; ``metrics``: per-step held / time to
  detect / time to recover / budget burned, steady state before / during / after; ``degraded``:
  degraded decisions per step from the service's own counters, judged against ``degraded_allowed``;
- ``guard``: the chaos core's guard (ledger first, inject, verify; roll back, verify gone) seen
  per step;
- ``controller``: the :class:`~harness.measure.observe.RunObserver` that runs the timeline;
- ``journal``: ``journal.json``'s structs; ``outcome``: the journal built from a run, and the
  dry-run timeline; ``dashboard``: the live terminal view;
- ``chaosmesh``: the equivalent Chaos Mesh manifests (``--export chaos-mesh``).

The job that puts them together with the load and the reports is :mod:`harness.gameday_job`
(pipeline level: this package may not import ``harness.load``).
"""

from harness.chaos.gameday.abort import AbortMonitor, ConditionStatus, Trip
from harness.chaos.gameday.controller import GameDayController, LiveView, Outcome, ScheduledFault
from harness.chaos.gameday.dashboard import LineView, RichView
from harness.chaos.gameday.degraded import DegradedCount, count_degraded
from harness.chaos.gameday.guard import FaultGuard, FaultRecord, RollbackStatus, StepGuard
from harness.chaos.gameday.journal import AuditTrailDoc, Journal, StepDoc, StepStatus
from harness.chaos.gameday.judge import (
    Check,
    fill_gaps,
    holds,
    judge,
    merge,
    samples_from_intervals,
)
from harness.chaos.gameday.metrics import (
    Budgets,
    SteadyState,
    StepMetrics,
    budgets_of,
    measure_step,
    steady_state,
)
from harness.chaos.gameday.outcome import build_journal, render_timeline
from harness.chaos.gameday.plan import Plan, PlannedStep, make_plan

__all__ = [
    "AbortMonitor",
    "AuditTrailDoc",
    "Budgets",
    "Check",
    "ConditionStatus",
    "DegradedCount",
    "FaultGuard",
    "FaultRecord",
    "GameDayController",
    "Journal",
    "LineView",
    "LiveView",
    "Outcome",
    "Plan",
    "PlannedStep",
    "RichView",
    "RollbackStatus",
    "ScheduledFault",
    "SteadyState",
    "StepDoc",
    "StepGuard",
    "StepMetrics",
    "StepStatus",
    "Trip",
    "budgets_of",
    "build_journal",
    "count_degraded",
    "fill_gaps",
    "holds",
    "judge",
    "make_plan",
    "measure_step",
    "merge",
    "render_timeline",
    "samples_from_intervals",
    "steady_state",
]
