"""Latency measurement: HDR histograms, the per-process recorder, its exact merge and hlog I/O.

Pure Python over ``hdrh``; nothing here imports Locust or gevent, so the SLO and report code can
use it in any process.
"""

from harness.measure.distribution import Distribution, distribution, min_samples
from harness.measure.flushclock import FlushClock
from harness.measure.histogram import HIGHEST_US, LatencyHistogram, deferred_histogram
from harness.measure.hlog import HlogInterval, read_hlog, write_hlog
from harness.measure.intervallog import (
    IntervalLog,
    IntervalLogWriter,
    in_time_order,
    read_series,
    time_slices,
)
from harness.measure.observe import IntervalSample, RunObserver
from harness.measure.phase import PhaseMeta
from harness.measure.rank import nearest_rank
from harness.measure.rebuild import (
    ALL_ENDPOINTS,
    log_meta,
    log_phases,
    result_from_log,
)
from harness.measure.recorder import LiveStats, Recorder
from harness.measure.responses import (
    EndpointResponses,
    FailureKind,
    ResponseTally,
    mask_snippet,
    status_key,
)
from harness.measure.result import (
    AuditCheck,
    Clock,
    ConnectionRecord,
    FaultWindow,
    GeneratorHealth,
    HistKey,
    IntervalRecord,
    NetworkPlacement,
    Outcome,
    PhaseKind,
    PhaseResult,
    RequestCounts,
    RunResult,
    ScenarioRef,
    TargetInfo,
    TlsRecord,
)
from harness.measure.scan import (
    COUNTERS_LEN,
    Counters,
    CountersSum,
    IntervalConsumer,
    IntervalView,
    histogram_from_counters,
    scan_series,
    series_span_s,
)
from harness.measure.tail import (
    ClientMarks,
    PendingRequest,
    TailSample,
    TailSampler,
    TracedRequest,
    decode_samples,
    encode_samples,
    merge_samples,
)
from harness.measure.tracecontext import (
    ServerStage,
    parse_server_timing,
    run_trace_prefix,
    server_timing_of_head,
    traceparent,
)

__all__ = [
    "ALL_ENDPOINTS",
    "COUNTERS_LEN",
    "HIGHEST_US",
    "AuditCheck",
    "ClientMarks",
    "Clock",
    "ConnectionRecord",
    "Counters",
    "CountersSum",
    "Distribution",
    "EndpointResponses",
    "FailureKind",
    "FaultWindow",
    "FlushClock",
    "GeneratorHealth",
    "HistKey",
    "HlogInterval",
    "IntervalConsumer",
    "IntervalLog",
    "IntervalLogWriter",
    "IntervalRecord",
    "IntervalSample",
    "IntervalView",
    "LatencyHistogram",
    "LiveStats",
    "NetworkPlacement",
    "Outcome",
    "PendingRequest",
    "PhaseKind",
    "PhaseMeta",
    "PhaseResult",
    "Recorder",
    "RequestCounts",
    "ResponseTally",
    "RunObserver",
    "RunResult",
    "ScenarioRef",
    "ServerStage",
    "TailSample",
    "TailSampler",
    "TargetInfo",
    "TlsRecord",
    "TracedRequest",
    "decode_samples",
    "deferred_histogram",
    "distribution",
    "encode_samples",
    "histogram_from_counters",
    "in_time_order",
    "log_meta",
    "log_phases",
    "mask_snippet",
    "merge_samples",
    "min_samples",
    "nearest_rank",
    "parse_server_timing",
    "read_hlog",
    "read_series",
    "result_from_log",
    "run_trace_prefix",
    "scan_series",
    "series_span_s",
    "server_timing_of_head",
    "status_key",
    "time_slices",
    "traceparent",
    "write_hlog",
]
