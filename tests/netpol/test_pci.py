"""Lints, the expectations check and the change diff on the reference sets and crafted policies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from netpol_support import EXPECT, HARDENED, ISSUE, pod, policy, reference_matrix, write_docs

from harness.netpol import (
    Matrix,
    Severity,
    ViolationKind,
    Zone,
    check,
    diff,
    evaluate,
    expected_verdicts,
    lint,
    load_expectations,
    load_manifests,
)

CDE_A = (Zone(name="cde", namespaces=("a",)),)


def _codes(matrix: Matrix, zones: tuple[Zone, ...] = ()) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in lint(matrix, zones):
        out.setdefault(f.code, set()).add(f.requirement)
    return out


def test_issue_policy_flags_egress_gap_and_all_ports() -> None:
    """The issue's policy: unrestricted CDE egress (1.3.2) and an all-ports rule (1.2.5): errors."""
    findings = lint(reference_matrix(ISSUE))
    errors = {(f.code, f.requirement, f.subject) for f in findings if f.severity is Severity.ERROR}
    assert ("cde-unrestricted-egress", "1.3.2", "payments-pci/reference-service") in errors
    assert ("cde-all-ports", "1.2.5", "payments-pci/pci-zone-isolation") in errors
    peer = next(f for f in findings if f.code == "peer-matches-no-pod")
    assert "live in gateway" in peer.message  # the podSelector-only trap is explained
    assert all(f.fix for f in findings)


def test_hardened_set_lints_clean() -> None:
    """The hardened set (with the cluster's kube-dns from the pods file) has no finding."""
    assert lint(reference_matrix(HARDENED)) == ()


LINT_CASES: list[tuple[str, list[dict[str, Any]], str, str]] = [
    ("cde pod selected by no policy", [], "cde-pod-unselected", "1.3.1"),
    (
        "split peer",
        [
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [
                            {"namespaceSelector": {"matchLabels": {"team": "b"}}},
                            {"podSelector": {"matchLabels": {"app": "client"}}},
                        ],
                        "ports": [{"port": 80}],
                    }
                ],
            }
        ],
        "split-peer",
        "1.3.1",
    ),
    (
        "namespaceSelector {}",
        [
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"namespaceSelector": {}}], "ports": [{"port": 80}]}],
            }
        ],
        "namespace-selector-all",
        "1.3.1",
    ),
    (
        "ipBlock 0.0.0.0/0 into the CDE",
        [
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 80}]}
                ],
            }
        ],
        "ipblock-any-cde",
        "1.4.2",
    ),
    (
        "policy selecting no pod",
        [{"podSelector": {"matchLabels": {"app": "gone"}}}],
        "policy-selects-no-pod",
        "1.2.1",
    ),
    (
        "peer matching no pod",
        [
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": {"app": "gone"}}}],
                        "ports": [{"port": 80}],
                    }
                ],
            }
        ],
        "peer-matches-no-pod",
        "1.2.1",
    ),
    (
        "egress isolated without DNS",
        [
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "egress": [{"to": [{"podSelector": {}}], "ports": [{"port": 80}]}],
            }
        ],
        "egress-without-dns",
        "1.2.1",
    ),
    (
        "rule without from into the CDE",
        [
            {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"ports": [{"port": 80}]}],
            }
        ],
        "cde-any-peer",
        "1.3.1",
    ),
    ("ingress-only policy on CDE pods", [{"podSelector": {}}], "cde-unrestricted-egress", "1.3.2"),
    (
        "egress-only policy on CDE pods",
        [{"podSelector": {}, "policyTypes": ["Egress"]}],
        "cde-unrestricted-ingress",
        "1.3.1",
    ),
]


@pytest.mark.parametrize(
    ("specs", "code", "req"), [c[1:] for c in LINT_CASES], ids=[c[0] for c in LINT_CASES]
)
def test_each_lint_fires_with_its_requirement(
    cluster: Callable[..., Matrix], specs: list[dict[str, Any]], code: str, req: str
) -> None:
    """Each lint code fires on the mistake it names, citing its PCI requirement."""
    matrix = cluster(*[policy(f"p{i}", s) for i, s in enumerate(specs)])
    assert req in _codes(matrix, CDE_A).get(code, set())


def test_host_network_pod_is_flagged(tmp_path: Path) -> None:
    """A hostNetwork pod in the CDE: enforcement is implementation-defined, an error finding."""
    doc = pod("a", "node-agent", {"app": "agent"})
    doc["spec"]["hostNetwork"] = True
    matrix = evaluate(load_manifests([write_docs(tmp_path / "m.yaml", [doc])]))
    (finding,) = [f for f in lint(matrix, CDE_A) if f.code == "host-network-pod"]
    assert finding.severity is Severity.ERROR


def test_clean_policy_has_no_such_findings(cluster: Callable[..., Matrix]) -> None:
    """A well-formed default deny + narrow allow in the CDE raises no lint."""
    specs = [
        {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        {
            "podSelector": {"matchLabels": {"app": "server"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {"team": "b"}},
                            "podSelector": {"matchLabels": {"app": "client"}},
                        }
                    ],
                    "ports": [{"port": 80}],
                }
            ],
        },
    ]
    assert _codes(cluster(*[policy(f"p{i}", s) for i, s in enumerate(specs)]), CDE_A) == {}


def test_check_hardened_passes_and_issue_fails() -> None:
    """Hardened: every governed flow as approved. Issue policy: gateway blocked, egress open."""
    expectations = load_expectations(EXPECT)
    ok = check(reference_matrix(HARDENED), expectations)
    assert ok.ok
    assert ok.allowed_as_expected == 5  # gateway->scorer, scorer->store, scorer->sink, DNS x2
    bad = check(reference_matrix(ISSUE), expectations)
    found = {(v.kind, v.from_, v.to, v.port, v.requirement) for v in bad.violations}
    assert (
        ViolationKind.REQUIRED_BLOCKED,
        "gateway/api-gateway",
        "payments-pci/reference-service",
        8080,
        "1.2.1",
    ) in found
    assert (
        ViolationKind.UNEXPECTED_OPEN,
        "payments-pci/reference-service",
        "observability/prometheus",
        9090,
        "1.3.2",
    ) in found
    assert (
        ViolationKind.UNEXPECTED_OPEN,
        "payments-pci/reference-service",
        "external/internet",
        443,
        "1.3.2",
    ) in found


def test_check_classifies_inbound_and_untrusted(cluster: Callable[..., Matrix]) -> None:
    """Unapproved inbound = 1.3.1, from an external address = 1.4.2, inside the zone = 1.2.5."""
    from harness.netpol import Expectations

    matrix = cluster()  # no policy: everything open
    result = check(matrix, Expectations(zones=CDE_A))
    reqs = {(v.from_, v.to, v.port): v.requirement for v in result.violations}
    assert reqs["b/client", "a/server", 80] == "1.3.1"
    assert reqs["external/internet", "a/server", 80] == "1.4.2"
    assert reqs["a/client", "a/server", 80] == "1.2.5"
    assert reqs["a/client", "b/other", 9000] == "1.3.2"
    assert ("b/client", "b/other", 9000) not in reqs  # no end in a zone: ignored
    assert result.ignored > 0


def test_diff_names_opened_and_closed_flows_and_gates() -> None:
    """issue -> hardened opens only approved flows (gate passes); the reverse opens 1.3.2 flows."""
    expectations = load_expectations(EXPECT)
    issue, hardened = reference_matrix(ISSUE), reference_matrix(HARDENED)
    forward = diff(issue, hardened, expectations)
    assert forward.ok
    opened = {(c.from_, c.to, c.port) for c in forward.opened}
    assert ("gateway/api-gateway", "payments-pci/reference-service", 8080) in opened
    gateway = next(c for c in forward.opened if c.from_ == "gateway/api-gateway")
    assert "scorer-ingress-from-gateway ingress[0].from[0]" in gateway.reason
    assert "isolated by payments-pci/pci-zone-isolation" in gateway.was
    closed = {(c.from_, c.to, c.port) for c in forward.closed}
    assert ("payments-pci/reference-service", "observability/prometheus", 9090) in closed
    backward = diff(hardened, issue, expectations)
    assert not backward.ok
    assert {v.requirement for v in backward.violations} == {"1.3.2"}
    assert {(c.from_, c.to, c.port) for c in backward.opened} == closed


def test_diff_without_change_is_empty() -> None:
    """The same set on both sides opens and closes nothing."""
    matrix = reference_matrix(HARDENED)
    result = diff(matrix, reference_matrix(HARDENED), load_expectations(EXPECT))
    assert (result.opened, result.closed, result.violations) == ((), (), ())


def test_expected_verdicts_cover_governed_flows_only() -> None:
    """expected_verdicts: approved governed flows True, other governed False, ungoverned absent."""
    matrix = reference_matrix(HARDENED)
    expected = expected_verdicts(matrix, load_expectations(EXPECT))
    named = {
        (
            matrix.endpoints[src].ref,
            matrix.endpoints[matrix.slots[s].endpoint].ref,
            matrix.slots[s].port,
        ): v
        for (src, s), v in expected.items()
    }
    assert named["gateway/api-gateway", "payments-pci/reference-service", 8080] is True
    assert named["batch/report-builder", "payments-pci/reference-service", 8080] is False
    assert ("batch/report-builder", "observability/prometheus", 9090) not in named
