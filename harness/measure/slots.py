"""One interval x phase of the recorder: its counters and the OK responses' histograms.

The :class:`~harness.measure.Recorder` keeps a :class:`Slot` per (interval index, phase) while
the interval can still change (with an interval log attached, until the interval is written:
soon after its end, or :data:`DRAIN_LAG` intervals later at the latest); this module owns the
slot, the layout of its counter list and the conversions of a slot into what leaves the
recorder: an :class:`IntervalRecord` (a report's or the interval log's) and a
:class:`WireInterval` (a worker's snapshot).

Memory: an HDR histogram of this range is about 140 KB, so a slot older than :data:`SEAL_LAG`
intervals swaps both of its histograms for HDR's compressed encoding (a few hundred bytes);
they are decoded again only if a late worker snapshot adds to the interval (:meth:`Slot.histogram`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from harness.measure.histogram import LatencyHistogram
from harness.measure.result import IntervalRecord, Outcome, RequestCounts
from harness.measure.wire import N_COUNTS, WireInterval, dec, enc

__all__ = [
    "DRAIN_LAG",
    "EMPTY",
    "FAILED",
    "LATE",
    "N_SLOT_COUNTS",
    "OFFERED",
    "OK",
    "OOR",
    "OUTCOME_INDEX",
    "SEAL_LAG",
    "SENT",
    "SHED",
    "UNSENT",
    "Slot",
    "add_counts",
    "interval_record",
    "request_counts",
    "wire_interval",
]

#: Interval histograms this many intervals behind the newest one are compressed.
SEAL_LAG: Final = 10
#: With an interval log attached, intervals this many behind the newest are written and dropped
#: even when the log's owner does not flush them (it normally does, within about 2 s of their
#: end: :class:`~harness.measure.FlushClock`); anything later still is appended, not lost.
DRAIN_LAG: Final = 30

# Positions in the per-phase / per-interval counter lists (plain lists: cheapest to bump).
SENT, OK, FAILED, SHED, LATE, UNSENT, OOR, OFFERED = range(8)
N_SLOT_COUNTS: Final = N_COUNTS
OUTCOME_INDEX: Final = {Outcome.OK: OK, Outcome.FAILED: FAILED, Outcome.SHED: SHED}
#: Placeholder of a sealed slot's service histogram (never recorded into: sealed slots reopen).
EMPTY: Final = LatencyHistogram()


class Slot:
    """One interval x phase: counters and the OK responses' histograms of both clocks.

    Invariant: ``hist`` and ``svc`` are both live or both sealed (compressed together).
    """

    __slots__ = ("counts", "hist", "key", "sealed", "sealed_oor", "sealed_svc", "svc")

    def __init__(self, key: tuple[int, str]) -> None:
        self.key = key
        self.counts = [0] * N_SLOT_COUNTS
        self.hist: LatencyHistogram | None = LatencyHistogram()
        self.svc: LatencyHistogram = LatencyHistogram()
        self.sealed: str | None = None
        self.sealed_oor = 0
        self.sealed_svc = ""

    def histogram(self) -> LatencyHistogram:
        """The live intended-clock histogram, decoding sealed ones (both clocks) first."""
        if self.hist is None:
            assert self.sealed is not None
            self.hist = LatencyHistogram.decode(self.sealed, self.sealed_oor)
            self.svc = dec(self.sealed_svc, 0)
            self.sealed, self.sealed_svc = None, ""
        return self.hist

    def peek(self) -> LatencyHistogram:
        """The histogram without changing state (a decoded copy when sealed)."""
        return self.hist if self.hist is not None else dec(self.sealed or "", self.sealed_oor)

    def peek_service(self) -> LatencyHistogram:
        """The service-time histogram without changing state (a decoded copy when sealed)."""
        return self.svc if self.hist is not None else dec(self.sealed_svc, 0)

    def seal(self) -> None:
        """Swap the two 140 KB histograms for their compressed encodings."""
        if self.hist is not None:
            self.sealed, self.sealed_oor = self.hist.encode(), self.hist.out_of_range
            self.sealed_svc = enc(self.svc)
            self.hist = None
            self.svc = EMPTY


def wire_interval(index: int, phase: str, slot: Slot) -> WireInterval:
    """The slot as a worker snapshot's interval (sealed ones are shipped as they are)."""
    if slot.hist is not None:
        return WireInterval(
            index, phase, slot.counts, enc(slot.hist), slot.hist.out_of_range, enc(slot.svc)
        )
    return WireInterval(
        index, phase, slot.counts, slot.sealed or "", slot.sealed_oor, slot.sealed_svc
    )


def add_counts(into: list[int], more: Sequence[int]) -> None:
    """Add a counter list into another, position by position."""
    for i, value in enumerate(more):
        into[i] += value


def request_counts(c: Sequence[int], out_of_range: int | None) -> RequestCounts:
    """A counter list as :class:`RequestCounts` (``out_of_range`` from a histogram if given)."""
    return RequestCounts(
        sent=c[SENT],
        ok=c[OK],
        failed=c[FAILED],
        shed=c[SHED],
        late=c[LATE],
        unsent=c[UNSENT],
        out_of_range=c[OOR] if out_of_range is None else out_of_range,
    )


def interval_record(
    index: int, phase: str, slot: Slot, interval_s: float, *, copy: bool = True
) -> IntervalRecord:
    """The slot as an interval record (its histograms copied or decoded: the slot stays usable;
    ``copy=False`` shares live histograms, for a slot nobody records into any more)."""
    if slot.hist is not None:
        hist, svc = (slot.hist.copy(), slot.svc.copy()) if copy else (slot.hist, slot.svc)
    else:
        hist, svc = slot.peek(), slot.peek_service()
    return IntervalRecord(
        start_s=index * interval_s,
        length_s=interval_s,
        phase=phase,
        offered=slot.counts[OFFERED],
        counts=request_counts(slot.counts, hist.out_of_range),
        latency=hist,
        service=svc,
    )
