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
- In between, every periodic Locust report (``report_to_master``, about every 3 s) carries the
  worker's recorder snapshot under the key ``slo_harness_hdr`` (``stats``/``errors`` are
  Locust's).

Exactness: a snapshot is :meth:`Recorder.take_wire` (everything recorded since the previous take,
the recorder then starts afresh), so every sample travels exactly once; snapshots and the final
message leave a worker on one ordered connection and the master merges them in arrival order with
:meth:`Recorder.merge_wire`, which adds HDR counts bucket by bucket. The merged histograms are
therefore identical to one histogram fed with every sample.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any, Final

import gevent
from gevent.event import Event

from harness.errors import MeasurementError
from harness.load.engine import Engine
from harness.load.health import ProcessHealth
from harness.load.session import HealthWire, RunSpec, make_recorder, start_engine, write_request_log
from harness.measure.recorder import Recorder

__all__ = [
    "MSG_ABORT",
    "MSG_FINAL",
    "MSG_RUN",
    "REPORT_KEY",
    "MasterCoordinator",
    "WorkerCoordinator",
]

MSG_RUN: Final = "slo_harness_run"
MSG_ABORT: Final = "slo_harness_abort"
MSG_FINAL: Final = "slo_harness_final"
REPORT_KEY: Final = "slo_harness_hdr"
#: How long after its drain deadline a worker may take to report before it counts as lost.
FINAL_GRACE_S: Final = 30.0

_log = logging.getLogger(__name__)


def active_workers(runner: Any) -> list[str]:
    """Ids of the workers a master can give work to, sorted (their order fixes ``part``)."""
    nodes = runner.clients.ready + runner.clients.spawning + runner.clients.running
    return sorted(node.id for node in nodes)


class MasterCoordinator:
    """Hands each worker its share, merges what they report, collects their final reports."""

    def __init__(self, environment: Any, runner: Any) -> None:
        self._runner = runner
        self.recorder: Recorder | None = None
        self.spec: RunSpec | None = None
        self.expected: tuple[str, ...] = ()
        self.health: dict[str, ProcessHealth] = {}
        self.errors: list[str] = []
        self._all_final = Event()
        environment.events.worker_report.add_listener(self._on_report)
        runner.register_message(MSG_FINAL, self._on_final)

    def launch(self, spec: RunSpec) -> int:
        """Send every connected worker its share of ``spec``; return the number of workers."""
        workers = active_workers(self._runner)
        if not workers:
            raise MeasurementError("no Locust worker is connected to the master")
        self.spec = spec
        self.recorder = make_recorder(spec)
        self.expected = tuple(workers)
        self.health.clear()
        self._all_final.clear()
        n = len(workers)
        for k, client_id in enumerate(workers):
            share = RunSpec(
                scenario=spec.scenario,
                target_url=spec.target_url,
                run_start_wall_ns=spec.run_start_wall_ns,
                part=(k, n),
                infer=spec.infer,
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

    def _merge(self, client_id: str, wire: bytes) -> None:
        if self.recorder is None:
            return
        try:
            self.recorder.merge_wire(wire)
        except MeasurementError as exc:
            self.errors.append(f"worker {client_id}: {exc}")

    def _on_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        wire = data.get(REPORT_KEY)
        if isinstance(wire, bytes) and client_id in self.expected:
            self._merge(client_id, wire)

    def _on_final(self, environment: Any, msg: Any, **_: Any) -> None:
        del environment
        client_id = str(msg.node_id)
        if client_id not in self.expected:
            return
        data = msg.data
        self._merge(client_id, data["wire"])
        health = HealthWire.from_message(data["health"]).health()
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
        environment.events.report_to_master.add_listener(self._on_report)

    def _on_run(self, environment: Any, msg: Any, **_: Any) -> None:
        spec = RunSpec.from_message(msg.data)
        if self.engine is not None and not self.engine.finished.is_set():
            self.engine.abort()
        engine = start_engine(environment, spec, name=f"worker {spec.part[0]}")
        self.engine = engine
        gevent.spawn(self._finish, engine)

    def _on_abort(self, environment: Any, msg: Any, **_: Any) -> None:
        del environment, msg
        if self.engine is not None:
            self.engine.abort()

    def _on_report(self, client_id: str, data: dict[str, Any], **_: Any) -> None:
        del client_id
        if self.engine is not None:
            data[REPORT_KEY] = self.engine.recorder.take_wire()

    def _finish(self, engine: Engine) -> None:
        bound = (engine.finish_deadline_ns - time.monotonic_ns()) / 1e9 + FINAL_GRACE_S
        engine.wait(timeout_s=max(bound, 1.0))
        engine.abort()  # after a timeout: stop whatever is left before the final snapshot
        payload = {
            "wire": engine.recorder.take_wire(),
            "health": HealthWire.of(engine.health()).to_message(),
        }
        self._runner.send_message(MSG_FINAL, payload)
        write_request_log(engine.request_log)
        self.runs_finished += 1
        _log.debug("final report sent (%d requests)", engine.sent)
