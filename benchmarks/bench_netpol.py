"""NetworkPolicy engine at scale: 1,000 pods x 200 policies (issue 8: under 5 s).

Run ``python benchmarks/bench_netpol.py``. A synthetic cluster is generated with a fixed seed:
20 namespaces (labels ``team``, ``tier``), 1,000 pods with ``app``/``tier``/``zone`` labels and
1-2 declared ports each (some named), 200 policies mixing everything the semantics allow:
default-deny (every other namespace), podSelector-only, namespaceSelector-only and combined
peers, matchExpressions,
named ports, ``endPort`` ranges, ipBlock, ingress and egress. Timed stages, medians over
repeats (the machine is shared and noisy):

- ``evaluate``: building the full matrix (every pod pair x every declared port, as bitsets);
- ``lint`` and ``check`` on that matrix;
- ``reasons``: materialising 10,000 flow rows with their reason strings (the per-flow cost a
  JSON export of the whole matrix multiplies).

The figure quoted in the README is the median ``evaluate``; the script exits 1 if it is 5 s or
more.
"""

from __future__ import annotations

import itertools
import random
import statistics
import sys
import time

from harness.netpol import (
    Direction,
    Endpoint,
    EndpointKind,
    Expectations,
    ManifestSet,
    Policy,
    Protocol,
    Zone,
    check,
    evaluate,
    lint,
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

PODS = 1_000
POLICIES = 200
NAMESPACES = 20
REPEATS = 5
TARGET_S = 5.0


def _labels(rnd: random.Random, app_count: int) -> dict[str, str]:
    return {
        "app": f"app{rnd.randrange(app_count)}",
        "tier": rnd.choice(["web", "api", "db", "cache"]),
        **({"zone": "pci-restricted"} if rnd.random() < 0.1 else {}),
    }


def _selector(rnd: random.Random) -> LabelSelector:
    kind = rnd.random()
    if kind < 0.1:
        return LabelSelector()
    if kind < 0.7:
        return LabelSelector(match_labels=(("app", f"app{rnd.randrange(60)}"),))
    return LabelSelector(
        match_labels=(("tier", rnd.choice(["web", "api"])),),
        match_expressions=(
            Requirement(
                "app", rnd.choice([Operator.IN, Operator.NOT_IN]), (f"app{rnd.randrange(60)}",)
            ),
        ),
    )


def _peer(rnd: random.Random) -> Peer:
    kind = rnd.random()
    ns = LabelSelector(match_labels=(("team", f"t{rnd.randrange(5)}"),))
    if kind < 0.4:
        return Peer(pod_selector=_selector(rnd))
    if kind < 0.6:
        return Peer(namespace_selector=ns)
    if kind < 0.95:
        return Peer(pod_selector=_selector(rnd), namespace_selector=ns)
    return Peer(ip_block=IpBlock("203.0.113.0/24", ("203.0.113.0/28",)))


def _ports(rnd: random.Random) -> tuple[PolicyPort, ...]:
    choice = rnd.random()
    if choice < 0.1:
        return ()
    if choice < 0.4:
        return (PolicyPort(Protocol.TCP, "http"),)
    if choice < 0.6:
        return (PolicyPort(Protocol.TCP, 8000, 9000),)
    return (
        PolicyPort(Protocol.TCP, rnd.choice([80, 443, 6379, 8080])),
        PolicyPort(Protocol.UDP, 53),
    )


def synthetic_cluster(seed: int = 8) -> ManifestSet:
    """The benchmark's cluster (deterministic for a seed)."""
    rnd = random.Random(seed)
    namespaces = tuple(
        Namespace(
            f"ns{i:02d}",
            tuple(
                sorted({"kubernetes.io/metadata.name": f"ns{i:02d}", "team": f"t{i % 5}"}.items())
            ),
        )
        for i in range(NAMESPACES)
    )
    port_menu = [
        ContainerPort(8080, Protocol.TCP, "http"),
        ContainerPort(80, Protocol.TCP, "http"),
        ContainerPort(443, Protocol.TCP, "https"),
        ContainerPort(6379, Protocol.TCP, "redis"),
        ContainerPort(53, Protocol.UDP, "dns"),
    ]
    endpoints = []
    for i in range(PODS):
        chosen = {p.port: p for p in rnd.sample(port_menu, rnd.choice([1, 1, 2]))}
        endpoints.append(
            Endpoint(
                namespace=namespaces[i % NAMESPACES].name,
                name=f"pod{i:04d}",
                kind=EndpointKind.WORKLOAD,
                labels=tuple(sorted(_labels(rnd, 60).items())),
                ports=tuple(chosen[k] for k in sorted(chosen)),
            )
        )
    policies = []
    for i in range(POLICIES):
        ns = namespaces[i % NAMESPACES].name
        if i < NAMESPACES and i % 2 == 0:  # a default deny in every other namespace
            policies.append(Policy(ns, f"deny-{i}", LabelSelector(), frozenset(Direction)))
            continue
        rules = lambda: tuple(  # noqa: E731
            Rule(peers=tuple(_peer(rnd) for _ in range(rnd.randrange(1, 3))), ports=_ports(rnd))
            for _ in range(rnd.randrange(1, 3))
        )
        types = rnd.choice([{Direction.INGRESS}, {Direction.EGRESS}, set(Direction)])
        policies.append(
            Policy(
                ns,
                f"np-{i}",
                _selector(rnd),
                frozenset(types),
                ingress=rules() if Direction.INGRESS in types else (),
                egress=rules() if Direction.EGRESS in types else (),
            )
        )
    return ManifestSet(namespaces, tuple(endpoints), tuple(policies))


def _median_s(fn: object, repeats: int = REPEATS) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> int:
    manifests = synthetic_cluster()
    evaluate_s, matrix = _median_s(lambda: evaluate(manifests))
    pairs = sum(1 for _ in matrix.pairs())  # type: ignore[attr-defined]
    allowed = matrix.count_allowed()  # type: ignore[attr-defined]
    lint_s, findings = _median_s(lambda: lint(matrix), 3)  # type: ignore[arg-type]
    expectations = Expectations(zones=(Zone(name="cde", labels={"zone": "pci-restricted"}),))
    check_s, result = _median_s(lambda: check(matrix, expectations), 3)  # type: ignore[arg-type]
    sample = list(itertools.islice(matrix.pairs(), 10_000))  # type: ignore[attr-defined]
    reasons_s, _ = _median_s(lambda: [matrix.flow(*p) for p in sample], 3)  # type: ignore[attr-defined]
    print(f"cluster: {PODS} pods, {POLICIES} policies, {len(matrix.slots)} declared ports")  # type: ignore[attr-defined]
    print(f"matrix: {pairs:,} flows, {allowed:,} allowed")
    print(f"evaluate (median of {REPEATS}): {evaluate_s:.2f} s   [target < {TARGET_S:.0f} s]")
    print(f"lint (median of 3): {lint_s:.2f} s, {len(findings)} findings")  # type: ignore[arg-type]
    print(f"check (median of 3): {check_s:.2f} s, {len(result.violations):,} violations")  # type: ignore[attr-defined]
    print(f"reasons for 10,000 flows (median of 3): {reasons_s:.2f} s")
    return 0 if evaluate_s < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
