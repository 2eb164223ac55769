"""``slo-harness audit``: verify, repair, replay and show the audit trail."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from harness.cli._app import P, R, cli, fail, guarded
from harness.errors import ExitCode, UsageError


# -- audit ---------------------------------------------------------------------------------
@cli.group()
def audit() -> None:
    """Audit-trail tools."""


@audit.command("verify")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--key-file", type=click.Path(path_type=Path), help="Audit HMAC key file.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.option(
    "--expect-head",
    "expect_heads",
    multiple=True,
    metavar="STREAM:SEQ:MAC",
    help="A head recorded elsewhere (repeatable): it must be in the verified chain.",
)
@click.option(
    "--expect-heads-from",
    type=click.Path(path_type=Path),
    help="Take the expected heads from a run's report.json (audit.heads).",
)
@guarded
def audit_verify(
    directory: Path,
    key_file: Path | None,
    as_json: bool,
    expect_heads: tuple[str, ...],
    expect_heads_from: Path | None,
) -> None:
    """Check the whole hash chain of an audit directory (exit 0 intact, 1 broken)."""
    from harness.audit import (
        load_audit_key,
        parse_head,
        render_text,
        report_json,
        verify_directory,
    )

    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    heads = [parse_head(h) for h in expect_heads]
    if expect_heads_from is not None:
        from harness.report import read_audit_heads

        heads += [parse_head(h) for h in read_audit_heads(expect_heads_from)]
    report = verify_directory(directory, load_audit_key(path=key_file), tuple(heads))
    click.echo(report_json(report).decode() if as_json else render_text(report))
    sys.exit(int(ExitCode.OK if report.ok else ExitCode.BREACHED))


@audit.command("repair")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--key-file", type=click.Path(path_type=Path), help="Audit HMAC key file.")
@guarded
def audit_repair(directory: Path, key_file: Path | None) -> None:
    """Quarantine torn tails and append a chained repair record (docs/AUDIT_FORMAT.md).

    Exit 0 when the trail verifies afterwards, 1 when problems other than torn tails remain.
    """
    from harness.audit import load_audit_key, render_text, repair_directory, verify_directory

    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    key = load_audit_key(path=key_file)
    outcome = repair_directory(directory, key)
    for stream, qfile in outcome.repaired:
        click.echo(f"repaired stream {stream}: torn bytes moved to quarantine/{qfile}")
    for stream, why in outcome.refused:
        click.echo(f"not repaired: stream {stream}: {why}")
    if not outcome.repaired and not outcome.refused:
        click.echo("nothing to repair")
    report = verify_directory(directory, key)
    click.echo(render_text(report))
    sys.exit(int(ExitCode.OK if report.ok else ExitCode.BREACHED))


_replay_options = (
    click.option("--key-file", type=click.Path(path_type=Path), help="Audit HMAC key file."),
    click.option(
        "--model",
        "models",
        multiple=True,
        type=click.Path(path_type=Path),
        help="ONNX model file the records name by SHA-256 (repeatable; default: packaged).",
    ),
    click.option(
        "--thresholds",
        "thresholds",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Thresholds file of a version the records name (repeatable; default-1 built in).",
    ),
    click.option(
        "--tolerance",
        default=1e-6,
        show_default=True,
        type=click.FloatRange(min=0),
        help="Largest accepted |replayed - recorded| score.",
    ),
)


def _with_replay_options(func: Callable[P, R]) -> Callable[P, R]:
    for option in reversed(_replay_options):
        func = option(func)
    return func


@audit.command("replay")
@click.argument("directory", type=click.Path(path_type=Path))
@_with_replay_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.option("--expect-head", "expect_heads", multiple=True, metavar="STREAM:SEQ:MAC")
@click.option(
    "--skip-pan-scan",
    is_flag=True,
    help="Keep every chain check but skip the PAN scan (about 4x faster; audit verify scans).",
)
@click.option(
    "--jobs",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes (by stream).",
)
@guarded
def audit_replay(
    directory: Path,
    key_file: Path | None,
    models: tuple[Path, ...],
    thresholds: tuple[Path, ...],
    tolerance: float,
    as_json: bool,
    expect_heads: tuple[str, ...],
    skip_pan_scan: bool,
    jobs: int,
) -> None:
    """Verify the chain, then re-derive every decision from its record (exit 0 all reproduce).

    Exit 1 lists the decisions that do not reproduce (or a broken chain); exit 2 refuses a model
    file whose SHA-256 is not the one the records name.
    """
    from harness.audit import (
        load_audit_key,
        parse_head,
        render_replay_text,
        replay_directory,
        replay_inputs,
        replay_json,
    )

    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    key = load_audit_key(path=key_file)
    heads = [parse_head(h) for h in expect_heads]
    opened, rules = replay_inputs(models, thresholds)
    report = replay_directory(
        directory,
        key,
        opened,
        [t for t, _ in rules],
        expect_heads=heads,
        tolerance=tolerance,
        scan_pans=not skip_pan_scan,
        jobs=jobs,
    )
    click.echo(replay_json(report).decode() if as_json else render_replay_text(report))
    sys.exit(int(ExitCode.OK if report.ok else ExitCode.BREACHED))


@audit.command("show")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("transaction_id")
@_with_replay_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "html"]),
    default="text",
    show_default=True,
)
@click.option("--out", type=click.Path(path_type=Path), help="Write to this file (atomically).")
@guarded
def audit_show(
    directory: Path,
    transaction_id: str,
    key_file: Path | None,
    models: tuple[Path, ...],
    thresholds: tuple[Path, ...],
    tolerance: float,
    fmt: str,
    out: Path | None,
) -> None:
    """The dossier of one decision: record, chain position, model, thresholds, features, replay.

    Exit 0 when the chain is intact and the decision reproduces, 1 otherwise or when the verified
    chain holds no record of TRANSACTION_ID.
    """
    from harness.audit import (
        build_dossiers,
        dossier_json,
        dossier_text,
        load_audit_key,
        replay_inputs,
    )

    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    key = load_audit_key(path=key_file)
    opened, rules = replay_inputs(models, thresholds)
    audit_report, dossiers = build_dossiers(
        directory, key, transaction_id, opened, rules, tolerance
    )
    if not dossiers:
        fail(
            f"no verified record of transaction {transaction_id!r} in {directory}",
            ExitCode.BREACHED,
        )
    from harness.report import check_no_pans, render_dossier_html

    if fmt == "html":
        data = render_dossier_html(dossiers)
    elif fmt == "json":
        data = dossier_json(dossiers)
    else:
        data = "\n".join(dossier_text(d) for d in dossiers).encode("utf-8")
    check_no_pans({f"dossier.{fmt}": data.decode("utf-8")})  # never print a card number
    if out is not None:
        from harness.files import atomic_write_bytes

        atomic_write_bytes(out, data)
    else:
        click.echo(data.decode("utf-8"), nl=False)
    ok = audit_report.ok and all(d.verdict == "REPRODUCED" for d in dossiers)
    sys.exit(int(ExitCode.OK if ok else ExitCode.BREACHED))
