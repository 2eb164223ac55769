"""The root ``slo-harness`` group, the exit-code table and the error handling every command shares.

The package ``harness.cli`` is the only place that parses arguments and maps outcomes to exit
codes; its other modules (one per command group) wrap commands in :func:`guarded`.

Exit codes (one table, used by every subcommand; each ``HarnessError`` branch carries its code,
see ``harness/errors.py``):

====  =====================================================================================
0     every objective met / artifact or audit trail intact
1     an objective breached, a regression found, or a verification failed
2     usage or configuration error (the message names the file, field path and expectation)
3     the run could not be measured honestly (generator saturated, target unreachable,
      too few samples) or a launched service did not start
====  =====================================================================================

Commands import their machinery lazily: ``harness.load`` pulls in Locust, which monkey-patches
the process with gevent, so only ``run`` and ``worker`` import it.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, ParamSpec, TypeVar

import click

from harness.errors import ExitCode, HarnessError

__all__ = ["ExitCode", "P", "R", "cli", "fail", "guarded", "main", "regression_options"]

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: ExitCode) -> NoReturn:
    click.echo(f"slo-harness: error: {message}", err=True)
    sys.exit(int(code))


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn every harness error into a one-line message and its exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except HarnessError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted; everything started was stopped", ExitCode.UNMEASURABLE)
        except BrokenPipeError:  # `... | head` left early: the outcome was not fully reported (3)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(int(ExitCode.UNMEASURABLE))
        except Exception as exc:  # a bug, not bad input: still no traceback unless asked
            if os.environ.get("SLO_HARNESS_DEBUG"):
                raise
            fail(
                f"internal error: {exc.__class__.__name__}: {exc} "
                "(set SLO_HARNESS_DEBUG=1 for a traceback)",
                ExitCode.UNMEASURABLE,
            )

    return wrapper


def regression_options(func: Callable[P, R]) -> Callable[P, R]:
    """--tolerance and --min-effect-ms, shared by `run --baseline` and `compare`."""
    func = click.option(
        "--min-effect-ms",
        default=5.0,
        show_default=True,
        type=click.FloatRange(0),
        help="Absolute change (ms) a regression must exceed too.",
    )(func)
    return click.option(
        "--tolerance",
        default=0.10,
        show_default=True,
        type=click.FloatRange(0, 10),
        help="Relative change a regression must exceed.",
    )(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="slo-harness", prog_name="slo-harness")
def cli() -> None:
    """Latency-SLO test and chaos harness for real-time payment scoring services."""


def _interrupt(signum: int, _frame: object) -> None:
    # SIGTERM (a cancelled CI job) and SIGHUP (a closed terminal) take the Ctrl-C path, so every
    # `finally` runs: the embedded service is stopped, workers killed, temp keys removed.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    cli.main(args=list(argv) if argv is not None else None, prog_name="slo-harness")
