"""The kill switch: orphans removed, live owners' entries kept unless --all, failures exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from harness.chaos import CleanupStatus, cleanup, render_cleanup, sweep_on_start
from harness.ledger import Ledger, LedgerEntry, UndoStatus, register_undo
from harness.netns import default_prefix, list_namespaces

_undone: list[str] = []


def _undo(entry: LedgerEntry) -> UndoStatus:
    _undone.append(entry.key)
    return UndoStatus.REMOVED


register_undo("test.cleanup", _undo)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    _undone.clear()
    return Ledger(tmp_path / "state")


def _orphan(ledger: Ledger, kind: str, key: str) -> None:
    """An entry whose owner is a process that has exited (as after a SIGKILL)."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    entry = ledger.record(kind, key, {})
    ledger.release(entry)
    fields = {f: getattr(entry, f) for f in entry.__struct_fields__}
    forged = LedgerEntry(**{**fields, "owner_pid": int(dead.stdout)})
    (ledger.directory / f"{forged.entry_id}.json").write_bytes(msgspec.json.encode(forged))


def test_sweep_on_start_removes_orphans_and_keeps_live_entries(ledger: Ledger) -> None:
    """The next-start sweep undoes a dead owner's entry and leaves a live owner's alone."""
    _orphan(ledger, "test.cleanup", "dead")
    ledger.record("test.cleanup", "live", {})
    report = sweep_on_start(ledger)
    assert _undone == ["dead"]
    assert {i.key: i.status for i in report.items} == {
        "dead": CleanupStatus.REMOVED,
        "live": CleanupStatus.LIVE_OWNER,
    }
    assert report.clean
    assert [e.key for e in ledger.entries()] == ["live"]


def test_all_includes_live_entries_and_dry_run_changes_nothing(ledger: Ledger) -> None:
    """--dry-run lists without undoing (not clean); --all undoes live owners' entries too."""
    ledger.record("test.cleanup", "live", {})
    dry = cleanup(ledger, everything=True, dry_run=True)
    assert [i.status for i in dry.items] == [CleanupStatus.WOULD_REMOVE]
    assert not dry.clean
    assert "would be removed" in render_cleanup(dry)
    assert _undone == []
    assert len(ledger.entries()) == 1
    done = cleanup(ledger, everything=True)
    assert _undone == ["live"]
    assert done.clean
    assert ledger.entries() == []
    assert render_cleanup(cleanup(ledger)) == "nothing to clean up"


def test_cli_exit_1_names_what_could_not_be_removed(ledger: Ledger) -> None:
    """An entry nobody can undo: the kill switch prints it as FAILED and exits 1."""
    _orphan(ledger, "test.nobody-handles-this", "stuck")
    env = {**os.environ, "SLO_HARNESS_STATE_DIR": str(ledger.state_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "chaos", "cleanup"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED" in proc.stdout
    assert "stuck" in proc.stdout
    assert "could NOT be removed" in proc.stdout
    assert len(ledger.entries()) == 1


@pytest.mark.root
def test_all_sweeps_namespaces_with_the_project_prefix(ledger: Ledger) -> None:
    """--all also removes namespaces named with the project prefix (ledger or not)."""
    name = f"{default_prefix()}orphan"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        dry = cleanup(ledger, everything=True, dry_run=True)
        assert dry.namespaces == (name,)
        assert not dry.clean
        assert name in list_namespaces(default_prefix())
        done = cleanup(ledger, everything=True)
        assert done.namespaces == (name,)
        assert done.clean
        assert list_namespaces(default_prefix()) == []
    finally:
        if name in list_namespaces(default_prefix()):
            subprocess.run(["ip", "netns", "delete", name], check=False, timeout=30)
