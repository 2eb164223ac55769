"""Hole 9 of issue 10: SIGTERM or SIGINT to a run with two local workers ends with the one-line
message and exit 3, no traceback; nothing of the run is left in the temp directory; what it
measured is saved by the run itself as an incomplete report family (verified manifest)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.report import read_report, verify_report_dir

pytestmark = pytest.mark.slow

SCENARIO = """\
name: interrupt
mix:
  - {endpoint: score, weight: 1}
payload: {seed: 7, cards: 100}
phases:
  - {name: steady, kind: steady, rate: 100, duration_s: 60}
"""


def _start_two_worker_run(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """`slo-harness run` with two local workers in its own session; its TMPDIR."""
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
    return proc, tmp


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupting_a_two_worker_run_prints_one_line(tmp_path: Path, sig: int) -> None:
    """The process group gets the signal (as from a terminal or CI runner) mid-load: one line,
    exit 3, and the partial results saved as an incomplete, verifiable report saying why."""
    proc, tmp = _start_two_worker_run(tmp_path)
    out = tmp_path / "out"
    try:
        deadline = time.monotonic() + 45  # service up, workers joined: the log is attached
        while not (out / "latency.partial.hlog").exists():
            assert time.monotonic() < deadline, "the run never started its interval log"
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.2)
        time.sleep(3.0)  # load running (each interval is logged within about 2 s of its end)
        os.killpg(proc.pid, sig)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    text = err.decode(errors="replace")
    name = signal.Signals(sig).name
    assert "Traceback" not in text, text
    last = text.strip().splitlines()[-1]
    assert last.startswith(f"slo-harness: error: interrupted by {name} after"), text
    assert "partial results saved, marked incomplete" in last, text
    assert proc.returncode == 3
    assert not list(tmp.glob("slo-embedded-*")), "scratch directory left behind"
    assert verify_report_dir(out).ok
    assert not (out / "latency.partial.hlog").exists()  # latency.hlog holds the series now
    report = read_report(out)
    assert report.result.incomplete
    assert sum(p.counts.ok for p in report.result.phases) > 0
    assert any(f"interrupted by {name}" in r for r in report.verdict.reasons)
    assert f"interrupted by {name}" in (out / "summary.md").read_text()


def test_a_sigkilled_worker_mid_run_ends_the_run_and_leaves_nothing(tmp_path: Path) -> None:
    """One of two local workers is SIGKILLed mid-load (the OOM killer's way): the run stops within
    seconds with exit 3 and one line naming the worker (its share of the schedule is lost, so no
    verdict is claimed), no traceback, and no process or scratch directory of the run remains."""
    proc, tmp = _start_two_worker_run(tmp_path)
    try:
        workers: list[psutil.Process] = []
        deadline = time.monotonic() + 60
        while len(workers) < 2:  # bounded: both workers joined and serving
            assert time.monotonic() < deadline, "workers never started"
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.2)
            workers = [
                p
                for p in psutil.Process(proc.pid).children(recursive=True)
                if "harness.entrypoints.worker" in " ".join(p.cmdline())
            ]
        time.sleep(3.0)  # load running on both
        everything = psutil.Process(proc.pid).children(recursive=True)
        workers[0].kill()
        t0 = time.monotonic()
        _out, err = proc.communicate(timeout=60)
        stopped_after_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    text = err.decode(errors="replace")
    assert proc.returncode == 3, text
    assert "Traceback" not in text, text
    assert "worker process 0 exited with code -9" in text, text
    assert stopped_after_s < 15, stopped_after_s
    alive = [p for p in everything if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert _wait_gone(alive) == []
    assert not list(tmp.glob("slo-embedded-*")), "scratch directory left behind"


def _wait_gone(procs: list[psutil.Process]) -> list[int]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alive = [p.pid for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return []
        time.sleep(0.1)
    return alive
