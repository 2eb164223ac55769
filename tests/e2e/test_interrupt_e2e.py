"""Hole 9 of issue 10: SIGTERM or SIGINT to a run with two local workers ends with the one-line
message and exit 3, no traceback; nothing of the run is left in the temp directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCENARIO = """\
name: interrupt
mix:
  - {endpoint: score, weight: 1}
payload: {seed: 7, cards: 100}
phases:
  - {name: steady, kind: steady, rate: 100, duration_s: 60}
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupting_a_two_worker_run_prints_one_line(tmp_path: Path, sig: int) -> None:
    """The process group gets the signal (as from a terminal or CI runner) mid-load."""
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp), "SLO_HARNESS_STATE_DIR": str(tmp_path / "state")}
    args = [sys.executable, "-m", "harness.cli", "run", str(scenario), "--workers", "2"]
    args += ["--no-progress", "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        time.sleep(15)  # service up, workers joined, load running
        assert proc.poll() is None
        os.killpg(proc.pid, sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    text = err.decode(errors="replace")
    assert "Traceback" not in text, text
    assert text.strip().splitlines()[-1].startswith("slo-harness: error: interrupted"), text
    assert proc.returncode == 3
    assert not list(tmp.glob("slo-embedded-*")), "scratch directory left behind"
