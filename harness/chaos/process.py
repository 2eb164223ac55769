"""Process faults that stop a target: pause (SIGSTOP or cgroup freeze) and kill -9 + restart.

Pause makes a GC-like stall: the process keeps its sockets and a client's connection succeeds
(the kernel completes handshakes from the listen backlog), but nothing answers until it resumes.
Two mechanisms, both observable from outside:

- ``SIGSTOP``/``SIGCONT`` (default; no root, no cgroup moves): active while any target is in
  state ``T`` (``/proc/PID/stat``). A parent waiting with ``WUNTRACED`` would notice.
- cgroup v2 ``cgroup.freeze``: the targets move into a cgroup of our own that is frozen; active
  while its ``cgroup.events`` says ``frozen 1``. Rollback thaws, moves them back, removes it.

Targets are the given process plus, by default, its descendants at injection time (a server's
workers stop with it). Kill sends SIGKILL to the supervised process (see
:class:`~harness.chaos.supervisor.ChildSupervisor`, :class:`~harness.chaos.supervisor.WorkerPool`,
:class:`~harness.chaos.supervisor.ServiceSupervisor`); it is active while the target is down;
rollback is the supervisor's restart (ready again), or waits for the one it started at once.
Undo handlers: ``chaos.pause`` resumes / thaws the recorded targets (identity-checked) and
removes the cgroup; ``chaos.kill`` has nothing to undo (a dead process is not a leftover; the
supervisor's own entry covers what it started; a restarted embedded service carries
``--parent-pid`` and exits with the harness).
"""

from __future__ import annotations

import contextlib
import enum
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from harness.chaos.cgroups import (
    Cgroup,
    cgroup_mounts,
    freeze_supported,
    origin_of,
    targets_from_undo,
    targets_to_undo,
)
from harness.chaos.fault import UndoEntry
from harness.chaos.procs import ProcessRef, require_own, resolve_targets, wait_until
from harness.errors import FaultError, FaultUnsupported, HarnessError
from harness.ledger import LedgerEntry, UndoStatus, register_undo

__all__ = [
    "KILL_KIND",
    "PAUSE_KIND",
    "KillFault",
    "PauseFault",
    "PauseMethod",
    "Supervisor",
    "pause_methods",
]

PAUSE_KIND: Final = "chaos.pause"
KILL_KIND: Final = "chaos.kill"
_SETTLE_TIMEOUT_S: Final = 5.0


class PauseMethod(enum.Enum):
    SIGSTOP = "sigstop"
    FREEZE = "freeze"  # cgroup v2 cgroup.freeze


def pause_methods() -> list[PauseMethod]:
    """The pause mechanisms this machine offers (SIGSTOP always; freeze with cgroup v2)."""
    return [PauseMethod.SIGSTOP, *([PauseMethod.FREEZE] if freeze_supported() else [])]


@dataclass
class PauseFault:
    """Stop ``target`` (and its descendants) until rolled back; see the module docstring."""

    target: ProcessRef
    method: PauseMethod = PauseMethod.SIGSTOP
    include_children: bool = True
    allow_foreign: bool = False
    _targets: list[ProcessRef] | None = field(init=False, default=None)
    _cgroup: Cgroup | None = field(init=False, default=None)
    _origins: dict[int, str] = field(init=False, default_factory=dict)

    @property
    def name(self) -> str:
        return f"pause pid {self.target.pid} ({self.method.value})"

    @property
    def cgroup(self) -> Cgroup | None:
        """The freezer cgroup (FREEZE only; known once ``undo_entry()`` or ``inject()`` ran)."""
        return self._cgroup

    def _resolve(self) -> list[ProcessRef]:
        if self._targets is None:
            self._targets = resolve_targets(self.target, self.include_children, self.allow_foreign)
            if self.method is PauseMethod.FREEZE:
                mount = cgroup_mounts().v2
                if mount is None or not freeze_supported():
                    raise FaultUnsupported("cgroup v2 freeze is not available on this machine")
                self._cgroup = Cgroup.new(mount, "pause")
                for ref in self._targets:
                    if (origin := origin_of(ref.pid, mount)) is not None:
                        self._origins[ref.pid] = origin
        return self._targets

    def undo_entry(self) -> UndoEntry:
        targets = self._resolve()
        undo: dict[str, object] = {
            "method": self.method.value,
            "targets": targets_to_undo(targets, self._origins),
        }
        if self._cgroup is not None:
            undo |= {"mount": str(self._cgroup.mount), "cgroup": self._cgroup.name}
        return UndoEntry(kind=PAUSE_KIND, key=self.name, undo=undo)

    def inject(self) -> None:
        targets = self._resolve()
        if self._cgroup is None:
            for ref in targets:
                ref.signal(signal.SIGSTOP)
            ok = wait_until(lambda: all(r.stopped() for r in targets if r.alive()), 5.0)
        else:
            self._cgroup.create()
            for ref in targets:
                self._cgroup.add(ref)
            self._cgroup.write("cgroup.freeze", "1")
            ok = wait_until(lambda: _frozen(self._cgroup), _SETTLE_TIMEOUT_S)
        if not ok:
            raise FaultError(f"{self.name}: targets did not stop within {_SETTLE_TIMEOUT_S} s")

    def is_active(self) -> bool:
        if self._cgroup is not None:
            return _frozen(self._cgroup)
        return any(r.stopped() for r in self._targets or [])

    def rollback(self) -> None:
        if self._targets is not None:
            _resume(self._targets, self._cgroup, self._origins)


def _frozen(cgroup: Cgroup | None) -> bool:
    if cgroup is None or not cgroup.exists():
        return False
    try:
        return "frozen 1" in cgroup.read("cgroup.events").splitlines()
    except OSError:
        return False


def _resume(targets: list[ProcessRef], cgroup: Cgroup | None, origins: dict[int, str]) -> bool:
    """Thaw and remove the cgroup, or SIGCONT the targets; True if anything was still paused."""
    if cgroup is not None:
        if not cgroup.exists():
            return False
        # If thawing fails, removal below still moves every process out, which thaws it too.
        with contextlib.suppress(FaultError):
            cgroup.write("cgroup.freeze", "0")
        return cgroup.remove(origins, targets)
    changed = any(r.stopped() for r in targets)
    for ref in targets:
        if ref.stopped():  # only what is stopped: a SIGCONT handler elsewhere is not ours to run
            ref.signal(signal.SIGCONT)
    if not wait_until(lambda: not any(r.stopped() for r in targets), _SETTLE_TIMEOUT_S):
        raise FaultError(f"processes still stopped: {[r.pid for r in targets if r.stopped()]}")
    return changed


def _undo_pause(entry: LedgerEntry) -> UndoStatus:
    if not isinstance(entry.undo.get("targets"), list):
        return UndoStatus.FAILED
    targets, origins = targets_from_undo(entry.undo["targets"])
    cgroup = None
    mount, name = entry.undo.get("mount"), entry.undo.get("cgroup")
    if isinstance(mount, str) and isinstance(name, str):
        cgroup = Cgroup(Path(mount), name)
    return UndoStatus.REMOVED if _resume(targets, cgroup, origins) else UndoStatus.ALREADY_GONE


register_undo(PAUSE_KIND, _undo_pause)


class Supervisor(Protocol):
    """What the kill fault needs from whoever runs the target (ChildSupervisor is one)."""

    def process(self) -> ProcessRef | None:
        """The running process, if any."""
        ...

    def ready(self) -> bool:
        """The service is up and answering (what "restarted" means)."""
        ...

    def restart(self) -> None:
        """Start it again and return once ready (FaultError otherwise)."""
        ...


@dataclass
class KillFault:
    """``kill -9`` the supervised process; active while it is down; rollback restarts it.

    ``restart_at_once``: the supervisor brings it back right after the kill, as a process
    supervisor does (uvicorn's master for a worker, the harness for the whole service): a
    background thread (a greenlet under gevent) calls ``supervisor.restart()`` and notes when
    it was ready again; rollback joins it (and restarts itself if that failed). Without it the
    target stays down until the rollback restarts it. Either way :attr:`restored_after_s` is the
    time from the kill until the supervisor saw it ready (monotonic clock).
    """

    supervisor: Supervisor
    label: str = "target"
    allow_foreign: bool = False
    restart_at_once: bool = False
    restart_timeout_s: float = 60.0
    _killed: ProcessRef | None = field(init=False, default=None)
    _killed_ns: int | None = field(init=False, default=None)
    _restored_ns: int | None = field(init=False, default=None)
    _restarter: threading.Thread | None = field(init=False, default=None)
    _restart_error: str | None = field(init=False, default=None)

    @property
    def name(self) -> str:
        return f"kill -9 {self.label}"

    @property
    def restored_after_s(self) -> float | None:
        """Seconds from the kill until the target was ready again (None: not (yet) back)."""
        if self._killed_ns is None or self._restored_ns is None:
            return None
        return (self._restored_ns - self._killed_ns) / 1e9

    def undo_entry(self) -> UndoEntry:
        ref = self.supervisor.process()
        return UndoEntry(kind=KILL_KIND, key=self.name, undo={"pid": ref.pid if ref else None})

    def inject(self) -> None:
        ref = self.supervisor.process()
        if ref is None:
            raise FaultError(f"{self.name}: the target is not running")
        if not self.allow_foreign:
            require_own(ref)
        self._killed = ref
        ref.signal(signal.SIGKILL)
        self._killed_ns = time.monotonic_ns()
        # Down means down as the supervisor sees it: a killed thread group lingers as a zombie
        # leader (sockets still open) until its last thread has exited. A supervisor that
        # replaces it at once (uvicorn's master, within 0.5 s) can be whole again before the
        # first look on a loaded machine: then the victim being gone and no longer the
        # supervisor's process says the same (that wait failed 2 of 6 worker-kill game days at
        # load average 6, "still up after SIGKILL", with the worker long dead).
        if not wait_until(lambda: self._down(ref), 5.0):
            raise FaultError(f"{self.name}: pid {ref.pid} still up after SIGKILL")
        if self.restart_at_once:
            self._restarter = threading.Thread(
                target=self._restart, name=f"restart {self.label}", daemon=True
            )
            self._restarter.start()

    def _restart(self) -> None:
        try:
            self.supervisor.restart()
        except HarnessError as exc:  # FaultError, ServiceStartError: rollback tries again
            self._restart_error = str(exc)
            return
        if self._restored_ns is None:
            self._restored_ns = time.monotonic_ns()

    def _down(self, ref: ProcessRef) -> bool:
        """The killed ``ref`` is gone and the supervisor no longer counts it."""
        if ref.alive():
            return False
        return not self.supervisor.ready() or self.supervisor.process() != ref

    def is_active(self) -> bool:
        if self._killed is None:
            return False
        restarting = self._restarter is not None and self._restarter.is_alive()
        return restarting or not self.supervisor.ready()

    def rollback(self) -> None:
        if self._killed is None:
            return
        if self._restarter is not None:
            self._restarter.join(self.restart_timeout_s + 5.0)
            if self._restarter.is_alive():
                raise FaultError(f"{self.name}: its restart did not finish")
        if not self.supervisor.ready():
            self._restart()
            if self._restart_error is not None and not self.supervisor.ready():
                raise FaultError(f"{self.name}: restart failed: {self._restart_error}")


def _undo_kill(_entry: LedgerEntry) -> UndoStatus:
    return UndoStatus.ALREADY_GONE


register_undo(KILL_KIND, _undo_kill)
