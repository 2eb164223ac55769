"""Locust plugin hooks: ``locust -f scenarios/<name>.py`` with Locust's own CLI and web UI gets the
same open-model engine, HDR recording, CO correction and an end-of-run summary, through events.

A locustfile is two lines (see ``scenarios/steady.py``); the entry point
(``harness.entrypoints.scenario_plugin``) reads and checks the files, then calls
:func:`install_plugin` here::

    from harness.entrypoints import scenario_plugin
    SloUser, ScenarioShape = scenario_plugin(__file__)  # reads the .yaml next to this file

What the hooks do:

- ``init_command_line_parser``: adds ``--slo-rate``, ``--slo-duration`` (override the main
  phase), ``--slo-hlog PATH`` (write the interval series as an HdrHistogram log) and
  ``--slo-summary-json PATH`` (the summary as JSON).
- The returned ``LoadTestShape`` keeps Locust's user count at the scenario's
  ``max_concurrency`` (the users are the engine's connection slots) and ends the test when the
  schedule is done and drained, so ``--users``/``--spawn-rate``/``--run-time`` are not needed.
- at import (the entry point): the scenario and its SLO file are loaded and checked (the SLO's
  phases must exist in the scenario); a bad file ends Locust with one line and exit code 2
  before any load.
- ``test_start`` (local or master): the target is ``--host``, else the scenario's ``target``,
  else the reference service, started on a free loopback port and stopped at exit; it is probed,
  then the engine (or, on a master, every worker's share) starts a moment later.
- ``test_stopping``: an early stop aborts the schedule; the master collects every worker's final
  report; the result is printed (per phase: requests, late, intended-clock and service-time
  percentiles; the generator's health; the SLO verdict when the scenario names an SLO file).
- ``quitting``: exit code 3 when the generator was saturated, a worker was lost or the SLO
  could not be judged, 1 when an SLO objective was breached (Locust's own code otherwise).

Locust's stats table and UI show the intended-clock response times (rounded by Locust); the
summary printed here, from the HDR histograms, is the one to trust.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import gevent
from locust import LoadTestShape, events
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from harness.errors import ExitCode, HarnessError, UsageError
from harness.files import atomic_write_bytes
from harness.load.distributed import FINAL_GRACE_S, MasterCoordinator, WorkerCoordinator
from harness.load.engine import Engine
from harness.load.session import RunSpec, build_result, start_engine, write_request_log
from harness.load.summary import render_summary, summary_json
from harness.load.targeting import probe_target_of
from harness.load.user import SloUser
from harness.measure import RunResult, TargetInfo, write_hlog
from harness.spec import Scenario, SloSpec, scenario_ref
from harness.target import check_target_allowed, fetch_models, launch_reference_service

__all__ = ["install_plugin"]

START_LEAD_S: Final = 1.0
PROBE_TIMEOUT_S: Final = 5.0

_log = logging.getLogger(__name__)


@dataclass
class _PluginState:
    """Per-process state of the plugin (one Locust process runs one environment)."""

    path: Path
    scenario: Scenario
    slo: SloSpec | None = None  # the scenario's SLO file, checked at import
    environment: Any = None
    engine: Engine | None = None
    master: MasterCoordinator | None = None
    spec: RunSpec | None = None
    started_by_harness: bool = False
    info: TargetInfo | None = None
    result: RunResult | None = None
    exit_code: ExitCode | None = None
    services: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def finished(self) -> bool:
        if self.engine is not None:
            return bool(self.engine.finished.is_set())
        if self.master is not None and self.spec is not None:
            late = time.time_ns() > self._master_deadline_ns()
            return not self.master.missing() or late
        return False

    def _master_deadline_ns(self) -> int:
        assert self.spec is not None
        s = self.spec.scenario
        span = s.duration_s + 2 * s.timeout_ms / 1000.0 + 1.5 + FINAL_GRACE_S
        return self.spec.run_start_wall_ns + round(span * 1e9)


def install_plugin(
    path: Path, scenario: Scenario, slo: SloSpec | None
) -> tuple[type[SloUser], type[LoadTestShape]]:
    """Wire an already-checked scenario (read from ``path``) into Locust's hooks."""
    state = _PluginState(path=path, scenario=scenario, slo=slo)
    _register(state)

    class ScenarioShape(LoadTestShape):
        """Holds the user count at the concurrency cap until the schedule is done."""

        def tick(self) -> tuple[int, float] | None:
            if state.finished:
                return None
            cap = state.scenario.max_concurrency
            return cap, float(cap)

    ScenarioShape.__name__ = ScenarioShape.__qualname__ = "ScenarioShape"
    return SloUser, ScenarioShape


def _register(state: _PluginState) -> None:
    hooks: Any = events  # Locust's global hooks, which ``locust -f`` fires

    def _add_arguments(parser: Any, **_: Any) -> None:
        group = parser.add_argument_group("slo-harness")
        group.add_argument("--slo-rate", type=float, help="Override the main phase's rate (rps)")
        group.add_argument("--slo-duration", type=float, help="Override the main phase (s)")
        group.add_argument("--slo-hlog", help="Write the interval series to this .hlog file")
        group.add_argument("--slo-summary-json", help="Write the summary to this JSON file")

    def _on_init(environment: Any, runner: Any, **_: Any) -> None:
        state.environment = environment
        opts = environment.parsed_options
        if opts is not None and (opts.slo_rate or opts.slo_duration):
            try:
                state.scenario = state.scenario.with_overrides(
                    rate=opts.slo_rate, duration_s=opts.slo_duration, file=str(state.path)
                )
            except HarnessError as exc:
                sys.stderr.write(f"slo-harness: error: {exc}\n")
                raise SystemExit(exc.exit_code) from None
        if isinstance(runner, WorkerRunner):
            WorkerCoordinator(environment, runner)
        elif isinstance(runner, MasterRunner):
            state.master = MasterCoordinator(environment, runner)

    def _on_test_start(environment: Any, **_: Any) -> None:
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            return
        try:
            spec = _prepare(state, environment)
            if isinstance(runner, LocalRunner):
                state.engine = start_engine(environment, spec, name="local")
            elif state.master is not None:
                state.master.launch(spec)
        except HarnessError as exc:
            _log.error("slo-harness: %s", exc)
            state.exit_code = exc.exit_code
            gevent.spawn(runner.quit)
            return
        state.spec, state.result = spec, None

    def _on_test_stopping(environment: Any, **_: Any) -> None:
        if isinstance(environment.runner, WorkerRunner) or state.spec is None:
            return
        state.result = _collect(state)
        state.spec = None
        _report(state, environment)

    def _on_quitting(environment: Any, **_: Any) -> None:
        if state.exit_code is not None:
            environment.process_exit_code = state.exit_code
        state.services.close()

    hooks.init_command_line_parser.add_listener(_add_arguments)
    hooks.init.add_listener(_on_init)
    hooks.test_start.add_listener(_on_test_start)
    hooks.test_stopping.add_listener(_on_test_stopping)
    hooks.quitting.add_listener(_on_quitting)


def _prepare(state: _PluginState, environment: Any) -> RunSpec:
    scenario = state.scenario
    url = environment.host or scenario.target
    if url is None:
        url = state.services.enter_context(launch_reference_service(workers=1))
        state.started_by_harness = True
        environment.host = url
    check_target_allowed(url)
    if not url.startswith("http://"):
        raise UsageError(f"target {url!r}: only plain http:// targets are supported")
    timeout_s = 30.0 if state.started_by_harness else PROBE_TIMEOUT_S
    state.info = probe_target_of(
        scenario, url, timeout_s=timeout_s, started_by_harness=state.started_by_harness
    )
    return RunSpec(
        scenario=scenario,
        target_url=url.rstrip("/"),
        run_start_wall_ns=time.time_ns() + round(START_LEAD_S * 1e9),
        models=fetch_models(url, scenario.request_table),
    )


def _collect(state: _PluginState) -> RunResult:
    spec, info = state.spec, state.info
    assert spec is not None
    assert info is not None
    ref = scenario_ref(state.path, spec.scenario)
    if state.engine is not None:
        engine = state.engine
        if not engine.finished.is_set():
            engine.abort()
            engine.wait(timeout_s=spec.scenario.timeout_ms / 1000.0 + 1.0)
        write_request_log(engine.request_log)
        reasons: tuple[str, ...] = ()
        if not engine.finished.is_set():
            reasons = ("the run was stopped before it finished",)
        return build_result(
            scenario=spec.scenario,
            scenario_ref=ref,
            target=info,
            recorder=engine.recorder,
            health=[engine.health()],
            extra_reasons=reasons,
            workers=0,
            responses=engine.responses,
            tails=engine.tails.samples() if engine.tails is not None else (),
        )
    master = state.master
    assert master is not None
    assert master.recorder is not None
    if master.missing():
        master.abort()
        master.wait_finals(spec.scenario.timeout_ms / 1000.0 + 5.0)
    lost = tuple(master.errors) + tuple(
        f"worker {w} did not deliver its final measurements" for w in master.missing()
    )
    return build_result(
        scenario=spec.scenario,
        scenario_ref=ref,
        target=info,
        recorder=master.recorder,
        health=list(master.health.values()),
        extra_reasons=lost,
        workers=len(master.expected),
        responses=master.responses,
        tails=master.tails(),
    )


def _report(state: _PluginState, environment: Any) -> None:
    result = state.result
    assert result is not None
    verdict = _verdict(state, result)
    print(render_summary(result, verdict), flush=True)
    opts = environment.parsed_options
    if opts is not None and opts.slo_hlog:
        write_hlog(
            Path(opts.slo_hlog), result.intervals, start_wall_s=result.started_at.timestamp()
        )
    if opts is not None and opts.slo_summary_json:
        text = json.dumps(summary_json(result, verdict), indent=2)
        atomic_write_bytes(Path(opts.slo_summary_json), text.encode())
    if not result.generator.valid or (verdict is not None and verdict[0] == "invalid"):
        state.exit_code = ExitCode.UNMEASURABLE
    elif verdict is not None and verdict[0] == "fail":
        state.exit_code = ExitCode.BREACHED


def _verdict(state: _PluginState, result: RunResult) -> tuple[str, tuple[str, ...]] | None:
    """(status, reasons) of the scenario's SLO, when it names one."""
    if state.slo is None:
        return None
    from harness.slo import evaluate

    verdict = evaluate(result, state.slo)
    return verdict.status.value, verdict.reasons
