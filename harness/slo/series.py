"""The SLO's consumers of the interval series, fed in a pass the caller may share.

Two things in a verdict read the per-interval series rather than a phase's totals: burn-rate
objectives (bad/total events per interval, :class:`harness.slo.burn.EventCounter`) and the knee of
ramp and step phases (:class:`harness.slo.knee.KneeFeed`). :class:`SloSeries` builds every
consumer an SLO needs from the phases alone (before anything is read), so a caller that also
builds reports can feed both in one :func:`harness.measure.scan_series` pass over a day-long log,
decoding each payload once; :func:`harness.slo.evaluate` makes its own pass when not given one.
It holds per interval a few integers and per knee window one small record, never a histogram.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.measure import IntervalView
from harness.slo.burn import EventCounter
from harness.slo.knee import KneeFeed, PhaseLike, slo_knee_feeds
from harness.spec import ALL_PHASES, BurnRateObjective, Sli, SloSpec

__all__ = ["SloSeries", "burn_key"]

_Key = tuple[str, Sli, int | None]


def burn_key(phase: str, objective: BurnRateObjective) -> _Key:
    """What a burn-rate objective counts on one phase: (phase, SLI, latency threshold in us)."""
    threshold = objective.latency_threshold_ms
    return phase, objective.sli, None if threshold is None else round(threshold * 1000)


class SloSeries:
    """Every per-interval consumer ``slo`` needs for ``phases`` (itself one consumer)."""

    def __init__(self, phases: Sequence[PhaseLike], slo: SloSpec) -> None:
        self.counters: dict[_Key, EventCounter] = {}
        for objective in slo.objectives:
            if not isinstance(objective, BurnRateObjective):
                continue
            for phase in phases:
                if objective.phase in (ALL_PHASES, phase.name):
                    key = burn_key(phase.name, objective)
                    self.counters.setdefault(key, EventCounter(*key))
        self.knees: list[KneeFeed] = slo_knee_feeds(phases, slo)

    @property
    def needed(self) -> bool:
        """False when the SLO reads nothing per interval (no pass is worth making for it)."""
        return bool(self.counters or self.knees)

    def feed(self, view: IntervalView) -> None:
        """Hand one record to every consumer."""
        for counter in self.counters.values():
            counter.feed(view)
        for knee in self.knees:
            knee.feed(view)
