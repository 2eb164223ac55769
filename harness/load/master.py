"""The master side of a distributed run: bind, admit exactly N + R workers, drive, merge.

A ``MasterRunner`` on ``master_bind:master_port`` (see :class:`RunOptions` for the port) admits
exactly N + R workers: N local worker processes (``python -m harness.entrypoints.worker``, own
session, watched for their parent's death, terminated then killed in ``finally``) and R workers
started elsewhere with the command printed on stderr, all waited for within a bound. The users
split across them by Locust's dispatcher, each worker is given its share of the schedule
(:mod:`harness.load.distributed`), and the master merges their reports exactly and waits for
every final report (or gives up on a worker that left, after ``LOST_WORKER_S``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlsplit

from locust.exception import RPCError

from harness.errors import MeasurementError, UsageError
from harness.load.distributed import (
    FINAL_GRACE_S,
    MasterCoordinator,
    active_workers,
    admit_at_most,
)
from harness.load.logflush import POLL_S, LogFlusher
from harness.load.options import WILDCARD_BINDS, RunOptions
from harness.load.procs import check_alive, worker_processes
from harness.load.progress import Progress
from harness.load.runtime import SPAWN_TIMEOUT_S, locust_environment, progress_snapshot, wait_for
from harness.load.session import RunSpec, attach_interval_log, build_result
from harness.measure import RunResult, ScenarioRef, TargetInfo
from harness.spec import Scenario
from harness.target import Allowlist, V2Model

__all__ = ["join_command", "run_distributed"]

#: Lead time between "all users spawned on the workers" and the schedule's t = 0.
DISTRIBUTED_START_LEAD_S: Final = 1.0
WORKER_CONNECT_TIMEOUT_S: Final = 60.0
#: A worker gone from the master (quit, or heartbeats missing) this long is given up on.
LOST_WORKER_S: Final = 10.0


# -- distributed ----------------------------------------------------------------------------------
def _connect_host(bind: str) -> str:
    return "127.0.0.1" if bind in WILDCARD_BINDS else bind


def _create_master(env: Any, options: RunOptions) -> Any:
    address = f"{options.bind_host}:{options.port}"
    try:
        return env.create_master_runner(options.bind_host, options.port)
    except (RPCError, SystemExit) as exc:
        # Locust raises RPCError on a failed bind, or logs and calls sys.exit(1) itself when it
        # recognizes "address already in use" (the wording differs between versions).
        if isinstance(exc, SystemExit) or "already in use" in str(exc):
            raise UsageError(
                f"--master-port: {address} is already in use (another master still running?); "
                "choose another port, or 0 for a free one"
            ) from None
        raise UsageError(
            f"--master-bind/--master-port: cannot listen on {address} ({exc})"
        ) from None


def join_command(options: RunOptions, port: int) -> str:
    """What a machine must run to join this run's master as a worker."""
    host = "HOST" if options.bind_host in WILDCARD_BINDS else options.bind_host
    return f"slo-harness worker --master {host} --master-port {port}"


def _announce(options: RunOptions, port: int, target_url: str) -> None:
    n = options.remote_workers
    lines = [
        f"slo-harness: waiting up to {options.worker_wait_s:g} s for {n} remote "
        f"worker{'s' if n != 1 else ''}; on each worker machine run:",
        f"    {join_command(options, port)}",
    ]
    if options.bind_host in WILDCARD_BINDS:
        lines.append("  (HOST: an address of this machine that the worker machines can reach)")
    host = urlsplit(target_url).hostname or ""
    if host == "localhost" or host.startswith("127.") or host == "::1":
        lines.append(
            f"  note: the target {target_url} is loopback: a worker on another machine sends to "
            "its own loopback (give --target an address in 198.18.0.0/15 it can reach)"
        )
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def run_distributed(
    scenario: Scenario,
    ref: ScenarioRef,
    info: TargetInfo,
    infer: tuple[V2Model, ...],
    options: RunOptions,
    progress: Progress,
    allow: Allowlist,
) -> RunResult:
    """A distributed run (see the module docstring); the master side, from bind to result."""
    env = locust_environment(info.url)
    master = _create_master(env, options)
    admit_at_most(master, options.workers + options.remote_workers)
    coordinator = MasterCoordinator(env, master)
    quit_once = _Once(master.quit)
    try:
        port = int(master.server.port)
        if options.remote_workers:
            _announce(options, port, info.url)
        host = _connect_host(options.bind_host)
        with worker_processes(options.workers, host, port) as procs:
            try:
                _wait_for_workers(master, procs, options, port)
                return _drive_master(
                    scenario, ref, info, infer, master, coordinator, procs, progress, allow, options
                )
            finally:
                if coordinator.recorder is not None:
                    coordinator.recorder.close_log(complete=False)
                if coordinator.missing():
                    coordinator.abort()
                quit_once()  # workers get "quit" and exit; stragglers are terminated after
    finally:
        quit_once()


class _Once:
    """Call a function at most once (a master's quit sleeps 0.5 s each time)."""

    def __init__(self, func: Callable[[], object]) -> None:
        self._func: Callable[[], object] | None = func

    def __call__(self) -> None:
        func, self._func = self._func, None
        if func is not None:
            func()


def _wait_for_workers(
    master: Any, procs: list[subprocess.Popen[bytes]], options: RunOptions, port: int
) -> None:
    """Until the N local and R remote workers have joined; bounded by ``worker_wait_s``."""
    n = options.workers + options.remote_workers

    def joined() -> bool:
        check_alive(procs)
        return len(active_workers(master)) >= n

    wait_s = options.worker_wait_s if options.remote_workers else WORKER_CONNECT_TIMEOUT_S
    try:
        wait_for(joined, wait_s, f"{n} workers")
    except MeasurementError:
        got = len(active_workers(master))
        remote = (
            f", {options.remote_workers} remote expected ({join_command(options, port)})"
            if options.remote_workers
            else ""
        )
        raise MeasurementError(
            f"timed out after {wait_s:g} s waiting for workers: {got} of {n} joined "
            f"({options.workers} local started here{remote})"
        ) from None


def _drive_master(
    scenario: Scenario,
    ref: ScenarioRef,
    info: TargetInfo,
    infer: tuple[V2Model, ...],
    master: Any,
    coordinator: MasterCoordinator,
    procs: list[subprocess.Popen[bytes]],
    progress: Progress,
    allow: Allowlist,
    options: RunOptions,
) -> RunResult:
    cap = scenario.max_concurrency
    master.start(cap, spawn_rate=cap)
    wait_for(lambda: master.user_count >= cap, SPAWN_TIMEOUT_S, f"{cap} users on the workers")
    spec = RunSpec(
        scenario=scenario,
        target_url=info.url,
        run_start_wall_ns=time.time_ns() + round(DISTRIBUTED_START_LEAD_S * 1e9),
        models=infer,
        allow=allow,
        locust_stats=False,  # nothing reads Locust's stats here (harness.load.completion)
    )
    workers = coordinator.launch(spec)
    recorder, clock = coordinator.recorder, coordinator.flush_clock
    assert recorder is not None
    assert clock is not None
    flusher: LogFlusher | None = None
    if options.interval_log is not None:
        log = attach_interval_log(recorder, options.interval_log, scenario, ref, info)
        flusher = LogFlusher(recorder, log, clock, poll_s=POLL_S).start()
    try:
        reasons = _merge_until_done(scenario, coordinator, procs, progress, workers)
    finally:
        if flusher is not None:
            flusher.stop()  # before the log is closed: its fsync runs off the hub
    return build_result(
        scenario=scenario,
        scenario_ref=ref,
        target=info,
        recorder=recorder,
        health=list(coordinator.health.values()),
        extra_reasons=reasons,
        workers=workers,
        responses=coordinator.responses,
        tails=coordinator.tails(),
    )


def _merge_until_done(
    scenario: Scenario,
    coordinator: MasterCoordinator,
    procs: list[subprocess.Popen[bytes]],
    progress: Progress,
    workers: int,
) -> tuple[str, ...]:
    """Merge the workers' snapshots until every final report is in (bounded); what went wrong."""
    recorder = coordinator.recorder
    assert recorder is not None
    bound_s = DISTRIBUTED_START_LEAD_S + scenario.duration_s
    bound_s += 2 * scenario.timeout_ms / 1000.0 + 1.5 + FINAL_GRACE_S
    deadline = time.monotonic() + bound_s
    lost_since: float | None = None
    for _ in range(int(bound_s) + 2):
        if coordinator.wait_finals(1.0) or time.monotonic() > deadline:
            break
        check_alive(procs)
        lost_since = (lost_since or time.monotonic()) if coordinator.lost() else None
        if lost_since is not None and time.monotonic() - lost_since > LOST_WORKER_S:
            break  # its share is gone; waiting out the deadline would add nothing
        progress.update(
            progress_snapshot(
                scenario, recorder, in_flight=0, cap_hits=0, workers=workers, window_s=4.0
            )
        )
    lost = set(coordinator.lost())
    return tuple(coordinator.errors) + tuple(
        f"worker {w} did not deliver its final measurements"
        + (" (it left the run)" if w in lost else "")
        for w in coordinator.missing()
    )
