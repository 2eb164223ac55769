"""Game-day builders for the fault proxy's faults, and the environments that put it in the path.

Registered into :data:`harness.chaos.factory.FAULT_FACTORY` on import (the game-day job imports
this module). Kinds: Toxiproxy's toxics (``latency``, ``bandwidth``, ``slow_close``, ``timeout``,
``reset_peer``, ``slicer``, ``limit_data``) on the proxy their ``target`` names, and ``http``
(per-request faults) on the service's proxy.

Environments:

- ``proxy.service`` (after the service started): an HTTP proxy in front of the service; the load
  targets the proxy from then on, so no request bypasses it;
- ``proxy.feature_store`` (before the service starts): a throwaway ``redis-server`` on a free
  loopback port (no persistence), a TCP proxy in front of it, and ``--redis-url`` pointing the
  embedded service at the proxy. The Redis process is recorded in the ledger (pid and start
  time, kind ``chaos.redis_process``) right after it starts and killed on the way out; the proxy
  process is the proxy launcher's (ledger-first, dies with its parent).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Final

import psutil

from harness.chaos.factory import FAULT_FACTORY, FaultContext, Stage
from harness.chaos.fault import Fault
from harness.chaos.proxy import (
    Distribution,
    Protocol,
    ProxyHandle,
    Stream,
    Toxic,
    ToxicFault,
    bandwidth_toxic,
    http_fault_toxic,
    latency_toxic,
    launch_proxy,
    limit_data_toxic,
    reset_peer_toxic,
    slicer_toxic,
    slow_close_toxic,
    timeout_toxic,
)
from harness.errors import FaultError
from harness.ledger import Ledger, LedgerEntry, UndoStatus, register_undo
from harness.spec import (
    TOXIC_KINDS,
    BandwidthFault,
    FaultSpec,
    HttpFault,
    LatencyFault,
    ProxyTarget,
    ResetPeerFault,
    SlicerFault,
    SlowCloseFault,
    TimeoutFault,
    ToxicSpec,
)

__all__ = ["FEATURE_STORE_PROXY", "REDIS_KIND", "SERVICE_PROXY", "register_proxy_builders"]

SERVICE_PROXY: Final = "proxy.service"
FEATURE_STORE_PROXY: Final = "proxy.feature_store"
REDIS_KIND: Final = "chaos.redis_process"
_PROXY_NAME: Final = {ProxyTarget.SERVICE: "service", ProxyTarget.FEATURE_STORE: "feature_store"}
_ENV: Final = {ProxyTarget.SERVICE: SERVICE_PROXY, ProxyTarget.FEATURE_STORE: FEATURE_STORE_PROXY}
_REDIS_READY_S: Final = 10.0


def _toxic(spec: FaultSpec, name: str) -> Toxic:
    """The proxy toxic of a toxic-kind spec."""
    if isinstance(spec, HttpFault):
        return http_fault_toxic(
            error_rate=spec.error_rate,
            error_code=spec.error_code,
            error_body=spec.error_body or None,
            average_delay_ms=spec.average_delay_ms,
            delay_variation_ms=spec.delay_variation_ms,
            exclude=spec.exclude,
            name=name,
        )
    if not isinstance(spec, ToxicSpec):
        raise FaultError(f"{spec.kind}: not a proxy fault")
    common = {"stream": Stream(spec.stream.value), "toxicity": spec.toxicity, "name": name}
    if isinstance(spec, LatencyFault):
        dist = Distribution(spec.distribution.value)
        return latency_toxic(spec.latency_ms, spec.jitter_ms, dist, **common)  # type: ignore[arg-type]
    if isinstance(spec, BandwidthFault):
        return bandwidth_toxic(spec.rate_kb_s, **common)  # type: ignore[arg-type]
    if isinstance(spec, SlowCloseFault):
        return slow_close_toxic(spec.delay_ms, **common)  # type: ignore[arg-type]
    if isinstance(spec, TimeoutFault):
        return timeout_toxic(spec.timeout_ms, **common)  # type: ignore[arg-type]
    if isinstance(spec, ResetPeerFault):
        return reset_peer_toxic(spec.timeout_ms, **common)  # type: ignore[arg-type]
    if isinstance(spec, SlicerFault):
        return slicer_toxic(
            spec.average_size_bytes,
            spec.size_variation_bytes,
            spec.delay_us,
            **common,  # type: ignore[arg-type]
        )
    return limit_data_toxic(spec.limit_bytes, **common)  # type: ignore[arg-type]


def _target(spec: FaultSpec) -> ProxyTarget:
    return getattr(spec, "target", ProxyTarget.SERVICE)


def _build(spec: FaultSpec, ctx: FaultContext) -> Fault:
    target = _target(spec)
    handle = ctx.resource(_ENV[target], spec.kind)
    if not isinstance(handle, ProxyHandle):
        raise FaultError(f"{spec.kind}: the {_ENV[target]} environment published no proxy")
    name = f"gameday-{spec.kind}"
    return ToxicFault(handle.control_url, _PROXY_NAME[target], _toxic(spec, name))


def _environment_of(spec: FaultSpec) -> str:
    return _ENV[_target(spec)]


@contextlib.contextmanager
def _service_proxy(ctx: FaultContext) -> Iterator[FaultContext]:
    if ctx.target_url is None:
        raise FaultError("the service proxy needs a target")
    with launch_proxy(ctx.target_url, name="service", protocol=Protocol.HTTP) as handle:
        with_proxy = ctx.with_resource(SERVICE_PROXY, handle)
        yield FaultContext(
            target_url=handle.url("service"),
            service_pid=with_proxy.service_pid,
            started_by_harness=with_proxy.started_by_harness,
            service_args=with_proxy.service_args,
            resources=with_proxy.resources,
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _redis_server() -> Iterator[int]:
    """A throwaway redis-server on a free loopback port; killed (and checked gone) afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FaultError("feature-store faults need redis-server (scripts/install-test-deps.sh)")
    port = _free_port()
    ledger = Ledger()
    with tempfile.TemporaryDirectory(prefix="slo-redis-") as tmp:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started = psutil.Process(proc.pid).create_time()
        entry = ledger.record(
            REDIS_KIND, f"redis-server :{port}", {"pid": proc.pid, "start": started}
        )
        try:
            _wait_port(port, proc)
            yield port
        finally:
            proc.kill()
            proc.wait(timeout=5.0)
            ledger.release(entry)


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _REDIS_READY_S
    while time.monotonic() < deadline:  # bounded
        if proc.poll() is not None:
            raise FaultError(f"redis-server exited with {proc.returncode} before it was ready")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise FaultError(f"redis-server not ready within {_REDIS_READY_S:g} s")


def _undo_redis(entry: LedgerEntry) -> UndoStatus:
    pid, start = entry.undo.get("pid"), entry.undo.get("start")
    if not isinstance(pid, int) or not isinstance(start, float):
        return UndoStatus.FAILED
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - start) > 0.05:
            return UndoStatus.ALREADY_GONE  # the pid was reused: not ours
        proc.kill()
        proc.wait(timeout=5.0)
    except psutil.NoSuchProcess:
        return UndoStatus.ALREADY_GONE
    return UndoStatus.REMOVED


@contextlib.contextmanager
def _feature_store_proxy(ctx: FaultContext) -> Iterator[FaultContext]:
    if ctx.target_url is not None:
        raise FaultError(
            "feature-store faults need the harness to start the service: drop --target"
        )
    with (
        _redis_server() as port,
        launch_proxy(f"127.0.0.1:{port}", name="feature_store", protocol=Protocol.TCP) as handle,
    ):
        url = f"redis://{handle.listen['feature_store']}/0"
        with_proxy = ctx.with_resource(FEATURE_STORE_PROXY, handle)
        yield FaultContext(
            target_url=None,
            service_pid=with_proxy.service_pid,
            started_by_harness=True,
            service_args=(*ctx.service_args, "--redis-url", url),
            resources=with_proxy.resources,
        )


def register_proxy_builders() -> None:
    """Register the proxy kinds and environments (idempotent)."""
    for kind in (*TOXIC_KINDS, "http"):
        FAULT_FACTORY.register(kind, _build, environment=_environment_of)
    FAULT_FACTORY.register_environment(SERVICE_PROXY, Stage.AFTER_SERVICE, _service_proxy)
    FAULT_FACTORY.register_environment(
        FEATURE_STORE_PROXY, Stage.BEFORE_SERVICE, _feature_store_proxy
    )
    register_undo(REDIS_KIND, _undo_redis)


register_proxy_builders()
