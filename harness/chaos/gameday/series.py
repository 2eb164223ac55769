"""A game day's interval series for the journal's metrics, in bounded memory (issue 11).

Why: a decoded interval histogram is about 140 KB, so a list of one merged sample per second
grows by about 8 MB a minute of game day. :func:`samples_from_intervals` indexes the run's
interval records once (normally the lazy :class:`~harness.measure.IntervalLog` of the streamed
``latency.partial.hlog``) and keeps per second only what scans need: start, length, busiest
phase, offered, counts and the positions of its records. An item's ``latency`` is a deferred
histogram: decoded from the records when a window first merges it, and the last
:data:`CACHE_INTERVALS` decoded ones are kept, so sliding windows decode each interval about once.

Invariants (the same as the eager list it replaces): one sample per interval index from the first
to the last, gap-free (a missing interval is an empty sample with the previous one's phase), parts
of several phases in one interval merged (counts add, histograms merge), the phase with the most
completions named.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, overload

from harness.measure import (
    IntervalRecord,
    IntervalSample,
    LatencyHistogram,
    RequestCounts,
    deferred_histogram,
)

__all__ = ["CACHE_INTERVALS", "IntervalSeries", "samples_from_intervals"]

#: Decoded merged histograms kept for sliding windows (about 140 KB each).
CACHE_INTERVALS: Final = 64


@dataclass(frozen=True, slots=True)
class _Entry:
    """What a scan needs of one interval, without its histogram."""

    index: int
    start_s: float
    length_s: float
    phase: str
    offered: int
    counts: RequestCounts
    out_of_range: int
    positions: tuple[int, ...]  # the records merged into it (empty: a filled gap)


class IntervalSeries(Sequence[IntervalSample]):
    """The gap-free per-interval samples of a run; histograms decoded on demand."""

    def __init__(self, records: Sequence[IntervalRecord], entries: list[_Entry]) -> None:
        self._records = records
        self._entries = entries
        self._cache: OrderedDict[int, LatencyHistogram] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def __getitem__(self, i: int) -> IntervalSample: ...

    @overload
    def __getitem__(self, i: slice) -> list[IntervalSample]: ...

    def __getitem__(self, i: int | slice) -> IntervalSample | list[IntervalSample]:
        if isinstance(i, slice):
            return [self._sample(k) for k in range(*i.indices(len(self._entries)))]
        if i < 0:
            i += len(self._entries)
        if not 0 <= i < len(self._entries):
            raise IndexError(i)
        return self._sample(i)

    def __iter__(self) -> Iterator[IntervalSample]:
        return (self._sample(k) for k in range(len(self._entries)))

    def _sample(self, k: int) -> IntervalSample:
        e = self._entries[k]
        return IntervalSample(
            e.index,
            e.start_s,
            e.length_s,
            e.phase,
            e.offered,
            e.counts,
            deferred_histogram(lambda: self._latency(k), e.out_of_range),
        )

    def _latency(self, k: int) -> LatencyHistogram:
        cached = self._cache.get(k)
        if cached is not None:
            self._cache.move_to_end(k)
            return cached
        merged = LatencyHistogram()
        for position in self._entries[k].positions:
            merged.add(self._records[position].latency)
        self._cache[k] = merged
        if len(self._cache) > CACHE_INTERVALS:
            self._cache.popitem(last=False)
        return merged


def samples_from_intervals(records: Sequence[IntervalRecord]) -> IntervalSeries:
    """A run's interval records (one per phase and interval) merged per interval, gap-free.

    One pass over ``records`` (each record read once); nothing decoded is kept.
    """
    parts: dict[int, list[_Entry]] = {}
    for position, r in enumerate(records):
        index = round(r.start_s / r.length_s)
        part = _Entry(
            index,
            r.start_s,
            r.length_s,
            r.phase,
            r.offered,
            r.counts,
            r.latency.out_of_range,
            (position,),
        )
        parts.setdefault(index, []).append(part)
    entries: list[_Entry] = []
    for index in sorted(parts):
        while entries and entries[-1].index + 1 < index:
            prev = entries[-1]
            entries.append(
                _Entry(
                    prev.index + 1,
                    prev.start_s + prev.length_s,
                    prev.length_s,
                    prev.phase,
                    0,
                    RequestCounts(),
                    0,
                    (),
                )
            )
        entries.append(_merged(parts[index]))
    return IntervalSeries(records, entries)


def _merged(parts: list[_Entry]) -> _Entry:
    """One interval's parts (one per phase) as one entry: counts add, the busiest phase named."""
    if len(parts) == 1:
        return parts[0]
    counts = RequestCounts()
    for p in parts:
        counts = counts + p.counts
    busiest = max(parts, key=lambda p: p.counts.ok + p.counts.failed + p.counts.shed)
    first = parts[0]
    return _Entry(
        first.index,
        first.start_s,
        first.length_s,
        busiest.phase,
        sum(p.offered for p in parts),
        counts,
        sum(p.out_of_range for p in parts),
        tuple(pos for p in parts for pos in p.positions),
    )
