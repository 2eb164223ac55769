"""A slow or missing feature store degrades decisions within the budget instead of delaying them."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from svc_support import ServiceFactory

BUDGET_MS = 10.0
# Generous margin for a shared 2-core machine: the point is "budget, not the client's timeout".
MARGIN_MS = 150.0
# The client also waits for the durable audit fsync, which a shared disk can stall; this bound
# only proves nobody waited for a socket timeout or a retry loop.
CLIENT_BOUND_MS = 1000.0


@pytest.fixture
def hanging_redis() -> Iterator[int]:
    """A loopback port whose listener completes TCP handshakes but never reads or answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(256)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def _check_degraded_within_budget(services: ServiceFactory, port: int) -> None:
    svc = services.start(
        "--redis-url", f"redis://127.0.0.1:{port}/0", "--feature-budget-ms", str(BUDGET_MS)
    )
    for _ in range(8):  # past the circuit breaker's threshold too
        t0 = time.perf_counter()
        r = svc.score()
        client_ms = (time.perf_counter() - t0) * 1000
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["degraded"] is True
        assert body["reason_codes"][0] == "FEATURES_UNAVAILABLE"
        assert client_ms < CLIENT_BOUND_MS
    lines = svc.audit_lines()
    assert len(lines) == 8
    assert all(rec["degraded"] is True for rec in lines)
    # Decision latency (arrival to decision, before the audit wait) stays within the budget.
    assert max(rec["latency_ms"] for rec in lines) < BUDGET_MS + MARGIN_MS
    metrics = svc.client.get("/metrics").text
    assert "slo_degraded_decisions_total" in metrics


def test_hanging_redis_degrades_within_budget(services: ServiceFactory, hanging_redis: int) -> None:
    """Redis that accepts and never answers: degraded decisions, each within budget + margin."""
    _check_degraded_within_budget(services, hanging_redis)


def test_missing_redis_degrades(services: ServiceFactory, closed_port: int) -> None:
    """Redis that refuses connections: degraded decisions, never an error response."""
    _check_degraded_within_budget(services, closed_port)


def test_circuit_opens_after_repeated_timeouts(
    services: ServiceFactory, hanging_redis: int
) -> None:
    """After repeated timeouts lookups are skipped: later degraded answers do not wait at all."""
    svc = services.start(
        "--redis-url", f"redis://127.0.0.1:{hanging_redis}/0", "--feature-budget-ms", "50"
    )
    for _ in range(10):
        assert svc.score().status_code == 200
    # Decision latencies from the audit trail (they exclude the fsync wait).
    decided = [rec["latency_ms"] for rec in svc.audit_lines()]
    assert min(decided[:5]) >= 45.0, decided  # waited the (50 ms) budget each time
    assert max(decided[5:]) < 40.0, decided  # circuit open: no wait
    text = svc.client.get("/metrics").text
    assert 'slo_degraded_decisions_total{cause="circuit_open"}' in text
    assert 'slo_degraded_decisions_total{cause="timeout"} 5.0' in text
