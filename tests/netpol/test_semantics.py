"""NetworkPolicy v1 semantics, one row per case of REFERENCE.md (the expected verdict per row)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from netpol_support import allowed, policy

from harness.netpol import Matrix

ML = "matchLabels"
SERVER = {ML: {"app": "server"}}
ING = ["Ingress"]
EG = ["Egress"]


def ns_sel(**labels: str) -> dict[str, Any]:
    return {"namespaceSelector": {ML: labels}}


def pod_sel(**labels: str) -> dict[str, Any]:
    return {"podSelector": {ML: labels}}


def ingress(
    *rules: dict[str, Any], types: list[str] | None = ING, sel: Any = SERVER
) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": sel, "ingress": list(rules)}
    if types is not None:
        spec["policyTypes"] = types
    return spec


def egress(
    *rules: dict[str, Any], types: list[str] | None = EG, sel: Any = SERVER
) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": sel, "egress": list(rules)}
    if types is not None:
        spec["policyTypes"] = types
    return spec


DENY_INGRESS = {"podSelector": SERVER, "policyTypes": ING}
DENY_EGRESS = {"podSelector": SERVER, "policyTypes": EG}
P80 = [{"port": 80}]

# (case, policies (specs in namespace a), flow (from, to, port, protocol), expected)
CASES: list[tuple[str, list[dict[str, Any]], tuple[str, str, int, str], bool]] = [
    # 1 unselected pods allow everything, per direction
    ("1 no policy: all allowed", [], ("b/client", "a/server", 80, "TCP"), True),
    (
        "1 policy selecting another pod",
        [{**DENY_INGRESS, "podSelector": {ML: {"app": "none"}}}],
        ("b/client", "a/server", 80, "TCP"),
        True,
    ),
    (
        "1 egress-only policy leaves ingress open",
        [DENY_EGRESS],
        ("b/client", "a/server", 80, "TCP"),
        True,
    ),
    (
        "1 ingress-only policy leaves egress open",
        [DENY_INGRESS],
        ("a/server", "b/other", 9000, "TCP"),
        True,
    ),
    # 2 policyTypes defaults
    (
        "2 egress: [] without policyTypes isolates nothing",
        [{"podSelector": SERVER, "egress": []}],
        ("a/server", "b/other", 9000, "TCP"),
        True,
    ),
    (
        "2 no policyTypes means Ingress",
        [{"podSelector": SERVER}],
        ("b/client", "a/server", 80, "TCP"),
        False,
    ),
    (
        "2 policyTypes Egress, no rules: deny egress",
        [DENY_EGRESS],
        ("a/server", "b/other", 9000, "TCP"),
        False,
    ),
    (
        "2 non-empty egress implies Egress",
        [egress({"to": [pod_sel(app="client")]}, types=None)],
        ("a/server", "b/other", 9000, "TCP"),
        False,
    ),
    (
        "2 non-empty egress without types still isolates ingress",
        [egress({"to": [pod_sel(app="client")]}, types=None)],
        ("b/client", "a/server", 80, "TCP"),
        False,
    ),
    # 3 empty vs [{}]
    ("3 Ingress with no list denies", [DENY_INGRESS], ("a/client", "a/server", 80, "TCP"), False),
    ("3 ingress: [] denies", [ingress()], ("a/client", "a/server", 80, "TCP"), False),
    ("3 ingress: [{}] allows all", [ingress({})], ("b/client", "a/server", 80, "TCP"), True),
    (
        "3 ingress: [{}] admits external",
        [ingress({})],
        ("external/internet", "a/server", 80, "TCP"),
        True,
    ),
    # 4 rules: peers AND ports, rules OR, policies union
    (
        "4 empty from + port 80: 80 allowed",
        [ingress({"ports": P80})],
        ("b/client", "a/server", 80, "TCP"),
        True,
    ),
    (
        "4 empty from + port 80: 8443 denied",
        [ingress({"ports": P80})],
        ("b/client", "a/server", 8443, "TCP"),
        False,
    ),
    (
        "4 peer matches, port does not",
        [ingress({"from": [pod_sel(app="client")], "ports": [{"port": 8443}]})],
        ("a/client", "a/server", 80, "TCP"),
        False,
    ),
    (
        "4 rules ORed (second rule)",
        [
            ingress(
                {"from": [pod_sel(app="client")], "ports": P80},
                {"from": [ns_sel(team="b")], "ports": [{"port": 8443}]},
            )
        ],
        ("b/client", "a/server", 8443, "TCP"),
        True,
    ),
    (
        "4 rules ORed do not mix peers and ports",
        [
            ingress(
                {"from": [pod_sel(app="client")], "ports": P80},
                {"from": [ns_sel(team="b")], "ports": [{"port": 8443}]},
            )
        ],
        ("b/client", "a/server", 80, "TCP"),
        False,
    ),
    (
        "4 policies unioned",
        [ingress({"from": [pod_sel(app="client")]}), ingress({"from": [ns_sel(team="b")]})],
        ("b/client", "a/server", 80, "TCP"),
        True,
    ),
    # 5 peers
    (
        "5 podSelector alone: own namespace",
        [ingress({"from": [pod_sel(app="client")]})],
        ("a/client", "a/server", 80, "TCP"),
        True,
    ),
    (
        "5 podSelector alone: not other namespaces",
        [ingress({"from": [pod_sel(app="client")]})],
        ("b/client", "a/server", 80, "TCP"),
        False,
    ),
    (
        "5 namespaceSelector alone: all its pods",
        [ingress({"from": [ns_sel(team="b")]})],
        ("b/other", "a/server", 80, "TCP"),
        True,
    ),
    (
        "5 namespaceSelector alone: not other namespaces",
        [ingress({"from": [ns_sel(team="b")]})],
        ("a/client", "a/server", 80, "TCP"),
        False,
    ),
    (
        "5 one item = AND (match)",
        [ingress({"from": [{**ns_sel(team="b"), **pod_sel(app="client")}]})],
        ("b/client", "a/server", 80, "TCP"),
        True,
    ),
    (
        "5 one item = AND (pod label misses)",
        [ingress({"from": [{**ns_sel(team="b"), **pod_sel(app="client")}]})],
        ("b/other", "a/server", 80, "TCP"),
        False,
    ),
    (
        "5 one item = AND (namespace misses)",
        [ingress({"from": [{**ns_sel(team="b"), **pod_sel(app="client")}]})],
        ("c/client", "a/server", 80, "TCP"),
        False,
    ),
    (
        "5 two items = OR (namespace item)",
        [ingress({"from": [ns_sel(team="b"), pod_sel(app="client")]})],
        ("b/other", "a/server", 80, "TCP"),
        True,
    ),
    (
        "5 two items = OR (pod item)",
        [ingress({"from": [ns_sel(team="b"), pod_sel(app="client")]})],
        ("a/client", "a/server", 80, "TCP"),
        True,
    ),
    (
        "5 namespaceSelector {} selects every namespace",
        [ingress({"from": [{"namespaceSelector": {}}]})],
        ("c/client", "a/server", 80, "TCP"),
        True,
    ),
    (
        "5 namespaceSelector {} is pods only, not external",
        [ingress({"from": [{"namespaceSelector": {}}]})],
        ("external/internet", "a/server", 80, "TCP"),
        False,
    ),
    (
        "5 podSelector {} is own namespace only",
        [ingress({"from": [{"podSelector": {}}]})],
        ("b/client", "a/server", 80, "TCP"),
        False,
    ),
    (
        "5 podSelector {} admits own namespace",
        [ingress({"from": [{"podSelector": {}}]})],
        ("a/nolabel", "a/server", 80, "TCP"),
        True,
    ),
    # 6 selectors
    (
        "6 In",
        [
            ingress(
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {
                                "matchExpressions": [
                                    {"key": "app", "operator": "In", "values": ["other", "x"]}
                                ]
                            },
                        }
                    ]
                }
            )
        ],
        ("b/other", "a/server", 80, "TCP"),
        True,
    ),
    (
        "6 NotIn excludes the value",
        [
            ingress(
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchExpressions": [
                                    {"key": "app", "operator": "NotIn", "values": ["client"]}
                                ]
                            }
                        }
                    ]
                }
            )
        ],
        ("a/client", "a/server", 80, "TCP"),
        False,
    ),
    (
        "6 NotIn matches pods without the key",
        [
            ingress(
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchExpressions": [
                                    {"key": "app", "operator": "NotIn", "values": ["client"]}
                                ]
                            }
                        }
                    ]
                }
            )
        ],
        ("a/nolabel", "a/server", 80, "TCP"),
        True,
    ),
    (
        "6 Exists",
        [
            ingress(
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchExpressions": [{"key": "app", "operator": "Exists"}]
                            }
                        }
                    ]
                }
            )
        ],
        ("a/nolabel", "a/server", 80, "TCP"),
        False,
    ),
    (
        "6 DoesNotExist",
        [
            ingress(
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]
                            }
                        }
                    ]
                }
            )
        ],
        ("a/nolabel", "a/server", 80, "TCP"),
        True,
    ),
    (
        "6 matchLabels AND matchExpressions",
        [
            ingress(
                {
                    "from": [
                        {
                            "podSelector": {
                                ML: {"app": "client"},
                                "matchExpressions": [
                                    {"key": "app", "operator": "In", "values": ["other"]}
                                ],
                            }
                        }
                    ]
                }
            )
        ],
        ("a/client", "a/server", 80, "TCP"),
        False,
    ),
    (
        "6 empty podSelector selects every pod of the namespace",
        [{"podSelector": {}, "policyTypes": ING}],
        ("b/client", "a/server2", 8080, "TCP"),
        False,
    ),
    # 7 kubernetes.io/metadata.name
    (
        "7 metadata.name label on a declared namespace",
        [ingress({"from": [ns_sel(**{"kubernetes.io/metadata.name": "b"})]})],
        ("b/client", "a/server", 80, "TCP"),
        True,
    ),
    (
        "7 metadata.name label on a referenced-only namespace",
        [ingress({"from": [ns_sel(**{"kubernetes.io/metadata.name": "c"})]})],
        ("c/client", "a/server", 80, "TCP"),
        True,
    ),
    # 8 ipBlock
    (
        "8 ipBlock admits the external address",
        [ingress({"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]})],
        ("external/internet", "a/server", 80, "TCP"),
        True,
    ),
    (
        "8 ipBlock does not match pods without a known IP",
        [ingress({"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]})],
        ("b/client", "a/server", 80, "TCP"),
        False,
    ),
    (
        "8 ipBlock except carves the address out",
        [
            ingress(
                {"from": [{"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.0/28"]}}]}
            )
        ],
        ("external/internet", "a/server", 80, "TCP"),
        False,
    ),
    (
        "8 ipBlock egress to the internet",
        [egress({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]})],
        ("a/server", "external/internet", 443, "TCP"),
        True,
    ),
    (
        "8 ipBlock matches a pod given an IP (implementation-defined; opt-in)",
        [ingress({"from": [{"ipBlock": {"cidr": "10.0.0.0/24"}}]})],
        ("a/withip", "a/server", 80, "TCP"),
        True,
    ),
    # 9 ports
    (
        "9 protocol defaults to TCP",
        [ingress({"ports": [{"port": 53}]})],
        ("a/client", "a/server", 53, "UDP"),
        False,
    ),
    (
        "9 UDP explicit",
        [ingress({"ports": [{"port": 53, "protocol": "UDP"}]})],
        ("a/client", "a/server", 53, "UDP"),
        True,
    ),
    (
        "9 protocol without port: all ports of it",
        [ingress({"ports": [{"protocol": "TCP"}]})],
        ("a/client", "a/server", 8443, "TCP"),
        True,
    ),
    (
        "9 named port resolves (server http=80)",
        [ingress({"ports": [{"port": "http"}]}, sel={ML: {"tier": "web"}})],
        ("a/client", "a/server", 80, "TCP"),
        True,
    ),
    (
        "9 named port resolves per pod (server2 http=8080)",
        [ingress({"ports": [{"port": "http"}]}, sel={ML: {"tier": "web"}})],
        ("a/client", "a/server2", 8080, "TCP"),
        True,
    ),
    (
        "9 named port is not the number elsewhere (server2 80 unnamed)",
        [ingress({"ports": [{"port": "http"}]}, sel={ML: {"tier": "web"}})],
        ("a/client", "a/server2", 80, "TCP"),
        False,
    ),
    (
        "9 named port: protocol must match too",
        [ingress({"ports": [{"port": "dns"}]})],
        ("a/client", "a/server", 53, "UDP"),
        False,
    ),
    (
        "9 endPort range includes",
        [ingress({"ports": [{"port": 8000, "endPort": 9000}]})],
        ("a/client", "a/server", 8443, "TCP"),
        True,
    ),
    (
        "9 endPort range excludes",
        [ingress({"ports": [{"port": 8000, "endPort": 9000}]})],
        ("a/client", "a/server", 80, "TCP"),
        False,
    ),
    (
        "9 named port in egress resolves on the destination",
        [egress({"to": [pod_sel(app="server2")], "ports": [{"port": "http"}]})],
        ("a/server", "a/server2", 8080, "TCP"),
        True,
    ),
    # 10 both halves
    (
        "10 egress denies though ingress allows",
        [DENY_EGRESS],
        ("a/server", "a/server2", 8080, "TCP"),
        False,
    ),
    (
        "10 ingress denies though egress allows",
        [egress({}), DENY_INGRESS],
        ("a/server2", "a/server", 80, "TCP"),
        False,
    ),
    (
        "10 both allow",
        [egress({"to": [pod_sel(app="server2")]}), ingress({"from": [pod_sel(app="server2")]})],
        ("a/server", "a/server2", 8080, "TCP"),
        True,
    ),
    # 12 DNS once egress is isolated
    (
        "12 egress isolated: DNS blocked unless allowed",
        [egress({"to": [pod_sel(app="server2")]})],
        ("a/server", "kube-system/kube-dns", 53, "UDP"),
        False,
    ),
    (
        "12 DNS allowed explicitly",
        [
            egress(
                {
                    "to": [
                        {
                            **ns_sel(**{"kubernetes.io/metadata.name": "kube-system"}),
                            **pod_sel(**{"k8s-app": "kube-dns"}),
                        }
                    ],
                    "ports": [{"port": 53, "protocol": "UDP"}],
                }
            )
        ],
        ("a/server", "kube-system/kube-dns", 53, "UDP"),
        True,
    ),
]


@pytest.mark.parametrize(
    ("policies", "flow", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_reference_case(
    cluster: Callable[..., Matrix],
    policies: list[dict[str, Any]],
    flow: tuple[str, str, int, str],
    expected: bool,
) -> None:
    """Each REFERENCE.md case yields the verdict Kubernetes gives."""
    docs = [policy(f"p{i}", spec) for i, spec in enumerate(policies)]
    matrix = cluster(*docs)
    assert allowed(matrix, *flow) is expected


def test_pod_is_never_in_its_own_row(cluster: Callable[..., Matrix]) -> None:
    """Case 11: self pairs are left out of the matrix and its flows."""
    matrix = cluster(policy("deny", DENY_INGRESS))
    assert all(src != matrix.slots[s].endpoint for src, s in matrix.pairs())
    assert all(f.from_ != f.to for f in matrix.flows())


def test_manifest_without_namespace_lands_in_default(cluster: Callable[..., Matrix]) -> None:
    """Case 13: no metadata.namespace = the namespace applied to (default unless -n)."""
    spec = {"podSelector": SERVER, "policyTypes": ING}
    in_default = cluster(policy("deny", spec, ns=None))
    assert [p.namespace for p in in_default.manifests.policies] == ["default"]
    assert allowed(in_default, "b/client", "a/server", 80)
    in_a = cluster(policy("deny", spec, ns=None), default_ns="a")
    assert not allowed(in_a, "b/client", "a/server", 80)


def test_reason_names_the_rule_and_peer(cluster: Callable[..., Matrix]) -> None:
    """An allowed flow's reason names policy, rule and peer; a blocked one the isolating policy."""
    matrix = cluster(
        policy("web", ingress({"from": [ns_sel(team="x"), pod_sel(app="client")], "ports": P80}))
    )
    flows = {(f.from_, f.to, f.port): f for f in matrix.flows()}
    ok = flows["a/client", "a/server", 80]
    assert ok.allowed
    assert "a/web ingress[0].from[1]" in ok.reason
    blocked = flows["b/client", "a/server", 80]
    assert not blocked.allowed
    assert "isolated by a/web" in blocked.reason


def test_external_to_external_is_not_a_flow(cluster: Callable[..., Matrix]) -> None:
    """Traffic between two outside addresses is not part of the cluster's matrix."""
    matrix = cluster()
    externals = {i for i, e in enumerate(matrix.endpoints) if not e.is_pod}
    assert all(
        not (src in externals and matrix.slots[s].endpoint in externals)
        for src, s in matrix.pairs()
    )
