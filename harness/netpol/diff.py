"""Semantic diff of two manifest sets: the flows a change opens and closes (NCA ``semantic_diff``).

Flows are keyed by names, not indices: ``(from, to, protocol, port)``. A flow present only in
the new set (a new pod or port) counts as opened when allowed; one present only in the old set
counts as closed when it was allowed (the workload is gone). Each change names the responsible
rule: for an opened flow the new verdict (the rules that now admit it, or "not isolated" when a
policy was removed), for a closed flow the new verdict (who isolates it now) and the old one.

The gate: with expectations, every opened flow touching a zone that no allow entry covers is a
violation (the same classification as :func:`harness.netpol.expect.check`); ``netpol diff``
exits 1 on any. Pure.
"""

from __future__ import annotations

import msgspec

from harness.netpol.engine import Matrix
from harness.netpol.expect import Expectations, Violation, ViolationKind, unapproved_open

__all__ = ["Change", "DiffResult", "diff"]


class Change(msgspec.Struct, frozen=True):
    """One flow whose verdict differs between the two sets."""

    from_: str = msgspec.field(name="from")
    to: str = ""
    port: int = 0
    protocol: str = "TCP"
    reason: str = ""  # the new set's verdict
    was: str = ""  # the old set's verdict ("absent" when the flow did not exist)


class DiffResult(msgspec.Struct, frozen=True):
    """Opened and closed flows, and the opened flows the expectations do not allow."""

    opened: tuple[Change, ...]
    closed: tuple[Change, ...]
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        """True when no opened flow breaks the expectations."""
        return not self.violations


Key = tuple[str, str, str, int]


def _keyed(matrix: Matrix) -> dict[Key, tuple[int, int]]:
    out: dict[Key, tuple[int, int]] = {}
    for src, s in matrix.pairs():
        slot = matrix.slots[s]
        key = (
            matrix.endpoints[src].ref,
            matrix.endpoints[slot.endpoint].ref,
            slot.protocol.value,
            slot.port,
        )
        out[key] = (src, s)
    return out


def diff(old: Matrix, new: Matrix, expectations: Expectations | None = None) -> DiffResult:
    """What changes from ``old`` to ``new`` (and which opened flows break ``expectations``)."""
    old_keys, new_keys = _keyed(old), _keyed(new)
    opened: list[Change] = []
    closed: list[Change] = []
    opened_at: set[tuple[int, int]] = set()
    for key in sorted(old_keys.keys() | new_keys.keys()):
        before = old_keys.get(key)
        after = new_keys.get(key)
        was_open = before is not None and old.is_allowed(*before)
        now_open = after is not None and new.is_allowed(*after)
        if was_open == now_open:
            continue
        was = "absent" if before is None else old.verdict(*before).reason
        now = "absent" if after is None else new.verdict(*after).reason
        change = Change(key[0], key[1], key[3], key[2], now, was)
        (opened if now_open else closed).append(change)
        if now_open and after is not None:
            opened_at.add(after)
    violations: list[Violation] = []
    if expectations is not None:
        for (src, s), (zone, req) in sorted(unapproved_open(new, expectations).items()):
            if (src, s) in opened_at:
                flow = new.flow(src, s)
                violations.append(
                    Violation(
                        ViolationKind.UNEXPECTED_OPEN,
                        flow.from_,
                        flow.to,
                        flow.port,
                        flow.protocol,
                        zone,
                        req,
                        flow.reason,
                    )
                )
        violations.sort(key=lambda v: (v.from_, v.to, v.port, v.protocol))
    return DiffResult(tuple(opened), tuple(closed), tuple(violations))
