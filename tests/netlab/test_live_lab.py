"""The live enforcement lab on real namespaces and nftables (root): observed vs predicted vs
expected on the reference manifests, a policy change, the positive control. (The lab's cleanup,
which judges no time, is tested in test_live_lab_cleanup.py, in the parallel pass.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from netlab_support import BASE, EXPECT, HARDENED, ISSUE8, PODS, reference_matrix

from harness.netns import Hook, NftTable, apply_table, chain_text
from harness.netpol import (
    DenyAction,
    Matrix,
    Observation,
    PolicyLab,
    agent,
    probe_flows,
)
from harness.netpol_job import NetpolInputs, OutputFormat
from harness.netpol_live_job import LiveOptions, live_job

pytestmark = pytest.mark.root

_FAST = LiveOptions(tries=2, timeout_s=0.3, parallel=32, service=None)


def _live(paths: tuple[Path, ...], options: LiveOptions, pods: Path = PODS, **kw: Any) -> Any:
    inputs = NetpolInputs(paths, pods, "payments-pci", EXPECT)
    outcome = live_job(
        inputs, check_expectations=True, options=options, fmt=OutputFormat.JSON, **kw
    )
    return outcome, json.loads(outcome.output)


def test_hardened_set_observed_equals_predicted_with_the_real_service(
    lab_prefix: str, tmp_path: Path
) -> None:
    """Hardened set: every flow as predicted, no expectation violated, the real scorer probed."""
    outcome, doc = _live((BASE, HARDENED), LiveOptions(), out=tmp_path / "evidence")
    run = doc["run"]
    assert run["enforcement_verified"] is True
    assert (run["wrong"], run["no_value"], run["correct"]) == (0, 0, 100)
    assert doc["violations"] == []
    assert not outcome.violated
    assert "reference_service" in doc["stats"]["service"]
    control = run["control"]
    assert (control["to"], control["port"], control["observed"]) == (
        "payments-pci/reference-service",
        8080,
        "allowed",
    )
    udp = [r for r in run["results"] if r["protocol"] == "UDP"]
    assert udp
    assert {r["observed"] for r in udp} == {"allowed", "blocked"}
    assert all(a["at"].endswith("+00:00") for r in run["results"] for a in r["attempts"])
    pci = json.loads((tmp_path / "evidence" / "pci.json").read_text())
    assert pci["probes"][0]["method"] == "live-lab"
    status = {r["id"]: r["status"] for r in pci["requirements"]}
    assert status["11.4.5"] == "met"


def test_issue8_policy_shows_open_cde_egress_and_all_ports(lab_prefix: str, tmp_path: Path) -> None:
    """The issue's policy: CDE egress observed open (1.3.2), every port open to a gateway-labelled
    pod inside the CDE namespace, the approved gateway flow blocked (1.2.1); as predicted."""
    pods = tmp_path / "pods.yaml"
    text = PODS.read_text()
    extra = "  - namespace: payments-pci\n    name: debug-shell\n    labels: {role: api-gateway}\n"
    pods.write_text(text.replace("external:\n", extra + "external:\n"))
    outcome, doc = _live((BASE, ISSUE8), _FAST, pods=pods)
    assert outcome.violated
    assert doc["run"]["wrong"] == 0
    assert doc["run"]["enforcement_verified"]
    seen = {(v["from"], v["to"], v["port"]): v["requirement"] for v in doc["violations"]}
    assert seen[("payments-pci/reference-service", "batch/report-builder", 8080)] == "1.3.2"
    assert seen[("gateway/api-gateway", "payments-pci/reference-service", 8080)] == "1.2.1"
    shell = {(to, port) for (src, to, port) in seen if src == "payments-pci/debug-shell"}
    assert {
        ("payments-pci/reference-service", 8080),
        ("payments-pci/feature-store", 6379),
        ("payments-pci/audit-sink", 6514),
    } <= shell


def test_a_policy_change_between_runs_is_reflected(lab_prefix: str) -> None:
    """Re-applying changed policies to the same hosts changes what the probes observe."""
    hardened, loose = reference_matrix(BASE, HARDENED), reference_matrix(BASE, ISSUE8)
    refs = [e.ref for e in hardened.endpoints]
    scorer = refs.index("payments-pci/reference-service")
    to_batch = next(
        k
        for k, s in enumerate(hardened.slots)
        if hardened.endpoints[s.endpoint].name == "report-builder"
    )
    with PolicyLab.build(hardened, deny=DenyAction.REJECT) as lab:
        first = probe_flows(
            hardened, lab.prober(), method="live-lab", tries=2, timeout_s=0.3, parallel=32
        )
        lab.apply(loose)
        second = probe_flows(
            loose, lab.prober(), method="live-lab", tries=2, timeout_s=0.3, parallel=32
        )
    assert first.wrong == 0
    assert second.wrong == 0
    assert first.enforcement_verified
    assert second.enforcement_verified

    def seen(run: Any, src: int, slot: int, matrix: Matrix) -> Observation:
        s = matrix.slots[slot]
        return next(
            r.observed
            for r in run.results
            if r.from_ == refs[src] and r.to == refs[s.endpoint] and r.port == s.port
        )

    assert seen(first, scorer, to_batch, hardened) is Observation.BLOCKED
    assert seen(second, scorer, to_batch, loose) is Observation.ALLOWED


def test_a_failed_positive_control_never_reads_as_isolated(lab_prefix: str) -> None:
    """When nothing connects (enforcement broken), the run is 'not verified', with no results."""
    matrix = reference_matrix(BASE, HARDENED)
    with PolicyLab.build(matrix, deny=DenyAction.REJECT) as lab:
        for host in lab.lab.hosts:  # a broken data path: every packet dropped
            apply_table(
                host.namespace,
                NftTable("inet", "broken"),
                chain_text("out", Hook.OUTPUT, ["oif != lo drop"], priority=-10),
            )
        run = probe_flows(matrix, lab.prober(), method="live-lab", tries=2, timeout_s=0.2)
    assert not run.enforcement_verified
    assert run.results == ()
    assert "not verified" in run.notes


def test_udp_needs_an_echo(lab_prefix: str) -> None:
    """A UDP send to a port nobody serves is blocked (no echo), the DNS echo server is allowed."""
    matrix = reference_matrix(BASE, HARDENED)
    with PolicyLab.build(matrix) as lab:
        src = str(lab.host("batch/report-builder").namespace.path)
        dns = lab.address("kube-system/kube-dns")
        assert agent.probe(src, dns, 53, "UDP", 0.5)[0] == agent.ALLOWED
        observed, detail = agent.probe(src, dns, 54, "UDP", 0.5)
    assert observed == agent.BLOCKED
    assert "echo" in detail
