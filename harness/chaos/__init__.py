"""Faults behind one protocol (inject, check, roll back), the fault proxy, the cleanup journal and
game days. Nothing here imports Locust or gevent; network faults use :mod:`harness.netns`."""

from harness.chaos.fault import FakeFault, Fault, FaultState, UndoEntry

__all__ = ["FakeFault", "Fault", "FaultState", "UndoEntry"]
