"""The one small protocol every fault implements: inject, check, roll back.

Why a protocol this small: the game-day runner, the guaranteed-rollback guard and the journal
must treat a 20 ms proxy latency, a SIGSTOP of the service and an nft drop rule alike. What
differs per fault is only how it is applied, how to tell it is in effect, and how to remove it,
plus what a *different* process needs to remove it after the harness was SIGKILLed (the ledger
entry, see :mod:`harness.ledger`).

Contract (every implementation, and the fake below, keeps it):

- ``undo_entry()`` is pure and callable before ``inject()``: the guard writes it to the ledger
  *before* injecting, so a crash between the two leaves a harmless undo, never a fault nobody
  knows about. Its ``kind`` must have an undo handler registered with
  :func:`harness.ledger.register_undo` by the module that defines the fault.
- ``inject()`` applies the fault or raises :class:`~harness.errors.FaultError`; a partial
  injection is rolled back by the guard through ``rollback()``.
- ``is_active()`` observes the system, not a flag: the guard calls it after injecting (the fault
  must be in effect) and after rolling back (it must be gone; the journal says which).
- ``rollback()`` is idempotent and safe when the fault was never injected or is already gone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from harness.errors import FaultError

__all__ = ["FakeFault", "Fault", "FaultState", "UndoEntry"]


class FaultState(enum.Enum):
    """Where a fault is in its life."""

    PENDING = "pending"
    ACTIVE = "active"
    ROLLED_BACK = "rolled_back"  # removed and checked gone
    FAILED = "failed"  # injection failed, or rollback did not remove it


@dataclass(frozen=True, slots=True)
class UndoEntry:
    """What the ledger stores for a fault: handler kind, readable key, plain-JSON undo data."""

    kind: str
    key: str
    undo: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class Fault(Protocol):
    """A fault the harness can inject, observe and remove; see the module docstring."""

    @property
    def name(self) -> str:
        """Short label for the timeline and journal, e.g. ``latency 20ms -> scorer``."""
        ...

    def undo_entry(self) -> UndoEntry: ...

    def inject(self) -> None: ...

    def is_active(self) -> bool: ...

    def rollback(self) -> None: ...


@dataclass(slots=True)
class FakeFault:
    """An in-memory fault for tests of the guard, journal and game-day runner.

    ``fail_inject`` / ``fail_rollback`` make the respective call raise; ``sticky`` makes
    ``rollback`` leave the fault active (a rollback that "succeeds" but does not remove it).
    """

    label: str = "fake"
    fail_inject: bool = False
    fail_rollback: bool = False
    sticky: bool = False
    active: bool = False
    calls: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.label

    def undo_entry(self) -> UndoEntry:
        return UndoEntry(kind="fault.fake", key=self.label)

    def inject(self) -> None:
        self.calls.append("inject")
        if self.fail_inject:
            raise FaultError(f"{self.label}: injection failed (fake)")
        self.active = True

    def is_active(self) -> bool:
        self.calls.append("is_active")
        return self.active

    def rollback(self) -> None:
        self.calls.append("rollback")
        if self.fail_rollback:
            raise FaultError(f"{self.label}: rollback failed (fake)")
        if not self.sticky:
            self.active = False
