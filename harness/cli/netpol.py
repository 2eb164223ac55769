"""``slo-harness netpol``: PCI segmentation (NetworkPolicy matrix, checks, lints, diffs, probes)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from harness.cli._app import P, R, cli, guarded
from harness.errors import ExitCode

# -- netpol (PCI segmentation) -------------------------------------------------------------
_FORMATS = click.Choice(["text", "json", "md"])


def _netpol_options(func: Callable[P, R]) -> Callable[P, R]:
    """--pods, --namespace, --out shared by the netpol commands."""
    func = click.option(
        "--out", type=click.Path(path_type=Path), help="Write the PCI evidence bundle here."
    )(func)
    func = click.option(
        "-n",
        "--namespace",
        default="default",
        show_default=True,
        help="Namespace of objects without metadata.namespace (like kubectl apply -n).",
    )(func)
    return click.option(
        "--pods",
        type=click.Path(path_type=Path),
        help="Probe-only pods and external addresses (YAML).",
    )(func)


def _netpol_finish(outcome: object) -> NoReturn:
    from harness.netpol_job import NetpolOutcome

    assert isinstance(outcome, NetpolOutcome)
    click.echo(outcome.output, nl=False)
    if outcome.evidence_dir is not None:
        # on stderr, so `--format json --out DIR` still prints pure JSON on stdout
        click.echo(
            f"evidence: {outcome.evidence_dir}  manifest sha256: {outcome.manifest_sha256}",
            err=True,
        )
    if outcome.not_verified:
        sys.exit(int(ExitCode.UNMEASURABLE))
    sys.exit(int(ExitCode.BREACHED if outcome.violated else ExitCode.OK))


def _live_options(func: Callable[P, R]) -> Callable[P, R]:
    """--live and its probe settings (netpol matrix/check)."""
    options = [
        click.option(
            "--live",
            is_flag=True,
            help="Linux, root: build a namespace lab, enforce with nftables, probe every flow.",
        ),
        click.option("--tries", default=3, show_default=True, type=click.IntRange(1, 10)),
        click.option(
            "--timeout-s", default=0.5, show_default=True, type=click.FloatRange(0.05, 30)
        ),
        click.option(
            "--parallel",
            default=16,
            show_default=True,
            type=click.IntRange(1, 128),
            help="Flows probed at once.",
        ),
        click.option(
            "--deny",
            type=click.Choice(["drop", "reject"]),
            default="drop",
            show_default=True,
            help="What the lab does with a denied packet (drop: like most CNIs).",
        ),
        click.option(
            "--service",
            default="auto",
            show_default=True,
            help="Pod (namespace/name) running the real reference service; 'none' for none.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _netpol_live(
    inputs: object, check: bool, fmt: str, out: Path | None, live: dict[str, Any]
) -> object:
    from harness import netpol_job as job
    from harness import netpol_live_job as lj
    from harness.netpol import DenyAction, LiveOptions

    assert isinstance(inputs, job.NetpolInputs)
    options = LiveOptions(
        tries=live["tries"],
        timeout_s=live["timeout_s"],
        parallel=live["parallel"],
        deny=DenyAction(live["deny"]),
        service=None if live["service"] == "none" else live["service"],
    )
    return lj.live_job(
        inputs,
        check_expectations=check,
        options=options,
        fmt=job.OutputFormat(fmt),
        out=out,
    )


@cli.group()
def netpol() -> None:
    """PCI segmentation: NetworkPolicy matrix, checks, lints, change diff, cluster probes."""


@netpol.command("matrix")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_netpol_options
@click.option("--expect", type=click.Path(path_type=Path), help="Expectations (for --out).")
@click.option("--format", "fmt", type=_FORMATS, default="text", show_default=True)
@_live_options
@guarded
def netpol_matrix(
    paths: tuple[Path, ...],
    pods: Path | None,
    namespace: str,
    out: Path | None,
    expect: Path | None,
    fmt: str,
    **live: Any,
) -> None:
    """Print who can connect to whom on which port ('.' allowed, 'X' blocked).

    --live (Linux, root) probes the policies on real nftables enforcement instead: exit 1 when
    an observed flow differs from the prediction, 3 when enforcement could not be verified.
    """
    from harness import netpol_job as job

    inputs = job.NetpolInputs(paths, pods, namespace, expect)
    if live["live"]:
        _netpol_finish(_netpol_live(inputs, False, fmt, out, live))
    _netpol_finish(job.matrix_job(inputs, job.OutputFormat(fmt), out))


@netpol.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--expect", required=True, type=click.Path(path_type=Path), help="Expectations.")
@_netpol_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@_live_options
@guarded
def netpol_check(
    paths: tuple[Path, ...],
    expect: Path,
    pods: Path | None,
    namespace: str,
    out: Path | None,
    fmt: str,
    **live: Any,
) -> None:
    """Compare the matrix with the approved flows (exit 1 listing each violating flow).

    --live (Linux, root) compares what real enforcement lets through instead (and with the
    prediction); exit 3 when enforcement could not be verified.
    """
    from harness import netpol_job as job

    inputs = job.NetpolInputs(paths, pods, namespace, expect)
    if live["live"]:
        _netpol_finish(_netpol_live(inputs, True, fmt, out, live))
    _netpol_finish(job.check_job(inputs, job.OutputFormat(fmt), out))


@netpol.command("lint")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--expect", type=click.Path(path_type=Path), help="Zones from this file.")
@_netpol_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@guarded
def netpol_lint(
    paths: tuple[Path, ...],
    expect: Path | None,
    pods: Path | None,
    namespace: str,
    out: Path | None,
    fmt: str,
) -> None:
    """Policy mistakes with PCI DSS requirement ids and fixes (exit 1 on an error finding)."""
    from harness import netpol_job as job

    inputs = job.NetpolInputs(paths, pods, namespace, expect)
    _netpol_finish(job.lint_job(inputs, job.OutputFormat(fmt), out))


@netpol.command("diff")
@click.argument("old", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--expect", type=click.Path(path_type=Path), help="Expectations (the gate).")
@click.option(
    "--with",
    "common",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Manifests loaded on both sides (repeatable), e.g. the workloads.",
)
@_netpol_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@guarded
def netpol_diff(
    old: Path,
    new: Path,
    expect: Path | None,
    common: tuple[Path, ...],
    pods: Path | None,
    namespace: str,
    out: Path | None,
    fmt: str,
) -> None:
    """Flows a change opens and closes (exit 1 if it opens one into/out of a zone unapproved)."""
    from harness import netpol_job as job

    before = job.NetpolInputs((*common, old), pods, namespace, None)
    after = job.NetpolInputs((*common, new), pods, namespace, expect)
    _netpol_finish(job.diff_job(before, after, job.OutputFormat(fmt), out))


@netpol.command("probe")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--kubeconfig", type=click.Path(path_type=Path), help="Cluster to probe.")
@click.option("--kubectl", default="kubectl", show_default=True, help="kubectl binary.")
@click.option("--expect", type=click.Path(path_type=Path), help="Expectations.")
@click.option("--tries", default=3, show_default=True, type=click.IntRange(1, 10))
@click.option("--timeout-s", default=1.0, show_default=True, type=click.FloatRange(0.1, 30))
@_netpol_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@guarded
def netpol_probe(
    paths: tuple[Path, ...],
    kubeconfig: Path | None,
    kubectl: str,
    expect: Path | None,
    tries: int,
    timeout_s: float,
    pods: Path | None,
    namespace: str,
    out: Path | None,
    fmt: str,
) -> None:
    """Probe a real cluster with kubectl exec (exit 1 if observed != predicted, 3 unverified)."""
    from harness import netpol_job as job

    inputs = job.NetpolInputs(paths, pods, namespace, expect)
    outcome = job.probe_job(
        inputs,
        kubeconfig=kubeconfig,
        kubectl=kubectl,
        tries=tries,
        timeout_s=timeout_s,
        fmt=job.OutputFormat(fmt),
        out=out,
    )
    _netpol_finish(outcome)
