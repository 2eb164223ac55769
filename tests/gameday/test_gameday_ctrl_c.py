"""Ctrl-C in the middle of a game day's fault, through the real command line: the fault is rolled
back and verified gone, the journal says interrupted. It judges exit codes, the journal and what
is left running, never a time: it runs in the parallel pass (tests/conftest.py), apart from
test_gameday_e2e.py's timed detection windows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from gd_support import GAMEDAY

CLI = ("-m", "harness.cli")


@pytest.mark.slow
def test_ctrl_c_during_a_fault_rolls_it_back_and_journals_the_interruption(tmp_path: Path) -> None:
    """SIGINT while the service is stopped: the fault is rolled back and verified gone, the
    journal (alone) says interrupted with the rollback, the ledger is empty, no process of the run
    is left stopped; exit 3."""
    gd = tmp_path / "gd.yaml"
    gd.write_text(
        GAMEDAY.format(
            abort="{signal: error_rate, above: 0.99, for: 60s}", duration="100s", extra=""
        )
    )
    out = tmp_path / "out"
    env = {**os.environ, "SLO_HARNESS_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.Popen(
        [sys.executable, *CLI, "gameday", str(gd), "--out", str(out), "--time-scale",
         "0.1", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # bounded by the child's own run (at most ~20 s)
            if "stall:" in line and "ACTIVE" in line:
                break
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 3, rest
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == "interrupted"
    (rollback,) = journal["rollbacks"]
    assert rollback["status"] == "succeeded"
    assert rollback["verified_gone"] is True
    assert list((tmp_path / "state" / "ledger").glob("*.json")) == []
    stopped = [
        p.pid
        for p in psutil.process_iter(["status", "cmdline"])
        if p.info["status"] == psutil.STATUS_STOPPED
        and "reference_service" in (p.info["cmdline"] or [])
    ]
    assert stopped == []
