"""``slo-harness pci``: PCI DSS card-data checks."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.cli._app import cli, guarded
from harness.errors import ExitCode, UsageError


# -- pci -----------------------------------------------------------------------------------
@cli.group()
def pci() -> None:
    """PCI DSS card-data checks."""


@pci.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@guarded
def pci_scan(paths: tuple[Path, ...]) -> None:
    """Find full card numbers in files (exit 1 with file and offset, the number masked)."""
    from harness.pci_scan import scan_paths

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"{missing[0]}: no such file or directory")
    findings, files = scan_paths(paths)
    for finding in findings:
        click.echo(str(finding))
    click.echo(f"pci scan: {files} file(s), {len(findings)} full PAN(s)")
    sys.exit(int(ExitCode.BREACHED if findings else ExitCode.OK))
