"""windows.csv: one row per interval, the spreadsheet view of the time series."""

from __future__ import annotations

import io

from report_support import check_golden

from harness.measure.result import RunResult
from harness.report.csv_report import COLUMNS, render_windows_csv
from harness.report.stats import interval_rows


def test_golden_windows_csv(run: RunResult) -> None:
    """The CSV of the fixture run matches the golden file."""
    check_golden("windows.csv", render_windows_csv(interval_rows(run.intervals)))


def test_rows_columns_and_values(run: RunResult) -> None:
    """One row per interval, the documented columns, counts and percentiles of each interval."""
    import pandas as pd  # here, not at collection (every worker pays that)

    frame = pd.read_csv(io.BytesIO(render_windows_csv(interval_rows(run.intervals))))
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == len(run.intervals)
    first = run.intervals[0]
    row = frame.iloc[0]
    assert row["phase"] == first.phase
    assert row["sent"] == first.counts.sent
    assert row["p99_ms"] == first.latency.percentile_us(99) / 1000
    assert row["achieved_rps"] == first.counts.ok + first.counts.failed + first.counts.shed
    assert frame["failed"].sum() == sum(p.counts.failed for p in run.phases)


def test_empty_series_still_has_a_header() -> None:
    """A run without intervals yields just the header line."""
    assert render_windows_csv([]) == (",".join(COLUMNS) + "\n").encode()
