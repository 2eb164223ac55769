"""A game day's interval series in bounded memory: the same samples and step metrics as the eager
list it replaced, histograms decoded only for windows (each about once), the view's samples
bounded."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import overload

from gd_support import sample

from harness.chaos.gameday import (
    GameDayController,
    Plan,
    PlannedStep,
    StepGuard,
    budgets_of,
    fill_gaps,
    measure_step,
    merge,
    samples_from_intervals,
)
from harness.chaos.gameday.controller import RECENT_SAMPLES
from harness.chaos.gameday.series import CACHE_INTERVALS
from harness.ledger import Ledger
from harness.measure import IntervalRecord, IntervalSample, LatencyHistogram
from harness.spec.faults import PauseFault
from harness.spec.slo import default_slo


class _Counting(Sequence[IntervalRecord]):
    """Records that count how often one is read (each read decodes, from a log)."""

    def __init__(self, records: list[IntervalRecord]) -> None:
        self.records = records
        self.reads = 0

    def __len__(self) -> int:
        return len(self.records)

    @overload
    def __getitem__(self, i: int) -> IntervalRecord: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[IntervalRecord]: ...

    def __getitem__(self, i: int | slice) -> IntervalRecord | Sequence[IntervalRecord]:
        self.reads += 1
        return self.records[i]

    def __iter__(self) -> Iterator[IntervalRecord]:
        for r in self.records:
            self.reads += 1
            yield r


def _record(s: IntervalSample, phase: str = "steady") -> IntervalRecord:
    return IntervalRecord(
        start_s=s.start_s,
        length_s=s.length_s,
        phase=phase,
        offered=s.offered,
        counts=s.counts,
        latency=s.latency,
        service=LatencyHistogram(),
    )


def _eager(records: Sequence[IntervalRecord]) -> list[IntervalSample]:
    """The list this module replaced (every histogram held), as the reference."""
    by_start: dict[float, list[IntervalSample]] = {}
    for r in records:
        index = round(r.start_s / r.length_s)
        s = IntervalSample(index, r.start_s, r.length_s, r.phase, r.offered, r.counts, r.latency)
        by_start.setdefault(r.start_s, []).append(s)
    merged = []
    for parts in by_start.values():
        busiest = max(parts, key=lambda p: p.completed).phase
        m = merge(parts) if len(parts) > 1 else parts[0]
        merged.append(replace(m, length_s=parts[0].length_s, phase=busiest))
    return fill_gaps(merged)


def _fingerprint(samples: Sequence[IntervalSample]) -> list[object]:
    return [
        (s.index, s.start_s, s.length_s, s.phase, s.offered, s.counts, s.latency.encode())
        for s in samples
    ]


def _records() -> list[IntervalRecord]:
    """30 s: a slow stretch at 10-14, two phases sharing interval 2, intervals 20-21 missing."""
    out = [
        _record(sample(i, ok=100, slow=5 if 10 <= i < 15 else 0))
        for i in range(30)
        if i not in (20, 21)
    ]
    out.insert(3, _record(sample(2, ok=300, failed=2), phase="steady2"))
    return out


def test_the_series_equals_the_eager_list_and_measures_the_same() -> None:
    """Same samples (merged phases, filled gaps, busiest phase named) and the same step metrics."""
    records = _records()
    lazy, eager = samples_from_intervals(records), _eager(records)
    assert _fingerprint(lazy) == _fingerprint(eager)
    assert lazy[2].phase == "steady2"
    assert lazy[-1].index == 29
    assert _fingerprint(lazy[5:9]) == _fingerprint(eager[5:9])
    slo = default_slo()
    step = PlannedStep("stall", PauseFault(), 10.0, 15.0, (), False)
    plan = Plan("t", 1.0, 1.0, 0.0, (step,), 30.0, (), 2.0, 3.0)
    metrics = [
        measure_step(s, step, plan, slo, budgets_of(slo, s, plan), 10.0, 15.0)
        for s in (lazy, eager)
    ]
    assert metrics[0] == metrics[1]
    assert metrics[0].deviated


def test_scans_decode_nothing_and_windows_decode_each_interval_about_once() -> None:
    """Times and counts come from the index; a sliding window reads each record once (cache);
    the cache stays bounded."""
    records = _Counting([_record(sample(i, ok=10 + i % 7)) for i in range(3 * CACHE_INTERVALS)])
    series = samples_from_intervals(records)
    records.reads = 0
    assert sum(s.completed for s in series) == sum(r.counts.ok for r in records.records)
    assert [s.end_s for s in series][-1] == 3 * CACHE_INTERVALS
    assert records.reads == 0
    for end in range(4, len(series)):
        assert merge(series[end - 4 : end + 1]).latency.count > 0
    assert records.reads == len(series)
    assert len(series._cache) <= CACHE_INTERVALS


def test_the_controller_keeps_only_recent_samples_for_its_view(tmp_path: Path) -> None:
    """A long game day's live samples do not pile up in the controller."""
    plan = Plan("t", 1.0, 1.0, 0.0, (), 1e6, (), 2.0, 2.0)
    ledger = Ledger(tmp_path / "state")
    ctl = GameDayController(plan, [], lambda clock: StepGuard(ledger, clock))
    ctl.started(time.time_ns(), 0.0)
    for i in range(3 * RECENT_SAMPLES):
        ctl.interval(sample(i))
    assert len(ctl.samples) == RECENT_SAMPLES
    assert ctl.samples[-1].index == 3 * RECENT_SAMPLES - 1
