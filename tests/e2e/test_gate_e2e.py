"""The CI gate end to end: `slo-harness run` / `compare` / `report verify` as a pipeline runs them.

Each test drives the real reference service over loopback with the real load engine; runs are
short (a few seconds of load) so the module stays around a minute.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from run_support import cli, run_measured

from harness.target import launch_reference_service

pytestmark = pytest.mark.slow

# 1,500 requests in the judged phase: enough for p99 (needs 1,000) and for "error rate < 0.1%".
# Sent in 3 s at 500/s rather than 6 s at 250/s: the same samples in half the CI time (this
# module runs five gate runs in the serial pass); the service's capacity is far above 500/s.
SCENARIO = """\
name: gate
slo: {slo}
mix:
  - {{endpoint: score, weight: 1}}
payload: {{seed: 7, cards: 500}}
phases:
  - {{name: warmup, kind: warmup, rate: 200, duration_s: 1}}
  - {{name: steady, kind: steady, rate: 500, duration_s: 3}}
"""
SLO = """\
name: gate
objectives:
  - {metric: latency, percentile: p99, op: "<", threshold_ms: 50}
  - {metric: error_rate, op: "<", threshold: 0.001}
"""


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return cli(*args, timeout=timeout)


def _run(scenario: Path, target: str, out: Path) -> subprocess.CompletedProcess[str]:
    """`run` against ``target``, again (at most twice) if the generator made it INVALID."""
    argv = [sys.executable, "-m", "harness.cli", "run", str(scenario), "--target", target]
    return run_measured([*argv, "--out", str(out), "--no-progress"], out=out)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gate")
    (root / "slo.yaml").write_text(SLO)
    path = root / "gate.yaml"
    path.write_text(SCENARIO.format(slo="slo.yaml"))
    return path


def _service(delay_ms: float) -> Iterator[str]:
    """The reference service with its durable audit trail on tmpfs when there is one.

    These tests judge the harness's gate, not the disk: right after a fresh install the page
    cache still holds a gigabyte of dirty pages, and an ext4 fsync then waits for their writeback
    (stalls of 100-300 ms were seen), which would fail the SLO for reasons outside both.
    """
    extra = ("--debug-handler-delay-ms", str(delay_ms)) if delay_ms else ()
    shm = Path("/dev/shm")
    with contextlib.ExitStack() as stack:
        audit_dir = None
        if shm.is_dir() and os.access(shm, os.W_OK):
            audit_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=shm))) / "audit"
        url = stack.enter_context(launch_reference_service(audit_dir=audit_dir, extra_args=extra))
        yield url


@pytest.fixture(scope="module")
def fast_target() -> Iterator[str]:
    yield from _service(0)


@pytest.fixture(scope="module")
def slow_target() -> Iterator[str]:
    """Every score waits 60 ms inside the handler: p99 cannot be under 50 ms."""
    yield from _service(60)


@pytest.fixture(scope="module")
def passing_run(scenario: Path, fast_target: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "pass"
    proc = _run(scenario, fast_target, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verdict: PASS" in proc.stdout
    return out


def test_passing_run_exits_0_and_writes_the_family(passing_run: Path) -> None:
    """A run inside its SLO exits 0 and writes every artifact plus a manifest that verifies."""
    for name in ("report.json", "junit.xml", "summary.md", "report.html", "windows.csv"):
        assert (passing_run / name).stat().st_size > 0, name
    assert (passing_run / "latency.hlog").exists()
    proc = _cli("report", "verify", str(passing_run))
    assert proc.returncode == 0, proc.stdout


def test_edited_artifact_fails_report_verify(passing_run: Path, tmp_path: Path) -> None:
    """Changing one number in a copy of the report makes `report verify` exit 1 naming the file."""
    copy = tmp_path / "copy"
    shutil.copytree(passing_run, copy)
    summary = copy / "summary.md"
    summary.write_text(summary.read_text().replace("PASS", "PASS ", 1))
    proc = _cli("report", "verify", str(copy))
    assert proc.returncode == 1
    assert "summary.md" in proc.stdout


def test_slowed_target_exits_1_with_junit_failure(
    scenario: Path, slow_target: str, tmp_path: Path
) -> None:
    """A target slowed past the SLO exits 1; junit.xml has a failure naming the p99 objective."""
    out = tmp_path / "slow"
    proc = _run(scenario, slow_target, out)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "verdict: FAIL" in proc.stdout
    failures = [
        case
        for case in ET.parse(out / "junit.xml").getroot().iter("testcase")
        if case.find("failure") is not None
    ]
    names = [case.get("name", "") for case in failures]
    assert any("p99" in name for name in names), names
    message = failures[0].find("failure")
    assert message is not None
    assert "50" in (message.get("message", "") + (message.text or ""))


def test_malformed_slo_exits_2_before_any_load(scenario: Path, tmp_path: Path) -> None:
    """A malformed SLO file exits 2 naming file and field; no output directory is created."""
    bad = tmp_path / "bad-slo.yaml"
    bad.write_text("name: x\nobjectives:\n  - {metric: latency, percentile: p99, op: '<'}\n")
    out = tmp_path / "out"
    proc = _cli("run", str(scenario), "--slo", str(bad), "--out", str(out), "--no-progress")
    assert proc.returncode == 2, proc.stderr
    assert str(bad) in proc.stderr
    assert "objectives[0]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_compare_same_target_is_not_a_regression(
    scenario: Path, fast_target: str, passing_run: Path, tmp_path: Path
) -> None:
    """A rerun against the same target is not flagged by `compare` (exit 0).

    Two runs seconds apart on a shared 2-core box can differ for reasons outside both (one CI
    run saw a rerun's p99 at 18 ms against 7.5 ms, with the disk's fsync stage named as what
    moved): `compare`'s bootstrap bounds cover sampling noise, not a neighbour's burst. So the
    rerun is made at most twice; a gate that flags the same target every time still fails.
    """
    for attempt in range(2):
        rerun = tmp_path / f"rerun{attempt}"
        proc = _run(scenario, fast_target, rerun)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        proc = _cli("compare", str(passing_run), str(rerun))
        if proc.returncode == 0:
            break
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compare_flags_a_twenty_percent_p99_regression(scenario: Path, tmp_path: Path) -> None:
    """A handler slowed from 40 ms to 48 ms (p99 about +20%) is flagged by `compare` (exit 1).

    The pair is measured at most twice: one CI run saw the 40 ms baseline's p99 at 56 ms (a
    burst on the shared box inside that run), which hides a +20% change; a gate that never
    flags the slower handler still fails.
    """
    for attempt in range(2):
        runs = {}
        for label, delay in (("base", 40), ("slower", 48)):
            with contextlib.ExitStack() as stack:
                url = stack.enter_context(contextlib.contextmanager(_service)(delay))
                runs[label] = tmp_path / f"{label}{attempt}"
                proc = _run(scenario, url, runs[label])
                assert proc.returncode in (0, 1), proc.stdout + proc.stderr
        proc = _cli("compare", str(runs["base"]), str(runs["slower"]))
        if proc.returncode == 1:
            break
    assert proc.returncode == 1, proc.stdout
    assert "REGRESSED" in proc.stdout
    assert "percentile_ci" in proc.stdout or "shift_test" in proc.stdout
