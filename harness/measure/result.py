"""What a measured run is: the contract between ``harness.load`` (producer), ``harness.slo``
(evaluator) and ``harness.report`` (writers).

Everything here is plain data over :class:`LatencyHistogram`; nothing imports Locust. Latencies are
kept as histograms, never as pre-computed percentiles, so verdicts and reports read exact HDR
percentiles and merges stay lossless.

Two clocks (wrk2's distinction):
- ``Clock.INTENDED``: from the time the schedule said the request should be sent to the response;
  what a real client sees, including any queueing the generator or the target caused
  (coordinated-omission-corrected);
- ``Clock.SERVICE``: from the actual send to the response.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from harness.measure.histogram import LatencyHistogram
from harness.measure.tail import TailSample

if TYPE_CHECKING:
    from harness.measure.responses import EndpointResponses

__all__ = [
    "AuditCheck",
    "Clock",
    "FaultWindow",
    "GeneratorHealth",
    "HistKey",
    "IntervalRecord",
    "NetworkPlacement",
    "Outcome",
    "PhaseKind",
    "PhaseResult",
    "RequestCounts",
    "RunResult",
    "ScenarioRef",
    "TargetInfo",
]


class Clock(enum.Enum):
    """Which start time a latency was measured from."""

    INTENDED = "intended"
    SERVICE = "service"


class Outcome(enum.Enum):
    """How a request ended."""

    OK = "ok"  # 2xx
    FAILED = "failed"  # transport error, timeout, 4xx/5xx other than shedding
    SHED = "shed"  # 503 from the target's admission control (it said no quickly, on purpose)


class PhaseKind(enum.Enum):
    """The load shape of a phase."""

    WARMUP = "warmup"
    STEADY = "steady"
    RAMP = "ramp"
    STEP = "step"
    SPIKE = "spike"
    SOAK = "soak"


@dataclass(frozen=True, slots=True)
class HistKey:
    """Identifies one histogram inside a phase: endpoint x outcome x clock."""

    endpoint: str
    outcome: Outcome
    clock: Clock


@dataclass(frozen=True, slots=True)
class RequestCounts:
    """Request accounting. Invariant: ``sent == ok + failed + shed`` once the phase has drained;
    ``late`` counts sends that left more than the lateness bound after their intended time
    (they are still sent and measured, never skipped); ``unsent`` counts intended requests that
    could not be sent at all before the phase ended (concurrency cap exhausted)."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    shed: int = 0
    late: int = 0
    unsent: int = 0
    out_of_range: int = 0

    def __add__(self, other: RequestCounts) -> RequestCounts:
        return RequestCounts(
            self.sent + other.sent,
            self.ok + other.ok,
            self.failed + other.failed,
            self.shed + other.shed,
            self.late + other.late,
            self.unsent + other.unsent,
            self.out_of_range + other.out_of_range,
        )


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """One phase of a run. Warm-up phases have ``in_verdict=False``."""

    name: str
    kind: PhaseKind
    in_verdict: bool
    start_s: float  # offset from the run's start, seconds
    duration_s: float
    offered_rps: float  # what the schedule intended (mean over the phase)
    achieved_rps: float  # completed responses per second
    counts: RequestCounts
    histograms: Mapping[HistKey, LatencyHistogram]

    @property
    def endpoints(self) -> tuple[str, ...]:
        """Endpoints that have at least one histogram in this phase, sorted."""
        return tuple(sorted({k.endpoint for k in self.histograms}))

    def latency(
        self,
        *,
        endpoint: str | None = None,
        outcomes: Iterable[Outcome] = (Outcome.OK,),
        clock: Clock = Clock.INTENDED,
    ) -> LatencyHistogram:
        """A merged copy over the selected endpoint (all when None), outcomes and clock."""
        wanted = set(outcomes)
        merged = LatencyHistogram()
        for key, hist in self.histograms.items():
            in_scope = endpoint is None or key.endpoint == endpoint
            if key.clock is clock and key.outcome in wanted and in_scope:
                merged.add(hist)
        return merged


@dataclass(frozen=True, slots=True)
class IntervalRecord:
    """One interval (normally 1 s) of the time series, across endpoints.

    ``latency`` holds intended-clock latencies of OK responses that *completed* in the interval;
    ``service`` the service-time (actual send to response) latencies of the same responses, empty
    where it was not recorded (series read back from a ``report.json``, which keeps only
    ``latency``; ``latency.hlog`` keeps both as tagged series).
    """

    start_s: float  # offset from the run's start
    length_s: float
    phase: str
    offered: int  # requests whose intended send time fell in the interval
    counts: RequestCounts  # completions in the interval (sent/late by send time)
    latency: LatencyHistogram
    service: LatencyHistogram = field(default_factory=LatencyHistogram)


@dataclass(frozen=True, slots=True)
class GeneratorHealth:
    """How the load generator itself fared; an invalid generator invalidates the run."""

    cpu_percent_p50: float
    cpu_percent_max: float
    schedule_lag_p99_ms: float  # actual send minus intended send
    schedule_lag_max_ms: float
    concurrency_cap: int
    concurrency_peak: int
    cap_hits: int  # times a request had to wait for a free slot
    valid: bool
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkPlacement:
    """Where the load generator and the service ran when not in the host's network namespace.

    Names are network namespaces (``ip netns``); ``service_netns`` is None for a target the
    harness did not launch (its address is in the target URL).
    """

    generator_netns: str
    service_netns: str | None = None
    lab: str | None = None  # the lab namespace (bridge) when the harness built the lab


@dataclass(frozen=True, slots=True)
class TlsRecord:
    """How the generator talked TLS to the target (provenance; no key material, no secrets).

    Digests are SHA-256 of the files' bytes (CA bundle) or of the DER certificate; the server's
    certificate and the negotiated version/cipher are what the pre-flight handshake observed.
    """

    verify: bool  # False only when the scenario says ``insecure: true``
    server_name: str  # SNI and the name verified
    min_version: str  # "1.2" | "1.3"
    ca_file: str | None = None  # None: the system trust store (or no verification)
    ca_sha256: str | None = None
    client_cert_file: str | None = None  # mTLS
    client_cert_sha256: str | None = None
    client_cert_subject: str | None = None
    negotiated_version: str | None = None  # e.g. "TLSv1.3"
    cipher: str | None = None
    server_cert_sha256: str | None = None
    server_cert_subject: str | None = None
    server_cert_not_after: str | None = None


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """Where the load was allowed to go and how it got there (provenance of the target)."""

    scheme: str  # http | https
    addresses: tuple[str, ...]  # the target host's addresses, resolved once, each checked
    allowlist: tuple[str, ...]  # the default rule, then every explicit entry with its source
    tls: TlsRecord | None = None  # None for http://


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """What was measured; model fields come from the target's V2 metadata when it speaks V2."""

    url: str
    started_by_harness: bool
    model_name: str | None = None
    model_version: str | None = None
    model_sha256: str | None = None
    placement: NetworkPlacement | None = None  # None: generator and target in the host namespace
    connection: ConnectionRecord | None = None  # allowlist, resolved addresses, TLS


@dataclass(frozen=True, slots=True)
class ScenarioRef:
    """The scenario file a run came from."""

    name: str
    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """A span during which a fault was active (shaded in plots)."""

    name: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """The embedded service's audit trail, verified after it stopped (flushed).

    ``records`` counts ``/v1/score`` decisions on disk; every OK score response must have one, and
    no record may exist without a request that was sent: ``ok_responses <= records <= sent``.
    """

    intact: bool
    records: int
    streams: int
    problems: tuple[str, ...] = ()
    #: Each stream's chain head as ``STREAM:SEQ:MAC`` (docs/AUDIT_FORMAT.md: keep it outside the
    #: trail host; ``slo-harness audit verify --expect-heads-from report.json`` checks it).
    heads: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunResult:
    """A whole measured run."""

    scenario: ScenarioRef
    target: TargetInfo
    started_at: datetime  # UTC
    ended_at: datetime  # UTC
    phases: tuple[PhaseResult, ...]
    #: In memory (a tuple) or read lazily from the run's interval log (``IntervalLog``): iterate,
    #: index or take ``len``; never assume a tuple.
    intervals: Sequence[IntervalRecord]
    generator: GeneratorHealth
    workers: int = 0  # 0 = local runner, N = distributed with N workers
    fault_windows: tuple[FaultWindow, ...] = field(default=())
    audit: AuditCheck | None = None  # set when the harness ran the reference service itself
    #: Status codes and failure samples per phase and endpoint (empty: not collected).
    responses: tuple[EndpointResponses, ...] = ()
    #: ``env:NAME`` / ``file:PATH`` secrets the request headers used (never their values).
    secrets_used: tuple[str, ...] = ()
    #: Requests kept to explain the tail, per phase x endpoint (empty: none kept, e.g. an old
    #: report read back or a distributed run); see :mod:`harness.measure.tail`.
    tails: tuple[TailSample, ...] = field(default=())
    #: True for a run rebuilt from the interval log of an interrupted run (measured up to its
    #: last complete interval only).
    incomplete: bool = False

    @property
    def verdict_phases(self) -> tuple[PhaseResult, ...]:
        """Phases that count towards the verdict (warm-up excluded)."""
        return tuple(p for p in self.phases if p.in_verdict)
