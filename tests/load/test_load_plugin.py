"""Locust plugin mode: ``locust -f <scenario>.py`` with Locust's own command line."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from load_support import ROOT
from run_support import run_measured

from harness.measure.hlog import read_hlog

SCENARIOS = ROOT / "scenarios"


def _locust(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Locust's own command line; a headless run is repeated (at most twice) when the generator,
    not the plugin, made it INVALID (schedule lag on the shared machine: exit 3 with the reason)."""
    return run_measured([sys.executable, "-m", "locust", *args], cwd=cwd, timeout=timeout)


def _plugin_dir(tmp_path: Path, yaml_text: str) -> Path:
    (tmp_path / "quick.yaml").write_text(yaml_text)
    shutil.copy(SCENARIOS / "steady.py", tmp_path / "quick.py")
    return tmp_path


# Loose generator limits: these tests are about the plugin (its summary, hlog, overrides, exit
# codes); at load average 9 the schedule lag p99 passed the default bar in three runs of three.
# The generator's own timing is judged in test_load_run.py and benchmarks/bench_generator.py.
QUICK = """\
name: quick
max_concurrency: 16
generator: {max_cpu_percent: 100, max_lag_p99_ms: 500}
phases:
  - {name: warmup, kind: warmup, rate: 50, duration_s: 1}
  - {name: steady, kind: steady, rate: 100, duration_s: 2}
"""


@pytest.mark.slow
def test_headless_locust_run_prints_the_hdr_summary(bimodal_target: str, tmp_path: Path) -> None:
    """``locust -f quick.py --headless`` runs the scenario's schedule (the shape holds the users
    at the cap and ends the test), prints the HDR summary, writes the hlog and exits 0."""
    folder = _plugin_dir(tmp_path, QUICK)
    proc = _locust(
        *("-f", "quick.py", "--headless", "--host", bimodal_target, "--only-summary"),
        *("--slo-hlog", "out.hlog", "--slo-summary-json", "summary.json"),
        cwd=folder,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "slo-harness summary: quick" in proc.stdout
    assert "generator: valid" in proc.stdout
    summary = json.loads((folder / "summary.json").read_text())
    steady = next(p for p in summary["phases"] if p["name"] == "steady")
    assert steady["requests"]["sent"] == steady["requests"]["ok"] == 200
    assert {e: r["statuses"] for e, r in steady["responses"].items()} == {"score": {"200": 200}}
    assert "score: 200: 200" in proc.stdout
    assert not list(folder.glob(".summary.json.*"))  # written via temp file + os.replace
    # On the target's modes, with room for a busy 2-core machine (the benchmark is exact): the
    # p50 sits on the 2 ms mode (never below: the target sleeps 2 ms), under a quarter of the
    # 40 ms one (a CI run at load saw 4.3 ms); the p99 is among the 4 slow requests of 200.
    assert 2.0 <= steady["latency_ms"]["p50"] < 10.0
    assert steady["latency_ms"]["p99"] >= 40.0
    intervals = read_hlog(folder / "out.hlog")
    assert sum(i.histogram.count for i in intervals) == 250
    # Locust's own stats table saw the same requests (fired through events.request).
    assert "Aggregated" in proc.stderr + proc.stdout


@pytest.mark.slow
def test_rate_and_duration_overrides(bimodal_target: str, tmp_path: Path) -> None:
    """``--slo-rate``/``--slo-duration`` replace the main phase's rate and length."""
    folder = _plugin_dir(tmp_path, QUICK)
    proc = _locust(
        *("-f", "quick.py", "--headless", "--host", bimodal_target, "--only-summary"),
        *("--slo-rate", "60", "--slo-duration", "1", "--slo-summary-json", "s.json"),
        cwd=folder,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((folder / "s.json").read_text())
    steady = next(p for p in summary["phases"] if p["name"] == "steady")
    assert steady["requests"]["sent"] == 60


@pytest.mark.parametrize("name", ["steady", "ramp", "spike", "soak"])
def test_shipped_locustfiles_load(name: str) -> None:
    """Each shipped ``scenarios/<name>.py`` loads its YAML and exposes the user and the shape."""
    proc = _locust("-f", f"{name}.py", "--list", cwd=SCENARIOS)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "SloUser" in proc.stdout


def test_a_malformed_scenario_exits_2_with_its_path(tmp_path: Path) -> None:
    """A bad rate in the YAML: exit 2, the message names the file and the field path."""
    folder = _plugin_dir(tmp_path, QUICK.replace("rate: 100", "rate: fast"))
    proc = _locust("-f", "quick.py", "--list", cwd=folder)
    assert proc.returncode == 2
    assert "quick.yaml" in proc.stderr
    assert "rate" in proc.stderr
    assert "Traceback" not in proc.stderr


BAD_SLOS = {
    "unknown metric": (
        "objectives:\n  - {metric: latency_p99, op: '<', threshold_ms: 50}\n",
        "$.objectives[0]",
    ),
    "unknown phase": (
        "objectives:\n  - {metric: latency, percentile: p99, op: '<', threshold_ms: 50,"
        " phase: stedy}\n",
        "$.objectives[0].phase",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SLOS))
def test_a_malformed_slo_exits_2_before_any_load(case: str, tmp_path: Path) -> None:
    """The scenario's SLO file is checked when the locustfile loads: a bad one (schema, or a
    phase the scenario lacks) ends a headless run at once with exit 2 and one line naming the
    file and field, no traceback, before any probe or request."""
    body, field = BAD_SLOS[case]
    (tmp_path / "slo.yaml").write_text(f"apiVersion: slo-harness/v1\nname: bad\n{body}")
    folder = _plugin_dir(tmp_path, "slo: slo.yaml\n" + QUICK)
    with socket.socket() as s:  # a loopback port nobody listens on: a probe would fail (exit 3)
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    started = time.monotonic()
    proc = _locust("-f", "quick.py", "--headless", "--host", closed, cwd=folder, timeout=30)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "slo-harness: error" in line]
    assert len(errors) == 1, proc.stderr[-2000:]
    assert "slo.yaml" in errors[0]
    assert field in errors[0]
    assert "Traceback" not in proc.stderr
    assert "Starting" not in proc.stderr  # Locust never started a test
    assert time.monotonic() - started < 20
