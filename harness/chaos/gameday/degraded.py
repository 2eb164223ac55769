"""Degraded decisions per step: the service's own counters read at the step's boundaries.

A game-day step may allow degraded decisions (``degraded_allowed: true``: during a feature-store
outage the service must answer ``degraded: true`` within its budget rather than late). Whether it
did is the service's count, not the load's: the controller reads the service's decision counters
(:class:`~harness.target.DecisionCounters`, from ``/metrics``) just before a step's fault goes on
and one judgement window after its rollback (the span its expectations are judged on: requests
sent during a stall are decided after it resumed), and the step's figure is the difference.

Rules (never a guessed 0):

- a reading that failed (timeout, refused, no ``/metrics``) or a service that does not expose the
  degraded counter makes the step *not reported* (``degraded`` None, ``note`` says why);
- a step whose fault restarts the service (``kill`` with ``scope: service``) starts its counters
  again from 0, and so does any counter that went down between the readings: not reported
  either, since the old process's decisions after the first reading are lost with it;
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
_RESET: Final = "the service restarted during the step: its counters started again from 0"


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
    *,
    restarted: bool = False,
) -> DegradedCount:
    """The step's count from its two readings (None: that reading failed; ``why_missing``;
    ``restarted``: the step's fault restarted the service)."""
    if restarted:
        return DegradedCount(None, None, allowed, _RESET)
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
        return DegradedCount(None, None, allowed, _RESET)
    return DegradedCount(degraded, decisions, allowed)
