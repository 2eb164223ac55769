"""Kubernetes manifests (files or directories) -> :class:`ManifestSet`, validated, at the edge.

Each YAML document goes through kubernetes-validate in strict mode (the bundled OpenAPI schemas,
no network: unknown fields are errors) and, for NetworkPolicies and pod templates, through
:mod:`harness.netpol.apiserver` (what the API server refuses but the schema allows). Every problem
of every file is collected and raised together as one :class:`ManifestError`, each naming the file,
the document index (``doc[N]``, 0-based) and the field path, so ``netpol`` commands exit 2 with the
whole list and never a traceback.

Workloads are the pod templates of Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and
CronJob objects and bare Pods. A directory is read recursively (``*.yaml``, ``*.yml``, ``*.json``,
sorted; ``kustomization.yaml`` is skipped). ``kind: List`` documents are flattened.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import kubernetes_validate

from harness.errors import ManifestError, SpecError
from harness.files import sha256_bytes
from harness.netpol.apiserver import check_container_ports, check_network_policy
from harness.netpol.model import (
    METADATA_NAME_LABEL,
    ContainerPort,
    Direction,
    Endpoint,
    EndpointKind,
    IpBlock,
    LabelSelector,
    ManifestSet,
    Namespace,
    Operator,
    Peer,
    Policy,
    PolicyPort,
    Protocol,
    Requirement,
    Rule,
    Source,
)
from harness.spec import MAX_BYTES, parse_yaml_all

__all__ = ["DEFAULT_NAMESPACE", "KUBERNETES_VERSION", "collect_files", "load_manifests"]

DEFAULT_NAMESPACE: Final = "default"
#: Schema version kubernetes-validate checks against (the newest it bundles).
KUBERNETES_VERSION: Final = "1.37"
_SUFFIXES: Final = (".yaml", ".yml", ".json")
_TEMPLATE_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def collect_files(paths: Sequence[Path]) -> list[Path]:
    """The manifest files under ``paths`` (files as given, directories recursively, sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix in _SUFFIXES and p.name != "kustomization.yaml"
            )
        elif path.exists():
            files.append(path)
        else:
            raise SpecError(str(path), "$", "an existing file or directory (not found)")
    return files


def load_manifests(
    paths: Sequence[Path],
    *,
    namespace: str = DEFAULT_NAMESPACE,
    extra_endpoints: Iterable[Endpoint] = (),
    extra_namespaces: Iterable[Namespace] = (),
    validate: bool = True,
) -> ManifestSet:
    """Read, validate and model every manifest under ``paths`` (ManifestError lists problems).

    ``namespace`` is where objects without ``metadata.namespace`` land (``kubectl apply -n``).
    ``validate=False`` skips the schema (for generated benchmark inputs only).
    """
    problems: list[SpecError] = []
    builder = _Builder(namespace)
    inputs: list[tuple[str, str]] = []
    for file in collect_files(paths):
        name = str(file)
        try:
            raw = file.read_bytes()
        except OSError as exc:
            problems.append(SpecError(name, "$", f"a readable file ({exc.strerror})"))
            continue
        inputs.append((name, sha256_bytes(raw)))
        for index, doc in _documents(name, raw, problems):
            found = list(_validate(doc, validate))
            problems += [SpecError(name, f"doc[{index}] {path}", exp) for path, exp in found]
            if not found:
                builder.add(doc, Source(name, index))
    problems += builder.problems
    if problems:
        raise ManifestError(tuple(problems))
    return builder.build(tuple(extra_endpoints), tuple(extra_namespaces), tuple(inputs))


def _documents(
    name: str, raw: bytes, problems: list[SpecError]
) -> Iterator[tuple[int, Mapping[str, Any]]]:
    if len(raw) > MAX_BYTES:
        problems.append(SpecError(name, "$", f"a file of at most {MAX_BYTES} bytes"))
        return
    try:
        docs: list[Any] = parse_yaml_all(raw.decode("utf-8"), name)
    except UnicodeDecodeError:
        problems.append(SpecError(name, "$", "a UTF-8 text file"))
        return
    except SpecError as exc:  # not YAML, a key twice, nested or aliased past the bounds
        problems.append(exc)
        return
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        if not _has_type(doc):
            problems.append(
                SpecError(name, f"doc[{index}] $", "an object with apiVersion and kind")
            )
        elif doc["kind"] == "List":
            for j, item in enumerate(doc.get("items") or []):
                if _has_type(item):
                    yield index, item
                else:
                    path = f"doc[{index}] $.items[{j}]"
                    problems.append(SpecError(name, path, "an object with apiVersion and kind"))
        else:
            yield index, doc


def _has_type(doc: object) -> bool:
    """An object whose apiVersion and kind are strings (kubernetes-validate raises a TypeError
    on anything else, found by fuzzing: ``apiVersion:`` left empty)."""
    return (
        isinstance(doc, Mapping)
        and isinstance(doc.get("kind"), str)
        and isinstance(doc.get("apiVersion"), str)
    )


def _validate(doc: Mapping[str, Any], schema: bool) -> Iterator[tuple[str, str]]:
    if schema:
        try:
            kubernetes_validate.validate(dict(doc), KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            yield _json_path(exc.absolute_path), exc.message
            return
        except kubernetes_validate.SchemaNotFoundError as exc:
            yield "$.kind", f"a kind Kubernetes {KUBERNETES_VERSION} knows ({exc.message})"
            return
    kind = doc.get("kind")
    if kind == "NetworkPolicy":
        yield from check_network_policy(doc)
    elif kind == "Pod":
        yield from check_container_ports(doc.get("spec") or {}, "$.spec")
    elif kind in _TEMPLATE_PATHS:
        template = _dig(doc, _TEMPLATE_PATHS[kind])
        base = "$." + ".".join(_TEMPLATE_PATHS[kind]) + ".spec"
        yield from check_container_ports((template or {}).get("spec") or {}, base)


def _json_path(parts: Iterable[object]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _dig(doc: Mapping[str, Any], keys: Sequence[str]) -> Any:
    node: Any = doc
    for key in keys:
        node = (node or {}).get(key)
    return node


class _Builder:
    """Accumulates model objects document by document; duplicate names are problems."""

    def __init__(self, default_namespace: str) -> None:
        self.default_namespace = default_namespace
        self.namespaces: dict[str, Namespace] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.policies: dict[str, Policy] = {}
        self.problems: list[SpecError] = []

    def add(self, doc: Mapping[str, Any], source: Source) -> None:
        kind = doc["kind"]
        meta = doc.get("metadata") or {}
        if kind == "Namespace":
            self._put_namespace(meta, source)
            return
        ns = str(meta.get("namespace") or self.default_namespace)
        if kind == "NetworkPolicy":
            policy = _policy(ns, doc, source)
            self._unique(self.policies, policy.ref, policy, source)
        elif kind == "Pod" or kind in _TEMPLATE_PATHS:
            template = doc if kind == "Pod" else _dig(doc, _TEMPLATE_PATHS[kind]) or {}
            endpoint = _workload(ns, str(meta.get("name", "")), kind, template, source)
            self._unique(self.endpoints, endpoint.ref, endpoint, source)

    def _put_namespace(self, meta: Mapping[str, Any], source: Source) -> None:
        name = str(meta.get("name", ""))
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        labels[METADATA_NAME_LABEL] = name
        self._unique(self.namespaces, name, Namespace(name, tuple(sorted(labels.items()))), source)

    def _unique(self, table: dict[str, Any], key: str, value: Any, source: Source) -> None:
        if key in table:
            first = getattr(table[key], "source", None)
            where = f" (first defined in {first})" if first else ""
            self.problems.append(
                SpecError(
                    source.file,
                    f"doc[{source.document}] $.metadata.name",
                    f"a unique name; {key} is defined twice{where}",
                )
            )
        else:
            table[key] = value

    def build(
        self,
        extra_endpoints: tuple[Endpoint, ...],
        extra_namespaces: tuple[Namespace, ...],
        inputs: tuple[tuple[str, str], ...],
    ) -> ManifestSet:
        endpoints = dict(self.endpoints)
        for endpoint in extra_endpoints:
            if endpoint.ref in endpoints:
                raise SpecError(
                    str(endpoint.source or "pods file"),
                    "$.pods",
                    f"a probe pod name not already used by a workload ({endpoint.ref})",
                )
            endpoints[endpoint.ref] = endpoint
        namespaces = dict(self.namespaces)
        for extra in extra_namespaces:
            namespaces.setdefault(extra.name, extra)
        referenced = {DEFAULT_NAMESPACE, *(e.namespace for e in endpoints.values() if e.is_pod)}
        referenced |= {p.namespace for p in self.policies.values()}
        for name in sorted(referenced - namespaces.keys()):
            namespaces[name] = Namespace(name, ((METADATA_NAME_LABEL, name),), declared=False)
        return ManifestSet(
            namespaces=tuple(namespaces[n] for n in sorted(namespaces)),
            endpoints=tuple(endpoints[r] for r in sorted(endpoints)),
            policies=tuple(self.policies[r] for r in sorted(self.policies)),
            inputs=inputs,
        )


def _workload(
    ns: str, name: str, kind: str, template: Mapping[str, Any], source: Source
) -> Endpoint:
    meta = template.get("metadata") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    spec = template.get("spec") or {}
    containers = list(spec.get("containers") or [])
    # native sidecars (init containers that keep running) can serve ports too
    containers += [
        c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"
    ]
    ports: dict[tuple[int, str], ContainerPort] = {}
    for container in containers:
        for port in container.get("ports") or []:
            cp = ContainerPort(
                port=int(port["containerPort"]),
                protocol=Protocol(port.get("protocol", "TCP")),
                name=port.get("name"),
            )
            ports.setdefault((cp.port, cp.protocol.value), cp)
    return Endpoint(
        namespace=ns,
        name=name,
        kind=EndpointKind.WORKLOAD,
        labels=tuple(sorted(labels.items())),
        ports=tuple(ports[k] for k in sorted(ports)),
        workload_kind=kind,
        host_network=bool(spec.get("hostNetwork", False)),
        source=source,
    )


def _policy(ns: str, doc: Mapping[str, Any], source: Source) -> Policy:
    spec = doc.get("spec") or {}
    ingress = tuple(_rule(r or {}, "from") for r in spec.get("ingress") or [])
    egress = tuple(_rule(r or {}, "to") for r in spec.get("egress") or [])
    declared = spec.get("policyTypes")
    if declared:
        types = frozenset(Direction(t) for t in declared)
    else:  # REFERENCE.md case 2: Ingress always, Egress only with a non-empty egress list
        types = frozenset({Direction.INGRESS} | ({Direction.EGRESS} if egress else set()))
    return Policy(
        namespace=ns,
        name=str((doc.get("metadata") or {}).get("name", "")),
        pod_selector=selector(spec.get("podSelector") or {}),
        policy_types=types,
        ingress=ingress,
        egress=egress,
        source=source,
    )


def _rule(rule: Mapping[str, Any], peers_key: str) -> Rule:
    return Rule(
        peers=tuple(_peer(p or {}) for p in rule.get(peers_key) or []),
        ports=tuple(
            PolicyPort(
                protocol=Protocol(p.get("protocol", "TCP")),
                port=p.get("port"),
                end_port=p.get("endPort"),
            )
            for p in (rule.get("ports") or [])
            if p is not None
        ),
    )


def _peer(peer: Mapping[str, Any]) -> Peer:
    block = peer.get("ipBlock")
    return Peer(
        pod_selector=selector(peer["podSelector"] or {}) if "podSelector" in peer else None,
        namespace_selector=(
            selector(peer["namespaceSelector"] or {}) if "namespaceSelector" in peer else None
        ),
        ip_block=(
            IpBlock(str(block["cidr"]), tuple(str(e) for e in block.get("except") or []))
            if block is not None
            else None
        ),
    )


def selector(raw: Mapping[str, Any]) -> LabelSelector:
    """A LabelSelector from its manifest form (``matchLabels``/``matchExpressions``)."""
    return LabelSelector(
        match_labels=tuple(
            sorted((str(k), str(v)) for k, v in (raw.get("matchLabels") or {}).items())
        ),
        match_expressions=tuple(
            Requirement(
                key=str(e["key"]),
                operator=Operator(e["operator"]),
                values=tuple(str(v) for v in e.get("values") or []),
            )
            for e in raw.get("matchExpressions") or []
        ),
    )
