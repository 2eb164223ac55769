"""Lints: policy mistakes that break PCI segmentation, each with a requirement id and a fix.

Peers (kube-score, Polaris, kubeaudit) flag missing policies; none names a PCI requirement and
none knows the NetworkPolicy traps that open a CDE quietly. Each :class:`Finding` carries the
code, the severity (``error`` fails ``netpol lint`` with exit 1, ``warning`` is reported), the PCI
DSS requirement it endangers, where (policy or pod, file#document and field path) and the fix.

=========================  ========  =======================================================
code                       req       what
=========================  ========  =======================================================
cde-unrestricted-egress    1.3.2     a CDE pod whose egress no policy isolates (or ``to: {}``
                                     with every port)
cde-unrestricted-ingress   1.3.1     a CDE pod selected by policies, none isolating ingress
cde-pod-unselected         1.3.1     a pod in a CDE namespace selected by no policy
cde-all-ports              1.2.5     a rule of a policy selecting CDE pods admitting every port
cde-any-peer               1.3.1/2   a rule into/out of the CDE with no ``from``/``to``
ipblock-any-cde            1.4.2     ipBlock 0.0.0.0/0 (or ::/0) into (1.4.2) or out of (1.3.2)
                                     the CDE
namespace-selector-all     1.3.1/2   ``namespaceSelector: {}``: every namespace of the cluster
split-peer                 1.3.1/2   namespaceSelector and podSelector in two items (OR) where
                                     one item (AND) was probably meant
policy-selects-no-pod      1.2.1     a policy whose podSelector matches no pod
peer-matches-no-pod        1.2.1     a peer matching no pod (podSelector alone only looks in the
                                     policy's own namespace)
egress-without-dns         1.2.1     egress isolated, some egress allowed, no UDP 53 allowed
host-network-pod           1.2.1     a hostNetwork pod: policy enforcement implementation-defined
=========================  ========  =======================================================

Pure: works on a :class:`Matrix` (its compiled policies and selector index).
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterator

import msgspec

from harness.netpol.engine import CompiledPolicy, CompiledRule, Matrix, port_matches
from harness.netpol.model import Direction, Endpoint, Peer, Policy, Protocol
from harness.netpol.pci import Zone, pci_requirements, zone_bits
from harness.netpol.selectors import members

__all__ = ["Finding", "Severity", "lint"]


class Severity(enum.Enum):
    """``error`` fails the lint; ``warning`` is reported only."""

    ERROR = "error"
    WARNING = "warning"


class Finding(msgspec.Struct, frozen=True):
    """One lint finding."""

    code: str
    severity: Severity
    requirement: str
    subject: str  # the policy or pod concerned (ns/name)
    location: str  # file#document $.field.path
    message: str
    fix: str

    def __str__(self) -> str:
        return (
            f"{self.severity.value} [{self.requirement}] {self.code}: {self.subject}: "
            f"{self.message} ({self.location})\n    fix: {self.fix}"
        )


_DIR_REQ = {Direction.INGRESS: "1.3.1", Direction.EGRESS: "1.3.2"}
_SIDE = {Direction.INGRESS: ("ingress", "from"), Direction.EGRESS: ("egress", "to")}


def lint(matrix: Matrix, zones: tuple[Zone, ...] = ()) -> tuple[Finding, ...]:
    """Every finding for the manifests behind ``matrix``; CDE = ``zones`` or the default zone."""
    cde = 0
    for zone in zones or (pci_requirements().default_zone,):
        cde |= zone_bits(zone, matrix.index)
    findings = [
        *_pod_findings(matrix, cde),
        *(f for cp in matrix.policies for f in _policy_findings(matrix, cp, cde)),
    ]
    findings.sort(key=lambda f: (f.severity.value, f.requirement, f.code, f.subject, f.location))
    return tuple(findings)


def _where(policy: Policy, path: str = "") -> str:
    src = str(policy.source) if policy.source is not None else policy.ref
    return f"{src} $.spec{path}"


def _pod_where(endpoint: Endpoint) -> str:
    return str(endpoint.source) if endpoint.source is not None else endpoint.ref


def _pod_findings(matrix: Matrix, cde: int) -> Iterator[Finding]:
    cde_namespaces = {matrix.endpoints[i].namespace for i in members(cde)}
    for i, ep in enumerate(matrix.endpoints):
        if not ep.is_pod:
            continue
        if ep.host_network:
            yield Finding(
                "host-network-pod",
                Severity.ERROR if (cde >> i) & 1 else Severity.WARNING,
                "1.2.1",
                ep.ref,
                _pod_where(ep),
                "hostNetwork pod: whether NetworkPolicies apply to it depends on the network "
                "plugin (implementation-defined), so this matrix may not hold for it",
                "drop hostNetwork, or segment the node itself (host firewall) and probe it live",
            )
        selected = any((cp.selected >> i) & 1 for cp in matrix.policies)
        if ep.namespace in cde_namespaces and not selected:
            yield Finding(
                "cde-pod-unselected",
                Severity.ERROR,
                "1.3.1",
                ep.ref,
                _pod_where(ep),
                f"pod in CDE namespace {ep.namespace} is selected by no NetworkPolicy: "
                "all ingress and egress allowed",
                f"add a default-deny policy in {ep.namespace} (podSelector: {{}}, "
                "policyTypes: [Ingress, Egress]) and allow only approved flows",
            )
            continue
        if not (cde >> i) & 1:
            continue
        egress = matrix.isolating(i, Direction.EGRESS)
        if not egress or _opens_everything(egress, Direction.EGRESS):
            yield Finding(
                "cde-unrestricted-egress",
                Severity.ERROR,
                "1.3.2",
                ep.ref,
                _pod_where(ep),
                "CDE pod with unrestricted egress: no policy selecting it has Egress in "
                "policyTypes (without policyTypes a policy isolates ingress only)"
                if not egress
                else "CDE pod with unrestricted egress: an egress rule admits "
                "every destination on every port",
                f"add a policy in {ep.namespace} selecting it with policyTypes: [Egress] "
                "(deny by default) and egress rules for DNS and the approved destinations only",
            )
        if selected and not matrix.isolating(i, Direction.INGRESS):
            yield Finding(
                "cde-unrestricted-ingress",
                Severity.ERROR,
                "1.3.1",
                ep.ref,
                _pod_where(ep),
                "CDE pod whose ingress no policy isolates (its policies list only Egress)",
                "add Ingress to policyTypes of a policy selecting it, with only approved sources",
            )


def _opens_everything(policies: list[CompiledPolicy], direction: Direction) -> bool:
    return any(
        cr.rule.all_peers and cr.rule.all_ports for cp in policies for cr in cp.rules(direction)
    )


def _policy_findings(matrix: Matrix, cp: CompiledPolicy, cde: int) -> Iterator[Finding]:
    policy = cp.policy
    if not cp.selected:
        yield Finding(
            "policy-selects-no-pod",
            Severity.WARNING,
            "1.2.1",
            policy.ref,
            _where(policy, ".podSelector"),
            f"podSelector {policy.pod_selector.describe()} matches no pod in namespace "
            f"{policy.namespace}" + _elsewhere(matrix, policy),
            "fix the labels or the namespace (a manifest without metadata.namespace lands in "
            "the namespace it is applied to); delete the policy if it is obsolete",
        )
    touches_cde = bool(cp.selected & cde)
    for direction in Direction:
        if direction not in policy.policy_types:
            continue
        for cr in cp.rules(direction):
            yield from _rule_findings(matrix, cp, cr, direction, touches_cde)
    if cp.isolates(Direction.EGRESS) and cp.selected:
        yield from _dns_findings(matrix, cp)


def _elsewhere(matrix: Matrix, policy: Policy) -> str:
    hits = {
        matrix.endpoints[i].namespace
        for i in members(matrix.index.select(policy.pod_selector, matrix.index.pods))
    }
    return f" (pods with these labels live in {', '.join(sorted(hits))})" if hits else ""


def _rule_findings(
    matrix: Matrix, cp: CompiledPolicy, cr: CompiledRule, direction: Direction, cde: bool
) -> Iterator[Finding]:
    policy, rule = cp.policy, cr.rule
    side, peers_key = _SIDE[direction]
    base = f".{side}[{cr.ref.rule}]"
    req = _DIR_REQ[direction]
    into = "into" if direction is Direction.INGRESS else "out of"
    if cde and (rule.all_ports or any(p.port is None for p in rule.ports)):
        yield Finding(
            "cde-all-ports",
            Severity.ERROR,
            "1.2.5",
            policy.ref,
            _where(policy, base + ".ports"),
            f"{side} rule admits every port {into} the CDE "
            "(no ports, or a protocol without a port)",
            "list only the approved ports, e.g. ports: [{protocol: TCP, port: 8080}]",
        )
    if cde and rule.all_peers:
        yield Finding(
            "cde-any-peer",
            Severity.ERROR,
            req,
            policy.ref,
            _where(policy, base),
            f"{side} rule has no '{peers_key}': every pod and every address {into} the CDE",
            f"name the approved peers in '{peers_key}' "
            "(namespaceSelector AND podSelector in one item)",
        )
    for j, peer in enumerate(rule.peers):
        where = _where(policy, f"{base}.{peers_key}[{j}]")
        if peer.ip_block is not None:
            if cde and ipaddress.ip_network(peer.ip_block.cidr, strict=False).prefixlen == 0:
                yield Finding(
                    "ipblock-any-cde",
                    Severity.ERROR,
                    "1.4.2" if direction is Direction.INGRESS else "1.3.2",
                    policy.ref,
                    where,
                    f"ipBlock {peer.ip_block.cidr} {into} the CDE: "
                    "every address, the internet included",
                    "restrict the CIDR to the approved networks",
                )
            continue
        if peer.namespace_selector is not None and peer.namespace_selector.is_empty:
            yield Finding(
                "namespace-selector-all",
                Severity.ERROR if cde else Severity.WARNING,
                req if cde else "1.2.1",
                policy.ref,
                where,
                "namespaceSelector {} matches every namespace of the cluster"
                + (
                    " (with its podSelector: same-labelled pods anywhere)"
                    if peer.pod_selector
                    else ""
                ),
                "select the namespace by name: namespaceSelector: {matchLabels: "
                "{kubernetes.io/metadata.name: NAME}}",
            )
        if not cr.peer_bits[j]:
            yield Finding(
                "peer-matches-no-pod",
                Severity.WARNING,
                "1.2.1",
                policy.ref,
                where,
                f"peer {peer.describe()} matches no pod" + _peer_hint(matrix, policy, peer),
                "fix the selector; to reach pods in another namespace put namespaceSelector "
                "and podSelector in the same item",
            )
    yield from _split_peer(cp, cr, direction, cde)


def _peer_hint(matrix: Matrix, policy: Policy, peer: Peer) -> str:
    if peer.namespace_selector is None and peer.pod_selector is not None:
        hits = matrix.index.select(peer.pod_selector, matrix.index.pods)
        namespaces = sorted({matrix.endpoints[i].namespace for i in members(hits)})
        if namespaces:
            return (
                f"; a podSelector alone looks only in {policy.namespace}, but such pods live "
                f"in {', '.join(namespaces)}"
            )
    return ""


def _split_peer(
    cp: CompiledPolicy, cr: CompiledRule, direction: Direction, cde: bool
) -> Iterator[Finding]:
    ns_only = [
        j
        for j, p in enumerate(cr.rule.peers)
        if p.namespace_selector is not None
        and p.pod_selector is None
        and not p.namespace_selector.is_empty
    ]
    pod_only = [
        j
        for j, p in enumerate(cr.rule.peers)
        if p.pod_selector is not None and p.namespace_selector is None
    ]
    if ns_only and pod_only:
        side, peers_key = _SIDE[direction]
        yield Finding(
            "split-peer",
            Severity.ERROR if cde else Severity.WARNING,
            _DIR_REQ[direction] if cde else "1.2.1",
            cp.policy.ref,
            _where(cp.policy, f".{side}[{cr.ref.rule}].{peers_key}"),
            f"{peers_key}[{ns_only[0]}] (namespaceSelector only) and {peers_key}[{pod_only[0]}] "
            "(podSelector only) are two peers, ORed: every pod of those namespaces is admitted",
            "if the pods of that namespace were meant, merge both selectors into ONE item "
            "(- namespaceSelector: ...\\n  podSelector: ...)",
        )


def _dns_findings(matrix: Matrix, cp: CompiledPolicy) -> Iterator[Finding]:
    """Once per policy: pods it isolates for egress that may reach something but not DNS."""
    for i in members(cp.selected):
        isolating = matrix.isolating(i, Direction.EGRESS)
        if isolating[0] is not cp:  # report against the first isolating policy only
            continue
        rules = [cr.rule for p in isolating for cr in p.egress]
        if not rules:
            continue  # everything denied: nothing to resolve names for
        dns = any(
            r.all_ports or any(port_matches(p, (), 53, Protocol.UDP) for p in r.ports)
            for r in rules
        )
        if not dns:
            ep = matrix.endpoints[i]
            yield Finding(
                "egress-without-dns",
                Severity.WARNING,
                "1.2.1",
                ep.ref,
                _where(cp.policy, ".policyTypes"),
                "egress is isolated and some egress allowed, but no rule admits DNS (UDP 53): "
                "name lookups will time out",
                "add an egress rule to kube-dns: namespaceSelector {kubernetes.io/metadata.name: "
                "kube-system} AND podSelector {k8s-app: kube-dns}, ports UDP 53 and TCP 53",
            )
