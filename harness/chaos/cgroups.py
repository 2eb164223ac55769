"""The cgroup files process faults write: detection, a cgroup of our own, and its removal.

Why by hand: the job is a few file writes under ``/sys/fs/cgroup``; the libraries that exist wrap
systemd or cgroup v2 only, and this machine is hybrid (cgroup v2 mounted at
``/sys/fs/cgroup/unified`` without the cpu controller, the v1 ``cpu`` controller at
``/sys/fs/cgroup/cpu``). Detection reads ``/proc/self/mountinfo``; nothing assumes a path.

Invariants:
- the harness only ever writes cgroups it created, named ``slo-harness-<label>-<pid>-<hex>``
  directly under a hierarchy's mount point, and never changes a controller setting of a cgroup
  it did not create;
- a process is moved into our cgroup only after its original cgroup (from ``/proc/PID/cgroup``)
  is known, and it is moved back there before the cgroup is removed; a process that appeared in
  our cgroup later (a child forked while frozen or throttled) goes to the first target's origin;
- removal is verified: the directory is gone.
"""

from __future__ import annotations

import errno
import os
import secrets
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from harness.chaos.procs import ProcessRef, wait_until
from harness.errors import FaultError

__all__ = [
    "CGROUP_PREFIX",
    "Cgroup",
    "Mounts",
    "cgroup_mounts",
    "freeze_supported",
    "memory_headroom_bytes",
    "origin_of",
    "targets_from_undo",
    "targets_to_undo",
]

CGROUP_PREFIX: Final = "slo-harness-"
_REMOVE_TIMEOUT_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class Mounts:
    """Where the hierarchies a fault can use are mounted (None: absent)."""

    v2: Path | None  # the cgroup2 mount (``cgroup.freeze``; ``cpu.max`` if its cpu is enabled)
    v1_cpu: Path | None  # the v1 hierarchy with the ``cpu`` controller (``cpu.cfs_quota_us``)
    v1_memory: Path | None = None  # the v1 ``memory`` hierarchy (limits the memory hog's size)

    @property
    def v2_cpu(self) -> bool:
        """True when cgroup v2 children get ``cpu.max`` (cpu enabled in the root's subtree)."""
        if self.v2 is None:
            return False
        try:
            return "cpu" in (self.v2 / "cgroup.subtree_control").read_text().split()
        except OSError:
            return False


@cache
def cgroup_mounts() -> Mounts:
    """Parse ``/proc/self/mountinfo`` once (mounts do not move during a run)."""
    v2: Path | None = None
    v1_cpu: Path | None = None
    v1_memory: Path | None = None
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return Mounts(None, None)
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        mountpoint, fstype, options = Path(fields[4]), tail[0], tail[2].split(",")
        if fstype == "cgroup2" and v2 is None:
            v2 = mountpoint
        elif fstype == "cgroup" and "cpu" in options and v1_cpu is None:
            v1_cpu = mountpoint
        elif fstype == "cgroup" and "memory" in options and v1_memory is None:
            v1_memory = mountpoint
    return Mounts(v2, v1_cpu, v1_memory)


def freeze_supported() -> bool:
    """cgroup v2 with ``cgroup.freeze`` (Linux >= 5.2) and permission to create cgroups."""
    root = cgroup_mounts().v2
    if root is None or not os.access(root, os.W_OK):
        return False
    try:
        major, minor = (int(p) for p in os.uname().release.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (5, 2)


def memory_headroom_bytes() -> int | None:
    """What this process's memory cgroup may still allocate (limit - usage); None: no limit.

    v2 ``memory.max``/``memory.current``, else v1 ``memory.limit_in_bytes``/``usage_in_bytes``
    (v1 reports "no limit" as a huge number). Processes the harness starts share the cgroup, so
    a memory hog above this would meet the OOM killer inside the harness's own cgroup.
    """
    mounts = cgroup_mounts()
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hid, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if hid == "0" and controllers == "" and mounts.v2 is not None:
            files = (mounts.v2 / rel / "memory.max", mounts.v2 / rel / "memory.current")
        elif "memory" in controllers.split(",") and mounts.v1_memory is not None:
            base = mounts.v1_memory / rel
            files = (base / "memory.limit_in_bytes", base / "memory.usage_in_bytes")
        else:
            continue
        try:
            limit_text, usage_text = (f.read_text().strip() for f in files)
        except OSError:
            continue
        if limit_text == "max" or int(limit_text) >= 2**62:
            continue
        return max(0, int(limit_text) - int(usage_text))
    return None


def origin_of(pid: int, mount: Path) -> str | None:
    """The cgroup path (``/a/b``) of ``pid`` in the hierarchy mounted at ``mount``."""
    mounts = cgroup_mounts()
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hid, controllers, path = line.split(":", 2)
        if mount == mounts.v2 and hid == "0" and controllers == "":
            return path
        if mount == mounts.v1_cpu and "cpu" in controllers.split(","):
            return path
    return None


def targets_to_undo(targets: list[ProcessRef], origins: dict[int, str]) -> list[object]:
    """Targets and their original cgroups as plain JSON for a ledger entry."""
    return [{**t.to_undo(), "origin": origins.get(t.pid)} for t in targets]


def targets_from_undo(raw: object) -> tuple[list[ProcessRef], dict[int, str]]:
    """The inverse of :func:`targets_to_undo`; malformed items are skipped."""
    items = raw if isinstance(raw, list) else []
    targets = [r for r in map(ProcessRef.from_undo, items) if r is not None]
    origins = {
        t["pid"]: t["origin"]
        for t in items
        if isinstance(t, dict)
        and isinstance(t.get("pid"), int)
        and isinstance(t.get("origin"), str)
    }
    return targets, origins


@dataclass(frozen=True, slots=True)
class Cgroup:
    """A cgroup the harness creates under ``mount`` (see the module invariants)."""

    mount: Path
    name: str

    @classmethod
    def new(cls, mount: Path, label: str) -> Cgroup:
        return cls(mount, f"{CGROUP_PREFIX}{label}-{os.getpid()}-{secrets.token_hex(4)}")

    @property
    def path(self) -> Path:
        return self.mount / self.name

    def exists(self) -> bool:
        return self.path.is_dir()

    def create(self) -> None:
        if not self.name.startswith(CGROUP_PREFIX) or "/" in self.name:
            raise FaultError(f"refusing to create cgroup {self.name!r}: not one of ours")
        try:
            self.path.mkdir(mode=0o755)
        except OSError as exc:
            raise FaultError(f"cannot create cgroup {self.path}: {exc.strerror}") from exc

    def read(self, filename: str) -> str:
        return (self.path / filename).read_text().strip()

    def write(self, filename: str, value: str) -> None:
        try:
            (self.path / filename).write_text(value)
        except OSError as exc:
            raise FaultError(f"cannot write {value!r} to {self.path / filename}: {exc}") from exc

    def procs(self) -> list[int]:
        try:
            return [int(p) for p in self.read("cgroup.procs").split()]
        except OSError:
            return []

    def add(self, ref: ProcessRef) -> None:
        """Move ``ref`` (the whole thread group) into this cgroup."""
        if not ref.alive():
            raise FaultError(f"process {ref.pid} is gone")
        self.write("cgroup.procs", str(ref.pid))

    def holds(self, ref: ProcessRef) -> bool:
        return ref.alive() and origin_of(ref.pid, self.mount) == f"/{self.name}"

    def remove(self, origins: dict[int, str], targets: list[ProcessRef]) -> bool:
        """Move every process back to its origin and remove the directory; True if it existed.

        ``origins`` maps pid -> original cgroup path; pids missing there (or whose ref no longer
        matches) go to the first origin. Raises FaultError if the directory stays.
        """
        if not self.exists():
            return False
        if not self.name.startswith(CGROUP_PREFIX):
            raise FaultError(f"refusing to remove cgroup {self.name!r}: not one of ours")
        fallback = next(iter(origins.values()), "/")
        known = {ref.pid for ref in targets if ref.alive()}
        if not wait_until(lambda: self._try_remove(origins, known, fallback), _REMOVE_TIMEOUT_S):
            raise FaultError(
                f"cgroup {self.path} could not be removed (still holds {self.procs()})"
            )
        return True

    def _try_remove(self, origins: dict[int, str], known: set[int], fallback: str) -> bool:
        for pid in self.procs():
            dest = origins.get(pid, fallback) if pid in known else fallback
            _move(self.mount, dest, pid)
        try:
            self.path.rmdir()
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno in (errno.EBUSY, errno.ENOTEMPTY):
                return False  # a process is still leaving (exiting tasks linger briefly)
            raise FaultError(f"cannot remove cgroup {self.path}: {exc.strerror}") from exc
        return True


def _move(mount: Path, cgroup_path: str, pid: int) -> None:
    dest = mount / cgroup_path.lstrip("/")
    if not (dest / "cgroup.procs").exists():
        dest = mount
    try:
        (dest / "cgroup.procs").write_text(str(pid))
    except ProcessLookupError:
        return  # exited meanwhile
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise FaultError(f"cannot move process {pid} to {dest}: {exc}") from exc
