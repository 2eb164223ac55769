"""The SLO's per-interval consumers: a log streamed once gives the verdict, burn rates and knee
the in-memory series gives."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from harness.measure import (
    IntervalLogWriter,
    IntervalRecord,
    LatencyHistogram,
    PhaseKind,
    RequestCounts,
    RunResult,
    read_series,
    scan_series,
)
from harness.slo import SloSeries, evaluate, find_knee
from harness.slo.burn import event_series
from harness.spec import Sli, parse_slo
from harness.testing import lognormal_us, phase
from harness.testing import run_result as run

SLO = parse_slo(
    {
        "name": "burn-and-knee",
        "objectives": [
            {"metric": "latency", "percentile": "p99", "op": "<", "threshold_ms": 50},
            {
                "metric": "burn_rate",
                "sli": "latency",
                "latency_threshold_ms": 40,
                "target": 0.99,
                "windows": [{"long_s": 6, "short_s": 2, "max_burn": 2}],
            },
            {
                "metric": "burn_rate",
                "sli": "errors",
                "target": 0.999,
                "windows": [{"long_s": 4, "short_s": 1, "max_burn": 10}],
            },
        ],
    },
    "slo.yaml",
)


def _records() -> list[IntervalRecord]:
    """A ramp of 1 s intervals (600 -> 2,400 requests/s) whose tail crosses 50 ms at about 1,700
    requests/s, with failures; windows of 1,000 completions span one or two intervals."""
    rng = np.random.default_rng(11)
    out = []
    for i, rate in enumerate(range(600, 2500, 100)):
        median = 8_000 if rate < 1700 else 30_000
        values = rng.lognormal(np.log(median), 0.6, rate).astype(np.int64)
        hist = LatencyHistogram()
        for v in values.tolist():
            hist.record(v)
        failed = i % 4
        counts = RequestCounts(sent=rate + failed, ok=rate, failed=failed)
        out.append(IntervalRecord(10.0 + i, 1.0, "ramp", rate + failed, counts, hist))
    return out


def _runs(tmp_path: Path) -> tuple[RunResult, RunResult]:
    records = _records()
    ramp = phase(
        "ramp", ok=lognormal_us(3000, median_ms=9, seed=2), kind=PhaseKind.RAMP, start_s=10.0
    )
    in_memory = run(ramp, intervals=records)
    path = tmp_path / "latency.hlog"
    writer = IntervalLogWriter(path, start_wall_s=1_700_000_000.0, meta={})
    writer.append(records)
    writer.close(complete=True)
    return in_memory, replace(in_memory, intervals=read_series(path))


def test_knee_from_a_streamed_log_equals_the_in_memory_knee(tmp_path: Path) -> None:
    """find_knee over the log (windows judged as they stream by) equals it over the records."""
    in_memory, from_log = _runs(tmp_path)
    knee = find_knee(in_memory, threshold_ms=50.0)
    assert knee == find_knee(from_log, threshold_ms=50.0)
    assert knee[0].knee_rps is not None


def test_burn_counts_from_a_streamed_log_equal_the_in_memory_counts(tmp_path: Path) -> None:
    """Bad/total events per interval are the same from the log and from memory, both SLIs."""
    in_memory, from_log = _runs(tmp_path)
    for sli, threshold in ((Sli.LATENCY, 40_000), (Sli.ERRORS, None)):
        want = event_series(in_memory.intervals, "ramp", sli, threshold)
        assert want == event_series(from_log.intervals, "ramp", sli, threshold)


def test_a_shared_pass_gives_the_verdict_of_evaluate_alone(tmp_path: Path) -> None:
    """evaluate with an SloSeries fed in a shared pass equals evaluate making its own pass, and
    equals the in-memory verdict (objectives, burn peaks, capacity)."""
    in_memory, from_log = _runs(tmp_path)
    feeds = SloSeries(from_log.phases, SLO)
    assert feeds.needed
    scan_series(from_log.intervals, [feeds])
    shared = evaluate(from_log, SLO, series=feeds)
    assert shared == evaluate(from_log, SLO) == evaluate(in_memory, SLO)
    assert shared.capacity
