"""PCI segmentation from Kubernetes NetworkPolicies: model, pure engine, lints, checks, evidence.

Manifests are loaded and validated once (:func:`load_manifests`: kubernetes-validate strict plus
the API server's own rules; :func:`load_probe_pods` for probe-only pods and external addresses),
evaluated by a pure engine with full NetworkPolicy v1 semantics (:func:`evaluate` ->
:class:`Matrix`, every flow with the rules behind it), compared with a PCI expectations file
(:func:`check`), linted with PCI DSS requirement ids (:func:`lint`), diffed across a change
(:func:`diff`), probed through a :class:`Prober` (:func:`probe_flows`; :class:`KubectlProber` for a
real cluster, :class:`LabProber` for the live lab: :class:`PolicyLab` compiles the policies into
nftables inside one network namespace per pod, :func:`judge_live` compares what it observed) and
gathered into an :class:`EvidenceBundle` that ``harness.report`` writes.

Never imports ``harness.chaos`` (siblings) nor anything above it.
"""

from harness.netpol.boundary import (
    BoundaryMonitor,
    BoundaryRound,
    BoundaryStatus,
    BoundaryVerdict,
    PciRunSection,
    judge_boundary,
)
from harness.netpol.diff import Change, DiffResult, diff
from harness.netpol.engine import Flow, FlowVerdict, Matrix, RuleRef, evaluate
from harness.netpol.evidence import (
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
    flow_expectations,
    load_expectations,
)
from harness.netpol.kubectl import KubectlProber
from harness.netpol.lab import LabProber, PolicyLab, ServedPort
from harness.netpol.lint import Finding, Severity, lint
from harness.netpol.live import (
    AUTO_SERVICE,
    LiveOptions,
    LiveOutcome,
    LiveStats,
    control_first,
    judge_live,
    live_text,
    service_endpoint,
)
from harness.netpol.live_md import live_md
from harness.netpol.load import load_manifests
from harness.netpol.model import (
    Direction,
    Endpoint,
    EndpointKind,
    ManifestSet,
    Namespace,
    Policy,
    Protocol,
)
from harness.netpol.nftgen import DenyAction, PodRules, compile_pod_rules
from harness.netpol.pci import Zone
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
    "AUTO_SERVICE",
    "BoundaryMonitor",
    "BoundaryRound",
    "BoundaryStatus",
    "BoundaryVerdict",
    "Change",
    "CheckResult",
    "DenyAction",
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
    "LabProber",
    "LiveOptions",
    "LiveOutcome",
    "LiveStats",
    "ManifestSet",
    "Matrix",
    "Namespace",
    "Observation",
    "PciRunSection",
    "PodRules",
    "Policy",
    "PolicyLab",
    "ProbeAttempt",
    "ProbePods",
    "ProbeResult",
    "ProbeRun",
    "Prober",
    "Protocol",
    "RequirementStatus",
    "RuleRef",
    "ServedPort",
    "Severity",
    "Status",
    "Violation",
    "ViolationKind",
    "Zone",
    "build_evidence",
    "check",
    "check_json",
    "check_text",
    "compile_pod_rules",
    "control_first",
    "diff",
    "diff_json",
    "diff_text",
    "evaluate",
    "expected_verdicts",
    "flow_expectations",
    "judge_boundary",
    "judge_live",
    "lint",
    "lint_json",
    "lint_text",
    "live_md",
    "live_text",
    "load_expectations",
    "load_manifests",
    "load_probe_pods",
    "matrix_json",
    "matrix_md",
    "matrix_text",
    "probe_flows",
    "service_endpoint",
    "to_json",
    "with_probe_run",
]
