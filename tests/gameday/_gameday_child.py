"""Runs ``slo-harness gameday`` in a fresh process (Locust monkey-patches whatever imports it, so
the pytest process never does), with a ``pause`` fault registered for the embedded service.

The ``pause`` builder here SIGSTOPs the service's process group and SIGCONTs it on rollback,
observing the process state (``T``) for ``is_active``: the smallest real fault that makes a game
day breach, detect and recover. When the chaos core's process faults are registered in
``harness.chaos.FAULT_FACTORY`` this helper registers nothing (``SLO_HARNESS_TEST_OWN_PAUSE=0``).

Usage: ``python tests/gameday/_gameday_child.py ARGS...`` (the arguments of ``slo-harness``).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass

import psutil

from harness.chaos import UndoEntry
from harness.chaos.factory import FAULT_FACTORY, FaultContext
from harness.errors import FaultError
from harness.ledger import LedgerEntry, UndoStatus, register_undo
from harness.spec.faults import FaultSpec

KIND = "fault.test_sigstop"


@dataclass
class StopProcessGroup:
    """SIGSTOP / SIGCONT of one process group (the embedded service runs in its own session)."""

    pid: int

    @property
    def name(self) -> str:
        return f"SIGSTOP service (pid {self.pid})"

    def undo_entry(self) -> UndoEntry:
        return UndoEntry(kind=KIND, key=str(self.pid), undo={"pid": self.pid})

    def inject(self) -> None:
        os.killpg(self.pid, signal.SIGSTOP)
        self._settle(stopped=True)

    def _settle(self, *, stopped: bool) -> None:
        """Signals are delivered asynchronously: wait (bounded) until the state shows it."""
        for _ in range(100):
            if self.is_active() == stopped:
                return
            time.sleep(0.005)

    def is_active(self) -> bool:
        try:
            return psutil.Process(self.pid).status() == psutil.STATUS_STOPPED
        except psutil.NoSuchProcess:
            return False

    def rollback(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGCONT)
        except ProcessLookupError:
            return
        self._settle(stopped=False)


def _undo(entry: LedgerEntry) -> UndoStatus:
    pid = entry.undo["pid"]
    assert isinstance(pid, int)
    try:
        os.killpg(pid, signal.SIGCONT)
    except ProcessLookupError:
        return UndoStatus.ALREADY_GONE
    return UndoStatus.REMOVED


def _build(spec: FaultSpec, ctx: FaultContext) -> StopProcessGroup:
    if ctx.service_pid is None:
        raise FaultError("pause: needs the service's pid (only when the harness started it)")
    return StopProcessGroup(ctx.service_pid)


if __name__ == "__main__":
    if (
        os.environ.get("SLO_HARNESS_TEST_OWN_PAUSE", "1") == "1"
        or "pause" not in FAULT_FACTORY.kinds
    ):
        FAULT_FACTORY.register("pause", _build)
        register_undo(KIND, _undo)
    from harness.cli import main

    main(sys.argv[1:])
