"""``latency.hlog``: the interval series in HdrHistogram's interval log format (v1.3).

Why our own writer: hdrh 0.10.8's ``HistogramLogWriter`` crashes in ``output_start_time``
(``datetime.iso_format`` does not exist) and writes the interval-max column as
``max // 1e6``, which is 0 for microsecond data. The format is small, so this module writes it
directly, the way the Java ``HistogramLogWriter`` does:

    #[Histogram log format version 1.3]
    #[StartTime: 1700000000.000 (seconds since epoch), 2023-11-14T22:13:20.000+00:00]
    #[BaseTime: 1700000000.000 (seconds since epoch)]
    "StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
    0.000,1.000,2.003,HISTFAAAA...

Units: timestamps and lengths in seconds (start relative to BaseTime, 3 decimals); the interval
max in **milliseconds**; histogram values in **microseconds**. The standard tools assume
nanoseconds, so run ``HistogramLogProcessor -i latency.hlog -outputValueUnitRatio 1000`` to get
percentiles printed in milliseconds (and scale the plotter's axis likewise).

Intervals that share a start time (several phases overlapping one second at a boundary) are merged
into one line, so each line is one time slice across the whole run. Out-of-range counts are not
part of the HDR encoding and are not kept here (``report.json`` carries them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, NamedTuple

from harness.errors import ArtifactError
from harness.files import atomic_write_bytes
from harness.measure.histogram import LatencyHistogram
from harness.measure.result import IntervalRecord

__all__ = ["FORMAT_VERSION", "LEGEND", "HlogInterval", "read_hlog", "write_hlog"]

FORMAT_VERSION: Final = "1.3"
LEGEND: Final = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
_TAG_RE: Final = re.compile(r"^[^,\s]+$")
_LINE_RE: Final = re.compile(r"^(?:Tag=([^,]*),)?([\d.]+),([\d.]+),([\d.]+),(\S+)$")


class HlogInterval(NamedTuple):
    """One line of an hlog: start (s, relative to BaseTime), length (s) and its histogram."""

    start_s: float
    length_s: float
    histogram: LatencyHistogram


def write_hlog(
    path: Path,
    intervals: Sequence[IntervalRecord],
    *,
    start_wall_s: float,
    tag: str | None = None,
) -> None:
    """Write ``intervals`` (offsets from ``start_wall_s``, epoch seconds) to ``path`` atomically."""
    if tag is not None and not _TAG_RE.match(tag):
        raise ValueError(f"hlog tag must be non-empty without commas or spaces, got {tag!r}")
    lines = [
        f"#[Histogram log format version {FORMAT_VERSION}]",
        f"#[StartTime: {start_wall_s:.3f} (seconds since epoch), {_iso(start_wall_s)}]",
        f"#[BaseTime: {start_wall_s:.3f} (seconds since epoch)]",
        LEGEND,
    ]
    prefix = f"Tag={tag}," if tag else ""
    for start_s, length_s, hist in _merged(intervals):
        if start_s < 0:
            raise ValueError(f"interval start must be >= 0 (relative to the run), got {start_s}")
        max_ms = hist.max_us / 1000.0
        lines.append(f"{prefix}{start_s:.3f},{length_s:.3f},{max_ms:.3f},{hist.encode()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))


def read_hlog(path: Path) -> list[HlogInterval]:
    """Read an interval log (ours or any v1.x writer's); lines come back in file order.

    Raises ArtifactError naming the file and line when it cannot be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read hlog ({exc.__class__.__name__})") from None
    out: list[HlogInterval] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#") or line.startswith('"StartTimestamp"'):
            continue
        match = _LINE_RE.match(line.strip())
        if match is None:
            raise ArtifactError(f"{path}: line {number}: expected an hlog interval line")
        try:
            hist = LatencyHistogram.decode(match.group(5))
            out.append(HlogInterval(float(match.group(2)), float(match.group(3)), hist))
        except Exception as exc:  # hdrh raises assorted errors on a corrupt payload
            raise ArtifactError(
                f"{path}: line {number}: undecodable histogram ({exc.__class__.__name__})"
            ) from None
    return out


def _merged(intervals: Sequence[IntervalRecord]) -> list[tuple[float, float, LatencyHistogram]]:
    by_start: dict[float, tuple[float, LatencyHistogram]] = {}
    for rec in intervals:
        if rec.start_s in by_start:
            length, hist = by_start[rec.start_s]
            hist.add(rec.latency)
            by_start[rec.start_s] = (max(length, rec.length_s), hist)
        else:
            by_start[rec.start_s] = (rec.length_s, rec.latency.copy())
    return [(start, length, hist) for start, (length, hist) in sorted(by_start.items())]


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")
