"""The manifest model: what the engine needs of namespaces, workloads and NetworkPolicies.

Kubernetes objects are parsed once, at the edge (``harness.netpol.load``), into these frozen
msgspec Structs; nothing downstream reads YAML. The model keeps only what NetworkPolicy v1
semantics depend on, with every default already applied:

- a policy's ``policy_types`` is the *effective* set (REFERENCE.md case 2: ``[Ingress]``, plus
  ``Egress`` only when the egress list is non-empty, unless the manifest spells them out);
- a port's ``protocol`` defaults to TCP; a rule's empty ``peers``/``ports`` means "every peer" /
  "every port" (case 4) and is kept as an empty tuple with ``all_peers``/``all_ports`` flags;
- a namespace's labels include the immutable ``kubernetes.io/metadata.name`` (case 7);
- a manifest without ``metadata.namespace`` lands in the namespace given to the loader
  (``default`` unless told otherwise, like ``kubectl apply -n``; case 13).

Endpoints are either pods (a workload template, or a probe-only pod) or *external* addresses
declared in a probe-pods file: an external endpoint has an IP, no namespace and no labels, so only
``ipBlock`` peers can match it and no policy can select it. Pod IPs are unknown offline, so an
``ipBlock`` never matches a pod unless the pods file gives it an ``ip`` (case 8: matching pod IPs
by ipBlock is implementation-defined).
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec

__all__ = [
    "EXTERNAL_NAMESPACE",
    "METADATA_NAME_LABEL",
    "ContainerPort",
    "Direction",
    "Endpoint",
    "EndpointKind",
    "IpBlock",
    "LabelSelector",
    "ManifestSet",
    "Namespace",
    "Operator",
    "Peer",
    "Policy",
    "PolicyPort",
    "Protocol",
    "Requirement",
    "Rule",
    "Source",
]

#: The label the API server puts on every namespace (immutable; REFERENCE.md case 7).
METADATA_NAME_LABEL: Final = "kubernetes.io/metadata.name"
#: The pseudo-namespace external endpoints are shown under (``external/internet``).
EXTERNAL_NAMESPACE: Final = "external"


class Protocol(enum.Enum):
    """The three protocols NetworkPolicy ports accept."""

    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"


class Direction(enum.Enum):
    """A policy type: which direction of a pod's traffic a policy isolates."""

    INGRESS = "Ingress"
    EGRESS = "Egress"


class Operator(enum.Enum):
    """A matchExpressions operator."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class Requirement(msgspec.Struct, frozen=True):
    """One matchExpressions item (values empty for Exists/DoesNotExist)."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()


class LabelSelector(msgspec.Struct, frozen=True):
    """matchLabels AND matchExpressions; an empty selector matches everything (case 6)."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    @property
    def is_empty(self) -> bool:
        """True for ``{}``: selects every pod (or namespace)."""
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether ``labels`` satisfy every term (the reference implementation of case 6)."""
        if any(labels.get(k) != v for k, v in self.match_labels):
            return False
        for req in self.match_expressions:
            present = req.key in labels
            if req.operator is Operator.IN and not (present and labels[req.key] in req.values):
                return False
            if req.operator is Operator.NOT_IN and present and labels[req.key] in req.values:
                return False
            if req.operator is Operator.EXISTS and not present:
                return False
            if req.operator is Operator.DOES_NOT_EXIST and present:
                return False
        return True

    def describe(self) -> str:
        """Short text form: ``{}`` or ``app=x,tier in (a,b)``."""
        terms = [f"{k}={v}" for k, v in self.match_labels]
        for req in self.match_expressions:
            if req.operator in (Operator.IN, Operator.NOT_IN):
                op = "in" if req.operator is Operator.IN else "notin"
                terms.append(f"{req.key} {op} ({','.join(req.values)})")
            else:
                terms.append(req.key if req.operator is Operator.EXISTS else f"!{req.key}")
        return ",".join(terms) if terms else "{}"


class IpBlock(msgspec.Struct, frozen=True):
    """``cidr`` minus each ``except`` (each a strict subnet of ``cidr``; case 8)."""

    cidr: str
    excepts: tuple[str, ...] = ()


class Peer(msgspec.Struct, frozen=True):
    """One item of ``from``/``to``: podSelector and/or namespaceSelector (ANDed), or ipBlock."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IpBlock | None = None

    def describe(self) -> str:
        """Short text form used in reasons and lints."""
        if self.ip_block is not None:
            excepts = f" except {','.join(self.ip_block.excepts)}" if self.ip_block.excepts else ""
            return f"ipBlock {self.ip_block.cidr}{excepts}"
        parts = []
        if self.namespace_selector is not None:
            parts.append(f"namespaceSelector {self.namespace_selector.describe()}")
        if self.pod_selector is not None:
            parts.append(f"podSelector {self.pod_selector.describe()}")
        return " AND ".join(parts)


class PolicyPort(msgspec.Struct, frozen=True):
    """One ``ports`` item: protocol (default TCP), a number or a name (or none), ``endPort``."""

    protocol: Protocol = Protocol.TCP
    port: int | str | None = None
    end_port: int | None = None

    def describe(self) -> str:
        """``TCP/8080``, ``TCP/8000-8100``, ``TCP/http`` or ``TCP/*``."""
        if self.port is None:
            return f"{self.protocol.value}/*"
        if self.end_port is not None:
            return f"{self.protocol.value}/{self.port}-{self.end_port}"
        return f"{self.protocol.value}/{self.port}"


class Rule(msgspec.Struct, frozen=True):
    """One ingress or egress rule: peers (ORed) x ports (ORed); empty means all (case 4)."""

    peers: tuple[Peer, ...] = ()
    ports: tuple[PolicyPort, ...] = ()

    @property
    def all_peers(self) -> bool:
        """A missing or empty ``from``/``to`` matches every peer, inside and outside the cluster."""
        return not self.peers

    @property
    def all_ports(self) -> bool:
        """A missing or empty ``ports`` matches every port and protocol."""
        return not self.ports


class Source(msgspec.Struct, frozen=True):
    """Where an object came from: file, 0-based document index, and kind/name for messages."""

    file: str
    document: int

    def __str__(self) -> str:
        return f"{self.file}#{self.document}"


class Policy(msgspec.Struct, frozen=True):
    """A NetworkPolicy with its defaults applied (effective ``policy_types``)."""

    namespace: str
    name: str
    pod_selector: LabelSelector
    policy_types: frozenset[Direction]
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    source: Source | None = None

    @property
    def ref(self) -> str:
        """``namespace/name``, the policy's name in reasons and findings."""
        return f"{self.namespace}/{self.name}"

    def rules(self, direction: Direction) -> tuple[Rule, ...]:
        """The rules of one direction."""
        return self.ingress if direction is Direction.INGRESS else self.egress


class ContainerPort(msgspec.Struct, frozen=True):
    """A declared container port: number, protocol and optional name (for named ports)."""

    port: int
    protocol: Protocol = Protocol.TCP
    name: str | None = None


class EndpointKind(enum.Enum):
    """What an endpoint of the matrix stands for."""

    WORKLOAD = "workload"  # a Deployment/StatefulSet/DaemonSet/Job/CronJob/Pod template
    PROBE = "probe"  # a probe-only pod from a pods file
    EXTERNAL = "external"  # an address outside the cluster (only ipBlock peers match it)


class Endpoint(msgspec.Struct, frozen=True):
    """One row/column of the matrix: a pod (namespace, labels, ports) or an external address."""

    namespace: str
    name: str
    kind: EndpointKind
    labels: tuple[tuple[str, str], ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    ip: str | None = None
    workload_kind: str = "Pod"
    host_network: bool = False  # policies on hostNetwork pods are implementation-defined
    source: Source | None = None

    @property
    def ref(self) -> str:
        """``namespace/name`` (``external/name`` for external endpoints)."""
        return f"{self.namespace}/{self.name}"

    @property
    def is_pod(self) -> bool:
        """False for external endpoints (which policies never select)."""
        return self.kind is not EndpointKind.EXTERNAL

    @property
    def label_map(self) -> dict[str, str]:
        """The labels as a dict."""
        return dict(self.labels)


class Namespace(msgspec.Struct, frozen=True):
    """A namespace and its labels (``kubernetes.io/metadata.name`` always included)."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()
    declared: bool = True  # False when only referenced (no Namespace object was loaded)

    @property
    def label_map(self) -> dict[str, str]:
        """The labels as a dict."""
        return dict(self.labels)


class ManifestSet(msgspec.Struct, frozen=True):
    """Everything loaded from a set of paths: namespaces, endpoints, policies, input digests."""

    namespaces: tuple[Namespace, ...]
    endpoints: tuple[Endpoint, ...]
    policies: tuple[Policy, ...]
    inputs: tuple[tuple[str, str], ...] = ()  # (file, sha256) of every file read

    def namespace(self, name: str) -> Namespace | None:
        """The namespace called ``name``, if known."""
        return next((ns for ns in self.namespaces if ns.name == name), None)
