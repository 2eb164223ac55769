"""One pass over an interval series: each payload decoded once, every consumer fed from it.

Why: a report of a long run needs the series several ways (per-second plots, windows.csv, the
burn-rate and knee windows, phase totals of a rebuilt run). Iterating an :class:`IntervalLog`
once per consumer decodes every payload each time through ``hdrh`` (a 140 KB counter array
allocated per histogram); a day at 1 s intervals is 86,400 records with two payloads each. Here
the log is read once and each payload is decoded straight into one reused counter array
(base64 -> zlib -> hdrh's C varint decoder), then handed to every consumer as an
:class:`IntervalView`; the array is cleared over the populated range only.

A view is valid only during ``feed``: a consumer that keeps anything copies it (a percentile, a
row, or the counters added into its own accumulator with :meth:`Counters.add_to`).

Exactness: :meth:`Counters.distribution` is the same :class:`Distribution` (bucket upper edges,
counts, out-of-range) that :func:`harness.measure.distribution` gives for the decoded
``LatencyHistogram``, and :func:`histogram_from_counters` rebuilds a histogram whose encoding is
the one hdrh writes; tests hold both to the histogram path. A payload written with another
histogram geometry (not this project's 1 us .. 60 s, 3 figures) is decoded through hdrh and
re-bucketed, slower but the same numbers.

Order: records by start, then phase in order of first appearance (what the log iterates), or for
an in-memory series by (start, phase name), as :func:`in_time_order` orders them.
"""

from __future__ import annotations

import binascii
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
import pyhdrh  # hdrh's C codec (a dependency of hdrh)

from harness.errors import ArtifactError
from harness.measure.distribution import Distribution, distribution, value_table
from harness.measure.histogram import (
    HIGHEST_US,
    LOWEST_US,
    SIGNIFICANT_FIGURES,
    LatencyHistogram,
)
from harness.measure.intervallog import IntervalLog, in_time_order
from harness.measure.result import IntervalRecord, RequestCounts

__all__ = [
    "COUNTERS_LEN",
    "Counters",
    "CountersSum",
    "IntervalConsumer",
    "IntervalView",
    "histogram_from_counters",
    "scan_series",
    "series_span_s",
]

IntArray = npt.NDArray[np.int64]

COUNTERS_LEN: Final = int(LatencyHistogram().raw.counts_len)
_TABLE: Final = value_table(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
_EXTERNAL_HEADER: Final = 8  # cookie + length, before the zlib stream
_PAYLOAD_HEADER: Final = struct.Struct(">IIIIqqd")  # hdrh's PayloadHeader (40 bytes)
_V2_ENCODING: Final = 0x1C849303


class Counters:
    """A histogram's counters ``[lo, hi)`` (a view; ``hi == lo`` when empty) and its samples
    beyond the range."""

    __slots__ = ("_dist", "counts", "lo", "out_of_range")

    def __init__(self, lo: int, counts: IntArray, out_of_range: int) -> None:
        self.lo = lo
        self.counts = counts
        self.out_of_range = out_of_range
        self._dist: Distribution | None = None

    @property
    def count(self) -> int:
        """Samples inside the range."""
        return int(self.counts.sum())

    def distribution(self) -> Distribution:
        """The populated buckets (computed once per view)."""
        if self._dist is None:
            populated = np.flatnonzero(self.counts)
            self._dist = Distribution(
                _TABLE[populated + self.lo], self.counts[populated], self.out_of_range
            )
        return self._dist

    def add_to(self, into: IntArray) -> None:
        """Add these counters into a full-length accumulator (``COUNTERS_LEN`` entries)."""
        into[self.lo : self.lo + len(self.counts)] += self.counts


class CountersSum:
    """Views' counters added up (a window, a time slice) without a full array for one record: the
    first record's populated range is copied (the view is reused), a second one widens it to a
    full-length sum."""

    __slots__ = ("_dist", "_full", "_kept", "out_of_range", "records")

    def __init__(self) -> None:
        self._kept: Counters | None = None
        self._full: IntArray | None = None
        self._dist: Distribution | None = None
        self.out_of_range = 0
        self.records = 0

    def add(self, counters: Counters) -> None:
        """Add one view's counters (copied)."""
        self.records += 1
        self.out_of_range += counters.out_of_range
        self._dist = None
        if self._kept is None and self._full is None:
            self._kept = Counters(counters.lo, counters.counts.copy(), counters.out_of_range)
            self._dist = counters.distribution()  # computed from the same counts
            return
        if self._full is None:
            self._full = np.zeros(COUNTERS_LEN, dtype=np.int64)
            assert self._kept is not None
            self._kept.add_to(self._full)
            self._kept = None
        counters.add_to(self._full)

    def distribution(self) -> Distribution:
        """The populated buckets of the sum (empty when nothing was added)."""
        if self._dist is None:
            if self._full is not None:
                self._dist = Counters(0, self._full, self.out_of_range).distribution()
            elif self._kept is not None:
                kept = self._kept
                self._dist = Counters(kept.lo, kept.counts, self.out_of_range).distribution()
            else:
                self._dist = Counters(0, np.zeros(0, dtype=np.int64), 0).distribution()
        return self._dist

    def absorb(self, other: CountersSum) -> None:
        """Add another sum into this one."""
        for part in (other._kept, None if other._full is None else Counters(0, other._full, 0)):
            if part is not None:
                self.add(Counters(part.lo, part.counts, 0))
                self.records -= 1
        self.records += other.records
        self.out_of_range += other.out_of_range
        self._dist = None


def histogram_from_counters(counters: IntArray, out_of_range: int = 0) -> LatencyHistogram:
    """A :class:`LatencyHistogram` holding full-length ``counters`` (what decoding their
    encoding would give: same counts, total, min and max)."""
    hist = LatencyHistogram(out_of_range=out_of_range)
    populated = np.flatnonzero(counters)
    if populated.size:
        raw = hist.raw
        np.ctypeslib.as_array(raw.counts)[:] = counters
        raw.set_internal_tacking_values(int(populated[0]), int(populated[-1]), int(counters.sum()))
    return hist


@dataclass(slots=True)
class IntervalView:
    """One record of the series as the scan hands it over (valid during ``feed`` only)."""

    start_s: float
    length_s: float
    phase: str
    offered: int
    counts: RequestCounts
    latency: Counters
    service: Counters | None  # None: not decoded (the scan was not asked for it)
    _payload: str | None = None  # the latency payload as written, when the record had one part
    _hist: LatencyHistogram | None = None

    @property
    def done(self) -> int:
        """Completed requests (ok + failed + shed)."""
        return self.counts.ok + self.counts.failed + self.counts.shed

    def encoded(self) -> str:
        """The latency histogram's HdrHistogram encoding (the log's own text when it had one part:
        nothing re-encoded)."""
        if self._payload is not None:
            return self._payload
        if self._hist is not None:
            return self._hist.encode()
        full = np.zeros(COUNTERS_LEN, dtype=np.int64)
        self.latency.add_to(full)
        return histogram_from_counters(full).encode()


class IntervalConsumer(Protocol):
    """Anything fed by :func:`scan_series`."""

    def feed(self, view: IntervalView) -> None:
        """Take what is needed from one record (the view is reused afterwards)."""


def series_span_s(intervals: Sequence[IntervalRecord]) -> tuple[float, float] | None:
    """(first, last) interval start of a series, without decoding a log; None when empty."""
    if isinstance(intervals, IntervalLog):
        return intervals.start_span_s
    if not intervals:
        return None
    starts = [r.start_s for r in intervals]
    return min(starts), max(starts)


def scan_series(
    intervals: Sequence[IntervalRecord],
    consumers: Sequence[IntervalConsumer],
    *,
    service: bool = False,
) -> None:
    """Feed every record of ``intervals`` to every consumer, in time order (see module
    docstring); ``service``: decode the service-time payloads too (only phase totals need them)."""
    if not consumers:
        return
    for view in _views(intervals, service):
        for consumer in consumers:
            consumer.feed(view)


def _views(intervals: Sequence[IntervalRecord], service: bool) -> Iterator[IntervalView]:
    if not isinstance(intervals, IntervalLog):
        for rec in in_time_order(intervals):
            yield _memory_view(rec, service)
        return
    latency = _Decoder()
    served = _Decoder()
    with intervals.open() as handle:
        for index in range(len(intervals)):
            raw = intervals.raw(handle, index)
            yield IntervalView(
                raw.start_s,
                raw.length_s,
                raw.phase,
                raw.offered,
                raw.counts,
                latency.counters(raw.latency, raw.counts.out_of_range, intervals),
                served.counters(raw.service, 0, intervals) if service else None,
                raw.latency[0] if len(raw.latency) == 1 else None,
            )


def _memory_view(rec: IntervalRecord, service: bool) -> IntervalView:
    return IntervalView(
        rec.start_s,
        rec.length_s,
        rec.phase,
        rec.offered,
        rec.counts,
        _hist_counters(rec.latency),
        _hist_counters(rec.service) if service else None,
        None,
        rec.latency,
    )


def _hist_counters(hist: LatencyHistogram) -> Counters:
    dist = distribution(hist)
    counters = Counters(0, np.zeros(0, dtype=np.int64), hist.out_of_range)
    if dist.recorded:
        full = _full_counters(hist)
        populated = np.flatnonzero(full)
        lo, hi = int(populated[0]), int(populated[-1]) + 1
        counters = Counters(lo, full[lo:hi], hist.out_of_range)
    counters._dist = dist  # the histogram path's own distribution: identical by definition
    return counters


def _full_counters(hist: LatencyHistogram) -> IntArray:
    raw = hist.raw
    if int(raw.counts_len) == COUNTERS_LEN and int(raw.lowest_trackable_value) == LOWEST_US:
        return np.ctypeslib.as_array(raw.counts).astype(np.int64)
    same = LatencyHistogram()
    same.add(hist)  # another geometry: hdrh re-buckets value by value
    return np.ctypeslib.as_array(same.raw.counts).astype(np.int64)


class _Decoder:
    """Decodes payloads into one reused counter array (cleared over the last populated range)."""

    def __init__(self) -> None:
        self._scratch = np.zeros(COUNTERS_LEN, dtype=np.int64)
        self._part = np.zeros(COUNTERS_LEN, dtype=np.int64)
        self._lo = 0
        self._hi = 0

    def counters(self, payloads: list[str], out_of_range: int, log: IntervalLog) -> Counters:
        self._scratch[self._lo : self._hi] = 0
        lo, hi = COUNTERS_LEN, 0
        for i, text in enumerate(payloads):
            into = self._scratch if i == 0 else self._part
            span = self._decode_into(text, into, log)
            if span is None:
                continue
            lo, hi = min(lo, span[0]), max(hi, span[1])
            if i:
                self._scratch[span[0] : span[1]] += self._part[span[0] : span[1]]
                self._part[span[0] : span[1]] = 0
        if hi <= lo:
            lo = hi = 0
        self._lo, self._hi = lo, hi
        return Counters(lo, self._scratch[lo:hi], out_of_range)

    @staticmethod
    def _decode_into(text: str, into: IntArray, log: IntervalLog) -> tuple[int, int] | None:
        try:
            data = zlib.decompress(binascii.a2b_base64(text)[_EXTERNAL_HEADER:])
            cookie, _, offset, figures, lowest, highest, _ = _PAYLOAD_HEADER.unpack_from(data)
        except (binascii.Error, zlib.error, struct.error, ValueError):
            raise ArtifactError(f"{log.path}: undecodable histogram payload") from None
        if (cookie & ~0xF0, offset, figures, lowest, highest) != (
            _V2_ENCODING,
            0,
            SIGNIFICANT_FIGURES,
            LOWEST_US,
            HIGHEST_US,
        ):
            return _foreign_into(text, into, log)
        result = pyhdrh.decode(data, _PAYLOAD_HEADER.size, into.ctypes.data, COUNTERS_LEN, 8)
        if not result["total"]:
            return None
        return int(result["min_nonzero_index"]), int(result["max_nonzero_index"]) + 1


def _foreign_into(text: str, into: IntArray, log: IntervalLog) -> tuple[int, int] | None:
    """A payload of another geometry (or an encoding this fast path does not know): hdrh."""
    try:
        hist = LatencyHistogram.decode(text)
    except Exception:  # hdrh raises assorted errors on a corrupt payload
        raise ArtifactError(f"{log.path}: undecodable histogram payload") from None
    full = _full_counters(hist)
    populated = np.flatnonzero(full)
    if not populated.size:
        return None
    lo, hi = int(populated[0]), int(populated[-1]) + 1
    into[lo:hi] = full[lo:hi]
    return lo, hi
