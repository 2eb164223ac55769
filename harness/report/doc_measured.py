"""``report.json`` structs of what was measured: latencies, request counts, phases, intervals.

Percentiles of a histogram are ``null`` when it has no samples or when the percentile lies beyond
the 60 s histogram range (then ``out_of_range`` > 0). Part of :mod:`harness.report.document`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from harness.measure import Clock, Outcome, PhaseKind
from harness.report.doc_types import Count, Doc, Ms, Seconds
from harness.report.responses import ResponsesDoc

__all__ = [
    "EndpointDoc",
    "EndpointRequestsDoc",
    "HistogramDoc",
    "IntervalDoc",
    "LatencyDoc",
    "PhaseDoc",
    "RequestsDoc",
]


class LatencyDoc(Doc, frozen=True, kw_only=True):
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


class RequestsDoc(Doc, frozen=True, kw_only=True):
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


class EndpointRequestsDoc(Doc, frozen=True, kw_only=True):
    """Responses of one endpoint by outcome (from its intended-clock histograms)."""

    sent: Count
    ok: Count
    failed: Count
    shed: Count


class EndpointDoc(Doc, frozen=True, kw_only=True):
    """One endpoint of a phase: intended-clock and service-time latencies of OK responses."""

    endpoint: str
    latency_ms: LatencyDoc
    service_time_ms: LatencyDoc
    requests: EndpointRequestsDoc
    responses: Annotated[
        ResponsesDoc | None,
        msgspec.Meta(description="status codes and failures by kind (since 1.5; null: not kept)"),
    ] = None


class HistogramDoc(Doc, frozen=True, kw_only=True):
    """One raw HDR histogram (values in microseconds, 1 us .. 60 s, 3 significant digits)."""

    endpoint: str
    outcome: Outcome
    clock: Clock
    encoded: Annotated[str, msgspec.Meta(description="HdrHistogram V2 compressed, base64")]
    out_of_range: Count


class PhaseDoc(Doc, frozen=True, kw_only=True):
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


class IntervalDoc(Doc, frozen=True, kw_only=True):
    """One interval of the time series (normally 1 s): counts plus the intended-clock histogram
    of OK responses that completed in it. windows.csv has the same series with percentiles."""

    start_s: Annotated[float, msgspec.Meta(description="offset from the run start, seconds")]
    length_s: Seconds
    phase: str
    offered: Annotated[int, msgspec.Meta(ge=0, description="requests intended in the interval")]
    requests: RequestsDoc
    encoded: Annotated[str, msgspec.Meta(description="HdrHistogram V2 compressed, base64")]
    out_of_range: Count
