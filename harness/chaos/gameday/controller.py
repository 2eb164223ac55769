"""The game day while it runs: faults on and off at their times, abort conditions, the live view.

:class:`GameDayController` is a :class:`~harness.measure.observe.RunObserver`: the load calls it
from its observer greenlet (``tick`` every ~20 ms, ``interval`` once per completed second); the
faults' subprocess and socket waits cooperate with the scheduler. It never imports the load.

What it does:
- ``tick``: injects each step's fault when the run clock reaches the step's start and rolls it
  back at its end (through the guard: ledger first, verified both ways);
- ``interval``: feeds the abort monitor (from the end of the warm-up on) and redraws the view;
- when an abort condition trips, a fault cannot be injected or a rollback fails, it rolls back
  every active fault *at once* (before the load has even stopped) and asks the load to stop
  (``stop_reason``);
- with a ``counters`` reader (the service's ``/metrics``), it reads the decision counters just
  before each step's injection and one judgement window after its rollback (:mod:`.degraded`:
  the span the step's expectations are judged on; a stall's backlog is decided after it
  resumed); a reading still due when the game day stops is taken by
  :meth:`GameDayController.rollback_all`.

Times are run offsets in seconds (the schedule's t = 0, warm-up included), as in :mod:`.plan`.
"""

from __future__ import annotations

import collections
import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from harness.chaos.fault import Fault
from harness.chaos.gameday.abort import AbortMonitor, Trip
from harness.chaos.gameday.degraded import DegradedCount, count_degraded
from harness.chaos.gameday.guard import FaultGuard, FaultRecord, RollbackStatus
from harness.chaos.gameday.plan import Plan, PlannedStep
from harness.measure import IntervalSample
from harness.spec import KillFault as KillSpec
from harness.spec import KillScope
from harness.target import DecisionCounters

__all__ = ["RECENT_SAMPLES", "GameDayController", "LiveView", "Outcome", "ScheduledFault"]

#: Intervals the controller keeps for its view (a game day's memory must not grow with its length).
RECENT_SAMPLES: Final = 60


class Outcome(enum.Enum):
    """How the game day ended (the journal's ``status``)."""

    COMPLETED = "completed"  # ran to the end of recovery
    ABORTED = "aborted"  # an abort condition tripped
    FAILED = "failed"  # a fault could not be injected or rolled back, or the load failed
    INTERRUPTED = "interrupted"  # Ctrl-C / SIGTERM / SIGHUP


@dataclass(frozen=True, slots=True)
class ScheduledFault:
    """A step with its fault built (not injected)."""

    step: PlannedStep
    fault: Fault


#: Reads the service's decision counters (None: could not).
CounterReader = Callable[[], DecisionCounters | None]


class LiveView(Protocol):
    """Shows the game day while it runs (the terminal dashboard, or nothing)."""

    def update(self, controller: GameDayController) -> None:
        """Redraw from ``controller``'s current state."""

    def close(self) -> None:
        """Leave the last frame."""


class GameDayController:
    """See the module docstring."""

    def __init__(
        self,
        plan: Plan,
        faults: Sequence[ScheduledFault],
        guard_factory: Callable[[Callable[[], float]], FaultGuard],
        view: LiveView | None = None,
        counters: CounterReader | None = None,
    ) -> None:
        self.plan = plan
        self.faults = tuple(faults)
        self.guard = guard_factory(self.clock)
        self.monitor = AbortMonitor(plan.aborts, plan.interval_s)
        #: The latest intervals, for the view (the journal reads the run's series, not these):
        #: bounded, as each holds a decoded histogram (about 140 KB).
        self.samples: collections.deque[IntervalSample] = collections.deque(maxlen=RECENT_SAMPLES)
        self.trip: Trip | None = None
        self.failure: str | None = None
        self.elapsed_s = 0.0
        self._view = view
        self._run_start_wall_ns: int | None = None
        self._records: dict[str, FaultRecord] = {}
        self._stop: str | None = None
        self._counters = counters
        # step -> [reading before the injection, reading after the rollback]; absent: not read
        self._readings: dict[str, list[DecisionCounters | None]] = {}
        self._errors: dict[str, str] = {}  # step -> why a reading failed
        self._due: dict[str, float] = {}  # step -> run offset of its second reading

    # -- RunObserver --------------------------------------------------------------------------
    def started(self, run_start_wall_ns: int, warmup_s: float) -> None:
        """The run's clock starts (see :class:`~harness.measure.observe.RunObserver`)."""
        self._run_start_wall_ns = run_start_wall_ns

    def clock(self) -> float:
        """Seconds since the run start (negative before it)."""
        if self._run_start_wall_ns is None:
            return 0.0
        return (time.time_ns() - self._run_start_wall_ns) / 1e9

    def tick(self, elapsed_s: float) -> None:
        """Inject and roll back faults whose time has come."""
        self.elapsed_s = elapsed_s
        if self._stop is not None:
            return
        due = [step for step, at_s in self._due.items() if elapsed_s >= at_s]
        if due:
            self._read(*due)
        for item in self.faults:
            step = item.step
            record = self._records.get(step.name)
            if record is None and elapsed_s >= step.start_s:
                self._read(step.name)
                record = self.guard.inject(item.fault, step=step.name, kind=step.fault.kind)
                self._records[step.name] = record
                if record.inject_error is not None:
                    self._fail(
                        f"step {step.name!r}: the fault could not be injected: "
                        f"{record.inject_error}"
                    )
                    return
            elif record is not None and record.active and elapsed_s >= step.end_s:
                self.guard.rollback(record)
                self._due[step.name] = elapsed_s + self.plan.window_s
                if record.status is RollbackStatus.FAILED:
                    self._fail(f"step {step.name!r}: rollback failed: {record.detail}")
                    return

    def interval(self, sample: IntervalSample) -> None:
        """Judge the abort conditions on one more interval; redraw."""
        self.samples.append(sample)
        if sample.start_s >= self.plan.warmup_s - 1e-9 and self._stop is None:
            trip = self.monitor.feed(sample)
            if trip is not None:
                self.trip = trip
                self._halt(f"abort condition tripped: {trip.condition} ({trip.detail})")
        if self._view is not None:
            self._view.update(self)

    def finished(self) -> None:
        """The load ended; close the view (the runner rolls back whatever is left)."""
        if self._view is not None:
            self._view.update(self)
            self._view.close()

    @property
    def stop_reason(self) -> str | None:
        """Why the load should stop now (None: keep going)."""
        return self._stop

    def rollback_all(self, reason: str = "", *, interrupted: bool = False) -> None:
        """Roll back every fault still active (the guard's), then take the missing second
        counter readings (not after an interruption: nothing is measured then)."""
        self.guard.rollback_all(reason, interrupted=interrupted)
        if not interrupted:
            self._read_pending()

    # -- state for the view and the journal -----------------------------------------------------
    def degraded_of(self, step: PlannedStep) -> DegradedCount:
        """The step's degraded decisions (not reported without a counter reader)."""
        if self._counters is None:
            return count_degraded(None, None, step.degraded_allowed, "no counters to read")
        pair = self._readings.get(step.name)
        if pair is None:
            return count_degraded(None, None, step.degraded_allowed, "the step never ran")
        before, after = [*pair, None][:2]
        restarted = isinstance(step.fault, KillSpec) and step.fault.scope is KillScope.SERVICE
        return count_degraded(
            before, after, step.degraded_allowed, self._errors.get(step.name), restarted=restarted
        )

    def record_of(self, step: str) -> FaultRecord | None:
        """The fault record of ``step`` once injected."""
        return self._records.get(step)

    @property
    def outcome(self) -> Outcome:
        """How it ended so far (COMPLETED unless something stopped it)."""
        if self.failure is not None:
            return Outcome.FAILED
        if self.trip is not None:
            return Outcome.ABORTED
        return Outcome.COMPLETED

    def _fail(self, reason: str) -> None:
        self.failure = reason
        self._halt(reason)

    def _halt(self, reason: str) -> None:
        self._stop = reason
        self.rollback_all(reason)  # now: do not wait for the load to stop

    def _read(self, *steps: str) -> None:
        """One reading of the counters, appended to each of ``steps``."""
        if self._counters is None:
            return
        reading = self._counters()
        error = getattr(self._counters, "last_error", None) if reading is None else None
        for step in steps:
            self._due.pop(step, None)
            self._readings.setdefault(step, []).append(reading)
            if isinstance(error, str):
                self._errors.setdefault(step, error)

    def _read_pending(self) -> None:
        pending = [s for s, pair in self._readings.items() if len(pair) == 1]
        if pending:
            self._read(*pending)
