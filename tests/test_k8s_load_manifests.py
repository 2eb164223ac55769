"""deploy/k8s/load: the in-cluster master + workers, validated offline (kubernetes-validate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from harness.netpol.load import KUBERNETES_VERSION
from harness.spec import load_scenario

LOAD = Path(__file__).resolve().parents[1] / "deploy" / "k8s" / "load"


def _docs() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(LOAD.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def _by_kind(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in _docs() if d["kind"] == kind and d["metadata"]["name"] == name)


def test_every_manifest_validates_strictly() -> None:
    """Each document passes the Kubernetes schema in strict mode (no unknown fields)."""
    docs = _docs()
    assert {d["kind"] for d in docs} >= {"Namespace", "ConfigMap", "Job", "Service"}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_master_waits_for_exactly_the_workers_the_job_starts(tmp_path: Path) -> None:
    """--remote-workers equals the worker Job's parallelism and completions; the scenario the
    ConfigMap ships is one the harness accepts; workers dial the master's Service."""
    master = _by_kind("Job", "slo-harness-master")["spec"]["template"]["spec"]["containers"][0]
    workers = _by_kind("Job", "slo-harness-workers")["spec"]
    flag = next(a for a in master["args"] if a.startswith("--remote-workers="))
    assert int(flag.split("=")[1]) == workers["parallelism"] == workers["completions"]
    worker_args = workers["template"]["spec"]["containers"][0]["args"]
    assert "--master=slo-harness-master.slo-load.svc.cluster.local" in worker_args
    scenario_file = tmp_path / "scenario.yaml"
    data = _by_kind("ConfigMap", "slo-harness-scenario")["data"]["scenario.yaml"]
    scenario_file.write_text(data)
    scenario = load_scenario(scenario_file)
    assert scenario.target == "http://127.0.0.1:8080"  # each pod's own scorer: loopback only
    assert any("/reports" in a for a in master["args"])
