"""The "Capacity (knee)" section of summary.md and report.html, worded once for both.

The knees themselves come from ``harness.slo.knee`` through ``Verdict.capacity`` (this package
computes no verdicts); here they are only put into words. The section appears only when the run
had a ramp or step phase judged against a p99 objective.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from harness.report.view import Cell, Table
from harness.slo import CONFIRM_WINDOWS, MAX_ERROR_RATIO, Knee, KneeStatus

__all__ = ["CAPACITY_HEADERS", "CAPACITY_NOTE", "capacity_rows", "capacity_table"]

CAPACITY_HEADERS: Final = ("Phase", "Knee", "Tested up to", "Limit", "First breach", "Finding")
CAPACITY_NOTE: Final = (
    "The knee is the highest offered rate at which a ramp or step phase kept its latency "
    "percentile (intended clock, OK responses) under the SLO threshold, read from the 1 s series "
    f"pooled into windows of enough samples; a breach counts once {CONFIRM_WINDOWS} windows in a "
    "row breach (or the phase ends in breach); failed or shed requests significantly above "
    f"{MAX_ERROR_RATIO:.1%} are a breach too. "
    "Information only: it does not change the verdict."
)


def _rps(value: float) -> str:
    return f"{value:,.0f} req/s" if value >= 100 else f"{value:.3g} req/s"


def _knee(k: Knee) -> str:
    if k.status is KneeStatus.FOUND and k.knee_rps is not None:
        return _rps(k.knee_rps)
    if k.status is KneeStatus.NOT_REACHED and k.knee_rps is not None:
        return f"not reached (held at {_rps(k.knee_rps)})"
    if k.status is KneeStatus.FROM_START:
        return "below the tested range"
    return "n/a (too few samples)"


def capacity_rows(capacity: Sequence[Knee]) -> list[tuple[str, ...]]:
    """One row of text per knee, in :data:`CAPACITY_HEADERS` order."""
    return [
        (
            k.phase,
            _knee(k),
            _rps(k.max_offered_rps),
            f"p{k.percentile:g} {k.threshold_ms:g} ms",
            "none" if k.first_breach_s is None else f"{k.first_breach_s:.1f} s",
            k.reason,
        )
        for k in capacity
    ]


def capacity_table(capacity: Sequence[Knee]) -> Table | None:
    """The HTML table of the knees; None when there are none (the section is left out)."""
    if not capacity:
        return None
    rows = [
        [*(Cell(text, "num" if 1 <= i <= 4 else "") for i, text in enumerate(row[:-1])),
         Cell(row[-1], "reason")]
        for row in capacity_rows(capacity)
    ]  # fmt: skip
    return Table(CAPACITY_HEADERS, rows, CAPACITY_NOTE)
