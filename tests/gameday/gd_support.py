"""Synthetic interval samples for the game-day logic tests; the end-to-end tests' game day."""

from __future__ import annotations

from collections.abc import Sequence

from harness.measure import IntervalSample, LatencyHistogram, RequestCounts


def sample(
    index: int,
    *,
    ok: int = 100,
    failed: int = 0,
    shed: int = 0,
    offered: int | None = None,
    latency_ms: float = 5.0,
    slow: int = 0,
    slow_ms: float = 900.0,
) -> IntervalSample:
    """Interval ``index`` (1 s): ``ok`` OK responses (``slow`` of them at ``slow_ms``)."""
    hist = LatencyHistogram()
    if ok - slow > 0:
        hist.record(round(latency_ms * 1000), ok - slow)
    if slow:
        hist.record(round(slow_ms * 1000), slow)
    done = ok + failed + shed
    counts = RequestCounts(sent=done, ok=ok, failed=failed, shed=shed)
    return IntervalSample(
        index=index,
        start_s=float(index),
        length_s=1.0,
        phase="steady",
        offered=done if offered is None else offered,
        counts=counts,
        latency=hist,
    )


def series(specs: Sequence[dict[str, float]]) -> list[IntervalSample]:
    """One sample per dict of :func:`sample` keywords, indices 0, 1, 2, ..."""
    return [
        sample(i, **{k: int(v) if k != "latency_ms" else v for k, v in s.items()})
        for i, s in enumerate(specs)
    ]


#: The end-to-end tests' game day (test_gameday_e2e.py, test_gameday_ctrl_c.py): a pause of the
#: embedded service on the timeline under 150 requests/s; ``abort``, ``duration`` (of the stall)
#: and ``extra`` (more timeline steps) are filled in by each test.
GAMEDAY = """\
title: CI stall
owner: ci
hypothesis:
  apiVersion: slo-harness/v1
  name: relaxed
  objectives:
    - {{metric: latency, percentile: p99, threshold_ms: 250}}
    - {{metric: error_rate, threshold: 0.01}}
load:
  name: ci-gameday
  timeout_ms: 1000
  # The stall under test costs seconds; a shared CI core may add tens of ms of send lag, which
  # must not make the run unmeasurable here (the generator's own fidelity is tested in tests/load).
  generator: {{max_lag_p99_ms: 50, max_cpu_percent: 95}}
  phases:
    - {{name: warmup, kind: warmup, rate: 150, duration_s: 2}}
    - {{name: steady, kind: steady, rate: 150, duration_s: 10}}
blast_radius: {{targets: [service]}}
judgement: {{window: 10s, hold: 20s}}
abort: [{abort}]
timeline:
  - {{name: stall, at: 40s, for: {duration}, fault: {{kind: pause}}}}{extra}
recovery: 60s
"""
