"""Launcher: parse flags, preflight the configuration, run uvicorn (uvloop + httptools).

Preflight runs everything that can be wrong in the configuration (keys, thresholds file, audit
directory, model file) once, before any worker starts, so a mistake ends the launcher with exit code
2 and one clear log line instead of workers crash-looping.

Keys: with no key file and no environment variable the launcher generates one random key per run
for each missing key and hands it to the workers through the environment (so all workers tokenise a
card to the same token and share one audit key), and logs a WARNING: tokens then change on every
restart and the audit trail cannot be verified after the process exits. Key material is never
logged.

With ``--parent-pid`` (hidden; the harness passes its own PID) a watcher thread SIGTERMs the
launcher once that process is gone, so a SIGKILLed harness does not leave the service running
(:mod:`reference_service.parentwatch`).

One worker runs uvicorn in this process. Several workers are uvicorn's supervisor of spawned
processes, each building its app from ``$SLO_SERVICE_CONFIG``; Prometheus multiprocess mode is
switched on for them with a private directory removed at exit.

Workers die with their launcher: each worker asks the kernel for SIGTERM when its parent dies
(``PR_SET_PDEATHSIG``) and also watches its parent PID (:mod:`reference_service.parentwatch`), so
a SIGKILLed launcher takes its workers down (they drain and flush their audit streams) and frees
the port. The metrics directory is named ``slo-metrics-<launcher pid>-*``: the last worker to exit
removes it, and every launcher start removes directories whose launcher is gone (a SIGKILL runs no
``finally``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import uvicorn

from reference_service.acceptor import PromptAcceptor
from reference_service.app import create_app
from reference_service.config import (
    AUDIT_KEY_ENV,
    CONFIG_ENV,
    PAN_KEY_ENV,
    AuditModeName,
    ConfigError,
    ServiceConfig,
    config_to_env,
    parse_args,
)
from reference_service.connections import GuardedProtocol
from reference_service.logs import configure_logging, log_event
from reference_service.metrics import MULTIPROC_ENV
from reference_service.orphans import LAUNCHER_PID_ENV, METRICS_DIR_PREFIX, sweep_metrics_dirs
from reference_service.pan import generate_key_hex
from reference_service.parentwatch import start_parent_watch
from reference_service.resources import Keys, load_keys, load_scorer, thresholds_of

__all__ = ["main", "preflight"]

#: uvicorn's exit status when start-up fails (``uvicorn.server.STARTUP_FAILURE``).
STARTUP_FAILURE = 3


def _ephemeral_keys(cfg: ServiceConfig) -> list[str]:
    """Put a random key into the environment for each key that is configured nowhere."""
    made = []
    for flag_value, env in ((cfg.pan_key_file, PAN_KEY_ENV), (cfg.audit_key_file, AUDIT_KEY_ENV)):
        if not flag_value and not os.environ.get(env):
            os.environ[env] = generate_key_hex()
            made.append(env)
    return made


def _check_audit_dir(directory: str) -> None:
    path = Path(directory)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe-"):
            pass
    except OSError as exc:
        raise ConfigError(f"--audit-dir {directory}: not writable: {exc.strerror}") from None


def preflight(cfg: ServiceConfig) -> Keys:
    """Check keys, thresholds, audit directory and model; raises ConfigError (exit 2)."""
    keys = load_keys(cfg)
    thresholds_of(cfg)
    _check_audit_dir(cfg.audit_dir)
    if cfg.model and not Path(cfg.model).is_file():
        raise ConfigError(f"--model {cfg.model}: no such file")
    try:
        load_scorer(cfg)
    except Exception as exc:
        raise ConfigError(f"model cannot be loaded: {exc}") from None
    return keys


class _Server(uvicorn.Server):
    """uvicorn's server with prompt accept (:mod:`reference_service.acceptor`) instead of the
    loop's own listener, logging the bound port (tests start it on port 0)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        cfg = getattr(self.config.loaded_app, "cfg", None)
        if isinstance(cfg, ServiceConfig) and cfg.debug_loop_accept:
            await super().startup(sockets)  # the loop's own server (before/after benchmarks)
        else:
            await self._prompt_startup(sockets)
        for srv in self.servers:
            for sock in srv.sockets:
                host, port = sock.getsockname()[:2]
                log_event("listening", host=host, port=port, pid=os.getpid())

    async def _prompt_startup(self, sockets: list[socket.socket] | None) -> None:
        """uvicorn's startup with :class:`PromptAcceptor` in place of ``loop.create_server``."""
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        config = self.config
        loop = asyncio.get_running_loop()

        def create_protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        # One worker binds here; several get the socket their supervisor bound.
        listeners = sockets if sockets is not None else [_bind(config)]
        acceptors = [PromptAcceptor(loop, s, create_protocol, config.backlog) for s in listeners]
        for acceptor in acceptors:
            acceptor.start()
        self.servers = acceptors  # type: ignore[assignment]  # what uvicorn uses of a Server
        self.started = True


def _bind(config: uvicorn.Config) -> socket.socket:
    """The listening socket of a single-worker service (uvicorn's own binding rules)."""
    try:
        return config.bind_socket()
    except SystemExit:  # uvicorn logged the OSError (port taken, address not local)
        raise SystemExit(STARTUP_FAILURE) from None


def _uvicorn_kwargs(cfg: ServiceConfig) -> dict[str, object]:
    return {
        "http": GuardedProtocol,
        "host": cfg.host,
        "port": cfg.port,
        "loop": "uvloop",
        "lifespan": "on",
        "access_log": False,
        "log_config": None,
        "log_level": cfg.log_level.value,
        "server_header": False,
        "proxy_headers": False,  # no proxy in front; skips a middleware layer per request
        "date_header": False,
        "timeout_graceful_shutdown": math.ceil(cfg.graceful_timeout_s),
        "timeout_keep_alive": 5,
        "backlog": 2048,
    }


def _run(cfg: ServiceConfig, keys: Keys) -> None:
    if cfg.workers == 1:
        app = create_app(cfg, keys)
        _Server(uvicorn.Config(app, **_uvicorn_kwargs(cfg))).run()  # type: ignore[arg-type]
        return
    sweep_metrics_dirs()
    metrics_dir = tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    os.environ[LAUNCHER_PID_ENV] = str(os.getpid())
    try:
        uvicorn.run(
            "reference_service.app:create_app_from_env",
            factory=True,
            workers=cfg.workers,
            **_uvicorn_kwargs(cfg),  # type: ignore[arg-type]
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m reference_service``; returns the exit code."""
    try:
        cfg = parse_args(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(cfg.log_level.value)
    made = _ephemeral_keys(cfg)
    if made:
        log_event(
            "ephemeral_keys",
            logging.WARNING,
            keys=made,
            note="random per run: tokens change on restart, audit trail unverifiable after exit",
        )
    try:
        keys = preflight(cfg)
    except ConfigError as exc:
        log_event("config_error", logging.ERROR, error=str(exc))
        return 2
    os.environ[CONFIG_ENV] = config_to_env(cfg)
    if cfg.audit_mode is AuditModeName.ASYNC:
        log_event(
            "audit_async_mode",
            logging.WARNING,
            note="answers do not wait for their audit record: a crash loses recent records",
        )
    log_event(
        "starting",
        host=cfg.host,
        port=cfg.port,
        workers=cfg.workers,
        audit_mode=cfg.audit_mode.value,
        audit_dir=cfg.audit_dir,
        feature_store="redis" if cfg.redis_url else "in-process",
        feature_budget_ms=cfg.feature_budget_ms,
        velocity_max_mb=None if cfg.redis_url else cfg.velocity_max_mb,
    )
    if cfg.parent_pid is not None:
        start_parent_watch(cfg.parent_pid, _log_parent_gone)
    _run(cfg, keys)
    return 0


def _log_parent_gone(pid: int) -> None:
    log_event("parent_gone", logging.WARNING, parent_pid=pid, action="graceful shutdown")
