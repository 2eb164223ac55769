"""Which stage moved between two runs: the regression gate's answer to "what got slower?".

When ``compare`` flags a metric and both runs carry the service's stage timings
(:func:`harness.slo.explain_tails`), :func:`stage_shift` names the stage whose mean grew most, in
the tail band (above p99) for the percentile metrics or in the median band for the distribution
shift, and :func:`name_moved_stages` writes it onto the flagged :class:`MetricComparison`. Client
stages do not count: they say what the client saw, not what the service did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from harness.measure import RunResult
from harness.slo.tail import (
    NOISE_FLOOR_MS,
    TailExplanation,
    TimingSource,
    explain_tails,
    stage_label,
)
from harness.slo.verdict import MetricComparison

__all__ = ["name_moved_stages", "stage_shift"]


def stage_shift(
    base: TailExplanation, new: TailExplanation, *, band: str = "tail"
) -> tuple[str, float] | None:
    """The stage whose ``band`` ("tail" or "median") mean grew most from ``base`` to ``new``.

    None unless both carry the server's timings (client-only stages do not say what the service
    did) and some stage grew by at least :data:`NOISE_FLOOR_MS`.
    """
    if base.source is not TimingSource.SERVER or new.source is not TimingSource.SERVER:
        return None
    b, n = (base.tail, new.tail) if band == "tail" else (base.median, new.median)
    if b is None or n is None:
        return None
    names = dict.fromkeys([k for k, _ in b.stages] + [k for k, _ in n.stages])
    moved = sorted(((n.stage_ms(k) - b.stage_ms(k), k) for k in names), reverse=True)
    if not moved or moved[0][0] < NOISE_FLOOR_MS:
        return None
    return moved[0][1], moved[0][0]


def name_moved_stages(
    metrics: Sequence[MetricComparison], base: RunResult, new: RunResult
) -> tuple[MetricComparison, ...]:
    """``metrics`` with the moved stage named on each flagged one (see :func:`stage_shift`).

    A metric over all endpoints of a phase takes the largest shift among its endpoints.
    """
    if not any(m.regressed for m in metrics) or not base.tails or not new.tails:
        return tuple(metrics)
    before = {(e.phase, e.endpoint): e for e in explain_tails(base)}
    after = {(e.phase, e.endpoint): e for e in explain_tails(new)}
    out = []
    for m in metrics:
        if m.regressed:
            band = "median" if m.metric == "distribution" else "tail"
            keys = [k for k in after if k[0] == m.phase and m.endpoint in (None, k[1])]
            pairs = [(before[k], after[k]) for k in keys if k in before]
            shifts = [s for b, a in pairs if (s := stage_shift(b, a, band=band)) is not None]
            if shifts:
                stage, delta = max(shifts, key=lambda s: s[1])
                where = "above p99" if band == "tail" else "around the median"
                m = replace(
                    m,
                    stage=stage,
                    stage_delta_ms=round(delta, 3),
                    reason=f"{m.reason}; the stage that moved: {stage_label(stage)} "
                    f"(+{delta:.1f} ms {where})",
                )
        out.append(m)
    return tuple(out)
