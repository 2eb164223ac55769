"""Builders of synthetic RunResults: histograms filled directly with known values, no load.

For tests of anything downstream of measurement (SLO verdicts, comparisons, reports) and for
users checking their own SLO files against a known distribution: :func:`phase` holds exactly the
latencies given, :func:`intervals` a per-second series, :func:`run_result` wraps them with a
healthy (or not) generator. Latencies are whole microseconds, as the recorder stores them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from harness.measure import (
    AuditCheck,
    Clock,
    FaultWindow,
    GeneratorHealth,
    HistKey,
    IntervalRecord,
    LatencyHistogram,
    Outcome,
    PhaseKind,
    PhaseResult,
    RequestCounts,
    RunResult,
    ScenarioRef,
    TargetInfo,
)

__all__ = [
    "FAILED_LATENCY_US",
    "START",
    "generator_health",
    "hist",
    "intervals",
    "lognormal_us",
    "nearest_rank",
    "phase",
    "run_result",
]

Values = Sequence[int] | npt.NDArray[np.int64]
#: A fixed start time, so builders are deterministic.
START = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
#: The intended-clock latency given to failed requests: a 2 s timeout.
FAILED_LATENCY_US = 2_000_000


def hist(values_us: Iterable[int] | npt.NDArray[np.int64]) -> LatencyHistogram:
    """A histogram holding exactly ``values_us`` (recorded value by value, in bulk)."""
    h = LatencyHistogram()
    array = values_us if isinstance(values_us, np.ndarray) else np.array(list(values_us))
    values, counts = np.unique(array.astype(np.int64), return_counts=True)
    for value, count in zip(values.tolist(), counts.tolist(), strict=True):
        h.record(int(value), int(count))
    return h


def lognormal_us(
    n: int, *, median_ms: float = 20.0, sigma: float = 0.4, seed: int = 0, scale: float = 1.0
) -> npt.NDArray[np.int64]:
    """``n`` latencies in us from a log-normal distribution (a typical service latency shape)."""
    rng = np.random.default_rng(seed)
    values = rng.lognormal(np.log(median_ms * 1000.0), sigma, n) * scale
    return np.maximum(values.round(), 1).astype(np.int64)


def phase(
    name: str = "steady",
    *,
    ok: Mapping[str, Values] | Values = (),
    failed: Mapping[str, int] | int = 0,
    shed: Mapping[str, int] | int = 0,
    kind: PhaseKind = PhaseKind.STEADY,
    in_verdict: bool = True,
    start_s: float = 0.0,
    duration_s: float = 60.0,
    offered_rps: float | None = None,
    achieved_rps: float | None = None,
    service_us: int | None = 100,
) -> PhaseResult:
    """A phase whose OK latencies are ``ok`` (per endpoint, or all on 'score').

    Failed and shed requests get their own histograms (2 s / 1 ms). The service-clock histograms
    hold ``service_us`` for every OK response, so a test can tell which clock was read.
    """
    ok_map = dict(ok) if isinstance(ok, Mapping) else {"score": ok}
    failed_map = dict(failed) if isinstance(failed, Mapping) else {"score": failed}
    shed_map = dict(shed) if isinstance(shed, Mapping) else {"score": shed}
    hists: dict[HistKey, LatencyHistogram] = {}
    for endpoint, values in ok_map.items():
        hists[HistKey(endpoint, Outcome.OK, Clock.INTENDED)] = hist(values)
        if service_us is not None:
            hists[HistKey(endpoint, Outcome.OK, Clock.SERVICE)] = hist([service_us] * len(values))
    extra = ((Outcome.FAILED, failed_map, FAILED_LATENCY_US), (Outcome.SHED, shed_map, 1_000))
    for outcome, per, latency in extra:
        for endpoint, count in per.items():
            if count:
                h = LatencyHistogram()
                h.record(latency, count)
                hists[HistKey(endpoint, outcome, Clock.INTENDED)] = h
    n_ok = sum(len(v) for v in ok_map.values())
    n_failed, n_shed = sum(failed_map.values()), sum(shed_map.values())
    sent = n_ok + n_failed + n_shed
    counts = RequestCounts(sent=sent, ok=n_ok, failed=n_failed, shed=n_shed)
    return PhaseResult(
        name=name,
        kind=kind,
        in_verdict=in_verdict,
        start_s=start_s,
        duration_s=duration_s,
        offered_rps=sent / duration_s if offered_rps is None else offered_rps,
        achieved_rps=sent / duration_s if achieved_rps is None else achieved_rps,
        counts=counts,
        histograms=hists,
    )


def intervals(
    phase_name: str,
    *,
    ok: Sequence[int],
    failed: Sequence[int] | None = None,
    shed: Sequence[int] | None = None,
    latency_us: int | Sequence[int] = 10_000,
    start_s: float = 0.0,
    length_s: float = 1.0,
) -> tuple[IntervalRecord, ...]:
    """One record per element of ``ok``: its counts and an OK histogram at ``latency_us``."""
    failed = failed if failed is not None else [0] * len(ok)
    shed = shed if shed is not None else [0] * len(ok)
    latencies = [latency_us] * len(ok) if isinstance(latency_us, int) else list(latency_us)
    records = []
    for i, (n_ok, n_failed, n_shed, lat) in enumerate(
        zip(ok, failed, shed, latencies, strict=True)
    ):
        h = LatencyHistogram()
        if n_ok:
            h.record(lat, n_ok)
        sent = n_ok + n_failed + n_shed
        records.append(
            IntervalRecord(
                start_s=start_s + i * length_s,
                length_s=length_s,
                phase=phase_name,
                offered=sent,
                counts=RequestCounts(sent=sent, ok=n_ok, failed=n_failed, shed=n_shed),
                latency=h,
            )
        )
    return tuple(records)


def generator_health(*, valid: bool = True, reasons: tuple[str, ...] = ()) -> GeneratorHealth:
    """A generator that stayed well inside its limits (or, ``valid=False``, did not)."""
    return GeneratorHealth(
        cpu_percent_p50=20.0,
        cpu_percent_max=40.0,
        schedule_lag_p99_ms=1.0,
        schedule_lag_max_ms=3.0,
        concurrency_cap=256,
        concurrency_peak=10,
        cap_hits=0,
        valid=valid,
        reasons=reasons,
    )


def run_result(
    *phases: PhaseResult,
    intervals: Sequence[IntervalRecord] = (),
    generator: GeneratorHealth | None = None,
    name: str = "synthetic",
    scenario: ScenarioRef | None = None,
    target: TargetInfo | None = None,
    started_at: datetime = START,
    duration_s: float = 0.0,
    fault_windows: Sequence[FaultWindow] = (),
    audit: AuditCheck | None = None,
) -> RunResult:
    """A RunResult around ``phases``; every field not given has a fixed, plausible value."""
    return RunResult(
        scenario=scenario or ScenarioRef(name=name, path=f"{name}.yaml", sha256="0" * 64),
        target=target or TargetInfo(url="http://127.0.0.1:9", started_by_harness=False),
        started_at=started_at,
        ended_at=started_at + timedelta(seconds=duration_s),
        phases=tuple(phases),
        intervals=tuple(intervals),
        generator=generator or generator_health(),
        fault_windows=tuple(fault_windows),
        audit=audit,
    )


def nearest_rank(values: Sequence[int] | npt.NDArray[np.int64], percentile: float) -> int:
    """Brute-force nearest-rank percentile (rounded up, as Java HdrHistogram) of ``values``.

    A reference to test with, written independently of :mod:`harness.measure.rank`: the smallest
    rank k with ``k * 100 >= p * n``, in integer milli-percent (percentiles with at most three
    decimals).
    """
    ordered = sorted(int(v) for v in values)
    milli = round(percentile * 1000)
    if abs(milli - percentile * 1000) > 1e-6:
        raise ValueError(f"reference rank takes at most three decimals, got {percentile}")
    rank = max(1, -(-milli * len(ordered) // 100_000))
    return ordered[rank - 1]
