"""A Locust worker process of a distributed run: ``python -m harness.load.worker``.

Started by :func:`harness.load.runner.run_scenario` for ``--workers N`` (with ``--parent-pid``,
so a worker whose master process died exits within a second instead of waiting for Locust's 60 s
heartbeat timeout), or by ``slo-harness worker --master HOST`` on another machine. The worker
needs nothing but the master's address: the master sends the scenario, the target and the
worker's share of the schedule (:mod:`harness.load.distributed`), and the worker re-checks the
target against the loopback/198.18.0.0/15 rule itself before sending anything. It serves one
run: when the master quits, so does the worker.

This module is a process entry point of its own (like ``harness.cli``): :func:`main` turns a
:class:`HarnessError` or Ctrl-C into one line on stderr and the exit code the CLI's table gives
it (2 usage/config, 3 not measurable), never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from typing import Any, Final

import gevent
from locust.env import Environment
from locust.runners import CONNECT_RETRY_COUNT, CONNECT_TIMEOUT

from harness.errors import (
    ArtifactError,
    HarnessError,
    IntegrityError,
    MeasurementError,
    SpecError,
    UsageError,
)
from harness.load.distributed import WorkerCoordinator
from harness.load.user import SloUser

__all__ = ["main", "run_worker"]

PARENT_CHECK_S: Final = 0.5
EXIT_ORPHANED: Final = 3
# The CLI's exit-code table (harness.cli.ExitCode), for this entry point's own exits.
EXIT_BREACHED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNMEASURABLE: Final = 3


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
    os._exit(EXIT_ORPHANED)  # the master is gone: nobody will read anything this worker says


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (used by the local runner)."""
    parser = argparse.ArgumentParser(prog="python -m harness.load.worker")
    parser.add_argument("--master", required=True)
    parser.add_argument("--master-port", type=int, default=5557)
    parser.add_argument("--parent-pid", type=int)
    parser.add_argument("--join-timeout-s", type=_positive, help="Give up joining after this, s")
    args = parser.parse_args(argv)
    try:
        run_worker(
            args.master,
            args.master_port,
            parent_pid=args.parent_pid,
            join_timeout_s=args.join_timeout_s,
        )
    except HarnessError as exc:
        sys.stderr.write(f"slo-harness worker: error: {exc}\n")
        raise SystemExit(_exit_code(exc)) from None
    except KeyboardInterrupt:
        sys.stderr.write("slo-harness worker: interrupted\n")
        raise SystemExit(EXIT_UNMEASURABLE) from None


def _exit_code(exc: HarnessError) -> int:
    """The code ``harness.cli`` gives ``exc`` (its table; cli is not imported by harness.load)."""
    if isinstance(exc, SpecError | UsageError | ArtifactError):
        return EXIT_USAGE
    if isinstance(exc, IntegrityError):
        return EXIT_BREACHED
    return EXIT_UNMEASURABLE  # MeasurementError, ServiceStartError and anything else


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text}")
    return value


if __name__ == "__main__":
    main()
