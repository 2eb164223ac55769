"""Independent verification of the reference service's audit trail (docs/AUDIT_FORMAT.md).

``harness.cli`` calls :func:`load_audit_key` and :func:`verify_directory`, prints
:func:`render_text` or :func:`report_json`, and exits 0 when ``report.ok``, else 1. Nothing here
imports reference_service: the auditor re-implements the format from its specification.
:func:`replay_directory` re-scores every verified format-3 record and compares the decision
(``audit replay``); :func:`build_dossiers` is one decision's dossier (``audit show``);
:func:`check_audit_trail` is the audit objective of a run against the embedded service (``run``
and ``gameday``). ONNX Runtime is imported only when a model is opened (:func:`open_model`).
"""

from __future__ import annotations

from harness.audit.dossier import Dossier, build_dossiers, dossier_json, dossier_text
from harness.audit.inputs import replay_inputs
from harness.audit.keys import load_audit_key
from harness.audit.model import AuditReport, Head, Problem, ProblemKind, StreamReport
from harness.audit.model_file import ReplayModel, default_model_file, open_model
from harness.audit.render import (
    parse_head,
    render_replay_text,
    render_text,
    replay_json,
    report_json,
)
from harness.audit.repair import RepairOutcome, repair_directory
from harness.audit.replay import Mismatch, ReplayReport, Reproduction, replay_directory, reproduce
from harness.audit.rules import DEFAULT_THRESHOLDS, Thresholds, load_thresholds
from harness.audit.run_check import check_audit_trail
from harness.audit.verify import verify_directory

__all__ = [
    "DEFAULT_THRESHOLDS",
    "AuditReport",
    "Dossier",
    "Head",
    "Mismatch",
    "Problem",
    "ProblemKind",
    "RepairOutcome",
    "ReplayModel",
    "ReplayReport",
    "Reproduction",
    "StreamReport",
    "Thresholds",
    "build_dossiers",
    "check_audit_trail",
    "default_model_file",
    "dossier_json",
    "dossier_text",
    "load_audit_key",
    "load_thresholds",
    "open_model",
    "parse_head",
    "render_replay_text",
    "render_text",
    "repair_directory",
    "replay_directory",
    "replay_inputs",
    "replay_json",
    "report_json",
    "reproduce",
    "verify_directory",
]
