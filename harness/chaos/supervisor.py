"""Processes the harness starts for chaos: a supervised server (restartable) and tagged helpers.

- :class:`ChildSupervisor` runs one program (a service to kill and restart, a test server) in its
  own session, tagged (see :mod:`harness.chaos.procs`) and recorded in the ledger *before* it
  starts, so ``chaos cleanup`` kills it (and anything it forked) after a SIGKILL of the harness.
  ``restart()`` starts it again and waits until ``ready()``: the kill fault's restart callback.
- :class:`WorkerPool` is the :class:`~harness.chaos.process.Supervisor` of a pre-forking
  service's workers (uvicorn ``--workers N``): the kill fault kills one worker, the service's own
  master restarts it; "ready" is the worker count restored (and an optional service probe).
- :class:`ServiceSupervisor` is the supervisor of the whole embedded service (the harness started
  it, :class:`~harness.target.ServiceProcess`): the kill fault kills its main process, the
  harness starts it again with the same command line; "ready" is its readiness probe.
- :func:`spawn_tagged` starts a helper (stress-ng, a memory hog) carrying a tag recorded by the
  fault's ledger entry.

Undo handler: kind ``chaos.child`` (and the hogs' ``chaos.hog``) kills every process with the
entry's tag; "already gone" is success.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Final, Protocol

import psutil

from harness.chaos.procs import TAG_ENV, ProcessRef, kill_tagged, new_tag, wait_until
from harness.errors import FaultError
from harness.ledger import Ledger, LedgerEntry, UndoStatus, register_undo

__all__ = [
    "CHILD_KIND",
    "HOG_KIND",
    "ChildSupervisor",
    "Restartable",
    "ServiceSupervisor",
    "WorkerPool",
    "spawn_tagged",
    "tcp_ready",
    "undo_tagged",
]

CHILD_KIND: Final = "chaos.child"
HOG_KIND: Final = "chaos.hog"
_STOP_GRACE_S: Final = 5.0


def spawn_tagged(
    argv: Sequence[str],
    tag: str,
    *,
    env: Mapping[str, str] | None = None,
    stdout: int | IO[bytes] | None = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session with ``TAG_ENV=tag`` in its (inherited) environment."""
    full_env = {**os.environ, **(env or {}), TAG_ENV: tag}
    try:
        return subprocess.Popen(
            list(argv),
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise FaultError(f"cannot start {argv[0]}: {exc.strerror}") from exc


def undo_tagged(entry: LedgerEntry) -> UndoStatus:
    """Ledger undo for tagged processes: kill them all (verified gone)."""
    tag = entry.undo.get("tag")
    if not isinstance(tag, str) or not tag.startswith("slo-harness-"):
        return UndoStatus.FAILED
    return UndoStatus.REMOVED if kill_tagged(tag) else UndoStatus.ALREADY_GONE


register_undo(CHILD_KIND, undo_tagged)
register_undo(HOG_KIND, undo_tagged)


def tcp_ready(port: int, host: str = "127.0.0.1", timeout_s: float = 0.2) -> Callable[[], bool]:
    """A readiness check: something accepts TCP connections on ``host:port``.

    A SIGSTOPped server still completes handshakes (the kernel's backlog), so this says "bound
    and listening", not "answering"; use an application probe for the latter.
    """

    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return True
        except OSError:
            return False

    return check


@dataclass
class ChildSupervisor:
    """One supervised child program; see the module docstring.

    ``ready`` (default: the process is alive) is polled after each start for up to
    ``ready_timeout_s``. The ledger entry lives from the first ``start()`` to ``stop()``.
    """

    argv: Sequence[str]
    ledger: Ledger
    ready_check: Callable[[], bool] | None = None
    env: Mapping[str, str] | None = None
    label: str = "child"
    ready_timeout_s: float = 30.0
    tag: str = field(init=False)
    _proc: subprocess.Popen[bytes] | None = field(init=False, default=None)
    _entry: LedgerEntry | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.tag = new_tag(self.label)

    def __enter__(self) -> ChildSupervisor:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def process(self) -> ProcessRef | None:
        """The current child, if it runs."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        try:
            return ProcessRef.of(self._proc.pid)
        except FaultError:
            return None

    def ready(self) -> bool:
        if self.process() is None:
            return False
        return self.ready_check() if self.ready_check is not None else True

    def start(self) -> None:
        """Record (first time), start, wait until ready; FaultError when it does not get there."""
        if self._entry is None:
            self._entry = self.ledger.record(CHILD_KIND, self.label, {"tag": self.tag})
        self._proc = spawn_tagged(self.argv, self.tag, env=self.env)
        if not wait_until(self._ready_or_dead, self.ready_timeout_s) or not self.ready():
            code = self._proc.poll()
            self.stop()
            why = f"exited with {code}" if code is not None else "not ready in time"
            raise FaultError(f"{self.label}: {why} after start")

    def _ready_or_dead(self) -> bool:
        return self._proc is None or self._proc.poll() is not None or self.ready()

    def restart(self) -> None:
        """Reap the old process (killing it if needed) and start a new one (the kill fault's)."""
        self._reap()
        self.start()

    def stop(self) -> None:
        """SIGTERM the child (SIGKILL after a grace), kill anything tagged, release the entry."""
        self._reap(grace_s=_STOP_GRACE_S)
        kill_tagged(self.tag)
        if self._entry is not None:
            self.ledger.release(self._entry)
            self._entry = None

    def _reap(self, grace_s: float = 0.0) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGCONT)
            _signal_group(proc.pid, signal.SIGTERM if grace_s else signal.SIGKILL)
            try:
                proc.wait(timeout=grace_s or _STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=_STOP_GRACE_S)
        self._proc = None


@dataclass
class WorkerPool:
    """The workers of ``service`` (children whose command line contains ``marker``).

    ``workers`` is the count that means "all up" (0: the count at first use). uvicorn's master
    looks for dead workers every 0.5 s and spawns a replacement; ``restart()`` only waits for
    that (up to ``restart_timeout_s``), so a pool whose master does not restart is a FaultError.
    """

    service: ProcessRef
    marker: str = "--multiprocessing-fork"  # multiprocessing's spawn workers (uvicorn's)
    workers: int = 0
    ready_check: Callable[[], bool] | None = None
    restart_timeout_s: float = 60.0

    def members(self) -> list[ProcessRef]:
        """Live workers, oldest first."""
        found: list[ProcessRef] = []
        for ref in self.service.descendants():
            try:
                if self.marker in psutil.Process(ref.pid).cmdline() and ref.alive():
                    found.append(ref)
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        return sorted(found, key=lambda r: r.start_s)

    def _expected(self) -> int:
        if self.workers <= 0:
            self.workers = len(self.members())
        return self.workers

    def process(self) -> ProcessRef | None:
        """The oldest worker (the victim a kill fault picks)."""
        self._expected()
        members = self.members()
        return members[0] if members else None

    def ready(self) -> bool:
        up = len(self.members()) >= self._expected() > 0
        return up and (self.ready_check() if self.ready_check is not None else True)

    def restart(self) -> None:
        if not wait_until(self.ready, self.restart_timeout_s):
            raise FaultError(
                f"pid {self.service.pid}: {len(self.members())} of {self.workers} workers "
                f"{self.restart_timeout_s:g} s after the kill (its master did not restart one)"
            )


class Restartable(Protocol):
    """A service the harness runs and can start again (:class:`~harness.target.ServiceProcess`)."""

    @property
    def pid(self) -> int | None: ...

    def ready(self, timeout_s: float = ...) -> bool: ...

    def restart(self) -> None: ...


@dataclass
class ServiceSupervisor:
    """:class:`~harness.chaos.process.Supervisor` of a whole service the harness started."""

    service: Restartable

    def process(self) -> ProcessRef | None:
        """The service's main process while it runs."""
        pid = self.service.pid
        if pid is None:
            return None
        try:
            return ProcessRef.of(pid)
        except FaultError:
            return None

    def ready(self) -> bool:
        """Its readiness probe answers now."""
        return self.service.ready()

    def restart(self) -> None:
        """Start it again (same command line) and return once ready."""
        self.service.restart()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
