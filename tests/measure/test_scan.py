"""One pass over an interval series: each payload decoded once, the histogram path's numbers."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ArtifactError
from harness.measure import (
    COUNTERS_LEN,
    CountersSum,
    Distribution,
    IntervalLogWriter,
    IntervalRecord,
    IntervalView,
    LatencyHistogram,
    RequestCounts,
    distribution,
    histogram_from_counters,
    read_series,
    scan_series,
)

START = 1_700_000_000.0


def _rec(start_s: float, phase: str, rng: random.Random, n: int) -> IntervalRecord:
    latency, service = LatencyHistogram(), LatencyHistogram()
    for _ in range(n):
        value = int(rng.lognormvariate(8.5, 0.8))
        latency.record(value)
        service.record(value // 3 + 1)
    slow = 1 if rng.random() < 0.2 else 0
    latency.out_of_range = slow  # a response slower than 60 s: counted, not in the buckets
    return IntervalRecord(
        start_s=start_s,
        length_s=1.0,
        phase=phase,
        offered=n + 2,
        counts=RequestCounts(sent=n + 1, ok=n, failed=1, out_of_range=slow),
        latency=latency,
        service=service,
    )


def _log(tmp_path: Path) -> tuple[Path, list[IntervalRecord]]:
    """Two phases meeting at t=3 (one slice, two records), a late part added to t=1, an empty
    interval."""
    rng = random.Random(7)
    records = [_rec(float(t), "warmup", rng, 40) for t in range(4)]
    records += [_rec(float(t), "steady", rng, 60) for t in range(3, 8)]
    records.append(_rec(8.0, "steady", rng, 0))
    path = tmp_path / "latency.hlog"
    writer = IntervalLogWriter(path, start_wall_s=START, meta={})
    writer.append(records)
    writer.append([_rec(1.0, "warmup", rng, 25)])  # late worker data for an interval written
    writer.close(complete=True)
    return path, records


def _row(
    head: tuple[float, str, int, RequestCounts],
    latency: Distribution,
    service: Distribution,
    encoded: str,
) -> tuple[object, ...]:
    return (
        *head,
        latency.values_us.tolist(),
        latency.counts.tolist(),
        latency.out_of_range,
        service.values_us.tolist(),
        service.counts.tolist(),
        encoded,
    )


class _Keep:
    """Copies what a consumer would keep from each view."""

    def __init__(self) -> None:
        self.rows: list[tuple[object, ...]] = []
        self.latency = np.zeros(COUNTERS_LEN, dtype=np.int64)

    def feed(self, view: IntervalView) -> None:
        dist = view.latency.distribution()
        service = view.service.distribution() if view.service is not None else dist
        head = (view.start_s, view.phase, view.offered, view.counts)
        self.rows.append(_row(head, dist, service, view.encoded()))
        view.latency.add_to(self.latency)


def _reference(records: list[IntervalRecord]) -> list[tuple[object, ...]]:
    return [
        _row(
            (r.start_s, r.phase, r.offered, r.counts),
            distribution(r.latency),
            distribution(r.service),
            r.latency.encode(),
        )
        for r in records
    ]


def test_a_log_scanned_once_gives_the_histogram_paths_numbers(tmp_path: Path) -> None:
    """Every view of a log (late parts added, empty intervals) holds exactly the buckets, counts,
    out-of-range and encoding the decoded records have, in the log's order."""
    path, _ = _log(tmp_path)
    log = read_series(path)
    keep = _Keep()
    scan_series(log, [keep], service=True)
    assert keep.rows == _reference(list(log))


def test_an_in_memory_series_scans_like_its_log(tmp_path: Path) -> None:
    """The same records in memory and from their log give the same views (by start; phases of
    one start come in the log's order of appearance there, by name in memory)."""
    path, records = _log(tmp_path)
    records = list(read_series(path))  # with the late part merged
    from_log, in_memory = _Keep(), _Keep()
    scan_series(read_series(path), [from_log], service=True)
    scan_series(records[::-1], [in_memory], service=True)
    assert sorted(from_log.rows, key=_by_start_phase) == in_memory.rows


def _by_start_phase(row: tuple[object, ...]) -> tuple[str, str]:
    return f"{row[0]:012.3f}", str(row[1])


def test_counters_rebuild_the_histogram_a_sum_of_decodes_gives(tmp_path: Path) -> None:
    """Summed counters -> histogram: same encoding, count, min and max as adding the histograms."""
    path, _ = _log(tmp_path)
    keep = _Keep()
    scan_series(read_series(path), [keep], service=True)
    total = LatencyHistogram()
    for rec in read_series(path):
        total.add(rec.latency)
    rebuilt = histogram_from_counters(keep.latency)
    assert (rebuilt.encode(), rebuilt.count, rebuilt.min_us, rebuilt.max_us) == (
        total.encode(),
        total.count,
        total.min_us,
        total.max_us,
    )


def test_a_counters_sum_equals_the_merged_histogram(tmp_path: Path) -> None:
    """CountersSum over views (one record, then several, then another sum absorbed) has the
    distribution of the merged histograms, out-of-range included."""
    path, _ = _log(tmp_path)
    records = list(read_series(path))

    class Sums:
        def __init__(self) -> None:
            self.first, self.rest = CountersSum(), CountersSum()

        def feed(self, view: IntervalView) -> None:
            (self.first if view.start_s < 2 else self.rest).add(view.latency)

    sums = Sums()
    scan_series(read_series(path), [sums])
    merged = LatencyHistogram()
    for rec in records:
        merged.add(rec.latency)
    sums.first.absorb(sums.rest)
    got, want = sums.first.distribution(), distribution(merged)
    assert got.values_us.tolist() == want.values_us.tolist()
    assert got.counts.tolist() == want.counts.tolist()
    assert got.out_of_range == want.out_of_range


def test_a_corrupt_payload_names_the_log(tmp_path: Path) -> None:
    """A payload that is not an HDR encoding is an ArtifactError naming the file."""
    path, _ = _log(tmp_path)
    text = path.read_text()
    corrupt = re.sub(
        r"(Tag=steady,3\.000,1\.000,[\d.]+,)\S+", r"\1HISTFAAAAnotbase64", text, count=1
    )
    assert corrupt != text
    path.write_text(corrupt)
    with pytest.raises(ArtifactError, match="undecodable histogram"):
        scan_series(read_series(path), [_Keep()], service=True)
