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

Three series, one line each per interval, in time order:

- untagged: the intended-clock latencies of OK responses across all phases (intervals that share
  a start time, several phases overlapping one second at a boundary, are merged into one line):
  what a tool that knows no tags shows;
- ``Tag=<phase>``: the same latencies of one phase only, so an interval spanning two phases no
  longer mixes them and ``HistogramLogProcessor -tag <phase>`` reproduces the report's per-phase
  figures (all endpoints, intended clock);
- ``Tag=<phase>/service``: the service-time clock (actual send to response) of the same responses
  (``/`` cannot occur in a phase name, so the tags never collide). Omitted for a series that has
  no service-time data (one read back from ``report.json``).

StartTime's number and its ISO text come from one integer count of milliseconds, so they always
name the same instant (formatting a float twice could round one and truncate the other).
Out-of-range counts are not part of the HDR encoding and are not kept here (``report.json``
carries them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, NamedTuple

from harness.errors import ArtifactError
from harness.files import atomic_writer
from harness.measure.histogram import LatencyHistogram
from harness.measure.result import Clock, IntervalRecord

__all__ = [
    "END_LINE",
    "FORMAT_VERSION",
    "LEGEND",
    "SERVICE_TAG_SUFFIX",
    "HlogInterval",
    "counts_line",
    "header_lines",
    "interval_line",
    "iter_hlog",
    "phase_tag",
    "read_hlog",
    "run_line",
    "slice_lines",
    "write_hlog",
]

FORMAT_VERSION: Final = "1.3"
LEGEND: Final = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'
#: Appended to a phase's tag for its service-time series.
SERVICE_TAG_SUFFIX: Final = "/service"
#: The last line of a log whose run finished (readers call a log without it incomplete).
END_LINE: Final = "#[End]"
#: Request counters of an interval, in the order of :class:`RequestCounts`.
COUNT_FIELDS: Final = ("sent", "ok", "failed", "shed", "late", "unsent", "out_of_range")
_TAG_RE: Final = re.compile(r"^[^,\s]+$")
_LINE_RE: Final = re.compile(r"^(?:Tag=([^,]*),)?([\d.]+),([\d.]+),([\d.]+),(\S+)$")


class HlogInterval(NamedTuple):
    """One line of an hlog: start (s, relative to BaseTime), length (s), its histogram and tag
    (None for an untagged line)."""

    start_s: float
    length_s: float
    histogram: LatencyHistogram
    tag: str | None = None


def phase_tag(phase: str, clock: Clock = Clock.INTENDED) -> str:
    """The tag of ``phase``'s series on ``clock`` (``steady``, ``steady/service``)."""
    tag = phase + (SERVICE_TAG_SUFFIX if clock is Clock.SERVICE else "")
    if not _TAG_RE.match(tag):
        raise ValueError(f"hlog tag must be non-empty without commas or spaces, got {tag!r}")
    return tag


def header_lines(start_wall_s: float) -> list[str]:
    """Version, StartTime (number and ISO text of the same millisecond), BaseTime, legend."""
    ms = round(start_wall_s * 1000)
    number = f"{ms // 1000}.{ms % 1000:03d}"
    when = datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000)
    return [
        f"#[Histogram log format version {FORMAT_VERSION}]",
        f"#[StartTime: {number} (seconds since epoch), {when.isoformat(timespec='milliseconds')}]",
        f"#[BaseTime: {number} (seconds since epoch)]",
        LEGEND,
    ]


def interval_line(tag: str | None, start_s: float, length_s: float, hist: LatencyHistogram) -> str:
    """One interval line (no newline); the max column in milliseconds."""
    if start_s < 0:
        raise ValueError(f"interval start must be >= 0 (relative to the run), got {start_s}")
    prefix = f"Tag={tag}," if tag else ""
    return f"{prefix}{start_s:.3f},{length_s:.3f},{hist.max_us / 1000.0:.3f},{hist.encode()}"


def counts_line(rec: IntervalRecord) -> str:
    """The ``#[Counts: START PHASE {json}]`` comment of one interval (reference readers skip it)."""
    body: dict[str, float] = {"offered": rec.offered}
    body.update({f: getattr(rec.counts, f) for f in COUNT_FIELDS})
    body["length_s"] = rec.length_s
    return f"#[Counts: {rec.start_s:.3f} {rec.phase} {json.dumps(body, separators=(',', ':'))}]"


def run_line(meta: dict[str, object]) -> str:
    """The ``#[Run: {json}]`` comment: what a report rebuilt from the log needs about the run."""
    return f"#[Run: {json.dumps(meta, sort_keys=True, separators=(',', ':'))}]"


def write_hlog(
    path: Path,
    intervals: Sequence[IntervalRecord],
    *,
    start_wall_s: float,
    meta: dict[str, object] | None = None,
) -> None:
    """Write ``intervals`` (offsets from ``start_wall_s``, epoch seconds) to ``path`` atomically:
    the untagged all-phase series plus each phase's tagged series on both clocks, each interval's
    counts as a comment, ``meta`` as the ``#[Run: ...]`` line, and ``#[End]``."""
    from harness.measure.intervallog import IntervalLog, time_slices  # it builds on this module

    # A log (read lazily) keeps its service lines; scanning it for them would decode it twice.
    with_service = isinstance(intervals, IntervalLog) or any(r.service.count for r in intervals)
    lines = header_lines(start_wall_s)
    if meta is not None:
        lines.append(run_line(meta))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as out:
        out.write(("\n".join(lines) + "\n").encode("utf-8"))
        for records in time_slices(intervals):
            text = "\n".join(slice_lines(records, with_service=with_service)) + "\n"
            out.write(text.encode("utf-8"))
        out.write((END_LINE + "\n").encode("utf-8"))


def slice_lines(
    records: Sequence[IntervalRecord], *, with_service: bool = True, late: bool = False
) -> list[str]:
    """The lines of one time slice: records sharing a start (one per phase, in the given order).

    ``late``: an additional part of a slice written before (see
    :mod:`harness.measure.intervallog`): histogram lines only where it has responses, so a part
    that only corrects counts is a comment the reference readers skip.
    """
    if not records:
        return []
    start_s = records[0].start_s
    merged = LatencyHistogram()
    length_s = 0.0
    for rec in records:
        if rec.latency.count or not late:
            merged.add(rec.latency)
        length_s = max(length_s, rec.length_s)
    lines = [counts_line(rec) for rec in records]
    if merged.count or not late:
        lines.append(interval_line(None, start_s, length_s, merged))
    for rec in records:
        if late and not (rec.latency.count or rec.service.count):
            continue
        lines.append(interval_line(phase_tag(rec.phase), start_s, rec.length_s, rec.latency))
        if with_service:
            tag = phase_tag(rec.phase, Clock.SERVICE)
            lines.append(interval_line(tag, start_s, rec.length_s, rec.service))
    return lines


def read_hlog(path: Path, tag: str | None = None) -> list[HlogInterval]:
    """The lines of one series (``tag``; None: the untagged one), in file order, as Java's
    ``HistogramLogReader`` selects them. Raises ArtifactError naming the file and line."""
    return [interval for interval in iter_hlog(path) if interval.tag == tag]


def iter_hlog(path: Path) -> Iterator[HlogInterval]:
    """Every interval line of an interval log (ours or any v1.x writer's), streamed in file order.

    Raises ArtifactError naming the file and line when it cannot be read.
    """
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read hlog ({exc.__class__.__name__})") from None
    with handle:
        number = 0
        try:
            for number, line in enumerate(handle, start=1):
                parsed = _parse(path, number, line)
                if parsed is not None:
                    yield parsed
        except (OSError, UnicodeDecodeError) as exc:
            raise ArtifactError(
                f"{path}: line {number + 1}: cannot read hlog ({exc.__class__.__name__})"
            ) from None


def _parse(path: Path, number: int, line: str) -> HlogInterval | None:
    text = line.strip()
    if not text or text.startswith("#") or text.startswith('"StartTimestamp"'):
        return None
    match = _LINE_RE.match(text)
    if match is None:
        raise ArtifactError(f"{path}: line {number}: expected an hlog interval line")
    try:
        hist = LatencyHistogram.decode(match.group(5))
    except Exception as exc:  # hdrh raises assorted errors on a corrupt payload
        raise ArtifactError(
            f"{path}: line {number}: undecodable histogram ({exc.__class__.__name__})"
        ) from None
    return HlogInterval(float(match.group(2)), float(match.group(3)), hist, match.group(1))
