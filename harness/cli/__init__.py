"""``slo-harness``: the only place that parses arguments and maps outcomes to exit codes.

The root group, the exit-code table and the error handling live in :mod:`harness.cli._app`; each
other module holds one command group and registers it on import (below). ``harness.cli:main`` is
the console script, ``python -m harness.cli`` runs it too (``__main__``).
"""

from __future__ import annotations

# Importing the command modules registers their commands on `cli`.
from harness.cli import audit, cleanup, gameday, netpol, pci, report, run, serve  # noqa: F401
from harness.cli._app import ExitCode, cli, main

__all__ = ["ExitCode", "cli", "main"]
