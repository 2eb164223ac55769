"""`slo-harness run --netpol`: the CI-gate load crosses the enforced PCI boundary (gateway ->
scorer namespaces), probes from every other namespace confirm denial during the run, and one
report carries both verdicts; an unapproved opening of the CDE makes the run exit 1. (Ctrl-C during
the load, which judges no time, is in test_lab_interrupt_e2e.py, in the parallel pass.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lab_support import K8S, NETPOL_SCENARIO, NETPOL_SLO
from run_support import run_measured

from harness.netns import list_namespaces

pytestmark = [pytest.mark.root, pytest.mark.slow]


# A change that opens the CDE's scorer to the batch namespace: not in the expectations (1.3.1).
OPENING = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: batch-to-scorer, namespace: payments-pci}
spec:
  podSelector: {matchLabels: {app: reference-service}}
  ingress:
    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: batch}}}]
      ports: [{port: 8080}]
"""


def _run(root: Path, *policies: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    """`run` with the boundary lab, under the test's ``netns_prefix`` (in the environment)."""
    (root / "slo.yaml").write_text(NETPOL_SLO)
    (root / "gate.yaml").write_text(NETPOL_SCENARIO)
    argv = [sys.executable, "-m", "harness.cli", "run", str(root / "gate.yaml"), "--no-progress"]
    argv += ["--out", str(root / "out"), "--boundary-interval-s", "1"]
    for path in (K8S / "base", *policies):
        argv += ["--netpol", str(path)]
    argv += [
        "--pods",
        str(K8S / "pci" / "pods.yaml"),
        "--expect",
        str(K8S / "pci" / "expectations.yaml"),
    ]
    done = run_measured(argv, out=root / "out", timeout=300)
    report = json.loads((root / "out" / "report.json").read_text())
    return done, report


def test_the_gate_load_crosses_the_hardened_boundary_and_denials_hold(
    tmp_path: Path, netns_prefix: str
) -> None:
    """Hardened set: load through gateway -> scorer, >= 3 timestamped rounds, boundary PASS."""
    done, report = _run(tmp_path, K8S / "policies" / "hardened")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert report["verdict"] in ("pass", "fail")  # the SLO verdict; never invalid here
    placement = report["target"]["placement"]
    assert placement["generator_netns"].endswith("-api-gateway")
    assert placement["service_netns"].endswith("-reference-service")
    boundary = report["pci"]["boundary"]
    assert boundary["status"] == "pass", boundary["reasons"]
    assert len(boundary["rounds"]) >= 3
    assert all(r["control"] == "allowed" and r["denied"] == 9 for r in boundary["rounds"])
    assert len({r["at"] for r in boundary["rounds"]}) == len(boundary["rounds"])
    if report["verdict"] == "pass":
        assert done.returncode == 0
    assert "PCI boundary: PASS" in done.stdout
    verify = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", "verify", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout
    assert list_namespaces(netns_prefix) == []


def test_an_unapproved_opening_of_the_cde_fails_the_run(tmp_path: Path, netns_prefix: str) -> None:
    """batch may reach the scorer: observed open under load, a 1.3.1 violation, exit 1."""
    opening = tmp_path / "opening.yaml"
    opening.write_text(OPENING)
    done, report = _run(tmp_path, K8S / "policies" / "hardened", opening)
    assert done.returncode == 1, done.stdout + done.stderr
    boundary = report["pci"]["boundary"]
    assert boundary["status"] == "fail"
    assert any("[1.3.1]" in r and "batch/" in r for r in boundary["reasons"])
    assert list_namespaces(netns_prefix) == []
