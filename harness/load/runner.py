"""``run_scenario``: from a Scenario to a RunResult, through Locust's Environment and runners.

Steps: apply the command-line overrides; start the reference service when there is no target
(:func:`harness.target.launch_reference_service`, stopped afterwards whatever happens); probe
the target (``TargetUnreachable`` -> exit 3 before any load); then either

- **local** (``workers=0``): a ``LocalRunner`` spawns ``max_concurrency`` users (the slots) at
  once, the engine starts its schedule a moment later, the runner is quit after the drain; or
- **distributed** (``workers=N``): a ``MasterRunner`` on ``master_bind:master_port`` (0: a free
  port), N worker processes (``python -m harness.load.worker``, own session, watched for their
  parent's death, terminated then killed in ``finally``), the users split across them by Locust's
  dispatcher, each worker given its share of the schedule (:mod:`harness.load.distributed`), the
  master merging their reports exactly and waiting for every final report.

The result carries the generator's self-assessment (:func:`harness.load.health.assess`);
``valid=False`` means the CLI must exit 3. Every wait here is bounded by the schedule plus the
drain deadline plus a grace period.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Final

import gevent
import msgspec
from locust.env import Environment

from harness.errors import MeasurementError, ServiceStartError, UsageError
from harness.load.distributed import FINAL_GRACE_S, MasterCoordinator, active_workers
from harness.load.engine import Engine
from harness.load.options import RunOptions
from harness.load.progress import Progress, Snapshot, make_progress
from harness.load.session import RunSpec, build_result, start_engine, write_request_log
from harness.load.user import SloUser, station_of
from harness.measure.recorder import Recorder
from harness.measure.result import RunResult, ScenarioRef, TargetInfo
from harness.spec.scenario import Endpoint, Scenario, scenario_ref
from harness.target import (
    check_target_allowed,
    launch_reference_service,
    probe_target,
    read_infer_input,
)

__all__ = ["PROBE_TIMEOUT_S", "run_scenario"]

#: How long a target given on the command line may take to answer its readiness probe.
PROBE_TIMEOUT_S: Final = 5.0
#: Lead time between "all slots ready" and the schedule's t = 0 (the first arrival).
START_LEAD_S: Final = 0.3
DISTRIBUTED_START_LEAD_S: Final = 1.0
SPAWN_TIMEOUT_S: Final = 30.0
WORKER_CONNECT_TIMEOUT_S: Final = 60.0
WORKER_STOP_TIMEOUT_S: Final = 5.0
_POLL_S: Final = 0.05
_SPAWN_WARNING: Final = "Your selected spawn rate is very high"


class _DropSpawnRateWarning(logging.Filter):
    """All slots start at once on purpose; Locust's warning about fast spawning is noise here."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_SPAWN_WARNING)


def run_scenario(scenario: Scenario, options: RunOptions) -> RunResult:
    """See the module docstring."""
    try:
        scenario = scenario.with_overrides(
            rate=options.rate, duration_s=options.duration_s, target=options.target
        )
    except ValueError as exc:
        raise UsageError(f"--rate/--duration/--target: {exc}") from None
    if options.workers < 0:
        raise UsageError(f"--workers: expected 0 or more, got {options.workers}")
    runners_log = logging.getLogger("locust.runners")
    if not any(isinstance(f, _DropSpawnRateWarning) for f in runners_log.filters):
        runners_log.addFilter(_DropSpawnRateWarning())
    ref = _scenario_ref(scenario, options.scenario_path)
    if scenario.target is not None and not scenario.target.startswith("http://"):
        raise UsageError(f"target {scenario.target!r}: only plain http:// targets are supported")
    with contextlib.ExitStack() as stack:
        url = scenario.target
        if url is None:
            url = stack.enter_context(launch_reference_service(workers=1))
            info = probe_target(url, timeout_s=30.0, started_by_harness=True)
        else:
            check_target_allowed(url)
            info = probe_target(url, timeout_s=PROBE_TIMEOUT_S)
        infer = None
        if any(m.endpoint is Endpoint.INFER for m in scenario.mix):
            meta = read_infer_input(url)
            infer = (meta.name, meta.n_features)
        progress = stack.enter_context(_closing(make_progress(options.progress)))
        if options.workers == 0:
            return _run_local(scenario, ref, info, infer, progress)
        return _run_distributed(scenario, ref, info, infer, options, progress)
    raise AssertionError("unreachable")  # pragma: no cover


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
    infer: tuple[str, int] | None,
    progress: Progress,
) -> RunResult:
    env = _environment(info.url)
    runner = env.create_local_runner()
    station = station_of(env)
    engine: Engine | None = None
    try:
        cap = scenario.max_concurrency
        runner.start(cap, spawn_rate=cap)
        _wait_for(lambda: station.registered >= cap, SPAWN_TIMEOUT_S, f"{cap} Locust users")
        spec = RunSpec(
            scenario=scenario,
            target_url=info.url,
            run_start_wall_ns=time.time_ns() + round(START_LEAD_S * 1e9),
            infer=infer,
        )
        engine = start_engine(env, spec, name="local")
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
        reasons = () if engine.finished.is_set() else ("the run did not finish in time",)
        engine.abort()
        write_request_log(engine.request_log)
        return build_result(
            scenario=scenario,
            scenario_ref=ref,
            target=info,
            recorder=engine.recorder,
            health=[engine.health()],
            extra_reasons=reasons,
            workers=0,
        )
    finally:
        if engine is not None:
            engine.abort()
        runner.quit()


# -- distributed ----------------------------------------------------------------------------------
def _connect_host(bind: str) -> str:
    return "127.0.0.1" if bind in ("*", "0.0.0.0", "") else bind


def _harness_root() -> str:
    return str(Path(__file__).resolve().parents[2])


@contextlib.contextmanager
def _worker_processes(n: int, host: str, port: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """N worker processes, each logging to its own temporary file; all removed on exit."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_harness_root(), env.get("PYTHONPATH")]))
    cmd = [
        sys.executable,
        "-m",
        "harness.load.worker",
        *("--master", host, "--master-port", str(port)),
        *("--parent-pid", str(os.getpid())),
    ]
    procs: list[subprocess.Popen[bytes]] = []
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile(prefix="slo-worker-")) for _ in range(n)]
        try:
            for log in logs:
                procs.append(
                    subprocess.Popen(
                        cmd,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                        start_new_session=True,  # a Ctrl-C reaches the master, which stops them
                    )
                )
            yield procs
        except ServiceStartError as exc:
            raise ServiceStartError(f"{exc}\n{_tail(logs)}") from None
        finally:
            _stop_processes(procs)


def _stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate, wait a little, then kill: no worker outlives the run."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + WORKER_STOP_TIMEOUT_S
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        if proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5.0)


def _tail(logs: Sequence[IO[bytes]], lines: int = 15) -> str:
    out = []
    for i, log in enumerate(logs):
        with contextlib.suppress(OSError, ValueError):
            log.seek(0)
            text = log.read().decode("utf-8", "replace").splitlines()[-lines:]
            if text:
                out.append(f"worker {i}:\n" + "\n".join(text))
    return "\n".join(out) or "(no worker output)"


def _check_alive(procs: list[subprocess.Popen[bytes]]) -> None:
    for i, proc in enumerate(procs):
        code = proc.poll()
        if code is not None:
            raise ServiceStartError(f"worker process {i} exited with code {code}")


def _run_distributed(
    scenario: Scenario,
    ref: ScenarioRef,
    info: TargetInfo,
    infer: tuple[str, int] | None,
    options: RunOptions,
    progress: Progress,
) -> RunResult:
    env = _environment(info.url)
    master = env.create_master_runner(options.master_bind, options.master_port)
    coordinator = MasterCoordinator(env, master)
    n = options.workers
    quit_once = _Once(master.quit)
    try:
        port = int(master.server.port)
        with _worker_processes(n, _connect_host(options.master_bind), port) as procs:
            try:
                return _drive_master(
                    scenario, ref, info, infer, master, coordinator, procs, progress
                )
            finally:
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


def _drive_master(
    scenario: Scenario,
    ref: ScenarioRef,
    info: TargetInfo,
    infer: tuple[str, int] | None,
    master: Any,
    coordinator: MasterCoordinator,
    procs: list[subprocess.Popen[bytes]],
    progress: Progress,
) -> RunResult:
    n = len(procs)

    def connected() -> bool:
        _check_alive(procs)
        return len(active_workers(master)) >= n

    _wait_for(connected, WORKER_CONNECT_TIMEOUT_S, f"{n} workers to connect")
    cap = scenario.max_concurrency
    master.start(cap, spawn_rate=cap)
    _wait_for(lambda: master.user_count >= cap, SPAWN_TIMEOUT_S, f"{cap} users on the workers")
    spec = RunSpec(
        scenario=scenario,
        target_url=info.url,
        run_start_wall_ns=time.time_ns() + round(DISTRIBUTED_START_LEAD_S * 1e9),
        infer=infer,
    )
    workers = coordinator.launch(spec)
    recorder = coordinator.recorder
    assert recorder is not None
    bound_s = DISTRIBUTED_START_LEAD_S + scenario.duration_s
    bound_s += 2 * scenario.timeout_ms / 1000.0 + 1.5 + FINAL_GRACE_S
    deadline = time.monotonic() + bound_s
    for _ in range(int(bound_s) + 2):
        if coordinator.wait_finals(1.0) or time.monotonic() > deadline:
            break
        _check_alive(procs)
        progress.update(
            _snapshot(scenario, recorder, in_flight=0, cap_hits=0, workers=workers, window_s=4.0)
        )
    reasons = tuple(coordinator.errors) + tuple(
        f"worker {w} did not deliver its final measurements" for w in coordinator.missing()
    )
    return build_result(
        scenario=scenario,
        scenario_ref=ref,
        target=info,
        recorder=recorder,
        health=list(coordinator.health.values()),
        extra_reasons=reasons,
        workers=workers,
    )
