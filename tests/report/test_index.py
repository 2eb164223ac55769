"""build_index: one self-contained page over many runs, broken directories listed, not fatal."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from report_support import make_run, provenance, verdict

from harness.errors import IntegrityError
from harness.measure.result import RunResult
from harness.pan_scan import luhn_check_digit
from harness.report import ReportInputs, ReportPaths, build_index, write_reports
from harness.report.index import scan_runs
from harness.report.json_report import canonical_json
from harness.slo.verdict import VerdictStatus

NEWEST = "20240501T120000Z-steady"
DAY_1 = "20240430T120000Z-steady"
DAY_2 = "20240429T120000Z-slow"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, run: RunResult, written: ReportPaths) -> Path:
    """reports/ with three runs, a broken and a report-less directory, a tampered run, a link."""
    base = tmp_path_factory.mktemp("reports")
    runs = base / "runs"
    shutil.copytree(written.out_dir, runs / NEWEST)  # verdict FAIL
    day1 = replace(run, started_at=run.started_at - timedelta(days=1))
    write_reports(runs / DAY_1, ReportInputs(day1, verdict(VerdictStatus.PASS), provenance(day1)))
    slow = make_run(seed=3, scale=1.5, name="slow")
    day2 = replace(slow, started_at=slow.started_at - timedelta(days=2))
    write_reports(runs / DAY_2, ReportInputs(day2, verdict(VerdictStatus.PASS), provenance(day2)))
    (runs / "broken").mkdir()
    (runs / "broken" / "report.json").write_text('{"schema_version": "1.0"}')
    (runs / "no-report").mkdir()
    (runs / "no-report" / "MANIFEST.json").write_text("{}")
    summary = runs / DAY_1 / "summary.md"
    summary.write_text(summary.read_text() + "edited\n")
    (base / "latest").symlink_to(f"runs/{NEWEST}", target_is_directory=True)
    (runs / ".x.staging").mkdir()  # an in-flight write: never listed
    (runs / ".x.staging" / "report.json").write_text("{}")
    return base


@pytest.fixture(scope="module")
def index_html(root: Path) -> str:
    """The index page built over ``root``."""
    path = build_index(root)
    assert path == root / "index.html"
    return path.read_text(encoding="utf-8")


def test_scan_orders_runs_and_lists_broken_ones_last(root: Path) -> None:
    """Readable runs newest first, then unreadable ones with a reason; links and staging skipped."""
    entries = scan_runs(root)
    assert [e.directory.name for e in entries] == [NEWEST, DAY_1, DAY_2, "broken", "no-report"]
    newest, day1, day2, broken, missing = entries
    assert newest.verdict is VerdictStatus.FAIL
    assert newest.main_phase == "steady"
    assert newest.p99_ms is not None
    assert day2.p99_ms is not None
    assert day2.p99_ms > newest.p99_ms  # the 1.5x slower run
    assert (newest.intact, day1.intact, day2.intact) == (True, False, True)
    assert newest.git_commit == "9f2c4e1ab0d7"
    assert newest.model_version == "1.0.0"
    assert "schema" in broken.error
    assert "missing" in missing.error


def test_index_lists_every_run_with_links(index_html: str) -> None:
    """The page has a row per run directory, a link to each report and the unreadable ones."""
    for name in (NEWEST, DAY_1, DAY_2):
        assert f'href="runs/{name}/report.html"' in index_html
    assert index_html.count("UNREADABLE") == 2
    assert "TAMPERED OR INCOMPLETE" in index_html
    assert ">FAIL<" in index_html
    assert "5 run directories, 2 unreadable" in index_html


def test_index_has_the_trend_plot_and_is_self_contained(index_html: str) -> None:
    """The p99 trend is an inline SVG; nothing is loaded from elsewhere."""
    assert index_html.count("<svg ") == 1
    assert "<script" not in index_html
    assert 'src="' not in index_html
    assert "default-src 'none'" in index_html


def test_empty_root(tmp_path: Path) -> None:
    """An empty reports folder still gets a page saying there are no runs."""
    html = build_index(tmp_path).read_text(encoding="utf-8")
    assert "No run directories found." in html
    assert "<svg" not in html


def test_index_is_pan_guarded(tmp_path: Path, run: RunResult) -> None:
    """A run whose scenario name is a card number cannot leak it through the index."""
    body = "4" + "02" * 7
    pan = body + luhn_check_digit(body)
    good = tmp_path / "runs" / "r"
    write_reports(good, ReportInputs(run, verdict(VerdictStatus.PASS), provenance(run)))
    doc_path = good / "report.json"
    doc = orjson.loads(doc_path.read_bytes())
    doc["scenario"]["name"] = pan  # edited after writing: only the index can leak it now
    doc_path.write_bytes(canonical_json(doc))
    with pytest.raises(IntegrityError):
        build_index(tmp_path)
    assert not (tmp_path / "index.html").exists()
