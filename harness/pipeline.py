"""The ``run`` and ``compare`` jobs as plain functions: scenario file -> load -> verdict -> reports.

This is the data flow in one place (see docs/ARCHITECTURE.md): the spec is parsed at the edge,
``harness.load`` measures (the only step that imports Locust, imported lazily here so that
``compare``/``report`` never pay for gevent's monkey-patching), ``harness.slo`` judges and
``harness.report`` writes. Exit codes are not decided here but in ``harness.cli``.
"""

from __future__ import annotations

import contextlib
import os
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from harness.audit import check_audit_trail
from harness.errors import (
    ArtifactError,
    InsufficientData,
    IntegrityError,
    SpecError,
    UsageError,
)
from harness.load import DEFAULT_WORKER_WAIT_S
from harness.measure import RunResult, scan_series
from harness.placement import Placement, lab_placement
from harness.rebuild_job import PARTIAL_LOG_FILE, rebuild_report, salvage
from harness.report import (
    LoadedReport,
    ReportInputs,
    ReportPaths,
    ReportSeries,
    collect_provenance,
    read_report,
    report_series,
    verify_report_dir,
    write_reports,
)
from harness.scratch import scratch_dir, sweep_scratch
from harness.slo import (
    Comparison,
    RegressionRule,
    SloSeries,
    Verdict,
    VerdictStatus,
    compare,
    evaluate,
)
from harness.spec import (
    Scenario,
    SloSpec,
    default_slo,
    load_scenario,
    load_slo,
    validate_slo_against,
)
from harness.target import (
    Allowlist,
    ServiceKeys,
    launch_reference_service,
    open_target,
    require_service,
)

if TYPE_CHECKING:
    from harness.load import RunOptions
    from harness.netpol import PciRunSection


class BoundaryHook(Protocol):
    """What a run under a PCI boundary adds (``harness.boundary_job``): probes while the load
    runs (entered once the service is ready, left before it stops) and the report's PCI section."""

    def during_load(self) -> AbstractContextManager[object]:
        """Probe the boundary for the duration of the block."""
        ...

    def section(self) -> PciRunSection:
        """The PCI section of the report (boundary verdict + evidence), after the load."""
        ...


__all__ = [
    "PARTIAL_LOG_FILE",
    "CompareOutcome",
    "RunOutcome",
    "RunRequest",
    "compare_runs",
    "default_out_dir",
    "rebuild_report",
    "run",
]


@dataclass(frozen=True, slots=True)
class RunRequest:
    """Everything ``slo-harness run`` was asked for, already parsed."""

    scenario: Path
    target: str | None = None
    rate: float | None = None
    duration_s: float | None = None
    workers: int = 0
    remote_workers: int = 0
    master_bind: str = "127.0.0.1"
    master_port: int | None = None  # None: 5557 with remote workers, else a free port
    expose_master: bool = False
    worker_wait_s: float = DEFAULT_WORKER_WAIT_S
    out: Path | None = None
    slo: Path | None = None
    baseline: Path | None = None
    tolerance: float = 0.10
    min_effect_ms: float = 5.0
    progress: bool = True
    lab: bool = False  # build a two-host lab: generator and embedded service in namespaces
    placement: Placement | None = None  # or namespaces a caller built (PCI lab)
    boundary: BoundaryHook | None = None  # probes during the load + the report's PCI section
    allow_targets: tuple[str, ...] = ()  # --allow-target HOST|CIDR, beyond loopback + lab range


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What a finished run produced."""

    verdict: Verdict
    comparison: Comparison | None
    paths: ReportPaths
    out_dir: Path
    latest: Path | None = None  # reports/latest, when it now points at out_dir
    pci: PciRunSection | None = None  # with a boundary hook: its verdict and evidence


@dataclass(frozen=True, slots=True)
class CompareOutcome:
    """What ``compare`` produced."""

    comparison: Comparison
    base: LoadedReport
    new: LoadedReport


def default_out_dir(reports_root: Path, scenario_name: str, now: datetime | None = None) -> Path:
    """``reports/runs/<UTC stamp>-<scenario>``: sortable, unique per second."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return reports_root / "runs" / f"{stamp}-{scenario_name}"


def run(request: RunRequest, *, reports_root: Path = Path("reports")) -> RunOutcome:
    """Measure a scenario, judge it against its SLO (and baseline), write the report family."""
    scenario = load_scenario(request.scenario).with_overrides(
        rate=request.rate,
        duration_s=request.duration_s,
        target=request.target,
        file=str(request.scenario),
    )
    slo_path = request.slo or scenario.slo_path
    slo = load_slo(slo_path) if slo_path else default_slo()
    # A misspelled phase or endpoint in the SLO is a config error now, not an INSUFFICIENT
    # objective after a whole run.
    validate_slo_against(slo, scenario, file=str(slo_path or "<default SLO>"))
    # Everything that can be wrong with the request is checked before a minute of load is spent.
    baseline = _read_baseline(request.baseline, scenario) if request.baseline else None
    if request.out is not None and request.out.exists() and not request.out.is_dir():
        raise UsageError(f"{request.out}: --out exists and is not a directory")
    target = request.target or scenario.target
    if target is not None:
        # Before a single packet leaves; the message says where the target came from.
        where = "--target" if request.target else f"{request.scenario}: $.target"
        _check_target(target, where, scenario, request)
    else:
        if scenario.tls is not None:
            raise SpecError(
                str(request.scenario),
                "$.tls",
                "an https:// target (without one the harness starts the reference service, "
                "which speaks plain http); give target: or --target, or remove tls:",
            )
        require_service()  # the embedded service needs `slo-harness[service]`
    _check_placement(request, target)

    out_dir = request.out or default_out_dir(reports_root, scenario.name)
    partial_log = out_dir / PARTIAL_LOG_FILE
    started = time.monotonic()
    try:
        result = _measure(scenario, request, target, partial_log)
    except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM/SIGHUP through harness.cli
        why = f"interrupted by {exc.args[0] if exc.args else 'SIGINT'} after " + (
            f"{time.monotonic() - started:.1f} s of a {scenario.duration_s:g} s run"
        )
        raise salvage(out_dir, slo_path, why) from None
    verdict, series = _judge(result, slo)
    with series:
        comparison = (
            _checked(
                compare(
                    baseline.result,
                    result,
                    tolerance=request.tolerance,
                    min_effect_ms=request.min_effect_ms,
                ),
                request.baseline,
            )
            if baseline
            else None
        )
        provenance = collect_provenance(
            scenario_path=request.scenario,
            slo_path=slo_path,
            target=result.target,
            started_at=result.started_at,
            ended_at=result.ended_at,
            cwd=Path.cwd(),
        )
        pci = request.boundary.section() if request.boundary is not None else None
        paths = write_reports(
            out_dir, ReportInputs(result, verdict, provenance, comparison, pci=pci), series=series
        )
    partial_log.unlink(missing_ok=True)  # latency.hlog now holds the series
    latest = _point_latest(reports_root, out_dir) if request.out is None else None
    return RunOutcome(verdict, comparison, paths, out_dir, latest, pci)


def _judge(result: RunResult, slo: SloSpec) -> tuple[Verdict, ReportSeries]:
    """The verdict and the reports' view of the series from ONE pass over it (a day-long log is
    read and decoded once: burn-rate counts, knee windows, CSV rows, plotted series)."""
    slo_series = SloSeries(result.phases, slo)
    series = report_series(result.intervals)
    scan_series(result.intervals, [slo_series, series])
    return evaluate(result, slo, series=slo_series), series


def _check_target(target: str, where: str, scenario: Scenario, request: RunRequest) -> None:
    """Resolve and check the target and build its TLS context, sending nothing: a refused
    address or an unusable certificate file is exit 2 before any service or worker starts."""
    file = str(request.scenario)
    try:
        allow = Allowlist.build(request.allow_targets, scenario.allow, file)
        open_target(target, tls=scenario.tls, allow=allow, file=file)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None


def _measure(
    scenario: Scenario, request: RunRequest, target: str | None, interval_log: Path | None = None
) -> RunResult:
    """Run the load; without a target, against a reference service started (and audited) here.

    ``interval_log``: stream the interval series there during the run (kept if the run dies:
    ``slo-harness report rebuild`` reads it)."""
    from harness import load  # Locust/gevent only from here on

    options = load.RunOptions(
        target=target,
        rate=request.rate,
        duration_s=request.duration_s,
        workers=request.workers,
        progress=request.progress,
        master_bind=request.master_bind,
        master_port=request.master_port,
        remote_workers=request.remote_workers,
        worker_wait_s=request.worker_wait_s,
        expose_master=request.expose_master,
        scenario_path=request.scenario,
        allow_targets=request.allow_targets,
        interval_log=interval_log,
    )
    options.check()  # a bad master address is a usage error before any service starts
    with contextlib.ExitStack() as stack:
        placement = request.placement
        if request.lab:
            placement = stack.enter_context(lab_placement())
        if placement is not None:
            stack.enter_context(placement.generator.entered())  # load + probe from there
        result = _load_against(scenario, options, target, placement, request.boundary)
    if placement is None:
        return result
    return replace(result, target=replace(result.target, placement=placement.record()))


def _load_against(
    scenario: Scenario,
    options: RunOptions,
    target: str | None,
    placement: Placement | None,
    boundary: BoundaryHook | None = None,
) -> RunResult:
    """Load ``target``; without one, a reference service launched here (or in the placement)."""
    from harness import load

    def measured(opts: RunOptions) -> RunResult:
        with boundary.during_load() if boundary is not None else contextlib.nullcontext():
            return load.run_scenario(scenario, opts)

    if target is not None:
        return measured(options)
    sweep_scratch()  # key files and trails a SIGKILLed earlier run left behind
    with scratch_dir() as tmp:
        keys = ServiceKeys.create(tmp)
        with launch_reference_service(
            audit_dir=keys.audit_dir,
            extra_args=keys.service_args(),
            bind=None if placement is None else placement.service_bind,
            command_prefix=() if placement is None else placement.service_prefix(),
        ) as url:
            result = measured(replace(options, target=url))
        # The service has drained and flushed: every decision it made is on disk now.
        audit = check_audit_trail(keys.audit_dir, keys.audit_key, result)
    return replace(result, target=replace(result.target, started_by_harness=True), audit=audit)


def _check_placement(request: RunRequest, target: str | None) -> None:
    """--lab places the embedded service; a remote or exposed master cannot reach into a lab."""
    if not (request.lab or request.placement):
        return
    if request.lab and request.placement is not None:
        raise UsageError("--lab builds its own placement; pass one or the other")
    if request.lab and target is not None:
        raise UsageError("--lab starts the reference service inside the lab; drop --target")
    if request.placement is not None and request.placement.service is not None and target:
        raise UsageError("a placement that launches the service cannot also name a --target")
    if request.remote_workers or request.expose_master:
        raise UsageError("--lab: remote workers cannot reach a master inside a lab namespace")


def compare_runs(
    base_dir: Path, new_dir: Path, *, tolerance: float = 0.10, min_effect_ms: float = 5.0
) -> CompareOutcome:
    """Compare two finished runs' report directories (both must verify against their manifest)."""
    base = _read_verified(base_dir, "baseline")
    new = _read_verified(new_dir, "new run")
    comparison = _checked(
        compare(base.result, new.result, tolerance=tolerance, min_effect_ms=min_effect_ms),
        base_dir,
    )
    return CompareOutcome(comparison, base, new)


def _read_verified(directory: Path, role: str) -> LoadedReport:
    """A report directory that is intact and was measured honestly, or an error saying why not."""
    integrity = verify_report_dir(directory)
    if not integrity.ok:
        problems = "; ".join(str(p) for p in integrity.problems)
        raise IntegrityError(f"{directory}: the {role}'s artifacts do not verify: {problems}")
    loaded = read_report(directory)
    if loaded.verdict.status is VerdictStatus.INVALID:
        raise ArtifactError(
            f"{directory}: the {role} was INVALID (not measured honestly) and cannot be compared"
        )
    return loaded


def _read_baseline(directory: Path, scenario: Scenario) -> LoadedReport:
    baseline = _read_verified(directory, "baseline")
    ours = {p.name for p in scenario.phases if p.in_verdict}
    theirs = {p.name for p in baseline.result.verdict_phases}
    if not ours & theirs:
        raise ArtifactError(
            f"{directory}: the baseline's verdict phases ({', '.join(sorted(theirs)) or 'none'}) "
            f"share no name with this scenario's ({', '.join(sorted(ours))})"
        )
    return baseline


def _checked(comparison: Comparison, base_dir: Path | None) -> Comparison:
    # A baseline that shares nothing with the run, or only too-small samples, would make the
    # gate pass silently: neither is evidence of "no regression".
    if not comparison.metrics:
        notes = " ".join(comparison.notes)
        raise ArtifactError(f"{base_dir}: baseline has nothing comparable with this run. {notes}")
    if all(m.rule is RegressionRule.INSUFFICIENT for m in comparison.metrics):
        raise InsufficientData(
            f"{base_dir}: every comparison with the baseline had too few samples to judge"
        )
    return comparison


def _point_latest(reports_root: Path, out_dir: Path) -> Path | None:
    # Swap the symlink atomically so a reader never sees reports/latest missing.
    latest = reports_root / "latest"
    tmp = reports_root / f".latest.{os.getpid()}"
    target = os.path.relpath(out_dir, reports_root)
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target, target_is_directory=True)
    if latest.exists() and not latest.is_symlink():
        # A real directory from an older layout: leave it, the run dir is still printed.
        tmp.unlink()
        return None
    tmp.replace(latest)
    return latest
