"""Independent verification of the reference service's audit trail (docs/AUDIT_FORMAT.md).

``harness.cli`` calls :func:`load_audit_key` and :func:`verify_directory`, prints
:func:`render_text` or :func:`report_json`, and exits 0 when ``report.ok``, else 1. Nothing here
imports reference_service: the auditor re-implements the format from its specification.
"""

from __future__ import annotations

from harness.audit.keys import KEY_ENV, KEY_FILE_ENV, load_audit_key
from harness.audit.model import AuditReport, Head, Problem, ProblemKind, StreamReport
from harness.audit.render import parse_head, render_text, report_json
from harness.audit.repair import RepairOutcome, repair_directory
from harness.audit.verify import verify_directory

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "AuditReport",
    "Head",
    "Problem",
    "ProblemKind",
    "RepairOutcome",
    "StreamReport",
    "load_audit_key",
    "parse_head",
    "render_text",
    "repair_directory",
    "report_json",
    "verify_directory",
]
