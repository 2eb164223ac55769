"""compare(): bootstrap CI on p99/p99.9 plus Mann-Whitney, flagged only if significant AND large."""

from __future__ import annotations

import numpy as np
import pytest

from harness.measure import distribution
from harness.measure.histogram import HIGHEST_US
from harness.measure.result import RunResult
from harness.slo import Comparison, MetricComparison, RegressionRule, compare
from harness.slo.compare import SHIFT_SAMPLE_CAP, bootstrap_percentile_us, shift_sample
from harness.testing import hist, lognormal_us, phase
from harness.testing import run_result as run

N = 12_000  # a one-minute run at 200 requests/s: enough for p99.9


def _run(
    seed: int, scale: float = 1.0, n: int = N, sigma: float = 0.5, name: str = "steady"
) -> RunResult:
    return run(phase(name, ok=lognormal_us(n, median_ms=20, sigma=sigma, seed=seed, scale=scale)))


def _by_metric(comparison: Comparison, endpoint: str | None = None) -> dict[str, MetricComparison]:
    return {m.metric: m for m in comparison.metrics if m.endpoint == endpoint}


def test_twenty_percent_regression_is_flagged_by_both_rules() -> None:
    """The same distribution scaled 1.2x: p99 via the bootstrap CI, the shift via Mann-Whitney."""
    # 20,000 per side: the p99 rule then catches a 1.2x scale in 40 of 40 seeds tried (38 of 40
    # at 12,000; the shift test in all of them).
    comparison = compare(_run(1, n=20_000), _run(2, n=20_000, scale=1.2), min_effect_ms=0)
    assert comparison.regressed
    p99 = next(m for m in comparison.metrics if m.metric == "p99")
    assert p99.regressed
    assert p99.rule is RegressionRule.PERCENTILE_CI
    assert p99.ratio == pytest.approx(1.2, abs=0.06)
    assert p99.ci_low is not None
    assert p99.ci_low > 1.10
    assert "regressed" in p99.reason
    assert "tolerance" in p99.reason
    shift = next(m for m in comparison.metrics if m.metric == "distribution")
    assert shift.rule is RegressionRule.SHIFT_TEST
    assert shift.p_value is not None
    assert shift.p_value < 0.01
    assert shift.ratio == pytest.approx(1.2, abs=0.03)


def test_rerun_of_the_same_distribution_is_never_flagged_across_seeds() -> None:
    """20 reruns (independent samples, same distribution, heavy tail): zero flags."""
    flagged = []
    for seed in range(20):
        comparison = compare(_run(1000 + 2 * seed, sigma=0.8), _run(1001 + 2 * seed, sigma=0.8),
                             seed=seed)  # fmt: skip
        flagged += [m.reason for m in comparison.metrics if m.regressed]
        assert {m.rule for m in comparison.metrics} == {RegressionRule.NONE}
    assert flagged == []


def test_five_percent_regression_within_ten_percent_tolerance_is_not_flagged() -> None:
    """A real but small 5% slowdown is significant yet within tolerance: not a regression."""
    comparison = compare(_run(3, n=40_000), _run(4, n=40_000, scale=1.05), min_effect_ms=0)
    assert not comparison.regressed
    shift = next(m for m in comparison.metrics if m.metric == "distribution")
    assert shift.p_value is not None
    assert shift.p_value < 0.01  # significant ...
    assert "within x1.10" in shift.reason  # ... but small


def test_five_percent_regression_is_flagged_with_a_two_percent_tolerance() -> None:
    """The tolerance is what keeps the 5% change unflagged: with 2% the shift test fires."""
    comparison = compare(
        _run(3, n=40_000), _run(4, n=40_000, scale=1.05), tolerance=0.02, min_effect_ms=0
    )
    assert comparison.regressed
    shift = next(m for m in comparison.metrics if m.metric == "distribution")
    assert shift.rule is RegressionRule.SHIFT_TEST


def test_twenty_percent_p99_regression_is_flagged_with_the_default_floor() -> None:
    """With the default 5 ms floor a 1.2x slowdown of a ~50 ms p99 (10 ms) is still flagged."""
    comparison = compare(_run(1, n=20_000), _run(2, n=20_000, scale=1.2))
    p99 = next(m for m in comparison.metrics if m.metric == "p99")
    assert p99.base_ms > 40
    assert p99.rule is RegressionRule.PERCENTILE_CI


def test_absolute_floor_ignores_large_ratios_of_tiny_latencies() -> None:
    """A p99 going 2.5 ms -> 5.8 ms (x2.3, significant) stays under a 5 ms floor."""
    base = run(phase("steady", ok=lognormal_us(20_000, median_ms=1, sigma=0.4, seed=31)))
    new = run(phase("steady", ok=lognormal_us(20_000, median_ms=1, sigma=0.4, seed=32, scale=2.3)))
    assert not compare(base, new).regressed
    flagged = compare(base, new, min_effect_ms=0)
    assert next(m for m in flagged.metrics if m.metric == "p99").regressed


def test_tail_only_regression_is_caught_by_the_percentile_rule() -> None:
    """Only the slowest 3% got 50% slower: the p99 CI flags it, the median shift does not."""
    base = lognormal_us(N, median_ms=20, sigma=0.4, seed=5)
    new = lognormal_us(N, median_ms=20, sigma=0.4, seed=6)
    cut = np.quantile(new, 0.97)
    new = np.where(new > cut, new * 3 // 2, new)
    comparison = compare(run(phase("steady", ok=base)), run(phase("steady", ok=new)))
    metrics = _by_metric(comparison)
    assert metrics["p99"].rule is RegressionRule.PERCENTILE_CI
    assert metrics["distribution"].rule is RegressionRule.NONE


def test_too_few_samples_for_a_percentile_is_insufficient_not_flagged() -> None:
    """500 responses per side: p99 and p99.9 are INSUFFICIENT even with a 2x slowdown."""
    comparison = compare(_run(7, n=500), _run(8, n=500, scale=2.0))
    metrics = _by_metric(comparison)
    for name in ("p99", "p99_9"):
        metric = metrics[name]
        assert metric.rule is RegressionRule.INSUFFICIENT
        assert not metric.regressed
    assert "needs at least 1,000 OK responses on each side" in metrics["p99"].reason
    # The distribution as a whole is still compared (20 samples suffice) and flags the 2x shift.
    assert metrics["distribution"].rule is RegressionRule.SHIFT_TEST


def test_comparison_is_deterministic_for_a_seed() -> None:
    """The same inputs and seed give the identical comparison."""
    base, new = _run(9), _run(10, scale=1.1)
    assert compare(base, new, seed=3) == compare(base, new, seed=3)


def test_phases_match_by_name_and_endpoints_get_their_own_rows() -> None:
    """Phases match by name; with several endpoints in common each gets its own rows."""
    base = run(
        phase("warmup", ok=[1_000] * 100, in_verdict=False),
        phase(
            "steady",
            ok={"score": lognormal_us(3_000, seed=11), "infer": lognormal_us(3_000, seed=12)},
        ),
        phase("spike", ok=lognormal_us(3_000, seed=13)),
    )
    new = run(
        phase(
            "steady",
            ok={"score": lognormal_us(3_000, seed=14), "infer": lognormal_us(3_000, seed=15)},
        ),
        phase("soak", ok=lognormal_us(3_000, seed=16)),
    )
    comparison = compare(base, new)
    scopes = {(m.phase, m.endpoint) for m in comparison.metrics}
    assert scopes == {("steady", None), ("steady", "score"), ("steady", "infer")}
    assert len(comparison.metrics) == 9
    assert comparison.notes == (
        "Phase 'spike' is only in the baseline run and was not compared.",
        "Phase 'soak' is only in the new run and was not compared.",
    )


def test_runs_without_a_common_phase_compare_nothing_and_say_so() -> None:
    """Two unrelated runs yield no metrics (so no silent pass) and a note saying why."""
    comparison = compare(_run(1, n=100, name="a"), _run(2, n=100, name="b"))
    assert comparison.metrics == ()
    assert "share no verdict phase" in comparison.notes[-1]


def test_out_of_range_samples_count_as_sixty_seconds() -> None:
    """Stalls beyond the histogram ceiling are compared as 60 s, not dropped."""
    base = _run(17)
    slow = lognormal_us(N, median_ms=20, sigma=0.5, seed=18)
    new = run(phase("steady", ok=slow))
    h = next(iter(new.phases[0].histograms.values()))
    h.record(HIGHEST_US * 2, 300)  # 2.4% of responses beyond range
    metrics = _by_metric(compare(base, new))
    assert metrics["p99"].new_ms == HIGHEST_US / 1000
    assert metrics["p99"].rule is RegressionRule.PERCENTILE_CI


def test_labels_name_scenario_and_start() -> None:
    """Base and new labels carry the scenario name and UTC start."""
    comparison = compare(_run(1, n=100), _run(2, n=100))
    assert comparison.base_label == "synthetic @ 2024-06-01T12:00:00Z"
    assert (comparison.tolerance, comparison.alpha) == (0.10, 0.01)


@pytest.mark.parametrize(
    "kwargs",
    [{"tolerance": -0.1}, {"alpha": 0.0}, {"alpha": 0.7}, {"resamples": 10}],
)
def test_invalid_parameters_are_refused(kwargs: dict[str, float]) -> None:
    """Nonsensical statistics parameters are a programming error, not a silent default."""
    with pytest.raises(ValueError, match="must"):
        compare(_run(1, n=50), _run(2, n=50), **kwargs)  # type: ignore[arg-type]


# -- the statistical building blocks ----------------------------------------------------------
def test_order_statistic_bootstrap_matches_expand_and_resample() -> None:
    """Beta order-statistic bootstrap has the distribution of the naive expand-resample one."""
    values = lognormal_us(3_000, median_ms=20, sigma=0.6, seed=21)
    dist = distribution(hist(values))
    rng = np.random.default_rng(0)
    fast = bootstrap_percentile_us(dist, 99.0, 3_000, rng)
    expanded = np.repeat(dist.values_us, dist.counts)
    rank = dist.rank(99.0)
    naive = np.array([np.sort(rng.choice(expanded, expanded.size))[rank - 1] for _ in range(3_000)])
    from scipy.stats import ks_2samp  # here: scipy.stats costs ~1 s of every worker's collection

    assert ks_2samp(fast, naive).pvalue > 0.001
    for q in (0.05, 0.5, 0.95):
        assert np.quantile(fast, q) == pytest.approx(np.quantile(naive, q), rel=0.02)


def test_shift_sample_is_capped_and_keeps_the_shape() -> None:
    """Big runs are subsampled to the cap without replacement; small ones are expanded whole."""
    big = distribution(hist(lognormal_us(60_000, seed=22)))
    rng = np.random.default_rng(0)
    sample = shift_sample(big, SHIFT_SAMPLE_CAP, rng)
    assert sample.size == SHIFT_SAMPLE_CAP
    assert np.median(sample) == pytest.approx(big.percentile_us(50), rel=0.02)
    small = distribution(hist([5, 5, 9]))
    assert sorted(shift_sample(small, SHIFT_SAMPLE_CAP, rng).tolist()) == [5, 5, 9]
