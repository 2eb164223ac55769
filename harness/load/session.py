"""One generator process's part of a run: what it is told (:class:`RunSpec`), how it starts its
engine, what it reports back (:class:`HealthWire`), and how a finished run becomes a RunResult.

Shared by the local runner, Locust workers, the master and the Locust plugin, so all four run
exactly the same engine. A ``RunSpec`` travels from the master to each worker inside Locust's own
msgpack messages (``msgspec.to_builtins``), so a worker on another machine needs nothing but the
master's address: scenario, target, its share of the schedule and the common wall-clock start.

Test hook: with ``SLO_HARNESS_REQUEST_LOG=DIR`` in the environment, every generator process also
keeps a per-request log (phase, endpoint, outcome, intended/sent/done ns) and writes it to
``DIR/requests-<pid>.json`` at the end, so a test can check the merged histograms against raw
samples. It costs memory per request; never set it for real runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgspec

from harness.files import atomic_write_bytes
from harness.load.engine import Engine
from harness.load.health import ProcessCpuSampler, ProcessHealth, assess
from harness.load.station import RequestLog
from harness.load.user import station_of
from harness.load.workload import ScenarioWorkload
from harness.measure import (
    IntervalLogWriter,
    LatencyHistogram,
    Recorder,
    ResponseTally,
    RunResult,
    ScenarioRef,
    TailSample,
    TargetInfo,
    log_meta,
)
from harness.spec import Scenario
from harness.target import Allowlist, TargetConnection, V2Model, open_target

__all__ = [
    "REQUEST_LOG_ENV",
    "HealthWire",
    "RunSpec",
    "attach_interval_log",
    "build_result",
    "engine_connection",
    "make_recorder",
    "start_engine",
    "write_request_log",
]

REQUEST_LOG_ENV: Final = "SLO_HARNESS_REQUEST_LOG"
#: "0" turns off the tail's per-request work (traceparent, sampling): the A/B switch of
#: ``benchmarks/bench_generator.py``'s overhead measurement, not a user option.
TAIL_ENV: Final = "SLO_HARNESS_EXPLAIN_TAIL"


class RunSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one generator process needs to run its share of a scenario."""

    scenario: Scenario
    target_url: str
    run_start_wall_ns: int  # time.time_ns() at which the schedule's t = 0 falls, in every process
    part: tuple[int, int] = (0, 1)  # (k, n): this process sends arrivals k, k+n, k+2n, ...
    models: tuple[V2Model, ...] = ()  # V2 metadata of the models v2_infer requests name
    allow: Allowlist = Allowlist()  # explicit allowances (--allow-target, the scenario's allow:)
    #: Fire Locust's ``events.request`` per response: only under Locust's own command line,
    #: where its stats table and web UI are what the user reads (harness.load.completion).
    locust_stats: bool = True

    def to_message(self) -> dict[str, Any]:
        """Plain builtins for Locust's msgpack messages."""
        data = msgspec.to_builtins(self)
        assert isinstance(data, dict)
        return data

    @classmethod
    def from_message(cls, data: object) -> RunSpec:
        """Inverse of :meth:`to_message`."""
        return msgspec.convert(data, cls, strict=False)


class HealthWire(msgspec.Struct, frozen=True, array_like=True):
    """:class:`ProcessHealth` over the wire (the lag histogram in HDR's encoding)."""

    name: str
    cpu_samples: list[float]
    lag: str
    lag_oor: int
    cap: int
    peak: int
    cap_hits: int
    problems: list[str]

    @classmethod
    def of(cls, h: ProcessHealth) -> HealthWire:
        """Encode."""
        lag = h.schedule_lag.encode() if h.schedule_lag.count else ""
        return cls(
            h.name,
            list(h.cpu_samples),
            lag,
            h.schedule_lag.out_of_range,
            h.concurrency_cap,
            h.concurrency_peak,
            h.cap_hits,
            list(h.problems),
        )

    def health(self) -> ProcessHealth:
        """Decode."""
        lag = (
            LatencyHistogram.decode(self.lag, self.lag_oor)
            if self.lag
            else LatencyHistogram(out_of_range=self.lag_oor)
        )
        return ProcessHealth(
            self.name,
            tuple(self.cpu_samples),
            lag,
            self.cap,
            self.peak,
            self.cap_hits,
            tuple(self.problems),
        )

    def to_message(self) -> list[Any]:
        """Plain builtins for Locust's msgpack messages."""
        data = msgspec.to_builtins(self)
        assert isinstance(data, list)
        return data

    @classmethod
    def from_message(cls, data: object) -> HealthWire:
        """Inverse of :meth:`to_message`."""
        return msgspec.convert(data, cls, strict=False)


def make_recorder(spec: RunSpec) -> Recorder:
    """A recorder on the run's common time base."""
    return Recorder(
        run_start_wall_ns=spec.run_start_wall_ns,
        interval_s=spec.scenario.interval_s,
        lateness_ns=round(spec.scenario.lateness_ms * 1e6),
    )


def engine_connection(spec: RunSpec) -> TargetConnection:
    """This process's own resolution and check of the spec's target (see :func:`start_engine`)."""
    return open_target(spec.target_url, tls=spec.scenario.tls, allow=spec.allow)


def attach_interval_log(
    recorder: Recorder, path: Path, scenario: Scenario, ref: ScenarioRef, target: TargetInfo
) -> IntervalLogWriter:
    """Stream the recorder's interval series to ``path`` as the run goes (the run's
    ``latency.hlog``), headed by what ``slo-harness report rebuild`` needs to make a report of an
    interrupted run: scenario, phases, interval length, target."""
    meta = log_meta(ref, target, scenario.phase_metas(), scenario.interval_s)
    start_wall_s = recorder.run_start_wall_ns / 1e9
    log = IntervalLogWriter(path, start_wall_s=start_wall_s, meta=meta)
    recorder.attach_log(log)
    return log


def start_engine(environment: Any, spec: RunSpec, *, name: str) -> Engine:
    """Build this process's engine for ``spec`` on a Locust environment and start it.

    Every engine resolves and re-checks its target itself (loopback, 198.18.0.0/15 or the spec's
    explicit allowlist) and builds its own TLS context: a spec may come over the network from a
    master, and this is the last point before requests leave.
    """
    conn = engine_connection(spec)
    source = ScenarioWorkload(spec.scenario, spec.target_url, part=spec.part, models=spec.models)
    engine = Engine(
        station=station_of(environment),
        scenario=spec.scenario,
        target_url=spec.target_url,
        address=conn.address,
        tls=conn.tls,
        source=source,
        recorder=make_recorder(spec),
        fire_request=environment.events.request.fire if spec.locust_stats else None,
        part=spec.part,
        cpu_sampler=ProcessCpuSampler(),
        request_log=[] if os.environ.get(REQUEST_LOG_ENV) else None,
        name=name,
        explain_tail=os.environ.get(TAIL_ENV) != "0",
    )
    engine.start()
    return engine


def write_request_log(log: RequestLog | None) -> None:
    """Write the test hook's per-request log (see the module docstring), atomically."""
    folder = os.environ.get(REQUEST_LOG_ENV)
    if log is None or not folder:
        return
    atomic_write_bytes(Path(folder) / f"requests-{os.getpid()}.json", json.dumps(log).encode())


def build_result(
    *,
    scenario: Scenario,
    scenario_ref: ScenarioRef,
    target: TargetInfo,
    recorder: Recorder,
    health: list[ProcessHealth],
    extra_reasons: tuple[str, ...] = (),
    workers: int,
    ended_at: datetime | None = None,
    responses: ResponseTally | None = None,
    tails: tuple[TailSample, ...] = (),
) -> RunResult:
    """Assemble the run's result from the (merged) recorder and every process's health."""
    phases, intervals = recorder.build(scenario.phase_metas())
    generator = assess(health, scenario.generator)
    if extra_reasons:
        generator = replace(generator, valid=False, reasons=generator.reasons + extra_reasons)
    started = datetime.fromtimestamp(recorder.run_start_wall_ns / 1e9, UTC)
    return RunResult(
        scenario=scenario_ref,
        target=target,
        started_at=started,
        ended_at=ended_at or datetime.now(UTC),
        phases=phases,
        intervals=intervals,
        generator=generator,
        workers=workers,
        responses=responses.build() if responses is not None else (),
        secrets_used=scenario.secrets_used,
        tails=tails,
    )
