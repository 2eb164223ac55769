"""The live controller with fake faults: on and off at their times, ledger first, abort rolls
back at once, failures stop the game day, a second Ctrl-C during rollback leaves nothing on."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from gd_support import sample

from harness.chaos import FakeFault, UndoEntry
from harness.chaos.gameday import (
    GameDayController,
    Outcome,
    Plan,
    PlannedStep,
    RollbackStatus,
    ScheduledFault,
    StepGuard,
)
from harness.ledger import Ledger
from harness.spec.faults import HttpFault, PauseFault
from harness.spec.gameday import ErrorRateAbort


def _plan(*steps: PlannedStep, aborts: tuple[ErrorRateAbort, ...] = ()) -> Plan:
    return Plan("t", 1.0, 1.0, 2.0, steps, 30.0, aborts, 2.0, 2.0)


def _controller(
    tmp_path: Path, faults: list[tuple[PlannedStep, object]], **kw: object
) -> tuple[GameDayController, Ledger]:
    ledger = Ledger(tmp_path / "state")
    plan = _plan(*(s for s, _ in faults), **kw)  # type: ignore[arg-type]
    ctl = GameDayController(
        plan,
        [ScheduledFault(s, f) for s, f in faults],  # type: ignore[arg-type]
        lambda clock: StepGuard(ledger, clock),
    )
    ctl.started(time.time_ns(), 2.0)
    return ctl, ledger


STEP = PlannedStep("pause", PauseFault(), 5.0, 8.0, (), False)


def test_a_fault_goes_on_and_off_at_its_times_through_the_ledger(tmp_path: Path) -> None:
    """Before its start nothing happens; at the start it is recorded in the ledger, injected and
    verified; at the end rolled back, verified gone and released from the ledger."""
    fault = FakeFault("pause")
    ctl, ledger = _controller(tmp_path, [(STEP, fault)])
    ctl.tick(4.9)
    assert fault.calls == []
    assert ledger.entries() == []
    ctl.tick(5.0)
    assert fault.active
    assert fault.calls == ["inject", "is_active"]
    assert [e.kind for e in ledger.entries()] == ["fault.fake"]
    ctl.tick(6.0)
    assert fault.calls.count("inject") == 1
    ctl.tick(8.0)
    record = ctl.record_of("pause")
    assert record is not None
    assert not fault.active
    assert record.status is RollbackStatus.SUCCEEDED
    assert record.verified_gone
    assert ledger.entries() == []
    assert ctl.outcome is Outcome.COMPLETED
    assert ctl.stop_reason is None


def test_an_abort_condition_rolls_back_at_once_and_stops_the_load(tmp_path: Path) -> None:
    """Errors above 5% for 2 s trip the condition at the end of the 2nd interval: every active
    fault is rolled back in that call (before the load even stops) and a stop is requested."""
    step = PlannedStep("errors", HttpFault(error_rate=0.5), 3.0, 20.0, (), False)
    fault = FakeFault("errors")
    cond = ErrorRateAbort(above=0.05, for_s=2.0)
    ctl, ledger = _controller(tmp_path, [(step, fault)], aborts=(cond,))
    ctl.tick(3.0)
    assert fault.active
    ctl.interval(sample(1, ok=50, failed=50))  # warm-up: not judged
    ctl.interval(sample(3, ok=50, failed=50))
    assert ctl.stop_reason is None
    ctl.interval(sample(4, ok=50, failed=50))
    assert ctl.stop_reason is not None
    assert "abort condition tripped" in ctl.stop_reason
    assert not fault.active
    assert ledger.entries() == []
    assert ctl.trip is not None
    assert ctl.trip.at_s == 5.0
    assert ctl.outcome is Outcome.ABORTED
    ctl.tick(10.0)
    assert fault.calls.count("inject") == 1  # nothing is injected after a stop


def test_a_fault_that_cannot_be_injected_fails_the_game_day(tmp_path: Path) -> None:
    """An injection error is rolled back, recorded, and stops the game day (exit 3 material)."""
    fault = FakeFault("pause", fail_inject=True)
    ctl, ledger = _controller(tmp_path, [(STEP, fault)])
    ctl.tick(5.0)
    record = ctl.record_of("pause")
    assert record is not None
    assert record.inject_error is not None
    assert ctl.outcome is Outcome.FAILED
    assert ctl.stop_reason is not None
    assert "rollback" in fault.calls
    assert ledger.entries() == []


def test_a_rollback_that_leaves_the_fault_on_is_failed_and_kept_in_the_ledger(
    tmp_path: Path,
) -> None:
    """A rollback that 'succeeds' but leaves the fault active is FAILED; its ledger entry stays
    for the next sweep (or `chaos cleanup`)."""
    fault = FakeFault("pause", sticky=True)
    ctl, ledger = _controller(tmp_path, [(STEP, fault)])
    ctl.tick(5.0)
    ctl.tick(8.0)
    record = ctl.record_of("pause")
    assert record is not None
    assert record.status is RollbackStatus.FAILED
    assert not record.verified_gone
    assert "still in effect" in record.detail
    assert len(ledger.entries()) == 1
    assert ctl.outcome is Outcome.FAILED


@dataclass
class _InterruptOnce(FakeFault):
    """Its first rollback raises KeyboardInterrupt (a second Ctrl-C arriving mid-rollback)."""

    interrupts: list[str] = field(default_factory=list)

    def rollback(self) -> None:
        if not self.interrupts:
            self.interrupts.append("ctrl-c")
            raise KeyboardInterrupt
        FakeFault.rollback(self)

    def undo_entry(self) -> UndoEntry:
        return UndoEntry(kind="fault.fake", key=self.label)


def test_a_second_ctrl_c_during_rollback_still_rolls_everything_back(tmp_path: Path) -> None:
    """rollback_all keeps going through a KeyboardInterrupt and re-raises it at the end: the
    other fault is rolled back, and the interrupted one too (retried once)."""
    a = FakeFault("a")
    b = _InterruptOnce("b")
    s1 = PlannedStep("a", PauseFault(), 1.0, 20.0, (), False)
    s2 = PlannedStep("b", HttpFault(error_rate=0.1), 1.0, 20.0, (), False)
    ctl, ledger = _controller(tmp_path, [(s1, a), (s2, b)])
    ctl.tick(1.0)
    assert a.active
    assert b.active
    with pytest.raises(KeyboardInterrupt):
        ctl.guard.rollback_all()
    assert not a.active
    assert not b.active
    assert ledger.entries() == []
