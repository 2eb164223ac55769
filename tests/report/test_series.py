"""The reports' one pass over the series: the same rows, documents and plotted points as the
in-memory path, bounded output for long series, large files streamed."""

from __future__ import annotations

import hashlib
import io
import math
import os
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_support import provenance as provenance_for

from harness.errors import IntegrityError
from harness.measure import (
    IntervalLogWriter,
    IntervalRecord,
    LatencyHistogram,
    RequestCounts,
    distribution,
    read_series,
    time_slices,
)
from harness.report.csv_report import COLUMNS, render_windows_csv
from harness.report.downsample import minmax_downsample
from harness.report.inputs import ReportInputs
from harness.report.json_report import build_document, canonical_json
from harness.report.pan_guard import check_file_no_pans
from harness.report.series import fed_report_series
from harness.report.stats import interval_rows
from harness.report.writer import copy_log
from harness.slo import Verdict, VerdictStatus
from harness.testing import run_result

START = 1_700_000_000.0


def _rec(start_s: float, phase: str, values: list[int], failed: int = 0) -> IntervalRecord:
    latency = LatencyHistogram()
    for v in values:
        latency.record(v)
    n = len(values)
    return IntervalRecord(
        start_s,
        1.0,
        phase,
        n + failed,
        RequestCounts(sent=n + failed, ok=n, failed=failed),
        latency,
    )


def _records() -> list[IntervalRecord]:
    rng = np.random.default_rng(3)
    out = []
    for t in range(12):
        phase = "ramp" if t < 7 else "steady"
        values = rng.lognormal(8.0, 0.7, 30 + 10 * t).astype(np.int64).tolist()
        out.append(_rec(float(t), phase, values, failed=t % 3))
        if t == 6:
            out.append(_rec(6.0, "steady", values[:5]))  # two phases inside one second
    out.append(_rec(12.0, "steady", []))  # no OK response: empty cells, a gap in the plot
    return out


def _log(tmp_path: Path, records: list[IntervalRecord], *, complete: bool = True) -> Path:
    path = tmp_path / "latency.partial.hlog"
    writer = IntervalLogWriter(path, start_wall_s=START, meta={})
    writer.append(records)
    writer.close(complete=complete)
    return path


def _old_csv(records: list[IntervalRecord]) -> bytes:
    """windows.csv as the pandas renderer wrote it before rows were streamed."""
    rows = interval_rows(records)
    frame = pd.DataFrame(
        {
            "start_s": pd.Series([r.start_s for r in rows], dtype="float64"),
            "phase": pd.Series([r.phase for r in rows], dtype="object"),
            **{
                name: pd.Series([getattr(r.counts, name) if name != "offered" else r.offered
                                 for r in rows], dtype="int64")
                for name in ("offered", "sent", "ok", "failed", "shed", "late")
            },
            **{
                f"{key}_ms": pd.Series([r.latency.get(key) for r in rows], dtype="float64")
                for key in ("p50", "p90", "p99", "p99_9", "max")
            },
            "achieved_rps": pd.Series([r.achieved_rps for r in rows], dtype="float64"),
        },
        columns=list(COLUMNS),
    )  # fmt: skip
    text: str = frame.to_csv(index=False, lineterminator="\n", float_format="%.10g", na_rep="")
    return text.encode()


def test_streamed_windows_csv_equals_the_in_memory_rows(tmp_path: Path) -> None:
    """windows.csv from the one pass over a log is byte for byte the pandas rendering of the
    in-memory rows (percentiles, counts, empty cells), phases meeting in one second included."""
    records = _records()
    log = read_series(_log(tmp_path, records))
    series = fed_report_series(log)
    streamed = series.windows_csv().read()
    series.close()
    assert streamed == _old_csv(list(log)) == render_windows_csv(interval_rows(list(log)))


def test_csv_quoting_matches_pandas() -> None:
    """A phase name that needs quoting is quoted as pandas (RFC 4180) quotes it."""
    records = [_rec(0.0, 'a,"b"', [1000, 2000]), _rec(1.0, "plain", [])]
    assert render_windows_csv(interval_rows(records)) == _old_csv(records)


def test_plotted_series_of_a_short_run_is_every_second_exactly(tmp_path: Path) -> None:
    """Shorter than the plot is wide: the plotted points are the per-second values themselves
    (phases sharing a start merged), as the in-memory per-second series computed them."""
    records = _records()
    series = fed_report_series(read_series(_log(tmp_path, records)))
    got = series.second_series()
    series.close()
    starts, p99 = [], []
    for recs in time_slices(records):
        merged = LatencyHistogram()
        for r in recs:
            merged.add(r.latency)
        dist = distribution(merged)
        starts.append(recs[0].start_s)
        p99.append(dist.percentile_us(99) / 1000 if dist.total else math.nan)
    assert got.start_s.tolist() == starts
    np.testing.assert_array_equal(got.p99_ms, np.array(p99))


def test_report_json_from_the_pass_equals_the_in_memory_document(tmp_path: Path) -> None:
    """report.json built from the pass over a log (payloads as logged, not re-encoded) is byte
    for byte the one built from the decoded records."""
    log = read_series(_log(tmp_path, _records()))
    run = run_result(intervals=list(log))
    verdict = Verdict(VerdictStatus.PASS, (), ())
    prov = provenance_for(run)
    series = fed_report_series(log)
    inputs = ReportInputs(run, verdict, prov)
    streamed = canonical_json(build_document(inputs, series=series))
    series.close()
    assert streamed == canonical_json(build_document(inputs))
    assert orjson.loads(streamed)["intervals_in"] is None


def test_a_long_series_is_referred_to_the_hlog(monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond the embedding limit report.json names latency.hlog instead of embedding."""
    monkeypatch.setattr("harness.report.json_report.EMBED_INTERVALS_MAX", 5)
    run = run_result(intervals=_records())
    doc = build_document(
        ReportInputs(run, Verdict(VerdictStatus.PASS, (), ()), provenance_for(run))
    )
    assert (doc.intervals, doc.intervals_in) == ([], "latency.hlog")


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(math.nan)),
        min_size=1,
        max_size=200,
    ),
    columns=st.integers(1, 50),
)
def test_minmax_downsampling_keeps_every_extreme(values: list[float], columns: int) -> None:
    """The global min and max survive, at most two points per column, and a series of at most
    two points per column comes back unchanged."""
    times = [float(i) for i in range(len(values))]
    out_t, (out,) = minmax_downsample(times, [values], columns)
    assert len(out_t) == len(out) <= 2 * columns
    finite = [v for v in values if not math.isnan(v)]
    if finite:
        assert np.nanmax(out) == max(finite)
        assert np.nanmin(out) == min(finite)
    else:
        assert np.all(np.isnan(out))
    if len(values) <= columns:
        assert out_t.tolist() == times
        np.testing.assert_array_equal(out, np.array(values))


def test_file_pan_scan_spans_chunks_and_digests(tmp_path: Path) -> None:
    """The streamed PAN guard finds a card number wherever chunks are cut, names its line, and
    returns the file's SHA-256 and size; a clean file passes."""
    clean = "".join(f"{i}.000,1.000,2.500,HISTFAAAA{i}\n" for i in range(500)).encode()
    path = tmp_path / "latency.hlog"
    path.write_bytes(clean)
    assert check_file_no_pans("latency.hlog", path, chunk_bytes=64) == (
        hashlib.sha256(clean).hexdigest(),
        len(clean),
    )
    path.write_bytes(clean + b"#[Run: 4111111111111111]\n")
    with pytest.raises(IntegrityError, match="line 501"):
        check_file_no_pans("latency.hlog", path, chunk_bytes=64)
    path.write_bytes(clean + b"1.000,1.000,2.500,HISTFAAAA 4111-1111-1111-1111\n")
    with pytest.raises(IntegrityError, match="line 501"):  # right after a masked payload
        check_file_no_pans("latency.hlog", path, chunk_bytes=64)


def test_copy_log_links_a_complete_log_and_cuts_a_torn_tail(tmp_path: Path) -> None:
    """A complete log becomes latency.hlog by a hard link (same bytes, nothing re-encoded); an
    interrupted one is copied up to its last complete line."""
    source = _log(tmp_path, _records())
    linked = tmp_path / "linked.hlog"
    copy_log(read_series(source), linked, avoid=tmp_path / "elsewhere")
    assert os.path.samefile(source, linked)
    torn = tmp_path / "torn.hlog"
    torn.write_bytes(source.read_bytes().replace(b"#[End]\n", b"") + b"Tag=steady,13.000,1.0")
    copied = tmp_path / "copied.hlog"
    copy_log(read_series(torn), copied, avoid=tmp_path / "elsewhere")
    assert copied.read_bytes() == source.read_bytes().replace(b"#[End]\n", b"")
    assert not os.path.samefile(torn, copied)


def test_windows_csv_reads_back_as_a_table(tmp_path: Path) -> None:
    """The streamed CSV parses with pandas into the columns and rows it claims."""
    log = read_series(_log(tmp_path, _records()))
    series = fed_report_series(log)
    frame = pd.read_csv(io.BytesIO(series.windows_csv().read()))
    series.close()
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == len(log)
