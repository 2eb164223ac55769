"""Helpers of the load tests: harness.load runs in fresh child processes (Locust monkey-patches
any process that imports it; pytest's must stay clean). The known-latency target is
``harness.testing.latency_target``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec

from harness.measure import nearest_rank
from harness.measure.histogram import LatencyHistogram

ROOT = Path(__file__).resolve().parents[2]

CHILD = Path(__file__).with_name("_child.py")


def scenario_json(**fields: Any) -> str:
    """A scenario (plain fields, as in YAML) validated through the real spec, as JSON."""
    from harness.spec.scenario import Scenario

    return msgspec.json.encode(msgspec.convert({"name": "test", **fields}, Scenario)).decode()


def run_child(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> dict[str, Any]:
    """Run ``_child.py`` with ``args``; return its JSON (stderr attached on failure)."""
    proc = subprocess.run(
        [sys.executable, str(CHILD), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["_stderr"] = proc.stderr
    return out


def hist(data: dict[str, Any]) -> LatencyHistogram:
    """Decode a histogram printed by the child."""
    if not data["encoded"]:
        return LatencyHistogram(out_of_range=data["oor"])
    return LatencyHistogram.decode(data["encoded"], data["oor"])


def analytic_stall_p99_ms(rate: float, duration_s: float, stall_s: float) -> float:
    """p99 (ms) of an open-model run at ``rate`` for ``duration_s`` against a target that holds
    every response for ``stall_s`` once: the arrival at offset t into the stall waits stall_s - t.

    The p99 is the sample of nearest rank ceil(0.99 N); the N - rank samples above it are the
    first arrivals of the stall, so p99 = stall_s - (N - rank) / rate (30 s at 200/s: 0.7 s).
    """
    n = round(rate * duration_s)
    above = n - nearest_rank(99.0, n)
    return (stall_s - above / rate) * 1000.0
