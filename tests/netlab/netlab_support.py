"""The reference manifests the live-lab tests use, and their matrix."""

from __future__ import annotations

from pathlib import Path

from harness.netpol import Matrix, evaluate, load_manifests, load_probe_pods

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
HARDENED = K8S / "policies" / "hardened"
ISSUE8 = K8S / "policies" / "issue-8"
PODS = K8S / "pci" / "pods.yaml"
EXPECT = K8S / "pci" / "expectations.yaml"


def reference_matrix(
    *paths: Path, namespace: str = "payments-pci", pods: Path | None = PODS
) -> Matrix:
    """The engine's matrix of ``paths`` (plus the probe pods file, if any)."""
    extra = load_probe_pods(pods) if pods else None
    return evaluate(
        load_manifests(
            list(paths),
            namespace=namespace,
            extra_endpoints=extra.endpoints if extra else (),
            extra_namespaces=extra.namespaces if extra else (),
        )
    )
