"""Fixtures of the netpol tests (builders in netpol_support.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from netpol_support import CLUSTER, PODS_FILE, write_docs

from harness.netpol import Matrix, evaluate, load_manifests, load_probe_pods


@pytest.fixture
def cluster(tmp_path: Path) -> Callable[..., Matrix]:
    """Build the small cluster plus the given policies and evaluate it (schema check optional:
    the loader tests cover it; the semantic table runs 60+ builds)."""

    def build(
        *policies: dict[str, Any], validate: bool = False, default_ns: str = "default"
    ) -> Matrix:
        files = [write_docs(tmp_path / "cluster.yaml", CLUSTER)]
        if policies:
            files.append(write_docs(tmp_path / "policies.yaml", policies))
        pods_path = tmp_path / "pods.yaml"
        pods_path.write_text(yaml.safe_dump(PODS_FILE))
        pods = load_probe_pods(pods_path)
        manifests = load_manifests(
            files,
            namespace=default_ns,
            extra_endpoints=pods.endpoints,
            extra_namespaces=pods.namespaces,
            validate=validate,
        )
        return evaluate(manifests)

    return build
