"""The ``netpol`` jobs: load inputs, evaluate, judge, render, and write the PCI evidence bundle.

Job-level glue (the layer of ``harness.pipeline``): it composes ``harness.netpol`` (pure model,
engine, lints, checks, probes) with ``harness.report`` (the bundle writer), so neither has to know
the other's callers. Each job returns a :class:`NetpolOutcome`: the text to print, whether
something was violated (the CLI maps that to exit 1) and where the evidence went. Bad input
raises ``SpecError``/``ManifestError`` before anything is written (exit 2).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UsageError
from harness.files import sha256_file
from harness.netpol import (
    Endpoint,
    EndpointKind,
    EvidenceBundle,
    Expectations,
    KubectlProber,
    Matrix,
    Namespace,
    ProbeRun,
    Severity,
    build_evidence,
    check,
    check_json,
    check_text,
    diff,
    diff_json,
    diff_text,
    evaluate,
    expected_verdicts,
    lint,
    lint_json,
    lint_text,
    load_expectations,
    load_manifests,
    load_probe_pods,
    matrix_json,
    matrix_md,
    matrix_text,
    probe_flows,
    to_json,
)

__all__ = [
    "NetpolInputs",
    "NetpolOutcome",
    "OutputFormat",
    "check_job",
    "diff_job",
    "lint_job",
    "matrix_job",
    "probe_job",
]


class OutputFormat(enum.Enum):
    """What a netpol command prints."""

    TEXT = "text"
    JSON = "json"
    MD = "md"


@dataclass(frozen=True)
class NetpolInputs:
    """Manifest paths plus the optional pods file, default namespace and expectations file."""

    paths: tuple[Path, ...]
    pods: Path | None = None
    namespace: str = "default"
    expect: Path | None = None


@dataclass(frozen=True)
class NetpolOutcome:
    """What a job produced."""

    output: str
    violated: bool
    not_verified: bool = False
    evidence_dir: Path | None = None
    manifest_sha256: str | None = None
    messages: tuple[str, ...] = field(default=())


def _tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("slo-harness")
    except PackageNotFoundError:
        return "0.0.0+source"


def _load(inputs: NetpolInputs) -> tuple[Matrix, Expectations | None, tuple[tuple[str, str], ...]]:
    extra_inputs: list[tuple[str, str]] = []
    endpoints: tuple[Endpoint, ...] = ()
    namespaces: tuple[Namespace, ...] = ()
    if inputs.pods is not None:
        pods = load_probe_pods(inputs.pods)
        endpoints, namespaces = pods.endpoints, pods.namespaces
        extra_inputs.append((str(inputs.pods), sha256_file(inputs.pods)))
    expectations = None
    if inputs.expect is not None:
        expectations = load_expectations(inputs.expect)
        extra_inputs.append((str(inputs.expect), sha256_file(inputs.expect)))
    manifests = load_manifests(
        inputs.paths,
        namespace=inputs.namespace,
        extra_endpoints=endpoints,
        extra_namespaces=namespaces,
    )
    return evaluate(manifests), expectations, tuple(extra_inputs)


def _write(
    out: Path | None, bundle: EvidenceBundle, matrix: Matrix
) -> tuple[Path | None, str | None]:
    if out is None:
        return None, None
    # lazily: harness.report pulls in scipy and matplotlib (seconds), which printing never needs
    from harness.report import write_pci_evidence

    return out, write_pci_evidence(out, bundle, matrix=matrix)


def _evidence(
    matrix: Matrix,
    expectations: Expectations | None,
    extra: tuple[tuple[str, str], ...],
    out: Path | None,
    **parts: object,
) -> tuple[Path | None, str | None]:
    if out is None:
        return None, None
    zones = expectations.zones if expectations else ()
    bundle = build_evidence(
        matrix,
        lints=lint(matrix, zones),
        tool_version=_tool_version(),
        expectations=expectations,
        check=check(matrix, expectations) if expectations else None,
        extra_inputs=extra,
        **parts,  # type: ignore[arg-type]
    )
    return _write(out, bundle, matrix)


def matrix_job(inputs: NetpolInputs, fmt: OutputFormat, out: Path | None = None) -> NetpolOutcome:
    """The reachability matrix (never a violation by itself)."""
    matrix, expectations, extra = _load(inputs)
    render = {
        OutputFormat.TEXT: matrix_text,
        OutputFormat.JSON: matrix_json,
        OutputFormat.MD: matrix_md,
    }
    where, digest = _evidence(matrix, expectations, extra, out)
    return NetpolOutcome(render[fmt](matrix), False, evidence_dir=where, manifest_sha256=digest)


def check_job(inputs: NetpolInputs, fmt: OutputFormat, out: Path | None = None) -> NetpolOutcome:
    """The matrix against the expectations file (violated: any violating flow)."""
    matrix, expectations, extra = _load(inputs)
    if expectations is None:
        raise UsageError("netpol check needs --expect FILE (the approved flows)")
    result = check(matrix, expectations)
    text = check_json(result) if fmt is OutputFormat.JSON else check_text(result)
    where, digest = _evidence(matrix, expectations, extra, out)
    return NetpolOutcome(text, not result.ok, evidence_dir=where, manifest_sha256=digest)


def lint_job(inputs: NetpolInputs, fmt: OutputFormat, out: Path | None = None) -> NetpolOutcome:
    """Lints (violated: any error-severity finding)."""
    matrix, expectations, extra = _load(inputs)
    findings = lint(matrix, expectations.zones if expectations else ())
    text = lint_json(findings) if fmt is OutputFormat.JSON else lint_text(findings)
    where, digest = _evidence(matrix, expectations, extra, out)
    errors = any(f.severity is Severity.ERROR for f in findings)
    return NetpolOutcome(text, errors, evidence_dir=where, manifest_sha256=digest)


def diff_job(
    old: NetpolInputs, new: NetpolInputs, fmt: OutputFormat, out: Path | None = None
) -> NetpolOutcome:
    """Flows opened/closed from ``old`` to ``new`` (violated: an opened flow not approved)."""
    old_matrix, _, _ = _load(old)
    new_matrix, expectations, extra = _load(new)
    result = diff(old_matrix, new_matrix, expectations)
    text = diff_json(result) if fmt is OutputFormat.JSON else diff_text(result)
    where, digest = _evidence(new_matrix, expectations, extra, out, diff=result)
    return NetpolOutcome(text, not result.ok, evidence_dir=where, manifest_sha256=digest)


def probe_job(
    inputs: NetpolInputs,
    *,
    kubeconfig: Path | None,
    kubectl: str = "kubectl",
    tries: int = 3,
    timeout_s: float = 1.0,
    fmt: OutputFormat = OutputFormat.TEXT,
    out: Path | None = None,
) -> NetpolOutcome:
    """Probe a real cluster through kubectl; violated when observed != predicted."""
    matrix, expectations, extra = _load(inputs)
    prober = KubectlProber(kubeconfig, kubectl=kubectl)
    expected = expected_verdicts(matrix, expectations) if expectations is not None else None
    # external endpoints are not in the cluster: nothing can exec a probe from them
    flows = [
        (src, s)
        for src, s in matrix.pairs()
        if matrix.endpoints[src].kind is not EndpointKind.EXTERNAL
    ]
    run = probe_flows(
        matrix,
        prober,
        method="kubeconfig",
        flows=flows,
        expected=expected,
        tries=tries,
        timeout_s=timeout_s,
    )
    where, digest = _evidence(matrix, expectations, extra, out, probes=(run,))
    text = to_json(run) if fmt is OutputFormat.JSON else _probe_text(run)
    return NetpolOutcome(
        text,
        run.wrong > 0,
        not_verified=not run.enforcement_verified,
        evidence_dir=where,
        manifest_sha256=digest,
    )


def _probe_text(run: ProbeRun) -> str:
    lines = []
    if run.control is not None:
        c = run.control
        lines.append(
            f"positive control {c.from_} -> {c.to} {c.protocol}/{c.port}: {c.observed.value} "
            f"({c.tries} tries)"
        )
    for r in run.results:
        mark = {True: "ok   ", False: "WRONG", None: "n/a  "}[r.correct]
        lines.append(
            f"{mark} {r.from_} -> {r.to} {r.protocol}/{r.port}: predicted "
            f"{'allowed' if r.predicted else 'blocked'}, "
            f"observed {r.observed.value} ({r.tries} tries)"
        )
    lines.append(f"{run.wrong} wrong, {run.no_value} no value, {run.correct} correct")
    if not run.enforcement_verified:
        lines.append(run.notes)
    return "\n".join(lines) + "\n"
