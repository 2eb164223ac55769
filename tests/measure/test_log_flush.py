"""The interval log is written as intervals complete (FlushClock on a fake clock), late data for a
written interval is an additional part that readers add, and a master waits for its workers
only up to the bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.measure import (
    Clock,
    FlushClock,
    IntervalLogWriter,
    LatencyHistogram,
    Outcome,
    PhaseKind,
    PhaseMeta,
    Recorder,
    read_series,
)
from harness.measure.hlog import read_hlog

S = 1_000_000_000  # ns
MS = 1_000_000
RUN_START = 1_700_000_000 * S
STEADY = PhaseMeta("steady", PhaseKind.STEADY, True, 0.0, 10.0, 100.0)
GRACE_NS = 100 * MS
BOUND_NS = 2 * S


def _rec() -> Recorder:
    return Recorder(run_start_wall_ns=RUN_START, lateness_ns=5 * MS)


def _logged(path: Path) -> Recorder:
    rec = _rec()
    rec.attach_log(IntervalLogWriter(path, start_wall_s=RUN_START / 1e9, meta={}))
    return rec


def _request(rec: Recorder, sent_s: float, latency_ms: float) -> None:
    sent = rec.monotonic_ns_at(sent_s)
    done = sent + int(latency_ms * MS)
    rec.record(
        phase="steady",
        endpoint="score",
        outcome=Outcome.OK,
        intended_ns=sent,
        sent_ns=sent,
        done_ns=done,
    )


def _on_disk(path: Path) -> dict[float, int]:
    """OK responses per interval start, as a reader of the log sees them now."""
    return {r.start_s: r.counts.ok for r in read_series(path)}


def _fingerprint(intervals: object) -> list[object]:
    return [
        (r.start_s, r.phase, r.offered, r.counts, r.latency.encode(), r.service.encode())
        for r in intervals  # type: ignore[attr-defined]
    ]


def test_the_local_rule_is_the_end_plus_grace_and_never_goes_back() -> None:
    """One process: interval i is due grace after its end; the answer never decreases."""
    clock = FlushClock(interval_ns=S, grace_ns=GRACE_NS)
    assert clock.closed_before(-S) == 0  # before the run start
    assert clock.closed_before(S + GRACE_NS - 1) == 0
    assert clock.closed_before(S + GRACE_NS) == 1
    assert clock.closed_before(3 * S + GRACE_NS + 5) == 3
    assert clock.closed_before(2 * S) == 3  # a clock read that went backwards changes nothing
    assert clock.due_in_ns(3 * S + GRACE_NS + 5) == S - 5
    assert clock.due_in_ns(4 * S + GRACE_NS) == S  # due exactly now: the next one in 1 s


def test_a_closed_interval_reaches_the_log_within_the_bound(tmp_path: Path) -> None:
    """Fake clock in 10 ms steps over 4 s at 50 req/s: every interval is readable from the file
    (flushed, log still open) no later than grace after its end, with all its responses."""
    path = tmp_path / "latency.partial.hlog"
    rec = _logged(path)
    clock = FlushClock(interval_ns=S, grace_ns=GRACE_NS)
    sends = [i * 0.02 for i in range(200)]  # 50 req/s, 3 ms each
    seen_at: dict[float, int] = {}
    try:
        for step in range(401):
            now = step * 10 * MS
            while sends and round((sends[0] + 0.003) * S) <= now:  # recorded when it completes
                _request(rec, sends.pop(0), 3.0)
            rec.flush_log(clock.closed_before(now))
            for start, ok in _on_disk(path).items():
                if start not in seen_at:
                    assert ok == 50, (start, ok)  # complete when it first appears
                    seen_at[start] = now
    finally:
        rec.close_log(complete=False)
    assert sorted(seen_at) == [0.0, 1.0, 2.0]  # interval 3 ends at 4 s: not due at 4.0 s yet
    for start, at in seen_at.items():
        assert at - round((start + 1) * S) <= GRACE_NS
    assert len(rec._slots) <= 2  # written intervals left the recording slots


def test_late_sent_counts_are_an_additional_counts_only_part(tmp_path: Path) -> None:
    """A request sent in interval 0 that completes after interval 0 was written adds its send to
    interval 0 as a second #[Counts] part: readers add it; no second histogram line is written."""
    path = tmp_path / "latency.partial.hlog"
    plain, rec = _rec(), _logged(path)
    clock = FlushClock(interval_ns=S, grace_ns=GRACE_NS)
    for r in (plain, rec):
        _request(r, 0.2, 5.0)
    assert rec.flush_log(clock.closed_before(S + GRACE_NS)) == 1
    for r in (plain, rec):
        _request(r, 0.9, 600.0)  # sent in interval 0, done at 1.5 s in interval 1
    assert rec.interval_sample(0, "steady").counts.sent == 2  # live view adds the pending part
    rec.flush_log(clock.closed_before(2 * S + GRACE_NS))
    text = path.read_text()
    assert text.count("#[Counts: 0.000 steady ") == 2
    assert [h.start_s for h in read_hlog(path, "steady")] == [0.0, 1.0]
    series = read_series(path)
    assert (series[0].counts.sent, series[0].counts.ok, series[1].counts.ok) == (2, 1, 1)
    assert rec.interval_sample(0, "steady").counts.sent == 2  # written, still in the live view
    (phase_plain,), series_plain = plain.build([STEADY])
    (phase_logged,), series_logged = rec.build([STEADY])
    assert _fingerprint(series_logged) == _fingerprint(series_plain)
    assert phase_logged.counts == phase_plain.counts


def test_a_master_waits_for_every_worker_then_the_bound_and_adds_a_late_snapshot(
    tmp_path: Path,
) -> None:
    """Two workers: interval 0 is written once both watermarks pass it; worker 1 falls silent,
    so interval 1 is written with worker 0's data at end + 2 s; worker 1's snapshot arriving
    after that is an additional part. The log then equals one recorder fed with every request
    (series, phase totals, and each tag's lines summed as the reference readers do)."""
    path = tmp_path / "latency.partial.hlog"
    master, direct = _logged(path), _rec()
    workers = {"w0": _rec(), "w1": _rec()}
    clock = FlushClock(interval_ns=S, grace_ns=GRACE_NS, bound_ns=BOUND_NS)
    clock.expect(workers)
    for k, (name, worker) in enumerate(workers.items()):
        for i in range(40):  # 4 s at 10 req/s each, interleaved, latencies by worker
            for rec in (worker, direct):
                _request(rec, i * 0.1 + k * 0.05, 2.0 + 3 * k + i % 7)
        del name

    def ship(name: str, mark: int, now_s: float) -> int:
        master.merge_wire(workers[name].take_wire(totals=False))
        clock.report(name, mark)
        return master.flush_log(clock.closed_before(round(now_s * S)))

    # (In this test each worker's whole series is in its first snapshot; the watermark decides.)
    ship("w0", 1, 1.1)
    assert _on_disk(path) == {}  # worker 1 has not reported interval 0 yet
    ship("w1", 1, 1.15)
    assert _on_disk(path) == {0.0: 20}  # both in: written at once, long before the bound
    workers["w1"].record(  # worker 1 keeps measuring but its snapshots stop arriving
        phase="steady",
        endpoint="score",
        outcome=Outcome.OK,
        intended_ns=master.monotonic_ns_at(1.5),
        sent_ns=master.monotonic_ns_at(1.5),
        done_ns=master.monotonic_ns_at(1.5) + 9 * MS,
    )
    _request(direct, 1.5, 9.0)
    assert master.flush_log(clock.closed_before(round(3.99 * S))) == 0
    assert master.flush_log(clock.closed_before(4 * S)) == 1  # interval 1 by the bound
    assert _on_disk(path)[1.0] == 20
    ship("w1", 4, 4.5)  # late: interval 1's part is added, not lost
    assert _on_disk(path)[1.0] == 21
    for name, worker in workers.items():  # final reports: phase totals, watermark "all"
        master.merge_wire(worker.take_wire())
        clock.finish(name)
    master.flush_log(clock.closed_before(round(4.6 * S)))
    assert len(master._slots) == 0
    (got,), series = master.build([STEADY])
    (want,), want_series = direct.build([STEADY])
    assert _fingerprint(series) == _fingerprint(want_series)
    assert got.counts == want.counts
    assert read_series(path).complete
    assert [h.start_s for h in read_hlog(path, "steady")].count(1.0) == 2  # the late part
    for tag, clock_kind in (("steady", Clock.INTENDED), ("steady/service", Clock.SERVICE)):
        summed = LatencyHistogram()
        for line in read_hlog(path, tag):
            summed.add(line.histogram)
        assert summed.encode() == want.latency(clock=clock_kind).encode()


def test_a_worker_that_never_reports_holds_nothing_beyond_the_bound() -> None:
    """A master's rule: min over the workers' watermarks, capped by the bound after each end;
    a finished worker waits for nothing."""
    clock = FlushClock(interval_ns=S, grace_ns=GRACE_NS, bound_ns=BOUND_NS)
    clock.expect(["a", "b"])
    clock.report("a", 5)
    assert clock.closed_before(5 * S) == 3  # b silent: (5 s - 2 s) // 1 s
    clock.report("b", 5)
    assert clock.closed_before(5 * S) == 4  # both at 5, but interval 4 ends at 5 s + grace
    clock.finish("a")
    clock.finish("b")
    assert clock.closed_before(5 * S) > 10**9


@pytest.mark.parametrize("bound_ns", [None, 0])
def test_the_bound_is_never_shorter_than_the_grace(bound_ns: int | None) -> None:
    """Without workers (or with a bound below the grace) the grace rules alone."""
    clock = FlushClock(interval_ns=S, grace_ns=GRACE_NS, bound_ns=bound_ns)
    assert clock.bound_ns == GRACE_NS
    assert clock.closed_before(S + GRACE_NS - 1) == 0


def test_a_worker_snapshot_ships_closed_intervals_in_one_piece() -> None:
    """take_wire(totals=False, before_index=i) ships intervals before i and keeps the open one,
    so the master merges every interval once; merged with the final take, nothing differs."""
    worker, master, direct = _rec(), _rec(), _rec()
    for r in (worker, direct):
        for i in range(25):
            _request(r, i * 0.1, 4.0)  # intervals 0, 1 and half of 2
    master.merge_wire(worker.take_wire(totals=False, before_index=2))
    assert {k[0] for k in master._slots} == {0, 1}
    assert {k[0] for k in worker._slots} == {2}
    for r in (worker, direct):
        _request(r, 1.9, 400.0)  # sent in interval 1 (shipped), done in 2: a late send count
    master.merge_wire(worker.take_wire(totals=False, before_index=3))
    master.merge_wire(worker.take_wire())
    (got,), series = master.build([STEADY])
    (want,), want_series = direct.build([STEADY])
    assert _fingerprint(series) == _fingerprint(want_series)
    assert got.counts == want.counts
