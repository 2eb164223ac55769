"""The kill switch (``slo-harness chaos cleanup``) and the sweep every fault-injecting start runs.

- :func:`sweep_on_start`: undo the ledger entries whose owner is dead (a SIGKILLed or crashed
  harness); entries of live harness processes are theirs to undo. The game-day and run commands
  call it before they inject anything.
- :func:`cleanup` with ``everything=True`` (``--all``): every entry, live owners' too, plus the
  namespace pattern sweep of :mod:`harness.netns` (namespaces with the project prefix, ledger or
  not). ``dry_run`` lists what would be undone and changes nothing.

Every undo handler must be registered before a sweep, so this module imports the fault modules
(through the package) and :mod:`harness.netns` (which registers ``netns``). Tests set
``SLO_HARNESS_NETNS_PREFIX`` to a per-run prefix: ``--all`` removes *every* namespace with it.

Exit semantics (cli): 0 when nothing the sweep covers is left, 1 when something could not be
removed (or, for a dry run, when something would be removed: "is anything left behind?" as a CI
check).
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.ledger import Ledger, LedgerEntry, UndoStatus, owner_alive, sweep
from harness.netns import default_prefix, list_namespaces, sweep_prefix

__all__ = [
    "CleanupItem",
    "CleanupReport",
    "CleanupStatus",
    "cleanup",
    "render_cleanup",
    "sweep_on_start",
]


class CleanupStatus(enum.Enum):
    REMOVED = "removed"
    ALREADY_GONE = "already gone"
    FAILED = "FAILED"
    NO_HANDLER = "FAILED (no undo handler)"
    WOULD_REMOVE = "would remove"
    LIVE_OWNER = "kept (owner running; --all removes it)"


_FROM_UNDO = {
    UndoStatus.REMOVED: CleanupStatus.REMOVED,
    UndoStatus.ALREADY_GONE: CleanupStatus.ALREADY_GONE,
    UndoStatus.FAILED: CleanupStatus.FAILED,
    UndoStatus.NO_HANDLER: CleanupStatus.NO_HANDLER,
}
_LEFT = (CleanupStatus.FAILED, CleanupStatus.NO_HANDLER, CleanupStatus.WOULD_REMOVE)


@dataclass(frozen=True, slots=True)
class CleanupItem:
    kind: str
    key: str
    owner_pid: int
    status: CleanupStatus
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CleanupReport:
    items: tuple[CleanupItem, ...]
    namespaces: tuple[str, ...] = ()  # removed (or, dry run, present) by the pattern sweep
    namespace_error: str = ""
    dry_run: bool = False

    @property
    def clean(self) -> bool:
        """Nothing the sweep covers is left behind (dry run: nothing would be removed)."""
        if self.namespace_error or any(i.status in _LEFT for i in self.items):
            return False
        return not (self.dry_run and self.namespaces)


def _register_handlers() -> None:
    # The fault modules register their kinds when the package is imported (harness.netns
    # registered "netns" when imported above).
    importlib.import_module("harness.chaos")
    # Per-run scratch directories (keys, embedded audit trails) share the ledger.
    importlib.import_module("harness.scratch")


def _item(entry: LedgerEntry, status: CleanupStatus, detail: str = "") -> CleanupItem:
    return CleanupItem(entry.kind, entry.key, entry.owner_pid, status, detail)


def cleanup(
    ledger: Ledger | None = None, *, everything: bool = False, dry_run: bool = False
) -> CleanupReport:
    """Undo orphaned entries (all entries with ``everything``); see the module docstring."""
    _register_handlers()
    ledger = ledger if ledger is not None else Ledger()
    entries = ledger.entries()
    live = [e for e in entries if owner_alive(e)]
    items: list[CleanupItem] = []
    if dry_run:
        for entry in entries:
            kept = entry in live and not everything
            items.append(
                _item(entry, CleanupStatus.LIVE_OWNER if kept else CleanupStatus.WOULD_REMOVE)
            )
    else:
        for result in sweep(ledger, everything=everything):
            items.append(_item(result.entry, _FROM_UNDO[result.status], result.detail))
        if not everything:
            items += [_item(e, CleanupStatus.LIVE_OWNER) for e in live]
    namespaces, error = _sweep_namespaces(dry_run) if everything else ((), "")
    return CleanupReport(tuple(items), tuple(namespaces), error, dry_run)


def sweep_on_start(ledger: Ledger | None = None) -> CleanupReport:
    """Remove what dead harness processes left behind (the "next start" cleanup)."""
    return cleanup(ledger)


def _sweep_namespaces(dry_run: bool) -> tuple[list[str], str]:
    """The namespace pattern sweep (``--all`` only): every namespace with the project prefix."""
    try:
        if dry_run:
            return list_namespaces(default_prefix()), ""
        return sweep_prefix(), ""
    except HarnessError as exc:
        return [], str(exc)


def render_cleanup(report: CleanupReport) -> str:
    """One line per entry and namespace, then a summary line."""
    lines = [
        f"{item.status.value:<12} {item.kind:<16} {item.key}  (owner pid {item.owner_pid})"
        + (f": {item.detail}" if item.detail else "")
        for item in report.items
    ]
    verb = "present" if report.dry_run else "removed"
    lines += [f"{verb:<12} {'netns':<16} {name}" for name in report.namespaces]
    if report.namespace_error:
        lines.append(f"{'FAILED':<12} {'netns':<16} {report.namespace_error}")
    left = sum(i.status in _LEFT for i in report.items) + bool(report.namespace_error)
    if not report.items and not report.namespaces and not report.namespace_error:
        lines.append("nothing to clean up")
    elif report.dry_run:
        lines.append(f"dry run: {left + len(report.namespaces)} item(s) would be removed")
    else:
        lines.append("clean" if report.clean else f"{left} item(s) could NOT be removed")
    return "\n".join(lines)
