"""Delay samples for the latency toxic and the HTTP fault, with netem's jitter distributions.

netem (and Pumba, which drives it) adds ``mu + sigma * Z``, where ``Z`` comes from a table that is
normalised to mean 0 and standard deviation 1 for ``normal``, ``pareto`` and ``paretonormal``;
without a table (``uniform``) it draws uniformly from ``[mu - jitter, mu + jitter]``. The same
here, drawn from a seeded :class:`random.Random`, so a run with a given seed is reproducible:

- ``uniform``: ``U(mu - j, mu + j)`` (standard deviation ``j / sqrt(3)``);
- ``normal``: ``mu + j * N(0, 1)``;
- ``pareto``: ``mu + j * Z`` with ``Z`` a Pareto of shape 3 (iproute2's table) standardised to
  mean 0 and sd 1: a long right tail, most samples a little below ``mu``;
- ``paretonormal``: iproute2's mix, ``Z = (0.25 N + 0.75 P) / sd``, again mean 0 and sd 1.

Samples below zero are clamped to zero (a packet cannot leave before it arrived), so a large
jitter relative to ``mu`` moves the mean up a little; that is netem's behaviour too.
"""

from __future__ import annotations

import math
import random
from typing import Final

from harness.chaos.proxy.model import Distribution

__all__ = ["sample_delay_ms"]

_PARETO_SHAPE: Final = 3.0
#: Pareto(xm=1, shape 3): mean 1.5, sd sqrt(3/4).
_PARETO_MEAN: Final = _PARETO_SHAPE / (_PARETO_SHAPE - 1.0)
_PARETO_SD: Final = math.sqrt(_PARETO_SHAPE / ((_PARETO_SHAPE - 1.0) ** 2 * (_PARETO_SHAPE - 2.0)))
_MIX_SD: Final = math.sqrt(0.25**2 + 0.75**2)


def _pareto_z(rng: random.Random) -> float:
    return (rng.paretovariate(_PARETO_SHAPE) - _PARETO_MEAN) / _PARETO_SD


def sample_delay_ms(
    rng: random.Random, mean_ms: float, jitter_ms: float, distribution: Distribution
) -> float:
    """One delay in milliseconds (>= 0) around ``mean_ms`` with spread ``jitter_ms``."""
    if jitter_ms <= 0.0:
        return mean_ms
    if distribution is Distribution.UNIFORM:
        value = rng.uniform(mean_ms - jitter_ms, mean_ms + jitter_ms)
    elif distribution is Distribution.NORMAL:
        value = rng.gauss(mean_ms, jitter_ms)
    elif distribution is Distribution.PARETO:
        value = mean_ms + jitter_ms * _pareto_z(rng)
    else:
        z = (0.25 * rng.gauss(0.0, 1.0) + 0.75 * _pareto_z(rng)) / _MIX_SD
        value = mean_ms + jitter_ms * z
    return max(0.0, value)
