"""The knee in the reports: report.json's capacity array, summary.md and report.html sections."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import orjson
import pytest
from report_support import check_golden, make_ramp_run, provenance

from harness.measure.result import RunResult
from harness.report import ReportInputs, ReportPaths, read_report, write_reports
from harness.report.capacity import capacity_rows
from harness.report.json_report import canonical_json
from harness.report.junit import render_junit
from harness.report.markdown import render_summary_md
from harness.report.plots import SecondSeries, latency_over_time_svg
from harness.report.provenance import Provenance
from harness.report.series import fed_report_series
from harness.slo import Knee, KneeStatus, Verdict, evaluate
from harness.spec.slo import default_slo

SCHEMA_FILE = Path(__file__).parents[2] / "harness" / "report" / "report.schema.json"
KNEE_COLOUR = "#6a3d9a"


@pytest.fixture(scope="module")
def ramp() -> RunResult:
    """A warm-up and a 24 s ramp whose p99 crosses 50 ms between 650 and 750 requests/s."""
    return make_ramp_run()


@pytest.fixture(scope="module")
def ramp_verdict(ramp: RunResult) -> Verdict:
    """The default SLO's verdict on the ramp, with its knee."""
    return evaluate(ramp, default_slo())


@pytest.fixture(scope="module")
def ramp_written(
    tmp_path_factory: pytest.TempPathFactory, ramp: RunResult, ramp_verdict: Verdict
) -> ReportPaths:
    """The report family of the ramp run (do not modify)."""
    out = tmp_path_factory.mktemp("ramp") / "run"
    return write_reports(out, ReportInputs(ramp, ramp_verdict, provenance(ramp)))


def test_the_fixture_ramp_has_a_knee(ramp_verdict: Verdict) -> None:
    """The ramp's knee is found where its latency was built to cross the threshold."""
    [knee] = ramp_verdict.capacity
    assert knee.status is KneeStatus.FOUND
    assert knee.knee_rps is not None
    assert 600 <= knee.knee_rps <= 750
    assert knee.first_breach_s is not None


def test_report_json_carries_the_knee_and_validates(
    ramp_written: ReportPaths, ramp_verdict: Verdict
) -> None:
    """report.json has one capacity entry per knee, valid under the shipped schema."""
    doc = orjson.loads(ramp_written.report_json.read_bytes())
    jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text("utf-8"))).validate(doc)
    [knee] = ramp_verdict.capacity
    assert doc["capacity"] == [
        {
            "phase": "ramp",
            "status": "found",
            "percentile": 99.0,
            "threshold_ms": 50.0,
            "knee_rps": knee.knee_rps,
            "max_offered_rps": 1250.0,
            "breached": True,
            "first_breach_s": knee.first_breach_s,
            "reason": knee.reason,
        }
    ]


def test_read_report_round_trips_the_capacity(
    ramp_written: ReportPaths, ramp_verdict: Verdict
) -> None:
    """read_report gives back the knees the report was written from."""
    loaded = read_report(ramp_written.out_dir)
    assert loaded.verdict.capacity == ramp_verdict.capacity


def test_a_1_0_report_without_capacity_still_reads(report_dir: Path) -> None:
    """A report written before capacity existed (schema 1.0) reads with no knees."""
    path = report_dir / "report.json"
    doc = orjson.loads(path.read_bytes())
    del doc["capacity"]
    doc["schema_version"] = "1.0"
    path.write_bytes(canonical_json(doc))
    assert read_report(report_dir).verdict.capacity == ()


def test_golden_summary_of_a_ramp(ramp: RunResult, ramp_verdict: Verdict) -> None:
    """summary.md of a ramp shows the Capacity (knee) section exactly as the golden file."""
    text = render_summary_md(ReportInputs(ramp, ramp_verdict, provenance(ramp)))
    check_golden("summary-ramp.md", text)
    assert b"### Capacity (knee)" in text


def _plotted(result: RunResult) -> SecondSeries:
    fed = fed_report_series(result.intervals)
    series = fed.second_series()
    fed.close()
    return series


def test_no_capacity_section_without_knees(
    run: RunResult, failed: Verdict, prov: Provenance
) -> None:
    """A steady run has no knee, so neither summary.md nor report.html shows the section."""
    assert b"Capacity (knee)" not in render_summary_md(ReportInputs(run, failed, prov))
    series = _plotted(run)
    assert KNEE_COLOUR not in latency_over_time_svg(run, series, failed.objectives)


def test_html_shows_the_knee_table_and_marks_the_plot(
    ramp_written: ReportPaths, ramp_verdict: Verdict
) -> None:
    """report.html has the capacity table and a vertical line at the first breach."""
    page = ramp_written.report_html.read_text("utf-8")
    assert 'id="capacity"' in page
    [knee] = ramp_verdict.capacity
    assert f"{knee.knee_rps:,.0f} req/s" in page
    assert KNEE_COLOUR in page


def test_the_plot_line_appears_only_with_a_breach(ramp: RunResult, ramp_verdict: Verdict) -> None:
    """A knee that was never breached has no first breach, so nothing is drawn for it."""
    series = _plotted(ramp)
    [knee] = ramp_verdict.capacity
    unbreached = replace(knee, status=KneeStatus.NOT_REACHED, breached=False, first_breach_s=None)
    assert KNEE_COLOUR in latency_over_time_svg(ramp, series, (), (knee,))
    assert KNEE_COLOUR not in latency_over_time_svg(ramp, series, (), (unbreached,))


def test_junit_ignores_the_capacity(ramp_verdict: Verdict, ramp: RunResult) -> None:
    """The knee is information, not a test case: junit.xml is the same with or without it."""
    prov = provenance(ramp)
    without = replace(ramp_verdict, capacity=())
    assert render_junit(ramp_verdict, prov, "ramp") == render_junit(without, prov, "ramp")


@pytest.mark.parametrize(
    ("status", "rps", "breach", "shown"),
    [
        (KneeStatus.FOUND, 1400.0, 15.0, "1,400 req/s"),
        (KneeStatus.NOT_REACHED, 2000.0, None, "not reached (held at 2,000 req/s)"),
        (KneeStatus.FROM_START, None, 10.0, "below the tested range"),
        (KneeStatus.INSUFFICIENT, None, None, "n/a (too few samples)"),
    ],
)
def test_every_knee_status_reads_plainly(
    status: KneeStatus, rps: float | None, breach: float | None, shown: str
) -> None:
    """Each status has its own wording in the knee column; the first breach shows in seconds."""
    knee = Knee("ramp", 50.0, 99.0, rps, 2000.0, breach is not None, breach, "why", status)
    [row] = capacity_rows((knee,))
    assert row == (
        "ramp", shown, "2,000 req/s", "p99 50 ms",
        "none" if breach is None else f"{breach:.1f} s", "why",
    )  # fmt: skip
