"""``slo-harness cleanup`` and ``chaos cleanup``: remove what dead runs left behind."""

from __future__ import annotations

import sys

import click

from harness.cli._app import cli, guarded
from harness.errors import ExitCode


# -- cleanup -------------------------------------------------------------------------------
@cli.command("cleanup")
@guarded
def cleanup_cmd() -> None:
    """Remove what SIGKILLed runs left: scratch directories with per-run keys and audit trails.

    `run` does this at start too; only directories whose harness process is gone are touched.
    """
    from harness.scratch import sweep_scratch

    items = sweep_scratch()
    for item in items:
        click.echo(
            f"{item.status.value}: {item.entry.key}{': ' + item.detail if item.detail else ''}"
        )
    click.echo(f"cleanup: {len(items)} leftover(s) handled")
    failed = [i for i in items if i.status.value == "failed"]
    sys.exit(int(ExitCode.BREACHED if failed else ExitCode.OK))


# -- chaos ---------------------------------------------------------------------------------
@cli.group()
def chaos() -> None:
    """Fault tools: the kill switch for faults a dead harness left behind."""


@chaos.command("cleanup")
@click.option(
    "--all", "everything", is_flag=True, help="Also remove live runs' faults and namespaces."
)
@click.option("--dry-run", is_flag=True, help="List what would be removed; change nothing.")
@guarded
def chaos_cleanup(everything: bool, dry_run: bool) -> None:
    """Remove leftover faults, cgroups, helper processes and namespaces (exit 1: some remain)."""
    from harness.chaos import cleanup, render_cleanup

    outcome = cleanup(everything=everything, dry_run=dry_run)
    click.echo(render_cleanup(outcome))
    sys.exit(int(ExitCode.OK if outcome.clean else ExitCode.BREACHED))
