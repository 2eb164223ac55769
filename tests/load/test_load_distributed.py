"""Distributed runs: a master and local worker processes over Locust's own protocol."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from load_support import CHILD, ROOT, hist, run_child, scenario_json

from harness.measure.histogram import LatencyHistogram
from harness.testing import wait_until

PERCENTILES = (0.0, 10.0, 50.0, 90.0, 99.0, 99.9, 100.0)


def _from_logs(rows: list[list], start: int, end: int) -> LatencyHistogram:
    """One histogram fed with every OK sample's (end - start) // 1000, as the recorder does."""
    h = LatencyHistogram()
    for row in rows:
        if row[2] == "ok":
            h.record((row[end] - row[start]) // 1000)
    return h


@pytest.mark.slow
def test_two_workers_merge_exactly(bimodal_target: str, tmp_path: Path) -> None:
    """Each worker sends its half of the schedule; the master's merged histograms equal one
    histogram fed with every raw sample both workers logged (count, percentiles, buckets)."""
    env = {**os.environ, "SLO_HARNESS_REQUEST_LOG": str(tmp_path)}
    out = run_child(
        "run",
        scenario_json(
            target=bimodal_target,
            max_concurrency=16,
            phases=[{"name": "steady", "kind": "steady", "rate": 200, "duration_s": 4}],
        ),
        "--workers",
        "2",
        env=env,
    )
    logs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("requests-*.json"))]
    assert len(logs) == 2
    assert [len(rows) for rows in logs] == [400, 400]
    steady = out["phases"][0]
    assert steady["counts"]["sent"] == steady["counts"]["ok"] == 800
    assert out["workers"] == 2
    assert out["generator"]["cap"] == 16
    rows = [row for worker in logs for row in worker]
    for key, start in (("intended_ok", 3), ("service_ok", 4)):
        merged, truth = hist(steady[key]), _from_logs(rows, start, 5)
        assert merged.count == truth.count == 800
        assert merged.percentiles_us(PERCENTILES) == truth.percentiles_us(PERCENTILES)
        assert list(merged.buckets()) == list(truth.buckets())
    assert sum(i["ok"] for i in out["intervals"]) == 800
    # The workers' kept requests merge into the run's: its 20 slowest are the logs' 20 slowest.
    (tail,) = [t for t in out["tails"] if t["phase"] == "steady"]
    truth = sorted(((row[5] - row[3]) / 1e6 for row in rows), reverse=True)[:20]
    assert [t[1] for t in tail["slowest"]] == pytest.approx(truth, abs=1e-6)
    assert len({t[0] for t in tail["slowest"]}) == 20


def _workers_of(pid: int, n: int) -> list[psutil.Process] | None:
    """The run's ``n`` worker processes, once they all exist."""
    try:
        procs = [
            p
            for p in psutil.Process(pid).children(recursive=True)
            if "harness.entrypoints.worker" in " ".join(p.cmdline())
        ]
    except psutil.Error:
        return None
    return procs if len(procs) >= n else None


def _sending(workers: list[psutil.Process], url: str) -> bool:
    """Every worker holds an established connection to the target: load is flowing."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        return all(
            any(c.raddr and c.raddr.port == port for c in w.net_connections("tcp")) for w in workers
        )
    except psutil.Error:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_no_worker_outlives_its_master(bimodal_target: str, sig: signal.Signals) -> None:
    """Ctrl-C (SIGINT) on a distributed run stops its workers; so does the master being killed
    outright (each worker watches its parent)."""
    spec = scenario_json(
        target=bimodal_target,
        phases=[{"name": "steady", "kind": "steady", "rate": 50, "duration_s": 60}],
    )
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), "run", spec, "--workers", "2"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        workers = wait_until(lambda: _workers_of(proc.pid, 2), timeout_s=30, what="2 workers")
        wait_until(lambda: _sending(workers, bimodal_target), timeout_s=30, what="worker load")
        proc.send_signal(sig)
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, [p.pid for p in alive]
        assert len(gone) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
