"""Recorder: two clocks, counts, interval series, and the exact worker -> master merge."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import MeasurementError
from harness.measure import (
    Clock,
    HistKey,
    IntervalLogWriter,
    LatencyHistogram,
    Outcome,
    PhaseKind,
    PhaseMeta,
    Recorder,
    read_series,
)
from harness.measure.histogram import BATCH, HIGHEST_US, record_fast, record_pair
from harness.measure.recorder import DRAIN_LAG, SEAL_LAG

MS = 1_000_000  # ns
RUN_START = 1_700_000_000 * 1_000_000_000
STEADY = PhaseMeta("steady", PhaseKind.STEADY, True, 0.0, 10.0, 100.0)
WARMUP = PhaseMeta("warmup", PhaseKind.WARMUP, False, 0.0, 5.0, 50.0)


def _rec(lateness_ms: float = 5.0, interval_s: float = 1.0) -> Recorder:
    return Recorder(
        run_start_wall_ns=RUN_START, interval_s=interval_s, lateness_ns=int(lateness_ms * MS)
    )


def _one(
    rec: Recorder,
    *,
    at_s: float,
    lag_ms: float = 0.0,
    service_ms: float = 2.0,
    outcome: Outcome = Outcome.OK,
    endpoint: str = "score",
    phase: str = "steady",
) -> None:
    intended = rec.monotonic_ns_at(at_s)
    sent = intended + int(lag_ms * MS)
    rec.record(
        phase=phase,
        endpoint=endpoint,
        outcome=outcome,
        intended_ns=intended,
        sent_ns=sent,
        done_ns=sent + int(service_ms * MS),
    )


def test_intended_clock_includes_lag_service_clock_does_not() -> None:
    """Intended latency = done - intended, service latency = done - sent."""
    rec = _rec()
    _one(rec, at_s=0.5, lag_ms=30.0, service_ms=2.0)
    (phase,), _ = rec.build([STEADY])
    assert phase.latency(clock=Clock.INTENDED).percentile_us(50) == pytest.approx(32_000, rel=1e-3)
    assert phase.latency(clock=Clock.SERVICE).percentile_us(50) == pytest.approx(2_000, rel=1e-3)


def test_late_counts_only_sends_beyond_the_lateness_bound() -> None:
    """A send 6 ms behind schedule is late with a 5 ms bound; 4 ms behind is not."""
    rec = _rec(lateness_ms=5.0)
    _one(rec, at_s=0.1, lag_ms=6.0)
    _one(rec, at_s=0.2, lag_ms=4.0)
    (phase,), _ = rec.build([STEADY])
    assert phase.counts.late == 1
    assert phase.counts.sent == 2


def test_counts_by_outcome_and_histogram_keys() -> None:
    """Each outcome is counted and gets one histogram per clock, per endpoint."""
    rec = _rec()
    _one(rec, at_s=0.1)
    _one(rec, at_s=0.2, outcome=Outcome.FAILED)
    _one(rec, at_s=0.3, outcome=Outcome.SHED, endpoint="infer")
    rec.unsent("steady", 3, at_ns=rec.monotonic_ns_at(0.4))
    (phase,), _ = rec.build([STEADY])
    c = phase.counts
    assert (c.sent, c.ok, c.failed, c.shed, c.unsent) == (3, 1, 1, 1, 3)
    assert c.sent == c.ok + c.failed + c.shed
    assert set(phase.histograms) == {
        HistKey(e, o, clk)
        for e, o in (("score", Outcome.OK), ("score", Outcome.FAILED), ("infer", Outcome.SHED))
        for clk in Clock
    }
    assert phase.endpoints == ("infer", "score")


def test_intervals_follow_completion_time_and_offered_follows_intended_time() -> None:
    """OK latencies land in the interval of completion; offered in the interval of intent."""
    rec = _rec()
    rec.offered("steady", rec.wall_ns_at(0.999))
    _one(rec, at_s=0.999, service_ms=5.0)  # completes at 1.004 s
    _, intervals = rec.build([STEADY])
    by_start = {iv.start_s: iv for iv in intervals}
    assert by_start[0.0].offered == 1
    assert by_start[0.0].counts.sent == 1
    assert by_start[0.0].latency.count == 0
    assert by_start[1.0].counts.ok == 1
    assert by_start[1.0].latency.count == 1
    assert all(iv.length_s == 1.0 for iv in intervals)


def test_interval_series_is_ordered_by_time_then_phase_order() -> None:
    """Intervals come back sorted by start, then by the schedule's phase order."""
    rec = _rec()
    _one(rec, at_s=2.5, phase="steady")
    _one(rec, at_s=2.5, phase="warmup")
    _one(rec, at_s=0.5, phase="steady")
    _, intervals = rec.build([WARMUP, STEADY])
    assert [(iv.start_s, iv.phase) for iv in intervals] == [
        (0.0, "steady"),
        (2.0, "warmup"),
        (2.0, "steady"),
    ]


def test_out_of_range_latency_is_counted_not_lost() -> None:
    """A 70 s response is beyond the histogram (bucket edge 67.1 s) and counted out_of_range."""
    rec = _rec()
    _one(rec, at_s=0.0, service_ms=70_000.0)
    (phase,), intervals = rec.build([STEADY])
    assert phase.counts.out_of_range == 1
    assert phase.counts.ok == 1
    assert phase.latency().count == 0
    assert phase.latency().out_of_range == 1
    assert sum(iv.counts.out_of_range for iv in intervals) == 1


def test_build_rejects_phases_missing_from_the_schedule() -> None:
    """Recording under an unknown phase name is a programming error, not silent loss."""
    rec = _rec()
    _one(rec, at_s=0.1, phase="mystery")
    with pytest.raises(ValueError, match="mystery"):
        rec.build([STEADY])


def test_build_gives_rates_and_copies() -> None:
    """achieved_rps = completions / duration; results do not alias the recorder's state."""
    rec = _rec()
    for i in range(50):
        _one(rec, at_s=i * 0.1)
    (phase,), _ = rec.build([STEADY])
    assert phase.achieved_rps == pytest.approx(5.0)
    assert phase.offered_rps == 100.0
    _one(rec, at_s=6.0)
    assert phase.latency().count == 50


def test_old_intervals_are_sealed_and_still_exact() -> None:
    """Intervals far behind the newest are compressed, yet build returns their exact counts."""
    rec = _rec()
    n = SEAL_LAG + 15
    for second in range(n):
        for k in range(10):
            _one(rec, at_s=second + k * 0.05, service_ms=1.0 + k)
    sealed = [slot for slot in rec._slots.values() if slot.hist is None]
    assert len(sealed) >= 10
    _, intervals = rec.build([STEADY])
    assert [iv.latency.count for iv in intervals] == [10] * n
    assert intervals[0].latency.max_us == pytest.approx(10_000, rel=1e-3)


def test_interval_service_histograms_add_up_to_the_phase_service_histogram() -> None:
    """Each interval keeps the service clock of its OK responses, sealed or not; they sum to the
    phase's service-time histogram (what the hlog's <phase>/service series reproduces)."""
    rec = _rec()
    for second in range(SEAL_LAG + 6):
        for k in range(5):
            _one(rec, at_s=second + k * 0.1, lag_ms=3.0, service_ms=1.0 + k)
        _one(rec, at_s=second + 0.7, outcome=Outcome.FAILED)
    (phase,), intervals = rec.build([STEADY])
    total = LatencyHistogram()
    for iv in intervals:
        assert iv.service.count == iv.latency.count == 5
        assert iv.service.max_us < iv.latency.max_us  # lag is in the intended clock only
        total.add(iv.service)
    assert total.encode() == phase.latency(clock=Clock.SERVICE).encode()


def test_late_snapshot_reopens_a_sealed_interval() -> None:
    """A worker snapshot for an already-sealed interval is merged into it exactly."""
    master, worker = _rec(), _rec()
    for second in range(SEAL_LAG + 5):
        _one(master, at_s=second + 0.1)
    _one(worker, at_s=0.2, service_ms=7.0)
    master.merge_wire(worker.take_wire())
    _, intervals = master.build([STEADY])
    assert intervals[0].latency.count == 2
    assert intervals[0].counts.ok == 2
    assert intervals[0].service.count == 2
    assert intervals[0].service.max_us == pytest.approx(7_000, rel=1e-3)


def test_wire_is_msgpack_friendly_bytes_and_take_resets() -> None:
    """take_wire returns bytes (msgpack-serialisable) and starts a fresh snapshot."""
    rec = _rec()
    _one(rec, at_s=0.1)
    data = rec.take_wire()
    assert isinstance(data, bytes)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode({"hdr": data}))["hdr"] == data
    (phase,), intervals = rec.build([STEADY])
    assert phase.counts.sent == 0
    assert intervals == ()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: Recorder(run_start_wall_ns=RUN_START + 1, lateness_ns=0), "run start"),
        (lambda r: Recorder(run_start_wall_ns=RUN_START, interval_s=2, lateness_ns=0), "interval"),
    ],
)
def test_merge_refuses_snapshots_of_another_run(mutate: object, message: str) -> None:
    """A snapshot with another run start or interval length is refused, not misaligned."""
    other = mutate(None)  # type: ignore[operator]
    assert isinstance(other, Recorder)
    _one(other, at_s=0.1)
    with pytest.raises(MeasurementError, match=message):
        _rec().merge_wire(other.take_wire())


def test_merge_refuses_garbage() -> None:
    """Undecodable bytes are a MeasurementError naming the snapshot."""
    with pytest.raises(MeasurementError, match="snapshot"):
        _rec().merge_wire(b"\x93not a snapshot")


def _other_geometry() -> str:
    """An encoded HDR histogram with another range (1 us .. 1 h, 2 digits)."""
    from hdrh.histogram import HdrHistogram

    h = HdrHistogram(1, 3_600_000_000, 2)
    h.record_value(5)
    return str(h.encode().decode("ascii"))


def _built(rec: Recorder) -> object:
    """Everything build() reports (histograms by their encoding), comparable with ==."""
    phases, intervals = rec.build([WARMUP, STEADY])

    def enc(h: LatencyHistogram) -> tuple[str, int]:
        return (h.encode() if h.count else "", h.out_of_range)

    return (
        [(p.name, p.counts, {k: enc(h) for k, h in p.histograms.items()}) for p in phases],
        [(i.start_s, i.phase, i.offered, i.counts, enc(i.latency)) for i in intervals],
        enc(rec.lag_histogram()),
    )


# Wire layout (array_like): [version, run_start, interval_ns, phases, hists, intervals, lag, oor];
# hists [phase, endpoint, outcome, intended, i_oor, service, s_oor]; intervals
# [index, phase, counts, hist, oor]. Each corruption sits after parts the old merge had applied.
_CORRUPTIONS = {
    "interval histogram": (lambda w: w[5][-1].__setitem__(3, "not*base64"), "interval"),
    "interval counters": (lambda w: w[5][-1].__setitem__(2, [1, 2, 3]), "counters"),
    "service histogram": (lambda w: w[4][-1].__setitem__(5, w[4][-1][5][:-12]), "service"),
    "lag geometry": (lambda w: w.__setitem__(6, _other_geometry()), "schedule-lag"),
    "negative counter": (lambda w: w[3][0][1].__setitem__(0, -1), "counters"),
}


@pytest.mark.parametrize("corruption", sorted(_CORRUPTIONS))
def test_a_corrupt_snapshot_leaves_the_recorder_unchanged(corruption: str) -> None:
    """A snapshot corrupt in any part is a MeasurementError naming the part; nothing merged."""
    master, worker = _rec(), _rec()
    for second in range(SEAL_LAG + 3):
        _one(master, at_s=second + 0.1, service_ms=3.0)
    _one(master, at_s=0.3, phase="warmup", outcome=Outcome.FAILED)
    for second in (0, 1, SEAL_LAG + 2):  # interval 0 is sealed on the master by now
        _one(worker, at_s=second + 0.2, service_ms=9.0, lag_ms=1.0)
    wire = msgspec.msgpack.decode(worker.take_wire())
    mutate, message = _CORRUPTIONS[corruption]
    mutate(wire)
    before = _built(master)
    with pytest.raises(MeasurementError, match=message):
        master.merge_wire(msgspec.msgpack.encode(wire))
    assert _built(master) == before
    # The untouched snapshot still merges afterwards (the recorder was left usable).
    _one(worker, at_s=0.2, service_ms=9.0)
    master.merge_wire(worker.take_wire())
    assert master.counts("steady").ok == SEAL_LAG + 4


def test_live_stats_cover_the_last_complete_interval() -> None:
    """live() reports rate, errors and percentiles of the last complete interval."""
    rec = _rec()
    for k in range(100):
        _one(rec, at_s=3.0 + k * 0.009, service_ms=2.0)
    for k in range(10):
        _one(rec, at_s=3.0 + k * 0.05, outcome=Outcome.FAILED)
    stats = rec.live(now_wall_ns=rec.wall_ns_at(4.5))
    assert stats.completed_rps == 110
    assert stats.errors_per_s == 10
    assert stats.phase == "steady"
    assert stats.p99_ms == pytest.approx(2.0, rel=1e-2)


def test_lag_histogram_tracks_schedule_lag() -> None:
    """The lag histogram holds actual minus intended send times; early sends count as 0."""
    rec = _rec()
    _one(rec, at_s=0.1, lag_ms=3.0)
    _one(rec, at_s=0.2, lag_ms=-1.0)
    lag = rec.lag_histogram()
    assert lag.count == 2
    assert lag.min_us == 0
    assert lag.max_us == pytest.approx(3000, rel=1e-3)


def test_monotonic_and_wall_conversions_agree() -> None:
    """monotonic_ns_at maps run offsets onto this process's monotonic clock."""
    rec = Recorder(run_start_wall_ns=time.time_ns(), lateness_ns=0)
    drift = abs(rec.monotonic_ns_at(0.0) - time.monotonic_ns())
    assert drift < 50 * MS
    assert rec.monotonic_ns_at(1.5) - rec.monotonic_ns_at(0.5) == 1_000_000_000


# -- properties ---------------------------------------------------------------------------------
_samples = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3_999),  # intended offset, ms
        st.integers(min_value=0, max_value=50),  # lag, ms
        st.integers(min_value=0, max_value=70_000_000),  # service time, us (some out of range)
        st.sampled_from(list(Outcome)),
        st.sampled_from(["score", "infer"]),
    ),
    max_size=120,
)


def _feed(rec: Recorder, samples: list[tuple[int, int, int, Outcome, str]]) -> None:
    for offset_ms, lag_ms, service_us, outcome, endpoint in samples:
        intended = rec.monotonic_ns_at(offset_ms / 1000)
        rec.offered("steady", rec.wall_ns_at(offset_ms / 1000))
        sent = intended + lag_ms * MS
        rec.record(
            phase="steady",
            endpoint=endpoint,
            outcome=outcome,
            intended_ns=intended,
            sent_ns=sent,
            done_ns=sent + service_us * 1000,
        )


def _fingerprint(rec: Recorder) -> object:
    # Equal HDR encodings <=> equal bucket counts (the V2 encoding is the counts array).
    phases, intervals = rec.build([PhaseMeta("steady", PhaseKind.STEADY, True, 0, 4, 10)])
    (phase,) = phases
    hists = {
        (k.endpoint, k.outcome.value, k.clock.value): (h.encode(), h.count, h.out_of_range)
        for k, h in phase.histograms.items()
    }
    series = [
        (
            iv.start_s,
            iv.offered,
            iv.counts,
            iv.latency.encode(),
            iv.latency.out_of_range,
            iv.service.encode(),
        )
        for iv in intervals
    ]
    return phase.counts, hists, series, rec.lag_histogram().encode()


@settings(max_examples=40, deadline=None)
@given(samples=_samples, cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=4))
def test_merged_workers_equal_one_recorder_fed_everything(
    samples: list[tuple[int, int, int, Outcome, str]], cuts: list[int]
) -> None:
    """Splitting samples over workers and merging their wires equals direct recording."""
    direct = _rec()
    _feed(direct, samples)
    bounds = sorted({0, len(samples), *(min(c, len(samples)) for c in cuts)})
    master = _rec()
    for lo, hi in itertools.pairwise(bounds):
        worker = _rec()
        _feed(worker, samples[lo:hi])
        master.merge_wire(worker.take_wire())
    assert _fingerprint(master) == _fingerprint(direct)


@settings(max_examples=30, deadline=None)
@given(samples=_samples, takes=st.integers(min_value=1, max_value=4))
def test_repeated_takes_roundtrip(
    samples: list[tuple[int, int, int, Outcome, str]], takes: int
) -> None:
    """Several take_wire snapshots of one worker merge back to the direct recording."""
    direct, worker, master = _rec(), _rec(), _rec()
    _feed(direct, samples)
    step = max(1, len(samples) // takes)
    for lo in range(0, max(len(samples), 1), step):
        _feed(worker, samples[lo : lo + step])
        master.merge_wire(worker.take_wire())
    assert _fingerprint(master) == _fingerprint(direct)


@settings(max_examples=40, deadline=None)
@given(
    parts=st.lists(
        st.lists(st.integers(min_value=1, max_value=60_000_000), max_size=60),
        min_size=1,
        max_size=4,
    )
)
def test_merged_count_is_the_sum_and_percentiles_match(parts: list[list[int]]) -> None:
    """Merged count == sum of counts; merged percentiles == one histogram fed all samples."""
    master = _rec()
    single = LatencyHistogram()
    for values in parts:
        worker = _rec()
        for v in values:
            intended = worker.monotonic_ns_at(1.0)
            worker.record(
                phase="steady",
                endpoint="score",
                outcome=Outcome.OK,
                intended_ns=intended,
                sent_ns=intended,
                done_ns=intended + v * 1000,
            )
            single.record(v)
        master.merge_wire(worker.take_wire())
    (phase,), _ = master.build([STEADY])
    merged = phase.latency()
    assert merged.count == sum(len(v) for v in parts) == single.count
    wanted = [0, 50, 90, 99, 99.9, 99.99, 100]
    assert merged.percentiles_us(wanted) == single.percentiles_us(wanted)
    assert merged.max_us == single.max_us


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.integers(min_value=-5, max_value=2**40)
        | st.integers(min_value=0, max_value=100_000)
        | st.integers(min_value=HIGHEST_US - 100_000, max_value=HIGHEST_US + 100_000),
        max_size=3 * BATCH,
    ),
    read_every=st.integers(min_value=1, max_value=2 * BATCH),
)
def test_fast_record_matches_the_library(values: list[int], read_every: int) -> None:
    """The buffered HDR record puts every value in the same bucket as hdrh's record_value, and
    a read at any point sees every value recorded before it."""
    fast, slow = LatencyHistogram(), LatencyHistogram()
    for i, v in enumerate(values):
        in_range = v >= 0 and slow.raw.record_value(v)
        if not in_range:
            slow.out_of_range += 1
        assert record_fast(fast, v) == in_range
        if i % read_every == 0:
            assert (fast.count, fast.max_us) == (slow.count, slow.max_us)
    assert fast.out_of_range == slow.out_of_range
    assert (fast.count, fast.min_us, fast.max_us) == (slow.count, slow.min_us, slow.max_us)
    assert fast.encode() == slow.encode()
    assert fast.percentiles_us([50, 99, 100]) == slow.percentiles_us([50, 99, 100])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=-5, max_value=HIGHEST_US * 3),
            st.integers(min_value=-5, max_value=HIGHEST_US * 3),
        ),
        max_size=3 * BATCH,
    )
)
def test_a_pair_record_is_two_fast_records(pairs: list[tuple[int, int]]) -> None:
    """record_pair(a, x, b, y) leaves both histograms (and returns) what record_fast twice does."""
    a, b, c, d = (LatencyHistogram() for _ in range(4))
    for x, y in pairs:
        assert record_pair(a, x, b, y) == record_fast(c, x)
        record_fast(d, y)
    assert (a.encode(), a.out_of_range) == (c.encode(), c.out_of_range)
    assert (b.encode(), b.out_of_range) == (d.encode(), d.out_of_range)


def _series_fingerprint(intervals: object) -> list[object]:
    assert isinstance(intervals, Sequence)
    return [
        (iv.start_s, iv.phase, iv.offered, iv.counts, iv.latency.encode(), iv.service.encode())
        for iv in intervals
    ]


def test_attached_log_bounds_memory_and_keeps_the_series_exact(tmp_path: Path) -> None:
    """With a log, old intervals leave memory as the run goes; the series read back from the log
    equals the one a recorder without a log builds (late worker data for a written one included)."""
    plain, logged = _rec(), _rec()
    log = IntervalLogWriter(tmp_path / "latency.hlog", start_wall_s=RUN_START / 1e9, meta={})
    logged.attach_log(log)
    n = DRAIN_LAG * 3
    for rec in (plain, logged):
        for second in range(n):
            for k in range(4):
                _one(rec, at_s=second + k * 0.2, service_ms=1.0 + k, lag_ms=k)
        assert len(rec._slots) <= (n if rec is plain else DRAIN_LAG + 1)
        late = _rec()
        _one(late, at_s=0.5, service_ms=9.0, outcome=Outcome.FAILED)
        _one(late, at_s=0.6, service_ms=8.0)
        rec.merge_wire(late.take_wire())
    phases_plain, series_plain = plain.build([STEADY])
    phases_logged, series_logged = logged.build([STEADY])
    assert not isinstance(series_logged, tuple)  # read lazily from the file
    assert _series_fingerprint(series_logged) == _series_fingerprint(series_plain)
    assert series_logged[0].counts.ok == 5
    assert series_logged[0].counts.failed == 1
    assert phases_logged[0].counts == phases_plain[0].counts
    assert read_series(tmp_path / "latency.hlog").complete


@settings(max_examples=25, deadline=None)
@given(samples=_samples, cuts=st.lists(st.integers(min_value=0, max_value=120), max_size=4))
def test_interval_only_reports_then_a_final_take_equal_direct_recording(
    samples: list[tuple[int, int, int, Outcome, str]], cuts: list[int]
) -> None:
    """Periodic take_wire(totals=False) plus one final take merge to the same result."""
    direct = _rec()
    _feed(direct, samples)
    master, worker = _rec(), _rec()
    bounds = sorted({0, len(samples), *(min(c, len(samples)) for c in cuts)})
    for lo, hi in itertools.pairwise(bounds):
        _feed(worker, samples[lo:hi])
        master.merge_wire(worker.take_wire(totals=False))
    master.merge_wire(worker.take_wire())
    assert _fingerprint(master) == _fingerprint(direct)
