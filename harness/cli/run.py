"""``slo-harness run`` and ``worker``: drive a scenario (optionally across the PCI boundary lab).

``harness.load`` (Locust, gevent monkey-patching) is imported lazily, only by these commands.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from harness.cli._app import P, R, cli, guarded, regression_options
from harness.errors import ExitCode, UsageError


# -- run / worker --------------------------------------------------------------------------
class _WorkersType(click.ParamType[int]):
    """0-64, or ``auto`` (one generator process per core: ``harness.load.auto_workers``)."""

    name = "0-64|auto"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text == "auto":
            from harness.load import auto_workers  # cheap: no Locust import

            return min(auto_workers(), 64)
        if text.isdigit() and 0 <= int(text) <= 64:
            return int(text)
        self.fail(f"expected a number from 0 to 64 or 'auto', got {value!r}", param, ctx)


_WORKERS = _WorkersType()


def _boundary_options(func: Callable[P, R]) -> Callable[P, R]:
    """run --netpol PATH... and its settings (the PCI boundary under load)."""
    options = [
        click.option(
            "--netpol",
            "netpol_paths",
            multiple=True,
            type=click.Path(path_type=Path),
            help="Root: manifests; the load crosses their policies in a namespace lab.",
        ),
        click.option("--expect", type=click.Path(path_type=Path), help="PCI expectations."),
        click.option("--pods", type=click.Path(path_type=Path), help="Probe-only pods (YAML)."),
        click.option(
            "--netpol-namespace",
            default="default",
            show_default=True,
            help="Namespace of manifests without metadata.namespace.",
        ),
        click.option("--gateway", default="auto", show_default=True, help="Generator's pod."),
        click.option("--scorer", default="auto", show_default=True, help="Service's pod."),
        click.option(
            "--boundary-interval-s",
            default=2.0,
            show_default=True,
            type=click.FloatRange(0.2, 600),
            help="Seconds between probe rounds during the load.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _run_maybe_bounded(request: Any, boundary: dict[str, Any]) -> Any:
    """pipeline.run, or (with --netpol) the run across the PCI boundary lab."""
    from harness import pipeline

    if not boundary["netpol_paths"]:
        if boundary["expect"] or boundary["pods"]:
            raise UsageError("--expect and --pods need --netpol PATH")
        return pipeline.run(request)
    from harness.boundary_job import BoundaryRequest, run_with_boundary
    from harness.netpol_job import NetpolInputs

    inputs = NetpolInputs(
        tuple(boundary["netpol_paths"]),
        boundary["pods"],
        boundary["netpol_namespace"],
        boundary["expect"],
    )
    spec = BoundaryRequest(
        inputs,
        gateway=boundary["gateway"],
        scorer=boundary["scorer"],
        interval_s=boundary["boundary_interval_s"],
    )
    return run_with_boundary(request, spec, reports_root=Path("reports"))


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--target", help="Base URL of the service (default: start the reference service).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="Override main rate.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Main phase, s.")
@click.option(
    "--workers",
    default="0",
    type=_WORKERS,
    help="Local Locust workers (0-64), or 'auto': one per core of this machine.",
)
@click.option(
    "--remote-workers",
    default=0,
    type=click.IntRange(0, 64),
    help="Workers to wait for from other machines (`slo-harness worker`; command printed).",
)
@click.option(
    "--master-bind",
    default="127.0.0.1",
    show_default=True,
    help="Master address (IPv4, localhost, *).",
)
@click.option(
    "--master-port",
    type=click.IntRange(0, 65535),
    help="Master port [default: 5557 with --remote-workers, else a free port; 0: a free port].",
)
@click.option(
    "--expose-master",
    is_flag=True,
    help="Allow a non-loopback --master-bind (the port is unauthenticated; targets stay local).",
)
@click.option(
    "--worker-wait-s",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="How long to wait for every worker to join, s.",
)
@click.option("--out", type=click.Path(path_type=Path), help="Output directory.")
@click.option("--slo", type=click.Path(path_type=Path), help="SLO file (overrides scenario's).")
@click.option("--baseline", type=click.Path(path_type=Path), help="Baseline report directory.")
@regression_options
@click.option("--no-progress", is_flag=True, help="Plain log lines instead of a live view.")
@click.option(
    "--allow-target",
    "allow_targets",
    multiple=True,
    metavar="HOST|CIDR",
    help="Also allow load to this host name, address or network (repeatable). Default: "
    "loopback and 198.18.0.0/15 only.",
)
@click.option(
    "--lab",
    is_flag=True,
    help="Root: generator and embedded service in their own network namespaces (198.18.0.0/15).",
)
@_boundary_options
@guarded
def run(
    scenario: Path,
    target: str | None,
    rate: float | None,
    duration: float | None,
    workers: int,
    remote_workers: int,
    master_bind: str,
    master_port: int | None,
    expose_master: bool,
    worker_wait_s: float,
    out: Path | None,
    slo: Path | None,
    baseline: Path | None,
    tolerance: float,
    min_effect_ms: float,
    no_progress: bool,
    allow_targets: tuple[str, ...],
    lab: bool,
    **boundary: Any,
) -> None:
    """Drive SCENARIO, judge it against its SLO and write the report family.

    With --netpol (Linux, root) the load runs from the gateway's namespace into the real
    service in the scorer's, across the policies compiled into nftables, while probes from every
    other namespace confirm denial; the report adds a PCI section and a boundary violation
    exits 1 (an unverified boundary 3).
    """
    from harness import pipeline
    from harness.slo import VerdictStatus

    request = pipeline.RunRequest(
        scenario=scenario,
        target=target,
        rate=rate,
        duration_s=duration,
        workers=workers,
        remote_workers=remote_workers,
        master_bind=master_bind,
        master_port=master_port,
        expose_master=expose_master,
        worker_wait_s=worker_wait_s,
        out=out,
        slo=slo,
        baseline=baseline,
        tolerance=tolerance,
        min_effect_ms=min_effect_ms,
        progress=not no_progress,
        lab=lab,
        allow_targets=allow_targets,
    )
    outcome = _run_maybe_bounded(request, boundary)
    status = outcome.verdict.status
    click.echo(f"verdict: {status.value.upper()}")
    for reason in outcome.verdict.reasons:
        click.echo(f"  - {reason}")
    if outcome.comparison is not None:
        flagged = [m for m in outcome.comparison.metrics if m.regressed]
        click.echo(f"baseline: {'REGRESSED' if flagged else 'no regression'}")
        for metric in flagged:
            click.echo(f"  - {metric.reason}")
    for name, path in outcome.paths.items():
        click.echo(f"{name:>12}: {path}")
    if outcome.latest is not None:
        click.echo(f"{'latest':>12}: {outcome.latest} -> {outcome.out_dir}")
    # Quote this hash in the sign-off: it pins the manifest, which pins every artifact.
    click.echo(f"manifest sha256: {outcome.paths.manifest_sha256}")
    boundary_violated = boundary_unverified = False
    if outcome.pci is not None:
        from harness.netpol import BoundaryStatus

        b = outcome.pci.boundary
        click.echo(f"PCI boundary: {b.status.value.upper()} ({len(b.rounds)} rounds under load)")
        for reason in b.reasons[:10]:
            click.echo(f"  - {reason}")
        boundary_violated = b.status is BoundaryStatus.FAIL
        boundary_unverified = b.status is BoundaryStatus.NOT_VERIFIED
    if boundary_violated:  # a PCI finding is never hidden behind "not measurable"
        sys.exit(int(ExitCode.BREACHED))
    if status is VerdictStatus.INVALID:
        sys.exit(int(ExitCode.UNMEASURABLE))
    regressed = outcome.comparison is not None and outcome.comparison.regressed
    if status is VerdictStatus.FAIL or regressed:
        sys.exit(int(ExitCode.BREACHED))
    sys.exit(int(ExitCode.UNMEASURABLE if boundary_unverified else ExitCode.OK))


@cli.command()
@click.option("--master", "master_host", required=True, help="Master host to join.")
@click.option("--master-port", default=5557, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--join-timeout-s",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Give up (exit 3) if the master does not answer within this time.",
)
@guarded
def worker(master_host: str, master_port: int, join_timeout_s: float) -> None:
    """Join a distributed run as a Locust worker."""
    from harness.load import run_worker

    run_worker(master_host, master_port, join_timeout_s=join_timeout_s)
