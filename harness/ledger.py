"""A durable record of everything the harness creates outside its own process.

Why: the complaint users have about every chaos tool is faults left behind (Chaos Toolkit skips
rollbacks after an interruption, Chaos Mesh leaves faults when a resource goes early). A
``finally`` covers exceptions, Ctrl-C and SIGTERM, but not SIGKILL or a power cut. So before the
harness creates anything that outlives a crash (a network namespace, an nft table, a qdisc, a
cgroup, a paused process, a proxy process), it writes an *intent* entry here, with what a
different process needs to undo it. The entry is released only after the undo succeeded. The next
start of a command that creates such things, and ``slo-harness chaos cleanup`` (the kill switch),
sweep the entries whose owner is gone.

Invariants:
- an entry is on disk (written atomically, fsynced) *before* its resource exists, so a crash at
  any point leaves either nothing or an entry whose undo is safe to run (undo handlers treat
  "already gone" as success);
- one file per entry, one writer per file: no locking; the sweeper and the owner may race on an
  undo, so handlers are idempotent;
- an owner is "alive" only if its pid exists *and* its process start time matches the one
  recorded (pids are reused);
- sweeps undo newest first (a fault inside a namespace before the namespace).

The undo logic lives with the code that creates the resource: each package registers a handler
for its kinds with :func:`register_undo` (``harness.netns`` for namespaces, ``harness.chaos`` for
process faults and proxies). This module knows no kind.

State directory: ``$SLO_HARNESS_STATE_DIR``, else ``/run/slo-harness`` for root (tmpfs: cleared
at boot, like the namespaces it describes), else ``$XDG_RUNTIME_DIR/slo-harness``, else
``/tmp/slo-harness-<uid>``.
"""

from __future__ import annotations

import enum
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec
import psutil

from harness.files import atomic_write_bytes

__all__ = [
    "Ledger",
    "LedgerEntry",
    "SweepItem",
    "UndoHandler",
    "UndoStatus",
    "default_state_dir",
    "register_undo",
    "sweep",
]

_ENV: Final = "SLO_HARNESS_STATE_DIR"
#: Two start times within this many seconds belong to the same process (psutil rounds).
_START_TOLERANCE_S: Final = 0.05


class UndoStatus(enum.Enum):
    """What undoing one entry achieved."""

    REMOVED = "removed"  # the resource existed and is gone now (verified by the handler)
    ALREADY_GONE = "already_gone"  # nothing was left to remove
    FAILED = "failed"  # still there; the entry stays for the next sweep
    NO_HANDLER = "no_handler"  # nobody registered this kind in this process


class LedgerEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One thing the harness created (or is about to create) and how to remove it."""

    kind: str  # e.g. "netns", "fault.pause"; the handler registry's key
    key: str  # human-readable identity, e.g. the namespace name
    undo: dict[str, object]  # what the handler needs; plain JSON values only
    owner_pid: int
    owner_start_s: float  # the owner's process start time (epoch seconds), against pid reuse
    created_ns: int  # time.time_ns() at recording; sweeps undo newest first
    entry_id: str  # the file's stem


UndoHandler = Callable[[LedgerEntry], UndoStatus]
_HANDLERS: dict[str, UndoHandler] = {}


def register_undo(kind: str, handler: UndoHandler) -> None:
    """Make ``handler`` the undo for ``kind`` (idempotent; the last registration wins)."""
    _HANDLERS[kind] = handler


def default_state_dir() -> Path:
    """Where ledgers live; see the module docstring."""
    if env := os.environ.get(_ENV):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/run/slo-harness")
    if runtime := os.environ.get("XDG_RUNTIME_DIR"):
        return Path(runtime) / "slo-harness"
    return Path(f"/tmp/slo-harness-{os.geteuid()}")


def _start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


_OWN_START: Final = _start_time(os.getpid()) or 0.0


@dataclass(frozen=True, slots=True)
class SweepItem:
    """The outcome of undoing one entry."""

    entry: LedgerEntry
    status: UndoStatus
    detail: str = ""


@dataclass(slots=True)
class Ledger:
    """The entries under ``state_dir/ledger``; see the module docstring."""

    state_dir: Path = field(default_factory=default_state_dir)

    @property
    def directory(self) -> Path:
        return self.state_dir / "ledger"

    def record(self, kind: str, key: str, undo: Mapping[str, object]) -> LedgerEntry:
        """Write the intent entry (durably) before the resource is created; return it."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        created = time.time_ns()
        entry = LedgerEntry(
            kind=kind,
            key=key,
            undo=dict(undo),
            owner_pid=os.getpid(),
            owner_start_s=_OWN_START or (_start_time(os.getpid()) or 0.0),
            created_ns=created,
            entry_id=f"{created:020d}-{os.getpid()}-{secrets.token_hex(4)}",
        )
        atomic_write_bytes(self._path(entry), msgspec.json.encode(entry))
        return entry

    def release(self, entry: LedgerEntry) -> None:
        """Forget ``entry`` (after its resource was removed and checked gone)."""
        self._path(entry).unlink(missing_ok=True)

    def entries(self) -> list[LedgerEntry]:
        """Every readable entry, newest first. Unreadable files are skipped (and left alone)."""
        found: list[LedgerEntry] = []
        if not self.directory.is_dir():
            return found
        for path in self.directory.glob("*.json"):
            try:
                found.append(msgspec.json.decode(path.read_bytes(), type=LedgerEntry))
            except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                continue
        found.sort(key=lambda e: e.created_ns, reverse=True)
        return found

    def orphans(self) -> list[LedgerEntry]:
        """Entries whose owner process is gone (SIGKILL, crash): nobody else will undo them."""
        return [e for e in self.entries() if not owner_alive(e)]

    def _path(self, entry: LedgerEntry) -> Path:
        return self.directory / f"{entry.entry_id}.json"


def owner_alive(entry: LedgerEntry) -> bool:
    """True when the process that recorded ``entry`` still runs (same pid, same start time).

    A zombie is dead: a SIGKILLed harness whose parent has not reaped it yet (a container's
    init may never do so) will undo nothing, so its entries are orphans.
    """
    try:
        if psutil.Process(entry.owner_pid).status() == psutil.STATUS_ZOMBIE:
            return False
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    started = _start_time(entry.owner_pid)
    return started is not None and abs(started - entry.owner_start_s) <= _START_TOLERANCE_S


def sweep(
    ledger: Ledger, *, everything: bool = False, kinds: Iterable[str] | None = None
) -> list[SweepItem]:
    """Undo orphaned entries (or, with ``everything``, all of them: the kill switch).

    Newest first. An entry is released when its handler reports REMOVED or ALREADY_GONE; a
    failure or a kind with no registered handler leaves it for the next sweep.
    """
    wanted = set(kinds) if kinds is not None else None
    chosen = ledger.entries() if everything else ledger.orphans()
    items: list[SweepItem] = []
    for entry in chosen:
        if wanted is not None and entry.kind not in wanted:
            continue
        items.append(_undo_one(ledger, entry))
    return items


def _undo_one(ledger: Ledger, entry: LedgerEntry) -> SweepItem:
    handler = _HANDLERS.get(entry.kind)
    if handler is None:
        return SweepItem(entry, UndoStatus.NO_HANDLER, f"no undo registered for {entry.kind!r}")
    try:
        status = handler(entry)
    except Exception as exc:  # one broken undo must not stop the rest of the sweep
        return SweepItem(entry, UndoStatus.FAILED, f"{exc.__class__.__name__}: {exc}")
    if status in (UndoStatus.REMOVED, UndoStatus.ALREADY_GONE):
        ledger.release(entry)
    return SweepItem(entry, status)
