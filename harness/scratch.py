"""Per-run scratch directories (key files, the embedded service's audit trail) that a SIGKILL
cannot strand.

A ``finally`` removes a run's scratch directory on success, errors, Ctrl-C and SIGTERM, but not
when the harness is SIGKILLed: the per-run audit and PAN keys and the trail would stay in the temp
directory. So the directory is written to the ledger (:mod:`harness.ledger`) *before* it is
created, released after it is removed, and swept by the next ``run`` and by ``slo-harness
cleanup`` once its owner is dead. The undo removes only a directory named like one of ours,
directly inside the temp directory it was created in.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from harness.ledger import Ledger, LedgerEntry, SweepItem, UndoStatus, register_undo, sweep

__all__ = ["SCRATCH_KIND", "scratch_dir", "sweep_scratch"]

SCRATCH_KIND: Final = "scratch.dir"
_PREFIX: Final = "slo-embedded-"


def _undo(entry: LedgerEntry) -> UndoStatus:
    path = Path(str(entry.undo.get("path", "")))
    if not path.name.startswith(_PREFIX) or path.parent != Path(str(entry.undo.get("parent"))):
        return UndoStatus.FAILED  # not a directory this module made: never remove it
    if not path.exists():
        return UndoStatus.ALREADY_GONE
    shutil.rmtree(path, ignore_errors=True)
    return UndoStatus.FAILED if path.exists() else UndoStatus.REMOVED


register_undo(SCRATCH_KIND, _undo)


@contextlib.contextmanager
def scratch_dir(ledger: Ledger | None = None) -> Iterator[Path]:
    """A fresh 0700 directory in the temp dir, recorded in the ledger before it exists and
    removed (then released) at exit."""
    led = ledger or Ledger()
    parent = Path(tempfile.gettempdir())
    path = parent / f"{_PREFIX}{secrets.token_hex(8)}"
    entry = led.record(SCRATCH_KIND, str(path), {"path": str(path), "parent": str(parent)})
    try:
        path.mkdir(mode=0o700)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            led.release(entry)


def sweep_scratch(ledger: Ledger | None = None) -> list[SweepItem]:
    """Remove scratch directories whose harness process is gone (SIGKILL, crash)."""
    return sweep(ledger or Ledger(), kinds=[SCRATCH_KIND])
