"""The tail section of the report family: report.json (schema 1.5), read back, summary.md, HTML."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from report_support import provenance, verdict

from harness.measure import RunResult
from harness.report import ReportInputs, ReportPaths, read_report, report_schema, write_reports
from harness.slo import VerdictStatus, compare, explain_tails, explain_windows
from harness.testing import traced_run


@pytest.fixture(scope="module")
def audit_run() -> RunResult:
    """3,000 requests; 4% of them stall about 40 ms in the audit stage."""
    return traced_run(3000, "audit", 0.04, 40.0, seed=5)


@pytest.fixture(scope="module")
def tail_written(tmp_path_factory: pytest.TempPathFactory, audit_run: RunResult) -> Path:
    out = tmp_path_factory.mktemp("tail") / "run"
    write_reports(out, ReportInputs(audit_run, verdict(VerdictStatus.FAIL), provenance(audit_run)))
    return out


def test_report_json_carries_the_explanation_and_validates(tail_written: Path) -> None:
    """report.json's tail names the audit stage with the one-line sentence, lists 20 slowest
    trace ids that resolve to requests, and validates against the shipped schema."""
    doc = json.loads((tail_written / "report.json").read_text())
    jsonschema.validate(doc, report_schema())
    (e,) = doc["tail"]["explanations"]
    assert e["driver"] == "audit"
    assert e["server_driver"] == "audit"
    assert e["sentence"].startswith("p99 driven by audit fsync wait: +")
    ids = {r["trace_id"] for r in doc["tail"]["requests"]}
    assert len(e["slowest"]) == 20
    assert set(e["slowest"]) <= ids
    assert set(e["above_p99"]) <= ids
    (lane,) = doc["tail"]["lanes"]
    assert (lane["phase"], lane["endpoint"], lane["seen"]) == ("steady", "score", 3000)
    assert 20 <= lane["kept"] < 3000


def test_a_read_back_run_explains_the_same(tail_written: Path, audit_run: RunResult) -> None:
    """read_report rebuilds the kept requests the explanation used: explaining again gives the
    same bands, deltas, driver and lists (so a baseline can name a moved stage)."""
    back = read_report(tail_written).result
    (live,) = explain_tails(audit_run)
    (again,) = explain_tails(back)
    assert again.driver == live.driver
    for a, b in ((again.median, live.median), (again.tail, live.tail)):
        assert a is not None
        assert b is not None
        assert (a.label, a.count) == (b.label, b.count)
        assert a.latency_ms == pytest.approx(b.latency_ms, abs=0.01)  # rounded to 1 us on disk
    assert [r.trace_id for r in again.slowest] == [r.trace_id for r in live.slowest]


def test_summary_and_html_show_where_the_tail_went(tail_written: Path) -> None:
    """summary.md has the sentence and the slowest trace; report.html the section, the stacked
    bars and the slow requests on the latency plot."""
    summary = (tail_written / "summary.md").read_text()
    assert "### Where the tail went" in summary
    assert "- steady / score: p99 driven by audit fsync wait: \\+" in summary
    assert "slowest:" in summary
    html = (tail_written / "report.html").read_text()
    assert '<h2 id="tail">Where the tail went</h2>' in html
    assert "Where the tail went: mean stage times" in html  # the stacked bars' SVG title
    assert "slowest requests" in html


def test_a_fault_window_is_explained_in_the_report(tmp_path: Path) -> None:
    """A game day's fault window gets its own breakdown line, naming what the fault slowed."""
    run = traced_run(3000, "features", 0.0, 20.0, seed=6, window=(5.0, 7.0))
    (w,) = explain_windows(run)
    assert w.driver == "features"
    write_reports(tmp_path / "r", ReportInputs(run, verdict(VerdictStatus.PASS), provenance(run)))
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    (fw,) = doc["tail"]["fault_windows"]
    assert fw["window"] == "slow"
    assert fw["driver"] == "features"
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "fault 'slow' driven by feature lookup" in summary


def test_no_kept_requests_no_section(written: ReportPaths) -> None:
    """A run without kept requests (an old report read back) has tail: null and no section."""
    assert json.loads((written.out_dir / "report.json").read_text())["tail"] is None
    assert "Where the tail went" not in (written.out_dir / "summary.md").read_text()


def test_a_flagged_regression_names_the_moved_stage(tmp_path: Path) -> None:
    """summary.md's comparison says which stage moved, and report.json carries it."""
    base = traced_run(4000, None, 0.0, 0.0, seed=3)
    new = traced_run(4000, "audit", 0.03, 40.0, seed=4)
    comparison = compare(base, new)
    write_reports(
        tmp_path / "r", ReportInputs(new, verdict(VerdictStatus.FAIL), provenance(new), comparison)
    )
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "the stage that moved is audit fsync wait (+" in summary
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    stages = {m["stage"] for m in doc["comparison"]["metrics"] if m["regressed"]}
    assert stages == {"audit"}
