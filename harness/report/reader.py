"""Read a run's report directory back into the values it was written from.

``read_report(dir)`` is how ``compare`` and ``run --baseline`` get a baseline: it decodes
``report.json`` with the same typed structs that wrote it (so a malformed file is refused with the
field path of the first problem) and rebuilds a :class:`RunResult` whose histograms are decoded
from their HDR encodings: bucket for bucket what was measured, so a comparison against a
re-read run gives the same numbers as against the live one.

It does not check the manifest (``verify_report_dir`` does): a baseline copied without its
manifest is still a readable baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import msgspec

from harness.errors import ArtifactError
from harness.measure import (
    AuditCheck,
    FaultWindow,
    GeneratorHealth,
    HistKey,
    IntervalRecord,
    LatencyHistogram,
    PhaseResult,
    RequestCounts,
    RunResult,
    ScenarioRef,
    TargetInfo,
    read_series,
)
from harness.report.document import (
    SCHEMA_VERSION,
    ComparisonDoc,
    HistogramDoc,
    PhaseDoc,
    ReportDoc,
    RequestsDoc,
)
from harness.report.provenance import Provenance
from harness.report.tail_section import tails_from_doc
from harness.slo import (
    Comparison,
    Knee,
    ObjectiveResult,
    Verdict,
)

__all__ = ["REPORT_FILE", "LoadedReport", "decode_report", "from_doc", "read_report"]

T = TypeVar("T")

REPORT_FILE: Final = "report.json"
_MAJOR: Final = SCHEMA_VERSION.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class LoadedReport:
    """A report directory read back: the run, its verdict, provenance and comparison."""

    directory: Path
    schema_version: str
    result: RunResult
    verdict: Verdict
    provenance: Provenance
    comparison: Comparison | None


def read_report(directory: Path) -> LoadedReport:
    """Read ``directory/report.json``; ArtifactError (naming the file and field) if unusable."""
    path = directory / REPORT_FILE
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: not a report directory (it does not exist)")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing; is {directory} a run's report directory?") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read ({exc.strerror or exc})") from None
    doc = decode_report(data, source=str(path))
    try:
        result = _run_result(doc, directory)
    except ArtifactError:
        raise
    except Exception as exc:  # hdrh raises assorted errors (binascii, zlib, struct) on bad payloads
        raise ArtifactError(f"{path}: undecodable histogram ({exc.__class__.__name__})") from None
    return LoadedReport(
        directory=directory,
        schema_version=doc.schema_version,
        result=result,
        verdict=_verdict(doc),
        provenance=from_doc(doc.provenance, Provenance),
        comparison=None if doc.comparison is None else _comparison(doc.comparison),
    )


def read_audit_heads(path: Path) -> list[str]:
    """The audit heads (``STREAM:SEQ:MAC``) a run recorded; ``path`` is its report.json or its
    directory. ArtifactError when unreadable or when the run recorded no audit trail."""
    file = path / REPORT_FILE if path.is_dir() else path
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{file}: cannot read ({exc.strerror or exc})") from None
    doc = decode_report(data, source=str(file))
    if doc.audit is None or not doc.audit.heads:
        raise ArtifactError(f"{file}: $.audit.heads: expected the heads of an audited run")
    return list(doc.audit.heads)


def decode_report(data: bytes, *, source: str) -> ReportDoc:
    """Decode and check ``report.json`` bytes; ArtifactError says where it is wrong."""
    try:
        version = msgspec.json.decode(data, type=_VersionOnly).schema_version
    except msgspec.DecodeError as exc:
        raise ArtifactError(f"{source}: not a slo-harness report.json ({exc})") from None
    if version.split(".", 1)[0] != _MAJOR:
        raise ArtifactError(
            f"{source}: $.schema_version: expected {_MAJOR}.x (this harness writes "
            f"{SCHEMA_VERSION}), got {version!r}"
        )
    try:
        return msgspec.json.decode(data, type=ReportDoc)
    except msgspec.DecodeError as exc:
        raise ArtifactError(
            f"{source}: does not match report schema {SCHEMA_VERSION}: {exc}"
        ) from None


class _VersionOnly(msgspec.Struct):
    schema_version: str


def _counts(r: RequestsDoc) -> RequestCounts:
    return from_doc(r, RequestCounts)


def _hist(h: HistogramDoc) -> LatencyHistogram:
    return LatencyHistogram.decode(h.encoded, h.out_of_range)


def _phase(p: PhaseDoc) -> PhaseResult:
    histograms: dict[HistKey, LatencyHistogram] = {}
    for h in p.histograms:
        key = HistKey(h.endpoint, h.outcome, h.clock)
        if key in histograms:  # two entries for one key would double-count when merged
            raise ValueError(f"duplicate histogram {key}")
        histograms[key] = _hist(h)
    return PhaseResult(
        name=p.name,
        kind=p.kind,
        in_verdict=p.in_verdict,
        start_s=p.start_s,
        duration_s=p.duration_s,
        offered_rps=p.offered_rps,
        achieved_rps=p.achieved_rps,
        counts=_counts(p.requests),
        histograms=histograms,
    )


def _run_result(doc: ReportDoc, directory: Path) -> RunResult:
    return RunResult(
        scenario=from_doc(doc.scenario, ScenarioRef),
        target=from_doc(doc.target, TargetInfo),  # with its placement, if any
        started_at=doc.run.started_at,
        ended_at=doc.run.ended_at,
        phases=tuple(_phase(p) for p in doc.phases),
        intervals=_intervals(doc, directory),
        generator=from_doc(doc.generator, GeneratorHealth),
        workers=doc.run.workers,
        incomplete=doc.run.incomplete,
        fault_windows=tuple(from_doc(w, FaultWindow) for w in doc.fault_windows),
        audit=None if doc.audit is None else from_doc(doc.audit, AuditCheck),
        tails=tails_from_doc(doc.tail),
    )


def _intervals(doc: ReportDoc, directory: Path) -> Sequence[IntervalRecord]:
    """The embedded series, or (schema 1.10, long runs) the log it names, read lazily: indexed
    now, each interval decoded only when a caller iterates it."""
    if doc.intervals_in is None:
        return tuple(
            IntervalRecord(
                start_s=r.start_s,
                length_s=r.length_s,
                phase=r.phase,
                offered=r.offered,
                counts=_counts(r.requests),
                latency=LatencyHistogram.decode(r.encoded, r.out_of_range),
            )
            for r in doc.intervals
        )
    name = Path(doc.intervals_in)
    if name.name != doc.intervals_in:
        raise ArtifactError(
            f"{directory / REPORT_FILE}: $.intervals_in: expected a file name in the report "
            f"directory, got {doc.intervals_in!r}"
        )
    return read_series(directory / name)


def _verdict(doc: ReportDoc) -> Verdict:
    return Verdict(
        status=doc.verdict,
        objectives=tuple(from_doc(o, ObjectiveResult) for o in doc.objectives),
        reasons=tuple(doc.verdict_reasons),
        capacity=tuple(from_doc(k, Knee) for k in doc.capacity),
    )


def _comparison(c: ComparisonDoc) -> Comparison:
    # JSON has no NaN: an undefined ratio was written as null and is NaN again in the domain.
    metrics = [
        msgspec.structs.replace(m, ratio=math.nan) if m.ratio is None else m for m in c.metrics
    ]
    return from_doc(msgspec.structs.replace(c, metrics=metrics), Comparison)


def from_doc(doc: msgspec.Struct, domain_type: type[T]) -> T:
    """A document struct as its domain type, by msgspec: fields of the same name carried over
    (lists become tuples, nested documents their domain types) -- the inverse of ``to_doc``."""
    return msgspec.convert(doc, domain_type, from_attributes=True)
