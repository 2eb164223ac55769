"""Prometheus metrics of the scoring service (``GET /metrics``).

With one worker the metrics live in a private registry. With several, uvicorn forks workers that
each count their own traffic, and a scrape reaches one of them at random; so the launcher sets
``PROMETHEUS_MULTIPROC_DIR`` and prometheus_client's multiprocess mode aggregates all workers'
memory-mapped values on every scrape (gauges: ``livesum``, so dead workers drop out).

Label values are closed sets chosen by the code (route names, status codes, decision and reason
enums): never a PAN, a token, a transaction id or any other request-controlled string, which also
keeps cardinality fixed.

With one worker the request path does not touch prometheus_client: :meth:`Metrics.request` and
:meth:`Metrics.decision` add to plain per-label tallies (a dict lookup, a ``bisect`` for the
latency bucket and three integer/float additions), and :meth:`Metrics.flush` moves the tallies into
the Prometheus series before every exposition (so a scrape is exact) and every
:data:`FLUSH_INTERVAL_S` from the app's gauge loop. Each prometheus_client update takes a lock and
several Python calls (a request cost a counter, a histogram, a decision counter and two gauge
updates: about 5% of the service's CPU per request at saturation). The event loop is the only
writer of the tallies, so they need no lock. The in-flight gauge is set from admission control's
own count at the same moments. With several workers a scrape reaches one worker and reads the
others' shared files, so there every request is flushed at once and the in-flight gauge moves per
request (:meth:`Metrics.entered` / :meth:`Metrics.left`): the exposition stays exact.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Callable, Iterable
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

__all__ = ["FLUSH_INTERVAL_S", "MULTIPROC_ENV", "Metrics"]

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: Longest time a request's count stays in this worker's tallies before it reaches the shared
#: series (seconds; the app's gauge loop flushes at this period, a scrape flushes at once).
FLUSH_INTERVAL_S: Final = 0.1
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
        # The in-process velocity store's size and losses, read from its stats at every flush.
        self._velocity_cards = Gauge(
            "slo_velocity_cards",
            "Cards held by the in-process velocity store",
            registry=r,
            multiprocess_mode="livesum",
        )
        self._velocity_bytes = Gauge(
            "slo_velocity_store_bytes",
            "Accounted bytes of the in-process velocity store (bounded by --velocity-max-mb)",
            registry=r,
            multiprocess_mode="livesum",
        )
        self._velocity_evicted = Counter(
            "slo_velocity_cards_evicted",
            "Cards whose velocity history was forgotten to keep the store within its bound",
            registry=r,
        )
        self._velocity_expired = Counter(
            "slo_velocity_cards_expired",
            "Idle cards dropped from the store once nothing of them was inside 24 h",
            registry=r,
        )
        self._velocity_source: Callable[[], tuple[int, int, int, int]] | None = None
        self._velocity_seen = (0, 0)
        # Upper bounds as prometheus_client keeps them (+Inf appended): bucket i holds the
        # observations v with bounds[i - 1] < v <= bounds[i], which is bisect_left's index.
        self._bounds: tuple[float, ...] = (*_LATENCY_BUCKETS, float("inf"))
        # Per (route, status): [sum of seconds, count of bucket 0, bucket 1, ...], not yet flushed.
        self._tallies: dict[tuple[str, int], list[float]] = {}
        self._decision_tallies: dict[str, int] = {}

    def request(self, route: str, status: int, seconds: float) -> None:
        """Count one finished request and its latency (into the tallies; see :meth:`flush`)."""
        tally = self._tallies.get((route, status))
        if tally is None:
            tally = self._tallies[(route, status)] = [0.0] * (len(self._bounds) + 1)
        tally[0] += seconds
        tally[1 + bisect_left(self._bounds, seconds)] += 1
        if self.multiprocess:
            self._flush_one(route, status, tally)

    def decision(self, outcome: str) -> None:
        """Count one decision (into the tallies; see :meth:`flush`)."""
        if self.multiprocess:
            self._decisions.labels(outcome).inc()
            return
        tallies = self._decision_tallies
        tallies[outcome] = tallies.get(outcome, 0) + 1

    def entered(self) -> None:
        """An admitted request started (moves the in-flight gauge only with several workers)."""
        if self.multiprocess:
            self.in_flight.inc()

    def left(self) -> None:
        """An admitted request finished (see :meth:`entered`)."""
        if self.multiprocess:
            self.in_flight.dec()

    def watch_velocity(self, stats: Callable[[], tuple[int, int, int, int]]) -> None:
        """Read the in-process store's ``(cards, bytes, evicted, expired)`` at every flush."""
        self._velocity_source = stats

    def _flush_velocity(self, stats: Callable[[], tuple[int, int, int, int]]) -> None:
        cards, nbytes, evicted, expired = stats()
        self._velocity_cards.set(cards)
        self._velocity_bytes.set(nbytes)
        seen_evicted, seen_expired = self._velocity_seen
        if evicted > seen_evicted:
            self._velocity_evicted.inc(evicted - seen_evicted)
        if expired > seen_expired:
            self._velocity_expired.inc(expired - seen_expired)
        self._velocity_seen = (evicted, expired)

    def flush(self) -> None:
        """Move the request and decision tallies into the Prometheus series (event loop only)."""
        if self._velocity_source is not None:
            self._flush_velocity(self._velocity_source)
        for (route, status), tally in self._tallies.items():
            self._flush_one(route, status, tally)
        for outcome, n in self._decision_tallies.items():
            if n:
                self._decisions.labels(outcome).inc(n)
        self._decision_tallies.clear()

    def _flush_one(self, route: str, status: int, tally: list[float]) -> None:
        count = sum(tally[1:])
        if not count:
            return
        code = str(status)
        self._requests.labels(route, code).inc(count)
        hist = self._latency.labels(route, code)
        # Histogram.observe() per request is what this replaces: its sum and bucket values,
        # added in bulk (tests/service/test_svc_metrics_flush.py holds the two equal).
        hist._sum.inc(tally[0])
        for i, n in enumerate(tally[1:]):
            if n:
                hist._buckets[i].inc(n)
        tally[:] = [0.0] * len(tally)

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
        self.flush()
        if self.multiprocess:
            from prometheus_client import multiprocess

            agg = CollectorRegistry()
            multiprocess.MultiProcessCollector(agg)  # type: ignore[no-untyped-call]
            return generate_latest(agg), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def worker_exit(self) -> None:
        """Flush the tallies; drop this worker's live gauges from the shared directory
        (multiprocess mode)."""
        self.flush()
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
