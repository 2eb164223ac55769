"""``report.json`` structs of the run's context: how and where it ran, against what, by what.

Generator health, target and placement, scenario, fault windows, the audit trail check, run times
and provenance (versions, files, TLS). Part of :mod:`harness.report.document`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from harness.report.doc_types import Count, Doc, Seconds, Sha256, UtcTime

__all__ = [
    "AuditDoc",
    "ConnectionDoc",
    "FaultWindowDoc",
    "GeneratorDoc",
    "PackageDoc",
    "PlacementDoc",
    "ProvenanceDoc",
    "RunDoc",
    "ScenarioDoc",
    "TargetDoc",
    "TlsDoc",
]


class GeneratorDoc(Doc, frozen=True, kw_only=True):
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


class PlacementDoc(Doc, frozen=True, kw_only=True):
    """The network namespaces generator and service ran in (``slo-harness run --lab``)."""

    generator_netns: str
    service_netns: str | None
    lab: str | None


class TargetDoc(Doc, frozen=True, kw_only=True):
    """The service that was measured."""

    url: str
    started_by_harness: bool
    model_name: str | None
    model_version: str | None
    model_sha256: Sha256
    placement: PlacementDoc | None = None  # null: generator and target in the host namespace


class ScenarioDoc(Doc, frozen=True, kw_only=True):
    """The scenario file the run came from."""

    name: str
    path: str
    sha256: str


class FaultWindowDoc(Doc, frozen=True, kw_only=True):
    """A span (offsets from the run start, seconds) during which a fault was active."""

    name: str
    start_s: float
    end_s: float


class AuditDoc(Doc, frozen=True, kw_only=True):
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


class RunDoc(Doc, frozen=True, kw_only=True):
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


class PackageDoc(Doc, frozen=True, kw_only=True):
    """An installed distribution; version null when not installed."""

    name: str
    version: str | None


class TlsDoc(Doc, frozen=True, kw_only=True):
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


class ConnectionDoc(Doc, frozen=True, kw_only=True):
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


class ProvenanceDoc(Doc, frozen=True, kw_only=True):
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
