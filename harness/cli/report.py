"""``slo-harness compare`` and ``report``: regressions between runs; verify and sign reports."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli._app import cli, guarded, regression_options
from harness.errors import ExitCode, IntegrityError, UsageError


# -- compare / report ----------------------------------------------------------------------
@cli.command("compare")
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@regression_options
@guarded
def compare_cmd(base: Path, new: Path, tolerance: float, min_effect_ms: float) -> None:
    """Compare run NEW against baseline BASE (exit 1 on a significant regression)."""
    from harness import pipeline
    from harness.report import render_comparison_text

    outcome = pipeline.compare_runs(base, new, tolerance=tolerance, min_effect_ms=min_effect_ms)
    click.echo(render_comparison_text(outcome.comparison))
    sys.exit(int(ExitCode.BREACHED if outcome.comparison.regressed else ExitCode.OK))


@cli.group()
def report() -> None:
    """Report tools."""


@report.command("verify")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--expect-sha256",
    metavar="HEX",
    help="The manifest digest the run printed; the manifest must still have it.",
)
@click.option(
    "--public-key",
    type=click.Path(path_type=Path),
    help="Ed25519 public key (PEM): MANIFEST.sig must verify under it.",
)
@guarded
def report_verify(directory: Path, expect_sha256: str | None, public_key: Path | None) -> None:
    """Check every artifact of a run against its manifest (exit 1 if anything was edited)."""
    from harness.report import verify_report_dir

    result = verify_report_dir(directory, expect_sha256=expect_sha256, public_key=public_key)
    for problem in result.problems:
        click.echo(f"{problem}")
    click.echo("intact" if result.ok else "TAMPERED OR INCOMPLETE")
    sys.exit(int(ExitCode.OK if result.ok else ExitCode.BREACHED))


@report.command("rebuild")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--slo", "slo_path", type=click.Path(path_type=Path), help="SLO file to judge by.")
@guarded
def report_rebuild(directory: Path, slo_path: Path | None) -> None:
    """Make the report of an interrupted run from the interval log it left in DIRECTORY
    (marked incomplete; its verdict is INVALID, exit 3)."""
    from harness import pipeline

    outcome = pipeline.rebuild_report(directory, slo_path=slo_path)
    click.echo(f"verdict: {outcome.verdict.status.value} (incomplete run, rebuilt from its log)")
    for reason in outcome.verdict.reasons:
        click.echo(f"  - {reason}")
    click.echo(f"report: {outcome.paths.report_html}")
    sys.exit(int(ExitCode.UNMEASURABLE))  # a rebuilt run is never judged: its generator is unknown


@report.command("sign")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--key", "key", required=True, type=click.Path(path_type=Path), help="Ed25519 private key."
)
@guarded
def report_sign(directory: Path, key: Path) -> None:
    """Sign a run's MANIFEST.json (writes MANIFEST.sig) after checking the run is intact."""
    from harness.report import sign_manifest, verify_report_dir

    result = verify_report_dir(directory)
    if not result.ok:
        for problem in result.problems:
            click.echo(f"{problem}")
        raise IntegrityError(f"{directory}: not intact; refusing to sign")
    click.echo(str(sign_manifest(directory, key)))


@report.command("keygen")
@click.argument("prefix", type=click.Path(path_type=Path))
@guarded
def report_keygen(prefix: Path) -> None:
    """Make an Ed25519 key pair: PREFIX.key (private, 0600) and PREFIX.pub."""
    from harness.report import generate_keypair

    for path in generate_keypair(prefix):
        click.echo(str(path))


@report.command("index")
@click.argument("reports_root", type=click.Path(path_type=Path))
@guarded
def report_index(reports_root: Path) -> None:
    """Build an index page (verdicts, p99 trend) over the runs under REPORTS_ROOT."""
    from harness.report import build_index

    if not reports_root.is_dir():
        raise UsageError(f"{reports_root}: not a directory")
    click.echo(str(build_index(reports_root)))
