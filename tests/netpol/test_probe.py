"""Probes (positive control, retries, tries recorded), the evidence bundle, the kubectl prober."""

from __future__ import annotations

from pathlib import Path

import pytest
from netpol_support import EXPECT, HARDENED, fake_kubectl, reference_matrix

from harness.errors import IntegrityError
from harness.netpol import (
    FakeProber,
    KubectlProber,
    Matrix,
    Observation,
    Status,
    build_evidence,
    check,
    lint,
    load_expectations,
    probe_flows,
    with_probe_run,
)
from harness.report import read_pci_evidence, verify_report_dir, write_pci_evidence


def _open_flows(matrix: Matrix) -> set[tuple[str, str, str, int]]:
    out = set()
    for src, s in matrix.pairs():
        if matrix.is_allowed(src, s):
            slot = matrix.slots[s]
            out.add(
                (
                    matrix.endpoints[src].ref,
                    matrix.endpoints[slot.endpoint].ref,
                    slot.protocol.value,
                    slot.port,
                )
            )
    return out


def _clock() -> str:
    return "2026-11-29T21:00:00.000+00:00"


def test_enforcing_lab_matches_prediction() -> None:
    """A prober that enforces exactly the prediction: all correct, control first, timestamps."""
    matrix = reference_matrix(HARDENED)
    prober = FakeProber(_open_flows(matrix))
    run = probe_flows(matrix, prober, method="fake", tries=2, clock=_clock)
    assert run.enforcement_verified
    assert (run.wrong, run.no_value, run.correct) == (0, 0, len(run.results))
    assert run.control is not None
    assert run.control.observed is Observation.ALLOWED
    assert prober.calls[0] == (
        run.control.from_,
        run.control.to,
        run.control.protocol,
        run.control.port,
    )
    blocked = next(r for r in run.results if not r.predicted)
    assert blocked.tries == 2  # a block is only believed after every try
    assert all(a.at == _clock() for a in blocked.attempts)


def test_flaky_allowed_flow_recovers_within_tries() -> None:
    """A flow that flakes once connects on try 2 and is recorded as such (not wrong)."""
    matrix = reference_matrix(HARDENED)
    key = ("gateway/api-gateway", "payments-pci/reference-service", "TCP", 8080)
    run = probe_flows(
        matrix, FakeProber(_open_flows(matrix), flaky={key: 1}), method="fake", tries=3
    )
    result = next(r for r in run.results if (r.from_, r.to, r.protocol, r.port) == key)
    assert (result.observed, result.tries, result.correct) == (Observation.ALLOWED, 2, True)


def test_unenforced_or_broken_lab_is_never_isolated() -> None:
    """Control fails: 'enforcement not verified', no per-flow verdicts. Errors count as no value."""
    matrix = reference_matrix(HARDENED)
    dead = probe_flows(matrix, FakeProber(set()), method="fake", tries=1)
    assert not dead.enforcement_verified
    assert dead.results == ()
    assert "not verified" in dead.notes
    open_flows = _open_flows(matrix)
    leaky = probe_flows(
        matrix,
        FakeProber(
            open_flows | {("batch/report-builder", "payments-pci/reference-service", "TCP", 8080)}
        ),
        method="fake",
        tries=1,
    )
    assert leaky.wrong == 1
    err_key = ("batch/report-builder", "observability/prometheus", "TCP", 9090)
    errs = probe_flows(matrix, FakeProber(open_flows, errors={err_key}), method="fake", tries=2)
    assert errs.no_value == 1


def test_evidence_bundle_round_trip_with_probes(tmp_path: Path) -> None:
    """Predicted-only bundle leaves 11.4.5 not assessed; a probe run added later makes it met."""
    matrix = reference_matrix(HARDENED)
    expectations = load_expectations(EXPECT)
    bundle = build_evidence(
        matrix,
        lints=lint(matrix),
        tool_version="test",
        expectations=expectations,
        check=check(matrix, expectations),
    )
    status = {r.id: r.status for r in bundle.requirements}
    assert status["1.3.1"] is Status.MET
    assert status["1.3.2"] is Status.MET
    assert status["11.4.5"] is Status.NOT_ASSESSED
    write_pci_evidence(tmp_path / "ev", bundle, matrix=matrix)
    assert verify_report_dir(tmp_path / "ev").ok
    again = read_pci_evidence(tmp_path / "ev")
    assert again == bundle
    run = probe_flows(matrix, FakeProber(_open_flows(matrix)), method="live-lab", tries=1)
    updated = with_probe_run(again, run)
    assert {r.id: r.status for r in updated.requirements}["11.4.5"] is Status.MET
    write_pci_evidence(tmp_path / "ev", updated)
    assert read_pci_evidence(tmp_path / "ev").probes[0].method == "live-lab"
    (tmp_path / "ev" / "pci.md").write_text("edited\n")
    with pytest.raises(IntegrityError):
        read_pci_evidence(tmp_path / "ev")


def test_kubectl_prober_against_fake_kubectl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KubectlProber: pods by label, agnhost connect via exec, TIMEOUT = blocked, no pod = error."""
    matrix = reference_matrix(HARDENED)
    pods = []
    for i, e in enumerate(matrix.endpoints):
        if e.is_pod and e.name != "settlement-export":
            pods.append(
                {
                    "ns": e.namespace,
                    "name": f"{e.name}-0",
                    "ip": f"198.18.0.{i + 1}",
                    "labels": [f"{k}={v}" for k, v in e.labels],
                }
            )
    ip = {p["ns"] + "/" + p["name"][:-2]: p["ip"] for p in pods}
    ip.update({e.ref: str(e.ip) for e in matrix.endpoints if not e.is_pod})
    opened = [
        [src.split("/")[1] + "-0", f"{ip[dst]}:{port}", proto.lower()]
        for src, dst, proto, port in _open_flows(matrix)
        if src in ip and dst in ip
    ]
    for key, value in fake_kubectl(tmp_path, pods, opened).items():
        monkeypatch.setenv(key, value)
    # every flow out of three sources (each exec starts a Python process: keep it short)
    sources = {"gateway/api-gateway", "payments-pci/reference-service", "batch/settlement-export"}
    flows = [(s, t) for s, t in matrix.pairs() if matrix.endpoints[s].ref in sources]
    run = probe_flows(
        matrix,
        KubectlProber(tmp_path / "kubeconfig"),
        method="kubeconfig",
        flows=flows,
        tries=2,
        timeout_s=0.5,
    )
    assert run.enforcement_verified
    assert run.wrong == 0
    assert run.correct > 0
    # the CronJob has no running pod: its flows are errors (no value), never "blocked"
    assert run.no_value == sum(
        1 for s, _ in flows if matrix.endpoints[s].name == "settlement-export"
    )
    log = (tmp_path / "log").read_text()
    assert "--kubeconfig=" in log
    assert "agnhost connect" in log
    assert "--protocol=udp" in log
