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
"""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import Annotated, Any, Final

import msgspec

from harness.measure import Clock, Outcome, PhaseKind
from harness.netpol import PciRunSection
from harness.report.gameday import GameDayDoc
from harness.report.responses import ResponsesDoc
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
#: (allowlist, addresses, TLS), 1.9 ``run.incomplete``
SCHEMA_VERSION: Final = "1.9"
SCHEMA_ID: Final = "urn:slo-harness:report:1"

UtcTime = Annotated[
    datetime,
    msgspec.Meta(
        tz=True, description="UTC time, RFC 3339", extra_json_schema={"format": "date-time"}
    ),
]
Ms = Annotated[float | None, msgspec.Meta(description="milliseconds; null: see LatencyDoc")]
Seconds = Annotated[float, msgspec.Meta(description="seconds")]
Count = Annotated[int, msgspec.Meta(ge=0)]
Sha256 = Annotated[str | None, msgspec.Meta(description="lower-case hex SHA-256, null if unknown")]


class _Doc(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every document struct."""


class LatencyDoc(_Doc, frozen=True, kw_only=True):
    """Percentiles of one histogram in milliseconds (exact HDR values, bucket upper edges).

    A percentile is null when the histogram has no samples (count = 0 and out_of_range = 0) or
    when it lies beyond the histogram's 60 s range (out_of_range > 0)."""

    p50: Ms
    p90: Ms
    p95: Ms
    p99: Ms
    p99_9: Ms
    max: Ms
    count: Annotated[int, msgspec.Meta(ge=0, description="samples inside the range")]
    out_of_range: Annotated[int, msgspec.Meta(ge=0, description="samples slower than 60 s")]


class RequestsDoc(_Doc, frozen=True, kw_only=True):
    """Request accounting of a phase or interval. After draining, sent = ok + failed + shed;
    late requests were sent (and measured) after the lateness bound; unsent ones could not be sent
    at all before the phase ended."""

    sent: Count
    ok: Count
    failed: Count
    shed: Count
    late: Count
    unsent: Count
    out_of_range: Count


class EndpointRequestsDoc(_Doc, frozen=True, kw_only=True):
    """Responses of one endpoint by outcome (from its intended-clock histograms)."""

    sent: Count
    ok: Count
    failed: Count
    shed: Count


class EndpointDoc(_Doc, frozen=True, kw_only=True):
    """One endpoint of a phase: intended-clock and service-time latencies of OK responses."""

    endpoint: str
    latency_ms: LatencyDoc
    service_time_ms: LatencyDoc
    requests: EndpointRequestsDoc
    responses: Annotated[
        ResponsesDoc | None,
        msgspec.Meta(description="status codes and failures by kind (since 1.5; null: not kept)"),
    ] = None


class HistogramDoc(_Doc, frozen=True, kw_only=True):
    """One raw HDR histogram (values in microseconds, 1 us .. 60 s, 3 significant digits)."""

    endpoint: str
    outcome: Outcome
    clock: Clock
    encoded: Annotated[str, msgspec.Meta(description="HdrHistogram V2 compressed, base64")]
    out_of_range: Count


class PhaseDoc(_Doc, frozen=True, kw_only=True):
    """One phase. latency_ms is measured from the intended send time (coordinated-omission
    corrected) over OK responses of every endpoint; service_time_ms from the actual send."""

    name: str
    kind: PhaseKind
    in_verdict: Annotated[bool, msgspec.Meta(description="false for warm-up phases")]
    start_s: Annotated[float, msgspec.Meta(description="offset from the run start, seconds")]
    duration_s: Seconds
    offered_rps: Annotated[float, msgspec.Meta(description="mean rate the schedule intended")]
    achieved_rps: Annotated[float, msgspec.Meta(description="completed responses per second")]
    requests: RequestsDoc
    latency_ms: LatencyDoc
    service_time_ms: LatencyDoc
    endpoints: list[EndpointDoc]
    histograms: list[HistogramDoc]


class IntervalDoc(_Doc, frozen=True, kw_only=True):
    """One interval of the time series (normally 1 s): counts plus the intended-clock histogram
    of OK responses that completed in it. windows.csv has the same series with percentiles."""

    start_s: Annotated[float, msgspec.Meta(description="offset from the run start, seconds")]
    length_s: Seconds
    phase: str
    offered: Annotated[int, msgspec.Meta(ge=0, description="requests intended in the interval")]
    requests: RequestsDoc
    encoded: Annotated[str, msgspec.Meta(description="HdrHistogram V2 compressed, base64")]
    out_of_range: Count


class ObjectiveDoc(_Doc, frozen=True, kw_only=True):
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


class KneeDoc(_Doc, frozen=True, kw_only=True):
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


class GeneratorDoc(_Doc, frozen=True, kw_only=True):
    """How the load generator itself fared; valid = false invalidates the run."""

    cpu_percent_p50: float
    cpu_percent_max: float
    schedule_lag_p99_ms: float
    schedule_lag_max_ms: float
    concurrency_cap: Count
    concurrency_peak: Count
    cap_hits: Count
    valid: bool
    reasons: list[str]


class PlacementDoc(_Doc, frozen=True, kw_only=True):
    """The network namespaces generator and service ran in (``slo-harness run --lab``)."""

    generator_netns: str
    service_netns: str | None
    lab: str | None


class TargetDoc(_Doc, frozen=True, kw_only=True):
    """The service that was measured."""

    url: str
    started_by_harness: bool
    model_name: str | None
    model_version: str | None
    model_sha256: Sha256
    placement: PlacementDoc | None = None  # null: generator and target in the host namespace


class ScenarioDoc(_Doc, frozen=True, kw_only=True):
    """The scenario file the run came from."""

    name: str
    path: str
    sha256: str


class FaultWindowDoc(_Doc, frozen=True, kw_only=True):
    """A span (offsets from the run start, seconds) during which a fault was active."""

    name: str
    start_s: float
    end_s: float


class AuditDoc(_Doc, frozen=True, kw_only=True):
    """The embedded reference service's audit trail, verified after the run (null when the
    harness did not start the service): every OK score response has a record and the hash chain
    is intact."""

    intact: bool
    records: Annotated[int, msgspec.Meta(ge=0, description="decision records on disk")]
    streams: Count
    problems: list[str]
    heads: list[str] = msgspec.field(default_factory=list)
    """Each stream's chain head, ``STREAM:SEQ:MAC``: the anchor `audit verify
    --expect-heads-from` checks, so removed newest records or segments are detected."""


class RunDoc(_Doc, frozen=True, kw_only=True):
    """When the run happened and how it was driven."""

    started_at: UtcTime
    ended_at: UtcTime
    duration_s: Seconds
    workers: Annotated[int, msgspec.Meta(ge=0, description="0: local runner")]
    incomplete: Annotated[
        bool,
        msgspec.Meta(
            description=(
                "rebuilt from the interval log of an interrupted run (slo-harness report "
                "rebuild): measured up to its last complete interval only (since 1.9)"
            )
        ),
    ] = False


class MetricComparisonDoc(_Doc, frozen=True, kw_only=True):
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


class ComparisonDoc(_Doc, frozen=True, kw_only=True):
    """The baseline comparison (regression gate); regressed when any metric regressed."""

    base_label: str
    new_label: str
    tolerance: Annotated[float, msgspec.Meta(description="relative, 0.10 = 10%")]
    alpha: float
    regressed: bool
    metrics: list[MetricComparisonDoc]
    notes: list[str]


class PackageDoc(_Doc, frozen=True, kw_only=True):
    """An installed distribution; version null when not installed."""

    name: str
    version: str | None


class TlsDoc(_Doc, frozen=True, kw_only=True):
    """How the generator spoke TLS to an https:// target (no key material is ever recorded)."""

    verify: Annotated[
        bool, msgspec.Meta(description="false only when the scenario says insecure: true")
    ]
    server_name: Annotated[str, msgspec.Meta(description="SNI and the name verified")]
    min_version: Annotated[str, msgspec.Meta(description='lowest version offered: "1.2" or "1.3"')]
    ca_file: Annotated[str | None, msgspec.Meta(description="null: the system trust store")]
    ca_sha256: Sha256
    client_cert_file: Annotated[str | None, msgspec.Meta(description="mTLS client certificate")]
    client_cert_sha256: Sha256
    client_cert_subject: str | None
    negotiated_version: Annotated[
        str | None, msgspec.Meta(description="what the pre-flight handshake negotiated")
    ]
    cipher: str | None
    server_cert_sha256: Sha256
    server_cert_subject: str | None
    server_cert_not_after: str | None


class ConnectionDoc(_Doc, frozen=True, kw_only=True):
    """Where load was allowed to go and how it reached the target."""

    scheme: Annotated[str, msgspec.Meta(description="http or https")]
    addresses: Annotated[
        list[str],
        msgspec.Meta(description="target addresses, resolved once, each checked"),
    ]
    allowlist: Annotated[
        list[str],
        msgspec.Meta(description="the default rule, then every explicit entry with its source"),
    ]
    tls: TlsDoc | None


class ProvenanceDoc(_Doc, frozen=True, kw_only=True):
    """What produced the report: code, inputs, target, host and versions."""

    harness_version: str
    git_commit: str | None
    git_dirty: bool | None
    scenario_path: str
    scenario_sha256: Sha256
    slo_path: Annotated[str | None, msgspec.Meta(description="null: embedded default SLO")]
    slo_sha256: Sha256
    target_url: str
    model_name: str | None
    model_version: str | None
    model_sha256: Sha256
    host: str
    cpu_model: str
    cpu_count: Count
    os: str
    kernel: str
    python_version: str
    packages: list[PackageDoc]
    started_at: UtcTime
    ended_at: UtcTime
    command_line: Annotated[list[str], msgspec.Meta(description="argv, secrets redacted")]
    connection: Annotated[
        ConnectionDoc | None,
        msgspec.Meta(description="allowlist, addresses and TLS of the target (since 1.8)"),
    ] = None
    secrets_used: Annotated[
        list[str],
        msgspec.Meta(
            description="env:NAME / file:PATH secrets request headers used, never their values "
            "(since 1.5)"
        ),
    ] = msgspec.field(default_factory=list)


class ReportDoc(_Doc, frozen=True, kw_only=True):
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
    intervals: list[IntervalDoc]
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
