"""The load schedule: a scenario's arrival rate turned into intended send times, and the mix.

The scenario (``harness.spec``) describes a piecewise-linear arrival *rate* r(t) as
:class:`~harness.spec.Segment` pieces; :func:`intended_times` turns it into intended send times by
inverting the cumulative rate Lambda(t) = integral of r: constant arrivals are the points
Lambda(t) = 0, 1, 2, ... (so a steady phase at R for T seconds gives exactly R*T sends), Poisson
arrivals are Lambda(t) = E1, E1+E2, ... with E_i ~ Exp(1) (time-rescaling theorem), which handles
ramps without thinning. :class:`EndpointPicker` draws each request's endpoint from the mix.

Pure arithmetic, no Locust: ``import harness.load`` stays cheap, and the same seed gives the same
schedule in every process (the distributed run depends on that).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Final

from harness.spec import Arrival, Endpoint, MixEntry, Phase, Scenario, ScheduledPhase, Segment

__all__ = ["EndpointPicker", "arrivals", "intended_times", "time_for"]

#: Rates between these take the constant-rate form of time_for (r0 * r0 stays a normal float).
_FLAT_MIN: Final = 1e-150
_FLAT_MAX: Final = 1e150


def arrivals(
    scenario: Scenario, rng: random.Random, *, part: tuple[int, int] = (0, 1)
) -> Iterator[tuple[ScheduledPhase, float]]:
    """Every intended send time of the run (seconds from its start) with its phase, in order.

    One ``rng`` (seed it identically in every worker when ``part`` splits the schedule).
    """
    for scheduled in scenario.schedule():
        for t in intended_times(
            scheduled.phase, scheduled.start_s, rng, scenario.arrival, part=part
        ):
            yield scheduled, t


def intended_times(
    phase: Phase,
    start_s: float,
    rng: random.Random,
    arrival: Arrival = Arrival.CONSTANT,
    *,
    part: tuple[int, int] = (0, 1),
) -> Iterator[float]:
    """Intended send times (seconds from run start) of the requests of ``phase``, in order.

    Constant arrivals put the n-th request where the cumulative rate reaches n (n = 0, 1, ...);
    ``rng`` is not used. Poisson arrivals add Exp(1) gaps in cumulative-rate space, drawn from
    ``rng``. Pure: the same rng state gives the same times.

    ``part=(k, n)`` yields only the arrivals whose index is k modulo n: n generator processes with
    the same seed then split one schedule exactly, without overlap or gaps (their union is the
    single-process schedule, so a constant-rate run stays evenly spaced across workers).
    """
    k, n = part
    if not 0 <= k < n:
        raise ValueError(f"part must be (k, n) with 0 <= k < n, got {part}")
    poisson = arrival is Arrival.POISSON
    seg_start = start_s
    index = 0
    carry = rng.expovariate(1.0) if poisson else 0.0  # the next arrival's cumulative rate
    for seg in phase.segments():
        total = seg.expected
        # Constant: stop 1e-9 requests short of ``total`` so that floating-point noise does not
        # fit R*T + 1 arrivals into a segment meant to hold R*T.
        limit = total if poisson else total - 1e-9
        rate = seg.r0
        # At a constant rate time_for(seg, x) is exactly x / rate (sqrt(r0 * r0) == r0 in binary
        # floating point away from over- and underflow; 2x / 2r0 == x / r0): one call fewer.
        flat = seg.r1 == rate and _FLAT_MIN < rate < _FLAT_MAX
        while carry < limit:
            if index % n == k:
                yield seg_start + (carry / rate if flat else time_for(seg, carry))
            index += 1
            carry += rng.expovariate(1.0) if poisson else 1.0
        carry -= total
        seg_start += seg.duration_s


def time_for(segment: Segment, x: float) -> float:
    """Offset t within ``segment`` where its cumulative rate reaches ``x`` (0 <= x <= expected).

    Solves r0*t + k*t^2/2 = x with k = (r1 - r0)/d, in the form that is stable for k -> 0.
    """
    k = (segment.r1 - segment.r0) / segment.duration_s
    root = math.sqrt(max(segment.r0 * segment.r0 + 2.0 * k * x, 0.0))
    denominator = segment.r0 + root
    return 2.0 * x / denominator if denominator > 0 else 0.0


class EndpointPicker:
    """Draws endpoints by the mix's weights from a seeded RNG (cheap: one random() + bisect)."""

    __slots__ = ("_cumulative", "_endpoints", "_random")

    def __init__(self, mix: tuple[MixEntry, ...], seed: int) -> None:
        total = sum(m.weight for m in mix)
        acc = 0.0
        self._cumulative: list[float] = []
        for m in mix:
            acc += m.weight / total
            self._cumulative.append(acc)
        self._cumulative[-1] = 1.0
        self._endpoints = [m.endpoint for m in mix]
        self._random = random.Random(seed).random

    def next(self) -> Endpoint:
        """The endpoint of the next request."""
        u = self._random()
        for i, c in enumerate(self._cumulative):
            if u < c:
                return self._endpoints[i]
        return self._endpoints[-1]
