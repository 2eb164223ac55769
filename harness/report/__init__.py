"""Report writers: ``report.json``, ``junit.xml``, ``summary.md``, ``report.html``, ``windows.csv``,
``latency.hlog`` and ``MANIFEST.json``; provenance, integrity verification and the runs index.

This package renders results; it computes no verdicts (``harness.slo`` does). Entry points:

- :func:`write_reports` writes the whole family of one run (a :class:`ReportInputs`: run,
  verdict, provenance, optional comparison / game-day journal / PCI section), atomically and
  PAN-guarded;
- :func:`read_report` reads a run directory back (a baseline for ``compare``);
- :func:`verify_report_dir` checks a run directory against its manifest;
- :func:`build_index` writes ``index.html`` over many runs;
- :func:`collect_provenance` gathers what produced a run;
- :func:`write_pci_evidence` / :func:`read_pci_evidence`: the PCI segmentation evidence bundle.
"""

from harness.report.document import report_schema
from harness.report.dossier_html import render_dossier_html
from harness.report.index import build_index
from harness.report.inputs import ReportInputs
from harness.report.manifest import (
    MANIFEST_FILE,
    IntegrityProblem,
    IntegrityReport,
    ProblemKind,
    verify_report_dir,
)
from harness.report.pan_guard import check_no_pans
from harness.report.pci import read_pci_evidence, write_pci_evidence
from harness.report.provenance import PackageVersion, Provenance, collect_provenance
from harness.report.reader import LoadedReport, read_audit_heads, read_report
from harness.report.series import ReportSeries, report_series
from harness.report.signing import generate_keypair, sign_manifest
from harness.report.text import render_comparison_text
from harness.report.writer import ARTIFACT_FILES, ReportPaths, write_reports

__all__ = [
    "ARTIFACT_FILES",
    "MANIFEST_FILE",
    "IntegrityProblem",
    "IntegrityReport",
    "LoadedReport",
    "PackageVersion",
    "ProblemKind",
    "Provenance",
    "ReportInputs",
    "ReportPaths",
    "ReportSeries",
    "build_index",
    "check_no_pans",
    "collect_provenance",
    "generate_keypair",
    "read_audit_heads",
    "read_pci_evidence",
    "read_report",
    "render_comparison_text",
    "render_dossier_html",
    "report_schema",
    "report_series",
    "sign_manifest",
    "verify_report_dir",
    "write_pci_evidence",
    "write_reports",
]
