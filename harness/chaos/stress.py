"""Resource hogs beside the target: CPU hog and memory pressure, in processes we start.

- :class:`CpuHogFault`: ``workers`` busy processes at ``load_pct`` each; stress-ng
  (``--cpu N --cpu-load L``) when installed, else a bounded Python busy loop per worker.
- :class:`MemoryPressureFault`: one child that allocates ``size_bytes`` and writes every page
  (resident, not merely reserved), refused above ``max_share`` of the memory available now (the
  machine's, or the harness's memory-cgroup headroom when smaller), so a game day cannot push
  the machine, or its own container, into the OOM killer.

Both are bounded twice: every helper exits on its own after ``max_duration_s`` (stress-ng's
``--timeout``; the Python helpers check a deadline and their parent), and every helper carries a
tag named in the ``chaos.hog`` ledger entry before it starts, so a sweep kills it (and
stress-ng's forked workers) after a SIGKILL of the harness. Active while tagged helpers run (and,
for memory, hold at least 90% of the size resident).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Final

import psutil

from harness.chaos.cgroups import memory_headroom_bytes
from harness.chaos.fault import UndoEntry
from harness.chaos.procs import kill_tagged, new_tag, tagged_pids, wait_until
from harness.chaos.supervisor import HOG_KIND, spawn_tagged
from harness.errors import FaultError

__all__ = ["CpuHogFault", "MemoryPressureFault", "stress_ng_path"]

_START_TIMEOUT_S: Final = 10.0
_RESIDENT_SHARE: Final = 0.9

# argv: deadline seconds, load percent. Busy for load% of every 10 ms slice; ends at the deadline
# or when its parent (the harness) is gone.
_BUSY: Final = """
import os, sys, time
end = time.monotonic() + float(sys.argv[1]); busy = float(sys.argv[2]) / 100 * 0.01
parent = os.getppid()
while time.monotonic() < end and os.getppid() == parent:
    t = time.monotonic()
    while time.monotonic() - t < busy:
        pass
    if busy < 0.01:
        time.sleep(0.01 - busy)
"""

# argv: bytes, deadline seconds. Touches every page so the memory is resident, then holds it.
_HOLD: Final = """
import mmap, os, sys, time
size, end = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
buf = mmap.mmap(-1, size)
page = mmap.PAGESIZE
for offset in range(0, size, page):
    buf[offset] = 1
parent = os.getppid()
while time.monotonic() < end and os.getppid() == parent:
    time.sleep(0.2)
"""


def stress_ng_path() -> str | None:
    """stress-ng's path, when installed (``scripts/install-test-deps.sh`` installs it)."""
    return shutil.which("stress-ng")


@dataclass
class _Hog:
    """Shared life of a tagged helper group (start, observe, kill)."""

    label: str
    max_duration_s: float
    tag: str = field(init=False)
    _procs: list[subprocess.Popen[bytes]] = field(init=False, default_factory=list)
    _started: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        if not 0 < self.max_duration_s <= 24 * 3600:
            raise FaultError(f"max_duration_s must be within (0, 86400], got {self.max_duration_s}")
        self.tag = new_tag(self.label)

    def undo_entry(self) -> UndoEntry:
        return UndoEntry(kind=HOG_KIND, key=self.label, undo={"tag": self.tag})

    def _spawn(self, argv: list[str]) -> None:
        self._started = True
        self._procs.append(spawn_tagged(argv, self.tag))

    def running(self) -> list[int]:
        return tagged_pids(self.tag) if self._started else []

    def rollback(self) -> None:
        if not self._started:
            return
        kill_tagged(self.tag)
        for proc in self._procs:  # reap: no zombies left behind
            proc.wait(timeout=_START_TIMEOUT_S)
        self._procs.clear()


@dataclass
class CpuHogFault(_Hog):
    """``workers`` processes busy at ``load_pct`` percent each; see the module docstring."""

    label: str = "cpu-hog"
    max_duration_s: float = 600.0
    workers: int = 1
    load_pct: int = 100
    use_stress_ng: bool | None = None  # None: stress-ng when installed

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.workers <= 256 or not 1 <= self.load_pct <= 100:
            raise FaultError("cpu hog: workers must be 1..256 and load_pct 1..100")

    @property
    def name(self) -> str:
        return f"cpu hog {self.workers}x{self.load_pct}%"

    @property
    def via_stress_ng(self) -> bool:
        available = stress_ng_path() is not None
        return available if self.use_stress_ng is None else (self.use_stress_ng and available)

    def inject(self) -> None:
        expected = self.workers
        if self.via_stress_ng:
            argv = [str(stress_ng_path()), "--cpu", str(self.workers)]
            argv += ["--cpu-load", str(self.load_pct), "--timeout", f"{self.max_duration_s:g}s"]
            # --keep-name: stress-ng otherwise rewrites its workers' argv/environ area for their
            # titles, erasing the tag that lets a sweep find them.
            self._spawn([*argv, "--quiet", "--keep-name"])
            expected += 1  # stress-ng's own parent plus one forked worker per CPU stressor
        else:
            for _ in range(self.workers):
                argv = [sys.executable, "-c", _BUSY, str(self.max_duration_s), str(self.load_pct)]
                self._spawn(argv)
        if not wait_until(lambda: len(self.running()) >= expected, _START_TIMEOUT_S):
            raise FaultError(f"{self.name}: {len(self.running())} of {expected} processes started")

    def is_active(self) -> bool:
        return bool(self.running())


@dataclass
class MemoryPressureFault(_Hog):
    """One child holding ``size_bytes`` resident; see the module docstring."""

    label: str = "memory-hog"
    max_duration_s: float = 600.0
    size_bytes: int = 256 * 1024 * 1024
    max_share: float = 0.5  # of the memory available at injection

    @property
    def name(self) -> str:
        return f"memory pressure {self.size_bytes / 2**20:.0f} MiB"

    def inject(self) -> None:
        available = psutil.virtual_memory().available
        if (headroom := memory_headroom_bytes()) is not None:
            available = min(available, headroom)
        if not 0 < self.size_bytes <= self.max_share * available:
            raise FaultError(
                f"{self.name}: refused, above {self.max_share:.0%} of the "
                f"{available / 2**20:.0f} MiB available now"
            )
        self._spawn([sys.executable, "-c", _HOLD, str(self.size_bytes), str(self.max_duration_s)])
        if not wait_until(self.is_active, _START_TIMEOUT_S + self.size_bytes / 2**30 * 5):
            raise FaultError(f"{self.name}: the memory was not resident in time")

    def resident_bytes(self) -> int:
        total = 0
        for pid in self.running():
            try:
                total += psutil.Process(pid).memory_info().rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        return total

    def is_active(self) -> bool:
        return self.resident_bytes() >= _RESIDENT_SHARE * self.size_bytes
