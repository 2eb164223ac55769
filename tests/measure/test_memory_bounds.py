"""Memory that must not grow with a run's length, counted in objects (issue 11): no wall time.

A soak's RSS grew by the interval histograms the recorder dropped (each about 140 KB, freed only
by the cyclic collector, which the engine's ``gc.freeze()`` defers) and by every structure that
keeps one entry per interval. These tests run the collector-free worst case (``gc`` disabled) and
compare what is alive after N and after 4N intervals: the same, whatever N.
"""

from __future__ import annotations

import gc
import random
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from harness.measure import (
    IntervalLogWriter,
    LatencyHistogram,
    Outcome,
    Recorder,
    TailSampler,
    TracedRequest,
)
from harness.measure.logdrain import RECENT_KEEP
from harness.measure.recorder import DRAIN_LAG
from harness.measure.tail import RAW_PRUNE_AT, RESERVOIR, TOP_N, UNIFORM

MS = 1_000_000
RUN_START = 1_700_000_000 * 1_000_000_000


@pytest.fixture
def no_collector() -> Iterator[None]:
    """Only reference counting frees memory inside the test (as between full collections)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _alive_hdr() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, HdrHistogram))


def _rec() -> Recorder:
    return Recorder(run_start_wall_ns=RUN_START, lateness_ns=5 * MS)


def _second(rec: Recorder, second: int, *, phase: str = "soak") -> None:
    """Three responses (two OK, one failed) completing in interval ``second``."""
    for k, outcome in enumerate((Outcome.OK, Outcome.OK, Outcome.FAILED)):
        intended = rec.monotonic_ns_at(second + 0.1 + 0.2 * k)
        rec.record(
            phase=phase,
            endpoint="score",
            outcome=outcome,
            intended_ns=intended,
            sent_ns=intended + MS,
            done_ns=intended + (3 + k) * MS,
        )


@pytest.mark.usefixtures("no_collector")
@pytest.mark.parametrize("how", ["new", "decode", "copy", "merged"])
def test_a_dropped_histogram_is_freed_by_reference_counting(how: str) -> None:
    """hdrh's histogram <-> encoder cycle is broken, so the 140 KB of counters go at once."""
    source = LatencyHistogram()
    source.record(1234)
    hist = {
        "new": LatencyHistogram,
        "decode": lambda: LatencyHistogram.decode(source.encode()),
        "copy": source.copy,
        "merged": lambda: _merged(source),
    }[how]()
    raw = weakref.ref(hist.raw)
    assert hist.encode()  # the encoder still works through its weak back reference
    del hist
    assert raw() is None


def _merged(source: LatencyHistogram) -> LatencyHistogram:
    out = LatencyHistogram()
    out.add(source)
    return out


@pytest.mark.usefixtures("no_collector")
def test_a_logged_recorder_holds_the_same_after_n_and_after_4n_intervals(tmp_path: Path) -> None:
    """Local runner / master: slots and live histograms stop growing once intervals drain."""
    rec = _rec()
    rec.attach_log(IntervalLogWriter(tmp_path / "l.hlog", start_wall_s=RUN_START / 1e9, meta={}))
    n = DRAIN_LAG * 2
    alive = []
    try:
        for end in (n, 4 * n):
            for second in range(end - n if end > n else 0, end):
                _second(rec, second)
            alive.append((len(rec._slots), _alive_hdr()))
    finally:
        rec.close_log(complete=False)
    assert alive[0] == alive[1]
    assert alive[0][0] <= DRAIN_LAG + 1


@pytest.mark.usefixtures("no_collector")
def test_a_flushed_recorder_holds_two_open_and_the_recent_written_intervals(tmp_path: Path) -> None:
    """With the log flushed after every interval (the runner's log flusher), memory holds the
    open interval and the last RECENT_KEEP written ones, after N and after 4N intervals alike."""
    rec = _rec()
    rec.attach_log(IntervalLogWriter(tmp_path / "f.hlog", start_wall_s=RUN_START / 1e9, meta={}))
    n = DRAIN_LAG * 2
    alive = []
    try:
        for end in (n, 4 * n):
            for second in range(end - n if end > n else 0, end):
                _second(rec, second)
                rec.flush_log(second)  # interval second - 1 ended 0.1 s ago
            alive.append((len(rec._slots), len(rec._recent), _alive_hdr()))
    finally:
        rec.close_log(complete=False)
    assert alive[0] == alive[1]
    assert alive[0][:2] == (1, RECENT_KEEP)


@pytest.mark.usefixtures("no_collector")
def test_a_master_merging_worker_snapshots_holds_the_same_after_n_and_4n(tmp_path: Path) -> None:
    """Master: per-interval worker snapshots (intervals only, then phase totals) add nothing that
    stays beyond the drain horizon; the worker's own recorder starts afresh at every take."""
    master, worker = _rec(), _rec()
    master.attach_log(IntervalLogWriter(tmp_path / "m.hlog", start_wall_s=RUN_START / 1e9, meta={}))
    n = DRAIN_LAG * 2
    alive = []
    try:
        for end in (n, 4 * n):
            for second in range(end - n if end > n else 0, end):
                _second(worker, second)
                if second % 3 == 2:
                    master.merge_wire(worker.take_wire(totals=False))
            alive.append((len(master._slots), len(worker._slots), _alive_hdr()))
    finally:
        master.close_log(complete=False)
    assert alive[0] == alive[1]


def test_the_tail_samplers_raw_headers_stay_bounded_and_kept_requests_keep_theirs() -> None:
    """Raw Server-Timing values of requests a reservoir replaced are forgotten: the pending dict
    is bounded whatever the run's length, and every kept request still gets its stages."""
    sampler = TailSampler(seed=7)
    rng = random.Random(7)
    sizes = []
    for i in range(60_000):
        ns = round(rng.lognormvariate(0.7, 0.8) * 1e6)
        mask = sampler.want("steady", "score", ns)
        if mask:
            request = TracedRequest(
                "steady", "score", "ok", f"{i:032x}", i / 1e3, i / 1e3, ns / 1e6, 1.0
            )
            sampler.add(mask, request, ns, f"db;dur={i % 7}")
        if i in (15_000, 59_999):
            sizes.append(len(sampler._raw))
    assert max(sizes) <= max(RAW_PRUNE_AT, 2 * (TOP_N + 2 * RESERVOIR + UNIFORM)) + 1
    (sample,) = sampler.samples()
    assert all(r.stages and r.stages[0].name == "db" for r in sample.requests)
    assert all(r.stages[0].dur_ms == int(r.trace_id, 16) % 7 for r in sample.requests)
