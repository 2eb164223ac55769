"""Readiness gating, SIGTERM drain with audit flush, admission control, multi-worker consistency,
graceful exit when the --parent-pid process dies."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest
from svc_support import ServiceFactory, make_pan, transaction

from reference_service.parentwatch import start_parent_watch

# The parent watch polls once a second; drain + audit close take well under a second more.
PARENT_EXIT_BOUND_S = 10.0


def _wait_in_flight(client: httpx.Client, n: int, timeout_s: float = 5.0) -> None:
    """Poll /metrics until ``n`` requests are in flight."""
    want = f"slo_in_flight_requests {float(n)}"
    deadline = time.monotonic() + timeout_s
    while want not in client.get("/metrics").text:
        assert time.monotonic() < deadline, f"never saw {n} requests in flight"
        time.sleep(0.01)


def test_not_ready_until_warm(services: ServiceFactory) -> None:
    """Before start-up completes: live 200, ready 503, scoring 503 with Retry-After; then ready."""
    svc = services.start("--debug-start-delay-s", "2", ready=False)
    live = svc.client.get("/v2/health/live")
    assert live.status_code == 200
    ready = svc.client.get("/v2/health/ready")
    assert ready.status_code == 503
    assert ready.json() == {"ready": False}
    assert svc.client.get("/v2/models/fraud/ready").status_code == 503
    r = svc.score()
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"
    deadline = time.monotonic() + 15
    while svc.client.get("/v2/health/ready").status_code != 200:
        assert time.monotonic() < deadline, "never became ready"
        time.sleep(0.05)
    assert svc.score().status_code == 200
    assert len(svc.audit_lines()) == 1  # the refused request left no record


def test_sigterm_drains_in_flight_and_flushes_audit(services: ServiceFactory) -> None:
    """Requests in flight at SIGTERM complete; every answered decision has exactly one record."""
    # 3 s in the handler: on a loaded machine 12 threads each building an httpx client took over
    # 1 s to all arrive, so with 1 s the first left before the last entered (seen at load 8).
    svc = services.start("--debug-handler-delay-ms", "3000", "--max-in-flight", "64")
    n = 12
    with ThreadPoolExecutor(n) as pool:
        futures = [
            pool.submit(httpx.post, svc.base + "/v1/score", json=transaction(), timeout=15)
            for _ in range(n)
        ]
        _wait_in_flight(svc.client, n, timeout_s=3.0)  # all are inside the handler's delay now
        svc.proc.send_signal(signal.SIGTERM)
        responses = [f.result() for f in futures]
    assert [r.status_code for r in responses] == [200] * n
    # uvicorn re-raises the captured SIGTERM after its graceful shutdown: exit by that signal.
    assert svc.proc.wait(15) in (0, -signal.SIGTERM)
    lines = svc.audit_lines()
    assert len(lines) == n
    assert {rec["request_id"] for rec in lines} == {r.json()["request_id"] for r in responses}
    events = [e["event"] for e in svc.log_events()]
    assert "shutdown_complete" in events
    # The port is closed after exit (no orphan listener).
    host, port = svc.base.removeprefix("http://").split(":")
    with socket.socket() as s:
        assert s.connect_ex((host, int(port))) != 0


def test_admission_sheds_with_retry_after(services: ServiceFactory) -> None:
    """With an in-flight limit of 1, concurrent requests beyond it get 503 + Retry-After at once."""
    svc = services.start("--max-in-flight", "1", "--debug-handler-delay-ms", "300")
    with ThreadPoolExecutor(6) as pool:
        futures = [
            pool.submit(httpx.post, svc.base + "/v1/score", json=transaction(), timeout=10)
            for _ in range(6)
        ]
        _wait_in_flight(svc.client, 1)
        t0 = time.perf_counter()
        health = svc.client.get("/v2/health/ready")  # exempt from admission
        health_ms = (time.perf_counter() - t0) * 1000
        responses = [f.result() for f in futures]
    assert health.status_code == 200
    assert health_ms < 250  # not queued behind the 300 ms request
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) >= 1
    assert codes.count(503) >= 1
    shed = [r for r in responses if r.status_code == 503]
    assert all(r.headers["retry-after"] == "1" for r in shed)
    assert all(r.elapsed.total_seconds() < 0.25 for r in shed)  # refused, not queued
    assert len(svc.audit_lines()) == codes.count(200)
    metrics = svc.client.get("/metrics").text
    assert f'slo_shed_requests_total{{reason="overload"}} {float(codes.count(503))}' in metrics


def test_workers_share_keys_and_metrics(services: ServiceFactory) -> None:
    """Two workers with ephemeral keys tokenise a card identically; /metrics sums both workers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    svc = services.start("--workers", "2", keys=False, port=port)
    deadline = time.monotonic() + 20
    while sum(e["event"] == "ready" for e in svc.log_events()) < 2:  # one line per worker
        assert time.monotonic() < deadline, "both workers never became ready"
        time.sleep(0.05)
    pan = make_pan()
    tokens = set()
    n = 16
    for _ in range(n):  # a new connection each time, so both workers serve some
        r = httpx.post(svc.base + "/v1/score", json=transaction(pan=pan), timeout=10)
        assert r.status_code == 200
        tokens.add(r.json()["card_token"])
    assert len(tokens) == 1
    streams = {rec["stream"] for rec in svc.audit_lines()}
    assert len(svc.audit_lines()) == n
    text = svc.client.get("/metrics").text
    total = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('slo_http_requests_total{route="/v1/score",status="200"}')
    )
    assert total == n
    assert len(streams) >= 1
    events = svc.log_events()
    assert any(e["event"] == "ephemeral_keys" for e in events)


@pytest.fixture
def stand_in_parent() -> Iterator[subprocess.Popen[bytes]]:
    """A process playing the harness: the service watches it; the test kills it. Always removed."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


@pytest.mark.parametrize("reaped", [True, False], ids=["reaped", "zombie"])
def test_parent_death_drains_in_flight_and_exits(
    services: ServiceFactory, stand_in_parent: subprocess.Popen[bytes], reaped: bool
) -> None:
    """Once the --parent-pid process is gone (reaped or still a zombie) the service finishes the
    request in flight, writes its audit record and exits by itself within the bound."""
    svc = services.start(
        "--parent-pid", str(stand_in_parent.pid), "--debug-handler-delay-ms", "1500"
    )
    assert svc.score().status_code == 200  # the watch does not fire while the parent lives
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(httpx.post, svc.base + "/v1/score", json=transaction(), timeout=10)
        _wait_in_flight(svc.client, 1)
        stand_in_parent.kill()
        if reaped:
            stand_in_parent.wait(5)
        t0 = time.monotonic()
        assert pending.result().status_code == 200
    assert svc.proc.wait(PARENT_EXIT_BOUND_S + 5) in (0, -signal.SIGTERM)
    assert time.monotonic() - t0 < PARENT_EXIT_BOUND_S
    events = [e["event"] for e in svc.log_events()]
    assert events.index("parent_gone") < events.index("shutdown_complete")
    assert len(svc.audit_lines()) == 2


def test_parent_death_stops_every_worker(
    services: ServiceFactory, stand_in_parent: subprocess.Popen[bytes]
) -> None:
    """With several workers the supervisor and all its workers exit once the parent is gone."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    svc = services.start("--workers", "2", "--parent-pid", str(stand_in_parent.pid), port=port)
    family = [psutil.Process(svc.proc.pid), *psutil.Process(svc.proc.pid).children(True)]
    assert len(family) >= 3  # supervisor + 2 workers
    stand_in_parent.kill()
    stand_in_parent.wait(5)
    _, alive = psutil.wait_procs(family, timeout=PARENT_EXIT_BOUND_S + 5)
    assert not alive
    events = [e["event"] for e in svc.log_events()]
    assert "parent_gone" in events
    assert events.count("shutdown_complete") == 2


def test_parent_watch_fires_once_and_only_when_gone() -> None:
    """The watch thread calls back and terminates exactly once, after the PID has gone."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    calls: list[str] = []
    done = threading.Event()

    def terminate() -> None:
        calls.append("terminate")
        done.set()

    try:
        thread = start_parent_watch(
            proc.pid,
            lambda pid: calls.append(f"gone {pid}"),
            interval_s=0.02,
            terminate=terminate,
        )
        time.sleep(0.2)
        assert calls == []  # alive: nothing happens
    finally:
        proc.kill()
        proc.wait(5)
    assert done.wait(5)
    thread.join(5)
    assert calls == [f"gone {proc.pid}", "terminate"]
