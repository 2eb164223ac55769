"""Policy math properties (Hypothesis): the bitset engine equals a naive reading of the spec,
policies commute, and adding an allow rule never closes a flow."""

from __future__ import annotations

import ipaddress

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.netpol import (
    Direction,
    Endpoint,
    EndpointKind,
    ManifestSet,
    Policy,
    Protocol,
    evaluate,
)
from harness.netpol.model import (
    ContainerPort,
    IpBlock,
    LabelSelector,
    Namespace,
    Operator,
    Peer,
    PolicyPort,
    Requirement,
    Rule,
)

NAMESPACES = ("n1", "n2", "n3")
PORTS = (
    ContainerPort(80, Protocol.TCP, "http"),
    ContainerPort(8080, Protocol.TCP, "http"),
    ContainerPort(53, Protocol.UDP, "dns"),
    ContainerPort(443, Protocol.TCP, None),
)
labels = st.dictionaries(st.sampled_from(["app", "tier"]), st.sampled_from(["x", "y"]), max_size=2)
requirements = st.builds(
    Requirement,
    key=st.sampled_from(["app", "tier"]),
    operator=st.sampled_from(list(Operator)),
    values=st.sampled_from([(), ("x",), ("x", "y")]),
).filter(lambda r: (r.operator in (Operator.IN, Operator.NOT_IN)) == bool(r.values))
selectors = st.builds(
    LabelSelector,
    match_labels=labels.map(lambda d: tuple(sorted(d.items()))),
    match_expressions=st.lists(requirements, max_size=1).map(tuple),
)
ns_selectors = st.builds(
    LabelSelector,
    match_labels=st.dictionaries(st.just("team"), st.sampled_from(["t1", "t2"]), max_size=1).map(
        lambda d: tuple(d.items())
    ),
)
peers = st.one_of(
    st.builds(Peer, pod_selector=selectors),
    st.builds(Peer, namespace_selector=ns_selectors),
    st.builds(Peer, pod_selector=selectors, namespace_selector=ns_selectors),
    st.builds(
        Peer,
        ip_block=st.sampled_from(
            [IpBlock("203.0.113.0/24"), IpBlock("0.0.0.0/0", ("203.0.113.0/25",))]
        ),
    ),
)
policy_ports = st.one_of(
    st.builds(
        PolicyPort,
        protocol=st.sampled_from(list(Protocol)),
        port=st.sampled_from([None, 80, 53, 443, "http", "dns"]),
    ),
    st.builds(
        PolicyPort,
        protocol=st.just(Protocol.TCP),
        port=st.just(80),
        end_port=st.sampled_from([80, 443, 9000]),
    ),
)
rules = st.builds(
    Rule,
    peers=st.lists(peers, max_size=2).map(tuple),
    ports=st.lists(policy_ports, max_size=2).map(tuple),
)
types = st.sets(st.sampled_from(list(Direction)), min_size=1).map(frozenset)


@st.composite
def manifest_sets(draw: st.DrawFn) -> ManifestSet:
    endpoints = []
    for i in range(draw(st.integers(2, 7))):
        endpoints.append(
            Endpoint(
                namespace=draw(st.sampled_from(NAMESPACES)),
                name=f"p{i}",
                kind=EndpointKind.WORKLOAD,
                labels=tuple(sorted(draw(labels).items())),
                ports=tuple(
                    sorted(
                        set(draw(st.lists(st.sampled_from(PORTS), max_size=2))),
                        key=lambda p: p.port,
                    )
                ),
            )
        )
    endpoints.append(
        Endpoint("external", "net", EndpointKind.EXTERNAL, ports=(PORTS[3],), ip="203.0.113.200")
    )
    policies = [
        Policy(
            namespace=draw(st.sampled_from(NAMESPACES)),
            name=f"np{i}",
            pod_selector=draw(selectors),
            policy_types=draw(types),
            ingress=tuple(draw(st.lists(rules, max_size=2))),
            egress=tuple(draw(st.lists(rules, max_size=2))),
        )
        for i in range(draw(st.integers(0, 4)))
    ]
    namespaces = tuple(
        Namespace(
            n,
            tuple(
                sorted(
                    {
                        "kubernetes.io/metadata.name": n,
                        "team": draw(st.sampled_from(["t1", "t2"])),
                    }.items()
                )
            ),
        )
        for n in NAMESPACES
    )
    return ManifestSet(namespaces, tuple(endpoints), tuple(policies))


def _oracle(ms: ManifestSet, src: Endpoint, dst: Endpoint, port: int, proto: Protocol) -> bool:
    """NetworkPolicy v1 read literally, one flow at a time (no index, no bitsets)."""
    ns_labels = {n.name: n.label_map for n in ms.namespaces}

    def selects(p: Policy, e: Endpoint) -> bool:
        return e.is_pod and e.namespace == p.namespace and p.pod_selector.matches(e.label_map)

    def peer_ok(peer: Peer, p: Policy, other: Endpoint) -> bool:
        if peer.ip_block is not None:
            if other.ip is None:
                return False
            address = ipaddress.ip_address(other.ip)
            inside = address in ipaddress.ip_network(peer.ip_block.cidr)
            return inside and not any(
                address in ipaddress.ip_network(e) for e in peer.ip_block.excepts
            )
        if not other.is_pod:
            return False
        if peer.namespace_selector is not None:
            ns_ok = peer.namespace_selector.matches(ns_labels[other.namespace])
        else:
            ns_ok = other.namespace == p.namespace
        return ns_ok and (peer.pod_selector is None or peer.pod_selector.matches(other.label_map))

    def port_ok(pp: PolicyPort) -> bool:
        if pp.protocol is not proto:
            return False
        if pp.port is None:
            return True
        if isinstance(pp.port, str):
            return any(
                c.name == pp.port and c.port == port and c.protocol is proto for c in dst.ports
            )
        return pp.port <= port <= (pp.end_port or pp.port)

    def side_ok(pod: Endpoint, direction: Direction, other: Endpoint) -> bool:
        isolating = [p for p in ms.policies if direction in p.policy_types and selects(p, pod)]
        return not isolating or any(
            (not r.peers or any(peer_ok(x, p, other) for x in r.peers))
            and (not r.ports or any(port_ok(x) for x in r.ports))
            for p in isolating
            for r in p.rules(direction)
        )

    return side_ok(src, Direction.EGRESS, dst) and side_ok(dst, Direction.INGRESS, src)


def _allowed_set(ms: ManifestSet) -> set[tuple[str, str, int, str]]:
    matrix = evaluate(ms)
    out = set()
    for src, s in matrix.pairs():
        if matrix.is_allowed(src, s):
            slot = matrix.slots[s]
            out.add(
                (
                    matrix.endpoints[src].ref,
                    matrix.endpoints[slot.endpoint].ref,
                    slot.port,
                    slot.protocol.value,
                )
            )
    return out


@settings(max_examples=150, deadline=None)
@given(manifest_sets())
def test_engine_equals_literal_reading(ms: ManifestSet) -> None:
    """Every flow's verdict and its explanation equal the spec read literally, flow by flow."""
    matrix = evaluate(ms)
    for src, s in matrix.pairs():
        slot = matrix.slots[s]
        expected = _oracle(
            ms, matrix.endpoints[src], matrix.endpoints[slot.endpoint], slot.port, slot.protocol
        )
        assert matrix.is_allowed(src, s) is expected
        assert matrix.verdict(src, s).allowed is expected


@settings(max_examples=60, deadline=None)
@given(manifest_sets(), st.randoms(use_true_random=False))
def test_policy_order_does_not_matter(ms: ManifestSet, rnd: object) -> None:
    """Policies are a union: any permutation yields the same matrix."""
    shuffled = list(ms.policies)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert _allowed_set(ms) == _allowed_set(msgspec.structs.replace(ms, policies=tuple(shuffled)))


@settings(max_examples=60, deadline=None)
@given(manifest_sets(), rules, st.sampled_from(list(Direction)), st.integers(0, 3))
def test_adding_an_allow_rule_never_closes_a_flow(
    ms: ManifestSet, rule: Rule, direction: Direction, which: int
) -> None:
    """Union monotonicity: one more rule in an existing policy only opens flows."""
    if not ms.policies:
        return
    i = which % len(ms.policies)
    p = ms.policies[i]
    grown = msgspec.structs.replace(p, **{direction.value.lower(): (*p.rules(direction), rule)})
    bigger = msgspec.structs.replace(ms, policies=(*ms.policies[:i], grown, *ms.policies[i + 1 :]))
    assert _allowed_set(ms) <= _allowed_set(bigger)


@settings(max_examples=60, deadline=None)
@given(manifest_sets(), selectors, st.sampled_from(NAMESPACES), types)
def test_a_new_deny_policy_never_opens_a_flow(
    ms: ManifestSet, sel: LabelSelector, ns: str, kinds: frozenset[Direction]
) -> None:
    """A policy with no rules only isolates: it can close flows, never open one."""
    deny = Policy(ns, "deny", sel, kinds)
    assert _allowed_set(msgspec.structs.replace(ms, policies=(*ms.policies, deny))) <= _allowed_set(
        ms
    )
