"""The ledger: intent entries survive their owner and are swept newest first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.ledger import Ledger, LedgerEntry, UndoStatus, owner_alive, register_undo, sweep


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "state")


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def test_record_is_on_disk_and_owned_by_this_live_process(ledger: Ledger) -> None:
    """A recorded entry is readable back and its owner (this process) counts as alive."""
    entry = ledger.record("test.kind", "thing-1", {"path": "/x"})
    assert ledger.entries() == [entry]
    assert owner_alive(entry)
    assert ledger.orphans() == []


def test_sweep_undoes_only_orphans_newest_first(ledger: Ledger) -> None:
    """Entries of a dead owner are undone newest first and released; live owners' stay."""
    undone: list[str] = []

    def undo(entry: LedgerEntry) -> UndoStatus:
        undone.append(entry.key)
        return UndoStatus.REMOVED

    register_undo("test.orphan", undo)
    live = ledger.record("test.orphan", "live", {})
    dead_pid = _dead_pid()
    for key in ("old", "new"):
        entry = ledger.record("test.orphan", key, {})
        forged = LedgerEntry(
            **{**{f: getattr(entry, f) for f in entry.__struct_fields__}, "owner_pid": dead_pid}
        )
        ledger.release(entry)
        (ledger.directory / f"{forged.entry_id}.json").write_bytes(
            __import__("msgspec").json.encode(forged)
        )
    items = sweep(ledger)
    assert undone == ["new", "old"]
    assert all(i.status is UndoStatus.REMOVED for i in items)
    assert ledger.entries() == [live]


def test_failed_undo_keeps_the_entry_and_everything_sweeps_live_owners(ledger: Ledger) -> None:
    """A failing handler leaves its entry for the next sweep; ``everything`` includes live ones."""
    register_undo("test.fails", lambda e: UndoStatus.FAILED)
    register_undo("test.raises", lambda e: (_ for _ in ()).throw(OSError("boom")))
    a = ledger.record("test.fails", "a", {})
    b = ledger.record("test.raises", "b", {})
    c = ledger.record("test.unknown", "c", {})
    items = {i.entry.key: i for i in sweep(ledger, everything=True)}
    assert items["a"].status is UndoStatus.FAILED
    assert items["b"].status is UndoStatus.FAILED
    assert "boom" in items["b"].detail
    assert items["c"].status is UndoStatus.NO_HANDLER
    assert {e.key for e in ledger.entries()} == {a.key, b.key, c.key}


def test_unreadable_entry_files_are_skipped(ledger: Ledger) -> None:
    """A torn file never breaks a sweep."""
    ledger.record("test.kind", "ok", {})
    (ledger.directory / "torn.json").write_bytes(b"{not json")
    assert [e.key for e in ledger.entries()] == ["ok"]


def test_a_zombie_owner_is_dead(ledger: Ledger) -> None:
    """An owner killed but not yet reaped (a zombie) will undo nothing: its entries are orphans."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        entry = ledger.record("test.kind", "z", {})
        ledger.release(entry)
        start = psutil.Process(proc.pid).create_time()
        fields = {f: getattr(entry, f) for f in entry.__struct_fields__}
        forged = LedgerEntry(**{**fields, "owner_pid": proc.pid, "owner_start_s": start})
        assert owner_alive(forged)
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not owner_alive(forged)
    finally:
        proc.kill()
        proc.wait()
