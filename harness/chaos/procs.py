"""Processes a fault may touch: identity that survives pid reuse, tagged children, polling.

Why: a process fault that signals the wrong pid pauses somebody else's program. Every target is a
:class:`ProcessRef` (pid *and* start time, as the ledger identifies owners), checked before each
signal, so a pid reused after the target died is never touched. By default a fault only targets
descendants of the harness process (:func:`require_own`): "target only processes the harness
started".

Processes the harness *starts* for a fault (a CPU hog, a memory hog, a supervised server) carry
an environment tag (``SLO_HARNESS_CHAOS_TAG``) that their own children inherit. The ledger entry
names the tag before the process exists, so a different process can find and kill all of them
after the harness was SIGKILLed (:func:`kill_tagged`), including stress-ng's forked workers whose
pids nobody recorded.

Waiting is by polling with :func:`time.sleep`, which gevent's monkey-patching makes cooperative:
no lock, event or blocking wait that could stall a Locust process (see ``guard.py``).
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psutil

from harness.errors import FaultError

__all__ = [
    "TAG_ENV",
    "ProcessRef",
    "kill_tagged",
    "new_tag",
    "require_own",
    "resolve_targets",
    "tagged_pids",
    "wait_until",
]

TAG_ENV: Final = "SLO_HARNESS_CHAOS_TAG"
_START_TOLERANCE_S: Final = 0.05
_POLL_S: Final = 0.005


def new_tag(label: str) -> str:
    """A unique tag for processes started for one fault (``slo-harness-<label>-<hex>``)."""
    return f"slo-harness-{label}-{os.getpid()}-{secrets.token_hex(4)}"


def wait_until(
    predicate: Callable[[], bool], timeout_s: float, interval_s: float = _POLL_S
) -> bool:
    """Poll ``predicate`` until it is true or ``timeout_s`` passed; return its last value.

    Sleeps grow from ``interval_s`` to 50 ms, so short waits react fast and long ones stay cheap.
    """
    deadline = time.monotonic() + timeout_s
    pause = interval_s
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(pause)
        pause = min(pause * 1.5, 0.05)


@dataclass(frozen=True, slots=True)
class ProcessRef:
    """One process, identified by pid and start time (epoch seconds, psutil's rounding)."""

    pid: int
    start_s: float

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        """The running process ``pid``; FaultError when there is none."""
        try:
            return cls(pid, float(psutil.Process(pid).create_time()))
        except (psutil.NoSuchProcess, psutil.ZombieProcess) as exc:
            raise FaultError(f"process {pid} does not exist") from exc
        except psutil.AccessDenied as exc:
            raise FaultError(f"process {pid}: access denied") from exc

    @classmethod
    def from_undo(cls, data: object) -> ProcessRef | None:
        """Parse ``{"pid": int, "start_s": float}`` from a ledger entry; None if malformed."""
        if not isinstance(data, dict):
            return None
        pid, start = data.get("pid"), data.get("start_s")
        if not isinstance(pid, int) or not isinstance(start, int | float):
            return None
        return cls(pid, float(start))

    def to_undo(self) -> dict[str, object]:
        return {"pid": self.pid, "start_s": self.start_s}

    def _proc(self) -> psutil.Process | None:
        """The psutil handle if this exact process still exists (zombies count as gone)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.start_s) > _START_TOLERANCE_S:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            return None

    def alive(self) -> bool:
        return self._proc() is not None

    def state(self) -> str | None:
        """The kernel's one-letter state from ``/proc/PID/stat`` (``T`` stopped), None if gone."""
        if self._proc() is None:
            return None
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return None
        return stat.rsplit(")", 1)[1].split()[0]

    def stopped(self) -> bool:
        """True while the process is stopped by a signal (SIGSTOP; ``t`` is a ptrace stop)."""
        return self.state() in ("T", "t")

    def signal(self, sig: signal.Signals) -> bool:
        """Send ``sig`` if this exact process still runs; False when it is gone."""
        if self._proc() is None:
            return False
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def descendants(self) -> list[ProcessRef]:
        """Its children, grandchildren, ... as refs (empty when it is gone)."""
        proc = self._proc()
        if proc is None:
            return []
        found: list[ProcessRef] = []
        try:
            children = proc.children(recursive=True)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return []
        for child in children:
            try:
                found.append(ProcessRef(child.pid, float(child.create_time())))
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
        return found


def require_own(ref: ProcessRef) -> None:
    """FaultError unless ``ref`` is a live descendant of this process (never someone else's)."""
    me = os.getpid()
    try:
        parents = [p.pid for p in psutil.Process(ref.pid).parents()]
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied) as exc:
        raise FaultError(f"process {ref.pid} does not exist") from exc
    if not ref.alive():
        raise FaultError(f"process {ref.pid} is gone (or its pid was reused)")
    if me not in parents:
        raise FaultError(
            f"process {ref.pid} was not started by this harness process (pid {me}); "
            "process faults only target processes the harness started (allow_foreign=True to "
            "override)"
        )


def resolve_targets(
    root: ProcessRef, include_children: bool, allow_foreign: bool
) -> list[ProcessRef]:
    """``root`` (checked with :func:`require_own` unless ``allow_foreign``) and its descendants."""
    if not allow_foreign:
        require_own(root)
    elif not root.alive():
        raise FaultError(f"process {root.pid} is gone")
    return [root, *(root.descendants() if include_children else [])]


def tagged_pids(tag: str) -> list[int]:
    """Pids of every live process whose environment carries ``TAG_ENV=tag``."""
    needle = f"{TAG_ENV}={tag}".encode()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, a kernel thread, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def kill_tagged(tag: str, timeout_s: float = 5.0, exclude: Iterable[int] = ()) -> int:
    """SIGKILL every process carrying ``tag`` (SIGCONT first: stopped ones); wait until gone.

    Returns how many were killed. Raises FaultError if any survives ``timeout_s``. Zombies (dead,
    waiting for their parent to reap them) count as gone.
    """
    skip = {os.getpid(), *exclude}
    refs: list[ProcessRef] = []
    for pid in tagged_pids(tag):
        if pid in skip:
            continue
        try:
            refs.append(ProcessRef.of(pid))
        except FaultError:
            continue
    for ref in refs:
        ref.signal(signal.SIGKILL)
        ref.signal(signal.SIGCONT)
    if not wait_until(lambda: not any(r.alive() for r in refs), timeout_s):
        left = [r.pid for r in refs if r.alive()]
        raise FaultError(f"processes tagged {tag} survived SIGKILL: {left}")
    return len(refs)
