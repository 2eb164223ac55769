"""The interval series on disk: appended while the run goes, read back one slice at a time.

Why: a run's interval series grows with its duration (a decoded interval histogram is about
140 KB). Writing each interval to ``latency.hlog`` once it is final, and reading the series back
from the file when a report is built, keeps a day-long soak's memory at the recorder's few open
intervals, and leaves a log that is valid up to the last complete interval when the run is
interrupted or the machine dies (``slo-harness report rebuild DIR`` turns it into a report).

The file is an HdrHistogram interval log (:mod:`harness.measure.hlog`: untagged, ``Tag=<phase>``
and ``Tag=<phase>/service`` lines) with two kinds of comment lines the reference readers skip
(any line starting with ``#`` that is not StartTime/BaseTime):

    #[Counts: 12.000 steady {"offered":200,"sent":200,"ok":199,...}]   before a slice's lines
    #[Run: {...}]                                                     once, after the header
    #[End]                                                            after a run that finished

When an interval is written: as soon as it is complete (:class:`~harness.measure.FlushClock`:
about 0.1 s after its end in one process; on a master once every worker's snapshot for it is in,
at most 2 s after its end), so a SIGKILL loses about the last two seconds at most.

Late parts: lines of one (start, phase) may appear more than once. Whatever reaches the recorder
for an interval already written (the sent/late counts of requests in flight at its end, which are
counted by send time but recorded at completion; a worker snapshot that arrived after the bound)
is written by the next flush as an additional part: a ``#[Counts: ...]`` line with the increments
and, only when the part holds OK responses, histogram lines with the same start and tags. Readers
add the parts: :func:`read_series` (and so ``report rebuild`` and every report) per (start, phase),
the reference readers by summing a tag's lines (a per-interval listing such as
``HistogramLogProcessor``'s shows such an interval on two rows; totals and percentiles over any
range are exact). Nothing is counted twice: a part holds only what arrived after the previous one
was written.

Crash safety: every slice is written with one ``write`` and flushed; a torn last line (the
process died mid-write) is ignored by :func:`read_series`, which reports the log ``complete``
only when ``#[End]`` is present.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, overload

from harness.errors import ArtifactError
from harness.measure.histogram import LatencyHistogram, pin_mmap_threshold
from harness.measure.hlog import (
    COUNT_FIELDS,
    END_LINE,
    SERVICE_TAG_SUFFIX,
    header_lines,
    run_line,
    slice_lines,
)
from harness.measure.result import IntervalRecord, RequestCounts

__all__ = [
    "IntervalLog",
    "IntervalLogWriter",
    "RawInterval",
    "in_time_order",
    "read_series",
    "time_slices",
]

_COUNTS_RE: Final = re.compile(r"^#\[Counts: ([\d.]+) (\S+) (\{.*\})\]$")
_RUN_RE: Final = re.compile(r"^#\[Run: (\{.*\})\]$")
_LINE_RE: Final = re.compile(r"^(?:Tag=([^,]*),)?([\d.]+),([\d.]+),([\d.]+),(\S+)$")
_COUNT_FIELDS: Final = COUNT_FIELDS


class IntervalLogWriter:
    """Appends time slices to an interval log as the run goes (one process, one thread).

    ``meta`` (any JSON object: the run's scenario, phases, target) is written once after the
    header so a report can be rebuilt from the log alone.
    """

    def __init__(self, path: Path, *, start_wall_s: float, meta: Mapping[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: io.TextIOWrapper | None = path.open("w", encoding="utf-8")
        lines = [*header_lines(start_wall_s), run_line(dict(meta))]
        self._write(lines, sync=True)

    def append(self, records: Sequence[IntervalRecord], *, late: bool = False) -> None:
        """Write interval records (any starts and phases): counts, then HDR lines; flushed to
        the OS (a killed process loses none of it; :meth:`sync` for a lost machine). ``late``:
        additional parts of intervals written before (see the module docstring)."""
        by_start: dict[float, list[IntervalRecord]] = {}
        for rec in records:
            by_start.setdefault(rec.start_s, []).append(rec)
        lines: list[str] = []
        for start_s in sorted(by_start):
            lines.extend(slice_lines(by_start[start_s], late=late))
        if lines:
            self._write(lines, sync=False)

    def fileno(self) -> int:
        """The open file's descriptor (for an fsync off the writing thread); -1 once closed."""
        return -1 if self._file is None else self._file.fileno()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._file is None

    def close(self, *, complete: bool) -> None:
        """Mark the log finished (``#[End]``) when ``complete``, fsync and close; idempotent."""
        if self._file is None:
            return
        if complete:
            self._write([END_LINE], sync=True)
        else:
            self._sync()
        self._file.close()
        self._file = None

    def _write(self, lines: list[str], *, sync: bool) -> None:
        if self._file is None:
            raise ValueError(f"{self.path}: interval log already closed")
        self._file.write("\n".join(lines) + "\n")  # one write per slice: no half slices
        self._file.flush()
        if sync:
            self._sync()

    def _sync(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())


@dataclass(frozen=True, slots=True)
class _Key:
    start_s: float
    phase: str


class IntervalLog(Sequence[IntervalRecord]):
    """The interval series of a log file, read lazily: the index holds file offsets only.

    Items are :class:`IntervalRecord` s ordered by start, then by the phase order of first
    appearance; each access reads and decodes its lines again (nothing decoded is kept), so
    iterating over a day of intervals holds one interval at a time.
    """

    def __init__(
        self,
        path: Path,
        keys: list[_Key],
        offsets: list[array[int]],
        *,
        start_wall_s: float | None,
        meta: dict[str, Any],
        complete: bool,
    ) -> None:
        self.path = path
        self._keys = keys
        self._offsets = offsets
        self.start_wall_s = start_wall_s
        self.meta = meta
        self.complete = complete

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def start_span_s(self) -> tuple[float, float] | None:
        """(first, last) interval start, known from the index before anything is decoded."""
        return (self._keys[0].start_s, self._keys[-1].start_s) if self._keys else None

    def open(self) -> io.BufferedReader:
        """The log file, for :meth:`raw` (ArtifactError when it is gone)."""
        try:
            return self.path.open("rb")
        except OSError as exc:
            why = type(exc).__name__
            raise ArtifactError(f"{self.path}: cannot read interval log ({why})") from None

    @overload
    def __getitem__(self, index: int) -> IntervalRecord: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[IntervalRecord]: ...
    def __getitem__(self, index: int | slice) -> IntervalRecord | Sequence[IntervalRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        with self.path.open("rb") as handle:
            return self._record(handle, index)

    def __iter__(self) -> Iterator[IntervalRecord]:
        with self.path.open("rb") as handle:
            for i in range(len(self._keys)):
                yield self._record(handle, i)

    def raw(self, handle: io.BufferedReader, index: int) -> RawInterval:
        """The lines of record ``index`` as text (payloads not decoded): for a one-pass reader
        that decodes each payload its own way (:mod:`harness.measure.scan`)."""
        key = self._keys[index]
        counts = dict.fromkeys(("offered", *_COUNT_FIELDS), 0)
        length_s = 0.0
        latency: list[str] = []
        service: list[str] = []
        for offset in self._offsets[index]:
            handle.seek(offset)
            line = handle.readline().decode("utf-8").rstrip("\n")
            if line.startswith("#[Counts: "):
                match = _COUNTS_RE.match(line)
                assert match is not None  # checked when indexed
                body = json.loads(match.group(3))
                for name in counts:
                    counts[name] += int(body.get(name, 0))
                length_s = max(length_s, float(body.get("length_s", 0.0)))
                continue
            # [Tag=t,]start,length,max,payload: checked by _LINE_RE when indexed
            head, _, payload = line.rpartition(",")
            fields = head.split(",")
            if fields[0].endswith(SERVICE_TAG_SUFFIX):
                service.append(payload)
            else:
                latency.append(payload)
            length_s = max(length_s, float(fields[-2]))
        offered = counts.pop("offered")
        return RawInterval(
            key.start_s, length_s, key.phase, offered, RequestCounts(**counts), latency, service
        )

    def _record(self, handle: io.BufferedReader, index: int) -> IntervalRecord:
        raw = self.raw(handle, index)
        # Decoding allocates a full counts array (about 140 KB, the costly part): the first
        # line of a clock is used as it is, later parts (late worker data) are added to it.
        latency = _decoded(raw.latency)
        latency.out_of_range = raw.counts.out_of_range  # beyond the HDR range: only counted
        return IntervalRecord(
            start_s=raw.start_s,
            length_s=raw.length_s,
            phase=raw.phase,
            offered=raw.offered,
            counts=raw.counts,
            latency=latency,
            service=_decoded(raw.service),
        )


@dataclass(frozen=True, slots=True)
class RawInterval:
    """One record of a log before decoding: its counts and its payloads per clock (several when
    late worker data added parts to the interval)."""

    start_s: float
    length_s: float
    phase: str
    offered: int
    counts: RequestCounts
    latency: list[str]
    service: list[str]


def _decoded(payloads: list[str]) -> LatencyHistogram:
    if not payloads:
        return LatencyHistogram()
    hist = LatencyHistogram.decode(payloads[0])
    for more in payloads[1:]:
        hist.add(LatencyHistogram.decode(more))
    return hist


def read_series(path: Path) -> IntervalLog:
    """Index an interval log (one pass, offsets only). A torn last line is ignored; a malformed
    line anywhere else is an :class:`ArtifactError` naming the file and line."""
    pin_mmap_threshold()  # reading a long log creates and frees two histograms per interval
    index: dict[_Key, array[int]] = {}
    phase_order: dict[str, int] = {}
    start_wall_s: float | None = None
    meta: dict[str, Any] = {}
    complete = False
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read interval log ({type(exc).__name__})") from None
    with handle:
        offset = 0
        for number, raw in enumerate(handle, start=1):
            here, offset = offset, offset + len(raw)
            if not raw.endswith(b"\n"):
                break  # torn last line: the writer died mid-write
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            kind = _classify(path, number, line)
            if isinstance(kind, _Key):
                phase_order.setdefault(kind.phase, len(phase_order))
                index.setdefault(kind, array("q")).append(here)
            elif kind == "start":
                start_wall_s = float(line.split()[1])
            elif kind == "run":
                meta = _run_meta(path, number, line)
            elif kind == "end":
                complete = True
    keys = sorted(index, key=lambda k: (k.start_s, phase_order[k.phase]))
    return IntervalLog(
        path,
        keys,
        [index[k] for k in keys],
        start_wall_s=start_wall_s,
        meta=meta,
        complete=complete,
    )


def _classify(path: Path, number: int, line: str) -> _Key | str | None:
    """None (skip), "start", "run", "end", or the (start, phase) a line belongs to."""
    if line.startswith("#[StartTime: "):
        return "start"
    if line.startswith("#[Run: "):
        return "run"
    if line == END_LINE:
        return "end"
    if line.startswith("#[Counts: "):
        match = _COUNTS_RE.match(line)
        if match is None:
            raise ArtifactError(f"{path}: line {number}: malformed #[Counts: ...] line")
        return _Key(float(match.group(1)), match.group(2))
    if not line.strip() or line.startswith("#") or line.startswith('"StartTimestamp"'):
        return None
    match = _LINE_RE.match(line)
    if match is None:
        raise ArtifactError(f"{path}: line {number}: expected an hlog interval line")
    tag = match.group(1)
    if not tag:
        return None  # the untagged all-phase line is derived data: the tagged ones are kept
    return _Key(float(match.group(2)), tag.removesuffix(SERVICE_TAG_SUFFIX))


def _run_meta(path: Path, number: int, line: str) -> dict[str, Any]:
    match = _RUN_RE.match(line)
    try:
        meta = json.loads(match.group(1)) if match else None
    except ValueError:
        meta = None
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path}: line {number}: malformed #[Run: ...] line")
    return meta


def in_time_order(intervals: Sequence[IntervalRecord]) -> Iterable[IntervalRecord]:
    """``intervals`` by start, then phase, without holding a log's records in memory: an
    :class:`IntervalLog` is already in that order (phases in order of appearance) and is streamed;
    any other sequence is sorted by (start, phase name)."""
    if isinstance(intervals, IntervalLog):
        return intervals
    return sorted(intervals, key=lambda r: (r.start_s, r.phase))


def time_slices(intervals: Sequence[IntervalRecord]) -> Iterator[list[IntervalRecord]]:
    """The records of each start time together (phases meeting inside one interval), in time
    order, phases in their given order; one slice in memory at a time for a log."""
    ordered: Iterable[IntervalRecord] = intervals
    if not isinstance(intervals, IntervalLog):
        ordered = sorted(intervals, key=lambda r: r.start_s)  # stable: phase order kept
    for _, group in itertools.groupby(ordered, key=lambda r: r.start_s):
        yield list(group)
