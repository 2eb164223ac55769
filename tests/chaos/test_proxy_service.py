"""The proxy in front of the real reference service, and in front of its Redis feature store."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from proxy_support import exchange, median_p50_shift_ms, split, within_in_some_attempt

from harness.chaos.proxy import (
    Protocol,
    ToxicFault,
    http_fault_toxic,
    latency_toxic,
    launch_proxy,
    upstream_hostport,
)
from harness.ledger import Ledger
from harness.load.http import HttpConnection, build_request
from harness.payload import PayloadGenerator
from harness.target import launch_reference_service

BUDGET_MS = 10.0
# Decision latency bound on a shared 2-core machine: "within the budget, not Redis's 100 ms".
DECISION_BOUND_MS = BUDGET_MS + 60.0
JSON = {"Content-Type": "application/json"}


def _score_request(payload: PayloadGenerator) -> bytes:
    return build_request("POST", "svc", "/v1/score", payload.next_score_body())


def test_latency_and_http_faults_on_the_reference_service(tmp_path: Path) -> None:
    """Through the real service: a 20 ms latency toxic moves the scoring p50 by 18-25 ms
    (against a sibling proxy without it, each baseline request after 20 ms idle, interleaved,
    median of 5 rounds); an HTTP abort fault fails /v1/score with the injected 503 while the
    excluded readiness path answers.

    The +/- 2 ms acceptance is asserted against the local target (test_proxy_http). Here the
    upper bound is wider: with the machine loaded (load ~7 on 2 vCPUs) the faulted path, idle
    20 ms end to end, pays this VM's wake-up cost on top of the 20 ms the proxy adds (measured
    22.4-23.2 ms in such runs; within 18-22 ms when the machine was calmer).
    """
    payload = PayloadGenerator(seed=3, cards=50, pan_share=0.0)
    with (
        launch_reference_service(extra_args=("--audit-mode", "async")) as url,
        launch_proxy(url, ledger=Ledger(tmp_path)) as handle,
    ):
        plain_doc = handle.client.create_proxy("plain", upstream_hostport(url), protocol="http")
        plain = HttpConnection(*split(plain_doc["listen"]))
        proxied = HttpConnection(*split(handle.listen["target"]))
        request = _score_request(payload)
        with plain, proxied:
            for _ in range(20):  # warm both paths (model, connections)
                exchange(plain, _score_request(payload))
                exchange(proxied, _score_request(payload))
            fault = ToxicFault(handle.control_url, "target", latency_toxic(20.0))
            fault.inject()
            ok, shifts_ms = within_in_some_attempt(
                lambda: median_p50_shift_ms(plain, proxied, request, base_idle_s=0.02), 18.0, 25.0
            )
            fault.rollback()
            abort = http_fault_toxic(error_rate=1.0, error_code=503, exclude=["/v2/health/ready"])
            ToxicFault(handle.control_url, "target", abort).inject()
            failed = exchange(proxied, _score_request(payload))
            ready = exchange(proxied, build_request("GET", "svc", "/v2/health/ready"))
    assert ok, shifts_ms
    assert failed.status == 503
    assert ready.status == 200


@contextlib.contextmanager
def _redis(tmp_path: Path) -> Iterator[str]:
    """A throwaway redis-server (no persistence) on a free loopback port; killed afterwards."""
    import redis

    binary = shutil.which("redis-server")
    assert binary is not None  # the `redis` marker skips the test when it is absent
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        probe = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5)
        for _ in range(100):  # bounded: 100 x 0.05 s
            with contextlib.suppress(redis.exceptions.ConnectionError):
                if probe.ping():
                    break
            time.sleep(0.05)
        probe.close()
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _audit(audit_dir: Path) -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []
    for segment in sorted(audit_dir.glob("*.jsonl")):
        lines += [json.loads(line) for line in segment.read_text().splitlines() if line]
    return lines


@pytest.mark.redis
def test_slow_feature_store_through_the_proxy_degrades_within_budget(tmp_path: Path) -> None:
    """Redis slowed by 100 ms through the proxy: decisions come back `degraded: true` within
    the 10 ms feature budget (decision latency from the audit trail); after rollback they
    recover to non-degraded."""
    audit_dir = tmp_path / "audit"
    payload = PayloadGenerator(seed=5, cards=20, pan_share=0.0)
    with (
        _redis(tmp_path) as redis_address,
        launch_proxy(
            redis_address, name="redis", protocol=Protocol.TCP, ledger=Ledger(tmp_path)
        ) as handle,
        launch_reference_service(
            audit_dir=audit_dir,
            extra_args=(
                *("--redis-url", f"redis://{handle.listen['redis']}/0"),
                *("--feature-budget-ms", str(BUDGET_MS), "--audit-mode", "async"),
            ),
        ) as url,
        httpx.Client(base_url=url, timeout=5.0, trust_env=False) as client,
    ):
        sent: list[str] = []

        def degraded() -> bool:
            body = payload.next_score_body()
            response = client.post("/v1/score", content=body, headers=JSON)
            assert response.status_code == 200, response.text
            sent.append(response.json()["transaction_id"])
            return bool(response.json()["degraded"])

        healthy = [degraded() for _ in range(20)]
        assert healthy[-5:] == [False] * 5  # Redis answers through the idle proxy
        before = len(sent)
        fault = ToxicFault(handle.control_url, "redis", latency_toxic(100.0))
        fault.inject()
        assert fault.is_active()
        during = [degraded() for _ in range(8)]
        faulted_ids = set(sent[before:])
        fault.rollback()
        assert not fault.is_active()
        recovered = False
        for _ in range(60):  # bounded: the circuit breaker's cool-down is about 1 s
            if not degraded():
                recovered = True
                break
            time.sleep(0.1)
        time.sleep(0.3)  # async audit: let the last records reach the file
    assert during == [True] * 8
    faulted = [rec for rec in _audit(audit_dir) if rec["transaction_id"] in faulted_ids]
    assert len(faulted) == 8
    assert all(rec["degraded"] is True for rec in faulted)
    assert max(float(str(rec["latency_ms"])) for rec in faulted) < DECISION_BOUND_MS
    assert recovered
