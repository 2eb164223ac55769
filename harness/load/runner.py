"""``run_scenario``: from a Scenario to a RunResult, through Locust's Environment and runners.

Steps: apply the command-line overrides; start the reference service when there is no target
(:func:`harness.target.launch_reference_service`, stopped afterwards whatever happens); probe
the target (``TargetUnreachable`` -> exit 3 before any load); then either

- **local** (``workers=0``): a ``LocalRunner`` spawns ``max_concurrency`` users (the slots) at
  once, the engine starts its schedule a moment later, the runner is quit after the drain; or
- **distributed** (``workers=N`` and/or ``remote_workers=R``): a Locust master admitting exactly
  N local and R remote workers, each given its share of the schedule, their reports merged
  exactly (:mod:`harness.load.master`).

The result carries the generator's self-assessment (:func:`harness.load.health.assess`);
``valid=False`` means the CLI must exit 3. Every wait here is bounded by the schedule plus the
drain deadline plus a grace period.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import gevent
import msgspec

from harness.errors import UsageError
from harness.load.distributed import (
    FINAL_GRACE_S,
)
from harness.load.engine import Engine
from harness.load.logflush import LogFlusher, flush_clock
from harness.load.master import run_distributed
from harness.load.observe import ObserverDriver
from harness.load.options import RunOptions
from harness.load.progress import Progress, make_progress
from harness.load.runtime import SPAWN_TIMEOUT_S, locust_environment, progress_snapshot, wait_for
from harness.load.session import (
    RunSpec,
    attach_interval_log,
    build_result,
    start_engine,
    write_request_log,
)
from harness.load.targeting import connect_target
from harness.load.user import station_of
from harness.measure import RunObserver, RunResult, ScenarioRef, TargetInfo
from harness.spec import Scenario, scenario_ref
from harness.target import Allowlist, V2Model, launch_reference_service

__all__ = ["PROBE_TIMEOUT_S", "run_scenario"]

#: How long a target given on the command line may take to answer its readiness probe.
PROBE_TIMEOUT_S: Final = 5.0
#: Lead time between "all slots ready" and the schedule's t = 0 (the first arrival).
START_LEAD_S: Final = 0.3
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
        return run_distributed(scenario, ref, info, infer, options, progress, allow)
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
    env = locust_environment(info.url)
    runner = env.create_local_runner()
    station = station_of(env)
    engine: Engine | None = None
    driver: ObserverDriver | None = None
    flusher: LogFlusher | None = None
    stopped: list[str] = []
    try:
        cap = scenario.max_concurrency
        runner.start(cap, spawn_rate=cap)
        wait_for(lambda: station.registered >= cap, SPAWN_TIMEOUT_S, f"{cap} Locust users")
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
            log = attach_interval_log(engine.recorder, interval_log, scenario, ref, info)
            clock = flush_clock(engine.recorder, distributed=False)
            flusher = LogFlusher(engine.recorder, log, clock, poll_s=None).start()
        if observer is not None:
            driver = ObserverDriver(observer, engine.recorder, scenario)
            driver.start(on_stop=_stopper(engine, stopped))
        bound_s = (engine.finish_deadline_ns - time.monotonic_ns()) / 1e9 + FINAL_GRACE_S
        deadline = time.monotonic() + bound_s
        for _ in range(int(bound_s) + 2):
            if engine.wait(timeout_s=1.0) or time.monotonic() > deadline:
                break
            progress.update(
                progress_snapshot(
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
        if flusher is not None:
            flusher.stop()  # before build_result closes the log (its fsync runs off the hub)
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
        if flusher is not None:
            flusher.stop()
        if engine is not None:
            engine.abort()
            engine.recorder.close_log(complete=False)  # interrupted: valid to the last interval
        runner.quit()


def _stopper(engine: Engine, stopped: list[str]) -> Callable[[str], None]:
    def stop(reason: str) -> None:
        stopped.append(reason)
        engine.abort()

    return stop
