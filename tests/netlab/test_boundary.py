"""The boundary verdict of a run (pure): pass, a wrong flow, an unverified control, a violation."""

from __future__ import annotations

from netlab_support import BASE, EXPECT, HARDENED, reference_matrix

from harness.netpol import (
    BoundaryStatus,
    FakeProber,
    Matrix,
    ProbeRun,
    judge_boundary,
    load_expectations,
    probe_flows,
)

GATEWAY, SCORER = "gateway/api-gateway", "payments-pci/reference-service"


def _scorer(matrix: Matrix) -> int:
    return [e.ref for e in matrix.endpoints].index(SCORER)


def _open(matrix: Matrix) -> set[tuple[str, str, str, int]]:
    out = set()
    for src, s in matrix.pairs():
        if matrix.is_allowed(src, s):
            slot = matrix.slots[s]
            dst = matrix.endpoints[slot.endpoint].ref
            out.add((matrix.endpoints[src].ref, dst, slot.protocol.value, slot.port))
    return out


def _rounds(matrix: Matrix, prober: FakeProber, count: int) -> tuple[ProbeRun, ...]:
    refs = [e.ref for e in matrix.endpoints]
    slot = next(
        k
        for k, s in enumerate(matrix.slots)
        if matrix.endpoints[s.endpoint].ref == SCORER and s.port == 8080
    )
    gw, sc = refs.index(GATEWAY), refs.index(SCORER)
    flows = [(gw, slot)] + [(i, slot) for i in range(len(refs)) if i not in (gw, sc)]
    return tuple(
        probe_flows(matrix, prober, method=f"round {k}", flows=flows) for k in range(count)
    )


def _judge(matrix: Matrix, prober: FakeProber, rounds: int = 3):  # type: ignore[no-untyped-def]
    # as the job does: the scorer's port is probed only during the load (the service serves it)
    others = [p for p in matrix.pairs() if matrix.slots[p[1]].endpoint != _scorer(matrix)]
    before = probe_flows(matrix, prober, method="before", flows=others)
    return judge_boundary(
        matrix,
        before,
        _rounds(matrix, prober, rounds),
        load_expectations(EXPECT),
        gateway=GATEWAY,
        scorer=SCORER,
        port=8080,
        lab="lab",
    )


def test_every_flow_as_predicted_passes() -> None:
    """Observed == predicted in every round, nothing unapproved open: pass, rounds recorded."""
    matrix = reference_matrix(BASE, HARDENED)
    verdict = _judge(matrix, FakeProber(_open(matrix)))
    assert verdict.status is BoundaryStatus.PASS
    assert len(verdict.rounds) == 3
    assert all(r.denied == 9 and r.wrong == () for r in verdict.rounds)


def test_a_source_that_gets_through_fails_with_the_requirement() -> None:
    """batch -> scorer connecting during the load: wrong vs prediction and a 1.3.1 violation."""
    matrix = reference_matrix(BASE, HARDENED)
    leak = ("batch/report-builder", SCORER, "TCP", 8080)
    verdict = _judge(matrix, FakeProber(_open(matrix) | {leak}))
    assert verdict.status is BoundaryStatus.FAIL
    assert any("[1.3.1]" in r and "batch/report-builder" in r for r in verdict.reasons)
    assert all(r.wrong for r in verdict.rounds)


def test_a_failed_control_is_not_verified_never_isolated() -> None:
    """The load path itself not connecting: not verified, even though every denial held."""
    matrix = reference_matrix(BASE, HARDENED)
    verdict = _judge(matrix, FakeProber(_open(matrix) - {(GATEWAY, SCORER, "TCP", 8080)}))
    assert verdict.status is BoundaryStatus.NOT_VERIFIED


def test_no_round_during_the_load_is_not_verified() -> None:
    """A load too short for one probe round proves nothing about the boundary under load."""
    matrix = reference_matrix(BASE, HARDENED)
    verdict = _judge(matrix, FakeProber(_open(matrix)), rounds=0)
    assert verdict.status is BoundaryStatus.NOT_VERIFIED
    assert "no probe round" in verdict.reasons[0]
