"""`slo-harness run --lab`: generator and reference service in their own network namespaces, a
normal verdict, the placement in report.json, and nothing left behind. (SIGTERM during a lab run,
which judges no time, is in test_lab_interrupt_e2e.py, in the parallel pass.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lab_support import lab_cmd, lab_setup
from run_support import run_measured

from harness.netns import list_namespaces

pytestmark = pytest.mark.slow


@pytest.mark.root
def test_run_lab_gives_a_normal_verdict_and_records_the_placement(
    tmp_path: Path, netns_prefix: str
) -> None:
    """A 5 s scenario with --lab: PASS/FAIL (not INVALID), target 198.18.0.2, lab gone after."""
    prefix = netns_prefix
    scenario = lab_setup(tmp_path, steady_s=4)
    out = tmp_path / "out"
    done = run_measured(lab_cmd(scenario, out, "--lab"), out=out, timeout=240)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["verdict"] in ("pass", "fail")
    target = report["target"]
    assert target["url"] == "http://198.18.0.2:8080"
    assert target["started_by_harness"] is True
    placement = target["placement"]
    assert placement["generator_netns"].startswith(prefix)
    assert placement["generator_netns"].endswith("-gen")
    assert placement["service_netns"].endswith("-svc")
    assert placement["lab"].startswith(prefix)
    assert report["audit"]["intact"] is True
    assert list_namespaces(prefix) == []
    assert not any((tmp_path / "state" / "ledger").glob("*.json"))
