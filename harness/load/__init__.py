"""Load generation: open-model, coordinated-omission-correct, on top of Locust.

Everything that imports Locust or gevent lives in this package, and even here only behind the
two entry points: ``import harness.load`` is cheap and does not monkey-patch the process; calling
:func:`run_scenario` or :func:`run_worker` does (Locust patches the whole process with gevent on
import), so the CLI imports this package only inside ``run`` and ``worker``.

Map:
- ``runner``: :func:`run_scenario` (target, local or master + local workers, progress, result);
- ``engine``: the scheduler greenlet and the pool of connection slots (the design is there);
  ``station``: where scheduler and slots meet (``Job``, ``Station``); ``completion``: what a
  finished request does (judge, tally, Recorder, tail sampler, Locust's event);
- ``user``: the Locust user that is one slot; ``http``: the lean HTTP/1.1 client, ``wire`` its
  request bytes, ``tlsio`` its TLS (memory BIOs);
- ``schedule``: intended send times from the scenario's rate (pure; exported here);
- ``pacing``: precise wake-ups; ``workload``: request bytes from the scenario's mix and payload;
- ``observe``: feeds a live :class:`RunObserver` (game days) from a local run;
- ``session``: one process's share of a run; ``distributed``: master/worker messages and the
  exact merge; ``health``: the generator's self-watch; ``progress``: the terminal view;
- ``plugin`` and ``summary``: the hooks behind ``locust -f scenarios/<name>.py`` (its entry point
  is ``harness.entrypoints``); ``worker``: a worker's side of a run (its process entry point is
  ``python -m harness.entrypoints.worker``, also ``slo-harness worker``); ``procs``: the local
  worker processes of ``--workers N``; ``options``: :class:`RunOptions`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.load.options import DEFAULT_WORKER_WAIT_S, RunOptions, auto_workers
from harness.load.schedule import EndpointPicker, arrivals, intended_times

if TYPE_CHECKING:
    from pathlib import Path

    from harness.measure import RunObserver, RunResult
    from harness.spec import Scenario, SloSpec

__all__ = [
    "DEFAULT_WORKER_WAIT_S",
    "EndpointPicker",
    "RunOptions",
    "arrivals",
    "auto_workers",
    "install_plugin",
    "intended_times",
    "run_scenario",
    "run_worker",
]


def run_scenario(
    scenario: Scenario, options: RunOptions, observer: RunObserver | None = None
) -> RunResult:
    """Run ``scenario`` and return its measurements (see :mod:`harness.load.runner`).

    ``observer`` (local runs only) is called once per completed interval from its own thread and
    may stop the run (:mod:`harness.load.observe`)."""
    from harness.load.runner import run_scenario as _run

    return _run(scenario, options, observer)


def run_worker(
    master_host: str,
    master_port: int,
    *,
    parent_pid: int | None = None,
    join_timeout_s: float | None = None,
) -> None:
    """Serve as a Locust worker of a master at ``master_host:master_port`` until it quits."""
    from harness.load.worker import run_worker as _run

    _run(master_host, master_port, parent_pid=parent_pid, join_timeout_s=join_timeout_s)


def install_plugin(
    path: Path, scenario: Scenario, slo: SloSpec | None
) -> tuple[type[Any], type[Any]]:
    """Register the Locust plugin hooks for ``scenario``; (user class, shape class) for Locust."""
    from harness.load.plugin import install_plugin as _install

    return _install(path, scenario, slo)
