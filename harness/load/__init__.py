"""Load generation: open-model, coordinated-omission-correct, on top of Locust.

Everything that imports Locust or gevent lives in this package, and even here only behind the
two entry points: ``import harness.load`` is cheap and does not monkey-patch the process; calling
:func:`run_scenario` or :func:`run_worker` does (Locust patches the whole process with gevent on
import), so the CLI imports this package only inside ``run`` and ``worker``.

Map:
- ``runner``: :func:`run_scenario` (target, local or master + local workers, progress, result);
- ``engine``: the scheduler greenlet and the pool of connection slots (the design is there);
- ``user``: the Locust user that is one slot; ``http``: the lean HTTP/1.1 client;
- ``pacing``: precise wake-ups; ``workload``: request bytes from the scenario's mix and payload;
- ``observe``: feeds a live :class:`RunObserver` (game days) from a local run;
- ``session``: one process's share of a run; ``distributed``: master/worker messages and the
  exact merge; ``health``: the generator's self-watch; ``progress``: the terminal view;
- ``plugin`` and ``summary``: ``locust -f scenarios/<name>.py`` support; ``worker``: the
  ``python -m harness.load.worker`` entry of a worker process (also ``slo-harness worker``);
  ``procs``: the local worker processes of ``--workers N``; ``options``: :class:`RunOptions`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.load.options import RunOptions

if TYPE_CHECKING:
    from harness.measure.observe import RunObserver
    from harness.measure.result import RunResult
    from harness.spec.scenario import Scenario

__all__ = ["RunOptions", "run_scenario", "run_worker"]


def run_scenario(
    scenario: Scenario, options: RunOptions, observer: RunObserver | None = None
) -> RunResult:
    """Run ``scenario`` and return its measurements (see :mod:`harness.load.runner`).

    ``observer`` (local runs only) is called once per completed interval from its own thread and
    may stop the run (:mod:`harness.load.observe`)."""
    from harness.load.runner import run_scenario as _run

    return _run(scenario, options, observer)


def run_worker(master_host: str, master_port: int, *, join_timeout_s: float | None = None) -> None:
    """Serve as a Locust worker of a master at ``master_host:master_port`` until it quits."""
    from harness.load.worker import run_worker as _run

    _run(master_host, master_port, join_timeout_s=join_timeout_s)
