"""Min/max downsampling of a time series for display: a spike never disappears from a plot.

Why: a day of 1 s intervals is 86,400 points per line; drawn as SVG that is megabytes per plot,
and a plot is at most about a thousand pixels wide anyway. Averaging or picking every n-th point
would hide exactly what a reader looks for (the one slow second). So the time axis is cut into
``columns`` equal buckets (pixel columns) and each bucket keeps, per value column, its minimum and
its maximum, in the order they occurred: the line still reaches every extreme.

Invariants (a Hypothesis test holds them): the global minimum and maximum of every column (NaN
ignored) are kept; at most two points per bucket, so at most ``2 * columns`` points whatever the
length; a bucket holding one or two points keeps them unchanged, so a series shorter than the
plot's width is drawn exactly as measured. A bucket whose values are all NaN stays NaN (a gap).

Only the picture is reduced: every number in a table, CSV or JSON comes from the exact series.
Points must arrive in time order; memory is one bucket's points plus the output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["DISPLAY_COLUMNS", "MinMaxColumns", "minmax_downsample"]

#: Buckets across a plot's time axis (the report's plots are about 720-1,000 px wide).
DISPLAY_COLUMNS: Final = 800

FloatArray = npt.NDArray[np.float64]


class MinMaxColumns:
    """Streams ``(t, values)`` points (time order) into at most ``columns`` buckets over
    ``[first_s, last_s]``."""

    def __init__(self, first_s: float, last_s: float, width: int, columns: int = DISPLAY_COLUMNS):
        if columns < 1 or width < 1:
            raise ValueError("columns and width must be >= 1")
        self._first = first_s
        self._step = (last_s - first_s) / columns
        self._columns = columns
        self._width = width
        self._bucket = -1
        self._times: list[float] = []
        self._rows: list[Sequence[float]] = []
        self._out_t: list[float] = []
        self._out: list[list[float]] = [[] for _ in range(width)]

    def add(self, t: float, values: Sequence[float]) -> None:
        """One point; ``values`` has ``width`` entries (NaN: no value)."""
        if len(values) != self._width:
            raise ValueError(f"expected {self._width} values, got {len(values)}")
        bucket = self._bucket_of(t)
        if bucket != self._bucket:
            self._flush()
            self._bucket = bucket
        self._times.append(t)
        self._rows.append(values)

    def finish(self) -> tuple[FloatArray, list[FloatArray]]:
        """(times, one array per value column) of the kept points."""
        self._flush()
        return (
            np.asarray(self._out_t, dtype=np.float64),
            [np.asarray(col, dtype=np.float64) for col in self._out],
        )

    def _bucket_of(self, t: float) -> int:
        if self._step <= 0:
            return len(self._out_t) + len(self._times)  # a zero-length span: every point its own
        return min(self._columns - 1, max(0, math.floor((t - self._first) / self._step)))

    def _flush(self) -> None:
        times, rows = self._times, self._rows
        if len(rows) <= 2:
            self._out_t.extend(times)
            for i, col in enumerate(self._out):
                col.extend(row[i] for row in rows)
        else:
            first, second = _extremes(np.asarray(rows, dtype=np.float64))
            self._out_t.extend((times[0], times[-1]))
            for i, col in enumerate(self._out):
                col.extend((float(first[i]), float(second[i])))
        self._times, self._rows = [], []


def _extremes(block: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per column of ``block`` (points x columns): its min and max in the order they occurred
    (first occurrence of each, NaN ignored; NaN for a column without values)."""
    missing = np.isnan(block)
    low = np.where(missing, np.inf, block).argmin(axis=0)
    high = np.where(missing, -np.inf, block).argmax(axis=0)
    columns = np.arange(block.shape[1])
    first = block[np.minimum(low, high), columns]
    second = block[np.maximum(low, high), columns]
    empty = missing.all(axis=0)
    first[empty] = second[empty] = math.nan
    return first, second


def minmax_downsample(
    times: Sequence[float], values: Sequence[Sequence[float]], columns: int = DISPLAY_COLUMNS
) -> tuple[FloatArray, list[FloatArray]]:
    """The whole-series form of :class:`MinMaxColumns` (``values``: one sequence per column)."""
    if not times:
        return np.zeros(0), [np.zeros(0) for _ in values]
    sampler = MinMaxColumns(min(times), max(times), len(values), columns)
    for i, t in enumerate(times):
        sampler.add(t, [col[i] for col in values])
    return sampler.finish()
