"""``slo-harness run SCENARIO --netpol PATH...``: the CI-gate load across an enforced PCI boundary.

Pipeline-level glue (like :mod:`harness.pipeline`, which it calls): it builds the live lab from the
manifests (:class:`harness.netpol.PolicyLab`), places the load generator in the gateway's
namespace and the embedded reference service in the scorer's (``harness.placement.Placement``,
the netns helper's ``run --lab`` mechanism with caller-built namespaces), so every request of
the SLO run crosses the compiled NetworkPolicies, and hands the pipeline a hook that

- probes the scorer's port from every other namespace, in rounds, while the load runs
  (:class:`harness.netpol.BoundaryMonitor`; the gateway's probe is each round's positive
  control), and
- after the load, judges the boundary (:func:`harness.netpol.judge_boundary`) and builds the
  evidence bundle that becomes the report's ``pci`` section (inside the integrity manifest).

Before the load, every other flow of the matrix is probed once (the scorer's port is served by
the real service only once the run has started it), so the report holds the whole observed
matrix: before the load for the other ports, during the load for the scorer's.

Order and cleanup: inputs validated (exit 2) -> lab built (``LabUnavailable``: exit 3) -> probe
-> ``pipeline.run`` (service launched in the scorer's namespace, monitor started once it is
ready, stopped before it stops) -> reports -> lab removed, on every path (Ctrl-C included).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from harness import pipeline
from harness.errors import UsageError
from harness.netpol import (
    AUTO_SERVICE,
    BoundaryMonitor,
    Expectations,
    LiveOptions,
    Matrix,
    PciRunSection,
    PolicyLab,
    ProbeRun,
    build_evidence,
    check,
    control_first,
    expected_verdicts,
    flow_expectations,
    judge_boundary,
    lint,
    probe_flows,
    service_endpoint,
)
from harness.netpol_job import NetpolInputs, _load, _tool_version
from harness.placement import Placement

__all__ = ["BoundaryRequest", "run_with_boundary"]

_GATEWAY_LABEL: Final = ("role", "api-gateway")


@dataclass(frozen=True, slots=True)
class BoundaryRequest:
    """The manifests, who is the gateway and the scorer, and how to probe."""

    inputs: NetpolInputs
    gateway: str = AUTO_SERVICE  # endpoint ref, or "auto": the pod labelled role=api-gateway
    scorer: str = AUTO_SERVICE  # endpoint ref, or "auto": the pod labelled app=reference-service
    options: LiveOptions = field(default_factory=lambda: LiveOptions(tries=3, timeout_s=0.5))
    interval_s: float = 2.0  # between probe rounds during the load


def _gateway(matrix: Matrix, choice: str) -> int:
    refs = [e.ref for e in matrix.endpoints]
    if choice != AUTO_SERVICE:
        if choice not in refs:
            raise UsageError(f"--gateway {choice}: expected one of the pods (namespace/name)")
        return refs.index(choice)
    found = [i for i, e in enumerate(matrix.endpoints) if _GATEWAY_LABEL in e.labels and e.is_pod]
    if not found:
        raise UsageError("--netpol: no pod labelled role=api-gateway; name one with --gateway")
    return found[0]


class _Boundary:
    """The pipeline's :class:`~harness.pipeline.BoundaryHook` for one run."""

    def __init__(
        self,
        matrix: Matrix,
        expectations: Expectations | None,
        extra: tuple[tuple[str, str], ...],
        lab: PolicyLab,
        before: ProbeRun,
        monitor: BoundaryMonitor,
        expected: dict[tuple[int, int], bool],
        path: tuple[str, str, int],
    ) -> None:
        self.matrix, self.expectations, self.extra = matrix, expectations, extra
        self.lab, self.before, self.monitor, self.expected = lab, before, monitor, expected
        self.path = path

    def during_load(self) -> BoundaryMonitor:
        return self.monitor

    def section(self) -> PciRunSection:
        rounds = self.monitor.probe_runs(self.expected)
        gateway, scorer, port = self.path
        verdict = judge_boundary(
            self.matrix,
            self.before,
            rounds,
            self.expectations,
            gateway=gateway,
            scorer=scorer,
            port=port,
            lab=self.lab.lab.namespace.name,
        )
        expectations = self.expectations
        evidence = build_evidence(
            self.matrix,
            lints=lint(self.matrix, expectations.zones if expectations else ()),
            tool_version=_tool_version(),
            expectations=expectations,
            check=check(self.matrix, expectations) if expectations else None,
            probes=(self.before, *rounds),
            extra_inputs=self.extra,
        )
        return PciRunSection(verdict, evidence)


def run_with_boundary(
    request: pipeline.RunRequest, boundary: BoundaryRequest, *, reports_root: Path
) -> pipeline.RunOutcome:
    """Run ``request`` with its load crossing the lab built from ``boundary.inputs``."""
    if request.target or request.lab or request.placement:
        raise UsageError("--netpol starts the service inside the lab; drop --target and --lab")
    matrix, expectations, extra = _load(boundary.inputs)
    chosen = service_endpoint(matrix, boundary.scorer)
    if chosen is None:
        raise UsageError("--netpol: no pod labelled app=reference-service; name one with --scorer")
    scorer, port = chosen
    gw = _gateway(matrix, boundary.gateway)
    refs = [e.ref for e in matrix.endpoints]
    s_idx = refs.index(scorer.ref)
    _, slot = matrix.find(refs[gw], scorer.ref, port)
    if not matrix.is_allowed(gw, slot):
        raise UsageError(
            f"--netpol: the policies block the load path {refs[gw]} -> {scorer.ref} TCP/{port}: "
            f"{matrix.flow(gw, slot).reason}"
        )
    want = flow_expectations(matrix, expectations) if expectations else {}
    expected = expected_verdicts(matrix, expectations) if expectations else {}
    opts = boundary.options
    served = [(scorer.ref, port, "TCP")]
    with PolicyLab.build(matrix, deny=opts.deny, serve_elsewhere=served) as lab:
        flows = [p for p in control_first(matrix, None, want) if p[1] != slot]
        before = probe_flows(
            matrix,
            lab.prober(),
            method="live-lab before the load",
            flows=flows,
            expected=expected,
            tries=opts.tries,
            timeout_s=opts.timeout_s,
            parallel=opts.parallel,
        )
        # the gateway first: each round's positive control; then every other source
        into_scorer = [(gw, slot)] + [
            (i, slot) for i in range(len(matrix.endpoints)) if i not in (gw, s_idx)
        ]
        monitor = BoundaryMonitor(
            lab,
            into_scorer,
            interval_s=boundary.interval_s,
            tries=opts.tries,
            timeout_s=opts.timeout_s,
            max_s=3600.0,
        )
        host = lab.host(scorer.ref)
        placement = Placement(
            generator=lab.host(refs[gw]).namespace,
            service=host.namespace,
            service_address=str(host.address),
            service_port=port,
            lab=lab.lab.namespace.name,
        )
        load_path = (refs[gw], scorer.ref, port)
        hook = _Boundary(matrix, expectations, extra, lab, before, monitor, expected, load_path)
        return pipeline.run(
            replace(request, placement=placement, boundary=hook), reports_root=reports_root
        )
