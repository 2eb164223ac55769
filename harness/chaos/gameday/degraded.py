"""Degraded decisions per step: the service's own counters read at the step's boundaries.

A game-day step may allow degraded decisions (``degraded_allowed: true``: during a feature-store
outage the service must answer ``degraded: true`` within its budget rather than late). Whether it
did is the service's count, not the load's: the controller reads the service's decision counters
(:class:`~harness.target.DecisionCounters`, from ``/metrics``) just before a step's fault goes on
and just after its rollback was verified, and the step's figure is the difference.

Rules (never a guessed 0):

- a reading that failed (timeout, refused, no ``/metrics``) or a service that does not expose the
  degraded counter makes the step *not reported* (``degraded`` None, ``note`` says why);
- a counter that went down between the readings was reset (the service restarted, e.g. a ``kill``
  of the whole service): not reported either, since the decisions before the restart are lost;
- judged only when degraded decisions are not allowed: any degraded decision fails the step's
  expectations (``held`` False); allowed steps report the count and are not judged on it;
  not reported is ``held`` None (no evidence either way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from harness.target import DecisionCounters

__all__ = ["DEGRADED_CHECK", "DegradedCount", "count_degraded"]

#: The objective label of the "no degraded decisions" expectation.
DEGRADED_CHECK: Final = "no degraded decisions"


@dataclass(frozen=True, slots=True)
class DegradedCount:
    """One step's degraded decisions; see the module docstring."""

    degraded: int | None  # None: not reported
    decisions: int | None  # all decisions between the same readings (None: not reported)
    allowed: bool
    note: str | None = None  # why not reported

    @property
    def held(self) -> bool | None:
        """The "no degraded decisions" expectation (None: allowed, or not reported)."""
        if self.allowed or self.degraded is None:
            return None
        return self.degraded == 0


def _delta(before: float | None, after: float | None) -> int | None:
    if before is None or after is None or after < before:
        return None
    return round(after - before)


def count_degraded(
    before: DecisionCounters | None,
    after: DecisionCounters | None,
    allowed: bool,
    why_missing: str | None = None,
) -> DegradedCount:
    """The step's count from its two readings (None: that reading failed; ``why_missing``)."""
    if before is None or after is None:
        note = why_missing or "the service's counters could not be read at the step's boundary"
        return DegradedCount(None, None, allowed, note)
    if before.degraded is None or after.degraded is None:
        return DegradedCount(
            None, None, allowed, "the service does not expose slo_degraded_decisions_total"
        )
    degraded = _delta(before.degraded, after.degraded)
    decisions = _delta(before.decisions, after.decisions)
    if degraded is None or (before.decisions is not None and decisions is None):
        return DegradedCount(
            None, None, allowed, "the service's counters were reset (it restarted) during the step"
        )
    return DegradedCount(degraded, decisions, allowed)
