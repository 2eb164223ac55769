"""Compile NetworkPolicies into nftables rule text per pod, the way a CNI would. Pure, no I/O.

Each pod of the lab is its own network namespace with one interface, so a pod's ingress is the
``input`` hook of its namespace and its egress the ``output`` hook. For each direction:

- not isolated (no policy selects the pod with that direction in its effective policyTypes;
  REFERENCE.md cases 1-2): no chain, everything passes;
- isolated: ``ct state established,related accept`` (replies of allowed connections, case 10),
  loopback accept (a pod is never blocked from itself, case 11), then one ``accept`` rule per
  (policy rule x port item) of *every* isolating policy (union, case 4), then the deny action.

Peers are resolved to address sets the way a CNI resolves selectors to IP sets: through the
engine's :class:`~harness.netpol.selectors.SelectorIndex` (``CompiledRule.peer_bits``; the
ipBlock test against each endpoint's declared address included, case 8), mapped to lab
addresses. What the kernel then decides on its own, and the live lab therefore checks against the
engine's prediction, is everything else: isolation per direction, the union of policies, both
halves of a connection, protocol/port/endPort matching, named ports (resolved on the destination:
for ingress the pod's own container ports, for egress each destination's, one rule per
destination), and conntrack for replies. An empty ``from``/``to`` matches every address and an
empty ``ports`` every port and protocol (case 4); a rule whose peers resolve to no endpoint is
left out (it admits nothing in the lab).

The deny action is ``drop`` (what most CNIs do: the prober sees a timeout) or ``reject`` (TCP
reset, ICMP admin-prohibited otherwise: the prober sees a refusal at once).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from harness.netns import Hook, chain_text
from harness.netpol.engine import CompiledRule, Matrix
from harness.netpol.model import ContainerPort, Direction, PolicyPort, Protocol
from harness.netpol.selectors import members

__all__ = ["TABLE_NAME", "DenyAction", "PodRules", "compile_pod_rules"]

#: The nft table (family inet) holding a pod's policy chains inside its namespace.
TABLE_NAME: Final = "slo_netpol"
_L4: Final = {Protocol.TCP: "tcp", Protocol.UDP: "udp", Protocol.SCTP: "sctp"}


class DenyAction(enum.Enum):
    """What an isolated direction does with a packet no rule admits."""

    DROP = "drop"
    REJECT = "reject"

    def rules(self) -> list[str]:
        if self is DenyAction.DROP:
            return ["counter drop"]
        return [
            "meta l4proto tcp counter reject with tcp reset",
            "counter reject with icmpx type admin-prohibited",
        ]


@dataclass(frozen=True, slots=True)
class PodRules:
    """One pod's chains: rule lines per direction (None: the direction is not isolated)."""

    endpoint: int
    ingress: tuple[str, ...] | None
    egress: tuple[str, ...] | None

    def table_body(self) -> str:
        """The body of table ``inet slo_netpol`` (empty chains are left out)."""
        chains = []
        if self.ingress is not None:
            chains.append(chain_text("ingress", Hook.INPUT, self.ingress))
        if self.egress is not None:
            chains.append(chain_text("egress", Hook.OUTPUT, self.egress))
        return "\n".join(chains)

    @property
    def isolated(self) -> bool:
        return self.ingress is not None or self.egress is not None


def _addr_set(addresses: Sequence[str]) -> str:
    return addresses[0] if len(addresses) == 1 else "{ " + ", ".join(addresses) + " }"


def _comment(cr: CompiledRule) -> str:
    text = str(cr.ref).replace('"', "'")[:120]  # nft comments hold at most 128 bytes
    return f' comment "{text}"'


def _port_exprs(spec: PolicyPort, dst_ports: Sequence[ContainerPort]) -> list[str]:
    """nft L4 matches for one ports item on a destination declaring ``dst_ports`` ([] = none)."""
    l4 = _L4[spec.protocol]
    if spec.port is None:
        return [f"meta l4proto {l4}"]
    if isinstance(spec.port, str):  # named: every number the destination gives that name
        numbers = sorted(
            {p.port for p in dst_ports if p.name == spec.port and p.protocol is spec.protocol}
        )
        return [f"{l4} dport {n}" for n in numbers]
    if spec.end_port is not None:
        return [f"{l4} dport {spec.port}-{spec.end_port}"]
    return [f"{l4} dport {spec.port}"]


def _ingress_lines(
    cr: CompiledRule, own: Sequence[ContainerPort], addrs: Mapping[int, str]
) -> list[str]:
    peer = ""
    if not cr.rule.all_peers:
        sources = [addrs[i] for i in members(cr.union) if i in addrs]
        if not sources:
            return []
        peer = f"ip saddr {_addr_set(sources)} "
    comment = _comment(cr)
    if cr.rule.all_ports:
        return [f"{peer}accept{comment}".strip()]
    return [
        f"{peer}{expr} accept{comment}" for spec in cr.rule.ports for expr in _port_exprs(spec, own)
    ]


def _egress_lines(cr: CompiledRule, matrix: Matrix, addrs: Mapping[int, str]) -> list[str]:
    targets = list(addrs) if cr.rule.all_peers else [i for i in members(cr.union) if i in addrs]
    if not targets:
        return []
    comment = _comment(cr)
    peer = "" if cr.rule.all_peers else f"ip daddr {_addr_set([addrs[i] for i in targets])} "
    if cr.rule.all_ports:
        return [f"{peer}accept{comment}".strip()]
    lines = []
    for spec in cr.rule.ports:
        if isinstance(spec.port, str):  # named ports resolve per destination (case 9)
            for i in targets:
                for expr in _port_exprs(spec, matrix.endpoints[i].ports):
                    lines.append(f"ip daddr {addrs[i]} {expr} accept{comment}")
        else:
            lines += [f"{peer}{expr} accept{comment}" for expr in _port_exprs(spec, ())]
    return lines


def _chain(
    matrix: Matrix, endpoint: int, direction: Direction, addrs: Mapping[int, str], deny: DenyAction
) -> tuple[str, ...] | None:
    isolating = matrix.isolating(endpoint, direction)
    if not isolating:
        return None
    lo = "iif lo accept" if direction is Direction.INGRESS else "oif lo accept"
    lines = ["ct state established,related accept", lo]
    own = matrix.endpoints[endpoint].ports
    for cp in isolating:
        for cr in cp.rules(direction):
            if direction is Direction.INGRESS:
                lines += _ingress_lines(cr, own, addrs)
            else:
                lines += _egress_lines(cr, matrix, addrs)
    return (*lines, *deny.rules())


def compile_pod_rules(
    matrix: Matrix, addresses: Mapping[int, str], deny: DenyAction = DenyAction.DROP
) -> list[PodRules]:
    """Rules for every endpoint with a lab address (``{endpoint index: address}``), in order.

    External endpoints get none (no policy selects an address outside the cluster).
    """
    out = []
    for i in sorted(addresses):
        if not matrix.endpoints[i].is_pod:
            out.append(PodRules(i, None, None))
            continue
        out.append(
            PodRules(
                i,
                _chain(matrix, i, Direction.INGRESS, addresses, deny),
                _chain(matrix, i, Direction.EGRESS, addresses, deny),
            )
        )
    return out
