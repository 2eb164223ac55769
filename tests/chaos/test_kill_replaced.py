"""A kill whose supervisor replaced the victim before the fault first looked is still injected.

uvicorn's master replaces a killed worker within 0.5 s; on a loaded machine the fault's first
look can come later, when the pool is whole again. The `worker-kill` game day then stopped with
"still up after SIGKILL" (2 of 6 runs at load average 6) although the worker was long dead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.chaos import KillFault, ProcessRef


@dataclass
class InstantReplacement:
    """A supervisor that has a replacement running the moment its process dies."""

    victim: ProcessRef
    replacement: ProcessRef

    def process(self) -> ProcessRef | None:
        return self.victim if self.victim.alive() else self.replacement

    def ready(self) -> bool:
        return True  # whole again before anyone looks

    def restart(self) -> None:
        return None


@pytest.fixture
def victim() -> Iterator[ProcessRef]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield ProcessRef.of(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_a_victim_replaced_before_the_first_look_counts_as_killed(victim: ProcessRef) -> None:
    """inject() returns once the victim is dead and no longer the supervisor's process, though
    the supervisor was never seen one short; the fault is then not active (already restored)."""
    supervisor = InstantReplacement(victim, ProcessRef.of(os.getpid()))
    fault = KillFault(supervisor, label="worker")
    started = time.monotonic()
    fault.inject()  # raised FaultError "still up after SIGKILL" after 5 s
    assert time.monotonic() - started < 3.0
    assert not victim.alive()
    assert not fault.is_active()
    fault.rollback()


def test_a_victim_still_alive_is_not_down(victim: ProcessRef) -> None:
    """A victim still alive is not counted as killed however whole its supervisor looks; once
    the kernel has ended it, it is."""
    supervisor = InstantReplacement(victim, ProcessRef.of(os.getpid()))
    fault = KillFault(supervisor, label="worker")
    assert not fault._down(victim)  # alive: not down
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + 3.0
    while victim.alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fault._down(victim)
