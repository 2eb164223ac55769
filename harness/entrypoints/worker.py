"""A Locust worker process of a distributed run: ``python -m harness.entrypoints.worker``.

Started by ``harness.load`` for ``--workers N`` (with ``--parent-pid``, so a worker whose master
process died exits within a second instead of waiting for Locust's 60 s heartbeat timeout); on
another machine ``slo-harness worker --master HOST`` does the same through the CLI. The work
itself is :func:`harness.load.run_worker`; this module is only the process edge: arguments, and a
:class:`HarnessError` or Ctrl-C turned into one line on stderr and the exit code the error carries
(``harness.errors.ExitCode``: 2 usage/config, 3 not measurable), never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from harness.errors import ExitCode, HarnessError
from harness.load import run_worker

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Command-line entry (used by the local runner)."""
    parser = argparse.ArgumentParser(prog="python -m harness.entrypoints.worker")
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
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        sys.stderr.write("slo-harness worker: interrupted\n")
        raise SystemExit(ExitCode.UNMEASURABLE) from None


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text}")
    return value


if __name__ == "__main__":
    main()
