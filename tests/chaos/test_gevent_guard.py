"""The guard under gevent monkey-patching, driven from greenlets as the game-day runner does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec

PROGRAM = Path(__file__).parent / "programs" / "gevent_driver.py"


def test_guard_in_greenlets_schedules_aborts_and_never_blocks_the_hub(tmp_path: Path) -> None:
    """Scheduled and aborted rollbacks from greenlets finish, verified, with the hub responsive."""
    env = {**os.environ, "SLO_HARNESS_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.run(
        [sys.executable, str(PROGRAM)], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    (line,) = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    result = msgspec.json.decode(line[7:])
    records = result["records"]
    assert result["done"]
    assert result["pause_seen"]
    assert not result["stopped_after"]
    assert result["entries"] == 0
    assert result["refused"] > 0  # injections after the abort are refused
    assert {r["status"] for r in records} == {"succeeded"}
    assert {r["trigger"] for r in records} == {"scheduled", "abort"}
    (pause,) = [r for r in records if r["fault"].startswith("pause")]
    assert pause["trigger"] == "scheduled"
    assert 0.25 <= pause["rolled_back_at_s"] - pause["injected_at_s"] <= 0.6
    # The 5 ms heartbeat never waited long: no rollback or inject blocked the hub.
    assert result["max_gap_s"] < 0.5, result["max_gap_s"]
