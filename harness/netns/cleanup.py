"""Removing labs nobody will remove: the ledger's undo handler and the pattern sweep.

- :func:`undo_namespace` is registered for ledger kind ``netns`` when :mod:`harness.netns` is
  imported, so ``harness.ledger.sweep`` (the next start, ``slo-harness chaos cleanup``) removes
  the namespaces of a SIGKILLed owner. A caller that sweeps must import ``harness.netns`` first.
- :func:`sweep_prefix` is for ``cleanup --all``: it removes every namespace whose name starts
  with the project prefix (``$SLO_HARNESS_NETNS_PREFIX`` or ``sloh-``), ledger or not (a lost
  state directory, a ledger on another tmpfs). It removes *live* labs with that prefix too: it is
  the kill switch, not a routine sweep. Tests set a unique prefix so they never touch another
  run's namespaces.

Both remove members before bridge namespaces and verify each removal
(:meth:`~harness.netns.namespace.Namespace.remove`).
"""

from __future__ import annotations

from harness.errors import NetnsError
from harness.ledger import LedgerEntry, UndoStatus, register_undo
from harness.netns.lab import NETNS_KIND, signals_deferred
from harness.netns.namespace import Namespace, default_prefix, list_namespaces

__all__ = ["register_undo_handlers", "sweep_prefix", "undo_namespace"]


def undo_namespace(entry: LedgerEntry) -> UndoStatus:
    """Ledger undo for kind ``netns``: remove the namespace (and what runs in it), verified."""
    name = entry.undo.get("name")
    if not isinstance(name, str):
        return UndoStatus.FAILED
    return UndoStatus.REMOVED if Namespace(name).remove() else UndoStatus.ALREADY_GONE


def sweep_prefix(prefix: str | None = None) -> list[str]:
    """Remove every namespace named ``prefix*`` (default: the project prefix); return the names.

    Raises :class:`NetnsError` listing what could not be removed (after trying all of them).
    """
    prefix = default_prefix() if prefix is None else prefix
    if not prefix:
        raise NetnsError("refusing to sweep namespaces with an empty prefix")
    removed: list[str] = []
    failures: list[str] = []
    # Longest name first: a lab's members (<p>-<label>) go before its bridge namespace (<p>).
    with signals_deferred():
        for name in sorted(list_namespaces(prefix), key=len, reverse=True):
            try:
                if Namespace(name).remove():
                    removed.append(name)
            except (NetnsError, OSError) as exc:
                failures.append(f"{name}: {exc}")
    if failures:
        raise NetnsError(f"namespace sweep left {len(failures)} behind: {'; '.join(failures)}")
    return removed


def register_undo_handlers() -> None:
    """Register this package's ledger undo handlers (done on import of :mod:`harness.netns`)."""
    register_undo(NETNS_KIND, undo_namespace)
