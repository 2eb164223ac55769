"""Master and worker sides of a distributed run, over Locust's own master/worker protocol.

Why Locust's protocol: ``--workers N`` locally and ``slo-harness worker --master HOST`` on other
machines then work exactly like ``locust --master``/``--worker`` (same port, same heartbeats,
same user dispatch), and the plugin mode gets distribution for free.

Messages (custom types registered with ``runner.register_message``):

- ``slo_harness_run`` master -> each worker: a :class:`~harness.load.session.RunSpec` with the
  worker's share ``part=(k, n)`` of one common schedule (every worker walks the same seeded
  arrival sequence and sends every n-th arrival, so the union is exactly the single-process
  schedule, evenly interleaved) and the common wall-clock start.
- ``slo_harness_abort`` master -> workers: stop scheduling (an early stop).
- ``slo_harness_final`` worker -> master: after the worker's schedule is done and drained, its
  last recorder snapshot and its self-observations (CPU samples, schedule lag, cap hits).
- ``slo_harness_snapshot`` worker -> master: right after each of the worker's intervals closes
  (:data:`~harness.load.logflush.GRACE_S` after its end), its recorder snapshot (the interval
  series only) and its *watermark*: every interval before it is complete on that worker. The
  master writes an interval to the log once every worker's watermark has passed it, or
  :data:`~harness.load.logflush.MERGE_BOUND_S` after its end at the latest
  (:class:`harness.measure.FlushClock`); a snapshot later than that is written as an additional
  part of the interval, never dropped nor counted twice.
- ``slo_harness_refused`` worker -> master: the worker will not run its share, and why. A worker
  re-checks what it is sent before a single request leaves (it may be on another machine, told
  by a master it cannot vouch for): the target must resolve and pass the allowlist on the
  worker itself (:func:`harness.load.session.engine_connection`: loopback, 198.18.0.0/15 or
  the run's explicit ``allow`` entries; TLS files readable there), and the common start must lie
  ahead of it by
  about the master's lead, or the two clocks disagree and the share would be sent off schedule.
  The master records the refusal as a problem (the run is invalid, exit 3) and aborts the others.
- Locust's own periodic reports (``report_to_master``, about every 3 s) carry no measurements:
  they came too late for a log that must be on disk within about 2 s of an interval's end.

Exactness: a snapshot is :meth:`Recorder.take_wire` (everything recorded since the previous take,
the recorder then starts afresh), so every sample travels exactly once; snapshots and the final
message leave a worker on one ordered connection and the master merges them in arrival order with
:meth:`Recorder.merge_wire`, which adds HDR counts bucket by bucket. The merged histograms are
therefore identical to one histogram fed with every sample.

Admission: :func:`admit_at_most` lets exactly the expected number of workers join a master. Once
users are dispatched, Locust would hand some of them to any newly joining worker, taking them
from workers in the middle of their schedules; a worker turned away gets no answer and gives up
after Locust's connect retries.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any, Final

import gevent
import msgspec
from gevent.event import Event

from harness.errors import HarnessError, MeasurementError
from harness.load.engine import Engine
from harness.load.health import ProcessHealth
from harness.load.logflush import flush_clock
from harness.load.session import (
    HealthWire,
    RunSpec,
    engine_connection,
    make_recorder,
    start_engine,
    write_request_log,
)
from harness.measure import (
    FlushClock,
    LatencyHistogram,
    Recorder,
    ResponseTally,
    TailSample,
    decode_samples,
    encode_samples,
    merge_samples,
)

__all__ = [
    "MAX_START_LEAD_S",
    "MSG_ABORT",
    "MSG_FINAL",
    "MSG_REFUSED",
    "MSG_RUN",
    "MSG_SNAPSHOT",
    "MasterCoordinator",
    "WorkerCoordinator",
    "active_workers",
    "admit_at_most",
    "refusal",
]

MSG_RUN: Final = "slo_harness_run"
MSG_ABORT: Final = "slo_harness_abort"
MSG_FINAL: Final = "slo_harness_final"
MSG_REFUSED: Final = "slo_harness_refused"
MSG_SNAPSHOT: Final = "slo_harness_snapshot"
#: How long after its drain deadline a worker may take to report before it counts as lost.
FINAL_GRACE_S: Final = 30.0
#: Masters start the schedule about 1 s after sending the shares; a start further ahead than this
#: on a worker's clock means that clock is behind the master's by seconds.
MAX_START_LEAD_S: Final = 5.0

_log = logging.getLogger(__name__)


def active_workers(runner: Any) -> list[str]:
    """Ids of the workers a master can give work to, sorted (their order fixes ``part``)."""
    nodes = runner.clients.ready + runner.clients.spawning + runner.clients.running
    return sorted(node.id for node in nodes)


def admit_at_most(master: Any, n: int) -> None:
    """Let the first ``n`` workers join ``master``; ignore every other one (see the docstring).

    Wraps the master's message handler (Locust has no hook that can refuse a worker): a
    ``client_ready`` from an unknown worker beyond the first ``n`` is dropped, so it is never
    acknowledged nor given users. An admitted worker may announce itself again.
    """
    admitted: set[str] = set()
    turned_away: set[str] = set()
    handle = master.handle_message

    def guarded(client_id: str, msg: Any) -> None:
        if msg.type == "client_ready" and client_id not in admitted:
            if len(admitted) >= n:
                if client_id not in turned_away:
                    turned_away.add(client_id)
                    _log.warning("worker %s turned away: the run expects %d workers", client_id, n)
                return
            admitted.add(client_id)
        handle(client_id, msg)

    master.handle_message = guarded


def refusal(spec: RunSpec, now_wall_ns: int) -> str | None:
    """Why a worker must not run ``spec`` (None: it may); see ``slo_harness_refused`` above."""
    try:
        engine_connection(spec)
    except HarnessError as exc:
        return f"target not allowed here: {exc}"
    lead_s = (spec.run_start_wall_ns - now_wall_ns) / 1e9
    if lead_s <= 0:
        return (
            f"the run's start was {-lead_s:.3f} s in the past on this worker's clock when its "
            "share arrived: its clock is ahead of the master's (synchronize the clocks, e.g. NTP)"
        )
    if lead_s > MAX_START_LEAD_S:
        return (
            f"the run's start was {lead_s:.1f} s ahead on this worker's clock (at most "
            f"{MAX_START_LEAD_S:g} s expected): its clock is behind the master's "
            "(synchronize the clocks, e.g. NTP)"
        )
    return None


class MasterCoordinator:
    """Hands each worker its share, merges what they report, collects their final reports."""

    def __init__(self, environment: Any, runner: Any) -> None:
        self._runner = runner
        self.recorder: Recorder | None = None
        #: When the master's intervals are complete (fed by the workers' watermarks).
        self.flush_clock: FlushClock | None = None
        self.spec: RunSpec | None = None
        self.expected: tuple[str, ...] = ()
        self.health: dict[str, ProcessHealth] = {}
        self.errors: list[str] = []
        #: Status codes and failure samples of every worker (from their final reports).
        self.responses = ResponseTally()
        self._tails: dict[str, tuple[TailSample, ...]] = {}
        self._all_final = Event()
        runner.register_message(MSG_SNAPSHOT, self._on_snapshot)
        runner.register_message(MSG_FINAL, self._on_final)
        runner.register_message(MSG_REFUSED, self._on_refused)

    def launch(self, spec: RunSpec) -> int:
        """Send every connected worker its share of ``spec``; return the number of workers."""
        workers = active_workers(self._runner)
        if not workers:
            raise MeasurementError("no Locust worker is connected to the master")
        self.spec = spec
        self.recorder = make_recorder(spec)
        self.flush_clock = flush_clock(self.recorder, distributed=True)
        self.flush_clock.expect(workers)
        self.expected = tuple(workers)
        self.health.clear()
        self.responses = ResponseTally()
        self._tails.clear()
        self._all_final.clear()
        n = len(workers)
        for k, client_id in enumerate(workers):
            share = RunSpec(
                scenario=spec.scenario,
                target_url=spec.target_url,
                run_start_wall_ns=spec.run_start_wall_ns,
                part=(k, n),
                models=spec.models,
                locust_stats=spec.locust_stats,
            )
            self._runner.send_message(MSG_RUN, share.to_message(), client_id=client_id)
        return n

    def abort(self) -> None:
        """Ask every worker to stop scheduling now."""
        self._runner.send_message(MSG_ABORT, None)

    def wait_finals(self, timeout_s: float) -> bool:
        """Block until every worker's final report is in; False on timeout."""
        return bool(self._all_final.wait(timeout=max(timeout_s, 0.0)))

    def missing(self) -> list[str]:
        """Workers whose final report has not arrived."""
        return [w for w in self.expected if w not in self.health]

    def lost(self) -> list[str]:
        """Workers that left (quit, or missed Locust's heartbeats) before their final report."""
        connected = set(active_workers(self._runner))
        return [w for w in self.missing() if w not in connected]

    def _merge(self, client_id: str, wire: bytes) -> None:
        if self.recorder is None:
            return
        try:
            self.recorder.merge_wire(wire)
        except MeasurementError as exc:
            self.errors.append(f"worker {client_id}: {exc}")

    def _on_snapshot(self, environment: Any, msg: Any, **_: Any) -> None:
        del environment
        client_id = str(msg.node_id)
        data = msg.data
        if client_id not in self.expected or not isinstance(data, dict):
            return
        wire, mark = data.get("wire"), data.get("closed_before")
        if isinstance(wire, bytes):
            self._merge(client_id, wire)
        if isinstance(mark, int) and self.flush_clock is not None:
            self.flush_clock.report(client_id, mark)

    def _on_final(self, environment: Any, msg: Any, **_: Any) -> None:
        del environment
        client_id = str(msg.node_id)
        if client_id not in self.expected:
            return
        data = msg.data
        self._merge(client_id, data["wire"])
        responses = data.get("responses")
        if isinstance(responses, bytes):
            try:
                self.responses.merge(ResponseTally.from_wire(responses))
            except msgspec.DecodeError as exc:
                self.errors.append(f"worker {client_id}: unreadable status counts ({exc})")
        tails = data.get("tails")
        if isinstance(tails, bytes):  # an older worker sends none: its share explains nothing
            try:
                self._tails[client_id] = decode_samples(tails)
            except msgspec.ValidationError as exc:
                self.errors.append(f"worker {client_id}: bad tail sample: {exc}")
        health = HealthWire.from_message(data["health"]).health()
        self._done(client_id, health)
        if self.flush_clock is not None:
            self.flush_clock.finish(client_id)

    def _on_refused(self, environment: Any, msg: Any, **_: Any) -> None:
        del environment
        client_id = str(msg.node_id)
        if client_id not in self.expected or client_id in self.health:
            return
        name = f"worker {self.expected.index(client_id)}"
        said = msg.data.get("reason") if isinstance(msg.data, dict) else None
        reason = f"{name} ({client_id}) refused its share: {said or 'no reason given'}"
        _log.error("%s", reason)
        # Its arrivals will never be sent: the run is incomplete whatever the others do.
        self._done(client_id, ProcessHealth(name, (), LatencyHistogram(), 0, 0, 0, (reason,)))
        if self.flush_clock is not None:
            self.flush_clock.finish(client_id)
        self.abort()

    def tails(self) -> tuple[TailSample, ...]:
        """Every worker's kept requests, merged (see :func:`harness.measure.merge_samples`)."""
        return merge_samples(self._tails[w] for w in self.expected if w in self._tails)

    def _done(self, client_id: str, health: ProcessHealth) -> None:
        index = self.expected.index(client_id)
        self.health[client_id] = replace(health, name=f"worker {index}")
        if not self.missing():
            self._all_final.set()


class WorkerCoordinator:
    """Runs the shares the master sends; reports snapshots and a final report."""

    def __init__(self, environment: Any, runner: Any) -> None:
        self._environment = environment
        self._runner = runner
        self.engine: Engine | None = None
        self.runs_finished = 0
        runner.register_message(MSG_RUN, self._on_run)
        runner.register_message(MSG_ABORT, self._on_abort)

    def _on_run(self, environment: Any, msg: Any, **_: Any) -> None:
        if self.engine is not None and not self.engine.finished.is_set():
            self.engine.abort()
        try:
            spec = RunSpec.from_message(msg.data)
        except msgspec.ValidationError as exc:
            self._refuse(f"its share is unreadable ({exc}): is the master's slo-harness the same?")
            return
        if (reason := refusal(spec, time.time_ns())) is not None:
            self._refuse(reason)
            return
        engine = start_engine(environment, spec, name=f"worker {spec.part[0]}")
        self.engine = engine
        shipper = gevent.spawn(self._ship, engine)
        gevent.spawn(self._finish, engine, shipper)

    def _refuse(self, reason: str) -> None:
        _log.error("slo-harness worker: %s", reason)
        self._runner.send_message(MSG_REFUSED, {"reason": reason})

    def _on_abort(self, environment: Any, msg: Any, **_: Any) -> None:
        del environment, msg
        if self.engine is not None:
            self.engine.abort()

    def _ship(self, engine: Engine) -> None:
        """Right after each interval closes: the closed intervals' series since the last snapshot
        (each interval in one piece, so the master merges it once; phase totals travel once, in
        the final message) and the watermark (see the module docstring). Ends with the engine;
        bounded by the run's length."""
        recorder = engine.recorder
        clock = flush_clock(recorder, distributed=False)
        bound = int((engine.finish_deadline_ns - time.monotonic_ns()) / recorder.interval_ns) + 2
        zero_ns = recorder.monotonic_ns_at(0.0)  # the run's t = 0 on this process's clock
        for _ in range(max(bound, 1) + round(FINAL_GRACE_S)):
            wait_s = clock.due_in_ns(time.monotonic_ns() - zero_ns) / 1e9
            if engine.finished.wait(timeout=wait_s):
                return
            mark = clock.closed_before(time.monotonic_ns() - zero_ns)
            wire = recorder.take_wire(totals=False, before_index=mark)  # the closed intervals
            payload = {"wire": wire, "closed_before": mark}
            self._runner.send_message(MSG_SNAPSHOT, payload)

    def _finish(self, engine: Engine, shipper: gevent.Greenlet) -> None:
        bound = (engine.finish_deadline_ns - time.monotonic_ns()) / 1e9 + FINAL_GRACE_S
        engine.wait(timeout_s=max(bound, 1.0))
        engine.abort()  # after a timeout: stop whatever is left before the final snapshot
        shipper.join(timeout=5.0)  # a snapshot being sent goes first: one ordered connection
        shipper.kill(block=False)
        payload = {
            "wire": engine.recorder.take_wire(),
            "health": HealthWire.of(engine.health()).to_message(),
            "responses": engine.responses.to_wire(),
            "tails": encode_samples(engine.tails.samples() if engine.tails is not None else ()),
        }
        self._runner.send_message(MSG_FINAL, payload)
        write_request_log(engine.request_log)
        self.runs_finished += 1
        _log.debug("final report sent (%d requests)", engine.sent)
