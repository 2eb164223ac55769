"""Command line of ``python -m reference_service`` and the frozen configuration it produces.

The launcher parses flags once into :class:`ServiceConfig`; workers (separate processes when
``--workers`` > 1) receive it as JSON in ``$SLO_SERVICE_CONFIG``. Keys never travel in the config:
workers read them from the key files or from ``$SLO_PAN_KEY`` / ``$SLO_AUDIT_KEY`` (which the
launcher fills with one random key per run when no key is configured, so every worker tokenises
the same card to the same token).

This is the service's own command line; ``slo-harness serve`` execs it with the same flag names.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from enum import StrEnum
from typing import Final

import msgspec

from reference_service.inference import InferencePolicy

__all__ = [
    "AUDIT_KEY_ENV",
    "CONFIG_ENV",
    "PAN_KEY_ENV",
    "AuditModeName",
    "ConfigError",
    "ServiceConfig",
    "config_from_env",
    "config_to_env",
    "is_loopback",
    "parse_args",
]

PAN_KEY_ENV: Final = "SLO_PAN_KEY"
AUDIT_KEY_ENV: Final = "SLO_AUDIT_KEY"
CONFIG_ENV: Final = "SLO_SERVICE_CONFIG"


class ConfigError(ValueError):
    """Invalid configuration (exit code 2); the message names the flag or file."""


class AuditModeName(StrEnum):
    """``durable``: a response waits for its record's fsync. ``async``: it does not."""

    DURABLE = "durable"
    ASYNC = "async"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class ServiceConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a worker needs to build the app (no key material)."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    audit_dir: str = "audit-trail"
    audit_mode: AuditModeName = AuditModeName.DURABLE
    audit_segment_bytes: int = 64 * 1024 * 1024
    audit_batch_delay_ms: float = 2.0
    redis_url: str | None = None
    feature_budget_ms: float = 10.0
    #: Memory bound of the in-process velocity store per worker (MiB; reference_service.memstore).
    velocity_max_mb: int = 256
    thresholds: str | None = None
    pan_key_file: str | None = None
    audit_key_file: str | None = None
    model: str | None = None
    fake_model: bool = False
    log_level: LogLevel = LogLevel.INFO
    access_log: bool = False
    allow_non_loopback: bool = False
    latency_budget_ms: float = 50.0
    max_in_flight: int | None = None
    graceful_timeout_s: float = 30.0
    debug_start_delay_s: float = 0.0
    debug_handler_delay_ms: float = 0.0
    #: Test hook: a heavier model. Every model call also runs an ONNX ballast graph calibrated to
    #: this much CPU (reference_service.model.ballast), so an overload test's Python load source
    #: can offer 3x the capacity.
    debug_model_cpu_ms: float = 0.0
    #: Test hooks (reference_service.debughooks): a stalling disk and a slow feature store.
    debug_fsync_delay_ms: float = 0.0
    debug_fsync_delay_every: int = 1
    debug_feature_delay_ms: float = 0.0
    debug_feature_delay_every: int = 1
    #: Test hook: accept with the event loop's own server (libuv: one connection per loop
    #: iteration) instead of :mod:`reference_service.acceptor`; for before/after measurements.
    debug_loop_accept: bool = False
    #: Shut down (as on SIGTERM) when this process dies; the harness passes its own PID.
    parent_pid: int | None = None
    #: A request's body must arrive within this time after its headers (else 408, closed).
    body_timeout_s: float = 2.0
    #: A connection must complete a request's headers within this time of opening (or of its
    #: previous response); idle and slow-header connections are closed after it.
    header_timeout_s: float = 5.0
    #: Open connections per worker; None: derived from the file-descriptor limit.
    max_connections: int | None = None
    #: Where model calls run (reference_service.inference): on the event loop, on inference
    #: threads, or (auto) on threads while the median call exceeds 0.5 ms.
    inference: InferencePolicy = InferencePolicy.AUTO
    inference_threads: int = 1


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reference_service",
        description="Reference fraud-scoring service (ASGI on uvicorn).",
    )
    a = p.add_argument
    a("--host", default="127.0.0.1", help="bind address (loopback unless --allow-non-loopback)")
    a("--port", type=int, default=8080)
    a("--workers", type=int, default=1, help="worker processes (one event loop each)")
    a("--audit-dir", default="audit-trail", help="directory of the audit trail segments")
    a("--audit-mode", choices=[m.value for m in AuditModeName], default="durable")
    a("--audit-segment-bytes", type=int, default=64 * 1024 * 1024, help="rotate segments at size")
    a("--audit-batch-delay-ms", type=float, default=2.0, help="max wait to group-commit records")
    a("--redis-url", default=None, help="velocity feature store (default: in-process)")
    a("--feature-budget-ms", type=float, default=10.0, help="feature lookup budget")
    a("--velocity-max-mb", type=int, default=256, help="in-process velocity memory per worker")
    a("--thresholds", default=None, help="JSON/YAML thresholds file (default built in)")
    a("--pan-key-file", default=None, help=f"PAN tokenisation key (else ${PAN_KEY_ENV})")
    a("--audit-key-file", default=None, help=f"audit chain HMAC key (else ${AUDIT_KEY_ENV})")
    a("--model", default=None, help="ONNX model path (default: the packaged model)")
    a("--fake-model", action="store_true", help="score with a deterministic fake (dev only)")
    a("--log-level", choices=[lv.value for lv in LogLevel], default="info")
    a("--access-log", action="store_true", help="one JSON log line per request (costs ~10%%)")
    a("--allow-non-loopback", action="store_true", help="permit binding a non-loopback address")
    a("--latency-budget-ms", type=float, default=50.0, help="budget admission control protects")
    a("--max-in-flight", type=int, default=None, help="fixed in-flight limit per worker")
    a("--graceful-timeout-s", type=float, default=30.0, help="drain time after SIGTERM")
    a("--debug-start-delay-s", type=float, default=0.0, help=argparse.SUPPRESS)
    a("--debug-handler-delay-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    a("--debug-model-cpu-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    a("--debug-fsync-delay-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    a("--debug-fsync-delay-every", type=int, default=1, help=argparse.SUPPRESS)
    a("--debug-feature-delay-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    a("--debug-feature-delay-every", type=int, default=1, help=argparse.SUPPRESS)
    a("--debug-loop-accept", action="store_true", help=argparse.SUPPRESS)
    a("--body-timeout-s", type=float, default=2.0, help="deadline for a request body (408)")
    a("--header-timeout-s", type=float, default=5.0, help="idle/slow-header connection deadline")
    a("--max-connections", type=int, default=None, help="open connections per worker")
    a(
        "--inference",
        choices=[p.value for p in InferencePolicy],
        default="auto",
        help="where model calls run: the event loop, inference threads, or auto (threads while "
        "the median call exceeds 0.5 ms)",
    )
    a("--inference-threads", type=int, default=1, help="inference threads (thread/auto)")
    # Hidden: for launchers (the harness), not operators. See reference_service.parentwatch.
    a("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    return p


def _check(cfg: ServiceConfig) -> None:
    if not cfg.allow_non_loopback and not is_loopback(cfg.host):
        raise ConfigError(
            f"--host {cfg.host}: refusing a non-loopback address (pass --allow-non-loopback)"
        )
    if not 0 <= cfg.port <= 65535:
        raise ConfigError(f"--port {cfg.port}: expected 0..65535")
    if not 1 <= cfg.workers <= 64:
        raise ConfigError(f"--workers {cfg.workers}: expected 1..64")
    if cfg.workers > 1 and cfg.port == 0:
        raise ConfigError("--port 0 needs --workers 1 (workers must share one known port)")
    positive = {
        "--feature-budget-ms": cfg.feature_budget_ms,
        "--latency-budget-ms": cfg.latency_budget_ms,
        "--audit-segment-bytes": cfg.audit_segment_bytes,
    }
    for flag, value in positive.items():
        if not value > 0:
            raise ConfigError(f"{flag} {value}: expected a positive number")
    if not 16 <= cfg.velocity_max_mb <= 1 << 20:
        raise ConfigError(f"--velocity-max-mb {cfg.velocity_max_mb}: expected 16..1048576")
    if cfg.max_in_flight is not None and cfg.max_in_flight < 1:
        raise ConfigError(f"--max-in-flight {cfg.max_in_flight}: expected >= 1")
    if not 0 <= cfg.audit_batch_delay_ms <= 1000:
        raise ConfigError(f"--audit-batch-delay-ms {cfg.audit_batch_delay_ms}: expected 0..1000")
    if not 1 <= cfg.graceful_timeout_s <= 3600:
        raise ConfigError(f"--graceful-timeout-s {cfg.graceful_timeout_s}: expected 1..3600")
    if cfg.parent_pid is not None and cfg.parent_pid < 1:
        raise ConfigError(f"--parent-pid {cfg.parent_pid}: expected a process id >= 1")
    for flag, seconds in (
        ("--body-timeout-s", cfg.body_timeout_s),
        ("--header-timeout-s", cfg.header_timeout_s),
    ):
        if not 0.05 <= seconds <= 3600:
            raise ConfigError(f"{flag} {seconds}: expected 0.05..3600 seconds")
    if not 1 <= cfg.inference_threads <= 64:
        raise ConfigError(f"--inference-threads {cfg.inference_threads}: expected 1..64")
    if not 0 <= cfg.debug_model_cpu_ms <= 1000:
        raise ConfigError(f"--debug-model-cpu-ms {cfg.debug_model_cpu_ms}: expected 0..1000")
    if cfg.max_connections is not None and cfg.max_connections < 2:
        raise ConfigError(f"--max-connections {cfg.max_connections}: expected >= 2")
    for flag, every in (
        ("--debug-fsync-delay-every", cfg.debug_fsync_delay_every),
        ("--debug-feature-delay-every", cfg.debug_feature_delay_every),
    ):
        if every < 1:
            raise ConfigError(f"{flag} {every}: expected >= 1")
    if cfg.audit_segment_bytes < 1024:
        raise ConfigError(f"--audit-segment-bytes {cfg.audit_segment_bytes}: expected >= 1024")


def parse_args(argv: list[str] | None = None) -> ServiceConfig:
    """Parse and check the command line (argparse exits 2 on syntax errors; ConfigError else)."""
    ns = _parser().parse_args(argv)
    cfg = msgspec.convert(vars(ns), ServiceConfig)
    _check(cfg)
    return cfg


def config_to_env(cfg: ServiceConfig) -> str:
    return msgspec.json.encode(cfg).decode("utf-8")


def config_from_env() -> ServiceConfig:
    """The launcher's config in a worker process (defaults when run without the launcher)."""
    raw = os.environ.get(CONFIG_ENV)
    return msgspec.json.decode(raw, type=ServiceConfig) if raw else ServiceConfig()
