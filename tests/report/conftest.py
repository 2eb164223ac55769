"""Fixtures of the report tests: deterministic runs (report_support.py), written report dirs.

Writing a report family renders four SVG plots, so the written directory is built once per session
and copied (``tmp_path``) by every test that edits it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from report_support import comparison, make_run, provenance, verdict

from harness.measure.result import RunResult
from harness.report import ReportInputs, ReportPaths, write_reports
from harness.report.provenance import Provenance
from harness.slo.verdict import Comparison, Verdict, VerdictStatus


@pytest.fixture(scope="session")
def run() -> RunResult:
    """Warm-up plus a 60 s steady phase at 200/s over two endpoints with a 5 s fault."""
    return make_run()


@pytest.fixture(scope="session")
def prov(run: RunResult) -> Provenance:
    """Fixed provenance of ``run``."""
    return provenance(run)


@pytest.fixture(scope="session")
def failed() -> Verdict:
    """A FAIL verdict: p99 breached."""
    return verdict(VerdictStatus.FAIL)


@pytest.fixture(scope="session")
def regression() -> Comparison:
    """A comparison whose p99 regressed."""
    return comparison()


@pytest.fixture(scope="session")
def written(
    tmp_path_factory: pytest.TempPathFactory,
    run: RunResult,
    failed: Verdict,
    prov: Provenance,
    regression: Comparison,
) -> ReportPaths:
    """The full report family of a failed run with a baseline comparison (do not modify)."""
    return write_reports(
        tmp_path_factory.mktemp("written") / "run", ReportInputs(run, failed, prov, regression)
    )


@pytest.fixture
def report_dir(written: ReportPaths, tmp_path: Path) -> Path:
    """A private copy of the written report directory, free to edit."""
    return Path(shutil.copytree(written.out_dir, tmp_path / "run"))
