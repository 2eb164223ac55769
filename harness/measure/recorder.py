"""Per-process latency recording for the open-model generator, and its exact merge across workers.

One :class:`Recorder` lives in each generator process (the local runner, each Locust worker, and
the master that merges the workers). It is used from one thread (gevent greenlets take turns), so
it holds no locks; it never blocks and never does I/O.

What it keeps, per phase x endpoint x outcome, is one :class:`LatencyHistogram` per clock:
``Clock.INTENDED`` (response time measured from the intended send time: coordinated-omission
corrected, what a client of an open system sees) and ``Clock.SERVICE`` (from the actual send).
Next to them: request counts per phase, one histogram of schedule lag (actual minus intended send,
for the generator's self-check), and per interval (1 s by default) x phase the counts plus an
intended-clock and a service-time histogram of the OK responses that completed in the interval
(the time series; ``latency.hlog`` carries both as tagged series per phase).

Time bases. ``record`` takes ``time.monotonic_ns()``-style values of *this* process: latencies are
differences of those. Interval indices come from wall time: the recorder takes a monotonic->wall
offset once at construction and counts intervals from ``run_start_wall_ns`` (which the master hands
to every worker), so intervals from different processes line up when merged.

Cost: ``record`` is on the generator's hot path. It makes five HDR records for an OK response
(intended, service, lag, and both clocks of the interval; three for others) through
``histogram.record_fast``, an inlined copy of ``HdrHistogram.record_value``'s index arithmetic
that costs ~0.5 us instead of ~1.5 us (checked equal to the library bucket for bucket by a
property test; hdrh is pinned < 0.11), plus a few dict lookups; the interval slot of the previous
call is cached. No allocation per call beyond one small key tuple.

Memory and crash safety: interval slots (:mod:`harness.measure.slots`) older than ``SEAL_LAG``
intervals are compressed; with an interval log attached (local runner, master), complete intervals
leave memory for the file when the owner calls :meth:`Recorder.flush_log`
(:class:`~harness.measure.FlushClock`, :mod:`harness.measure.logdrain`), ``DRAIN_LAG`` behind the
newest at the latest, and :meth:`Recorder.build` reads the series back lazily: a bounded number
of slots whatever the duration (``tests/measure/test_memory_bounds.py`` counts them).

Wire format (:meth:`Recorder.take_wire`, :meth:`Recorder.merge_wire`): see
:mod:`harness.measure.wire`; the merge on the master is exact (counts add bucket by bucket).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from harness.measure.histogram import (
    LatencyHistogram,
    pin_mmap_threshold,
    record_fast,
    record_pair,
)
from harness.measure.intervallog import IntervalLogWriter, read_series
from harness.measure.livestats import LiveStats, interval_sample, live_stats
from harness.measure.logdrain import LogDrain
from harness.measure.observe import IntervalSample
from harness.measure.phase import PhaseMeta
from harness.measure.result import (
    Clock,
    HistKey,
    IntervalRecord,
    Outcome,
    PhaseResult,
    RequestCounts,
)
from harness.measure.slots import (
    DRAIN_LAG,
    FAILED,
    LATE,
    N_SLOT_COUNTS,
    OFFERED,
    OK,
    OOR,
    SEAL_LAG,
    SENT,
    SHED,
    UNSENT,
    Slot,
    add_counts,
    interval_record,
    request_counts,
    wire_interval,
)
from harness.measure.wire import (
    WIRE_VERSION,
    Wire,
    WireHist,
    WirePhase,
    decode_wire,
    enc,
    encode_wire,
)

__all__ = ["DRAIN_LAG", "SEAL_LAG", "WIRE_VERSION", "LiveStats", "Recorder"]

_OK, _SHED = Outcome.OK, Outcome.SHED
_Pair = tuple[LatencyHistogram, LatencyHistogram]


class Recorder:
    """Records completed requests of one process; merges other processes' wire snapshots."""

    def __init__(
        self, *, run_start_wall_ns: int, interval_s: float = 1.0, lateness_ns: int
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        pin_mmap_threshold()  # a long run must not grow the heap with freed histograms
        if lateness_ns < 0:
            raise ValueError(f"lateness_ns must be >= 0, got {lateness_ns}")
        self.run_start_wall_ns = run_start_wall_ns
        self.interval_ns = round(interval_s * 1e9)
        self.lateness_ns = lateness_ns
        # monotonic + offset = wall; minus run start = ns since the run started.
        self._mono_to_run_ns = time.time_ns() - time.monotonic_ns() - run_start_wall_ns
        self._drainer: LogDrain | None = None
        self._recent: dict[tuple[int, str], Slot] = {}  # written, kept for the live readers
        self._reset()

    def attach_log(self, log: IntervalLogWriter) -> None:
        """Stream intervals to ``log`` as they complete (see :meth:`flush_log`)."""
        self._drainer = LogDrain(log, self.interval_ns / 1e9)
        self._recent = self._drainer.recent

    def close_log(self, *, complete: bool) -> None:
        """Write every remaining interval to the attached log and close it (``#[End]`` when
        ``complete``); idempotent, a no-op without a log."""
        if self._drainer is not None and not self._drainer.log.closed:
            self.flush_log(self._max_index + 1)
            self._drainer.log.close(complete=complete)

    def flush_log(self, closed_before: int) -> int:
        """Write (flushed) every interval before index ``closed_before`` to the attached log, and
        late parts of earlier ones; the number of records written (0: none due, or no log)."""
        if self._drainer is None or self._drainer.log.closed:
            return 0
        written = self._drainer.drain(self._slots, closed_before)  # harness.measure.logdrain
        self._forget(())
        return written

    def monotonic_ns_at(self, offset_s: float) -> int:
        """This process's ``time.monotonic_ns()`` value at ``offset_s`` seconds after the run
        start (turns a schedule's intended offsets into the times ``record`` takes)."""
        return round(offset_s * 1e9) - self._mono_to_run_ns

    def wall_ns_at(self, offset_s: float) -> int:
        """Wall-clock ns at ``offset_s`` seconds after the run start (for :meth:`offered`)."""
        return self.run_start_wall_ns + round(offset_s * 1e9)

    def _reset(self) -> None:
        self._hists: dict[tuple[str, str, Outcome], tuple[LatencyHistogram, LatencyHistogram]] = {}
        #: The same pairs by (phase, endpoint), then by outcome counter index (the hot path's).
        self._lanes: dict[tuple[str, str], list[_Pair | None]] = {}
        self._phases: dict[str, list[int]] = {}
        self._lag = LatencyHistogram()
        self._reset_intervals()

    def _reset_intervals(self) -> None:
        self._slots: dict[tuple[int, str], Slot] = {}
        self._max_index = -1
        self._open: list[tuple[int, str]] = []
        self._cache_index = -1
        self._cache_phase = ""
        self._cache_slot: Slot | None = None

    # -- hot path ----------------------------------------------------------------------------
    def offered(self, phase: str, intended_wall_ns: int) -> None:
        """Count one scheduled request by its intended (wall-clock) send time."""
        index = (intended_wall_ns - self.run_start_wall_ns) // self.interval_ns
        if index == self._cache_index and phase == self._cache_phase:  # the same index space
            slot = self._cache_slot
            assert slot is not None
        else:
            slot = self._slot(max(index, 0), phase)
        slot.counts[OFFERED] += 1
        (self._phases.get(phase) or self._counts(phase))[OFFERED] += 1

    def record(
        self,
        phase: str,
        endpoint: str,
        outcome: Outcome,
        intended_ns: int,
        sent_ns: int,
        done_ns: int,
    ) -> None:
        """Record one finished request; the three times are this process's monotonic ns."""
        # The outcome by identity and the histograms by (phase, endpoint): an Enum's hash is a
        # Python-level call, and this runs once per request.
        out_index = OK if outcome is _OK else (SHED if outcome is _SHED else FAILED)
        lane = self._lanes.get((phase, endpoint))
        if lane is None:
            lane = self._lanes[(phase, endpoint)] = [None] * N_SLOT_COUNTS
        pair = lane[out_index]
        if pair is None:
            pair = lane[out_index] = self._pair(phase, endpoint, outcome)
        counts = self._phases.get(phase) or self._counts(phase)
        intended_us = (done_ns - intended_ns) // 1000
        lag_ns = sent_ns - intended_ns
        late = lag_ns > self.lateness_ns
        counts[SENT] += 1
        counts[out_index] += 1
        if late:
            counts[LATE] += 1
        service_us = (done_ns - sent_ns) // 1000
        if not record_pair(pair[0], intended_us, pair[1], service_us):
            counts[OOR] += 1
        record_fast(self._lag, lag_ns // 1000 if lag_ns > 0 else 0)
        # Both times fall in the cached interval slot almost always: test it inline.
        to_run, interval = self._mono_to_run_ns, self.interval_ns
        same_phase = phase == self._cache_phase
        if same_phase and (done_ns + to_run) // interval == self._cache_index:
            done_slot = self._cache_slot
            assert done_slot is not None
        else:
            done_slot = self._slot_at(done_ns, phase)
        done_slot.counts[out_index] += 1
        if out_index == OK:
            record_pair(
                done_slot.hist or self._reopen(done_slot), intended_us, done_slot.svc, service_us
            )
        if same_phase and (sent_ns + to_run) // interval == self._cache_index:
            sent_slot = self._cache_slot
            assert sent_slot is not None
        else:
            sent_slot = self._slot_at(sent_ns, phase)
        sent_slot.counts[SENT] += 1
        if late:
            sent_slot.counts[LATE] += 1

    def _pair(
        self, phase: str, endpoint: str, outcome: Outcome
    ) -> tuple[LatencyHistogram, LatencyHistogram]:
        """The (intended, service) histograms of one phase x endpoint x outcome."""
        key = (phase, endpoint, outcome)
        pair = self._hists.get(key)
        if pair is None:
            pair = self._hists[key] = (LatencyHistogram(), LatencyHistogram())
        return pair

    def unsent(self, phase: str, n: int = 1, *, at_ns: int | None = None) -> None:
        """Count ``n`` intended requests that could not be sent at all (concurrency cap, phase end).

        ``at_ns`` (monotonic ns) places them in the time series; default: now.
        """
        self._counts(phase)[UNSENT] += n
        when = time.monotonic_ns() if at_ns is None else at_ns
        self._slot_at(when, phase).counts[UNSENT] += n

    # -- internals of the hot path -----------------------------------------------------------
    def _counts(self, phase: str) -> list[int]:
        counts = self._phases.get(phase)
        if counts is None:
            counts = self._phases[phase] = [0] * N_SLOT_COUNTS
        return counts

    def _slot_at(self, mono_ns: int, phase: str) -> Slot:
        index = (mono_ns + self._mono_to_run_ns) // self.interval_ns
        if index == self._cache_index and phase == self._cache_phase:
            assert self._cache_slot is not None
            return self._cache_slot
        slot = self._slot(max(index, 0), phase)  # a sample before the run start joins interval 0
        self._cache_index, self._cache_phase, self._cache_slot = index, phase, slot
        return slot

    def _slot(self, index: int, phase: str) -> Slot:
        slot = self._slots.get((index, phase))
        if slot is None:
            slot = self._slots[(index, phase)] = Slot((index, phase))
            self._open.append((index, phase))
            if index > self._max_index:
                self._max_index = index
                self._seal_old()
                self.flush_log(index - DRAIN_LAG)  # a backstop: the log's owner flushes sooner
        return slot

    def _forget(self, keys: Sequence[tuple[int, str]]) -> None:
        """Drop ``keys`` from the recording slots; the open list and the slot cache follow."""
        for key in keys:
            del self._slots[key]
        self._open = [k for k in self._open if k in self._slots]
        if self._cache_slot is not None and self._cache_slot.key not in self._slots:
            self._cache_index, self._cache_phase, self._cache_slot = -1, "", None

    def _reopen(self, slot: Slot) -> LatencyHistogram:
        """Decode a sealed slot's histogram and put it back on the list of open slots."""
        self._open.append(slot.key)
        return slot.histogram()

    def _seal_old(self) -> None:
        horizon = self._max_index - SEAL_LAG
        still_open = []
        for key in self._open:
            slot = self._slots[key]
            if key[0] < horizon and slot is not self._cache_slot:
                slot.seal()
            elif slot.hist is not None:
                still_open.append(key)
        self._open = still_open

    # -- distribution ------------------------------------------------------------------------
    def take_wire(self, *, totals: bool = True, before_index: int | None = None) -> bytes:
        """Everything recorded since the last take, as compact bytes; the recorder starts afresh.

        ``totals=False`` (a worker's periodic report) ships the interval series only and keeps
        the phase totals (counts, endpoint x outcome histograms, schedule lag) for a later take:
        a dozen histograms fewer per snapshot for the master to merge every second; the final
        take ships them once. ``before_index`` (with ``totals=False``) ships only the intervals
        before it (the closed ones: each then travels in one piece) and keeps the others. Merged,
        the result is the same either way.
        """
        if not totals:
            keys = [k for k in self._slots if before_index is None or k[0] < before_index]
            wire = Wire(
                version=WIRE_VERSION,
                run_start_wall_ns=self.run_start_wall_ns,
                interval_ns=self.interval_ns,
                phases=[],
                hists=[],
                intervals=[wire_interval(i, p, self._slots[(i, p)]) for i, p in keys],
                lag="",
                lag_oor=0,
            )
            self._forget(keys)
            return encode_wire(wire)
        wire = Wire(
            version=WIRE_VERSION,
            run_start_wall_ns=self.run_start_wall_ns,
            interval_ns=self.interval_ns,
            phases=[WirePhase(p, c) for p, c in self._phases.items()],
            hists=[
                WireHist(
                    phase,
                    endpoint,
                    outcome.value,
                    enc(intended),
                    intended.out_of_range,
                    enc(service),
                    service.out_of_range,
                )
                for (phase, endpoint, outcome), (intended, service) in self._hists.items()
            ],
            intervals=[
                wire_interval(index, phase, slot) for (index, phase), slot in self._slots.items()
            ],
            lag=enc(self._lag),
            lag_oor=self._lag.out_of_range,
        )
        self._reset()
        return encode_wire(wire)

    def merge_wire(self, data: bytes) -> None:
        """Add a snapshot from :meth:`take_wire` (of any process of the same run) exactly.

        All or nothing: the whole snapshot is decoded and checked before anything is added, so a
        corrupt one raises :class:`MeasurementError` and leaves this recorder as it was. (A
        snapshot covers a few seconds, so its histograms held decoded at once cost a few MB.)
        """
        snap = decode_wire(data, self.run_start_wall_ns, self.interval_ns)
        for phase, counts in snap.phases:
            add_counts(self._counts(phase), counts)
        for key, intended, service in snap.hists:
            pair = self._pair(*key)
            pair[0].add(intended)
            pair[1].add(service)
        for index, phase, counts, hist, svc in snap.intervals:
            slot = self._slot(index, phase)
            add_counts(slot.counts, counts)
            if hist is not None:  # a late snapshot may hit a sealed interval: reopen it
                (slot.hist or self._reopen(slot)).add(hist)
                slot.svc.add(svc)
        self._lag.add(snap.lag)

    # -- results -----------------------------------------------------------------------------
    def build(
        self, phases: Sequence[PhaseMeta]
    ) -> tuple[tuple[PhaseResult, ...], Sequence[IntervalRecord]]:
        """Phase results (in the order given) and the interval series (by time, then phase order).

        Every returned histogram is a copy: the recorder can keep recording. With a log attached,
        the log is closed complete and the series is read back from it lazily
        (:class:`~harness.measure.IntervalLog`), so it holds no histogram in memory.
        Raises ValueError if something was recorded for a phase not in ``phases``.
        """
        order = {meta.name: i for i, meta in enumerate(phases)}
        seen = {*self._phases, *(k[1] for k in (*self._slots, *self._recent))}
        unknown = seen - set(order)
        if unknown:
            raise ValueError(f"recorded phases missing from the schedule: {sorted(unknown)}")
        results = tuple(self._phase_result(meta) for meta in phases)
        if self._drainer is not None:
            for name in order:
                self._drainer.phase_order.setdefault(name, len(self._drainer.phase_order))
            self.close_log(complete=True)
            return results, read_series(self._drainer.log.path)
        interval_s = self.interval_ns / 1e9
        intervals = tuple(
            interval_record(index, phase, self._slots[(index, phase)], interval_s)
            for index, phase in sorted(self._slots, key=lambda k: (k[0], order[k[1]]))
        )
        return results, intervals

    def _phase_result(self, meta: PhaseMeta) -> PhaseResult:
        counts = request_counts(self._phases.get(meta.name, [0] * N_SLOT_COUNTS), None)
        histograms: dict[HistKey, LatencyHistogram] = {}
        for (phase, endpoint, outcome), (intended, service) in sorted(
            self._hists.items(), key=lambda kv: (kv[0][1], kv[0][2].value)
        ):
            if phase == meta.name:
                histograms[HistKey(endpoint, outcome, Clock.INTENDED)] = intended.copy()
                histograms[HistKey(endpoint, outcome, Clock.SERVICE)] = service.copy()
        completed = counts.ok + counts.failed + counts.shed
        return PhaseResult(
            name=meta.name,
            kind=meta.kind,
            in_verdict=meta.in_verdict,
            start_s=meta.start_s,
            duration_s=meta.duration_s,
            offered_rps=meta.offered_rps,
            achieved_rps=completed / meta.duration_s if meta.duration_s > 0 else 0.0,
            counts=counts,
            histograms=histograms,
        )

    def lag_histogram(self) -> LatencyHistogram:
        """Schedule lag (actual minus intended send, us; early sends as 0), a copy."""
        return self._lag.copy()

    def offered_count(self, phase: str) -> int:
        """Requests scheduled so far in ``phase`` (by :meth:`offered`)."""
        return self._phases.get(phase, [0] * N_SLOT_COUNTS)[OFFERED]

    def counts(self, phase: str) -> RequestCounts:
        """Request counts of ``phase`` so far."""
        return request_counts(self._phases.get(phase, [0] * N_SLOT_COUNTS), None)

    def interval_sample(self, index: int, scheduled_phase: str) -> IntervalSample:
        """Interval ``index`` across phases, for a live observer (:mod:`harness.measure.observe`).

        Final once the wall clock has passed the interval's end (completions are counted by
        completion time). Cost: one merge of that interval's histograms (well under 1 ms).
        """
        maps = (self._recent, self._slots)
        return interval_sample(maps, self._phases, index, self.interval_ns / 1e9, scheduled_phase)

    def live(self, *, now_wall_ns: int | None = None, window_s: float = 1.0) -> LiveStats:
        """Stats over the complete intervals of the last ``window_s`` before now (progress view).

        On a master, worker data arrives every few seconds: pass a window of 3-5 s there.
        """
        now = time.time_ns() if now_wall_ns is None else now_wall_ns
        last = (now - self.run_start_wall_ns) // self.interval_ns - 1  # last complete interval
        n = max(1, round(window_s * 1e9 / self.interval_ns))
        return live_stats((self._recent, self._slots), last - n + 1, last, self.interval_ns / 1e9)
