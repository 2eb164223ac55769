"""Builders of deterministic runs, verdicts, comparisons and provenance for the report tests.

Every request is synthesised from a seeded generator and recorded both into its phase's
histograms and into its second's interval, so the per-phase and per-interval views agree the way a
real recorder's do. Nothing depends on the clock, the host or the installed versions, which is
what lets the golden files be byte-stable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from harness.measure.histogram import LatencyHistogram
from harness.measure.result import (
    AuditCheck,
    Clock,
    FaultWindow,
    HistKey,
    IntervalRecord,
    Outcome,
    PhaseKind,
    PhaseResult,
    RequestCounts,
    RunResult,
    ScenarioRef,
    TargetInfo,
)
from harness.report.provenance import PackageVersion, Provenance
from harness.slo.verdict import (
    Comparison,
    MetricComparison,
    ObjectiveResult,
    ObjectiveStatus,
    RegressionRule,
    Verdict,
    VerdictStatus,
)
from harness.testing import generator_health, run_result

START = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
GOLDEN = Path(__file__).parent / "golden"
SCORE = "/v1/score"
INFER = "/v2/models/fraud/infer"
FAULT = FaultWindow("latency +20ms", 40.0, 45.0)


def _phase(
    name: str,
    kind: PhaseKind,
    in_verdict: bool,
    start_s: int,
    duration_s: int,
    rates: int | Sequence[int],
    rng: np.random.Generator,
    intervals: list[IntervalRecord],
    *,
    median_ms: float | Callable[[int], float],
) -> PhaseResult:
    """A phase at a constant rate, or one rate per second; ``median_ms`` may depend on the rate."""
    hists: dict[HistKey, LatencyHistogram] = {}
    totals = RequestCounts()
    for second in range(start_s, start_s + duration_s):
        rate = rates if isinstance(rates, int) else rates[second - start_s]
        median = median_ms if isinstance(median_ms, float) else median_ms(rate)
        in_fault = FAULT.start_s <= second < FAULT.end_s
        latency = rng.lognormal(np.log(median * 1000), 0.35, rate)
        if in_fault:
            latency += 20_000
        service = latency * 0.9
        endpoint = np.where(rng.random(rate) < 0.8, SCORE, INFER)
        draw = rng.random(rate)
        outcome = np.where(
            draw < (0.02 if in_fault else 0.0005),
            Outcome.FAILED.value,
            np.where(in_fault & (draw > 0.97), Outcome.SHED.value, Outcome.OK.value),
        )
        interval = LatencyHistogram()
        for lat, svc, ep, out in zip(latency, service, endpoint, outcome, strict=True):
            key_outcome = Outcome(str(out))
            for clock, value in ((Clock.INTENDED, lat), (Clock.SERVICE, svc)):
                key = HistKey(str(ep), key_outcome, clock)
                hists.setdefault(key, LatencyHistogram()).record(round(float(value)))
            if key_outcome is Outcome.OK:
                interval.record(round(float(lat)))
        n_failed = int((outcome == Outcome.FAILED.value).sum())
        n_shed = int((outcome == Outcome.SHED.value).sum())
        counts = RequestCounts(
            sent=rate,
            ok=rate - n_failed - n_shed,
            failed=n_failed,
            shed=n_shed,
            late=3 if in_fault else 0,
        )
        totals = totals + counts
        intervals.append(IntervalRecord(float(second), 1.0, name, rate, counts, interval))
    return PhaseResult(
        name=name,
        kind=kind,
        in_verdict=in_verdict,
        start_s=float(start_s),
        duration_s=float(duration_s),
        offered_rps=(totals.sent / duration_s) if isinstance(rates, Sequence) else float(rates),
        achieved_rps=(totals.ok + totals.failed + totals.shed) / duration_s,
        counts=totals,
        histograms=hists,
    )


def make_run(*, seed: int = 7, scale: float = 1.0, name: str = "steady") -> RunResult:
    """Warm-up (10 s at 50/s) then steady (60 s at 200/s) with a 5 s fault at 40-45 s."""
    rng = np.random.default_rng(seed)
    intervals: list[IntervalRecord] = []
    warm = _phase(
        "warmup", PhaseKind.WARMUP, False, 0, 10, 50, rng, intervals, median_ms=30 * scale
    )
    steady = _phase(
        "steady", PhaseKind.STEADY, True, 10, 60, 200, rng, intervals, median_ms=12 * scale
    )
    return _run(name, (warm, steady), intervals, 71.5, (FAULT,))


def _run(
    name: str,
    phases: tuple[PhaseResult, ...],
    intervals: list[IntervalRecord],
    duration_s: float,
    faults: tuple[FaultWindow, ...],
) -> RunResult:
    return run_result(
        *phases,
        intervals=intervals,
        scenario=ScenarioRef(name, f"scenarios/{name}.yaml", "ab" * 32),
        target=TargetInfo("http://127.0.0.1:8080", True, "fraud", "1.0.0", "cd" * 32),
        started_at=START,
        duration_s=duration_s,
        generator=replace(  # the golden files' figures
            generator_health(),
            cpu_percent_p50=41.5,
            cpu_percent_max=63.25,
            schedule_lag_p99_ms=0.412,
            schedule_lag_max_ms=1.731,
            concurrency_cap=64,
            concurrency_peak=12,
        ),
        fault_windows=faults,
        audit=AuditCheck(intact=True, records=9_862, streams=2),
    )


RAMP_RATES = tuple(range(100, 1300, 50))  # 24 s from 100 to 1,250 requests/s


def _ramp_median_ms(rate: int) -> float:
    """10 ms up to 600/s, then 1 ms more per 10/s: p99 (about 2.26 x median) crosses 50 ms."""
    return 10.0 + max(0, rate - 600) / 10


def make_ramp_run() -> RunResult:
    """Warm-up (5 s at 50/s) then a ramp whose latency climbs past a 50 ms p99 near 800/s."""
    rng = np.random.default_rng(5)
    intervals: list[IntervalRecord] = []
    warm = _phase("warmup", PhaseKind.WARMUP, False, 0, 5, 50, rng, intervals, median_ms=10.0)
    ramp = _phase(
        "ramp", PhaseKind.RAMP, True, 5, len(RAMP_RATES), RAMP_RATES, rng, intervals,
        median_ms=_ramp_median_ms,
    )  # fmt: skip
    return _run("ramp", (warm, ramp), intervals, 5 + len(RAMP_RATES) + 0.5, ())


def objective(
    name: str,
    status: ObjectiveStatus,
    observed: float | None,
    threshold: float,
    *,
    metric: str = "latency_p99",
    unit: str = "ms",
    endpoint: str | None = None,
    reason: str = "",
    samples: int | None = 11_900,
) -> ObjectiveResult:
    """One objective result on the steady phase."""
    return ObjectiveResult(
        name=name,
        phase="steady",
        endpoint=endpoint,
        metric=metric,
        op="<",
        threshold=threshold,
        unit=unit,
        observed=observed,
        status=status,
        reason=reason or f"{name}: observed {observed}, threshold {threshold}.",
        samples=samples,
    )


P99 = objective("p99 latency < 50 ms", ObjectiveStatus.PASS, 38.143, 50.0)
ERRORS = objective(
    "error rate < 0.1%", ObjectiveStatus.PASS, 0.0008, 0.001, metric="error_rate", unit="ratio"
)
P999_INFER = objective(
    "p99.9 latency < 80 ms",
    ObjectiveStatus.INSUFFICIENT,
    None,
    80.0,
    metric="latency_p99_9",
    endpoint=INFER,
    reason="p99.9 needs at least 10,000 OK responses to be judged; phase 'steady', endpoint "
    "'/v2/models/fraud/infer' had 2,371.",
    samples=2_371,
)


def verdict(status: VerdictStatus) -> Verdict:
    """A verdict of the given status with matching objectives and reasons."""
    if status is VerdictStatus.PASS:
        return Verdict(status, (P99, ERRORS))
    if status is VerdictStatus.FAIL:
        failed = replace(
            P99,
            status=ObjectiveStatus.FAIL,
            observed=61.247,
            reason="p99 was 61.25 ms over 11,900 OK responses in phase 'steady', above the < 50 "
            "ms limit.",
        )
        return Verdict(status, (failed, ERRORS), (f"p99 latency < 50 ms: {failed.reason}",))
    return Verdict(
        status,
        (P99, ERRORS, P999_INFER),
        (P999_INFER.reason, "Generator CPU above 90% for 4 s, so its latencies are polluted."),
    )


def comparison(*, regressed: bool = True) -> Comparison:
    """A baseline comparison with one percentile metric regressed (when asked) and one cleared."""
    p99 = MetricComparison(
        phase="steady",
        endpoint=None,
        metric="p99",
        base_ms=31.5,
        new_ms=38.143 if regressed else 31.9,
        ratio=1.2109 if regressed else 1.0127,
        ci_low=1.153 if regressed else 0.97,
        ci_high=1.274 if regressed else 1.06,
        p_value=None,
        regressed=regressed,
        rule=RegressionRule.PERCENTILE_CI if regressed else RegressionRule.NONE,
        reason="p99 rose 21.1% (CI 15.3%..27.4%), beyond the 10% tolerance."
        if regressed
        else "p99 changed 1.3%, within the 10% tolerance.",
        base_samples=11_800,
        new_samples=11_900,
    )
    p999 = MetricComparison(
        phase="steady",
        endpoint=None,
        metric="p99_9",
        base_ms=52.0,
        new_ms=55.1,
        ratio=1.0596,
        ci_low=None,
        ci_high=None,
        p_value=None,
        regressed=False,
        rule=RegressionRule.INSUFFICIENT,
        reason="p99.9 needs 10,000 OK responses per run; the baseline had 9,800.",
        base_samples=9_800,
        new_samples=11_900,
    )
    shift = MetricComparison(
        phase="steady",
        endpoint=None,
        metric="distribution",
        base_ms=11.9,
        new_ms=12.2,
        ratio=1.0252,
        ci_low=None,
        ci_high=None,
        p_value=0.0001234,
        regressed=False,
        rule=RegressionRule.NONE,
        reason="Slower with p = 0.000123, but the median shift of 2.5% is within tolerance.",
        base_samples=11_800,
        new_samples=11_900,
    )
    return Comparison(
        base_label="steady@2024-04-30T12:00:00Z",
        new_label="steady@2024-05-01T12:00:00Z",
        tolerance=0.10,
        alpha=0.01,
        metrics=(p99, p999, shift),
        notes=("Phase 'soak' is only in the baseline run and was not compared.",),
    )


def provenance(run: RunResult) -> Provenance:
    """A fixed provenance (no host, git or version probing) for byte-stable golden files."""
    return Provenance(
        harness_version="0.1.0",
        git_commit="9f2c4e1ab0d7c3e8f5a6b1d2c3e4f5a6b7c8d9e0",
        git_dirty=False,
        scenario_path="scenarios/steady.yaml",
        scenario_sha256="ab" * 32,
        slo_path=None,
        slo_sha256=None,
        target_url=run.target.url,
        model_name=run.target.model_name,
        model_version=run.target.model_version,
        model_sha256=run.target.model_sha256,
        host="ci-runner-1",
        cpu_model="Test CPU @ 2.00GHz",
        cpu_count=2,
        os="Linux-6.1.0-x86_64-with-glibc2.36",
        kernel="6.1.0",
        python_version="3.11.2",
        packages=(PackageVersion("locust", "2.47.0"), PackageVersion("hdrhistogram", "0.10.8")),
        started_at=run.started_at,
        ended_at=run.ended_at,
        command_line=("slo-harness", "run", "scenarios/steady.yaml", "--token", "***"),
    )


def check_golden(name: str, actual: bytes) -> None:
    """Compare ``actual`` with golden/<name>; UPDATE_GOLDEN=1 rewrites it (then review the diff)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(actual)
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 once and review it"
    expected = path.read_bytes()
    assert actual.decode() == expected.decode(), f"{name} differs from its golden file"
