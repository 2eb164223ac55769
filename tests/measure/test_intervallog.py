"""The interval log: appended during the run, read back lazily, valid up to a torn last line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ArtifactError
from harness.measure import (
    IntervalLogWriter,
    IntervalRecord,
    LatencyHistogram,
    RequestCounts,
    read_series,
    write_hlog,
)

START = 1_700_000_000.125


def _rec(
    start_s: float, values: list[int], phase: str = "steady", failed: int = 0
) -> IntervalRecord:
    latency, service = LatencyHistogram(), LatencyHistogram()
    for v in values:
        latency.record(v)
        service.record(v // 2)
    n = len(values)
    return IntervalRecord(
        start_s=start_s,
        length_s=1.0,
        phase=phase,
        offered=n + failed,
        counts=RequestCounts(sent=n + failed, ok=n, failed=failed),
        latency=latency,
        service=service,
    )


def _same(a: IntervalRecord, b: IntervalRecord) -> bool:
    return (a.start_s, a.phase, a.offered, a.counts, a.latency.encode(), a.service.encode()) == (
        b.start_s,
        b.phase,
        b.offered,
        b.counts,
        b.latency.encode(),
        b.service.encode(),
    )


def test_appended_slices_read_back_exactly(tmp_path: Path) -> None:
    """Records appended slice by slice come back equal, ordered by start then phase."""
    path = tmp_path / "latency.hlog"
    log = IntervalLogWriter(path, start_wall_s=START, meta={"scenario": "steady"})
    records = [_rec(0.0, [1000, 2000], "warmup"), _rec(1.0, [3000], "warmup", failed=2)]
    records += [_rec(1.0, [4000, 5000]), _rec(2.0, [6000])]
    log.append(records[:2])
    log.append(records[2:])
    log.close(complete=True)
    series = read_series(path)
    assert (series.complete, series.meta, series.start_wall_s) == (
        True,
        {"scenario": "steady"},
        START,
    )
    assert len(series) == 4
    assert all(_same(a, b) for a, b in zip(series, records, strict=True))
    assert _same(series[2], records[2])


def test_a_late_part_of_a_written_interval_adds_to_it(tmp_path: Path) -> None:
    """A second write for the same (start, phase) (a late worker snapshot) is merged exactly."""
    path = tmp_path / "latency.hlog"
    log = IntervalLogWriter(path, start_wall_s=START, meta={})
    log.append([_rec(0.0, [1000])])
    log.append([_rec(5.0, [9000])])
    log.append([_rec(0.0, [2000], failed=1)])
    log.close(complete=False)
    first = read_series(path)[0]
    assert (first.counts.ok, first.counts.failed, first.latency.count) == (2, 1, 2)
    assert first.service.max_us == pytest.approx(1000, rel=1e-3)
    assert not read_series(path).complete


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    """A log cut mid-line (the process died mid-write) is valid up to the last complete line."""
    path = tmp_path / "latency.hlog"
    log = IntervalLogWriter(path, start_wall_s=START, meta={})
    log.append([_rec(0.0, [1000]), _rec(1.0, [2000])])
    log.close(complete=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 20])  # the last service line loses its end
    series = read_series(path)
    assert [r.start_s for r in series] == [0.0, 1.0]
    assert series[1].latency.count == 1
    assert series[1].service.count == 0
    assert not series.complete


def test_write_hlog_output_is_a_readable_series(tmp_path: Path) -> None:
    """The report's latency.hlog (write_hlog) is an interval log too: report rebuild reads it."""
    path = tmp_path / "latency.hlog"
    records = [_rec(float(s), [1000 + s, 9000], failed=s % 2) for s in range(5)]
    write_hlog(path, records, start_wall_s=START, meta={"k": 1})
    series = read_series(path)
    assert series.complete
    assert series.meta == {"k": 1}
    assert all(_same(a, b) for a, b in zip(series, records, strict=True))


def test_malformed_counts_line_names_file_and_line(tmp_path: Path) -> None:
    """A broken comment line of ours is an ArtifactError with the line number."""
    path = tmp_path / "bad.hlog"
    path.write_text("#[Histogram log format version 1.3]\n#[Counts: x]\n")
    with pytest.raises(ArtifactError, match="line 2"):
        read_series(path)
