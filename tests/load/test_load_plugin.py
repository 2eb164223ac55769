"""Locust plugin mode: ``locust -f <scenario>.py`` with Locust's own command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from load_support import ROOT

from harness.measure.hlog import read_hlog

SCENARIOS = ROOT / "scenarios"


def _locust(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "locust", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def _plugin_dir(tmp_path: Path, yaml_text: str) -> Path:
    (tmp_path / "quick.yaml").write_text(yaml_text)
    shutil.copy(SCENARIOS / "steady.py", tmp_path / "quick.py")
    return tmp_path


QUICK = """\
name: quick
max_concurrency: 16
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
    assert (
        2.0 <= steady["latency_ms"]["p50"] < 4.0
    )  # loose: shared CI cores (the benchmark is exact)
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
