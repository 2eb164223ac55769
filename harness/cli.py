"""``slo-harness``: the only place that parses arguments and maps outcomes to exit codes.

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
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from harness.errors import ExitCode, HarnessError, IntegrityError, UsageError

__all__ = ["ExitCode", "main"]

P = ParamSpec("P")
R = TypeVar("R")


def _fail(message: str, code: ExitCode) -> NoReturn:
    click.echo(f"slo-harness: error: {message}", err=True)
    sys.exit(int(code))


def _guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn every harness error into a one-line message and its exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except HarnessError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; everything started was stopped", ExitCode.UNMEASURABLE)
        except BrokenPipeError:  # `... | head` left early: the outcome was not fully reported (3)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(int(ExitCode.UNMEASURABLE))
        except Exception as exc:  # a bug, not bad input: still no traceback unless asked
            if os.environ.get("SLO_HARNESS_DEBUG"):
                raise
            _fail(
                f"internal error: {exc.__class__.__name__}: {exc} "
                "(set SLO_HARNESS_DEBUG=1 for a traceback)",
                ExitCode.UNMEASURABLE,
            )

    return wrapper


def _regression_options(func: Callable[P, R]) -> Callable[P, R]:
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="slo-harness", prog_name="slo-harness")
def cli() -> None:
    """Latency-SLO test and chaos harness for real-time payment scoring services."""


# -- serve ---------------------------------------------------------------------------------
@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--audit-dir", type=click.Path(path_type=Path), help="Audit trail directory.")
@click.option("--redis-url", help="Feature store in Redis instead of in-process.")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
@_guarded
def serve(
    host: str,
    port: int,
    workers: int,
    audit_dir: Path | None,
    redis_url: str | None,
    extra: Sequence[str],
) -> None:
    """Run the reference fraud-scoring service (extra flags go to the service)."""
    from harness.target import require_service

    require_service()  # `pip install .` has no service: say how to get it, exit 2
    argv = [sys.executable, "-m", "reference_service", "--host", host, "--port", str(port)]
    argv += ["--workers", str(workers)]
    if audit_dir is not None:
        argv += ["--audit-dir", str(audit_dir)]
    if redis_url:
        argv += ["--redis-url", redis_url]
    argv += list(extra)
    sys.stdout.flush()
    os.execv(sys.executable, argv)  # the service owns signals (SIGTERM drains) from here on


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
@_guarded
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
@_guarded
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
@_guarded
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
@_guarded
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
        _fail(
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


# -- run / worker --------------------------------------------------------------------------
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
@_regression_options
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
@_guarded
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
@_guarded
def worker(master_host: str, master_port: int, join_timeout_s: float) -> None:
    """Join a distributed run as a Locust worker."""
    from harness.load import run_worker

    run_worker(master_host, master_port, join_timeout_s=join_timeout_s)


# -- compare / report ----------------------------------------------------------------------
@cli.command("compare")
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@_regression_options
@_guarded
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
@_guarded
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
@_guarded
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
@_guarded
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
@_guarded
def report_keygen(prefix: Path) -> None:
    """Make an Ed25519 key pair: PREFIX.key (private, 0600) and PREFIX.pub."""
    from harness.report import generate_keypair

    for path in generate_keypair(prefix):
        click.echo(str(path))


@report.command("index")
@click.argument("reports_root", type=click.Path(path_type=Path))
@_guarded
def report_index(reports_root: Path) -> None:
    """Build an index page (verdicts, p99 trend) over the runs under REPORTS_ROOT."""
    from harness.report import build_index

    if not reports_root.is_dir():
        raise UsageError(f"{reports_root}: not a directory")
    click.echo(str(build_index(reports_root)))


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
@_guarded
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


# -- pci -----------------------------------------------------------------------------------
@cli.group()
def pci() -> None:
    """PCI DSS card-data checks."""


@pci.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_guarded
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


# -- cleanup -------------------------------------------------------------------------------
@cli.command("cleanup")
@_guarded
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
@_guarded
def chaos_cleanup(everything: bool, dry_run: bool) -> None:
    """Remove leftover faults, cgroups, helper processes and namespaces (exit 1: some remain)."""
    from harness.chaos import cleanup, render_cleanup

    outcome = cleanup(everything=everything, dry_run=dry_run)
    click.echo(render_cleanup(outcome))
    sys.exit(int(ExitCode.OK if outcome.clean else ExitCode.BREACHED))


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
@_guarded
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
@_guarded
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
@_guarded
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
@_guarded
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
@_guarded
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


def _interrupt(signum: int, _frame: object) -> None:
    # SIGTERM (a cancelled CI job) and SIGHUP (a closed terminal) take the Ctrl-C path, so every
    # `finally` runs: the embedded service is stopped, workers killed, temp keys removed.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    cli.main(args=list(argv) if argv is not None else None, prog_name="slo-harness")


if __name__ == "__main__":
    main()
