"""The ``gameday`` job: a game-day file -> load with faults on a timeline -> journal and reports.

Order of work (docs/ARCHITECTURE.md, "Data flow of a game day"):

1. parse the file (exit 2 on any problem), lay it onto the run's clock (``--time-scale``);
   ``--export chaos-mesh DIR`` writes the equivalent manifests; ``--dry-run`` stops here;
2. check that every fault kind can be built here (and root where needed), then sweep the ledger's
   orphans (faults left by a harness that was SIGKILLed);
3. set up what the faults need *around* the run (environments registered by the fault modules:
   a proxy in the path, namespaces), start the reference service when there is no target, build
   every fault, and run the load with the :class:`GameDayController` as its live observer: faults
   go on and off at their times from the observer thread, abort conditions are judged per second;
4. whatever happened (normal end, abort condition, failed fault, exception, Ctrl-C), every fault is
   rolled back and verified gone before this function returns or raises;
5. with the embedded service: verify its audit trail once it stopped (``harness.audit``, as
   ``run`` does: chain intact, every OK score response recorded, every decision reproducible);
6. measure each step from the run's interval series (and the service's degraded-decision counter,
   read at each step's boundaries), write ``journal.json`` and the report family (fault windows
   shaded, per-step table, the audit objective) under one manifest.

Exit codes are decided in ``harness.cli`` from :class:`GameDayOutcome` (0 held everywhere,
1 deviated, aborted by a condition or the audit trail not intact, 3 a fault failed or the run
could not be measured).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import msgspec

from harness.audit import check_audit_trail
from harness.chaos import (
    FAULT_FACTORY,
    FEATURE_STORE_PROXY,
    GENERATOR_HOST,
    LAB,
    SERVICE_HOST,
    SERVICE_PORT,
    SERVICE_PROCESS,
    AuditTrailDoc,
    CleanupItem,
    FaultContext,
    FaultFactory,
    GameDayController,
    Journal,
    LineView,
    LiveView,
    Outcome,
    Plan,
    RichView,
    ScheduledFault,
    Stage,
    StepGuard,
    build_journal,
    export_chaos_mesh,
    make_plan,
    register_proxy_builders,
    render_timeline,
    samples_from_intervals,
    sweep_on_start,
)
from harness.errors import FaultError, SpecError, UsageError
from harness.files import atomic_write_bytes
from harness.ledger import Ledger
from harness.measure import AuditCheck, FaultWindow, RunResult
from harness.placement import Placement, lab_placement
from harness.report import ReportInputs, ReportPaths, collect_provenance, write_reports
from harness.scratch import scratch_dir, sweep_scratch
from harness.slo import Verdict, evaluate
from harness.spec import GameDay, LatencyObjective, load_gameday
from harness.target import (
    Allowlist,
    CounterScraper,
    ServiceKeys,
    check_target_allowed,
    reference_service_process,
    require_service,
)

__all__ = [
    "JOURNAL_FILE",
    "GameDayOutcome",
    "GameDayRequest",
    "run_gameday",
]

JOURNAL_FILE = "journal.json"
#: The lab placement, for the service launch (``resources`` key).
_PLACEMENT = "lab.placement"


@contextlib.contextmanager
def _lab_environment(ctx: FaultContext) -> Iterator[FaultContext]:
    """Network faults act between the run's lab hosts: build the two-host lab of ``run --lab``,
    run the load from the generator's namespace (this thread enters it) and launch the embedded
    service in the service's."""
    if ctx.target_url is not None:
        raise UsageError("network faults need the service started inside the lab: drop --target")
    with lab_placement() as placement, placement.generator.entered():
        yield (
            ctx.with_resource(_PLACEMENT, placement)
            .with_resource(GENERATOR_HOST, placement.generator_host)
            .with_resource(SERVICE_HOST, placement.service_host)
            .with_resource(SERVICE_PORT, placement.service_port)
        )


FAULT_FACTORY.register_environment(LAB, Stage.BEFORE_SERVICE, _lab_environment)
register_proxy_builders()  # idempotent; the import registered them already


@dataclass(frozen=True, slots=True)
class GameDayRequest:
    """Everything ``slo-harness gameday`` was asked for."""

    file: Path
    target: str | None = None
    out: Path | None = None
    time_scale: float = 1.0
    dry_run: bool = False
    export_chaos_mesh: Path | None = None
    progress: bool = True


@dataclass(frozen=True, slots=True)
class GameDayOutcome:
    """What the job produced (``journal`` None for a dry run)."""

    plan: Plan
    timeline_text: str
    journal: Journal | None = None
    verdict: Verdict | None = None
    generator_valid: bool = True
    paths: ReportPaths | None = None
    out_dir: Path | None = None
    exported: tuple[Path, ...] = ()
    swept: tuple[CleanupItem, ...] = ()


def run_gameday(
    request: GameDayRequest,
    *,
    reports_root: Path = Path("reports"),
    factory: FaultFactory = FAULT_FACTORY,
    ledger: Ledger | None = None,
    stream: TextIO | None = None,
) -> GameDayOutcome:
    """See the module docstring."""
    gameday = load_gameday(request.file)
    try:
        plan = make_plan(gameday, request.time_scale)
    except ValueError as exc:
        raise UsageError(f"--time-scale: {exc}") from None
    _check_environments(gameday, factory)
    text = render_timeline(gameday, plan, factory.kinds)
    exported: tuple[Path, ...] = ()
    if request.export_chaos_mesh is not None:
        exported = tuple(export_chaos_mesh(gameday, request.export_chaos_mesh))
    if request.dry_run:
        return GameDayOutcome(plan, text, exported=exported)
    target = request.target or gameday.scenario.target
    if target is not None:
        # the game day's scenario may name hosts/networks (allow:); the runner re-checks with TLS
        check_target_allowed(target, Allowlist.build((), gameday.scenario.allow, str(request.file)))
    else:
        require_service()  # the embedded service needs `slo-harness[service]`
    specs = [s.fault for s in plan.steps]
    factory.check(specs)
    needs_root = sorted({s.fault.kind for s in plan.steps if s.fault.requires_root})
    if needs_root and os.geteuid() != 0:
        raise FaultError(f"fault kinds {', '.join(needs_root)} need root (namespaces, cgroups)")
    if request.out is not None and request.out.exists() and not request.out.is_dir():
        raise UsageError(f"{request.out}: --out exists and is not a directory")
    ledger = ledger or Ledger()
    swept = sweep_on_start(ledger).items  # what a SIGKILLed harness left behind
    out_dir = request.out or _default_out(reports_root, gameday)
    run = _Run(gameday, plan, factory, ledger, stream or sys.stderr, request.progress)
    try:
        result = run.measure(target)
    except BaseException as exc:  # every fault is off already (run.measure's finally)
        run.write_interrupted_journal(out_dir, exc)
        raise
    return _finish(run, result, request, out_dir, text, exported, swept)


def _check_environments(gameday: GameDay, factory: FaultFactory) -> None:
    """Refuse (exit 2, before anything starts, dry runs included) environments that cannot be
    combined: network faults put the embedded service in the lab's service namespace, where the
    feature-store proxy and its Redis (loopback of the harness's namespace) cannot be reached,
    and the proxy's control API stays on loopback by design. (An HTTP proxy in front of the
    service does combine with the lab: it starts in the generator's namespace and forwards to
    the service's lab address.)"""
    needs = [factory.environment_of(step.fault) for step in gameday.spec.timeline]
    if LAB not in needs or FEATURE_STORE_PROXY not in needs:
        return
    index = needs.index(FEATURE_STORE_PROXY)
    network = gameday.spec.timeline[needs.index(LAB)].name
    raise SpecError(
        str(gameday.path),
        f"$.timeline[{index}].fault.target",
        "feature-store faults and network faults cannot share a game day: step "
        f"{network!r} puts the service in a lab namespace, which cannot reach the feature-store "
        "proxy on the harness's loopback; split them into two game days",
    )


def _default_out(reports_root: Path, gameday: GameDay) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return reports_root / "gamedays" / f"{stamp}-{gameday.path.stem}"


class _Run:
    """One game day's live part: environments, service, faults, load, rollback."""

    def __init__(
        self,
        gameday: GameDay,
        plan: Plan,
        factory: FaultFactory,
        ledger: Ledger,
        stream: TextIO,
        progress: bool,
    ) -> None:
        self.gameday = gameday
        self.plan = plan
        self.factory = factory
        self.ledger = ledger
        self.stream = stream
        self.progress = progress
        self.controller: GameDayController | None = None
        self.started_at = datetime.now(UTC)
        self.result: RunResult | None = None
        self.service_url: str | None = None  # the service itself (not a proxy in front of it)

    def measure(self, target: str | None) -> RunResult:
        """Run the load with the timeline; every fault is off again when this returns/raises."""
        from harness import load  # Locust/gevent only from here on

        specs = [s.fault for s in self.plan.steps]
        scenario = self.gameday.scenario.with_overrides(duration_s=self.plan.gameday_s)
        options = load.RunOptions(progress=False, scenario_path=self.gameday.scenario_path)
        base = FaultContext(target_url=target, started_by_harness=target is None)
        with (
            self.factory.environment(specs, base, Stage.BEFORE_SERVICE) as ctx,
            self._service(ctx) as ctx,
            self.factory.environment(specs, ctx, Stage.AFTER_SERVICE) as ctx,
        ):
            faults = [ScheduledFault(s, self.factory.build(s.fault, ctx)) for s in self.plan.steps]
            assert self.service_url is not None
            assert ctx.target_url is not None
            with CounterScraper(self.service_url) as counters:
                controller = GameDayController(
                    self.plan,
                    faults,
                    lambda clock: StepGuard(self.ledger, clock),
                    self._view(),
                    counters=counters,
                )
                self.controller = controller
                try:
                    self.result = load.run_scenario(
                        scenario, replace(options, target=ctx.target_url), controller
                    )
                except KeyboardInterrupt:
                    controller.rollback_all(interrupted=True)
                    raise
                except BaseException as exc:
                    controller.rollback_all(f"{exc.__class__.__name__}: {exc}")
                    raise
                controller.rollback_all()
            self.started_at = self.result.started_at
        return self.result

    @contextlib.contextmanager
    def _service(self, ctx: FaultContext) -> Iterator[FaultContext]:
        """The embedded service for the block (or the target as it is); afterwards, once the
        service stopped and flushed, its audit trail is verified into ``self.result``."""
        if ctx.target_url is not None:
            self.service_url = ctx.target_url
            yield ctx
            return
        # Per-run keys and the embedded trail: in the ledger before they exist, so a SIGKILLed
        # game day's are swept by the next start (here) or `chaos cleanup` (issue 10, hole 9).
        sweep_scratch(self.ledger)
        with scratch_dir(self.ledger) as tmp:
            keys = ServiceKeys.create(tmp)
            args = (*keys.service_args(), *ctx.service_args)
            placement = ctx.resources.get(_PLACEMENT)
            assert placement is None or isinstance(placement, Placement)
            with reference_service_process(
                audit_dir=keys.audit_dir,
                extra_args=args,
                bind=None if placement is None else placement.service_bind,
                command_prefix=() if placement is None else placement.service_prefix(),
            ) as service:
                self.service_url = service.url
                yield replace(
                    ctx.with_resource(SERVICE_PROCESS, service),
                    target_url=service.url,
                    service_pid=service.pid,
                )
            if self.result is not None:  # the service has drained: every decision is on disk
                audit = check_audit_trail(keys.audit_dir, keys.audit_key, self.result)
                target = replace(
                    self.result.target,
                    started_by_harness=True,
                    placement=None if placement is None else placement.record(),
                )
                self.result = replace(self.result, target=target, audit=audit)

    def _view(self) -> LiveView:
        """A rich panel on a terminal; plain lines otherwise or with --no-progress."""
        latency = next(
            (o for o in self.gameday.hypothesis.objectives if isinstance(o, LatencyObjective)),
            None,
        )
        if self.progress and self.stream.isatty():
            from rich.console import Console

            return RichView(Console(file=self.stream), latency.threshold_ms if latency else None)
        return LineView(self.stream)

    def write_interrupted_journal(self, out_dir: Path, exc: BaseException) -> None:
        """After an interruption or error: the journal alone (status, rollbacks), never lost."""
        ctl = self.controller
        if ctl is None:
            return
        if isinstance(exc, KeyboardInterrupt):
            status, reason = Outcome.INTERRUPTED, f"interrupted ({exc or 'SIGINT'})"
        else:
            status, reason = Outcome.FAILED, f"{exc.__class__.__name__}: {exc}"
        journal = build_journal(
            self.gameday, ctl, [], status, reason, self.started_at, datetime.now(UTC)
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(
            out_dir / JOURNAL_FILE, msgspec.json.format(msgspec.json.encode(journal))
        )


def _finish(
    run: _Run,
    result: RunResult,
    request: GameDayRequest,
    out_dir: Path,
    text: str,
    exported: tuple[Path, ...],
    swept: tuple[CleanupItem, ...],
) -> GameDayOutcome:
    ctl = run.controller
    assert ctl is not None
    result = replace(result, fault_windows=_fault_windows(ctl))
    samples = samples_from_intervals(result.intervals)
    status = ctl.outcome
    reason = ctl.failure or (ctl.stop_reason if ctl.trip else None)
    if status is Outcome.COMPLETED and not result.generator.valid:
        reason = "the load generator could not keep its schedule: " + "; ".join(
            result.generator.reasons
        )
    journal = build_journal(
        run.gameday, ctl, samples, status, reason, run.started_at, result.ended_at
    )
    journal = msgspec.structs.replace(
        journal,
        generator_valid=result.generator.valid,
        generator_reasons=list(result.generator.reasons),
        audit=None if result.audit is None else _audit_doc(result.audit),
    )
    slo = run.gameday.hypothesis
    verdict = evaluate(result, slo)
    provenance = collect_provenance(
        scenario_path=run.gameday.path,
        slo_path=run.gameday.hypothesis_path,
        target=result.target,
        started_at=result.started_at,
        ended_at=result.ended_at,
        cwd=Path.cwd(),
    )
    paths = write_reports(out_dir, ReportInputs(result, verdict, provenance, journal=journal))
    return GameDayOutcome(
        plan=run.plan,
        timeline_text=text,
        journal=journal,
        verdict=verdict,
        generator_valid=result.generator.valid,
        paths=paths,
        out_dir=out_dir,
        exported=exported,
        swept=swept,
    )


def _fault_windows(ctl: GameDayController) -> tuple[FaultWindow, ...]:
    """Each fault from injection to rollback, and a kill from the kill until its target was
    ready again (on the report's timeline, next to the step's window)."""
    windows: list[FaultWindow] = []
    for r in ctl.guard.records:
        if r.injected_at_s is None:
            continue
        end = r.rolled_back_at_s or r.injected_at_s
        windows.append(FaultWindow(f"{r.step}: {r.name}", r.injected_at_s, end))
        if r.restored_after_s is not None:
            back = r.injected_at_s + r.restored_after_s
            windows.append(FaultWindow(f"{r.step}: until ready again", r.injected_at_s, back))
    return tuple(windows)


def _audit_doc(check: AuditCheck) -> AuditTrailDoc:
    return AuditTrailDoc(
        intact=check.intact,
        records=check.records,
        streams=check.streams,
        problems=list(check.problems),
    )
