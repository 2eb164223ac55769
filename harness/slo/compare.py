"""Baseline comparison for the regression gate: ``compare(base, new) -> Comparison`` (pure).

The gate must not flap on a noisy 2-core machine, so a metric regresses only when the change is
both statistically significant AND larger than a tolerance: 10% (``tolerance``) and at least
``min_effect_ms`` (default 5 ms, a tenth of the default 50 ms SLO). The absolute floor matters for
fast services: the bootstrap sees only within-run sampling noise, not run-to-run noise, and on
these machines a p99 of 3 ms reruns at 8 ms now and then, a "x2.4 regression" that no SLO cares
about. The effective ratio bound of a metric is ``max(1 + tolerance, 1 + min_effect_ms / base)``.

- ``p99`` and ``p99_9`` (rule ``PERCENTILE_CI``): the ratio new/base of the exact HDR percentile,
  with a bootstrap confidence interval; flagged when the interval's lower bound (the ``alpha``
  quantile of the bootstrap ratios, a one-sided bound at level ``alpha``) exceeds that bound.
  A percentile with too few OK responses on either side (the evaluation's rule: p99 needs 1,000,
  p99.9 10,000) is ``INSUFFICIENT`` and never flagged.
- ``distribution`` (rule ``SHIFT_TEST``): a one-sided Mann-Whitney U test (scipy, "new is slower")
  on the latency distributions; flagged when p < ``alpha`` AND the median ratio new/base exceeds
  that bound. Needs 20 OK responses per side.

Scopes: every verdict phase present in both runs (matched by name), over all endpoints, and per
endpoint when the phase has more than one endpoint in common. Latencies are the intended-clock
latencies of OK responses; samples beyond the histogram's 60 s range count as 60 s.

Bootstrap without expanding buckets: resampling n values with replacement from the bucket-expanded
sample and taking the k-th smallest is distributed exactly as F_n^-1(U_(k)), where F_n is the
bucket CDF and U_(k) ~ Beta(k, n - k + 1) is the k-th order statistic of n uniforms. So each
resample costs one Beta draw and one binary search over the buckets, whatever n is: no sample-size
cap is needed, and the result is the same distribution as the expand-and-resample bootstrap (a
test checks that against a naive implementation).

Mann-Whitney on huge runs: the values are expanded from the buckets (ties are handled by scipy's
tie correction) after drawing at most :data:`SHIFT_SAMPLE_CAP` per side without replacement
(multivariate hypergeometric over the bucket counts): the test takes O(n log n), and with 20,000
per side a 10% shift is already overwhelmingly significant. All randomness comes from
``numpy.random.default_rng`` seeded by ``seed`` and the scope's name, so a comparison is
reproducible.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from harness.measure import (
    HIGHEST_US,
    Distribution,
    PhaseResult,
    RunResult,
    distribution,
    min_samples,
)
from harness.slo.tail_shift import name_moved_stages
from harness.slo.verdict import Comparison, MetricComparison, RegressionRule

__all__ = ["SHIFT_SAMPLE_CAP", "bootstrap_percentile_us", "compare", "shift_sample"]

#: Values per side fed to the Mann-Whitney test (a uniform subsample beyond this).
SHIFT_SAMPLE_CAP: Final = 20_000
_PERCENTILES: Final = (("p99", 99.0), ("p99_9", 99.9))
_SHIFT_MIN: Final = min_samples(50.0)
_INSUFF: Final = RegressionRule.INSUFFICIENT


def compare(
    base: RunResult,
    new: RunResult,
    *,
    tolerance: float = 0.10,
    min_effect_ms: float = 5.0,
    alpha: float = 0.01,
    resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Compare ``new`` against ``base``; see the module docstring for the rules."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if min_effect_ms < 0:
        raise ValueError(f"min_effect_ms must be >= 0, got {min_effect_ms}")
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha}")
    if resamples < 100:
        raise ValueError(f"resamples must be >= 100, got {resamples}")
    base_phases = {p.name: p for p in base.verdict_phases}
    new_phases = {p.name: p for p in new.verdict_phases}
    metrics: list[MetricComparison] = []
    sides = (("baseline", base_phases, new_phases), ("new", new_phases, base_phases))
    notes = [
        f"Phase '{name}' is only in the {side} run and was not compared."
        for side, names, other in sides
        for name in names
        if name not in other
    ]
    if not set(base_phases) & set(new_phases):
        notes.append("The two runs share no verdict phase by name: nothing could be compared.")
    for name, b_phase in base_phases.items():
        n_phase = new_phases.get(name)
        if n_phase is None:
            continue
        common = sorted(set(b_phase.endpoints) & set(n_phase.endpoints))
        notes += [
            f"Endpoint '{e}' of phase '{name}' is only in one run and was compared only as part "
            "of all endpoints."
            for e in sorted(set(b_phase.endpoints) ^ set(n_phase.endpoints))
        ]
        for endpoint in [None, *common] if len(common) > 1 else [None]:
            rng = np.random.default_rng([seed, zlib.crc32(name.encode()), _crc(endpoint)])
            bounds = _Bounds(tolerance, min_effect_ms, alpha)
            metrics += _scope(b_phase, n_phase, endpoint, bounds, resamples, rng)
    return Comparison(
        base_label=_label(base),
        new_label=_label(new),
        tolerance=tolerance,
        alpha=alpha,
        metrics=name_moved_stages(metrics, base, new),
        notes=tuple(notes),
    )


@dataclass(frozen=True, slots=True)
class _Bounds:
    """How large a significant change must be to count: relative and absolute floors."""

    tolerance: float
    min_effect_ms: float
    alpha: float

    def limit(self, base_ms: float) -> float:
        """The ratio new/base a change must exceed, for a baseline value of ``base_ms``."""
        absolute = self.min_effect_ms / base_ms if base_ms > 0 else 0.0
        return 1.0 + max(self.tolerance, absolute)


def _scope(
    base: PhaseResult,
    new: PhaseResult,
    endpoint: str | None,
    bounds: _Bounds,
    resamples: int,
    rng: np.random.Generator,
) -> Iterator[MetricComparison]:
    b = _capped(distribution(base.latency(endpoint=endpoint)))
    n = _capped(distribution(new.latency(endpoint=endpoint)))
    where = f"phase '{base.name}'" + (f", endpoint '{endpoint}'" if endpoint else "")
    for metric, percentile in _PERCENTILES:
        yield _percentile(
            b, n, metric, percentile, where, (base.name, endpoint), bounds, resamples, rng
        )
    yield _shift(b, n, where, (base.name, endpoint), bounds, rng)


def _percentile(
    b: Distribution,
    n: Distribution,
    metric: str,
    percentile: float,
    where: str,
    scope: tuple[str, str | None],
    bounds: _Bounds,
    resamples: int,
    rng: np.random.Generator,
) -> MetricComparison:
    alpha = bounds.alpha
    stat = f"p{percentile:g}"
    need = min_samples(percentile)
    if b.total < need or n.total < need:
        reason = (
            f"{stat} of {where} needs at least {need:,} OK responses on each side; the "
            f"baseline had {b.total:,}, the new run {n.total:,}, so it was not compared."
        )
        return _row(scope, metric, b, n, percentile, None, None, None, False, _INSUFF, reason)
    base_boot = bootstrap_percentile_us(b, percentile, resamples, rng)
    new_boot = bootstrap_percentile_us(n, percentile, resamples, rng)
    ratios = new_boot / np.maximum(base_boot, 1.0)
    low, high = (float(q) for q in np.quantile(ratios, [alpha, 1.0 - alpha]))
    ratio = _ratio(b, n, percentile)
    limit = bounds.limit(_value_ms(b, percentile))
    regressed = low > limit
    change = (
        f"{stat} of {where} went from {_ms(b, percentile)} to {_ms(n, percentile)} "
        f"(x{ratio:.3f}; {1 - alpha:.0%} bootstrap bounds x{low:.3f} to x{high:.3f})"
    )
    if regressed:
        reason = f"{change}: regressed, the lower bound exceeds the x{limit:.2f} tolerance."
    else:
        reason = f"{change}: no regression, the lower bound is within x{limit:.2f}."
    rule = RegressionRule.PERCENTILE_CI if regressed else RegressionRule.NONE
    return _row(scope, metric, b, n, percentile, low, high, None, regressed, rule, reason)


def _shift(
    b: Distribution,
    n: Distribution,
    where: str,
    scope: tuple[str, str | None],
    bounds: _Bounds,
    rng: np.random.Generator,
) -> MetricComparison:
    alpha = bounds.alpha
    if b.total < _SHIFT_MIN or n.total < _SHIFT_MIN:
        reason = (
            f"The shift test on {where} needs at least {_SHIFT_MIN} OK responses on each "
            f"side; the baseline had {b.total:,}, the new run {n.total:,}."
        )
        return _row(scope, "distribution", b, n, 50.0, None, None, None, False, _INSUFF, reason)
    from scipy.stats import mannwhitneyu  # lazy: scipy.stats is ~1.6 s of import

    test = mannwhitneyu(
        shift_sample(n, SHIFT_SAMPLE_CAP, rng),
        shift_sample(b, SHIFT_SAMPLE_CAP, rng),
        alternative="greater",
        method="asymptotic",
    )
    p_value = float(test.pvalue)
    ratio = _ratio(b, n, 50.0)
    significant = p_value < alpha
    limit = bounds.limit(_value_ms(b, 50.0))
    regressed = significant and ratio > limit
    change = (
        f"latencies of {where}: Mann-Whitney {_p(p_value)} (new slower), median "
        f"{_ms(b, 50.0)} -> {_ms(n, 50.0)} (x{ratio:.3f})"
    )
    if regressed:
        reason = f"Shifted up in {change}: significant and beyond the x{limit:.2f} tolerance."
    elif significant:
        reason = f"Small shift in {change}: significant but within x{limit:.2f}."
    else:
        reason = f"No significant shift in {change} (alpha {alpha:g})."
    rule = RegressionRule.SHIFT_TEST if regressed else RegressionRule.NONE
    return _row(scope, "distribution", b, n, 50.0, None, None, p_value, regressed, rule, reason)


def bootstrap_percentile_us(
    dist: Distribution, percentile: float, resamples: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """``resamples`` bootstrap replicates of ``percentile`` (nearest-rank rule), in microseconds."""
    n = dist.total
    k = dist.rank(percentile)
    u = rng.beta(k, n - k + 1, size=resamples)
    cumulative = np.cumsum(dist.counts)
    index = np.searchsorted(cumulative, u * n, side="left")
    return dist.values_us[np.minimum(index, len(cumulative) - 1)].astype(np.float64)


def shift_sample(dist: Distribution, cap: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """The bucket-expanded values, subsampled without replacement to at most ``cap``."""
    counts = dist.counts
    if dist.total > cap:
        counts = rng.multivariate_hypergeometric(dist.counts, cap).astype(np.int64)
    return np.repeat(dist.values_us, counts)


# -- helpers ---------------------------------------------------------------------------------
def _capped(dist: Distribution) -> Distribution:
    """Count out-of-range samples as the 60 s ceiling so every percentile has a value."""
    if not dist.out_of_range:
        return dist
    return Distribution(
        np.append(dist.values_us, np.int64(HIGHEST_US)),
        np.append(dist.counts, np.int64(dist.out_of_range)),
    )


def _value_ms(dist: Distribution, percentile: float) -> float:
    if dist.total == 0:
        return 0.0
    value = dist.percentile_us(percentile)
    return (HIGHEST_US if value is None else value) / 1000.0


def _ms(dist: Distribution, percentile: float) -> str:
    return f"{_value_ms(dist, percentile):.4g} ms"


def _ratio(b: Distribution, n: Distribution, percentile: float) -> float:
    # Floor the base at 1 us (the histogram's resolution) so an empty or zero base stays finite.
    return _value_ms(n, percentile) / max(_value_ms(b, percentile), 0.001)


def _row(
    scope: tuple[str, str | None],
    metric: str,
    b: Distribution,
    n: Distribution,
    percentile: float,
    low: float | None,
    high: float | None,
    p_value: float | None,
    regressed: bool,
    rule: RegressionRule,
    reason: str,
) -> MetricComparison:
    return MetricComparison(
        phase=scope[0],
        endpoint=scope[1],
        metric=metric,
        base_ms=_value_ms(b, percentile),
        new_ms=_value_ms(n, percentile),
        ratio=_ratio(b, n, percentile),
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        regressed=regressed,
        rule=rule,
        reason=reason,
        base_samples=b.total,
        new_samples=n.total,
    )


def _p(p_value: float) -> str:
    # The normal approximation underflows to 0 for large shifts; say so instead of "p=0".
    return f"p={p_value:.3g}" if p_value > 0 else "p<1e-300"


def _crc(endpoint: str | None) -> int:
    return zlib.crc32(b"*" if endpoint is None else endpoint.encode())


def _label(run: RunResult) -> str:
    return f"{run.scenario.name} @ {run.started_at:%Y-%m-%dT%H:%M:%SZ}"
