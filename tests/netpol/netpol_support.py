"""Builders shared by the netpol tests: a small cluster, the repository's reference sets."""

from __future__ import annotations

import functools
import json
import os
import stat
import sys
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
    return matrix.is_allowed(*matrix.find(src, dst, port, protocol))


# A stand-in for kubectl: `get pods -n NS -l k=v,...` answers from a table, `exec ... agnhost
# connect IP:PORT --protocol=P` exits 0 for the table's open flows, else prints TIMEOUT, exit 1.
FAKE_KUBECTL = """
import json, os, sys
table = json.load(open(os.environ["FAKE_KUBECTL_TABLE"]))
args = [a for a in sys.argv[1:] if not a.startswith("--kubeconfig")]
with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
if args[0] == "get":
    ns = args[args.index("-n") + 1]
    sel = args[args.index("-l") + 1] if "-l" in args else ""
    wanted = [kv for kv in sel.split(",") if kv]
    items = [p for p in table["pods"] if p["ns"] == ns and all(kv in p["labels"] for kv in wanted)]
    status = lambda p: {"phase": "Running", "podIP": p["ip"]}
    found = [{"metadata": {"name": p["name"]}, "status": status(p)} for p in items]
    print(json.dumps({"items": found}))
    sys.exit(0)
if args[0] == "exec":
    pod = args[args.index("-n") + 2]
    target = args[args.index("connect") + 1]
    proto = [a for a in args if a.startswith("--protocol=")][0].split("=")[1]
    if [pod, target, proto] in table["open"]:
        sys.exit(0)
    sys.stderr.write("TIMEOUT\\ncommand terminated with exit code 1\\n")
    sys.exit(1)
sys.exit(2)
"""


def fake_kubectl(tmp: Path, pods: list[dict[str, Any]], opened: list[list[str]]) -> dict[str, str]:
    """Install the fake kubectl under ``tmp``; the environment that puts it first on PATH."""
    (tmp / "table.json").write_text(json.dumps({"pods": pods, "open": opened}))
    kubectl = tmp / "bin" / "kubectl"
    kubectl.parent.mkdir(exist_ok=True)
    kubectl.write_text(f"#!{sys.executable} -S" + FAKE_KUBECTL)  # -S: no site, fast start
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    return {
        "PATH": f"{kubectl.parent}{os.pathsep}{os.environ['PATH']}",
        "FAKE_KUBECTL_TABLE": str(tmp / "table.json"),
        "FAKE_KUBECTL_LOG": str(tmp / "log"),
    }
