"""``slo-harness gameday``: a game day (load throughout, faults on a timeline) and its exit code."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli._app import cli, guarded
from harness.errors import ExitCode


# -- gameday ---------------------------------------------------------------------------------
@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--target", help="Base URL of the service (default: start the reference service).")
@click.option("--out", type=click.Path(path_type=Path), help="Output directory.")
@click.option(
    "--time-scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="Multiply every duration of the game day (0.1: ten minutes become one).",
)
@click.option("--dry-run", is_flag=True, help="Validate and print the timeline; touch nothing.")
@click.option(
    "--export",
    "export",
    nargs=2,
    type=(click.Choice(["chaos-mesh"]), click.Path(path_type=Path)),
    help="Also write the equivalent manifests: --export chaos-mesh DIR.",
)
@click.option("--no-progress", is_flag=True, help="Plain log lines instead of a live dashboard.")
@guarded
def gameday(
    file: Path,
    target: str | None,
    out: Path | None,
    time_scale: float,
    dry_run: bool,
    export: tuple[str, Path] | None,
    no_progress: bool,
) -> None:
    """Run the game day in FILE: load throughout, faults on a timeline, abort conditions, journal.

    Exit 0: the hypothesis held everywhere; 1: it deviated, an abort condition stopped the game
    day or the embedded service's audit trail is not intact; 2: bad file; 3: a fault could not
    be injected or rolled back, or the run was unmeasurable.
    """
    from harness.gameday_job import GameDayRequest, run_gameday

    outcome = run_gameday(
        GameDayRequest(
            file=file,
            target=target,
            out=out,
            time_scale=time_scale,
            dry_run=dry_run,
            export_chaos_mesh=export[1] if export else None,
            progress=not no_progress,
        )
    )
    for path in outcome.exported:
        click.echo(f"{'exported':>12}: {path}")
    if outcome.journal is None:  # dry run
        click.echo(outcome.timeline_text)
        sys.exit(int(ExitCode.OK))
    for item in outcome.swept:
        click.echo(f"swept orphan {item.kind} {item.key}: {item.status.value}", err=True)
    journal = outcome.journal
    click.echo(
        f"game day: {journal.status.value.upper()}" + (" (deviated)" if journal.deviated else "")
    )
    if journal.reason:
        click.echo(f"  - {journal.reason}")
    for step in journal.steps:
        held = {True: "held", False: "NOT HELD", None: "no data"}[step.held]
        degraded = "not reported" if step.degraded_decisions is None else step.degraded_decisions
        click.echo(
            f"  step {step.name}: {step.status.value}, expectations {held}, "
            f"degraded decisions {degraded}"
        )
    if journal.audit is not None:
        trail = (
            "intact" if journal.audit.intact else "NOT INTACT: " + "; ".join(journal.audit.problems)
        )
        click.echo(f"  audit trail: {trail} ({journal.audit.records} records)")
    failed = [r for r in journal.rollbacks if r.status.value != "succeeded"]
    for r in failed:
        click.echo(f"  ROLLBACK {r.status.value.upper()}: {r.activity}: {r.output}")
    if outcome.paths is not None:
        for name, path in outcome.paths.items():
            click.echo(f"{name:>12}: {path}")
        click.echo(f"{'journal':>12}: {outcome.paths.out_dir / 'journal.json'}")
        click.echo(f"manifest sha256: {outcome.paths.manifest_sha256}")
    sys.exit(int(_gameday_exit(outcome)))


def _gameday_exit(outcome: object) -> ExitCode:
    from harness.chaos import Outcome
    from harness.gameday_job import GameDayOutcome

    assert isinstance(outcome, GameDayOutcome)
    assert outcome.journal is not None
    journal = outcome.journal
    if journal.status is Outcome.FAILED or any(
        r.status.value != "succeeded" for r in journal.rollbacks
    ):
        return ExitCode.UNMEASURABLE
    if not outcome.generator_valid:  # as in `run`: an unmeasured deviation is not evidence
        return ExitCode.UNMEASURABLE
    if journal.status is Outcome.ABORTED or journal.deviated:
        return ExitCode.BREACHED
    if journal.audit is not None and not journal.audit.intact:  # as in `run`: objective failed
        return ExitCode.BREACHED
    return ExitCode.OK
