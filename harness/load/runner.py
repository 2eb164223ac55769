"""``run_scenario``: from a Scenario to a RunResult, through Locust's Environment and runners.

Steps: apply the command-line overrides; start the reference service when there is no target
(:func:`harness.target.launch_reference_service`, stopped afterwards whatever happens); probe
the target (``TargetUnreachable`` -> exit 3 before any load); then either

- **local** (``workers=0``): a ``LocalRunner`` spawns ``max_concurrency`` users (the slots) at
  once, the engine starts its schedule a moment later, the runner is quit after the drain; or
- **distributed** (``workers=N`` and/or ``remote_workers=R``): a ``MasterRunner`` on
  ``master_bind:master_port`` (see :class:`RunOptions` for the port) admitting exactly N + R
  workers, N local worker processes (``python -m harness.load.worker``, own session, watched for
  their parent's death, terminated then killed in ``finally``), R workers started elsewhere with
  the command printed on stderr, all waited for within a bound; then the users split across them
  by Locust's dispatcher, each worker given its share of the schedule
  (:mod:`harness.load.distributed`), the master merging their reports exactly and waiting for
  every final report (or giving up on a worker that left).

The result carries the generator's self-assessment (:func:`harness.load.health.assess`);
``valid=False`` means the CLI must exit 3. Every wait here is bounded by the schedule plus the
drain deadline plus a grace period.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import gevent
import msgspec
from locust.env import Environment
from locust.exception import RPCError

from harness.errors import MeasurementError, UsageError
from harness.load.distributed import (
    FINAL_GRACE_S,
    MasterCoordinator,
    active_workers,
    admit_at_most,
)
from harness.load.engine import Engine
from harness.load.observe import ObserverDriver
from harness.load.options import WILDCARD_BINDS, RunOptions
from harness.load.procs import check_alive, worker_processes
from harness.load.progress import Progress, Snapshot, make_progress
from harness.load.session import (
    RunSpec,
    attach_interval_log,
    build_result,
    start_engine,
    write_request_log,
)
from harness.load.targeting import connect_target
from harness.load.user import SloUser, station_of
from harness.measure import Recorder, RunObserver, RunResult, ScenarioRef, TargetInfo
from harness.spec import Scenario, scenario_ref
from harness.target import Allowlist, V2Model, launch_reference_service

__all__ = ["PROBE_TIMEOUT_S", "run_scenario"]

#: How long a target given on the command line may take to answer its readiness probe.
PROBE_TIMEOUT_S: Final = 5.0
#: Lead time between "all slots ready" and the schedule's t = 0 (the first arrival).
START_LEAD_S: Final = 0.3
DISTRIBUTED_START_LEAD_S: Final = 1.0
SPAWN_TIMEOUT_S: Final = 30.0
WORKER_CONNECT_TIMEOUT_S: Final = 60.0
#: A worker gone from the master (quit, or heartbeats missing) this long is given up on.
LOST_WORKER_S: Final = 10.0
_POLL_S: Final = 0.05
_SPAWN_WARNING: Final = "Your selected spawn rate is very high"


class _DropSpawnRateWarning(logging.Filter):
    """All slots start at once on purpose; Locust's warning about fast spawning is noise here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_SPAWN_WARNING)


def run_scenario(
    scenario: Scenario, options: RunOptions, observer: RunObserver | None = None
) -> RunResult:
    """See the module docstring. ``observer`` (local runs only) watches the run interval by
    interval and may stop it early (:mod:`harness.load.observe`)."""
    try:
        scenario = scenario.with_overrides(
            rate=options.rate, duration_s=options.duration_s, target=options.target
        )
    except ValueError as exc:
        raise UsageError(f"--rate/--duration/--target: {exc}") from None
    options.check()
    if observer is not None and options.distributed:
        raise UsageError("a live observer (game days) needs a local run: --workers 0")
    _quiet_interrupts()
    runners_log = logging.getLogger("locust.runners")
    if not any(isinstance(f, _DropSpawnRateWarning) for f in runners_log.filters):
        runners_log.addFilter(_DropSpawnRateWarning())
    ref = _scenario_ref(scenario, options.scenario_path)
    file = str(options.scenario_path or "<scenario>")
    allow = Allowlist.build(options.allow_targets, scenario.allow, file)
    with contextlib.ExitStack() as stack:
        url = scenario.target
        started = url is None
        if url is None:
            url = stack.enter_context(launch_reference_service(workers=1))
        info, infer = connect_target(
            scenario,
            url,
            allow=allow,
            file=file,
            started_by_harness=started,
            timeout_s=30.0 if started else PROBE_TIMEOUT_S,
        )
        progress = stack.enter_context(_closing(make_progress(options.progress)))
        if not options.distributed:
            return _run_local(
                scenario, ref, info, infer, progress, observer, allow, options.interval_log
            )
        return _run_distributed(scenario, ref, info, infer, options, progress, allow)
    raise AssertionError("unreachable")  # pragma: no cover


def _quiet_interrupts() -> None:
    """Ctrl-C and SIGTERM (which harness.cli turns into KeyboardInterrupt) land wherever the
    process is, in a distributed master usually inside gevent's hub, which would print them as a
    crash (a traceback before the one-line message). An interrupt is an expected stop: the hub
    passes it on to the main greenlet without printing (the local engine does the same)."""
    hub = gevent.get_hub()
    if KeyboardInterrupt not in hub.NOT_ERROR:
        hub.NOT_ERROR = (*hub.NOT_ERROR, KeyboardInterrupt)


def _scenario_ref(scenario: Scenario, path: Path | None) -> ScenarioRef:
    if path is not None and path.is_file():
        return scenario_ref(path, scenario)
    digest = hashlib.sha256(msgspec.json.encode(scenario)).hexdigest()
    return ScenarioRef(scenario.name, str(path or ""), digest)


@contextlib.contextmanager
def _closing(progress: Progress) -> Iterator[Progress]:
    try:
        yield progress
    finally:
        progress.close()


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    for _ in range(int(timeout_s / _POLL_S) + 2):
        if condition():
            return
        if time.monotonic() >= deadline:
            break
        gevent.sleep(_POLL_S)
    raise MeasurementError(f"timed out after {timeout_s:g} s waiting for {what}")


def _environment(url: str | None) -> Any:
    return Environment(user_classes=[SloUser], host=url, stop_timeout=0.0)


def _snapshot(
    scenario: Scenario,
    recorder: Recorder,
    *,
    in_flight: int,
    cap_hits: int,
    workers: int,
    window_s: float,
) -> Snapshot:
    elapsed = (time.time_ns() - recorder.run_start_wall_ns) / 1e9
    phase = next(
        (s.phase.name for s in scenario.schedule() if s.start_s <= elapsed < s.end_s), "drain"
    )
    return Snapshot(
        elapsed_s=max(elapsed, 0.0),
        total_s=scenario.duration_s,
        phase=phase if elapsed >= 0 else "starting",
        offered_rps=scenario.rate_at(elapsed),
        stats=recorder.live(window_s=window_s),
        in_flight=in_flight,
        cap_hits=cap_hits,
        workers=workers,
    )


# -- local --------------------------------------------------------------------------------------
def _run_local(
    scenario: Scenario,
    ref: ScenarioRef,
    info: TargetInfo,
    infer: tuple[V2Model, ...],
    progress: Progress,
    observer: RunObserver | None = None,
    allow: Allowlist | None = None,
    interval_log: Path | None = None,
) -> RunResult:
    env = _environment(info.url)
    runner = env.create_local_runner()
    station = station_of(env)
    engine: Engine | None = None
    driver: ObserverDriver | None = None
    stopped: list[str] = []
    try:
        cap = scenario.max_concurrency
        runner.start(cap, spawn_rate=cap)
        _wait_for(lambda: station.registered >= cap, SPAWN_TIMEOUT_S, f"{cap} Locust users")
        spec = RunSpec(
            scenario=scenario,
            target_url=info.url,
            run_start_wall_ns=time.time_ns() + round(START_LEAD_S * 1e9),
            models=infer,
            allow=allow or Allowlist(),
            locust_stats=False,  # nothing reads Locust's stats here (harness.load.completion)
        )
        engine = start_engine(env, spec, name="local")
        if interval_log is not None:
            attach_interval_log(engine.recorder, interval_log, scenario, ref, info)
        if observer is not None:
            driver = ObserverDriver(observer, engine.recorder, scenario)
            driver.start(on_stop=_stopper(engine, stopped))
        bound_s = (engine.finish_deadline_ns - time.monotonic_ns()) / 1e9 + FINAL_GRACE_S
        deadline = time.monotonic() + bound_s
        for _ in range(int(bound_s) + 2):
            if engine.wait(timeout_s=1.0) or time.monotonic() > deadline:
                break
            progress.update(
                _snapshot(
                    scenario,
                    engine.recorder,
                    in_flight=station.busy,
                    cap_hits=engine.cap_hits,
                    workers=0,
                    window_s=1.0,
                )
            )
        reasons: tuple[str, ...] = (
            () if engine.finished.is_set() else ("the run did not finish in time",)
        )
        engine.abort()
        if stopped:  # stopped early: still record what is in flight (each ends within its timeout)
            station.wait_all_done(time.monotonic_ns() + engine.timeout_ns + 500_000_000)
        if driver is not None:
            driver.close()
            reasons += tuple(driver.errors)
        write_request_log(engine.request_log)
        return build_result(
            scenario=scenario,
            scenario_ref=ref,
            target=info,
            recorder=engine.recorder,
            health=[engine.health()],
            extra_reasons=reasons,
            workers=0,
            responses=engine.responses,
            tails=engine.tails.samples() if engine.tails is not None else (),
        )
    finally:
        if driver is not None:
            driver.close()
        if engine is not None:
            engine.abort()
            engine.recorder.close_log(complete=False)  # interrupted: valid to the last interval
        runner.quit()


def _stopper(engine: Engine, stopped: list[str]) -> Callable[[str], None]:
    def stop(reason: str) -> None:
        stopped.append(reason)
        engine.abort()

    return stop


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


def _run_distributed(
    scenario: Scenario,
    ref: ScenarioRef,
    info: TargetInfo,
    infer: tuple[V2Model, ...],
    options: RunOptions,
    progress: Progress,
    allow: Allowlist,
) -> RunResult:
    env = _environment(info.url)
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
        _wait_for(joined, wait_s, f"{n} workers")
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
    _wait_for(lambda: master.user_count >= cap, SPAWN_TIMEOUT_S, f"{cap} users on the workers")
    spec = RunSpec(
        scenario=scenario,
        target_url=info.url,
        run_start_wall_ns=time.time_ns() + round(DISTRIBUTED_START_LEAD_S * 1e9),
        models=infer,
        allow=allow,
        locust_stats=False,
    )
    workers = coordinator.launch(spec)
    recorder = coordinator.recorder
    assert recorder is not None
    if options.interval_log is not None:
        attach_interval_log(recorder, options.interval_log, scenario, ref, info)
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
            _snapshot(scenario, recorder, in_flight=0, cap_hits=0, workers=workers, window_s=4.0)
        )
    lost = set(coordinator.lost())
    reasons = tuple(coordinator.errors) + tuple(
        f"worker {w} did not deliver its final measurements"
        + (" (it left the run)" if w in lost else "")
        for w in coordinator.missing()
    )
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
