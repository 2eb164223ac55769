"""Synthetic interval samples for the game-day logic tests."""

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
