"""Paths of the reference manifests the live-lab tests use."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
HARDENED = K8S / "policies" / "hardened"
ISSUE8 = K8S / "policies" / "issue-8"
PODS = K8S / "pci" / "pods.yaml"
EXPECT = K8S / "pci" / "expectations.yaml"
