"""The PCI evidence bundle's content: one document holding what an assessor needs, and its statuses.

:class:`EvidenceBundle` collects the inputs (file digests), the predicted matrix, the
expectations and the check's violations, the lints, an optional change diff, probe runs (live
lab or cluster; :func:`with_probe_run` adds one), and a status per PCI DSS requirement computed
here (``harness.report`` only writes it):

- ``not-met``: a violation or an error-severity finding cites the requirement, or a probe run
  was wrong / its positive control failed (11.4.5/11.4.6);
- ``met``: the requirement was assessed and nothing cites it (for 1.3.x/1.2.5/1.4.x that needs an
  expectations check; for 11.4.x a verified probe run with no wrong flow);
- ``not-assessed``: no input could show it (no expectations, or predicted only: no probes).

The bundle is written by ``harness.report.write_pci_evidence`` (pci.json, pci.md, MANIFEST.json);
the live lab reads it back (``read_pci_evidence``), calls :func:`with_probe_run` and writes it
again, so prediction and observation end up in one integrity-checked directory.
"""

from __future__ import annotations

import enum

import msgspec

from harness.netpol.diff import DiffResult
from harness.netpol.engine import Flow, Matrix
from harness.netpol.expect import CheckResult, Expectations, ViolationKind
from harness.netpol.lint import Finding, Severity
from harness.netpol.model import ContainerPort
from harness.netpol.pci import pci_requirements
from harness.netpol.probe import ProbeRun, utc_now

__all__ = [
    "EVIDENCE_SCHEMA_VERSION",
    "EndpointDoc",
    "EvidenceBundle",
    "InputFile",
    "RequirementStatus",
    "Status",
    "build_evidence",
    "with_probe_run",
]

EVIDENCE_SCHEMA_VERSION = "1"
_MAX_ITEMS = 50  # per requirement; the full lists are in their own sections


class Status(enum.Enum):
    """A requirement's status in this bundle."""

    MET = "met"
    NOT_MET = "not-met"
    NOT_ASSESSED = "not-assessed"


class InputFile(msgspec.Struct, frozen=True):
    """A manifest/expectations file that went into the bundle, with its SHA-256."""

    path: str
    sha256: str


class EndpointDoc(msgspec.Struct, frozen=True):
    """An endpoint of the matrix as the bundle records it."""

    ref: str
    kind: str
    workload_kind: str
    labels: dict[str, str]
    ports: tuple[ContainerPort, ...]


class RequirementStatus(msgspec.Struct, frozen=True):
    """One requirement: its texts, status, why, and the items citing it."""

    id: str
    title: str
    evidence: str
    status: Status
    basis: str
    items: tuple[str, ...] = ()
    more_items: int = 0


class EvidenceBundle(msgspec.Struct, frozen=True):
    """Everything pci.json holds."""

    schema_version: str
    standard: str
    generated_at: str
    tool_version: str
    inputs: tuple[InputFile, ...]
    endpoints: tuple[EndpointDoc, ...]
    matrix: tuple[Flow, ...]
    lints: tuple[Finding, ...]
    expectations: Expectations | None = None
    check: CheckResult | None = None
    diff: DiffResult | None = None
    probes: tuple[ProbeRun, ...] = ()
    requirements: tuple[RequirementStatus, ...] = ()


def build_evidence(
    matrix: Matrix,
    *,
    lints: tuple[Finding, ...],
    tool_version: str,
    expectations: Expectations | None = None,
    check: CheckResult | None = None,
    diff: DiffResult | None = None,
    probes: tuple[ProbeRun, ...] = (),
    extra_inputs: tuple[tuple[str, str], ...] = (),
    generated_at: str | None = None,
) -> EvidenceBundle:
    """The bundle for one evaluation (requirement statuses computed from its contents)."""
    bundle = EvidenceBundle(
        schema_version=EVIDENCE_SCHEMA_VERSION,
        standard=pci_requirements().standard,
        generated_at=generated_at or utc_now(),
        tool_version=tool_version,
        inputs=tuple(InputFile(p, d) for p, d in (*matrix.manifests.inputs, *extra_inputs)),
        endpoints=tuple(
            EndpointDoc(e.ref, e.kind.value, e.workload_kind, e.label_map, e.ports)
            for e in matrix.endpoints
        ),
        matrix=tuple(matrix.flows()),
        lints=lints,
        expectations=expectations,
        check=check,
        diff=diff,
        probes=probes,
    )
    return msgspec.structs.replace(bundle, requirements=requirement_statuses(bundle))


def with_probe_run(bundle: EvidenceBundle, run: ProbeRun) -> EvidenceBundle:
    """``bundle`` plus one more probe run, statuses recomputed (the live lab's entry point)."""
    updated = msgspec.structs.replace(bundle, probes=(*bundle.probes, run))
    return msgspec.structs.replace(updated, requirements=requirement_statuses(updated))


def requirement_statuses(bundle: EvidenceBundle) -> tuple[RequirementStatus, ...]:
    """A status per requirement of the PCI table (pure function of the bundle)."""
    cited: dict[str, list[str]] = {}
    for finding in bundle.lints:
        if finding.severity is Severity.ERROR:
            cited.setdefault(finding.requirement, []).append(
                f"lint {finding.code}: {finding.subject}"
            )
    violations = (
        *(bundle.check.violations if bundle.check else ()),
        *(bundle.diff.violations if bundle.diff else ()),
    )
    for v in violations:
        what = "unapproved" if v.kind is ViolationKind.UNEXPECTED_OPEN else "required but blocked"
        cited.setdefault(v.requirement, []).append(
            f"{what}: {v.from_} -> {v.to} {v.protocol}/{v.port}"
        )
    cited.setdefault("1.4.1", []).extend(cited.get("1.4.2", []))
    out = []
    for req in pci_requirements().requirements:
        items = cited.get(req.id, [])
        if req.id.startswith("11.4."):
            status, basis, items = _segmentation_test(bundle.probes)
        elif items:
            status, basis = Status.NOT_MET, f"{len(items)} finding(s) cite {req.id}"
        elif req.id == "1.2.1":
            status, basis = (
                Status.MET,
                "policies validated (schema, API-server rules); no error lint",
            )
        elif bundle.check is None:
            status, basis = (
                Status.NOT_ASSESSED,
                "no expectations file: flows not compared with an allow-list",
            )
        else:
            status = Status.MET
            basis = f"{bundle.check.governed} governed flows match the expectations"
        out.append(
            RequirementStatus(
                req.id,
                req.title,
                req.evidence,
                status,
                basis,
                tuple(items[:_MAX_ITEMS]),
                max(0, len(items) - _MAX_ITEMS),
            )
        )
    return tuple(out)


def _segmentation_test(probes: tuple[ProbeRun, ...]) -> tuple[Status, str, list[str]]:
    if not probes:
        return Status.NOT_ASSESSED, "predicted only: no probe run (live lab or --kubeconfig)", []
    last = probes[-1]
    if not last.enforcement_verified:
        return Status.NOT_MET, f"{last.method} at {last.started_at}: {last.notes}", []
    wrong = [
        f"{r.from_} -> {r.to} {r.protocol}/{r.port}: predicted "
        f"{'allowed' if r.predicted else 'blocked'}, observed {r.observed.value} ({r.tries} tries)"
        for r in last.results
        if r.correct is False
    ]
    tally = f"{last.correct} correct, {last.wrong} wrong, {last.no_value} no value"
    basis = f"{last.method} probed {last.started_at} .. {last.finished_at}: {tally}"
    return (Status.NOT_MET if wrong else Status.MET), basis, wrong
