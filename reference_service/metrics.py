"""Prometheus metrics of the scoring service (``GET /metrics``).

With one worker the metrics live in a private registry. With several, uvicorn forks workers that
each count their own traffic, and a scrape reaches one of them at random; so the launcher sets
``PROMETHEUS_MULTIPROC_DIR`` and prometheus_client's multiprocess mode aggregates all workers'
memory-mapped values on every scrape (gauges: ``livesum``, so dead workers drop out).

Label values are closed sets chosen by the code (route names, status codes, decision and reason
enums): never a PAN, a token, a transaction id or any other request-controlled string, which also
keeps cardinality fixed. Label children are cached per (route, status) because ``.labels()`` costs
about a microsecond per call on the request path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

__all__ = ["MULTIPROC_ENV", "Metrics"]

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
# Latency buckets around a 50 ms deadline with sub-millisecond resolution (seconds).
_LATENCY_BUCKETS: Final = (
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
_FSYNC_BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0)


class Metrics:
    """All metrics of one worker, with cheap recording methods for the request path."""

    def __init__(self) -> None:
        # ``*_created`` series double the exposition size and carry nothing a dashboard uses.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._requests = Counter(
            "slo_http_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=r,
        )
        self._latency = Histogram(
            "slo_http_request_duration_seconds",
            "Server-side request latency by route and status",
            ["route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self._decisions = Counter("slo_decisions", "Decisions by outcome", ["decision"], registry=r)
        self._shed = Counter(
            "slo_shed_requests", "Requests refused with 503", ["reason"], registry=r
        )
        self._degraded = Counter(
            "slo_degraded_decisions",
            "Decisions scored without velocity features, by cause",
            ["cause"],
            registry=r,
        )
        self._writes_dropped = Counter(
            "slo_feature_writes_dropped", "Velocity writes dropped (store slow or down)", registry=r
        )
        self.in_flight = Gauge(
            "slo_in_flight_requests",
            "Requests being handled",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.admission_limit = Gauge(
            "slo_admission_limit",
            "Current in-flight limit of admission control",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.audit_queue = Gauge(
            "slo_audit_queue_depth",
            "Audit records waiting to be written",
            registry=r,
            multiprocess_mode="livesum",
        )
        self._fsync = Histogram(
            "slo_audit_fsync_seconds",
            "Duration of one audit group commit (write + fsync)",
            buckets=_FSYNC_BUCKETS,
            registry=r,
        )
        self._fsync_batch = Counter(
            "slo_audit_records_committed", "Audit records made durable", registry=r
        )
        self._model = Gauge(
            "slo_model_info",
            "Loaded model (value 1)",
            ["name", "version", "sha256"],
            registry=r,
            multiprocess_mode="max",
        )
        self._children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}

    def request(self, route: str, status: int, seconds: float) -> None:
        """Count one finished request and its latency."""
        pair = self._children.get((route, status))
        if pair is None:
            code = str(status)
            pair = (
                self._requests.labels(route, code),
                self._latency.labels(route, code),
            )
            self._children[(route, status)] = pair
        pair[0].inc()
        pair[1].observe(seconds)

    def decision(self, outcome: str) -> None:
        self._decisions.labels(outcome).inc()

    def shed(self, reason: str) -> None:
        self._shed.labels(reason).inc()

    def degraded(self, cause: str) -> None:
        self._degraded.labels(cause).inc()

    def declare_degraded(self, causes: Iterable[str]) -> None:
        """Create the degraded counter's children at 0, so the family is in every exposition
        (multiprocess mode leaves out a family nothing has incremented): a scraper can then tell
        "no degraded decisions" (0) from "this service does not count them" (no family)."""
        for cause in causes:
            self._degraded.labels(cause)

    def write_dropped(self) -> None:
        self._writes_dropped.inc()

    def fsync(self, seconds: float, records: int) -> None:
        self._fsync.observe(seconds)
        self._fsync_batch.inc(records)

    def model_info(self, name: str, version: str, sha256: str) -> None:
        self._model.labels(name, version, sha256).set(1)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type (all workers in multiprocess mode)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            agg = CollectorRegistry()
            multiprocess.MultiProcessCollector(agg)  # type: ignore[no-untyped-call]
            return generate_latest(agg), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def worker_exit(self) -> None:
        """Drop this worker's live gauges from the shared directory (multiprocess mode)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
