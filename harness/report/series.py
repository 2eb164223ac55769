"""What the reports need from the interval series, taken in one streaming pass over it.

:class:`ReportSeries` is a :class:`harness.measure.IntervalConsumer`: fed once per record by
:func:`harness.measure.scan_series` (alone, or in the same pass as the SLO's burn-rate and knee
windows and a rebuilt run's phase totals), it keeps, in memory bounded by the plot width and
not by the run's length:

- ``windows.csv``: each row rendered and written to an anonymous temporary file as it comes;
- the per-second series of the plots (phases sharing a start merged, then p50/p99 and rates),
  min/max-downsampled to the plot's pixel columns (:mod:`harness.report.downsample`);
- ``report.json``'s interval documents, only for a series of at most
  :data:`EMBED_INTERVALS_MAX` records (their payloads as the log holds them, never re-encoded);
  a longer series is referred to in ``latency.hlog`` instead (``intervals_in``, schema 1.10).

Numbers are exact: percentiles come from the same :class:`harness.measure.Distribution` the
in-memory path computes (tests hold the two equal); only the plotted picture is reduced.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from typing import IO, Final

import msgspec

from harness.measure import (
    HIGHEST_US,
    CountersSum,
    Distribution,
    IntervalRecord,
    IntervalView,
    RequestCounts,
    scan_series,
    series_span_s,
)
from harness.report.csv_report import WindowsCsvWriter
from harness.report.document import IntervalDoc, RequestsDoc
from harness.report.downsample import DISPLAY_COLUMNS, MinMaxColumns
from harness.report.plots import SecondSeries
from harness.report.stats import interval_row

__all__ = [
    "EMBED_INTERVALS_MAX",
    "HLOG_FILE",
    "ReportSeries",
    "fed_report_series",
    "interval_doc",
    "report_series",
]

#: The interval log of a report directory.
HLOG_FILE: Final = "latency.hlog"

#: report.json embeds the interval series up to this many records (an hour of 1 s intervals);
#: a longer one stays in latency.hlog only.
EMBED_INTERVALS_MAX: Final = 3_600
_CEILING_MS: Final = HIGHEST_US / 1000.0
_PLOTTED: Final = tuple(f for f in SecondSeries.__slots__ if f != "start_s")


class ReportSeries:
    """The report's consumer of the interval series (see module docstring)."""

    def __init__(
        self,
        span_s: tuple[float, float] | None,
        *,
        embed: bool,
        columns: int = DISPLAY_COLUMNS,
    ) -> None:
        first, last = span_s or (0.0, 0.0)
        self._plot = MinMaxColumns(first, last, len(_PLOTTED), columns)
        # closed by close() (its owner does: `with ReportSeries`), deleted by the OS when closed
        self._csv_file: IO[bytes] = tempfile.TemporaryFile(prefix="slo-windows-")  # noqa: SIM115
        self._csv = WindowsCsvWriter(self._csv_file)
        self.embedded: list[IntervalDoc] | None = [] if embed else None
        self._slice: _Slice | None = None
        self.records = 0

    def feed(self, view: IntervalView) -> None:
        """One record: its CSV row, its part of the plotted second, its JSON document."""
        self.records += 1
        dist = view.latency.distribution()
        self._csv.write(
            interval_row(view.start_s, view.length_s, view.phase, view.offered, view.counts, dist)
        )
        if self.embedded is not None:
            self.embedded.append(
                interval_doc(
                    view.start_s,
                    view.length_s,
                    view.phase,
                    view.offered,
                    view.counts,
                    view.encoded(),
                    view.latency.out_of_range,
                )
            )
        if self._slice is not None and self._slice.start_s != view.start_s:
            self._close_slice()
        if self._slice is None:
            self._slice = _Slice(view.start_s)
        self._slice.add(view)

    def second_series(self) -> SecondSeries:
        """The plotted series (call once, after the pass)."""
        self._close_slice()
        times, columns = self._plot.finish()
        return SecondSeries(times, *columns)

    def windows_csv(self) -> IO[bytes]:
        """The finished windows.csv, rewound (the caller copies it; closing it deletes it)."""
        self._csv_file.flush()
        self._csv_file.seek(0)
        return self._csv_file

    def close(self) -> None:
        """Drop the temporary CSV file (idempotent)."""
        self._csv_file.close()

    def __enter__(self) -> ReportSeries:
        return self

    def __exit__(self, *_exc: object) -> None:
        """Closed on every way out, including an exception before ``write_reports`` (e.g. an
        interrupted run's salvage hitting its time bound), which would otherwise leak the file."""
        self.close()

    def _close_slice(self) -> None:
        if self._slice is not None:
            self._plot.add(self._slice.start_s, self._slice.values())
            self._slice = None


def report_series(intervals: Sequence[IntervalRecord]) -> ReportSeries:
    """A :class:`ReportSeries` for ``intervals``, not yet fed (feed it with
    :func:`harness.measure.scan_series`, or call :func:`fed_report_series`)."""
    return ReportSeries(series_span_s(intervals), embed=len(intervals) <= EMBED_INTERVALS_MAX)


def fed_report_series(intervals: Sequence[IntervalRecord]) -> ReportSeries:
    """A :class:`ReportSeries` fed by its own pass over ``intervals``."""
    series = report_series(intervals)
    scan_series(intervals, [series])
    return series


class _Slice:
    """The records sharing one start time (phases meeting inside an interval), merged."""

    def __init__(self, start_s: float) -> None:
        self.start_s = start_s
        self._latency = CountersSum()
        self._length = 0.0
        self._offered = self._done = self._failed = self._shed = self._late = 0

    def add(self, view: IntervalView) -> None:
        c = view.counts
        self._length = max(self._length, view.length_s)
        self._offered += view.offered
        self._done += c.ok + c.failed + c.shed
        self._failed += c.failed
        self._shed += c.shed
        self._late += c.late
        self._latency.add(view.latency)

    def values(self) -> list[float]:
        dist = self._latency.distribution()
        length = self._length or 1.0
        return [
            _value_ms(dist, 50.0),
            _value_ms(dist, 99.0),
            self._offered / length,
            self._done / length,
            self._failed / length,
            self._shed / length,
            self._late / length,
        ]


def _value_ms(dist: Distribution, percentile: float) -> float:
    if dist.total == 0:
        return math.nan
    value = dist.percentile_us(percentile)
    return _CEILING_MS if value is None else value / 1000.0


def interval_doc(
    start_s: float,
    length_s: float,
    phase: str,
    offered: int,
    counts: RequestCounts,
    encoded: str,
    out_of_range: int,
) -> IntervalDoc:
    """report.json's document of one interval (times rounded to the millisecond)."""
    return IntervalDoc(
        start_s=round(start_s, 3),
        length_s=round(length_s, 3),
        phase=phase,
        offered=offered,
        requests=msgspec.convert(counts, RequestsDoc, from_attributes=True),
        encoded=encoded,
        out_of_range=out_of_range,
    )
