"""The PCI section of a run report (run --netpol): in report.json (schema-valid, inside the
manifest), summary.md and report.html; the report layer only lays out what netpol judged."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness.measure.result import RunResult
from harness.netpol import (
    FakeProber,
    PciRunSection,
    build_evidence,
    check,
    evaluate,
    judge_boundary,
    lint,
    load_expectations,
    load_manifests,
    load_probe_pods,
    probe_flows,
)
from harness.report import ReportInputs, verify_report_dir, write_reports
from harness.report.provenance import Provenance
from harness.report.reader import decode_report
from harness.slo.verdict import Verdict

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "harness" / "report" / "report.schema.json"


@pytest.fixture(scope="module")
def section() -> PciRunSection:
    """A passing boundary section from a fake prober that observes exactly the prediction."""
    pods = load_probe_pods(K8S / "pci" / "pods.yaml")
    matrix = evaluate(
        load_manifests(
            [K8S / "base", K8S / "policies" / "hardened"],
            extra_endpoints=pods.endpoints,
            extra_namespaces=pods.namespaces,
        )
    )
    expectations = load_expectations(K8S / "pci" / "expectations.yaml")
    open_flows = {(f.from_, f.to, f.protocol, f.port) for f in matrix.flows() if f.allowed}
    prober = FakeProber(open_flows)
    before = probe_flows(matrix, prober, method="live-lab before the load")
    rounds = (probe_flows(matrix, prober, method="live-lab under load, round 0"),)
    verdict = judge_boundary(
        matrix,
        before,
        rounds,
        expectations,
        gateway="gateway/api-gateway",
        scorer="payments-pci/reference-service",
        port=8080,
        lab="sloh-abc123",
    )
    evidence = build_evidence(
        matrix,
        lints=lint(matrix, expectations.zones),
        tool_version="test",
        expectations=expectations,
        check=check(matrix, expectations),
        probes=(before, *rounds),
        generated_at="2026-01-01T00:00:00.000+00:00",
    )
    return PciRunSection(verdict, evidence)


def test_pci_section_is_in_every_human_and_machine_artifact(
    tmp_path: Path, run: RunResult, failed: Verdict, prov: Provenance, section: PciRunSection
) -> None:
    """report.json (valid under the shipped schema), summary.md and report.html carry it."""
    paths = write_reports(tmp_path / "run", ReportInputs(run, failed, prov, pci=section))
    doc = json.loads(paths.report_json.read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(doc)
    assert doc["pci"]["boundary"]["status"] == "pass"
    assert doc["pci"]["boundary"]["rounds"][0]["control"] == "allowed"
    ids = {r["id"] for r in doc["pci"]["evidence"]["requirements"]}
    assert {"1.2.1", "1.2.5", "1.3.1", "1.3.2", "11.4.5", "11.4.6"} <= ids
    attempts = doc["pci"]["evidence"]["probes"][0]["results"][0]["attempts"]
    assert attempts[0]["at"]
    summary = paths.summary_md.read_text()
    assert "## PCI boundary verdict: **[PASS]**" in summary
    assert "| 11.4.5 " in summary
    html = paths.report_html.read_text()
    assert 'id="pci"' in html
    assert "gateway/api-gateway -&gt; payments-pci/reference-service" in html
    assert decode_report(paths.report_json.read_bytes(), source="report.json").pci == section


def test_the_pci_section_is_covered_by_the_manifest(
    tmp_path: Path, run: RunResult, failed: Verdict, prov: Provenance, section: PciRunSection
) -> None:
    """Editing the boundary verdict in report.json is caught by report verify."""
    paths = write_reports(tmp_path / "run", ReportInputs(run, failed, prov, pci=section))
    assert verify_report_dir(paths.out_dir).ok
    text = paths.report_json.read_text().replace('"status": "pass"', '"status": "fail"', 1)
    paths.report_json.write_text(text)
    assert not verify_report_dir(paths.out_dir).ok


def test_runs_without_netpol_have_no_pci_section(
    tmp_path: Path, run: RunResult, failed: Verdict, prov: Provenance
) -> None:
    """Without --netpol, pci is null and nothing PCI is rendered."""
    paths = write_reports(tmp_path / "run", ReportInputs(run, failed, prov))
    assert json.loads(paths.report_json.read_text())["pci"] is None
    assert "PCI boundary" not in paths.summary_md.read_text()
