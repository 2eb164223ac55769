"""Holes 1, 2 and 4 of issue 10: slow and idle clients, malformed bodies, orphaned workers.

Each test is the attack that found the hole, run against a real service process: it failed on
the code before the fix (slow bodies held admission slots, idle sockets lived forever, invalid
UTF-8 and deep nesting were 500s, a SIGKILLed launcher left its workers serving).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest
from svc_support import (
    Service,
    ServiceFactory,
    record_figure,
    transaction,
    wait_ready,
    write_key,
)

SCORE = "/v1/score"
INFER = "/v2/models/fraud/infer"


def _port(svc: Service) -> int:
    return int(svc.base.rsplit(":", 1)[1])


def _raw(svc: Service, data: bytes = b"") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", _port(svc)), timeout=10)
    if data:
        s.sendall(data)
    return s


def _closed_within(s: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """(True, what arrived) when the server closed ``s`` within ``seconds``."""
    s.settimeout(seconds)
    got = b""
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                return True, got
            got += chunk
    except TimeoutError:
        return False, got
    except ConnectionResetError:
        return True, got
    return False, got


def _partial_body(path: str = SCORE) -> bytes:
    body = json.dumps(transaction()).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body[:10]


def test_slow_bodies_do_not_take_admission_slots(services: ServiceFactory) -> None:
    """Twice the admission limit of connections trickling a body: scoring still answers 200 at
    once, and each slow body ends with 408 when its deadline passes."""
    svc = services.start("--max-in-flight", "4", "--body-timeout-s", "1.5")
    slow = [_raw(svc, _partial_body(path)) for path in [SCORE, INFER] * 4]
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        for _ in range(5):
            assert svc.score().status_code == 200
        assert time.monotonic() - t0 < 1.0  # before any slow body timed out
        for s in slow:
            closed, got = _closed_within(s, 5.0)
            assert got.startswith(b"HTTP/1.1 408"), got[:80]
            assert b'"error"' in got
            assert closed
    finally:
        for s in slow:
            s.close()


def test_idle_and_slow_header_connections_are_closed(services: ServiceFactory) -> None:
    """A connection that never sends a request, and one trickling its headers a byte at a time,
    are both closed at the header deadline (bytes arriving do not push it back)."""
    svc = services.start("--header-timeout-s", "1.0")
    idle = _raw(svc)
    trickle = _raw(svc, b"P")
    t0 = time.monotonic()
    try:
        for ch in b"OST /v1/score HTTP/1.1\r\nhost: x\r\n":
            if time.monotonic() - t0 > 2.5:
                break
            with contextlib.suppress(OSError):
                trickle.send(bytes([ch]))
            time.sleep(0.1)
        assert _closed_within(idle, 3.0)[0]
        assert _closed_within(trickle, 3.0)[0]
        assert time.monotonic() - t0 < 6.0
        assert svc.score().status_code == 200
    finally:
        idle.close()
        trickle.close()


def test_connection_cap_evicts_idle_connections_then_refuses(services: ServiceFactory) -> None:
    """Over the cap, idle connections are evicted to let a new client in; when every connection
    is busy, a newcomer gets an immediate 503 with Retry-After instead of silence."""
    svc = services.start(
        "--max-connections", "12", "--max-in-flight", "64", "--body-timeout-s", "3"
    )
    idle = [_raw(svc) for _ in range(30)]
    try:
        time.sleep(0.2)
        with httpx.Client(base_url=svc.base, timeout=5) as c:
            assert c.post(SCORE, json=transaction()).status_code == 200
    finally:
        for s in idle:
            s.close()
    time.sleep(0.3)
    busy = [_raw(svc, _partial_body()) for _ in range(12)]
    try:
        time.sleep(0.3)
        s = _raw(svc, b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
        closed, got = _closed_within(s, 2.0)
        s.close()
        assert got.startswith(b"HTTP/1.1 503"), got[:80]
        assert b"retry-after: 1" in got.lower()
        assert closed
    finally:
        for s in busy:
            s.close()


def test_thousands_of_connections_under_a_1024_fd_limit(services: ServiceFactory) -> None:
    """1,500 idle connections against a service limited to 1,024 descriptors: no EMFILE, and a
    well-behaved client is answered within the 50 ms budget (median of 20)."""
    svc = services.start(nofile=1024)
    conns: list[socket.socket] = []
    try:
        for _ in range(1500):
            with contextlib.suppress(OSError):
                conns.append(socket.create_connection(("127.0.0.1", _port(svc)), timeout=5))
        time.sleep(0.5)
        times = []
        with httpx.Client(base_url=svc.base, timeout=5) as c:
            for _ in range(20):
                t0 = time.perf_counter()
                r = c.post(SCORE, json=transaction())
                times.append(time.perf_counter() - t0)
                assert r.status_code == 200
        times.sort()
        record_figure(
            "connections",
            {"fd_limit": 1024, "connections_attempted": 1500, "connections_open": len(conns),
             "well_behaved_p50_ms": round(times[len(times) // 2] * 1e3, 2),
             "well_behaved_max_ms": round(times[-1] * 1e3, 2)},
        )  # fmt: skip
        assert times[len(times) // 2] < 0.05
        assert svc.proc.poll() is None
        assert "Too many open files" not in svc.log_path.read_text()
    finally:
        for s in conns:
            s.close()


_INVALID_UTF8 = b'{"id":"a\xff","transaction_id":"tx\xff\xfe","amount":1,"inputs":[]}'
_DEEP_ARRAY = b"[" * 5000 + b"]" * 5000
_DEEP_OBJECT = b'{"a":' * 3000 + b"1" + b"}" * 3000
_DEEP_FIELD = b'{"inputs":[],"parameters":{"x":' + b"[" * 4000 + b"]" * 4000 + b"}}"
_DEEP_UNKNOWN = b'{"zz":' + b"[" * 4000 + b"]" * 4000 + b"}"


@pytest.mark.parametrize("path", [SCORE, INFER])
@pytest.mark.parametrize(
    "body",
    [_INVALID_UTF8, _DEEP_ARRAY, _DEEP_OBJECT, _DEEP_FIELD, _DEEP_UNKNOWN],
    ids=["utf8", "arr", "obj", "fld", "unknown"],
)
def test_malformed_bodies_are_400_with_a_json_error(
    service: Service, path: str, body: bytes
) -> None:
    """Invalid UTF-8 inside a string and JSON nested thousands deep (at the top, in a known
    field, in an unknown field) are 4xx with a JSON error naming a field path, never 500."""
    r = service.client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    doc = r.json()
    assert doc["error"]
    assert doc["field"].startswith("$")


def _children(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_workers_die_with_a_sigkilled_launcher(tmp_path: Path) -> None:
    """SIGKILL of a two-worker launcher: within 5 s no worker is left, the port is free and the
    temporary metrics directory is gone."""
    port = _free_port()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLO_")}
    env["TMPDIR"] = str(tmpdir)
    args = [sys.executable, "-m", "reference_service", "--port", str(port), "--workers", "2"]
    args += ["--audit-dir", str(tmp_path / "audit")]
    args += ["--pan-key-file", str(write_key(tmp_path / "pan.key"))]
    args += ["--audit-key-file", str(write_key(tmp_path / "audit.key"))]
    log = (tmp_path / "svc.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    workers: list[int] = []
    try:
        wait_ready(f"http://127.0.0.1:{port}", time.monotonic() + 60)
        deadline = time.monotonic() + 10
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = _children(proc.pid)
            time.sleep(0.1)
        assert len(workers) >= 2
        assert list(tmpdir.glob("slo-metrics-*"))
        proc.kill()
        proc.wait(5)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and any(psutil.pid_exists(p) for p in workers):
            time.sleep(0.1)
        alive = [p for p in workers if _running(p)]
        assert not alive, "workers outlived their launcher"
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # the port is free again
        assert not list(tmpdir.glob("slo-metrics-*")), "metrics directory left behind"
    finally:
        for p in [proc.pid, *workers]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(p, signal.SIGKILL)
        with contextlib.suppress(Exception):
            proc.wait(5)
        log.close()


def test_next_launcher_sweeps_metrics_dirs_of_dead_launchers(tmp_path: Path) -> None:
    """A metrics directory whose launcher PID no longer exists is removed by the sweep; one of a
    live launcher is kept."""
    from reference_service.orphans import sweep_metrics_dirs

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(10)
    stale = tmp_path / f"slo-metrics-{dead.pid}-abcd"
    live = tmp_path / f"slo-metrics-{os.getpid()}-efgh"
    for d in (stale, live):
        d.mkdir()
        (d / "counter_1.db").write_bytes(b"x")
    assert sweep_metrics_dirs(tmp_path) == [stale]
    assert live.is_dir()
    assert not stale.exists()
    assert tempfile.gettempdir()  # the default root is the system temp dir
