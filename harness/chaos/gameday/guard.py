"""The game day's fault guard: ledger first, inject, verify; roll back, verify gone, release.

This is the minimal guard the game-day runner needs; when the chaos core's guard is available
the runner can use it instead through the same three calls (:class:`FaultGuard`).

Per fault:
1. ``ledger.record(...)`` with the fault's :meth:`~harness.chaos.fault.Fault.undo_entry` *before*
   anything happens, so a SIGKILL of the harness at any later point leaves an entry the next
   start (or ``slo-harness chaos cleanup``) undoes;
2. ``inject()``; then ``is_active()`` must be True. Any failure rolls the fault back at once and is
   reported (the record's ``inject_error``; the runner stops the game day, exit 3);
3. ``rollback()``; then ``is_active()`` must be False: only then is the ledger entry released and
   the rollback ``succeeded``. A rollback that raised, or a fault still active afterwards, is
   ``failed`` and its ledger entry stays for the next sweep.

``rollback_all`` rolls back everything still active, newest first, and keeps going through
errors *and* through a KeyboardInterrupt (a second Ctrl-C during rollback), re-raising the
interrupt only when every fault has had its rollback attempt.

Concurrency: the game-day controller injects and rolls back from the load's observer greenlet;
the runner calls ``rollback_all`` after the load has returned. The internal lock is a plain
``_thread`` lock held only inside one call (the chaos layer never imports gevent).
"""

from __future__ import annotations

import _thread
import contextlib
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from harness.chaos.fault import Fault
from harness.ledger import Ledger, LedgerEntry

__all__ = ["FaultGuard", "FaultRecord", "MiniGuard", "RollbackStatus"]


class RollbackStatus(enum.Enum):
    """How a rollback ended (the journal's ``rollbacks[].status``)."""

    SUCCEEDED = "succeeded"  # removed and checked gone
    FAILED = "failed"  # raised, or the fault was still active afterwards
    PENDING = "pending"  # not rolled back (yet)


@dataclass(slots=True)
class FaultRecord:
    """One fault's life on the run's clock (offsets in seconds from the run start)."""

    step: str
    name: str
    kind: str
    injected_at_s: float | None = None
    inject_error: str | None = None
    rollback_started_s: float | None = None
    rolled_back_at_s: float | None = None
    status: RollbackStatus = RollbackStatus.PENDING
    verified_gone: bool = False
    detail: str = ""
    _fault: Fault | None = field(default=None, repr=False)
    _entry: LedgerEntry | None = field(default=None, repr=False)

    @property
    def active(self) -> bool:
        """Injected and not yet rolled back successfully."""
        return self.injected_at_s is not None and self.status is not RollbackStatus.SUCCEEDED


class FaultGuard(Protocol):
    """What the game-day runner needs from a guard."""

    records: list[FaultRecord]

    def inject(self, fault: Fault, *, step: str, kind: str) -> FaultRecord:
        """Record, inject and verify ``fault``; the record says whether it worked."""
        ...

    def rollback(self, record: FaultRecord) -> None:
        """Roll back one fault (idempotent) and verify it is gone."""
        ...

    def rollback_all(self) -> None:
        """Roll back every fault still active, newest first, through errors and interrupts."""
        ...


class MiniGuard:
    """The minimal :class:`FaultGuard`; see the module docstring."""

    def __init__(self, ledger: Ledger, clock: Callable[[], float]) -> None:
        self._ledger = ledger
        self._clock = clock  # seconds since the run start
        self._lock = _thread.allocate_lock()
        self.records: list[FaultRecord] = []

    def inject(self, fault: Fault, *, step: str, kind: str) -> FaultRecord:
        """See :class:`FaultGuard`."""
        record = FaultRecord(step=step, name=fault.name, kind=kind, _fault=fault)
        with self._lock:
            self.records.append(record)
            undo = fault.undo_entry()
            record._entry = self._ledger.record(undo.kind, undo.key, undo.undo)
            record.injected_at_s = self._clock()
            try:
                fault.inject()
                if not fault.is_active():
                    raise RuntimeError("injected, but the fault is not in effect")
            except Exception as exc:
                record.inject_error = f"{exc.__class__.__name__}: {exc}"
        if record.inject_error is not None:
            self.rollback(record)
        return record

    def rollback(self, record: FaultRecord) -> None:
        """See :class:`FaultGuard`."""
        with self._lock:
            fault = record._fault
            if fault is None or record.status is RollbackStatus.SUCCEEDED:
                return
            record.rollback_started_s = self._clock()
            problem = ""
            try:
                fault.rollback()
            except Exception as exc:
                problem = f"{exc.__class__.__name__}: {exc}"
            try:
                still = fault.is_active()
            except Exception as exc:
                still, problem = True, problem or f"cannot check: {exc.__class__.__name__}: {exc}"
            record.rolled_back_at_s = self._clock()
            record.verified_gone = not still
            if still or problem:
                record.status = RollbackStatus.FAILED
                record.detail = problem or "still active after rollback"
                return
            record.status = RollbackStatus.SUCCEEDED
            record.detail = "removed and verified gone"
            if record._entry is not None:
                self._ledger.release(record._entry)

    def rollback_all(self) -> None:
        """See :class:`FaultGuard`."""
        interrupted: BaseException | None = None
        for record in reversed(self.records):
            if not record.active and record.status is not RollbackStatus.FAILED:
                continue
            try:
                self.rollback(record)
            except KeyboardInterrupt as exc:  # a second Ctrl-C: finish the others first
                interrupted = exc
                with contextlib.suppress(KeyboardInterrupt):
                    self.rollback(record)
        if interrupted is not None:
            raise interrupted
