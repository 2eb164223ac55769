"""`slo-harness netpol ...`: exit codes 0/1/2, bad input named, a verifiable evidence bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from netpol_support import (
    BASE,
    EXPECT,
    HARDENED,
    ISSUE,
    PODS,
    fake_kubectl,
    namespace,
    pod,
    policy,
    write_docs,
)

COMMON = ["--pods", str(PODS), "-n", "payments-pci"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "netpol", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["lint", str(BASE), str(HARDENED), *COMMON], 0),
        (["lint", str(BASE), str(ISSUE), *COMMON], 1),
        (["check", str(BASE), str(HARDENED), "--expect", str(EXPECT), *COMMON], 0),
        (["check", str(BASE), str(ISSUE), "--expect", str(EXPECT), *COMMON], 1),
        (
            [
                "diff",
                str(ISSUE),
                str(HARDENED),
                "--with",
                str(BASE),
                "--expect",
                str(EXPECT),
                *COMMON,
            ],
            0,
        ),
        (
            [
                "diff",
                str(HARDENED),
                str(ISSUE),
                "--with",
                str(BASE),
                "--expect",
                str(EXPECT),
                *COMMON,
            ],
            1,
        ),
        (["matrix", str(BASE), str(ISSUE), *COMMON], 0),
    ],
    ids=[
        "lint-hardened",
        "lint-issue",
        "check-hardened",
        "check-issue",
        "diff-harden",
        "diff-weaken",
        "matrix",
    ],
)
def test_exit_codes(args: list[str], code: int) -> None:
    """0 clean, 1 violation/error finding, never a traceback."""
    proc = _cli(*args)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_lists_each_violation_with_requirement() -> None:
    """`check` on the issue's policy names flows and requirement ids."""
    proc = _cli("check", str(BASE), str(ISSUE), "--expect", str(EXPECT), *COMMON)
    assert (
        "[1.3.2] payments-pci/reference-service -> observability/prometheus TCP/9090" in proc.stdout
    )
    assert "[1.2.1] gateway/api-gateway -> payments-pci/reference-service TCP/8080" in proc.stdout


def test_matrix_json_shape() -> None:
    """`--format json` is the list of {from, to, port, protocol, allowed, reason}."""
    proc = _cli("matrix", str(BASE), str(HARDENED), *COMMON, "--format", "json")
    rows = json.loads(proc.stdout)
    gateway = next(
        r
        for r in rows
        if r["from"] == "gateway/api-gateway" and r["to"] == "payments-pci/reference-service"
    )
    assert gateway == {
        "from": "gateway/api-gateway",
        "to": "payments-pci/reference-service",
        "port": 8080,
        "protocol": "TCP",
        "allowed": True,
        "reason": gateway["reason"],
    }
    assert "scorer-ingress-from-gateway" in gateway["reason"]


def test_bad_manifest_exits_2_with_file_doc_and_path(tmp_path: Path) -> None:
    """A policy the API server would refuse: exit 2, file + doc index + field path, no traceback."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\n"
        "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 9000, endPort: 80}]\n"
    )
    proc = _cli("lint", str(bad))
    assert proc.returncode == 2
    assert f"{bad}: doc[0] $.spec.ingress[0].ports[0].endPort: endPort >= port" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["check", str(BASE)], "--expect"),
        (["lint", "/nonexistent/dir"], "not found"),
        (["matrix", str(BASE), "--pods", "/nonexistent.yaml"], "not found"),
        (["matrix", str(BASE), "--format", "html"], "html"),
    ],
)
def test_usage_errors_exit_2(args: list[str], fragment: str) -> None:
    """Missing options, files and bad choices are usage errors."""
    proc = _cli(*args)
    assert proc.returncode == 2
    assert fragment in proc.stderr


def test_bad_expectations_file_names_field(tmp_path: Path) -> None:
    """A malformed expectations file: exit 2 with its field path."""
    bad = tmp_path / "expect.yaml"
    bad.write_text(
        "zones: [{name: cde, namespaces: [payments-pci]}]\n"
        "allow: [{name: x, from: {}, to: {}, ports: [TCP-80]}]\n"
    )
    proc = _cli("check", str(BASE), "--expect", str(bad))
    assert proc.returncode == 2
    assert "$.allow[0].ports[0]" in proc.stderr


def test_out_writes_a_verifiable_evidence_bundle(tmp_path: Path) -> None:
    """`--out DIR` writes pci.json, pci.md and a MANIFEST.json that `report verify` accepts."""
    out = tmp_path / "evidence"
    proc = _cli(
        "check", str(BASE), str(HARDENED), "--expect", str(EXPECT), *COMMON, "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["MANIFEST.json", "pci.json", "pci.md"]
    doc = json.loads((out / "pci.json").read_text())
    assert {r["id"] for r in doc["requirements"]} >= {
        "1.2.1",
        "1.2.5",
        "1.3.1",
        "1.3.2",
        "11.4.5",
        "11.4.6",
    }
    assert doc["check"]["violations"] == []
    assert "| 1.3.1" in (out / "pci.md").read_text()
    verify = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", "verify", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout


@pytest.mark.parametrize(
    ("pods", "opened", "code", "fragment"),
    [
        (True, [["client-0", "198.18.0.2:80", "tcp"]], 0, "0 wrong"),
        (
            True,
            [["client-0", "198.18.0.2:80", "tcp"], ["other-0", "198.18.0.2:80", "tcp"]],
            1,
            "WRONG",
        ),
        (False, [], 3, "enforcement not verified"),
    ],
    ids=["enforced", "leak", "no-probe-pods"],
)
def test_probe_exit_codes_against_fake_kubectl(
    tmp_path: Path, pods: bool, opened: list[list[str]], code: int, fragment: str
) -> None:
    """`netpol probe --kubeconfig`: 0 observed == predicted, 1 a leak, 3 enforcement unverified."""
    manifests = write_docs(
        tmp_path / "m.yaml",
        [
            namespace("a", {}),
            pod("a", "server", {"app": "server"}, [{"containerPort": 80}]),
            pod("a", "client", {"app": "client"}),
            pod("a", "other", {"app": "other"}),
            policy(
                "web",
                {
                    "podSelector": {"matchLabels": {"app": "server"}},
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}],
                },
            ),
        ],
    )
    table = [
        {"ns": "a", "name": f"{n}-0", "ip": f"198.18.0.{i}", "labels": [f"app={n}"]}
        for i, n in enumerate(["client", "server", "other"], start=1)
    ]
    env = {**os.environ, **fake_kubectl(tmp_path, table if pods else [], opened)}
    out = tmp_path / "evidence"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "netpol",
            "probe",
            str(manifests),
            "--kubeconfig",
            str(tmp_path / "kc"),
            "--tries",
            "1",
            "--timeout-s",
            "0.5",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert fragment in proc.stdout
    doc = json.loads((out / "pci.json").read_text())
    assert doc["probes"][0]["method"] == "kubeconfig"
    assert doc["probes"][0]["started_at"].endswith("+00:00")
