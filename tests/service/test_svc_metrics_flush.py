"""The service's batched request metrics expose exactly what per-request prometheus calls would."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from reference_service.metrics import _LATENCY_BUCKETS, Metrics

_ROUTES = st.sampled_from(["/v1/score", "/v2/models/fraud/infer", "unmatched"])
_STATUS = st.sampled_from([200, 404, 422, 503])
# Latencies on and around every bucket bound, plus anything from 0 to beyond the last bound.
_SECONDS = st.one_of(
    st.sampled_from(_LATENCY_BUCKETS),
    st.floats(min_value=0.0, max_value=5.0, allow_nan=False),
    st.sampled_from(_LATENCY_BUCKETS).map(lambda b: b * (1 + 1e-12)),
)


def _reference(
    observations: list[tuple[str, int, float]], decisions: list[str]
) -> dict[str, float]:
    """The exposition lines of plain per-request prometheus_client calls (what flush replaces)."""
    reg = CollectorRegistry()
    req = Counter("slo_http_requests", "", ["route", "status"], registry=reg)
    lat = Histogram(
        "slo_http_request_duration_seconds",
        "",
        ["route", "status"],
        buckets=_LATENCY_BUCKETS,
        registry=reg,
    )
    dec = Counter("slo_decisions", "", ["decision"], registry=reg)
    for route, status, seconds in observations:
        req.labels(route, str(status)).inc()
        lat.labels(route, str(status)).observe(seconds)
    for outcome in decisions:
        dec.labels(outcome).inc()
    return _samples(generate_latest(reg))


def _samples(text: bytes) -> dict[str, float]:
    keep = ("slo_http_request", "slo_decisions_total")
    out = {}
    for line in text.decode().splitlines():
        if line.startswith(keep) and "_created" not in line:
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(_ROUTES, _STATUS, _SECONDS), max_size=40),
    st.lists(st.sampled_from(["approve", "review", "decline"]), max_size=20),
    st.integers(min_value=0, max_value=40),
)
def test_flushed_tallies_equal_per_request_observations(
    observations: list[tuple[str, int, float]], decisions: list[str], flush_at: int
) -> None:
    """Counts, buckets and sums after flushes (one mid-way, one at render) equal observe()'s."""
    metrics = Metrics()
    for i, (route, status, seconds) in enumerate(observations):
        if i == flush_at:
            metrics.flush()
        metrics.request(route, status, seconds)
    for outcome in decisions:
        metrics.decision(outcome)
    got = _samples(metrics.render()[0])
    want = _reference(observations, decisions)
    assert got.keys() == want.keys()
    for series, value in want.items():
        if "_sum{" in series:  # summed in another order: equal up to rounding
            assert math.isclose(got[series], value, rel_tol=1e-12, abs_tol=1e-15), series
        else:
            assert got[series] == value, series


def test_render_includes_requests_not_yet_flushed() -> None:
    """A scrape sees every request counted before it, without waiting for the flush loop."""
    metrics = Metrics()
    metrics.request("/v1/score", 200, 0.0012)
    metrics.decision("approve")
    text = metrics.render()[0].decode()
    assert 'slo_http_requests_total{route="/v1/score",status="200"} 1.0' in text
    assert 'le="0.002",route="/v1/score",status="200"} 1.0' in text
    assert 'slo_decisions_total{decision="approve"} 1.0' in text
    again = metrics.render()[0].decode()  # a second flush adds nothing
    assert 'slo_http_requests_total{route="/v1/score",status="200"} 1.0' in again


def test_with_several_workers_every_request_is_published_at_once() -> None:
    """In multiprocess mode (a scrape reads the other workers' files) nothing waits for a flush."""
    metrics = Metrics()
    metrics.multiprocess = True  # the mode's switch; its files are prometheus_client's business
    metrics.request("/v1/score", 200, 0.004)
    metrics.decision("decline")
    metrics.entered()
    text = generate_latest(metrics.registry).decode()  # the registry as is: no flush, no refresh
    assert 'slo_http_requests_total{route="/v1/score",status="200"} 1.0' in text
    assert 'slo_decisions_total{decision="decline"} 1.0' in text
    assert "slo_in_flight_requests 1.0" in text
    metrics.left()
    assert "slo_in_flight_requests 0.0" in generate_latest(metrics.registry).decode()
