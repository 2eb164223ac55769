"""A Locust worker of a distributed run: join a master and serve its run (:func:`run_worker`).

Started by :func:`harness.load.runner.run_scenario` for ``--workers N`` (with ``--parent-pid``,
so a worker whose master process died exits within a second instead of waiting for Locust's 60 s
heartbeat timeout), or by ``slo-harness worker --master HOST`` on another machine. The worker
needs nothing but the master's address: the master sends the scenario, the target and the
worker's share of the schedule (:mod:`harness.load.distributed`), and the worker re-checks the
target against the loopback/198.18.0.0/15 rule itself before sending anything. It serves one
run: when the master quits, so does the worker.

The process entry point around it (argument parsing, one line and an exit code instead of a
traceback) is ``python -m harness.entrypoints.worker``; ``slo-harness worker`` calls
:func:`run_worker` directly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any, Final

import gevent
from locust.env import Environment
from locust.runners import CONNECT_RETRY_COUNT, CONNECT_TIMEOUT

from harness.errors import ExitCode, MeasurementError
from harness.load.distributed import WorkerCoordinator
from harness.load.user import SloUser

__all__ = ["run_worker"]

PARENT_CHECK_S: Final = 0.5


def run_worker(
    master_host: str,
    master_port: int,
    *,
    parent_pid: int | None = None,
    join_timeout_s: float | None = None,
) -> None:
    """Join the master and serve until it says quit (or ``parent_pid`` dies).

    ``join_timeout_s`` bounds the wait for the master (default: Locust's own retries, about
    five minutes); MeasurementError when it is not joined in time.
    """
    # Ctrl-C through the event loop into this (the main) greenlet: Python's own handler raises
    # KeyboardInterrupt in whichever greenlet runs, often Locust's receiver, which prints a
    # traceback and leaves this one waiting.
    gevent.signal_handler(signal.SIGINT, gevent.kill, gevent.getcurrent(), KeyboardInterrupt)
    env = Environment(user_classes=[SloUser], stop_timeout=0.0)
    if parent_pid is not None:
        # Started before connecting: Locust retries a silent master for minutes.
        gevent.spawn(_watch_parent, parent_pid, env)
    try:
        with gevent.Timeout(join_timeout_s, ConnectionError):
            runner = env.create_worker_runner(master_host, master_port)
    except SystemExit:  # Locust turns a Ctrl-C while joining into sys.exit(1): it was Ctrl-C
        raise KeyboardInterrupt from None
    except ConnectionError:
        waited_s = join_timeout_s or CONNECT_TIMEOUT * (CONNECT_RETRY_COUNT + 1)
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
    os._exit(ExitCode.UNMEASURABLE)  # the master is gone: nobody will read what this worker says
