"""``write_reports``: the whole report family of a run, all or nothing.

Order of work: every artifact is rendered in memory (the hlog into a private staging directory),
the PAN guard scans all of them, the report is decoded back as a self-check, then the files are
written into a hidden staging directory next to ``out_dir`` with the manifest last, and only then
published: a missing or empty ``out_dir`` is replaced by the staging directory in one rename; an
existing one gets its old manifest removed first, then each file replaced (``os.replace``) and the
new manifest last, so an interrupted publish leaves a directory that fails verification rather
than one that passes with mixed files. Any failure before publishing removes the staging
directory: no half-written file remains.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness.errors import UsageError
from harness.files import atomic_write_bytes, atomic_writer, sha256_bytes
from harness.measure import IntervalLog, RunResult, log_meta, write_hlog
from harness.report.gameday import JOURNAL_FILE, render_journal
from harness.report.html_report import render_report_html
from harness.report.inputs import ReportInputs
from harness.report.json_report import render_report_json
from harness.report.junit import render_junit
from harness.report.manifest import MANIFEST_FILE, render_manifest
from harness.report.markdown import render_summary_md
from harness.report.pan_guard import check_file_no_pans, check_no_pans
from harness.report.reader import REPORT_FILE, decode_report
from harness.report.series import HLOG_FILE, ReportSeries, fed_report_series

__all__ = ["ARTIFACT_FILES", "ReportPaths", "copy_log", "write_reports"]

JUNIT_FILE: Final = "junit.xml"
SUMMARY_FILE: Final = "summary.md"
HTML_FILE: Final = "report.html"
CSV_FILE: Final = "windows.csv"
#: A torn last line of an interval log is shorter than this (a line holds one histogram).
_TAIL_BYTES: Final = 1 << 20
#: Every file ``write_reports`` produces besides the manifest, in writing order.
ARTIFACT_FILES: Final = (REPORT_FILE, CSV_FILE, HLOG_FILE, JUNIT_FILE, SUMMARY_FILE, HTML_FILE)


@dataclass(frozen=True, slots=True)
class ReportPaths:
    """Where the report family of one run was written."""

    out_dir: Path
    report_json: Path
    junit_xml: Path
    summary_md: Path
    report_html: Path
    windows_csv: Path
    latency_hlog: Path
    manifest: Path
    manifest_sha256: str  # keep this elsewhere to make later tampering with the manifest evident

    def items(self) -> Iterator[tuple[str, Path]]:
        """(label, path) of every artifact, for printing."""
        yield "report", self.report_html
        yield "json", self.report_json
        yield "junit", self.junit_xml
        yield "summary", self.summary_md
        yield "csv", self.windows_csv
        yield "hlog", self.latency_hlog
        yield "manifest", self.manifest


def write_reports(
    out_dir: Path, inputs: ReportInputs, *, series: ReportSeries | None = None
) -> ReportPaths:
    """Write every artifact of a run into ``out_dir`` (created if needed); see module docstring.

    ``inputs.journal``: the run was a game day; ``journal.json`` joins the family (and the
    manifest) and the reports get its per-step table. ``series``: the report's view of the
    interval series, already fed in a pass the caller shared with other consumers (the caller
    owns it and closes it: it is a context manager); else one pass is made here and its series
    closed here.

    Raises IntegrityError (writing nothing) if any artifact would contain a card number.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: the output path exists and is not a directory")
    result = inputs.result
    owned = series is None
    if series is None:
        series = fed_report_series(result.intervals)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(
            tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".staging", dir=out_dir.parent)
        )
        try:
            streamed = _stream_large(staging, out_dir, result, series)
            files = _render(inputs, series)
        finally:
            if owned:
                series.close()
        names = (*ARTIFACT_FILES, JOURNAL_FILE) if inputs.journal is not None else ARTIFACT_FILES
        check_no_pans({name: data.decode("utf-8", "replace") for name, data in files.items()})
        decode_report(files[REPORT_FILE], source=REPORT_FILE)  # self-check: readable back
        for name in names:
            if name not in streamed:  # the large ones are in staging already
                atomic_write_bytes(staging / name, files[name])
        manifest = render_manifest(
            files, created_by=f"slo-harness {inputs.provenance.harness_version}", streamed=streamed
        )
        atomic_write_bytes(staging / MANIFEST_FILE, manifest)
        _apply_umask(staging)
        _publish(staging, out_dir, names)
    except BaseException:
        if "staging" in locals():
            shutil.rmtree(staging, ignore_errors=True)
        raise
    return ReportPaths(
        out_dir=out_dir,
        report_json=out_dir / REPORT_FILE,
        junit_xml=out_dir / JUNIT_FILE,
        summary_md=out_dir / SUMMARY_FILE,
        report_html=out_dir / HTML_FILE,
        windows_csv=out_dir / CSV_FILE,
        latency_hlog=out_dir / HLOG_FILE,
        manifest=out_dir / MANIFEST_FILE,
        manifest_sha256=sha256_bytes(manifest),
    )


def _render(inputs: ReportInputs, series: ReportSeries) -> dict[str, bytes]:
    """The artifacts held in memory (each bounded whatever the run's length)."""
    result, journal = inputs.result, inputs.journal
    extra = {} if journal is None else {JOURNAL_FILE: render_journal(journal)}
    return {
        **extra,
        REPORT_FILE: render_report_json(inputs, series=series),
        JUNIT_FILE: render_junit(
            inputs.verdict,
            inputs.provenance,
            result.scenario.name,
            inputs.comparison,
            audit=result.audit,
            journal=journal,
        ),
        SUMMARY_FILE: render_summary_md(inputs),
        HTML_FILE: render_report_html(inputs, series=series.second_series()),
    }


def _stream_large(
    staging: Path, out_dir: Path, result: RunResult, series: ReportSeries
) -> dict[str, tuple[str, int]]:
    """latency.hlog and windows.csv, put into ``staging`` without holding them in memory, each
    PAN-scanned and digested in one read: {name: (sha256, size)}."""
    hlog = staging / HLOG_FILE
    if isinstance(result.intervals, IntervalLog):
        copy_log(result.intervals, hlog, avoid=out_dir / HLOG_FILE)
    else:
        interval_s = result.intervals[0].length_s if result.intervals else 1.0
        meta = log_meta(result.scenario, result.target, result.phases, interval_s)
        write_hlog(hlog, result.intervals, start_wall_s=result.started_at.timestamp(), meta=meta)
    with atomic_writer(staging / CSV_FILE) as out:
        shutil.copyfileobj(series.windows_csv(), out)
    return {name: check_file_no_pans(name, staging / name) for name in (CSV_FILE, HLOG_FILE)}


def copy_log(log: IntervalLog, into: Path, *, avoid: Path) -> None:
    """``log``'s file as ``into``, byte for byte: a hard link when the log is complete (and is not
    ``avoid``, the file ``into`` will replace), else a copy of its complete lines (a torn last
    line, from a run that died mid-write, is left out, as readers ignore it)."""
    if log.complete and not _same_file(log.path, avoid):
        try:
            os.link(log.path, into)
            return
        except OSError:
            pass  # another file system, or links not allowed: copy
    with log.path.open("rb") as src, atomic_writer(into) as out:
        end = src.seek(0, os.SEEK_END)
        tail = src.seek(max(0, end - _TAIL_BYTES))
        last = src.read().rfind(b"\n")
        keep = tail + last + 1 if last >= 0 else 0
        src.seek(0)
        while keep > 0:
            block = src.read(min(keep, 1 << 20))
            if not block:
                break
            out.write(block)
            keep -= len(block)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _apply_umask(staging: Path) -> None:
    """Temp files and directories are created private (0600/0700); give the published ones the
    permissions an ordinary write would have had (0666/0777 minus the umask), so CI jobs and
    web servers can read them."""
    mask = _umask()
    for path in staging.iterdir():
        path.chmod(0o666 & ~mask)
    staging.chmod(0o777 & ~mask)


def _umask() -> int:
    # /proc first: os.umask() can only be read by setting it, which races with other threads.
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish(staging: Path, out_dir: Path, names: tuple[str, ...] = ARTIFACT_FILES) -> None:
    if out_dir.is_dir() and not any(out_dir.iterdir()):
        out_dir.rmdir()
    if not out_dir.exists():
        os.rename(staging, out_dir)  # one atomic step: the directory appears complete
        return
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir}: the output path exists and is not a directory")
    (out_dir / MANIFEST_FILE).unlink(missing_ok=True)
    for name in names:
        os.replace(staging / name, out_dir / name)
    os.replace(staging / MANIFEST_FILE, out_dir / MANIFEST_FILE)
    staging.rmdir()
