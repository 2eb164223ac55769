"""The guard: ledger before inject, verified rollback on every way out, one record per fault."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.chaos import FakeFault, FaultGuard, RollbackStatus, Trigger, UndoEntry
from harness.errors import FaultError
from harness.ledger import Ledger, LedgerEntry, UndoStatus, register_undo

_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

register_undo("fault.fake", lambda _e: UndoStatus.ALREADY_GONE)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "state")


@dataclass
class LedgerCheckingFault(FakeFault):
    """Records whether its ledger entry existed when inject() ran."""

    ledger: Ledger | None = None
    seen_entries: list[LedgerEntry] = field(default_factory=list)

    def inject(self) -> None:
        assert self.ledger is not None
        self.seen_entries = self.ledger.entries()
        super().inject()


@dataclass
class InertFault(FakeFault):
    """inject() returns but nothing takes effect (a fault that silently did not apply)."""

    def inject(self) -> None:
        self.calls.append("inject")


@dataclass
class InterruptedOnce(FakeFault):
    """Its first rollback is hit by a KeyboardInterrupt (as gevent.kill would throw one)."""

    interrupted: bool = False

    def rollback(self) -> None:
        if not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt("thrown in")
        super().rollback()


def test_entry_is_in_the_ledger_before_inject_and_released_after(ledger: Ledger) -> None:
    """The undo entry is on disk when inject() runs and gone after a verified rollback."""
    fault = LedgerCheckingFault("f", ledger=ledger)
    with FaultGuard(ledger) as guard:
        guard.inject(fault)
        assert [e.key for e in fault.seen_entries] == ["f"]
        assert [h.name for h in guard.active()] == ["f"]
    assert ledger.entries() == []
    (record,) = guard.records
    assert record.status is RollbackStatus.SUCCEEDED
    assert record.verified_gone
    assert record.trigger is Trigger.END
    assert record.fault == "f"
    assert record.kind == "fault.fake"
    assert _UTC.match(record.injected_at)
    assert _UTC.match(record.rolled_back_at)
    assert 0 <= record.injected_at_s <= record.rolled_back_at_s
    assert not fault.active


def test_exception_rolls_back_newest_first_and_propagates(ledger: Ledger) -> None:
    """An exception in the block rolls every fault back (newest first) and is re-raised."""
    faults = [FakeFault("a"), FakeFault("b")]
    guard = FaultGuard(ledger)

    def block() -> None:
        with guard:
            for fault in faults:
                guard.inject(fault)
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        block()
    assert [r.fault for r in guard.records] == ["b", "a"]
    assert {r.trigger for r in guard.records} == {Trigger.EXCEPTION}
    assert "ValueError: boom" in guard.records[0].detail
    assert not any(f.active for f in faults)


def test_failed_or_unobserved_injection_is_rolled_back_and_raised(ledger: Ledger) -> None:
    """inject() raising, or a fault not observed in effect, is a FaultError after rollback."""
    with FaultGuard(ledger) as guard:
        with pytest.raises(FaultError, match="injection failed"):
            guard.inject(FakeFault("bad", fail_inject=True))
        with pytest.raises(FaultError, match="not observed in effect"):
            guard.inject(InertFault("inert"))
        assert guard.active() == []
    assert [r.trigger for r in guard.records] == [Trigger.INJECT_FAILED] * 2
    assert all(r.verified_gone for r in guard.records)
    assert guard.fault_windows() == []
    assert ledger.entries() == []


def test_fault_that_stays_is_reported_failed_and_kept_in_the_ledger(ledger: Ledger) -> None:
    """A rollback that does not remove the fault: status failed, entry kept for cleanup."""
    with FaultGuard(ledger, verify_timeout_s=0.05) as guard:
        guard.inject(FakeFault("sticky", sticky=True))
        guard.inject(FakeFault("raises", fail_rollback=True))
    by_name = {r.fault: r for r in guard.records}
    for record in by_name.values():
        assert record.status is RollbackStatus.FAILED
        assert not record.verified_gone
        assert "chaos cleanup" in record.detail
    assert "rollback raised FaultError" in by_name["raises"].detail
    assert sorted(e.key for e in ledger.entries()) == ["raises", "sticky"]


def test_run_marks_a_failed_load(ledger: Ledger) -> None:
    """An exception from the load callable rolls back with trigger load_failed."""
    guard = FaultGuard(ledger)

    def load() -> None:
        raise ConnectionError("target gone")

    def block() -> None:
        with guard:
            guard.inject(FakeFault("f"))
            guard.run(load)

    with pytest.raises(ConnectionError):
        block()
    assert [r.trigger for r in guard.records] == [Trigger.LOAD_FAILED]


def test_schedule_rolls_back_at_its_time_and_abort_takes_the_rest(ledger: Ledger) -> None:
    """tick() removes due faults only; abort() removes the rest and refuses new ones."""
    clock = [0]
    guard = FaultGuard(ledger, clock_ns=lambda: clock[0])
    with guard:
        short = guard.inject(FakeFault("short"), duration_s=1.0)
        guard.inject(FakeFault("long"), rollback_at_s=5.0)
        guard.inject(FakeFault("open"))
        assert guard.next_deadline_s() == 1.0
        assert guard.tick() == []
        clock[0] = 2_000_000_000
        assert [r.fault for r in guard.tick()] == ["short"]
        assert short.record is not None
        assert short.record.trigger is Trigger.SCHEDULED
        assert guard.next_deadline_s() == 5.0
        records = guard.abort("p99 > 500 ms for 15 s")
        assert [r.fault for r in records] == ["open", "long"]
        assert {r.trigger for r in records} == {Trigger.ABORT}
        assert guard.closed_reason == "abort: p99 > 500 ms for 15 s"
        with pytest.raises(FaultError, match="guard is closed"):
            guard.inject(FakeFault("late"))
    assert len(guard.records) == 3


def test_rollback_of_one_fault_is_idempotent(ledger: Ledger) -> None:
    """rollback(handle) twice returns the same record; the end of the block adds none."""
    with FaultGuard(ledger) as guard:
        handle = guard.inject(FakeFault("f"))
        first = guard.rollback(handle)
        assert guard.rollback(handle) is first
    assert guard.records == [first]
    (window,) = guard.fault_windows()
    assert window.name == "f"
    assert window.start_s <= window.end_s == first.rolled_back_at_s


def test_keyboard_interrupt_inside_rollback_is_retried_then_reraised(ledger: Ledger) -> None:
    """A KeyboardInterrupt thrown into a rollback step: the step is redone, then it surfaces."""
    fault = InterruptedOnce("f")
    guard = FaultGuard(ledger)
    guard.inject(fault)
    with pytest.raises(KeyboardInterrupt):
        guard.rollback_all(Trigger.END)
    (record,) = guard.records
    assert record.verified_gone
    assert "interrupted, retried" in record.detail
    assert not fault.active
    assert ledger.entries() == []


def test_concurrent_injects_and_abort_leave_every_fault_off(ledger: Ledger) -> None:
    """Threads injecting while another aborts: each fault ends with one record and is off."""
    faults = [FakeFault(f"f{i}") for i in range(40)]
    guard = FaultGuard(ledger)
    start = threading.Barrier(5)

    def injector(chunk: list[FakeFault]) -> None:
        start.wait()
        for fault in chunk:
            with contextlib.suppress(FaultError):  # closed: refused, or rolled back at once
                guard.inject(fault)

    threads = [threading.Thread(target=injector, args=(faults[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    start.wait()
    guard.abort("test")
    for thread in threads:
        thread.join(timeout=30)
    guard.rollback_all(Trigger.END)
    injected = [f for f in faults if "inject" in f.calls]
    assert not any(f.active for f in faults)
    assert sorted(r.fault for r in guard.records) == sorted(f.name for f in injected)
    assert ledger.entries() == []


@pytest.fixture
def _no_sigterm_handler() -> Iterator[None]:
    saved = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGTERM, saved)


@pytest.mark.usefixtures("_no_sigterm_handler")
def test_sigterm_becomes_keyboard_interrupt_inside_the_block(ledger: Ledger) -> None:
    """A default SIGTERM would skip every finally; inside the guard it is KeyboardInterrupt."""
    guard = FaultGuard(ledger)

    def block() -> None:
        with guard:
            guard.inject(FakeFault("f"))
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0.1)  # give the handler a bytecode boundary

    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        block()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert guard.records[0].trigger is Trigger.INTERRUPT


def test_undo_entry_is_what_the_fault_declares(ledger: Ledger) -> None:
    """The ledger stores the fault's own undo entry (kind, key, undo data)."""

    @dataclass
    class Declared(FakeFault):
        def undo_entry(self) -> UndoEntry:
            return UndoEntry(kind="fault.fake", key="k", undo={"pid": 1})

    fault = Declared("d")
    guard = FaultGuard(ledger)
    guard.inject(fault)
    (entry,) = ledger.entries()
    assert (entry.kind, entry.key, entry.undo) == ("fault.fake", "k", {"pid": 1})
    guard.rollback_all(Trigger.END)
