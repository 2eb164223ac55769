"""The ``report.json`` document as typed structs: one definition to write, read and document it.

``report.schema.json`` (JSON Schema draft 2020-12, shipped next to this module) is generated from
these structs by :func:`report_schema`; a test fails when the shipped file and the structs
disagree. Readers decode with the same structs (msgspec), so a malformed report is rejected with
the field path of the first problem (``$.phases[0].requests.sent``).

Versioning: ``schema_version`` is ``MAJOR.MINOR``. A minor version only adds fields, so readers
ignore unknown fields and accept any ``1.x``; a major version changes or removes fields and is
refused.

Units are in the field names (``_ms``, ``_s``, ``_rps``) and descriptions. Percentiles of a
histogram are ``null`` when it has no samples or when the percentile lies beyond the 60 s
histogram range (then ``out_of_range`` > 0).

The structs live by concept: what was measured (:mod:`harness.report.doc_measured`), the run's
context and provenance (:mod:`harness.report.doc_context`), the verdict, comparison and the
document itself (here); all are re-exported here.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any, Final

import msgspec

from harness.netpol import PciRunSection
from harness.report.doc_context import (
    AuditDoc,
    ConnectionDoc,
    FaultWindowDoc,
    GeneratorDoc,
    PackageDoc,
    PlacementDoc,
    ProvenanceDoc,
    RunDoc,
    ScenarioDoc,
    TargetDoc,
    TlsDoc,
)
from harness.report.doc_measured import (
    EndpointDoc,
    EndpointRequestsDoc,
    HistogramDoc,
    IntervalDoc,
    LatencyDoc,
    PhaseDoc,
    RequestsDoc,
)
from harness.report.doc_types import Doc
from harness.report.gameday import GameDayDoc
from harness.report.tail_section import TailSectionDoc
from harness.slo import KneeStatus, ObjectiveStatus, RegressionRule, VerdictStatus

__all__ = [
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "AuditDoc",
    "ComparisonDoc",
    "ConnectionDoc",
    "EndpointDoc",
    "EndpointRequestsDoc",
    "FaultWindowDoc",
    "GeneratorDoc",
    "HistogramDoc",
    "IntervalDoc",
    "KneeDoc",
    "LatencyDoc",
    "MetricComparisonDoc",
    "ObjectiveDoc",
    "PackageDoc",
    "PhaseDoc",
    "PlacementDoc",
    "ProvenanceDoc",
    "ReportDoc",
    "RequestsDoc",
    "RunDoc",
    "ScenarioDoc",
    "TargetDoc",
    "TlsDoc",
    "report_schema",
]

#: 1.1 ``capacity``, 1.2 ``audit.heads``, 1.3 ``gameday``, 1.4 ``pci``, 1.5 ``phases[].endpoints[]
#: .responses`` and ``provenance.secrets_used``, 1.6 ``tail`` and the comparison's ``stage`` /
#: ``stage_delta_ms``, 1.7 the game day's ``audit_intact`` and per step ``degraded_allowed``,
#: ``degraded_decisions``, ``decisions_scored``, ``restored_after_s``, 1.8 ``provenance.connection``
#: (allowlist, addresses, TLS), 1.9 ``run.incomplete``, 1.10 ``intervals_in`` (a series longer
#: than an hour is referred to in latency.hlog instead of embedded in ``intervals``)
SCHEMA_VERSION: Final = "1.10"
SCHEMA_ID: Final = "urn:slo-harness:report:1"


class ObjectiveDoc(Doc, frozen=True, kw_only=True):
    """One objective evaluated on one phase (and endpoint when scoped). passed is null when there
    were too few samples to judge (status insufficient), which is never a pass."""

    name: str
    phase: str
    endpoint: Annotated[str | None, msgspec.Meta(description="null: all endpoints")]
    metric: Annotated[str, msgspec.Meta(description="e.g. latency_p99, error_rate")]
    op: Annotated[str, msgspec.Meta(pattern="^(<|<=|>|>=)$")]
    threshold: float
    unit: Annotated[str, msgspec.Meta(description="ms, ratio or x")]
    observed: Annotated[
        float | None, msgspec.Meta(description="null when insufficient or not finite")
    ]
    passed: bool | None
    status: ObjectiveStatus
    reason: str
    samples: Annotated[int | None, msgspec.Meta(description="requests behind observed")]


class KneeDoc(Doc, frozen=True, kw_only=True):
    """The knee of one ramp or step phase: the highest offered rate (requests/s) at which the
    latency percentile stayed under the SLO threshold. Information only: it never changes the
    verdict. knee_rps is null when the phase breached from its start (from_start) or had too few
    samples (insufficient); breached is false when the knee lies above the tested range
    (not_reached)."""

    phase: str
    status: KneeStatus
    percentile: Annotated[float, msgspec.Meta(description="0..100, e.g. 99")]
    threshold_ms: float
    knee_rps: Annotated[float | None, msgspec.Meta(description="requests/s; null: no knee")]
    max_offered_rps: Annotated[
        float, msgspec.Meta(description="highest per-interval offered rate of the phase")
    ]
    breached: bool
    first_breach_s: Annotated[
        float | None,
        msgspec.Meta(description="start of the first confirmed breach, seconds from run start"),
    ]
    reason: str


class MetricComparisonDoc(Doc, frozen=True, kw_only=True):
    """Baseline vs candidate for one metric of one phase (and endpoint)."""

    phase: str
    endpoint: str | None
    metric: Annotated[str, msgspec.Meta(description="p99, p99_9 or distribution")]
    base_ms: float
    new_ms: float
    ratio: Annotated[float | None, msgspec.Meta(description="new / base; null if undefined")]
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    regressed: bool
    rule: RegressionRule
    reason: str
    base_samples: int | None
    new_samples: int | None
    stage: Annotated[
        str | None,
        msgspec.Meta(description="flagged, both runs with Server-Timing: the stage that moved"),
    ] = None
    stage_delta_ms: Annotated[
        float | None, msgspec.Meta(description="how much that stage's mean grew (ms)")
    ] = None


class ComparisonDoc(Doc, frozen=True, kw_only=True):
    """The baseline comparison (regression gate); regressed when any metric regressed."""

    base_label: str
    new_label: str
    tolerance: Annotated[float, msgspec.Meta(description="relative, 0.10 = 10%")]
    alpha: float
    regressed: bool
    metrics: list[MetricComparisonDoc]
    notes: list[str]


class ReportDoc(Doc, frozen=True, kw_only=True):
    """An slo-harness run report (report.json)."""

    schema_version: Annotated[str, msgspec.Meta(pattern=r"^1\.[0-9]+$")]
    run: RunDoc
    scenario: ScenarioDoc
    target: TargetDoc
    generator: GeneratorDoc
    verdict: VerdictStatus
    verdict_reasons: list[str]
    objectives: list[ObjectiveDoc]
    capacity: Annotated[
        list[KneeDoc],
        msgspec.Meta(description="knees of ramp/step phases (since 1.1; absent in 1.0 reports)"),
    ] = msgspec.field(default_factory=list)
    phases: list[PhaseDoc]
    intervals: Annotated[
        list[IntervalDoc],
        msgspec.Meta(description="the interval series; empty when intervals_in names a file"),
    ]
    intervals_in: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "since 1.10: the file of this directory holding the interval series instead of "
                "intervals (latency.hlog, one tagged series per phase and clock, with the counts "
                "of each interval as #[Counts: ...] comments), for series longer than 3,600 "
                "intervals; null: intervals holds it"
            )
        ),
    ] = None
    fault_windows: list[FaultWindowDoc]
    audit: AuditDoc | None
    comparison: ComparisonDoc | None
    provenance: ProvenanceDoc
    gameday: Annotated[
        GameDayDoc | None,
        msgspec.Meta(description="the game day this run was (since 1.3; null for plain runs)"),
    ] = None
    pci: Annotated[
        PciRunSection | None,
        msgspec.Meta(
            description=(
                "PCI segmentation under load (run --netpol; since 1.4): the boundary verdict with "
                "its probe rounds, and the evidence bundle (matrix, expectations, lints, probe "
                "runs with timestamps and tries, PCI DSS requirement statuses)"
            )
        ),
    ] = None
    tail: Annotated[
        TailSectionDoc | None,
        msgspec.Meta(
            description=(
                "where the slowest requests spent their time (since 1.6): per phase x endpoint "
                "the median band vs the tail band by stage, the driver, the slowest requests "
                "with W3C trace ids; null when the generator kept no requests"
            )
        ),
    ] = None


def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``report.json``, as shipped in report.schema.json."""
    generated = _clean_descriptions(msgspec.json.schema(ReportDoc))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "slo-harness run report",
        "description": (
            f"report.json, schema version {SCHEMA_VERSION}. Minor versions only add fields; "
            "readers ignore unknown fields. Latencies in milliseconds measured from the intended "
            "send time (latency_ms) or the actual send (service_time_ms)."
        ),
        **generated,
    }


def _clean_descriptions(node: Any) -> Any:
    # Docstrings become descriptions; msgspec 0.23 dedents them and 0.22 does not, so dedent here
    # (inspect.cleandoc, as Python does for help()) and the shipped schema is the same either way.
    if isinstance(node, dict):
        return {
            k: inspect.cleandoc(v) if k == "description" and isinstance(v, str) else
            _clean_descriptions(v)
            for k, v in node.items()
        }  # fmt: skip
    if isinstance(node, list):
        return [_clean_descriptions(v) for v in node]
    return node
