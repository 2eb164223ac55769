"""``windows.csv``: the per-interval table for spreadsheets (pandas, RFC 4180 quoting).

One row per interval record (normally one per second and phase), ordered by start then phase.
Latencies are intended-clock latencies of OK responses completed in the interval, in
milliseconds; an empty cell means the interval had no such response (or the percentile lies
beyond the histogram's 60 s range). ``achieved_rps`` counts every completed response
(ok + failed + shed) per second of the interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from harness.report.stats import IntervalRow

__all__ = ["COLUMNS", "render_windows_csv"]

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


def render_windows_csv(rows: Sequence[IntervalRow]) -> bytes:
    """The CSV bytes (UTF-8, ``\\n`` line ends, header row always present)."""
    import pandas as pd  # lazy: ~0.6 s of import a run that fails early never pays

    frame = pd.DataFrame(
        {
            "start_s": pd.Series([r.start_s for r in rows], dtype="float64"),
            "phase": pd.Series([r.phase for r in rows], dtype="object"),
            "offered": pd.Series([r.offered for r in rows], dtype="int64"),
            "sent": pd.Series([r.counts.sent for r in rows], dtype="int64"),
            "ok": pd.Series([r.counts.ok for r in rows], dtype="int64"),
            "failed": pd.Series([r.counts.failed for r in rows], dtype="int64"),
            "shed": pd.Series([r.counts.shed for r in rows], dtype="int64"),
            "late": pd.Series([r.counts.late for r in rows], dtype="int64"),
            "p50_ms": pd.Series([r.latency.p50 for r in rows], dtype="float64"),
            "p90_ms": pd.Series([r.latency.p90 for r in rows], dtype="float64"),
            "p99_ms": pd.Series([r.latency.p99 for r in rows], dtype="float64"),
            "p99_9_ms": pd.Series([r.latency.p99_9 for r in rows], dtype="float64"),
            "max_ms": pd.Series([r.latency.max for r in rows], dtype="float64"),
            "achieved_rps": pd.Series([r.achieved_rps for r in rows], dtype="float64"),
        },
        columns=list(COLUMNS),
    )
    # %.10g prints the already-rounded values exactly (3 decimals of ms, 6 significant digits of
    # rates) without float noise such as 2.0030000000000001.
    text: str = frame.to_csv(index=False, lineterminator="\n", float_format="%.10g", na_rep="")
    return text.encode("utf-8")
