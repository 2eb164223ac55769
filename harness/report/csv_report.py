"""``windows.csv``: the per-interval table for spreadsheets (RFC 4180 quoting), written as it comes.

One row per interval record (normally one per second and phase), ordered by start then phase.
Latencies are intended-clock latencies of OK responses completed in the interval, in
milliseconds; an empty cell means the interval had no such response (or the percentile lies
beyond the histogram's 60 s range). ``achieved_rps`` counts every completed response
(ok + failed + shed) per second of the interval.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from typing import IO, Final

from harness.report.stats import IntervalRow

__all__ = ["COLUMNS", "WindowsCsvWriter", "render_windows_csv"]

COLUMNS: Final = (
    "start_s",
    "phase",
    "offered",
    "sent",
    "ok",
    "failed",
    "shed",
    "late",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p99_9_ms",
    "max_ms",
    "achieved_rps",
)


class WindowsCsvWriter:
    """Writes windows.csv row by row to a binary file (the header at once), so a day-long series
    is never held as a table. The text is what pandas' ``to_csv`` wrote before (``%.10g`` floats,
    empty cells for missing values, RFC 4180 minimal quoting); a test pins the two together."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._text = io.StringIO()
        self._csv = csv.writer(self._text, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        self._emit(list(COLUMNS))

    def write(self, row: IntervalRow) -> None:
        """One interval's row."""
        c, lat = row.counts, row.latency
        self._emit(
            [
                _float(row.start_s),
                row.phase,
                str(row.offered),
                *(str(v) for v in (c.sent, c.ok, c.failed, c.shed, c.late)),
                *(_float(v) for v in (lat.p50, lat.p90, lat.p99, lat.p99_9, lat.max)),
                _float(row.achieved_rps),
            ]
        )

    def _emit(self, cells: list[str]) -> None:
        self._csv.writerow(cells)
        self._out.write(self._text.getvalue().encode("utf-8"))
        self._text.seek(0)
        self._text.truncate()


def _float(value: float | None) -> str:
    # %.10g prints the already-rounded values exactly (3 decimals of ms, 6 significant digits of
    # rates) without float noise such as 2.0030000000000001.
    return "" if value is None or math.isnan(value) else f"{value:.10g}"


def render_windows_csv(rows: Iterable[IntervalRow]) -> bytes:
    """The CSV bytes of ``rows`` (UTF-8, ``\\n`` line ends, header row always present)."""
    out = io.BytesIO()
    writer = WindowsCsvWriter(out)
    for row in rows:
        writer.write(row)
    return out.getvalue()
