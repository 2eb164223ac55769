"""The guaranteed-rollback guard: every fault it injects comes off, and says whether it did.

Why: the complaint about every chaos tool is faults left behind (Chaos Toolkit skips rollbacks
after Ctrl-C and crashes when interrupted during one; Chaos Mesh leaves faults when its resource
goes early). The guard owns the order that prevents that:

1. ``fault.undo_entry()`` goes to the ledger (fsynced) *before* ``inject()``: after a SIGKILL the
   next start or ``slo-harness chaos cleanup`` removes the fault (:mod:`harness.chaos.cleanup`);
2. after ``inject()`` the fault must be observed in effect (``is_active()``), else it is rolled
   back and the injection fails;
3. rollback happens on every way out of the ``with`` block (normal end, exception, a failed load
   run, Ctrl-C / SIGTERM / SIGHUP as KeyboardInterrupt, an abort request, its scheduled time),
   newest fault first, and is *shielded*: SIGINT/SIGTERM/SIGHUP arriving during it are deferred
   (re-raised once every fault is off), and a KeyboardInterrupt thrown into the rolling-back code
   (gevent can do that) restarts the idempotent step instead of abandoning it;
4. after rollback the guard checks ``is_active()`` is false (``verified_gone``) and only then
   releases the ledger entry; a fault that stays keeps its entry for the cleanup sweep;
5. each fault gets exactly one :class:`RollbackRecord` for the game-day journal.

Times: ``*_at`` are UTC ISO-8601 (microseconds, ``Z``); ``*_at_s`` are seconds since the run's
``t0`` (``t0_mono_ns``, the load engine's ``run_start_mono_ns``, so fault windows line up with
latency intervals). Injection time is when the fault was *in effect* (``inject()`` returned);
rollback time is when it was verified gone.

Concurrency: the game-day runner calls this from a gevent greenlet inside the Locust process,
plain code calls it from threads. The one lock guards only in-memory bookkeeping and is never held
across I/O, a sleep or a fault call, so a real (unpatched) lock cannot block the gevent hub;
waiting for another caller's rollback polls with ``time.sleep`` (cooperative under gevent).
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any, Final, TypeVar

from harness.chaos.fault import Fault
from harness.chaos.procs import wait_until
from harness.chaos.record import RollbackRecord, RollbackStatus, Trigger, utc_text
from harness.errors import FaultError
from harness.ledger import Ledger, LedgerEntry
from harness.measure import FaultWindow

__all__ = ["FaultGuard", "FaultHandle", "RollbackRecord", "RollbackStatus", "Trigger"]

T = TypeVar("T")
_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_MAX_ATTEMPTS: Final = 5  # interrupted rollback steps retried this often before giving up
_VERIFY_TIMEOUT_S: Final = 2.0  # a removal may take a moment to show (exiting processes)
_WAIT_OTHERS_S: Final = 120.0  # bound on waiting for another caller's inject/rollback


class _Phase(enum.Enum):
    INJECTING = "injecting"
    ACTIVE = "active"
    ROLLING_BACK = "rolling_back"
    DONE = "done"


_ids = itertools.count(1)


@dataclass(eq=False)
class FaultHandle:
    """A fault under the guard's care (returned by :meth:`FaultGuard.inject`)."""

    fault: Fault
    rollback_at_s: float | None
    phase: _Phase = _Phase.INJECTING
    entry: LedgerEntry | None = None
    injected_mono_ns: int = 0
    injected_wall_ns: int = 0
    record: RollbackRecord | None = None
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def name(self) -> str:
        return self.fault.name

    @property
    def active(self) -> bool:
        return self.phase in (_Phase.ACTIVE, _Phase.ROLLING_BACK)


class FaultGuard:
    """Inject faults, roll them back on every way out; see the module docstring.

    Use as a context manager (``with FaultGuard(ledger) as guard:``); :meth:`run` wraps the load
    so its failure is recorded as ``load_failed``. The scheduled form: ``inject(f, duration_s=)``
    then :meth:`tick` (rolls back what is due) from the runner's loop, :meth:`abort` for
    "everything off now". After abort or the end of the block no new fault is accepted.
    """

    def __init__(
        self,
        ledger: Ledger | None = None,
        *,
        t0_mono_ns: int | None = None,
        verify_timeout_s: float = _VERIFY_TIMEOUT_S,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.ledger = ledger if ledger is not None else Ledger()
        self._clock_ns = clock_ns  # monotonic; tests pass a fake one
        self.verify_timeout_s = verify_timeout_s
        self.t0_mono_ns = t0_mono_ns if t0_mono_ns is not None else clock_ns()
        self._lock = threading.Lock()  # in-memory bookkeeping only; see the module docstring
        self._handles: list[FaultHandle] = []
        self._records: list[RollbackRecord] = []
        self._closed: str | None = None
        self._deferred: list[str] = []
        self._bridged: dict[signal.Signals, Any] = {}

    # -- the block -------------------------------------------------------------------------
    def __enter__(self) -> FaultGuard:
        # SIGTERM/SIGHUP left at their default would end the process without any `finally`:
        # turn them into KeyboardInterrupt for this block (harness.cli already does this).
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                if signal.getsignal(sig) is signal.SIG_DFL:
                    self._bridged[sig] = signal.signal(sig, _raise_interrupt)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None:
                self.rollback_all(Trigger.END)
            else:
                trigger, detail = _classify(exc)
                self.rollback_all(trigger, detail, reraise_deferred=False)
        finally:
            for sig, handler in self._bridged.items():
                with contextlib.suppress(ValueError, OSError, TypeError):
                    signal.signal(sig, handler)
            self._bridged.clear()

    def run(self, load: Callable[[], T]) -> T:
        """Run ``load``; if it raises (not an interrupt), roll everything back (``load_failed``)."""
        try:
            return load()
        except Exception as exc:
            self.rollback_all(Trigger.LOAD_FAILED, f"{exc.__class__.__name__}: {exc}")
            raise

    # -- injecting -------------------------------------------------------------------------
    def inject(
        self, fault: Fault, *, duration_s: float | None = None, rollback_at_s: float | None = None
    ) -> FaultHandle:
        """Record, inject and verify ``fault``; FaultError (after rolling it back) on failure.

        ``duration_s`` (from when it took effect) or ``rollback_at_s`` (run-relative) schedule its
        rollback for :meth:`tick`; without either it stays until rolled back or the block ends.
        """
        handle = FaultHandle(fault, rollback_at_s)
        with self._lock:
            if self._closed is not None:
                raise FaultError(
                    f"{fault.name}: not injected, the guard is closed ({self._closed})"
                )
            self._handles.append(handle)
        try:
            spec = fault.undo_entry()
            handle.entry = self.ledger.record(spec.kind, spec.key, spec.undo)
        except BaseException:
            with self._lock:
                self._handles.remove(handle)  # nothing was applied: nothing to roll back
            if handle.entry is not None:
                self.ledger.release(handle.entry)
            raise
        self._stamp(handle)
        try:
            fault.inject()
            self._stamp(handle)
            if not fault.is_active():
                raise FaultError(f"{fault.name}: injected but not observed in effect")
        except BaseException as exc:
            trigger, detail = _classify(exc)
            self._claim_and_finish([handle], _inject_trigger(trigger), detail, injecting=True)
            if isinstance(exc, Exception) and not isinstance(exc, FaultError):
                raise FaultError(f"{fault.name}: injection failed: {detail}") from exc
            raise
        if duration_s is not None:  # counted from when the fault took effect
            handle.rollback_at_s = self._rel_s(handle.injected_mono_ns) + duration_s
        with self._lock:
            closed = self._closed
            handle.phase = _Phase.ROLLING_BACK if closed is not None else _Phase.ACTIVE
        if closed is not None:  # aborted while we were injecting: it comes straight off
            self._finish_shielded([handle], Trigger.ABORT, closed)
            raise FaultError(f"{fault.name}: rolled back at once, the guard closed ({closed})")
        return handle

    def _stamp(self, handle: FaultHandle) -> None:
        handle.injected_mono_ns, handle.injected_wall_ns = self._clock_ns(), time.time_ns()

    # -- rolling back ----------------------------------------------------------------------
    def rollback(self, handle: FaultHandle, trigger: Trigger = Trigger.REQUESTED) -> RollbackRecord:
        """Roll back one fault now (or wait for the caller already doing it); its record."""
        self._claim_and_finish([handle], trigger, "")
        self._wait_done([handle])
        assert handle.record is not None
        return handle.record

    def tick(self) -> list[RollbackRecord]:
        """Roll back every active fault whose scheduled time has come; their records."""
        now = self.now_s()
        with self._lock:
            due = [
                h
                for h in self._handles
                if h.phase is _Phase.ACTIVE
                and h.rollback_at_s is not None
                and h.rollback_at_s <= now
            ]
        return self._claim_and_finish(due, Trigger.SCHEDULED, "")

    def abort(self, reason: str) -> list[RollbackRecord]:
        """Everything off now, and no new faults (an abort condition fired, or an operator)."""
        return self.rollback_all(Trigger.ABORT, reason)

    def rollback_all(
        self, trigger: Trigger, detail: str = "", *, reraise_deferred: bool = True
    ) -> list[RollbackRecord]:
        """Close the guard and roll back every fault, newest first; wait for other callers'.

        A signal deferred meanwhile is raised as KeyboardInterrupt afterwards (unless
        ``reraise_deferred`` is false: the caller is already unwinding from one).
        """
        with self._lock:
            if self._closed is None:
                self._closed = f"{trigger.value}{': ' + detail if detail else ''}"
        with self._shield(reraise_deferred):
            with self._lock:
                mine = [h for h in self._handles if h.phase is _Phase.ACTIVE]
            records = self._claim_and_finish(list(reversed(mine)), trigger, detail)
            self._wait_done(self.handles())
        return records

    def _claim_and_finish(
        self, handles: list[FaultHandle], trigger: Trigger, detail: str, *, injecting: bool = False
    ) -> list[RollbackRecord]:
        """Take over the handles still ACTIVE (INJECTING too: the injector's own failure path)."""
        wanted = (_Phase.ACTIVE, _Phase.INJECTING) if injecting else (_Phase.ACTIVE,)
        with self._lock:
            claimed = [h for h in handles if h.phase in wanted]
            for h in claimed:
                h.phase = _Phase.ROLLING_BACK
        return self._finish_shielded(claimed, trigger, detail)

    def _finish_shielded(
        self, handles: list[FaultHandle], trigger: Trigger, detail: str
    ) -> list[RollbackRecord]:
        with self._shield(reraise=True):
            return [self._finish(h, trigger, detail) for h in handles]

    def _finish(self, handle: FaultHandle, trigger: Trigger, detail: str) -> RollbackRecord:
        notes = [detail] if detail else []
        gone = False
        for _attempt in range(_MAX_ATTEMPTS):
            try:
                gone = self._remove(handle, notes)
                break
            except KeyboardInterrupt as exc:  # thrown into us (gevent.kill): the step is idempotent
                self._deferred.append(str(exc) or "KeyboardInterrupt")
                notes.append("rollback step interrupted, retried")
        else:
            notes.append(f"gave up after {_MAX_ATTEMPTS} interrupted attempts")
        end_mono, end_wall = self._clock_ns(), time.time_ns()
        if gone and handle.entry is not None:
            self.ledger.release(handle.entry)
        elif handle.entry is not None:
            notes.append("left in the ledger for `slo-harness chaos cleanup`")
        record = RollbackRecord(
            fault=handle.name,
            kind=handle.entry.kind if handle.entry else "",
            injected_at=utc_text(handle.injected_wall_ns),
            injected_at_s=self._rel_s(handle.injected_mono_ns),
            rolled_back_at=utc_text(end_wall),
            rolled_back_at_s=self._rel_s(end_mono),
            status=RollbackStatus.SUCCEEDED if gone else RollbackStatus.FAILED,
            verified_gone=gone,
            trigger=trigger,
            detail="; ".join(notes),
        )
        with self._lock:
            handle.record, handle.phase = record, _Phase.DONE
            self._records.append(record)
        return record

    def _remove(self, handle: FaultHandle, notes: list[str]) -> bool:
        """rollback(), then verify; one retry if it still shows. True when verified gone."""
        fault = handle.fault
        for attempt in range(2):
            try:
                fault.rollback()
            except Exception as exc:
                notes.append(f"rollback raised {exc.__class__.__name__}: {exc}")
            try:
                if wait_until(lambda: not fault.is_active(), self.verify_timeout_s):
                    return True
            except Exception as exc:
                notes.append(f"could not verify: {exc.__class__.__name__}: {exc}")
                return False
            if attempt == 0:
                notes.append("still in effect after rollback, retried")
        notes.append("still in effect after rollback")
        return False

    def _wait_done(self, handles: list[FaultHandle]) -> None:
        def done() -> bool:
            return all(h.phase is _Phase.DONE for h in handles)

        if not wait_until(done, _WAIT_OTHERS_S):
            raise FaultError("another caller's injection or rollback did not finish in time")

    @contextlib.contextmanager
    def _shield(self, reraise: bool) -> Iterator[None]:
        """Defer SIGINT/SIGTERM/SIGHUP while faults come off (main thread; no-op elsewhere)."""
        saved: dict[signal.Signals, Any] = {}
        for sig in _SIGNALS:
            try:
                if signal.getsignal(sig) != self._defer:  # bound methods: equal, never identical
                    saved[sig] = signal.signal(sig, self._defer)
            except (ValueError, OSError):
                break  # not the main thread: the per-step KeyboardInterrupt retry still holds
        try:
            yield
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)
        if saved:  # the outermost shield: deliver what was deferred, once
            deferred, self._deferred = self._deferred, []
            if reraise and deferred:
                raise KeyboardInterrupt(deferred[0])

    def _defer(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self._deferred.append(name)
        with contextlib.suppress(Exception):
            sys.stderr.write(f"slo-harness: {name} during rollback; removing faults first\n")

    # -- reading ---------------------------------------------------------------------------
    def now_s(self) -> float:
        """Seconds since t0."""
        return self._rel_s(self._clock_ns())

    def _rel_s(self, mono_ns: int) -> float:
        return round((mono_ns - self.t0_mono_ns) / 1e9, 6)

    def handles(self) -> list[FaultHandle]:
        with self._lock:
            return list(self._handles)

    def active(self) -> list[FaultHandle]:
        """Faults in effect (or being removed right now)."""
        return [h for h in self.handles() if h.active]

    def next_deadline_s(self) -> float | None:
        """The earliest scheduled rollback of an active fault (run-relative s), if any."""
        due = [h.rollback_at_s for h in self.active() if h.rollback_at_s is not None]
        return min(due) if due else None

    @property
    def records(self) -> list[RollbackRecord]:
        """One record per fault that came off (or failed to), in rollback order."""
        with self._lock:
            return list(self._records)

    @property
    def closed_reason(self) -> str | None:
        """Why the guard stopped taking faults (``abort: p99 > 500 ms``), None while open."""
        return self._closed

    def fault_windows(self) -> list[FaultWindow]:
        """Each injected fault's span (still-active ones end now), for report shading."""
        now = self.now_s()
        return [
            FaultWindow(
                name=h.name,
                start_s=self._rel_s(h.injected_mono_ns),
                end_s=h.record.rolled_back_at_s if h.record is not None else now,
            )
            for h in self.handles()
            if h.injected_mono_ns
            and (h.record is None or h.record.trigger is not Trigger.INJECT_FAILED)
        ]


def _raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _classify(exc: BaseException) -> tuple[Trigger, str]:
    if isinstance(exc, KeyboardInterrupt):
        return Trigger.INTERRUPT, str(exc) or "SIGINT"
    if not isinstance(exc, Exception):  # GreenletExit, SystemExit: the process is going away
        return Trigger.INTERRUPT, exc.__class__.__name__
    return Trigger.EXCEPTION, f"{exc.__class__.__name__}: {exc}"


def _inject_trigger(trigger: Trigger) -> Trigger:
    return Trigger.INTERRUPT if trigger is Trigger.INTERRUPT else Trigger.INJECT_FAILED
