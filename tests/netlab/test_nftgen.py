"""The policy -> nftables compiler: which pods get chains, and what each rule matches."""

from __future__ import annotations

from pathlib import Path

from netlab_support import BASE, HARDENED, ISSUE8, reference_matrix

from harness.netpol import (
    DenyAction,
    Matrix,
    compile_pod_rules,
)


def _addresses(matrix: Matrix) -> dict[int, str]:
    return {i: f"198.18.0.{i + 1}" for i in range(len(matrix.endpoints))}


def _rules(matrix: Matrix, ref: str, deny: DenyAction = DenyAction.DROP):  # type: ignore[no-untyped-def]
    index = [e.ref for e in matrix.endpoints].index(ref)
    return compile_pod_rules(matrix, _addresses(matrix), deny)[index]


def test_hardened_scorer_gets_both_chains_with_conntrack_first() -> None:
    """The scorer is isolated both ways: conntrack and loopback first, deny last."""
    m = reference_matrix(BASE, HARDENED, namespace="default")
    rules = _rules(m, "payments-pci/reference-service")
    assert rules.ingress is not None
    assert rules.egress is not None
    for chain in (rules.ingress, rules.egress):
        assert chain[0] == "ct state established,related accept"
        assert chain[-1] == "counter drop"
    gateway = _addresses(m)[[e.ref for e in m.endpoints].index("gateway/api-gateway")]
    assert any(r.startswith(f"ip saddr {gateway} tcp dport 8080 accept") for r in rules.ingress)
    assert any("udp dport 53 accept" in r for r in rules.egress)


def test_unselected_pods_get_no_chain() -> None:
    """A pod no policy selects passes everything (no table at all)."""
    m = reference_matrix(BASE, HARDENED, namespace="default")
    rules = _rules(m, "batch/report-builder")
    assert rules.ingress is None
    assert rules.egress is None
    assert not rules.isolated


def test_issue8_policy_isolates_ingress_only_and_admits_nobody() -> None:
    """No policyTypes: ingress only; the podSelector-only peer finds no pod in payments-pci."""
    m = reference_matrix(BASE, ISSUE8)
    rules = _rules(m, "payments-pci/reference-service")
    assert rules.egress is None
    assert rules.ingress is not None
    assert not any("saddr" in r for r in rules.ingress)  # the peer resolved to no address


def test_reject_action_resets_tcp_and_refuses_the_rest() -> None:
    """--deny reject: TCP reset, ICMP admin-prohibited for other protocols."""
    rules = _rules(
        reference_matrix(BASE, HARDENED, namespace="default"),
        "payments-pci/feature-store",
        DenyAction.REJECT,
    )
    assert rules.ingress is not None
    assert rules.ingress[-2:] == (
        "meta l4proto tcp counter reject with tcp reset",
        "counter reject with icmpx type admin-prohibited",
    )


def test_named_ports_end_ports_and_all_ports(tmp_path: Path) -> None:
    """Named ports resolve on the destination, endPort makes a range, no ports = every port."""
    (tmp_path / "w.yaml").write_text(
        """
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: a}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
        - name: c
          image: x
          ports: [{name: sql, containerPort: 5432}, {name: m, containerPort: 9000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: a}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers: [{name: c, image: x, ports: [{containerPort: 80}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-in, namespace: a}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
    - from: [{podSelector: {matchLabels: {app: app}}}]
      ports: [{port: sql}, {port: 9000, endPort: 9010}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: app-out, namespace: a}
spec:
  podSelector: {matchLabels: {app: app}}
  policyTypes: [Egress]
  egress:
    - ports: [{port: sql}]
    - to: [{podSelector: {matchLabels: {app: db}}}]
"""
    )
    m = reference_matrix(tmp_path, namespace="default", pods=None)
    addr = _addresses(m)
    refs = [e.ref for e in m.endpoints]
    db, app = addr[refs.index("a/db")], addr[refs.index("a/app")]
    ingress = _rules(m, "a/db").ingress
    assert ingress is not None
    assert any(r.startswith(f"ip saddr {app} tcp dport 5432 accept") for r in ingress)
    assert any(r.startswith(f"ip saddr {app} tcp dport 9000-9010 accept") for r in ingress)
    egress = _rules(m, "a/app").egress
    assert egress is not None
    # `to` empty + named port: one rule per destination that names the port
    assert any(r.startswith(f"ip daddr {db} tcp dport 5432 accept") for r in egress)
    # `ports` empty: every port and protocol to the peer
    assert any(r.startswith(f"ip daddr {db} accept") for r in egress)
