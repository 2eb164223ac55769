"""The PCI expectations file (zones + approved flows) and the check of a matrix against it.

::

    version: 1
    zones:
      - {name: cde, namespaces: [payments-pci]}
    allow:
      - name: gateway-to-scorer
        from: {namespace: gateway, labels: {role: api-gateway}}
        to: {namespace: payments-pci, labels: {app: reference-service}}
        ports: [TCP/8080]
        required: true                 # blocked = violation too (the service would break)
        justification: card authorisations enter through the gateway only

Every flow with an end inside a zone is *governed*: allowed only if an ``allow`` entry covers it
(1.2.5 / 1.3.1 / 1.3.2 "everything else denied"). Flows with no end in a zone are *ignored*
(cyclonus's word). An allowed governed flow no entry covers is a violation of:

- 1.4.2 when the source is an external (untrusted) address,
- 1.3.1 when it enters a zone from outside it, 1.3.2 when it leaves a zone,
- 1.2.5 when both ends are in the same zone (an unapproved service inside the CDE);

a ``required`` flow the matrix blocks is a violation of 1.2.1 (the ruleset does not implement the
approved design). Endpoint matchers AND their fields; an empty matcher matches every endpoint.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path

import msgspec

from harness.errors import SpecError
from harness.netpol.engine import Matrix, Slot
from harness.netpol.model import LabelSelector
from harness.netpol.pci import Zone, zone_bits
from harness.netpol.selectors import members
from harness.spec import convert_spec, read_yaml

__all__ = [
    "AllowedFlow",
    "CheckResult",
    "EndpointMatch",
    "Expectations",
    "Violation",
    "ViolationKind",
    "check",
    "expected_verdicts",
    "load_expectations",
    "unapproved_open",
]

_PORT = re.compile(r"^(TCP|UDP|SCTP)/(\d{1,5})$")


class EndpointMatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which endpoints an allow entry names: namespace, workload name, labels, zone (ANDed)."""

    namespace: str | None = None
    name: str | None = None
    labels: dict[str, str] = {}
    zone: str | None = None


class AllowedFlow(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One approved flow: from, to, ``PROTO/PORT`` list, why, and whether it must be open."""

    name: str
    from_: EndpointMatch = msgspec.field(name="from")
    to: EndpointMatch
    ports: tuple[str, ...] = ()
    required: bool = False
    justification: str = ""

    def port_set(self) -> frozenset[tuple[str, int]]:
        """``{(protocol, port)}`` of the entry."""
        out = set()
        for text in self.ports:
            match = _PORT.match(text)
            assert match is not None  # checked by load_expectations
            out.add((match.group(1), int(match.group(2))))
        return frozenset(out)


class Expectations(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The expectations file."""

    zones: tuple[Zone, ...]
    allow: tuple[AllowedFlow, ...] = ()
    version: int = 1


class ViolationKind(enum.Enum):
    """Why a flow breaks the expectations."""

    UNEXPECTED_OPEN = "unexpected-open"  # allowed, but no allow entry covers it
    REQUIRED_BLOCKED = "required-blocked"  # an entry marked required, blocked by the policies


class Violation(msgspec.Struct, frozen=True):
    """One violating flow with the requirement it breaks and the engine's reason."""

    kind: ViolationKind
    from_: str = msgspec.field(name="from")
    to: str = ""
    port: int = 0
    protocol: str = "TCP"
    zone: str = ""
    requirement: str = ""
    reason: str = ""

    def __str__(self) -> str:
        what = (
            "allowed but not approved"
            if self.kind is ViolationKind.UNEXPECTED_OPEN
            else ("required but blocked")
        )
        flow = f"{self.from_} -> {self.to} {self.protocol}/{self.port}"
        return f"[{self.requirement}] {flow}: {what} (zone {self.zone}); {self.reason}"


class CheckResult(msgspec.Struct, frozen=True):
    """The check's outcome: violations and the counts of governed/ignored flows."""

    violations: tuple[Violation, ...]
    governed: int
    ignored: int
    allowed_as_expected: int
    denied_as_expected: int

    @property
    def ok(self) -> bool:
        """True when no flow violates the expectations."""
        return not self.violations


def load_expectations(path: Path) -> Expectations:
    """Parse an expectations file (SpecError naming file and field path on any problem)."""
    name = str(path)
    data = convert_spec(read_yaml(path), Expectations, name)
    if not data.zones:
        raise SpecError(name, "$.zones", "at least one zone")
    zone_names = {z.name for z in data.zones}
    for i, flow in enumerate(data.allow):
        for j, text in enumerate(flow.ports):
            match = _PORT.match(text)
            if match is None or not 1 <= int(match.group(2)) <= 65535:
                raise SpecError(
                    name, f"$.allow[{i}].ports[{j}]", f"PROTO/PORT like TCP/8080 ({text!r})"
                )
        for side, match_ in (("from", flow.from_), ("to", flow.to)):
            if match_.zone is not None and match_.zone not in zone_names:
                raise SpecError(name, f"$.allow[{i}].{side}.zone", f"one of {sorted(zone_names)}")
        if not flow.ports:
            raise SpecError(name, f"$.allow[{i}].ports", "at least one PROTO/PORT (1.2.5)")
    return data


def _match_bits(match: EndpointMatch, matrix: Matrix, zones: dict[str, int]) -> int:
    index = matrix.index
    bits = index.all
    if match.namespace is not None:
        bits &= sum(
            1 << i for i, e in enumerate(matrix.endpoints) if e.namespace == match.namespace
        )
    if match.name is not None:
        bits &= sum(1 << i for i, e in enumerate(matrix.endpoints) if e.name == match.name)
    if match.labels:
        selector = LabelSelector(match_labels=tuple(sorted(match.labels.items())))
        bits &= index.select(selector, index.pods)
    if match.zone is not None:
        bits &= zones[match.zone]
    return bits


class _Plan:
    """Expectations resolved to bitsets against one matrix."""

    def __init__(self, matrix: Matrix, expectations: Expectations) -> None:
        self.matrix = matrix
        self.zones = {z.name: zone_bits(z, matrix.index) for z in expectations.zones}
        self.in_any_zone = 0
        for bits in self.zones.values():
            self.in_any_zone |= bits
        self.entries = [
            (
                e,
                _match_bits(e.from_, matrix, self.zones),
                _match_bits(e.to, matrix, self.zones),
                e.port_set(),
            )
            for e in expectations.allow
        ]

    def expected_sources(self, slot: Slot, *, required_only: bool = False) -> int:
        bits = 0
        key = (slot.protocol.value, slot.port)
        for entry, src, dst, ports in self.entries:
            if required_only and not entry.required:
                continue
            if (dst >> slot.endpoint) & 1 and key in ports:
                bits |= src
        return bits

    def governed_sources(self, slot: Slot) -> int:
        if (self.in_any_zone >> slot.endpoint) & 1:
            return self.matrix.index.all
        return self.in_any_zone

    def classify(self, src: int, slot: Slot) -> tuple[str, str]:
        """(zone name, requirement id) of an unapproved open flow."""
        src_zone = self._zone_of(src)
        dst_zone = self._zone_of(slot.endpoint)
        if not self.matrix.endpoints[src].is_pod:
            return dst_zone or src_zone, "1.4.2"
        if dst_zone and src_zone == dst_zone:
            return dst_zone, "1.2.5"
        if dst_zone:
            return dst_zone, "1.3.1"
        return src_zone, "1.3.2"

    def _zone_of(self, endpoint: int) -> str:
        return next((n for n, b in self.zones.items() if (b >> endpoint) & 1), "")


def unapproved_open(
    matrix: Matrix, expectations: Expectations
) -> dict[tuple[int, int], tuple[str, str]]:
    """``{(src, slot index): (zone, requirement)}`` of allowed governed flows no entry covers."""
    plan = _Plan(matrix, expectations)
    out: dict[tuple[int, int], tuple[str, str]] = {}
    for s, slot in enumerate(matrix.slots):
        bad = matrix.allowed_sources(s) & plan.governed_sources(slot) & ~plan.expected_sources(slot)
        while bad:
            low = bad & -bad
            src = low.bit_length() - 1
            out[src, s] = plan.classify(src, slot)
            bad ^= low
    return out


def expected_verdicts(matrix: Matrix, expectations: Expectations) -> dict[tuple[int, int], bool]:
    """``{(src, slot index): approved?}`` for every governed flow (ungoverned ones are absent).

    What a probe run records as ``expected`` next to the prediction and the observation.
    """
    plan = _Plan(matrix, expectations)
    out: dict[tuple[int, int], bool] = {}
    for s, slot in enumerate(matrix.slots):
        mask = matrix.index.all & ~(1 << slot.endpoint)
        if not matrix.endpoints[slot.endpoint].is_pod:
            mask &= matrix.index.pods
        approved = plan.expected_sources(slot)
        for src in members(plan.governed_sources(slot) & mask):
            out[src, s] = bool((approved >> src) & 1)
    return out


def check(matrix: Matrix, expectations: Expectations) -> CheckResult:
    """Compare ``matrix`` with ``expectations`` (pure)."""
    plan = _Plan(matrix, expectations)
    violations: list[Violation] = []
    governed = ignored = ok_allowed = ok_denied = 0
    for s, slot in enumerate(matrix.slots):
        mask = matrix.index.all & ~(1 << slot.endpoint)
        if not matrix.endpoints[slot.endpoint].is_pod:
            mask &= matrix.index.pods
        gov = plan.governed_sources(slot) & mask
        allowed = matrix.allowed_sources(s)
        expected = plan.expected_sources(slot)
        required = plan.expected_sources(slot, required_only=True)
        governed += gov.bit_count()
        ignored += (mask & ~gov).bit_count()
        ok_allowed += (gov & allowed & expected).bit_count()
        ok_denied += (gov & ~allowed & ~expected).bit_count()
        for src in members(gov & allowed & ~expected):
            zone, req = plan.classify(src, slot)
            violations.append(_violation(matrix, ViolationKind.UNEXPECTED_OPEN, src, s, zone, req))
        for src in members(gov & ~allowed & required):
            zone, _ = plan.classify(src, slot)
            violations.append(
                _violation(matrix, ViolationKind.REQUIRED_BLOCKED, src, s, zone, "1.2.1")
            )
    violations.sort(key=lambda v: (v.from_, v.to, v.port, v.protocol))
    return CheckResult(tuple(violations), governed, ignored, ok_allowed, ok_denied)


def _violation(
    matrix: Matrix, kind: ViolationKind, src: int, s: int, zone: str, req: str
) -> Violation:
    flow = matrix.flow(src, s)
    return Violation(kind, flow.from_, flow.to, flow.port, flow.protocol, zone, req, flow.reason)
