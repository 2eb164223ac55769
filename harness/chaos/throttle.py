"""CPU throttle: the target runs under a CFS quota in a cgroup of our own.

``cpus`` is the share of one CPU the target may use per period (0.2 = 20 ms of CPU every 100 ms;
2.0 = two full CPUs). The quota goes to cgroup v2 ``cpu.max`` when the v2 hierarchy has the cpu
controller, else to v1 ``cpu.cfs_period_us``/``cpu.cfs_quota_us`` (this machine: v1 only). A
throttled service looks like a slow CPU: each request's compute stretches and queues build.

Active while our cgroup exists, carries our quota and holds a target (``/proc/PID/cgroup``).
Rollback lifts the quota, moves the targets back to their original cgroups and removes ours;
the ``chaos.throttle`` undo handler does the same from the ledger entry after a SIGKILL.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from harness.chaos.cgroups import (
    Cgroup,
    cgroup_mounts,
    origin_of,
    targets_from_undo,
    targets_to_undo,
)
from harness.chaos.fault import UndoEntry
from harness.chaos.procs import ProcessRef, resolve_targets
from harness.errors import FaultError, FaultUnsupported
from harness.ledger import LedgerEntry, UndoStatus, register_undo

__all__ = ["THROTTLE_KIND", "CpuThrottleFault", "cpu_quota_interface"]

THROTTLE_KIND: Final = "chaos.throttle"
_MIN_QUOTA_US: Final = 1_000  # the kernel's lower bound for a CFS quota


def cpu_quota_interface() -> str | None:
    """``"v2"`` (cpu.max), ``"v1"`` (cpu.cfs_quota_us) or None: what this machine offers."""
    mounts = cgroup_mounts()
    if mounts.v2_cpu:
        return "v2"
    if mounts.v1_cpu is not None:
        return "v1"
    return None


def _quota_text(version: str, quota_us: int, period_us: int) -> dict[str, str]:
    if version == "v2":
        return {"cpu.max": f"{quota_us} {period_us}"}
    return {"cpu.cfs_period_us": str(period_us), "cpu.cfs_quota_us": str(quota_us)}


def _has_quota(cgroup: Cgroup, version: str, quota_us: int, period_us: int) -> bool:
    try:
        if version == "v2":
            return cgroup.read("cpu.max").split() == [str(quota_us), str(period_us)]
        return int(cgroup.read("cpu.cfs_quota_us")) == quota_us
    except (OSError, ValueError):
        return False


@dataclass
class CpuThrottleFault:
    """Limit ``target`` (and its descendants) to ``cpus`` CPUs; see the module docstring."""

    target: ProcessRef
    cpus: float
    period_us: int = 100_000
    include_children: bool = True
    allow_foreign: bool = False
    _targets: list[ProcessRef] | None = field(init=False, default=None)
    _cgroup: Cgroup | None = field(init=False, default=None)
    _version: str = field(init=False, default="")
    _origins: dict[int, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not 1_000 <= self.period_us <= 1_000_000:
            raise FaultError(f"period_us must be within 1000..1000000, got {self.period_us}")
        if not self.cpus > 0 or self.quota_us < _MIN_QUOTA_US:
            raise FaultError(f"cpus must give a quota of at least 1 ms per period, got {self.cpus}")

    @property
    def quota_us(self) -> int:
        return round(self.cpus * self.period_us) if self.cpus > 0 else 0

    @property
    def name(self) -> str:
        return f"cpu throttle pid {self.target.pid} to {self.cpus:g} CPU"

    @property
    def cgroup(self) -> Cgroup | None:
        return self._cgroup

    def _resolve(self) -> tuple[list[ProcessRef], Cgroup]:
        if self._targets is None or self._cgroup is None:
            version = cpu_quota_interface()
            mounts = cgroup_mounts()
            mount = mounts.v2 if version == "v2" else mounts.v1_cpu
            if version is None or mount is None:
                raise FaultUnsupported("no cgroup cpu controller (v2 cpu.max or v1 cpu) here")
            self._targets = resolve_targets(self.target, self.include_children, self.allow_foreign)
            self._version, self._cgroup = version, Cgroup.new(mount, "throttle")
            for ref in self._targets:
                if (origin := origin_of(ref.pid, mount)) is not None:
                    self._origins[ref.pid] = origin
        return self._targets, self._cgroup

    def undo_entry(self) -> UndoEntry:
        targets, cgroup = self._resolve()
        undo: dict[str, object] = {
            "version": self._version,
            "mount": str(cgroup.mount),
            "cgroup": cgroup.name,
            "targets": targets_to_undo(targets, self._origins),
        }
        return UndoEntry(kind=THROTTLE_KIND, key=self.name, undo=undo)

    def inject(self) -> None:
        targets, cgroup = self._resolve()
        cgroup.create()
        for filename, value in _quota_text(self._version, self.quota_us, self.period_us).items():
            cgroup.write(filename, value)
        for ref in targets:
            cgroup.add(ref)

    def is_active(self) -> bool:
        cgroup = self._cgroup
        if cgroup is None or not cgroup.exists():
            return False
        quota = _has_quota(cgroup, self._version, self.quota_us, self.period_us)
        return quota and any(cgroup.holds(r) for r in self._targets or [])

    def rollback(self) -> None:
        if self._cgroup is not None:
            _lift(self._cgroup, self._version, self._targets or [], self._origins)


def _lift(cgroup: Cgroup, version: str, targets: list[ProcessRef], origins: dict[int, str]) -> bool:
    if not cgroup.exists():
        return False
    # Unlimited first, so a process that cannot be moved out at once is no longer throttled.
    with contextlib.suppress(FaultError):
        cgroup.write("cpu.max" if version == "v2" else "cpu.cfs_quota_us", _UNLIMITED[version])
    return cgroup.remove(origins, targets)


_UNLIMITED: Final = {"v2": "max", "v1": "-1"}


def _undo_throttle(entry: LedgerEntry) -> UndoStatus:
    mount, name, version = (entry.undo.get(k) for k in ("mount", "cgroup", "version"))
    if not (isinstance(mount, str) and isinstance(name, str) and version in _UNLIMITED):
        return UndoStatus.FAILED
    targets, origins = targets_from_undo(entry.undo.get("targets"))
    removed = _lift(Cgroup(Path(mount), name), str(version), targets, origins)
    return UndoStatus.REMOVED if removed else UndoStatus.ALREADY_GONE


register_undo(THROTTLE_KIND, _undo_throttle)
