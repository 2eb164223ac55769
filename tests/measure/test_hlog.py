"""latency.hlog: HdrHistogram interval log v1.3 that our reader and hdrh's own reader both read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ArtifactError
from harness.measure import (
    Clock,
    IntervalRecord,
    LatencyHistogram,
    RequestCounts,
    read_hlog,
    write_hlog,
)
from harness.measure.hlog import LEGEND, header_lines, iter_hlog, phase_tag

GOLDEN = Path(__file__).parent / "golden" / "latency.hlog"
START = 1_700_000_000.125  # fixed wall-clock start: golden output must not depend on "now"


def _interval(
    start_s: float, values: list[int], phase: str = "steady", service: list[int] | None = None
) -> IntervalRecord:
    hist = LatencyHistogram()
    for v in values:
        hist.record(v)
    svc = LatencyHistogram()
    for v in service or []:
        svc.record(v)
    return IntervalRecord(
        start_s=start_s,
        length_s=1.0,
        phase=phase,
        offered=len(values),
        counts=RequestCounts(sent=len(values), ok=len(values)),
        latency=hist,
        service=svc,
    )


def _fixed_series() -> list[IntervalRecord]:
    # Deterministic data: a 2 ms body with a 40 ms tail, and one stalled second.
    out = []
    for second in range(5):
        values = [2_000 + 7 * k for k in range(98)] + [40_000, 41_500]
        if second == 3:
            values += [700_000, 950_000]
        out.append(_interval(float(second), values))
    return out


def test_header_lines_and_units(tmp_path: Path) -> None:
    """The file opens with version, StartTime, BaseTime and legend; max is in milliseconds."""
    path = tmp_path / "latency.hlog"
    write_hlog(path, _fixed_series(), start_wall_s=START)
    lines = path.read_text().splitlines()
    assert lines[0] == "#[Histogram log format version 1.3]"
    assert lines[1].startswith(
        "#[StartTime: 1700000000.125 (seconds since epoch), 2023-11-14T22:13"
    )
    assert lines[2] == "#[BaseTime: 1700000000.125 (seconds since epoch)]"
    assert lines[3] == LEGEND
    untagged = [line for line in lines[4:] if not line.startswith(("#", "Tag="))]
    start, length, max_ms, payload = untagged[3].split(",")
    assert (start, length) == ("3.000", "1.000")
    assert float(max_ms) == pytest.approx(950.0, rel=1e-3)  # ms, not us, not 0
    assert payload.startswith("HISTF")


def test_roundtrip_keeps_counts_and_percentiles(tmp_path: Path) -> None:
    """read_hlog returns each interval's start, length and an identical histogram."""
    path = tmp_path / "latency.hlog"
    series = _fixed_series()
    write_hlog(path, series, start_wall_s=START)
    back = read_hlog(path)
    assert [(b.start_s, b.length_s) for b in back] == [(s.start_s, s.length_s) for s in series]
    for original, read in zip(series, back, strict=True):
        assert read.histogram.encode() == original.latency.encode()
        assert read.histogram.percentiles_us([50, 99, 99.9]) == original.latency.percentiles_us(
            [50, 99, 99.9]
        )


def test_library_reader_reads_our_file(tmp_path: Path) -> None:
    """hdrh's HistogramLogReader reads the file with identical counts, bucket by bucket."""
    path = tmp_path / "latency.hlog"
    series = _fixed_series()
    write_hlog(path, series, start_wall_s=START)
    reader = HistogramLogReader(str(path), HdrHistogram(1, 60_000_000, 3))
    try:
        got = []
        while (hist := reader.get_next_interval_histogram()) is not None:
            got.append(hist)
        assert reader.get_start_time_sec() == pytest.approx(START)
    finally:
        reader.input_file.close()
    untagged = got[::2]  # hdrh 0.10 reads tagged lines too (no tag API): untagged, Tag=steady, ...
    assert len(untagged) == len(series)
    for lib, ours in zip(untagged, series, strict=True):
        assert lib.get_total_count() == ours.latency.count
        assert LatencyHistogram(lib).encode() == ours.latency.encode()
    assert untagged[3].get_start_time_stamp() == pytest.approx((START + 3.0) * 1000)


def test_golden_file_matches_byte_for_byte(tmp_path: Path) -> None:
    """Fixed data and start time give exactly the committed golden file."""
    path = tmp_path / "latency.hlog"
    series = _fixed_series()
    series[1] = _interval(1.0, [2_000, 2_100], service=[1_900, 2_000])
    series.insert(2, _interval(1.0, [5_000], phase="ramp", service=[4_000]))
    write_hlog(path, series, start_wall_s=START)
    if os.environ.get("UPDATE_GOLDEN") == "1":  # regenerate deliberately, then review the diff
        GOLDEN.write_bytes(path.read_bytes())
    assert path.read_bytes() == GOLDEN.read_bytes()


def test_intervals_sharing_a_start_are_merged(tmp_path: Path) -> None:
    """Two phases overlapping one second: one untagged line with both, one tagged line each."""
    path = tmp_path / "latency.hlog"
    write_hlog(
        path,
        [_interval(0.0, [1000]), _interval(1.0, [2000], "warmup"), _interval(1.0, [3000])],
        start_wall_s=START,
    )
    assert [b.histogram.count for b in read_hlog(path)] == [1, 2]
    assert [b.start_s for b in read_hlog(path, "warmup")] == [1.0]
    assert [b.histogram.max_us for b in read_hlog(path, "steady")] == [1000, 3001]


def test_service_clock_is_its_own_tag(tmp_path: Path) -> None:
    """Each phase's service-time histogram is the series Tag=<phase>/service."""
    path = tmp_path / "latency.hlog"
    write_hlog(path, [_interval(0.0, [5000, 6000], service=[900, 1000])], start_wall_s=START)
    lines = path.read_text().splitlines()[4:]
    assert lines[0].startswith("#[Counts: 0.000 steady {")
    assert lines[-1] == "#[End]"
    (svc,) = read_hlog(path, phase_tag("steady", Clock.SERVICE))
    assert svc.tag == "steady/service"
    assert (svc.histogram.count, svc.histogram.max_us) == (2, 1000)
    assert [i.tag for i in iter_hlog(path)] == [None, "steady", "steady/service"]


def test_series_without_service_data_has_no_service_tag(tmp_path: Path) -> None:
    """A series read back from report.json (no service histograms) writes no empty service lines."""
    path = tmp_path / "latency.hlog"
    write_hlog(path, _fixed_series()[:1], start_wall_s=START)
    assert path.read_text().splitlines()[6].startswith("Tag=steady,0.000,1.000,")
    assert {i.tag for i in iter_hlog(path)} == {None, "steady"}


@pytest.mark.parametrize("phase", ["", "a,b", "two words"])
def test_bad_tags_are_refused(phase: str) -> None:
    """Tags that would break the CSV line are refused (phase names never contain these)."""
    with pytest.raises(ValueError, match="tag"):
        phase_tag(phase)


@pytest.mark.parametrize(
    ("start", "number", "iso"),
    [
        (1_700_000_000.9996, "1700000001.000", "2023-11-14T22:13:21.000+00:00"),
        (1_700_000_000.0004, "1700000000.000", "2023-11-14T22:13:20.000+00:00"),
        (1_700_000_000.125, "1700000000.125", "2023-11-14T22:13:20.125+00:00"),
    ],
)
def test_start_time_number_and_text_agree(start: float, number: str, iso: str) -> None:
    """StartTime's seconds and its ISO text name the same millisecond (no round vs truncate)."""
    line = header_lines(start)[1]
    assert line == f"#[StartTime: {number} (seconds since epoch), {iso}]"


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the final rename fails, the previous file survives and no temp file is left."""
    path = tmp_path / "latency.hlog"
    path.write_text("previous\n")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_hlog(path, _fixed_series(), start_wall_s=START)
    assert path.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["latency.hlog"]


def test_empty_series_is_a_valid_log(tmp_path: Path) -> None:
    """No intervals still gives a header-only file that reads back as empty."""
    path = tmp_path / "latency.hlog"
    write_hlog(path, [], start_wall_s=START)
    assert read_hlog(path) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("#[Histogram log format version 1.3]\nnot,an,interval\n", "line 2"),
        ("0.000,1.000,1.000,HISTFAAAnotbase64!!\n", "undecodable"),
    ],
)
def test_corrupt_log_is_an_artifact_error(tmp_path: Path, content: str, message: str) -> None:
    """A malformed line names the file and line number."""
    path = tmp_path / "bad.hlog"
    path.write_text(content)
    with pytest.raises(ArtifactError, match=message):
        read_hlog(path)


def test_missing_log_is_an_artifact_error(tmp_path: Path) -> None:
    """A missing file is an ArtifactError, not a traceback."""
    with pytest.raises(ArtifactError, match="cannot read"):
        read_hlog(tmp_path / "nope.hlog")


@settings(max_examples=25, deadline=None)
@given(
    series=st.lists(
        st.lists(st.integers(min_value=1, max_value=60_000_000), min_size=0, max_size=30),
        max_size=6,
    )
)
def test_roundtrip_property(
    tmp_path_factory: pytest.TempPathFactory, series: list[list[int]]
) -> None:
    """Any series of interval histograms survives write + read with identical encodings."""
    path = tmp_path_factory.mktemp("hlog") / "latency.hlog"
    records = [_interval(float(i), values) for i, values in enumerate(series)]
    write_hlog(path, records, start_wall_s=START)
    back = read_hlog(path)
    assert [b.histogram.encode() for b in back] == [r.latency.encode() for r in records]
