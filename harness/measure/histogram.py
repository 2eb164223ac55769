"""A typed adapter over ``hdrh.HdrHistogram`` that refuses silent loss.

Why an adapter: ``HdrHistogram.record_value`` returns ``False`` for a value outside the trackable
range instead of raising, so a 61 s stall would simply vanish from a p99.9. Every value that does
not fit is counted in :attr:`LatencyHistogram.out_of_range` and reported next to the percentiles.

Units and invariants:
- values are **microseconds** (integers); the trackable range is 1 us .. 60 s, 3 significant
  digits, so any recorded value is reported within 0.1% of what was measured;
- ``count`` counts recorded values only; ``out_of_range`` counts the refused ones; their sum is
  every sample that was offered.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
from hdrh.histogram import HdrHistogram

from harness.measure.rank import nearest_rank

__all__ = [
    "HIGHEST_US",
    "LOWEST_US",
    "SIGNIFICANT_FIGURES",
    "Bucket",
    "LatencyHistogram",
    "acyclic",
    "deferred_histogram",
    "pin_mmap_threshold",
    "record_fast",
    "record_pair",
]

LOWEST_US = 1
HIGHEST_US = 60_000_000  # 60 s: longer than any client timeout the harness uses
SIGNIFICANT_FIGURES = 3


@dataclass(frozen=True, slots=True)
class Bucket:
    """One populated bucket: ``count`` samples equivalent to ``value_us``."""

    value_us: int
    count: int


class LatencyHistogram:
    """An HDR histogram of latencies in microseconds that counts what it could not record.

    Samples of the hot path (:func:`record_fast`) wait in a small buffer and are added to the
    counters in bulk (one numpy pass per :data:`BATCH` samples); every read goes through ``_h``,
    which adds the waiting samples first, so nothing ever reads a histogram without them. Used
    from one thread, like the Recorder (greenlets take turns; a flush never yields).
    """

    __slots__ = ("_hh", "_pending", "out_of_range")

    def __init__(self, _raw: HdrHistogram | None = None, out_of_range: int = 0) -> None:
        self._hh: HdrHistogram = acyclic(
            _raw or HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
        )
        self._pending = array("q")
        self.out_of_range = out_of_range

    @property
    def _h(self) -> HdrHistogram:
        """The hdrh counters, with the samples still waiting in the buffer added."""
        if self._pending:
            self._flush()
        return self._hh

    def _flush(self) -> None:
        """Add the buffered samples (all in range) to the counters, as ``record_value`` would."""
        values = np.frombuffer(self._pending, dtype=np.int64).copy()
        del self._pending[:]
        raw = self._hh
        bucket = np.frexp((values | _SUB_MASK).astype(np.float64))[1].astype(np.int64)
        bucket -= _UNIT_MAG + _HALF_MAG + 1  # frexp's exponent is the bit length (< 2**53)
        index = ((bucket + 1) << _HALF_MAG) + (values >> (bucket + _UNIT_MAG)) - _HALF_COUNT
        np.add.at(np.ctypeslib.as_array(raw.counts), index, 1)
        raw.total_count += len(values)
        low, high = int(values.min()), int(values.max())
        if low < raw.min_value:
            raw.min_value = low
        if high > raw.max_value:
            raw.max_value = high

    # -- recording -------------------------------------------------------------------------
    def record(self, value_us: int, count: int = 1) -> bool:
        """Record ``count`` samples of ``value_us``; False (and counted) when out of range."""
        if count == 1:
            return record_fast(self, value_us)  # same buckets, a third of hdrh's time
        if value_us < 0 or not self._h.record_value(value_us, count):
            self.out_of_range += count
            return False
        return True

    def record_seconds(self, seconds: float) -> bool:
        """Record one latency given in seconds (rounded to the nearest microsecond)."""
        return self.record(round(seconds * 1_000_000))

    def add(self, other: LatencyHistogram) -> None:
        """Merge ``other`` into this histogram exactly (counts add bucket by bucket)."""
        if other.count:
            self._h.add(other._h)
        self.out_of_range += other.out_of_range

    # -- reading ---------------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Number of recorded samples (out-of-range samples excluded)."""
        return int(self._h.get_total_count())

    def percentile_us(self, percentile: float) -> int:
        """Value at ``percentile`` (0-100) in microseconds, by nearest rank; 0 when empty.

        The rank rule is :func:`harness.measure.rank.nearest_rank` (Java HdrHistogram's), not
        hdrh's round-half-up; the value is the upper edge of the bucket holding that rank (the
        lower edge for percentile 0, as the reference implementation does).
        """
        return self.percentiles_us((percentile,))[percentile]

    def percentile_ms(self, percentile: float) -> float:
        """Value at ``percentile`` in milliseconds."""
        return self.percentile_us(percentile) / 1000.0

    def percentiles_us(self, percentiles: Iterable[float]) -> dict[float, int]:
        """Several percentiles (nearest rank) in one pass over the counts."""
        wanted = sorted(set(percentiles))
        ranks = [nearest_rank(p, self.count) for p in wanted]  # validates each percentile
        if self.count == 0:
            return dict.fromkeys(wanted, 0)
        cumulative = np.cumsum(np.ctypeslib.as_array(self._h.counts))
        indices = np.searchsorted(cumulative, ranks, side="left")
        raw = self._h
        out = {}
        for p, index in zip(wanted, indices.tolist(), strict=True):
            value = raw.get_value_from_index(index)
            edge = raw.get_lowest_equivalent_value if p == 0 else raw.get_highest_equivalent_value
            out[p] = int(edge(value))
        return out

    @property
    def max_us(self) -> int:
        """Largest recorded value (highest equivalent value of its bucket), 0 when empty."""
        return int(self._h.get_max_value()) if self.count else 0

    @property
    def min_us(self) -> int:
        """Smallest recorded value, 0 when empty."""
        return int(self._h.get_min_value()) if self.count else 0

    @property
    def mean_us(self) -> float:
        """Arithmetic mean of recorded values, 0.0 when empty."""
        return float(self._h.get_mean_value()) if self.count else 0.0

    def buckets(self) -> Iterator[Bucket]:
        """Every populated bucket in increasing value order (for statistics and plots)."""
        for item in self._h.get_recorded_iterator():
            yield Bucket(int(item.value_iterated_to), int(item.count_at_value_iterated_to))

    def count_at_or_below(self, value_us: int) -> int:
        """Number of samples whose bucket value is <= ``value_us`` (for SLI good-event counts)."""
        total = 0
        for bucket in self.buckets():
            if bucket.value_us > value_us:
                break
            total += bucket.count
        return total

    # -- wire format -----------------------------------------------------------------------
    def encode(self) -> str:
        """HdrHistogram's compressed base64 encoding (V2 cookie), as other HDR tools read it."""
        return str(self._h.encode().decode("ascii"))

    @classmethod
    def decode(cls, encoded: str | bytes, out_of_range: int = 0) -> LatencyHistogram:
        """Inverse of :meth:`encode`."""
        raw = encoded.encode("ascii") if isinstance(encoded, str) else encoded
        return cls(HdrHistogram.decode(raw), out_of_range)

    def copy(self) -> LatencyHistogram:
        """An independent copy."""
        clone = LatencyHistogram(out_of_range=self.out_of_range)
        clone.add(self)
        clone.out_of_range = self.out_of_range
        return clone

    @property
    def raw(self) -> HdrHistogram:
        """The wrapped hdrh object, for the hlog writer only."""
        return self._h

    def __repr__(self) -> str:
        return (
            f"LatencyHistogram(count={self.count}, p50_us={self.percentile_us(50)}, "
            f"p99_us={self.percentile_us(99)}, max_us={self.max_us}, "
            f"out_of_range={self.out_of_range})"
        )


class _Deferred(LatencyHistogram):
    """A histogram whose counters are loaded on first use (see :func:`deferred_histogram`)."""

    __slots__ = ("_load",)

    def __init__(self, load: Callable[[], LatencyHistogram], out_of_range: int) -> None:
        # ``_hh`` stays unset: the first read of ``_h`` raises AttributeError -> __getattr__
        self._load: Callable[[], LatencyHistogram] | None = load
        self._pending = array("q")
        self.out_of_range = out_of_range

    def __getattr__(self, name: str) -> HdrHistogram:
        if name not in ("_h", "_hh") or self._load is None:
            raise AttributeError(name)
        load = self._load
        self._hh = load().raw
        self._load = None
        return self._h


def deferred_histogram(
    load: Callable[[], LatencyHistogram], out_of_range: int = 0
) -> LatencyHistogram:
    """A :class:`LatencyHistogram` that calls ``load`` (once) when its counters are first needed.

    For long series held as a sequence of small objects (a game day's intervals read back from
    the interval log): scanning their times and counts decodes nothing, and a histogram decoded
    for a window is freed with the object. ``out_of_range`` is known up front (from the counts).
    """
    return _Deferred(load, out_of_range)


def acyclic(raw: HdrHistogram) -> HdrHistogram:
    """``raw`` with its encoder's back reference made weak, so refcounting alone frees it.

    Why: hdrh's ``HdrHistogram`` and its ``HdrHistogramEncoder`` point at each other, so a
    dropped histogram (140 KB of counters) waits for the cyclic collector, and the engine's
    ``gc.freeze()`` (which keeps full collections off the scheduler's path) defers full
    collections until a quarter as many objects as it froze have been promoted: a 1,000 req/s
    recorder, which drops two interval histograms a second, grew RSS by about 8 MB a minute that
    way (tests/measure/test_memory_bounds.py keeps it at zero). Idempotent.
    """
    encoder = raw.encoder
    if type(encoder.histogram) is not weakref.ProxyType:
        encoder.histogram = weakref.proxy(raw)
    return raw


_M_MMAP_THRESHOLD: Final = -3  # glibc's mallopt parameter
_pinned: list[bool] = []


def pin_mmap_threshold() -> bool:
    """Keep glibc from growing the heap with freed histograms over a long run; idempotent.

    Why: each histogram's counters are one 140 KB ``malloc``, above glibc's initial mmap
    threshold (128 KB), so each gets its own mapping, returned to the system when freed. But glibc
    raises the threshold to the size of the first such chunk freed ("dynamic mmap threshold"),
    after which they come from the heap, and a recorder that creates and frees two every second
    grows RSS by about 6 MB a minute in fragmentation (measured: 60 -> 94 MB over 5 minutes at
    1,000 req/s with no Python object growing; flat at 44 MB with the threshold pinned,
    benchmarks/bench_recorder_memory.py). Pinning the threshold (``mallopt``) turns the dynamic
    adjustment off. False where there is no glibc (the harness then just uses more memory).
    """
    if not _pinned:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _pinned.append(bool(libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)))
        except (OSError, AttributeError):
            _pinned.append(False)
    return _pinned[0]


# HDR bucket geometry of every LatencyHistogram (same range and precision for all of them).
_REF = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_FIGURES)
_SUB_MASK: Final[int] = _REF.sub_bucket_mask
_UNIT_MAG: Final[int] = _REF.unit_magnitude
_HALF_MAG: Final[int] = _REF.sub_bucket_half_count_magnitude
_HALF_COUNT: Final[int] = _REF.sub_bucket_half_count
_COUNTS_LEN: Final[int] = _REF.counts_len
del _REF


def record_fast(hist: LatencyHistogram, value: int) -> bool:
    """``hist.record(value)`` at a fraction of hdrh's cost (the Recorder's hot path).

    An in-range value is appended to the histogram's buffer (:data:`BATCH` at most; any read
    adds them first, with hdrh's ``_counts_index_for`` arithmetic done in numpy); an
    out-of-range one is counted. Property tests check the result against hdrh's
    ``record_value`` bucket for bucket; hdrh is pinned < 0.11 because the arithmetic mirrors
    its internals.
    """
    if 0 <= value <= _MAX_IN_RANGE:
        pending = hist._pending
        pending.append(value)
        if len(pending) >= BATCH:
            hist._flush()
        return True
    hist.out_of_range += 1
    return False


def record_pair(first: LatencyHistogram, a: int, second: LatencyHistogram, b: int) -> bool:
    """``record_fast(first, a)`` then ``record_fast(second, b)`` in one call (the Recorder's two
    clocks); returns the first's in-range flag."""
    if 0 <= a <= _MAX_IN_RANGE:
        pending = first._pending
        pending.append(a)
        if len(pending) >= BATCH:
            first._flush()
        in_range = True
    else:
        first.out_of_range += 1
        in_range = False
    if 0 <= b <= _MAX_IN_RANGE:
        pending = second._pending
        pending.append(b)
        if len(pending) >= BATCH:
            second._flush()
    else:
        second.out_of_range += 1
    return in_range


def _index_of(value: int) -> int:
    bucket = (value | _SUB_MASK).bit_length() - _UNIT_MAG - _HALF_MAG - 1
    return ((bucket + 1) << _HALF_MAG) + (value >> (bucket + _UNIT_MAG)) - _HALF_COUNT


def _max_in_range() -> int:
    """The largest value whose bucket index is inside the counters (the index grows with the
    value, so the in-range values are exactly 0 .. this)."""
    low, high = 0, 1 << 40
    while low < high:
        mid = (low + high + 1) // 2
        if _index_of(mid) < _COUNTS_LEN:
            low = mid
        else:
            high = mid - 1
    return low


#: Samples a histogram buffers before adding them to its counters in one numpy pass.
BATCH: Final = 1024
_MAX_IN_RANGE: Final = _max_in_range()
