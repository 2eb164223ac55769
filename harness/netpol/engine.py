"""The evaluation engine: NetworkPolicy v1 semantics -> a reachability matrix. Pure, no I/O.

A *slot* is one declared destination port (endpoint, number, protocol); the matrix holds, for
every slot, the bitset of sources that may open a connection to it. A connection needs both
halves (REFERENCE.md case 10): the source's egress and the destination's ingress.

Per direction, a pod is *isolated* only by a policy that selects it AND lists that direction in
its effective policyTypes (cases 1-2); a non-isolated direction allows everything. An isolated
direction allows exactly the union of the rules of every isolating policy (case 4: rules ORed,
policies unioned, order irrelevant), a rule matching when one of its peers matches the other end
(case 5) and one of its ports matches the slot (case 9: protocol defaults to TCP, a named port
resolves against the *destination* pod's container ports, ``endPort`` makes a range). Replies of
allowed connections are allowed (case 10), so the matrix is of connection openers. A pod is never
blocked from itself (case 11): self pairs are left out of the matrix. Traffic from a pod's own
node (kubelet probes) is always allowed and is not a row of the matrix; hostNetwork pods are
modelled like others but flagged by the ``host-network-pod`` lint (implementation-defined).

``reason`` strings are computed on demand (:meth:`Matrix.verdict`) from the same compiled rules,
naming each policy rule (``ns/name ingress[0].from[1]``) that allowed the flow or each policy
that isolated it, so a 1,000-pod matrix costs bit operations, not a million strings.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import msgspec

from harness.netpol.model import (
    ContainerPort,
    Direction,
    Endpoint,
    ManifestSet,
    Policy,
    PolicyPort,
    Protocol,
    Rule,
)
from harness.netpol.selectors import SelectorIndex

__all__ = [
    "CompiledPolicy",
    "CompiledRule",
    "Flow",
    "FlowVerdict",
    "Matrix",
    "RuleRef",
    "Slot",
    "evaluate",
    "port_matches",
]


class Slot(msgspec.Struct, frozen=True):
    """A destination port: endpoint index, port number, protocol."""

    endpoint: int
    port: int
    protocol: Protocol


class RuleRef(msgspec.Struct, frozen=True):
    """One rule (and the peer item in it that matched, when the rule lists peers)."""

    policy: str
    direction: Direction
    rule: int
    peer: int | None = None

    def __str__(self) -> str:
        side = "ingress" if self.direction is Direction.INGRESS else "egress"
        peers = "from" if self.direction is Direction.INGRESS else "to"
        where = f"{self.policy} {side}[{self.rule}]"
        return where if self.peer is None else f"{where}.{peers}[{self.peer}]"


class FlowVerdict(msgspec.Struct, frozen=True):
    """One flow's verdict with the rules behind each half."""

    allowed: bool
    egress_allowed: bool
    ingress_allowed: bool
    egress_rules: tuple[RuleRef, ...]  # rules that admitted it (empty when not isolated)
    ingress_rules: tuple[RuleRef, ...]
    egress_isolated_by: tuple[str, ...]  # policies isolating the source's egress
    ingress_isolated_by: tuple[str, ...]
    reason: str


class Flow(msgspec.Struct, frozen=True):
    """One row of the JSON matrix: ``{"from", "to", "port", "protocol", "allowed", "reason"}``."""

    from_: str = msgspec.field(name="from")
    to: str = ""
    port: int = 0
    protocol: str = "TCP"
    allowed: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule with each peer resolved to a bitset of endpoints (``union``: any peer)."""

    ref: RuleRef
    rule: Rule
    peer_bits: tuple[int, ...]
    union: int


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A policy with the pods it selects and its rules compiled."""

    policy: Policy
    selected: int
    ingress: tuple[CompiledRule, ...]
    egress: tuple[CompiledRule, ...]

    def isolates(self, direction: Direction) -> bool:
        """Whether this policy isolates its selected pods in ``direction``."""
        return direction in self.policy.policy_types

    def rules(self, direction: Direction) -> tuple[CompiledRule, ...]:
        """The compiled rules of one direction."""
        return self.ingress if direction is Direction.INGRESS else self.egress


def port_matches(
    spec: PolicyPort, ports: Sequence[ContainerPort], number: int, proto: Protocol
) -> bool:
    """Whether a policy port admits ``number``/``proto`` on a destination declaring ``ports``."""
    if spec.protocol is not proto:
        return False
    if spec.port is None:
        return True
    if isinstance(spec.port, str):  # named: resolved on the destination pod (case 9)
        return any(p.name == spec.port and p.port == number and p.protocol is proto for p in ports)
    if spec.end_port is None:
        return number == spec.port
    return spec.port <= number <= spec.end_port


def _rule_admits_port(rule: Rule, dst: Endpoint, slot: Slot) -> bool:
    return rule.all_ports or any(
        port_matches(p, dst.ports, slot.port, slot.protocol) for p in rule.ports
    )


def _compile(policy: Policy, index: SelectorIndex) -> CompiledPolicy:
    def rules(direction: Direction) -> tuple[CompiledRule, ...]:
        out = []
        for i, rule in enumerate(policy.rules(direction)):
            bits = tuple(index.peer(p, policy.namespace) for p in rule.peers)
            union = index.all
            if bits:
                union = 0
                for b in bits:
                    union |= b
            out.append(CompiledRule(RuleRef(policy.ref, direction, i), rule, bits, union))
        return tuple(out)

    return CompiledPolicy(
        policy=policy,
        selected=index.policy_targets(policy.namespace, policy.pod_selector),
        ingress=rules(Direction.INGRESS),
        egress=rules(Direction.EGRESS),
    )


class Matrix:
    """The reachability matrix of one manifest set (build it with :func:`evaluate`)."""

    def __init__(self, manifests: ManifestSet) -> None:
        self.manifests = manifests
        self.endpoints: tuple[Endpoint, ...] = manifests.endpoints
        self.index = SelectorIndex(self.endpoints, manifests.namespaces)
        self.policies = tuple(_compile(p, self.index) for p in manifests.policies)
        n = len(self.endpoints)
        self._isolating: dict[Direction, list[list[CompiledPolicy]]] = {
            d: [[] for _ in range(n)] for d in Direction
        }
        for cp in self.policies:
            for direction in cp.policy.policy_types:
                bits = cp.selected
                while bits:
                    low = bits & -bits
                    self._isolating[direction][low.bit_length() - 1].append(cp)
                    bits ^= low
        self.slots = tuple(
            Slot(i, p.port, p.protocol) for i, ep in enumerate(self.endpoints) for p in ep.ports
        )
        self._egress_open = 0  # sources whose egress no policy isolates (externals included)
        for i in range(n):
            if not self._isolating[Direction.EGRESS][i]:
                self._egress_open |= 1 << i
        self._egress_policies = [cp for cp in self.policies if cp.isolates(Direction.EGRESS)]
        self._allowed = [self._sources_allowed(slot) for slot in self.slots]

    # -- the matrix -------------------------------------------------------------------------
    def isolating(self, endpoint: int, direction: Direction) -> list[CompiledPolicy]:
        """The policies isolating ``endpoint`` in ``direction`` (empty: not isolated)."""
        return self._isolating[direction][endpoint]

    def _sources_allowed(self, slot: Slot) -> int:
        dst = self.endpoints[slot.endpoint]
        ingress = self.index.all
        isolating = self.isolating(slot.endpoint, Direction.INGRESS)
        if isolating:
            ingress = 0
            for cp in isolating:
                for cr in cp.ingress:
                    if _rule_admits_port(cr.rule, dst, slot):
                        ingress |= cr.union
        egress = self._egress_open
        for cp in self._egress_policies:
            for cr in cp.egress:
                if (cr.union >> slot.endpoint) & 1 and _rule_admits_port(cr.rule, dst, slot):
                    egress |= cp.selected
        allowed = ingress & egress & ~(1 << slot.endpoint)
        # traffic between two addresses outside the cluster is no business of the cluster's
        return allowed if dst.is_pod else allowed & self.index.pods

    def allowed_sources(self, slot_index: int) -> int:
        """Bitset of the endpoints allowed to connect to slot ``slot_index`` (never itself)."""
        return self._allowed[slot_index]

    def is_allowed(self, src: int, slot_index: int) -> bool:
        """Whether endpoint ``src`` may open a connection to slot ``slot_index``."""
        return bool((self._allowed[slot_index] >> src) & 1)

    def find(self, src: str, dst: str, port: int, protocol: str = "TCP") -> tuple[int, int]:
        """The (source, slot index) of a flow given by ``ns/pod`` names (KeyError if absent)."""
        refs = {e.ref: i for i, e in enumerate(self.endpoints)}
        if src not in refs or dst not in refs:
            raise KeyError(f"no endpoint {src if src not in refs else dst}")
        for s, slot in enumerate(self.slots):
            if (
                slot.endpoint == refs[dst]
                and slot.port == port
                and slot.protocol.value == protocol
                and refs[src] != slot.endpoint
            ):
                return refs[src], s
        raise KeyError(f"{dst} declares no {protocol}/{port} (or it is {src} itself)")

    def count_allowed(self) -> int:
        """Number of allowed (source, slot) pairs, self pairs excluded."""
        return sum(bits.bit_count() for bits in self._allowed)

    def pairs(self) -> Iterator[tuple[int, int]]:
        """Every (source, slot index) pair of the matrix, self pairs excluded, in order."""
        for s, slot in enumerate(self.slots):
            external_dst = not self.endpoints[slot.endpoint].is_pod
            for src in range(len(self.endpoints)):
                if src != slot.endpoint and not (external_dst and not self.endpoints[src].is_pod):
                    yield src, s

    def flows(self) -> Iterator[Flow]:
        """Every flow with its verdict and reason, sorted by from, to, port, protocol."""
        order = sorted(
            self.pairs(),
            key=lambda p: (
                self.endpoints[p[0]].ref,
                self.endpoints[self.slots[p[1]].endpoint].ref,
                self.slots[p[1]].port,
                self.slots[p[1]].protocol.value,
            ),
        )
        for src, s in order:
            yield self.flow(src, s)

    def flow(self, src: int, slot_index: int) -> Flow:
        """One flow as a JSON row."""
        slot = self.slots[slot_index]
        verdict = self.verdict(src, slot_index)
        return Flow(
            from_=self.endpoints[src].ref,
            to=self.endpoints[slot.endpoint].ref,
            port=slot.port,
            protocol=slot.protocol.value,
            allowed=verdict.allowed,
            reason=verdict.reason,
        )

    # -- explanations -----------------------------------------------------------------------
    def verdict(self, src: int, slot_index: int) -> FlowVerdict:
        """The verdict for one flow with the rules and policies behind it."""
        slot = self.slots[slot_index]
        dst = self.endpoints[slot.endpoint]
        eg_iso = self.isolating(src, Direction.EGRESS)
        eg_rules = self._matching(eg_iso, Direction.EGRESS, slot.endpoint, dst, slot)
        in_iso = self.isolating(slot.endpoint, Direction.INGRESS)
        in_rules = self._matching(in_iso, Direction.INGRESS, src, dst, slot)
        eg_ok = not eg_iso or bool(eg_rules)
        in_ok = not in_iso or bool(in_rules)
        where = f"{self.endpoints[src].ref} -> {dst.ref} {slot.protocol.value}/{slot.port}"
        reason = "; ".join(
            (
                _half("egress", self.endpoints[src], eg_iso, eg_rules, where),
                _half("ingress", dst, in_iso, in_rules, where),
            )
        )
        return FlowVerdict(
            allowed=eg_ok and in_ok,
            egress_allowed=eg_ok,
            ingress_allowed=in_ok,
            egress_rules=eg_rules,
            ingress_rules=in_rules,
            egress_isolated_by=tuple(cp.policy.ref for cp in eg_iso),
            ingress_isolated_by=tuple(cp.policy.ref for cp in in_iso),
            reason=reason,
        )

    def _matching(
        self,
        isolating: list[CompiledPolicy],
        direction: Direction,
        other: int,
        dst: Endpoint,
        slot: Slot,
    ) -> tuple[RuleRef, ...]:
        refs: list[RuleRef] = []
        for cp in isolating:
            for cr in cp.rules(direction):
                if not (cr.union >> other) & 1 or not _rule_admits_port(cr.rule, dst, slot):
                    continue
                peer = next((j for j, b in enumerate(cr.peer_bits) if (b >> other) & 1), None)
                refs.append(msgspec.structs.replace(cr.ref, peer=peer))
        return tuple(refs)


def _half(
    side: str,
    endpoint: Endpoint,
    isolating: list[CompiledPolicy],
    rules: tuple[RuleRef, ...],
    where: str,
) -> str:
    if not endpoint.is_pod:
        return f"{side}: {endpoint.ref} is outside the cluster (no policy applies)"
    if not isolating:
        return f"{side}: {endpoint.ref} not isolated (no policy selects it for {side.title()})"
    if rules:
        return f"{side}: allowed by " + ", ".join(str(r) for r in rules)
    names = ", ".join(cp.policy.ref for cp in isolating)
    return f"{side}: isolated by {names}; no {side} rule admits {where}"


def evaluate(manifests: ManifestSet) -> Matrix:
    """The reachability matrix of ``manifests`` (pure; 1,000 pods x 200 policies well under 5 s)."""
    return Matrix(manifests)
