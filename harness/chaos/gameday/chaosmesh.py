"""``--export chaos-mesh DIR``: the game day as Chaos Mesh manifests, for a Kubernetes rehearsal.

Written: one manifest per step (``NN-<step>.yaml``: NetworkChaos, PodChaos, StressChaos or
HTTPChaos with the step's ``duration``), and ``workflow.yaml``, a Chaos Mesh Workflow that replays
the timeline: a Parallel node with one Serial branch per step (a Suspend for the step's ``at``,
then the chaos node with the step's ``for`` as its deadline). Steps without an equivalent are
listed in ``UNSUPPORTED.txt`` instead of being exported wrongly.

Every manifest is checked against ``chaosmesh.schema.json`` (shipped next to this module; written
by this project from Chaos Mesh's CRD fields, ``api/v1alpha1/*_types.go``, for exactly the subset
emitted here, with unknown fields forbidden) before anything is written, so a misspelled field
fails the export and the tests, not a later ``kubectl apply``.

Pods are selected by label in one namespace (:data:`NAMESPACE`, :data:`LABELS`); edit them to
match the cluster. Where Chaos Mesh's semantics differ from the harness's fault (no per-request
error share in HTTPChaos, no SIGSTOP, no TCP reset), the manifest carries the difference in the
annotation ``slo-harness/approximation``.

Units: Chaos Mesh's bandwidth ``rate`` is in *bytes* per second (``kbps`` = kilobytes/s), its
durations are Go durations (``30s``, ``1500ms``), its percentages strings (``"10"``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

import jsonschema
import yaml

from harness.errors import UsageError
from harness.files import atomic_write_bytes
from harness.spec import (
    BandwidthFault,
    CpuHogFault,
    CpuThrottleFault,
    FaultSpec,
    GameDay,
    HttpFault,
    KillFault,
    KillScope,
    LatencyFault,
    LossFault,
    MemoryFault,
    NetworkBandwidthFault,
    PartitionFault,
    PauseFault,
    ProxyTarget,
    RefuseFault,
    Step,
    TimeoutFault,
)

__all__ = [
    "API_VERSION",
    "LABELS",
    "NAMESPACE",
    "chaos_mesh_schema",
    "export_chaos_mesh",
    "render_manifests",
    "validate_manifest",
]

API_VERSION: Final = "chaos-mesh.org/v1alpha1"
NAMESPACE: Final = "payments"
#: Pod labels of the roles a game day touches (edit to match the cluster).
LABELS: Final = {
    "service": {"app": "fraud-scoring"},
    "feature_store": {"app": "feature-store"},
    "generator": {"app": "load-generator"},
}
SERVICE_PORT: Final = 8080
_APPROX: Final = "slo-harness/approximation"
#: tc tbf queue limit for bandwidth (bytes); Chaos Mesh requires >= 1.
_TBF_LIMIT: Final = 20_971_520
_TBF_BUFFER: Final = 10_000
_KIND_OF_TEMPLATE: Final = {
    "NetworkChaos": "networkChaos",
    "PodChaos": "podChaos",
    "StressChaos": "stressChaos",
    "HTTPChaos": "httpChaos",
}

Manifest = dict[str, Any]


def go_duration(seconds: float) -> str:
    """Seconds as a Go duration: ``30s``, ``1.5s``, ``250ms``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:g}s" if seconds < 1e6 else f"{round(seconds)}s"


def dns_name(text: str) -> str:
    """A Kubernetes object name (RFC 1123 label: lower-case alphanumerics and '-', <= 63)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (slug or "step")[:63].rstrip("-")


def _selector(role: str) -> dict[str, Any]:
    return {"namespaces": [NAMESPACE], "labelSelectors": dict(LABELS[role])}


def _pods(role: str, mode: str = "all") -> dict[str, Any]:
    return {"selector": _selector(role), "mode": mode}


def _spec_for(fault: FaultSpec) -> tuple[str, dict[str, Any], str | None] | None:
    """(kind, spec without duration, approximation note) or None when there is no equivalent."""
    if isinstance(fault, LatencyFault):
        spec = {**_pods("service"), "action": "delay", "direction": "to"}
        if fault.target is ProxyTarget.FEATURE_STORE:
            spec["target"] = _pods("feature_store")
        spec["delay"] = {
            "latency": go_duration(fault.latency_ms / 1000),
            "jitter": go_duration(fault.jitter_ms / 1000),
            "correlation": "0",
        }
        note = None
        if fault.toxicity < 1.0:
            note = f"toxicity {fault.toxicity:g} (per connection) is not expressible: all traffic"
        return "NetworkChaos", spec, note
    if isinstance(fault, BandwidthFault | NetworkBandwidthFault):
        if isinstance(fault, BandwidthFault):
            rate_kb_s, buffer = fault.rate_kb_s, _TBF_BUFFER
        else:
            rate_kb_s, buffer = fault.rate_kbit_s / 8.0, _TBF_BUFFER
        spec = {**_pods("service"), "action": "bandwidth", "direction": "to"}
        spec["bandwidth"] = {"rate": f"{rate_kb_s:g}kbps", "limit": _TBF_LIMIT, "buffer": buffer}
        return "NetworkChaos", spec, None
    if isinstance(fault, LossFault):
        spec = {**_pods("service"), "action": "loss", "direction": "both"}
        spec["target"] = _pods("generator")
        spec["loss"] = {"loss": f"{fault.percent:g}", "correlation": "0"}
        return "NetworkChaos", spec, None
    if isinstance(fault, PartitionFault | RefuseFault | TimeoutFault):
        role = (
            "feature_store"
            if getattr(fault, "target", None) is ProxyTarget.FEATURE_STORE
            else "generator"
        )
        spec = {**_pods("service"), "action": "partition", "direction": "both"}
        spec["target"] = _pods(role)
        note = {
            PartitionFault: None,
            RefuseFault: "Chaos Mesh cannot reset connections: packets are dropped instead",
            TimeoutFault: "a blackhole proxy holds connections open; a partition drops packets",
        }[type(fault)]
        return "NetworkChaos", spec, note
    if isinstance(fault, HttpFault):
        spec = {**_pods("service"), "target": "Response", "port": SERVICE_PORT, "path": "*"}
        notes = []
        if fault.error_rate:
            spec["replace"] = {"code": fault.error_code}
            if fault.error_rate < 1.0:
                notes.append(
                    f"HTTPChaos has no per-request share: every response gets {fault.error_code}, "
                    f"not {fault.error_rate:.4g} of them"
                )
        if fault.average_delay_ms:
            spec["delay"] = go_duration(fault.average_delay_ms / 1000)
        if fault.exclude:
            notes.append(f"excluded paths {', '.join(fault.exclude)} are not expressible")
        return "HTTPChaos", spec, "; ".join(notes) or None
    if isinstance(fault, PauseFault):
        return (
            "PodChaos",
            {**_pods("service", "one"), "action": "pod-failure"},
            (
                "pod-failure makes the pod unavailable; the harness stops the process "
                "(SIGSTOP/freeze)"
            ),
        )
    if isinstance(fault, KillFault):
        action = "container-kill" if fault.scope is KillScope.WORKER else "pod-kill"
        spec = {**_pods("service", "one"), "action": action}
        if action == "container-kill":
            spec["containerNames"] = ["fraud-scoring"]
        what = (
            "one uvicorn worker (its master restarts it)"
            if fault.scope is KillScope.WORKER
            else "the service's main process and starts it again"
        )
        return "PodChaos", spec, f"Kubernetes restarts the pod/container; the harness kills {what}"
    if isinstance(fault, CpuHogFault):
        stress: dict[str, Any] = {
            "cpu": {"workers": fault.workers, "load": round(fault.load_percent)}
        }
        return "StressChaos", {**_pods("service"), "stressors": stress}, None
    if isinstance(fault, CpuThrottleFault):
        load = max(1, round(100 - fault.cpu_percent))
        stress = {"cpu": {"workers": 1, "load": load}}
        return (
            "StressChaos",
            {**_pods("service"), "stressors": stress},
            (f"a cgroup quota of {fault.cpu_percent:g}% is approximated by a competing CPU load"),
        )
    if isinstance(fault, MemoryFault):
        stress = {"memory": {"workers": 1, "size": f"{fault.size_mb}MB"}}
        return "StressChaos", {**_pods("service"), "stressors": stress}, None
    return None  # slow_close, reset_peer, slicer, limit_data: no Chaos Mesh equivalent


def _metadata(name: str, gameday: GameDay, note: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "labels": {"app.kubernetes.io/managed-by": "slo-harness"},
        "annotations": {"slo-harness/gameday": gameday.spec.title},
    }
    if note:
        meta["annotations"][_APPROX] = note
    return meta


def render_manifests(gameday: GameDay) -> tuple[dict[str, Manifest], list[str]]:
    """(file name -> manifest, unsupported step descriptions), all validated."""
    files: dict[str, Manifest] = {}
    unsupported: list[str] = []
    templates: list[dict[str, Any]] = []
    branches: list[str] = []
    for i, step in enumerate(gameday.timeline, start=1):
        mapped = _spec_for(step.fault)
        if mapped is None:
            unsupported.append(f"{step.name}: {step.fault.summary} (kind {step.fault.kind})")
            continue
        kind, spec, note = mapped
        name = dns_name(step.name)
        files[f"{i:02d}-{name}.yaml"] = {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": _metadata(name, gameday, note),
            "spec": {**spec, "duration": go_duration(step.for_s)},
        }
        branches.append(f"{name}-branch")
        templates.extend(_step_templates(step, name, kind, spec))
    if templates:
        entry = {"name": "gameday", "templateType": "Parallel", "children": branches}
        files["workflow.yaml"] = {
            "apiVersion": API_VERSION,
            "kind": "Workflow",
            "metadata": _metadata(dns_name(gameday.spec.title), gameday, None),
            "spec": {"entry": "gameday", "templates": [entry, *templates]},
        }
    for manifest in files.values():
        validate_manifest(manifest)
    return files, unsupported


def _step_templates(
    step: Step, name: str, kind: str, spec: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    yield {
        "name": f"{name}-branch",
        "templateType": "Serial",
        "children": [f"{name}-wait", name],
    }
    yield {"name": f"{name}-wait", "templateType": "Suspend", "deadline": go_duration(step.at_s)}
    yield {
        "name": name,
        "templateType": kind,
        "deadline": go_duration(step.for_s),
        _KIND_OF_TEMPLATE[kind]: spec,
    }


@cache
def chaos_mesh_schema() -> dict[str, Any]:
    """The JSON Schema of the emitted subset (``chaosmesh.schema.json``)."""
    text = resources.files(__package__).joinpath("chaosmesh.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_manifest(manifest: Manifest) -> None:
    """ValueError naming the first field of ``manifest`` the schema rejects."""
    validator = jsonschema.Draft202012Validator(chaos_mesh_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(manifest))
    if error is not None:
        where = "$" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        raise ValueError(f"{manifest.get('kind')} manifest: {where}: {error.message}")


def export_chaos_mesh(gameday: GameDay, directory: Path) -> list[Path]:
    """Write the manifests into ``directory`` (created); return the paths written."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory}: --export chaos-mesh needs a directory")
    files, unsupported = render_manifests(gameday)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, manifest in files.items():
        path = directory / name
        atomic_write_bytes(path, yaml.safe_dump(manifest, sort_keys=False).encode("utf-8"))
        written.append(path)
    if unsupported:
        path = directory / "UNSUPPORTED.txt"
        text = "Steps without a Chaos Mesh equivalent (not exported):\n" + "".join(
            f"- {line}\n" for line in unsupported
        )
        atomic_write_bytes(path, text.encode("utf-8"))
        written.append(path)
    return written
