"""Builders shared by the netpol tests: a small cluster, the repository's reference sets."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.netpol import Matrix, evaluate, load_manifests, load_probe_pods

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
HARDENED = K8S / "policies" / "hardened"
ISSUE = K8S / "policies" / "issue-8"
PODS = K8S / "pci" / "pods.yaml"
EXPECT = K8S / "pci" / "expectations.yaml"


@functools.cache
def reference_matrix(policies: Path) -> Matrix:
    """The reference deployment with one policy set (issue set applied with -n payments-pci)."""
    pods = load_probe_pods(PODS)
    manifests = load_manifests(
        [BASE, policies],
        namespace="payments-pci",
        extra_endpoints=pods.endpoints,
        extra_namespaces=pods.namespaces,
    )
    return evaluate(manifests)


def pod(
    ns: str, name: str, labels: dict[str, str], ports: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """A bare Pod manifest."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "x", "ports": list(ports)}]},
    }


def namespace(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """A Namespace manifest."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def policy(name: str, spec: dict[str, Any], ns: str | None = "a") -> dict[str, Any]:
    """A NetworkPolicy manifest (no namespace when ``ns`` is None)."""
    meta: dict[str, Any] = {"name": name}
    if ns is not None:
        meta["namespace"] = ns
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta,
        "spec": spec,
    }


#: A small cluster: namespaces a (team=a) and b (team=b); c is referenced only (no Namespace).
CLUSTER: list[dict[str, Any]] = [
    namespace("a", {"team": "a"}),
    namespace("b", {"team": "b"}),
    pod("a", "client", {"app": "client"}),
    pod(
        "a",
        "server",
        {"app": "server", "tier": "web"},
        [
            {"name": "http", "containerPort": 80},
            {"name": "dns", "containerPort": 53, "protocol": "UDP"},
            {"containerPort": 8443},
        ],
    ),
    pod(
        "a",
        "server2",
        {"app": "server2", "tier": "web"},
        [{"name": "http", "containerPort": 8080}, {"containerPort": 80}],
    ),
    pod("a", "nolabel", {}),
    pod("b", "client", {"app": "client"}),
    pod("b", "other", {"app": "other"}, [{"containerPort": 9000}]),
    pod("c", "client", {"app": "client"}),
    pod(
        "kube-system",
        "kube-dns",
        {"k8s-app": "kube-dns"},
        [{"containerPort": 53, "protocol": "UDP"}, {"containerPort": 53}],
    ),
]

PODS_FILE = {
    "pods": [
        {
            "namespace": "a",
            "name": "withip",
            "labels": {"app": "withip"},
            "ip": "10.0.0.5",
            "ports": [{"port": 80}],
        }
    ],
    "external": [{"name": "internet", "ip": "203.0.113.10", "ports": [{"port": 443}]}],
}


def write_docs(path: Path, docs: Sequence[dict[str, Any]]) -> Path:
    """Write ``docs`` as one multi-document YAML file."""
    path.write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
    return path


def allowed(matrix: Matrix, src: str, dst: str, port: int, protocol: str = "TCP") -> bool:
    """The matrix's verdict for one flow, by names."""
    refs = [e.ref for e in matrix.endpoints]
    s, d = refs.index(src), refs.index(dst)
    for i, slot in enumerate(matrix.slots):
        if slot.endpoint == d and slot.port == port and slot.protocol.value == protocol:
            return matrix.is_allowed(s, i)
    raise KeyError(f"{dst} declares no {protocol}/{port}")
