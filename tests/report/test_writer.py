"""write_reports: the whole family, atomically, PAN-guarded; nothing half-written on failure."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from report_support import START, provenance, verdict

from harness.errors import IntegrityError, UsageError
from harness.files import sha256_file
from harness.measure.hlog import read_hlog
from harness.measure.result import (
    GeneratorHealth,
    PhaseKind,
    PhaseResult,
    RequestCounts,
    RunResult,
)
from harness.pan_scan import luhn_check_digit
from harness.report import (
    ARTIFACT_FILES,
    MANIFEST_FILE,
    ReportInputs,
    read_report,
    verify_report_dir,
)
from harness.report import writer as writer_module
from harness.report.provenance import Provenance
from harness.report.writer import ReportPaths, write_reports
from harness.slo.verdict import Verdict, VerdictStatus

FAMILY = {*ARTIFACT_FILES, MANIFEST_FILE}


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_writes_the_whole_family(written: ReportPaths) -> None:
    """Every artifact and the manifest exist; ReportPaths points at them; the digest matches."""
    assert {p.name for p in written.out_dir.iterdir()} == FAMILY
    for _, path in written.items():
        assert path.is_file()
    assert sha256_file(written.manifest) == written.manifest_sha256
    assert _leftovers(written.out_dir.parent) == ["run"]  # no staging directory left behind


def test_hlog_holds_the_interval_series(written: ReportPaths) -> None:
    """latency.hlog has one line per second of the run, readable by the hlog reader."""
    intervals = read_hlog(written.latency_hlog)
    assert len(intervals) == 70
    assert sum(i.histogram.count for i in intervals) == sum(
        p.counts.ok for p in read_report(written.out_dir).result.phases
    )


def test_published_files_follow_the_umask(written: ReportPaths) -> None:
    """Artifacts get 0666/0777 minus the umask like ordinary files (not the 0600 of temp files)."""
    umask = os.umask(0o022)
    os.umask(umask)
    for path in written.out_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name
    assert stat.S_IMODE(written.out_dir.stat().st_mode) == 0o777 & ~umask


def test_a_pan_anywhere_writes_nothing(
    tmp_path: Path, run: RunResult, failed: Verdict, prov: Provenance
) -> None:
    """A PAN smuggled into a reason makes write_reports refuse; no file or directory remains."""
    body = "5" + "31" * 7
    pan = body + luhn_check_digit(body)
    bad = replace(failed, reasons=(f"declined card {pan}",))
    with pytest.raises(IntegrityError, match="card-number"):
        write_reports(tmp_path / "run", ReportInputs(run, bad, prov))
    assert _leftovers(tmp_path) == []


def test_a_failure_midway_leaves_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run: RunResult,
    failed: Verdict,
    prov: Provenance,
) -> None:
    """If rendering one artifact fails, no half-written family and no staging dir remain."""

    def boom(*_args: object, **_kwargs: object) -> bytes:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(writer_module, "render_report_html", boom)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        write_reports(tmp_path / "run", ReportInputs(run, failed, prov))
    assert _leftovers(tmp_path) == []


def test_an_interrupt_while_publishing_leaves_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    run: RunResult,
    failed: Verdict,
    prov: Provenance,
) -> None:
    """Ctrl-C just before publishing removes the staged files."""

    def interrupted(_staging: Path, _out: Path, _names: object = ()) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(writer_module, "_publish", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_reports(tmp_path / "run", ReportInputs(run, failed, prov))
    assert _leftovers(tmp_path) == []


def test_rewriting_an_existing_directory(report_dir: Path, prov: Provenance) -> None:
    """Writing into an existing run directory replaces the family and still verifies."""
    loaded = read_report(report_dir)
    paths = write_reports(
        report_dir, ReportInputs(loaded.result, verdict(VerdictStatus.PASS), prov)
    )
    assert verify_report_dir(report_dir).ok
    assert read_report(report_dir).verdict.status is VerdictStatus.PASS
    assert {p.name for p in paths.out_dir.iterdir()} == FAMILY


def test_output_path_that_is_a_file(
    tmp_path: Path, run: RunResult, failed: Verdict, prov: Provenance
) -> None:
    """An --out that names a file is a usage error and leaves only that file."""
    target = tmp_path / "run"
    target.write_text("not a dir")
    with pytest.raises(UsageError, match="not a directory"):
        write_reports(target, ReportInputs(run, failed, prov))
    assert _leftovers(tmp_path) == ["run"]


def test_a_run_without_samples_still_reports(tmp_path: Path, run: RunResult) -> None:
    """A run with no responses and no intervals (target down) still gets a readable family."""
    empty_phase = PhaseResult(
        name="steady",
        kind=PhaseKind.STEADY,
        in_verdict=True,
        start_s=0.0,
        duration_s=10.0,
        offered_rps=100.0,
        achieved_rps=0.0,
        counts=RequestCounts(unsent=1000),
        histograms={},
    )
    empty = replace(
        run,
        phases=(empty_phase,),
        intervals=(),
        fault_windows=(),
        generator=GeneratorHealth(0.0, 0.0, 0.0, 0.0, 64, 0, 0, False, ("no responses",)),
        ended_at=START,
    )
    invalid = Verdict(VerdictStatus.INVALID, (), ("Phase 'steady' sent no requests.",))
    paths = write_reports(tmp_path / "run", ReportInputs(empty, invalid, provenance(empty)))
    assert verify_report_dir(paths.out_dir).ok
    loaded = read_report(paths.out_dir)
    assert loaded.result.phases[0].counts.unsent == 1000
    assert "INVALID" in paths.report_html.read_text(encoding="utf-8")
