"""A Locust worker process of a distributed run: ``python -m harness.load.worker``.

Started by :func:`harness.load.runner.run_scenario` for ``--workers N`` (with ``--parent-pid``,
so a worker whose master process died exits within a second instead of waiting for Locust's 60 s
heartbeat timeout), or by ``slo-harness worker --master HOST`` on another machine. The worker
needs nothing but the master's address: the master sends the scenario, the target and the
worker's share of the schedule (:mod:`harness.load.distributed`), and the worker re-checks the
target against the loopback/198.18.0.0/15 rule itself before sending anything. It serves one
run: when the master quits, so does the worker.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any, Final

import gevent
from locust.env import Environment
from locust.runners import CONNECT_RETRY_COUNT, CONNECT_TIMEOUT

from harness.errors import MeasurementError
from harness.load.distributed import WorkerCoordinator
from harness.load.user import SloUser

__all__ = ["main", "run_worker"]

PARENT_CHECK_S: Final = 0.5
EXIT_ORPHANED: Final = 3


def run_worker(master_host: str, master_port: int, *, parent_pid: int | None = None) -> None:
    """Join the master and serve until it says quit (or ``parent_pid`` dies)."""
    env = Environment(user_classes=[SloUser], stop_timeout=0.0)
    if parent_pid is not None:
        # Started before connecting: Locust retries a silent master for minutes.
        gevent.spawn(_watch_parent, parent_pid, env)
    try:
        runner = env.create_worker_runner(master_host, master_port)
    except ConnectionError:
        waited_s = CONNECT_TIMEOUT * (CONNECT_RETRY_COUNT + 1)
        raise MeasurementError(
            f"could not join the master at {master_host}:{master_port} within {waited_s:g} s "
            "(nothing listening there, unreachable, or its run already had every worker it "
            "expected)"
        ) from None
    WorkerCoordinator(env, runner)
    sys.stderr.write(f"slo-harness worker: joined {master_host}:{master_port}; serving its run\n")
    sys.stderr.flush()
    runner.greenlet.join()


def _watch_parent(parent_pid: int, env: Any) -> None:
    for _ in range(10**9):  # ~16 years of checks; in practice ends with the run
        if os.getppid() != parent_pid:
            break
        gevent.sleep(PARENT_CHECK_S)
    if env.runner is not None:
        with contextlib.suppress(Exception):
            env.runner.quit()
    os._exit(EXIT_ORPHANED)  # the master is gone: nobody will read anything this worker says


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (used by the local runner)."""
    parser = argparse.ArgumentParser(prog="python -m harness.load.worker")
    parser.add_argument("--master", required=True)
    parser.add_argument("--master-port", type=int, default=5557)
    parser.add_argument("--parent-pid", type=int)
    args = parser.parse_args(argv)
    run_worker(args.master, args.master_port, parent_pid=args.parent_pid)


if __name__ == "__main__":
    main()
