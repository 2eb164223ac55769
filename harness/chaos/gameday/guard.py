"""The game day's view of the chaos core's guarantee: one :class:`FaultRecord` per step's fault.

The rollback guarantee itself is :class:`harness.chaos.FaultGuard` (the chaos core): ledger entry
before ``inject``, injection verified in effect, rollback on every way out verified gone,
signals deferred during rollback, one :class:`~harness.chaos.RollbackRecord` per fault. This
module only adapts it to what a game day needs to say per *step*: which step's fault, injected
when (or why not), rolled back when, by which trigger, and whether it was verified gone.

:class:`StepGuard` keeps the guard's clock on the run's: its ``t0`` is set from the controller's
clock (seconds since the schedule's t = 0) at each call, so the records' ``*_at_s`` line up with
the report's intervals and fault windows.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from harness.chaos.fault import Fault
from harness.chaos.guard import FaultGuard as CoreGuard
from harness.chaos.guard import FaultHandle
from harness.chaos.record import RollbackRecord, Trigger
from harness.errors import FaultError
from harness.ledger import Ledger

__all__ = ["FaultGuard", "FaultRecord", "RollbackStatus", "StepGuard"]


class RollbackStatus(enum.Enum):
    """How a step's fault ended (the journal's ``rollbacks[].status``)."""

    SUCCEEDED = "succeeded"  # removed and verified gone
    FAILED = "failed"  # still in effect (or unknowable); its ledger entry stays for cleanup
    PENDING = "pending"  # not rolled back (yet)


@dataclass(slots=True)
class FaultRecord:
    """One step's fault on the run's clock (offsets in seconds from the run start)."""

    step: str
    name: str
    kind: str
    injected_at_s: float | None = None
    inject_error: str | None = None
    rollback_started_s: float | None = None
    rolled_back_at_s: float | None = None
    status: RollbackStatus = RollbackStatus.PENDING
    verified_gone: bool = False
    trigger: str | None = None  # why it came off: scheduled, abort, interrupt, inject_failed...
    detail: str = ""
    restored_after_s: float | None = None  # a fault that took the target down: kill -> ready
    _handle: FaultHandle | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        """Injected and not yet verified gone."""
        return self.injected_at_s is not None and self.status is not RollbackStatus.SUCCEEDED

    def settle(self, record: RollbackRecord, started_s: float) -> None:
        """Take the guard's verdict on this fault's rollback."""
        self.rollback_started_s = started_s
        self.rolled_back_at_s = record.rolled_back_at_s
        self.status = RollbackStatus(record.status.value)
        self.verified_gone = record.verified_gone
        self.trigger = record.trigger.value
        self.detail = record.detail or (
            "removed and verified gone" if record.verified_gone else "still active after rollback"
        )
        if self._handle is not None:
            self.restored_after_s = _restored_after_s(self._handle.fault)


def _restored_after_s(fault: Fault) -> float | None:
    """How long a fault that took its target down kept it down (``KillFault.restored_after_s``)."""
    value = getattr(fault, "restored_after_s", None)
    return float(value) if isinstance(value, int | float) else None


class FaultGuard(Protocol):
    """What the game-day controller needs from a guard."""

    records: list[FaultRecord]

    def inject(self, fault: Fault, *, step: str, kind: str) -> FaultRecord:
        """Record, inject and verify ``fault``; the record says whether it worked."""
        ...

    def rollback(self, record: FaultRecord) -> None:
        """Roll back one fault (idempotent) and verify it is gone."""
        ...

    def rollback_all(self, reason: str = "", *, interrupted: bool = False) -> None:
        """Roll back every fault still active, newest first, through errors and interrupts."""
        ...


class StepGuard:
    """:class:`FaultGuard` over the chaos core's guard; see the module docstring."""

    def __init__(self, ledger: Ledger, clock: Callable[[], float]) -> None:
        self._clock = clock  # seconds since the run start
        self._core = CoreGuard(ledger)
        self.records: list[FaultRecord] = []

    def _sync(self) -> float:
        """Align the core guard's t0 with the run's clock; the run offset now."""
        now_s = self._clock()
        self._core.t0_mono_ns = time.monotonic_ns() - round(now_s * 1e9)
        return now_s

    def inject(self, fault: Fault, *, step: str, kind: str) -> FaultRecord:
        """See :class:`FaultGuard`."""
        record = FaultRecord(step=step, name=fault.name, kind=kind)
        self.records.append(record)
        started = self._sync()
        try:
            handle = self._core.inject(fault)
        except FaultError as exc:
            record.injected_at_s = started
            record.inject_error = str(exc)
            failed = next((r for r in reversed(self._core.records) if r.fault == fault.name), None)
            if failed is not None:
                record.settle(failed, started)
            else:  # refused before anything was applied (the guard was closed)
                record.status, record.verified_gone = RollbackStatus.SUCCEEDED, True
            return record
        record._handle = handle
        record.injected_at_s = round((handle.injected_mono_ns - self._core.t0_mono_ns) / 1e9, 6)
        return record

    def rollback(self, record: FaultRecord) -> None:
        """See :class:`FaultGuard`."""
        if record._handle is None or record.status is RollbackStatus.SUCCEEDED:
            return
        started = self._sync()
        record.settle(self._core.rollback(record._handle, Trigger.SCHEDULED), started)

    def rollback_all(self, reason: str = "", *, interrupted: bool = False) -> None:
        """See :class:`FaultGuard` (closes the guard: no fault is injected afterwards).

        Trigger: ``interrupt`` when ``interrupted``, ``abort`` with a ``reason``, else ``end``."""
        started = self._sync()
        trigger = Trigger.INTERRUPT if interrupted else Trigger.ABORT if reason else Trigger.END
        try:
            self._core.rollback_all(trigger, reason, reraise_deferred=not interrupted)
        finally:
            for record in self.records:
                handle = record._handle
                done = handle is not None and handle.record is not None
                if done and record.status is RollbackStatus.PENDING:
                    assert handle is not None
                    assert handle.record is not None
                    record.settle(handle.record, started)
