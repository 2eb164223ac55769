"""PCI segmentation from Kubernetes NetworkPolicies: model, pure engine, lints, checks, evidence.

Manifests are loaded and validated once (:func:`load_manifests`: kubernetes-validate strict plus
the API server's own rules; :func:`load_probe_pods` for probe-only pods and external addresses),
evaluated by a pure engine with full NetworkPolicy v1 semantics (:func:`evaluate` ->
:class:`Matrix`, every flow with the rules behind it), compared with a PCI expectations file
(:func:`check`), linted with PCI DSS requirement ids (:func:`lint`), diffed across a change
(:func:`diff`), probed through a :class:`Prober` (:func:`probe_flows`; :class:`KubectlProber` for a
real cluster) and gathered into an :class:`EvidenceBundle` that ``harness.report`` writes.

Never imports ``harness.chaos`` (siblings) nor anything above it.
"""

from harness.netpol.diff import Change, DiffResult, diff
from harness.netpol.engine import Flow, FlowVerdict, Matrix, RuleRef, Slot, evaluate
from harness.netpol.evidence import (
    EVIDENCE_SCHEMA_VERSION,
    EvidenceBundle,
    RequirementStatus,
    Status,
    build_evidence,
    with_probe_run,
)
from harness.netpol.expect import (
    CheckResult,
    Expectations,
    Violation,
    ViolationKind,
    check,
    expected_verdicts,
    load_expectations,
)
from harness.netpol.kubectl import KubectlProber
from harness.netpol.lint import Finding, Severity, lint
from harness.netpol.load import DEFAULT_NAMESPACE, collect_files, load_manifests
from harness.netpol.model import (
    Direction,
    Endpoint,
    EndpointKind,
    ManifestSet,
    Namespace,
    Policy,
    Protocol,
)
from harness.netpol.pci import PciRequirement, Zone, pci_requirements
from harness.netpol.pods import ProbePods, load_probe_pods
from harness.netpol.probe import (
    FakeProber,
    Observation,
    ProbeAttempt,
    Prober,
    ProbeResult,
    ProbeRun,
    probe_flows,
)
from harness.netpol.render import (
    check_json,
    check_text,
    diff_json,
    diff_text,
    lint_json,
    lint_text,
    matrix_json,
    matrix_md,
    matrix_text,
    to_json,
)

__all__ = [
    "DEFAULT_NAMESPACE",
    "EVIDENCE_SCHEMA_VERSION",
    "Change",
    "CheckResult",
    "DiffResult",
    "Direction",
    "Endpoint",
    "EndpointKind",
    "EvidenceBundle",
    "Expectations",
    "FakeProber",
    "Finding",
    "Flow",
    "FlowVerdict",
    "KubectlProber",
    "ManifestSet",
    "Matrix",
    "Namespace",
    "Observation",
    "PciRequirement",
    "Policy",
    "ProbeAttempt",
    "ProbePods",
    "ProbeResult",
    "ProbeRun",
    "Prober",
    "Protocol",
    "RequirementStatus",
    "RuleRef",
    "Severity",
    "Slot",
    "Status",
    "Violation",
    "ViolationKind",
    "Zone",
    "build_evidence",
    "check",
    "check_json",
    "check_text",
    "collect_files",
    "diff",
    "diff_json",
    "diff_text",
    "evaluate",
    "expected_verdicts",
    "lint",
    "lint_json",
    "lint_text",
    "load_expectations",
    "load_manifests",
    "load_probe_pods",
    "matrix_json",
    "matrix_md",
    "matrix_text",
    "pci_requirements",
    "probe_flows",
    "to_json",
    "with_probe_run",
]
