"""A game day starts by sweeping what a SIGKILLed harness left behind (the chaos core's
sweep_on_start), before anything else is set up."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import psutil
import pytest

from harness.chaos import FakeFault, PauseFault, ProcessRef
from harness.chaos.factory import FaultContext, FaultFactory, Stage
from harness.errors import FaultError
from harness.files import atomic_write_bytes
from harness.gameday_job import GameDayRequest, run_gameday
from harness.ledger import Ledger, LedgerEntry

ROOT = Path(__file__).resolve().parents[2]
STALL = ROOT / "scenarios" / "gamedays" / "service-stall.yaml"


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _orphan(ledger: Ledger, fault: PauseFault) -> None:
    """The ledger entry a harness SIGKILLed mid-fault leaves: its owner is gone."""
    undo = fault.undo_entry()
    entry = LedgerEntry(
        kind=undo.kind,
        key=undo.key,
        undo=dict(undo.undo),
        owner_pid=_dead_pid(),
        owner_start_s=1.0,
        created_ns=time.time_ns(),
        entry_id=f"{time.time_ns():020d}-orphan",
    )
    ledger.directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(ledger.directory / f"{entry.entry_id}.json", msgspec.json.encode(entry))


def test_orphans_are_swept_before_the_game_day_sets_anything_up(tmp_path: Path) -> None:
    """A process left SIGSTOPped by a dead harness is resumed and its entry released when the
    next game day starts, even if that game day then fails to set up its environment."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        fault = PauseFault(ProcessRef.of(sleeper.pid))
        fault.inject()
        assert psutil.Process(sleeper.pid).status() == psutil.STATUS_STOPPED
        ledger = Ledger(tmp_path / "state")
        _orphan(ledger, fault)

        @contextlib.contextmanager
        def boom(ctx: FaultContext) -> Iterator[FaultContext]:
            raise FaultError("environment refused (test)")
            yield ctx

        factory = FaultFactory()
        factory.register("pause", lambda spec, ctx: FakeFault(), environment="boom")
        factory.register_environment("boom", Stage.BEFORE_SERVICE, boom)
        with pytest.raises(FaultError, match="environment refused"):
            run_gameday(
                GameDayRequest(file=STALL, out=tmp_path / "out", progress=False),
                factory=factory,
                ledger=ledger,
            )
        for _ in range(100):  # bounded: SIGCONT is delivered asynchronously
            if psutil.Process(sleeper.pid).status() != psutil.STATUS_STOPPED:
                break
            time.sleep(0.01)
        assert psutil.Process(sleeper.pid).status() != psutil.STATUS_STOPPED
        assert ledger.entries() == []
    finally:
        sleeper.kill()
        sleeper.wait()
