"""``reports/index.html``: every run under a reports folder on one page, with the p99 trend.

A run directory is any directory below the root (at most three levels down, hidden directories
and symlinks such as ``latest`` skipped) holding a ``report.json`` or a ``MANIFEST.json``. Each
is listed with its date, scenario, verdict, the p99 of its main phase (the longest verdict phase),
model version, git commit and whether its manifest still verifies. A directory that cannot be
read is listed as unreadable with the reason instead of breaking the page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from markupsafe import Markup

from harness.errors import ArtifactError
from harness.files import atomic_write_bytes
from harness.report.document import ReportDoc
from harness.report.html_report import template_environment
from harness.report.manifest import MANIFEST_FILE, verify_report_dir
from harness.report.pan_guard import check_no_pans
from harness.report.plots import TrendPoint, trend_svg
from harness.report.reader import REPORT_FILE, decode_report
from harness.report.view import Cell, Table
from harness.slo import VerdictStatus

__all__ = ["INDEX_FILE", "IndexEntry", "build_index", "scan_runs"]

INDEX_FILE: Final = "index.html"
_MAX_DEPTH: Final = 3


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One run directory as the index lists it; ``error`` set when it could not be read."""

    directory: Path
    started_at: datetime | None = None
    scenario: str = ""
    verdict: VerdictStatus | None = None
    main_phase: str = ""
    p99_ms: float | None = None
    model_version: str = ""
    git_commit: str = ""
    intact: bool | None = None
    error: str = ""


def build_index(reports_root: Path) -> Path:
    """Write ``reports_root/index.html`` over every run found below it; return its path."""
    entries = scan_runs(reports_root)
    readable = [e for e in entries if e.started_at is not None]
    points = [
        TrendPoint(e.started_at, e.scenario, e.p99_ms, e.verdict is VerdictStatus.PASS)
        for e in readable
        if e.started_at is not None and e.p99_ms is not None
    ]
    html = (
        template_environment()
        .get_template("index.html.j2")
        .render(
            title=f"slo-harness runs in {reports_root.name or reports_root}",
            runs=_table(reports_root, entries),
            count=len(entries),
            unreadable=len(entries) - len(readable),
            trend=Markup(trend_svg(points)) if points else None,
        )
    )
    check_no_pans({INDEX_FILE: html})
    path = reports_root / INDEX_FILE
    atomic_write_bytes(path, html.encode("utf-8"))
    return path


def scan_runs(reports_root: Path) -> list[IndexEntry]:
    """Every run directory below ``reports_root``, newest first, unreadable ones last."""
    entries = [_entry(d) for d in _run_dirs(reports_root)]
    readable = sorted(
        (e for e in entries if e.started_at is not None),
        key=lambda e: (e.started_at, str(e.directory)),
        reverse=True,
    )
    broken = sorted((e for e in entries if e.started_at is None), key=lambda e: str(e.directory))
    return readable + broken


def _run_dirs(root: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(root, followlinks=False):
        here = Path(current)
        depth = len(here.relative_to(root).parts)
        # os.walk lists symlinks to directories among dirs but never enters them (followlinks);
        # drop them and hidden (staging) directories from the walk and from the listing.
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (here / d).is_symlink())
        if here != root and (REPORT_FILE in files or MANIFEST_FILE in files):
            yield here
            dirs[:] = []  # a run directory has no runs inside it
        elif depth >= _MAX_DEPTH:
            dirs[:] = []


def _entry(directory: Path) -> IndexEntry:
    try:
        doc = decode_report((directory / REPORT_FILE).read_bytes(), source=str(directory))
    except FileNotFoundError:
        return IndexEntry(directory, error=f"{REPORT_FILE} is missing")
    except OSError as exc:
        return IndexEntry(directory, error=f"{REPORT_FILE} unreadable ({exc.strerror})")
    except ArtifactError as exc:
        return IndexEntry(directory, error=str(exc).removeprefix(f"{directory}: "))
    main = _main_phase(doc)
    return IndexEntry(
        directory=directory,
        started_at=doc.run.started_at,
        scenario=doc.scenario.name,
        verdict=doc.verdict,
        main_phase=main[0],
        p99_ms=main[1],
        model_version=doc.target.model_version or "",
        git_commit=(doc.provenance.git_commit or "")[:12]
        + ("-dirty" if doc.provenance.git_dirty else ""),
        intact=verify_report_dir(directory).ok,
    )


def _main_phase(doc: ReportDoc) -> tuple[str, float | None]:
    best = None
    for phase in doc.phases:
        if phase.in_verdict and (best is None or phase.duration_s > best.duration_s):
            best = phase
    return ("", None) if best is None else (best.name, best.latency_ms.p99)


def _table(root: Path, entries: list[IndexEntry]) -> Table:
    rows = []
    for e in entries:
        link = e.directory.relative_to(root).as_posix()
        if e.started_at is None or e.verdict is None:
            rows.append(
                [
                    Cell("", "n/a"),
                    Cell(link, href=f"{link}/"),
                    Cell("UNREADABLE", "badge unreadable"),
                    *(Cell("") for _ in range(4)),
                    Cell(e.error, "reason"),
                ]
            )
            continue
        rows.append(
            [
                Cell(e.started_at.strftime("%Y-%m-%d %H:%M:%S")),
                Cell(f"{e.scenario} ({link})", href=f"{link}/report.html"),
                Cell(e.verdict.value.upper(), f"badge {e.verdict.value}"),
                Cell("n/a" if e.p99_ms is None else f"{e.p99_ms:.3f}", "num"),
                Cell(e.main_phase),
                Cell(e.model_version or "unknown"),
                Cell(e.git_commit or "unknown"),
                Cell(
                    {True: "intact", False: "TAMPERED OR INCOMPLETE", None: "unknown"}[e.intact],
                    "badge " + ("pass" if e.intact else "fail"),
                ),
            ]
        )
    return Table(
        ("Started (UTC)", "Scenario (run directory)", "Verdict", "p99 ms", "Main phase",
         "Model version", "Git commit", "Integrity"),
        rows,
    )  # fmt: skip
